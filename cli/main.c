/* main.c: sslhist, the query tool over the history that sslhistd records. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "log.h"

static const char usage_text[] =
	"usage: sslhist [-c CONFIG] [--db PATH]... COMMAND [OPTIONS]\n"
	"\n"
	"Reports over the history of TLS client sessions that sslhistd records.\n"
	"\n"
	"Commands:\n"
	"  clients     every client seen (one row per distinct client)\n"
	"  instances   every polled instance, its state, certificate and coverage\n"
	"  report      per cluster: what breaks on a CA rotation or rds.force_ssl=1\n"
	"  alerts      the alert hooks run and their outcome\n"
	"  prune       delete clients last seen before a time\n"
	"  snapshot    a consistent copy of the history, safe while sslhistd writes\n"
	"  import-log  record the sessions that server logs show\n"
	"\n"
	"Options:\n"
	"  -c, --config CONFIG  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
	"      --db PATH        the history database; else $SSLHIST_DB, else `database`\n"
	"                       of CONFIG if readable, else " CONFIG_DEFAULT_DB ".\n"
	"                       Several --db (clients, instances, report, alerts): the\n"
	"                       histories of several bastions read as one, at most 11\n"
	"                       files (SQLite attaches at most 10 beside the first)\n"
	"  -h, --help           this help; `sslhist COMMAND --help` for a command\n"
	"  -V, --version        print the version\n"
	"\n"
	"Exit status: 0 done, 1 error, 2 usage, 3 report --fail-on-non-ssl found a\n"
	"non-SSL client.\n";

/* reads_many: the command reads several --db as one history. A command
 * without it (writers, snapshot: one file each) refuses several --db. */
static const struct {
	const char *name;
	int (*run)(struct cli *, int, char **);
	bool reads_many;
} commands[] = {
	{ "clients", cmd_clients, true },
	{ "instances", cmd_instances, true },
	{ "report", cmd_report, true },
	{ "alerts", cmd_alerts, true },
	{ "prune", cmd_prune, false },
	{ "snapshot", cmd_snapshot, false },
	{ "import-log", cmd_import_log, false },
};

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sslhist: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sslhist%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'sslhist%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
	return EXIT_USAGE;
}

int
cli_bad_option(const char *cmd, int ch, int argc, char **argv)
{
	const char *opt = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

	if (ch == ':')
		return cli_usage_error(cmd, "option '%s' needs a value", opt);
	return cli_usage_error(cmd, "unknown option '%s'", opt);
}

/* The command is there, and several --db name files. */
static int
check_dbs(const struct cli *c, const char *cmd)
{
	if (cmd == NULL)
		return cli_usage_error(NULL, "no command given");
	for (size_t i = 0; c->ndbs > 1 && i < c->ndbs; i++)
		if (*c->dbs[i] == '\0')
			return cli_usage_error(NULL, "--db '': an empty path among several");
	return EXIT_DONE;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c = { .config_path = CONFIG_DEFAULT_PATH };
	const char **dbs = calloc((size_t)argc + 1, sizeof(*dbs));
	size_t i;
	int ch, rc;

	if (dbs == NULL) {
		cli_error("out of memory");
		return EXIT_ERROR;
	}
	c.dbs = dbs;
	log_init("sslhist", LVL_WARNING);
	c.now = (int64_t)time(NULL);
	opterr = 0;
	/* "+": stop at the command; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+:c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			c.config_path = optarg;
			c.config_given = true;
			break;
		case 'd':
			if (c.ndbs == 0)
				c.db_opt = optarg;
			dbs[c.ndbs++] = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			rc = EXIT_DONE;
			goto out;
		case 'V':
			printf("sslhist %s\n", SSLHIST_VERSION);
			rc = EXIT_DONE;
			goto out;
		default:
			rc = cli_bad_option(NULL, ch, argc, argv);
			goto out;
		}
	}
	rc = check_dbs(&c, optind < argc ? argv[optind] : NULL);
	if (rc != EXIT_DONE)
		goto out;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		rc = cli_usage_error(NULL, "unknown command '%s'", argv[optind]);
	} else {
		if (c.ndbs > 1 && !commands[i].reads_many)
			rc = cli_usage_error(commands[i].name, "--db given %zu times: %s works on "
					     "one history", c.ndbs, commands[i].name);
		else
			rc = commands[i].run(&c, argc - optind, argv + optind);
		config_free(c.cfg);
	}
out:
	free(dbs);
	return rc;
}
