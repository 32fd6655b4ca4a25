/*
 * cmd_import_log.c: `sslhist import-log` (docs/CONTRACT.md section 4):
 * server logs of one instance into the history, through the store's own
 * functions (daemon/store_logs.h) so that the daemon and the tool write
 * the same rows with the same SQL. It writes while the daemon runs: one
 * short transaction per batch (daemon/logimport.h), waiting up to 10 s
 * for the lock, never holding it longer than a batch.
 *
 * Exit: 0 when every file was read (skipped lines are counted and the
 * first few quoted), 1 on an error (a file that cannot be read, the
 * database), 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "histdb.h"
#include "ident.h"
#include "logimport.h"
#include "parse.h"
#include "store.h"
#include "store_logs.h"
#include "textesc.h"

#define IMPORT_BUSY_MS	10000
#define READ_CHUNK	(256 * 1024)

static const char usage_text[] =
	"usage: sslhist import-log --cluster NAME [--instance HOST:PORT]\n"
	"           [--format auto|stderr|csvlog|jsonlog|cloudwatch] [--prefix LOG_LINE_PREFIX]\n"
	"           FILE... | -\n"
	"Records the sessions that PostgreSQL server logs (log_connections = on) show\n"
	"as sessions of their clients, as a poll would have. --instance is needed when\n"
	"the cluster has several instances. --prefix is the server's log_line_prefix\n"
	"(stderr and CloudWatch; default: found, else RDS's '%t:%r:%u@%d:[%p]:').\n"
	"Importing the same lines again adds nothing.\n";

struct pick {
	const char *want_host;
	int want_port;
	int64_t id;
	size_t n, matched;
	char names[512];
};

static void
pick_fn(void *arg, int64_t id, const char *host, int port, bool retired)
{
	struct pick *p = arg;
	char name[300];
	size_t len = strlen(p->names);

	(void)retired;
	p->n++;
	instance_name(host, port, name, sizeof name);
	if (len + strlen(name) + 3 < sizeof p->names) {
		if (len)
			strcat(p->names, ", ");
		strcat(p->names, name);
	}
	if (p->want_host == NULL || (strcmp(host, p->want_host) == 0 && port == p->want_port)) {
		p->id = id;
		p->matched++;
	}
}

/* "host:port" or "[v6]:port"; false when it is not one. */
static bool
split_instance(char *s, const char **host, int *port)
{
	char *colon = strrchr(s, ':');
	long v;
	char *end;

	if (colon == NULL || colon == s)
		return false;
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || errno || v < 1 || v > 65535)
		return false;
	*colon = '\0';
	if (s[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		s++;
	}
	*host = s;
	*port = (int)v;
	return **host != '\0';
}

static int
find_instance(struct store *s, const char *cluster, char *inst, int64_t *id)
{
	struct pick p = {0};
	char *esc;

	if (inst != NULL && !split_instance(inst, &p.want_host, &p.want_port))
		return cli_usage_error("import-log", "--instance '%s': use HOST:PORT", inst);
	if (store_log_instances(s, cluster, pick_fn, &p) < 0) {
		cli_error("%s", store_errmsg(s));
		return EXIT_ERROR;
	}
	esc = textesc_dup(cluster, 0);
	if (p.n == 0) {
		cli_error("import-log: no cluster '%s' in the history (the daemon adds a "
			  "cluster's instances when it first polls them)", esc ? esc : "");
	} else if (inst == NULL && p.n > 1) {
		cli_error("import-log: cluster '%s' has %zu instances (%s): name one with "
			  "--instance HOST:PORT", esc ? esc : "", p.n, p.names);
		free(esc);
		return EXIT_USAGE;
	} else if (p.matched == 0) {
		cli_error("import-log: cluster '%s' has no instance %s:%d (it has %s)",
			  esc ? esc : "", p.want_host, p.want_port, p.names);
	} else {
		*id = p.id;
		free(esc);
		return EXIT_DONE;
	}
	free(esc);
	return EXIT_ERROR;
}

static void
report_file(const char *name, const struct logimport_stats *st, enum logline_format f)
{
	printf("%s: %s, %" PRIu64 " line%s, %" PRIu64 " session%s: %" PRIu64 " new, %" PRIu64
	       " also polled, %" PRIu64 " imported before, %" PRIu64 " excluded, %" PRIu64
	       " without an address; %d new client%s; %" PRIu64 " line%s skipped\n",
	       name, logline_format_name(f), st->lines, plural((long long)st->lines),
	       st->sessions, plural((long long)st->sessions), st->stored, st->named_polled,
	       st->known, st->excluded, st->no_address, st->new_clients,
	       plural(st->new_clients), st->skipped, plural((long long)st->skipped));
	for (size_t i = 0; i < LOGIMPORT_SKIPPED_QUOTED && i < st->skipped; i++)
		printf("  skipped line %" PRIu64 ": %s: %s\n", st->skipped_line[i],
		       st->skipped_why[i], st->skipped_text[i]);
}

