/*
 * cmd_prune.c: `sslhist prune --older-than DURATION`, the one command that
 * writes. It deletes clients last seen before now - DURATION, with their
 * live_session and alert rows and the alerts' attempts. One BEGIN
 * IMMEDIATE transaction, waiting up to HISTDB_WRITE_BUSY_MS for the
 * daemon's own short write transactions.
 *
 * Clients are rows of client_data (the view `client` derives last_seen,
 * see sql/002_live_counts.sql).
 *
 * Why not ON DELETE CASCADE alone: live_session has no index on client_id
 * (an index there would cost the daemon a write per new session, for the
 * sake of a command run rarely), so SQLite would scan it once per deleted
 * client (measured: 52 s for 200,000 clients and 5,000 live sessions,
 * against 0.1 s this way). So foreign keys are off
 * for the transaction, the children go first in one set-based statement
 * each, and before COMMIT every table that references client or alert is
 * checked (pragma foreign_key_check): a reference left dangling, e.g. by a
 * child table a later schema adds, rolls everything back.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "histdb.h"
#include "livecounts.h"
#include "parse.h"

static const char usage_text[] =
	"usage: sslhist prune --older-than DURATION\n"
	"\n"
	"Deletes every client last seen before now - DURATION (e.g. 400d), with its\n"
	"live sessions and alerts. The hourly coverage is kept. Needs write access to\n"
	"the database (run it as the daemon's user).\n"
	"\n"
	"  --older-than D   500ms, 30s, 5m, 2h or 400d; a bare integer is seconds\n";

/*
 * The clients last seen before ?1, along the index on last_seen of
 * client_data: a client with live sessions (stored last_seen LIVE, see
 * sql/002_live_counts.sql) was last seen at its instance's last success.
 */
#define OLD_CLIENTS \
	"(SELECT id FROM client_data WHERE last_seen < ?1 UNION ALL" \
	" SELECT c.id FROM client_data c JOIN instance i ON i.id = c.instance_id" \
	" WHERE c.last_seen = " LIVE_LAST_SEEN " AND " LIVE_SEEN("c", "i") " < ?1)"

/* Children first; the last statement's changes are the clients deleted. */
static const char *const delete_sql[] = {
	"DELETE FROM live_session WHERE client_id IN " OLD_CLIENTS,
	"DELETE FROM session_seen WHERE client_id IN " OLD_CLIENTS,
	"DELETE FROM alert_attempt WHERE alert_id IN (SELECT id FROM alert"
	" WHERE client_id IN " OLD_CLIENTS ")",
	"DELETE FROM alert WHERE client_id IN " OLD_CLIENTS,
	"DELETE FROM client_data WHERE id IN " OLD_CLIENTS,
};

/* A table that references client_data or alert and now points at a
 * missing row. */
static const char dangling_sql[] =
	"SELECT m.name FROM sqlite_master m WHERE m.type = 'table'"
	" AND EXISTS (SELECT 1 FROM pragma_foreign_key_list(m.name) f"
	"  WHERE f.\"table\" IN ('client_data', 'alert'))"
	" AND EXISTS (SELECT 1 FROM pragma_foreign_key_check(m.name))"
	" LIMIT 1";

/* References to the view `client` (schema 1's table): SQLite cannot check
 * them (pragma foreign_key_check fails on them), so they are checked here. */
static const char view_refs_sql[] =
	"SELECT m.name, f.\"from\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f"
	" WHERE m.type = 'table' AND f.\"table\" = 'client'";

/* An identifier in double quotes, for SQL built from the schema. */
static void
quote_ident(char *out, size_t len, const char *id)
{
	size_t j = 0;

	if (len < 3)
		return;
	out[j++] = '"';
	for (; *id && j + 3 < len; id++) {
		if (*id == '"')
			out[j++] = '"';
		out[j++] = *id;
	}
	out[j++] = '"';
	out[j] = '\0';
}

/* 1 when table.col holds an id that is no client, 0 when not, -1 error. */
static int
view_ref_dangles(sqlite3 *db, const char *table, const char *col)
{
	char t[300], c[300], sql[1100];
	sqlite3_stmt *st;
	int rc;

	quote_ident(t, sizeof(t), table);
	quote_ident(c, sizeof(c), col);
	snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE %s IS NOT NULL AND %s NOT IN"
		 " (SELECT id FROM client_data) LIMIT 1", t, c, c);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Like find_dangling, for the references to the view. */
static int
find_dangling_view(sqlite3 *db, char *table, size_t len)
{
	sqlite3_stmt *st;
	int rc = SQLITE_DONE, d = 0;

	if (sqlite3_prepare_v2(db, view_refs_sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while (d == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		d = view_ref_dangles(db, (const char *)sqlite3_column_text(st, 0),
				     (const char *)sqlite3_column_text(st, 1));
		if (d > 0)
			snprintf(table, len, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	if (d == 0 && rc != SQLITE_DONE)
		d = -1;
	sqlite3_finalize(st);
	return d;
}

static int
run_bound(sqlite3 *db, const char *sql, int64_t cutoff)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, cutoff);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* 0 when nothing dangles, 1 (table named in *table) when something does. */
static int
find_dangling(sqlite3 *db, char *table, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, dangling_sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(table, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
delete_old(sqlite3 *db, const char *path, int64_t cutoff, int64_t *n)
{
	char table[128];
	size_t i;
	int d;

	for (i = 0; i < sizeof(delete_sql) / sizeof(delete_sql[0]); i++)
		if (run_bound(db, delete_sql[i], cutoff) < 0)
			goto fail;
	*n = sqlite3_changes(db);
	if ((d = find_dangling(db, table, sizeof(table))) == 0)
		d = find_dangling_view(db, table, sizeof(table));
	if (d < 0)
		goto fail;
	if (d > 0) {
		cli_error("%s: prune would leave rows of table %s pointing at deleted clients;"
			  " nothing deleted", path, table);
		return -1;
	}
	return 0;
fail:
	cli_error("%s: prune failed: %s", path, sqlite3_errmsg(db));
	return -1;
}

static int
prune(struct cli *c, int64_t cutoff)
{
	sqlite3 *db;
	char *path, when[32];
	int64_t n = 0;

	if ((db = cli_open(c, HISTDB_RW, &path)) == NULL)
		return EXIT_ERROR;
	/* Off before BEGIN (a no-op inside a transaction): see the top. */
	if (sqlite3_exec(db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		cli_error("%s: cannot start a write transaction: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (delete_old(db, path, cutoff, &n) < 0)
		goto rollback;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		cli_error("%s: prune failed: %s", path, sqlite3_errmsg(db));
		goto rollback;
	}
	format_time(cutoff, when);
	printf("pruned %lld client%s last seen before %s\n", (long long)n, plural(n),
	       when);
	free(path);
	sqlite3_close(db);
	return EXIT_DONE;
rollback:
	if (sqlite3_get_autocommit(db) == 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
fail:
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
		default:
			return cli_bad_option("prune", ch, argc, argv);
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
