/*
 * Unit tests of lib/histmerge.c: the merge rules of histmerge.h over two
 * real history files written with the compiled-in migrations and crafted
 * rows (instances seen by two observers, the same client in both, coverage
 * and missed sessions per hour, alerts, discovery), read back through the
 * names the commands use. End to end with real daemons:
 * tests/integration/test_multidb.py.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "histdb.h"
#include "histmerge.h"
#include "migrations.h"

static char dir[] = "/tmp/test_histmerge.XXXXXX";
static char paths[2][256];

static void
make_history(const char *path, const char *rows)
{
	sqlite3 *db;
	char v[64];

	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < migration_count; i++)
		CHECK_INT(sqlite3_exec(db, migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
	snprintf(v, sizeof(v), "PRAGMA user_version = %d", migration_count);
	CHECK_INT(sqlite3_exec(db, v, NULL, NULL, NULL), SQLITE_OK);
	if (sqlite3_exec(db, rows, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", path, sqlite3_errmsg(db));
		CHECK(0);
	}
	sqlite3_close(db);
}

/* The first column of the one row of sql, as text ("NULL" for NULL). */
static const char *
q1(sqlite3 *db, const char *sql)
{
	static char buf[256];
	sqlite3_stmt *st;

	snprintf(buf, sizeof(buf), "(error)");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
		return buf;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(buf, sizeof(buf), "%s", sqlite3_column_type(st, 0) == SQLITE_NULL ? "NULL" :
			 (const char *)sqlite3_column_text(st, 0));
	else
		snprintf(buf, sizeof(buf), "(no row)");
	sqlite3_finalize(st);
	return buf;
}

/* File 0: bastion 1. Instance ids differ from file 1's on purpose. */
static const char rows0[] =
	"INSERT INTO instance (id, cluster, host, port, added_at, retired_at, last_attempt,"
	" last_success, last_error, last_error_at, consecutive_failures, facts_at, cert_sha256,"
	" can_see_all_sessions, polls_ok) VALUES"
	" (7, 'beta', 'b', 5432, 100, NULL, 300, 250, 'down', 300, 3, 100, 'OLD', 1, 10),"
	" (8, 'beta', 'r', 5432, 100, 150, 150, 150, NULL, NULL, 0, 100, NULL, 1, 5),"
	" (9, 'alpha', 'a', 5432, 100, NULL, 300, 300, NULL, NULL, 0, 100, NULL, 1, 5);"
	"INSERT INTO client_data (id, instance_id, ident, database, user, application,"
	" client_addr, ssl, first_seen, last_seen, sessions, samples) VALUES"
	" (1, 7, x'01', 'db', 'u', 'app', NULL, 0, 120, 200, 3, 7),"
	" (2, 7, x'02', 'db', 'u', 'app', NULL, 1, 120, 200, 1, 1),"
	" (3, 9, x'03', 'db', 'u', 'app', NULL, 0, 120, 200, 1, 1);"
	"UPDATE client_data SET tls_version = 'TLSv1.3', bits = 256 WHERE id = 2;"
	"INSERT INTO coverage (instance_id, hour, polls, failed_polls, largest_gap_ms, sessions,"
	" single_poll_sessions, missed_sessions) VALUES"
	" (7, 0, 10, 0, 40000, 3, 2, 5), (7, 3600, 10, 0, 30000, 1, 1, NULL),"
	" (7, 7200, 4, 0, 9000, 0, 0, 6);"
	"INSERT INTO missed_session VALUES (7, 0, 'x', 5), (7, 7200, 'x', 6);"
	"INSERT INTO discovery VALUES ('beta', 300, 100, 'no route', 300, 2);"
	"INSERT INTO alert (id, client_id, event, state, attempts, next_attempt_ms, created_at)"
	" VALUES (1, 1, 'non-ssl', 'ok', 1, 0, 120);"
	"INSERT INTO alert_attempt VALUES (1, 1, 120, 121, 0, 'ok', NULL);";