/* One file (or "-") through a fresh importer. */
static int
import_file(struct store *s, int64_t id, const struct logimport_opts *o, const char *file)
{
	bool is_stdin = strcmp(file, "-") == 0;
	int fd = is_stdin ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC);
	const char *name = is_stdin ? "standard input" : file;
	char err[256], *buf;
	struct logimport *li;
	ssize_t n;
	int rc = EXIT_DONE;

	if (fd < 0) {
		cli_error("import-log: %s: %s", file, strerror(errno));
		return EXIT_ERROR;
	}
	if ((li = logimport_new(s, id, o, err, sizeof err)) == NULL ||
	    (buf = malloc(READ_CHUNK)) == NULL) {
		cli_error("import-log: %s", li ? "out of memory" : err);
		logimport_free(li);
		if (!is_stdin)
			close(fd);
		return li ? EXIT_ERROR : EXIT_USAGE;
	}
	while ((n = read(fd, buf, READ_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_error("import-log: %s: %s", name, strerror(errno));
			rc = EXIT_ERROR;
			break;
		}
		if (logimport_feed(li, buf, (size_t)n) < 0) {
			cli_error("import-log: %s: %s", name, store_errmsg(s));
			rc = EXIT_ERROR;
			break;
		}
	}
	if (rc == EXIT_DONE && logimport_end(li) < 0) {
		cli_error("import-log: %s: %s", name, store_errmsg(s));
		rc = EXIT_ERROR;
	}
	if (rc == EXIT_DONE)
		report_file(name, logimport_stats(li), logimport_format(li));
	logimport_free(li);
	free(buf);
	if (!is_stdin)
		close(fd);
	return rc;
}

static int
run_import(struct cli *c, const char *cluster, char *inst, struct logimport_opts *o,
	   char **files, int nfiles)
{
	const struct cluster_cfg *cc = NULL;
	char err[1024], *path;
	struct store *s;
	int64_t id = 0;
	int rc;

	if (!cli_load_config(c))
		return EXIT_ERROR;
	if ((path = histdb_path(c->db_opt, c->cfg)) == NULL) {
		cli_error("out of memory");
		return EXIT_ERROR;
	}
	if (access(path, F_OK) != 0) {
		cli_error("%s: %s", path, strerror(errno));
		free(path);
		return EXIT_ERROR;
	}
	s = store_open(path, err, sizeof err);
	free(path);
	if (s == NULL) {
		cli_error("%s", err);
		return EXIT_ERROR;
	}
	store_set_busy_timeout(s, IMPORT_BUSY_MS);
	if (c->cfg != NULL) {
		store_set_alerts(s, (c->cfg->on_non_ssl.n ? ALERT_NON_SSL : 0) |
				    (c->cfg->on_weak_tls.n ? ALERT_WEAK_TLS : 0) |
				    (c->cfg->on_new_client.n ? ALERT_NEW_CLIENT : 0));
		for (size_t i = 0; i < c->cfg->nclusters; i++)
			if (strcmp(c->cfg->clusters[i].name, cluster) == 0)
				cc = &c->cfg->clusters[i];
		o->exclude_users = cc ? &cc->exclude_users : &c->cfg->exclude_users;
		o->exclude_databases = &c->cfg->exclude_databases;
	}
	rc = find_instance(s, cluster, inst, &id);
	for (int i = 0; rc == EXIT_DONE && i < nfiles; i++)
		rc = import_file(s, id, o, files[i]);
	store_close(s);
	return rc;
}

int
cmd_import_log(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cluster", required_argument, NULL, 'C' },
		{ "instance", required_argument, NULL, 'i' },
		{ "format", required_argument, NULL, 'f' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* Without a readable configuration, the daemon's defaults (section 2). */
	static char rdsadmin[] = "rdsadmin";
	static char *rdsadmin_v[] = { rdsadmin, NULL };
	static const struct strlist default_list = { rdsadmin_v, 1 };
	struct logimport_opts o = { .format = LOGFMT_AUTO, .exclude_users = &default_list,
				    .exclude_databases = &default_list };
	const char *cluster = NULL;
	char *inst = NULL;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			cluster = optarg;
			break;
		case 'i':
			inst = optarg;
			break;
		case 'f':
			if (!logline_format_parse(optarg, &o.format))
				return cli_usage_error("import-log", "--format '%s': use auto, stderr, "
						       "csvlog, jsonlog or cloudwatch", optarg);
			break;
		case 'p':
			o.prefix = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_DONE;
		default:
			return cli_bad_option("import-log", ch, argc, argv);
		}
	}
	if (cluster == NULL)
		return cli_usage_error("import-log", "--cluster NAME is required");
	if (optind >= argc)
		return cli_usage_error("import-log", "no FILE given (- reads standard input)");
	if (o.prefix != NULL) {
		char err[256];
		struct logline_parser *p = logline_parser_new(LOGFMT_STDERR, o.prefix, err,
							      sizeof err);

		if (p == NULL)
			return cli_usage_error("import-log", "--prefix: %s", err);
		logline_parser_free(p);
	}
	inst = inst ? strdup(inst) : NULL;
	rc = run_import(c, cluster, inst, &o, argv + optind, argc - optind);
	free(inst);
	return rc;
}
