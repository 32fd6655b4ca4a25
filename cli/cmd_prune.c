/*
 * cmd_prune.c: `sslhist prune --older-than DURATION`, the one command that
 * writes. It deletes clients last seen before now - DURATION; their
 * live_session and alert rows (and the alerts' attempts) go by ON DELETE
 * CASCADE. One BEGIN IMMEDIATE transaction, waiting up to
 * HISTDB_WRITE_BUSY_MS for the daemon's own short write transactions.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "histdb.h"
#include "parse.h"

static const char usage_text[] =
	"usage: sslhist prune --older-than DURATION\n"
	"\n"
	"Deletes every client last seen before now - DURATION (e.g. 400d), with its\n"
	"live sessions and alerts. The hourly coverage is kept. Needs write access to\n"
	"the database (run it as the daemon's user).\n"
	"\n"
	"  --older-than D   500ms, 30s, 5m, 2h or 400d; a bare integer is seconds\n";

static int
prune(struct cli *c, int64_t cutoff)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	char *path, when[32];
	int64_t n;
	int rc;

	if ((db = cli_open_rw(c, &path)) == NULL)
		return EXIT_ERROR;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_prepare_v2(db, "DELETE FROM client WHERE last_seen < ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		goto rollback;
	sqlite3_bind_int64(st, 1, cutoff);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto rollback;
	n = sqlite3_changes(db);
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto rollback;
	format_time(cutoff, when);
	printf("pruned %lld client%s last seen before %s\n", (long long)n, n == 1 ? "" : "s",
	       when);
	free(path);
	sqlite3_close(db);
	return EXIT_DONE;
rollback:
	cli_error("%s: prune failed: %s", path, sqlite3_errmsg(db));
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	free(path);
	sqlite3_close(db);
	return EXIT_ERROR;
fail:
	cli_error("%s: cannot start a write transaction: %s", path, sqlite3_errmsg(db));
	free(path);
	sqlite3_close(db);
	return EXIT_ERROR;
}

int
cmd_prune(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *older = NULL, *why;
	int64_t ms;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			older = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_DONE;
		case ':':
			return cli_usage_error("prune", "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error("prune", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("prune", "unexpected argument '%s'", argv[optind]);
	if (older == NULL)
		return cli_usage_error("prune", "--older-than DURATION is required");
	if ((why = parse_duration_ms(older, &ms)) != NULL)
		return cli_usage_error("prune", "--older-than '%s': %s", older, why);
	return prune(c, c->now - ms / 1000);
}