/* File 1: bastion 2 polls beta too; its client 5 is file 0's client 1. */
static const char rows1[] =
	"INSERT INTO instance (id, cluster, host, port, added_at, retired_at, last_attempt,"
	" last_success, last_error, last_error_at, consecutive_failures, facts_at, cert_sha256,"
	" can_see_all_sessions, polls_ok) VALUES"
	" (1, 'beta', 'b', 5432, 90, NULL, 310, 310, 'timeout', 200, 0, 200, 'NEW', 0, 20),"
	" (2, 'beta', 'r', 5432, 90, NULL, 310, 305, 'refused', 310, 2, 200, NULL, 1, 20),"
	" (3, 'gamma', 'g', 5432, 90, NULL, 310, 310, NULL, NULL, 0, 200, NULL, 1, 20);"
	"INSERT INTO client_data (id, instance_id, ident, database, user, application,"
	" client_addr, client_hostname, ssl, first_seen, last_seen, sessions, samples, live,"
	" live_from) VALUES"
	/* live: last seen at the instance's last success, samples 4 + 1 * 21 - 15 */
	" (5, 1, x'11', 'db', 'u', 'app', NULL, 'h1', 0, 110, 9223372036854775807, 2, 4, 1, 15),"
	" (6, 3, x'12', 'db', 'u', 'app', NULL, NULL, 0, 110, 200, 1, 1, 0, 0);"
	"INSERT INTO coverage (instance_id, hour, polls, failed_polls, largest_gap_ms, sessions,"
	" single_poll_sessions, missed_sessions) VALUES"
	" (1, 0, 10, 10, 0, 2, 1, 0), (1, 3600, 10, 0, 20000, 1, 0, 3);"
	"INSERT INTO missed_session VALUES (1, 3600, 'x', 3);"
	"INSERT INTO discovery VALUES ('beta', 310, 310, NULL, NULL, 0);"
	"INSERT INTO alert (id, client_id, event, state, attempts, next_attempt_ms, created_at)"
	" VALUES (1, 6, 'non-ssl', 'failed', 1, 0, 110);"
	"INSERT INTO alert_attempt VALUES (1, 1, 110, 111, 1, 'failed', NULL);";

#define BETA_B "(SELECT id FROM instance WHERE cluster = 'beta' AND host = 'b')"

static void
test_instances(sqlite3 *db)
{
	CHECK_STR(q1(db, "SELECT group_concat(cluster || '/' || host, ' ') FROM"
		      " (SELECT * FROM instance ORDER BY cluster, host)"),
		  "alpha/a beta/b beta/r gamma/g");
	/* One observer succeeds: not failing; the error is the latest one. */
	CHECK_STR(q1(db, "SELECT consecutive_failures || ' ' || last_error || ' ' ||"
		      " last_attempt || ' ' || last_success || ' ' || added_at FROM instance"
		      " WHERE host = 'b'"), "0 down 310 310 90");
	/* Facts from the latest reading; sees all when any observer does. */
	CHECK_STR(q1(db, "SELECT cert_sha256 || ' ' || can_see_all_sessions || ' ' ||"
		      " source_mask FROM instance WHERE host = 'b'"), "NEW 1 3");
	/* Retired by one bastion, polled and failing at the other: failing. */
	CHECK_STR(q1(db, "SELECT coalesce(retired_at, 'active') || ' ' || consecutive_failures"
		      " FROM instance WHERE host = 'r'"), "active 2");
	CHECK_STR(q1(db, "SELECT source_mask FROM instance WHERE cluster = 'gamma'"), "2");
}

static void
test_clients(sqlite3 *db)
{
	CHECK_STR(q1(db, "SELECT count(*) FROM client_data"), "4");
	CHECK_STR(q1(db, "SELECT count(*) FROM client"), "4");
	/* The same identity from both files: once, sessions the larger count,
	 * samples summed (7 + 4 + 21 - 15), first min, last max (the live
	 * client's last success), the hostname of the latest sighting. */
	CHECK_STR(q1(db, "SELECT sessions || ' ' || samples || ' ' || first_seen || ' ' ||"
		      " last_seen || ' ' || client_hostname || ' ' || live FROM client_data"
		      " WHERE instance_id = " BETA_B " AND ssl = 0"), "3 17 110 310 h1 0");
	/* bits differ: another client. */
	CHECK_STR(q1(db, "SELECT count(*) FROM client_data WHERE instance_id = " BETA_B),
		  "2");
	/* The view of schema 2 over the merged rows. */
	CHECK_STR(q1(db, "SELECT samples || ' ' || last_seen FROM client"
		      " WHERE instance_id = " BETA_B " AND ssl = 0"), "17 310");
}

static void
test_coverage(sqlite3 *db)
{
	/* Hour 0: observer 2 had no successful poll, observer 1's gap holds;
	 * missed: the smaller count; single-poll the smaller, first seen the
	 * larger. */
	CHECK_STR(q1(db, "SELECT polls || ' ' || failed_polls || ' ' || largest_gap_ms || ' ' ||"
		      " sessions || ' ' || single_poll_sessions || ' ' || missed_sessions"
		      " FROM coverage WHERE instance_id = " BETA_B " AND hour = 0"),
		  "20 10 40000 3 1 0");
	/* Hour 1: both succeeded: the smaller gap; a NULL count does not win. */
	CHECK_STR(q1(db, "SELECT largest_gap_ms || ' ' || missed_sessions FROM coverage"
		      " WHERE instance_id = " BETA_B " AND hour = 3600"), "20000 3");
	CHECK_STR(q1(db, "SELECT count(*) FROM coverage"), "3");
	/* Per database: an observer whose count was known and had no row
	 * missed none (hour 0: no row left); both rows: the smaller; one
	 * observer alone: its row. */
	CHECK_STR(q1(db, "SELECT group_concat(hour || ':' || missed, ' ') FROM"
		      " (SELECT * FROM missed_session ORDER BY hour)"), "3600:3 7200:6");
}

static void
test_alerts_and_discovery(sqlite3 *db)
{
	/* Each bastion's hook stays its own alert, on the merged client. */
	CHECK_STR(q1(db, "SELECT count(*) || ' ' || count(DISTINCT id) FROM alert"), "2 2");
	CHECK_STR(q1(db, "SELECT group_concat(i.cluster || ':' || t.outcome, ' ') FROM"
		      " (SELECT * FROM alert_attempt ORDER BY alert_id) t"
		      " JOIN alert a ON a.id = t.alert_id JOIN client c ON c.id = a.client_id"
		      " JOIN instance i ON i.id = c.instance_id"), "beta:ok gamma:failed");
	CHECK_STR(q1(db, "SELECT consecutive_failures || ' ' || coalesce(last_error, '-') ||"
		      " ' ' || last_attempt FROM discovery"), "0 - 310");
}

static void
test_merge(void)
{
	const char *p[2] = { paths[0], paths[1] };
	char err[512];
	sqlite3 *db;

	db = histdb_open(p[0], HISTDB_RO, NULL, err, sizeof(err));
	CHECK(db != NULL);
	if (db == NULL)
		return;
	CHECK_INT(histmerge_open(db, p, 2, err, sizeof(err)), 0);
	test_instances(db);
	test_clients(db);
	test_coverage(db);
	test_alerts_and_discovery(db);
	/* Read-only again, temp included; the files never change. */
	CHECK(sqlite3_exec(db, "DELETE FROM temp.client_data", NULL, NULL, NULL) != SQLITE_OK);
	CHECK(sqlite3_exec(db, "DELETE FROM src1.coverage", NULL, NULL, NULL) != SQLITE_OK);
	sqlite3_close(db);
}

static void
rm_db(const char *path)
{
	char f[700];

	for (const char *const *x = (const char *const[]){ "", "-wal", "-shm", NULL }; *x; x++) {
		snprintf(f, sizeof(f), "%s%s", path, *x);
		unlink(f);
	}
}

static void
test_errors(void)
{
	char err[512], bad[300];
	const char *p[3] = { paths[0], bad, paths[1] };
	sqlite3 *db;

	snprintf(bad, sizeof(bad), "%s/missing.db", dir);
	db = histdb_open(paths[0], HISTDB_RO, NULL, err, sizeof(err));
	CHECK(db != NULL);
	if (db == NULL)
		return;
	CHECK_INT(histmerge_open(db, p, 3, err, sizeof(err)), -1);
	CHECK(strstr(err, bad) != NULL);
	CHECK(strstr(err, "does not exist") != NULL);
	sqlite3_close(db);
	p[1] = paths[0];
	db = histdb_open(paths[0], HISTDB_RO, NULL, err, sizeof(err));
	CHECK_INT(histmerge_open(db, p, 2, err, sizeof(err)), -1);
	CHECK(strstr(err, "given twice") != NULL);
	CHECK(histmerge_max_files(db) == 1 + sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, -1));
	sqlite3_close(db);
	/* Same user_version, altered by hand: named, not half merged. */
	snprintf(bad, sizeof(bad), "%s/altered.db", dir);
	make_history(bad, "ALTER TABLE coverage ADD COLUMN extra INTEGER");
	p[1] = bad;
	db = histdb_open(paths[0], HISTDB_RO, NULL, err, sizeof(err));
	CHECK_INT(histmerge_open(db, p, 2, err, sizeof(err)), -1);
	CHECK(strstr(err, bad) != NULL);
	CHECK(strstr(err, "table coverage differs") != NULL);
	sqlite3_close(db);
	/* A name that would be SQL (or terminal escapes) if written out. */
	rm_db(bad);
	make_history(bad, "CREATE TABLE \"x\"\"); ATTACH '/tmp/y' AS y; --\" (a)");
	p[0] = bad;
	p[1] = paths[0];
	db = histdb_open(bad, HISTDB_RO, NULL, err, sizeof(err));
	CHECK_INT(histmerge_open(db, p, 2, err, sizeof(err)), -1);
	CHECK(strstr(err, "unexpected table name") != NULL);
	CHECK(access("/tmp/y", F_OK) != 0);
	sqlite3_close(db);
	rm_db(bad);
}

int
main(void)
{

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	for (int i = 0; i < 2; i++)
		snprintf(paths[i], sizeof(paths[i]), "%s/h%d.db", dir, i);
	make_history(paths[0], rows0);
	make_history(paths[1], rows1);
	test_merge();
	test_errors();
	for (int i = 0; i < 2; i++)
		rm_db(paths[i]);
	CHECK_INT(rmdir(dir), 0);	/* nothing left behind */
	return check_done();
}
