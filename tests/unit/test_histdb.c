/*
 * Unit tests of lib/histdb.c: the database path of docs/CONTRACT.md section 4 and opening in
 * either mode (missing file, foreign file, schema check, query_only for
 * reading, foreign_keys for writing, a path that needs URI escaping). Opening as a group member without the -wal
 * file is tested end to end in tests/integration/test_cli.py.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "histdb.h"
#include "migrations.h"

static char dir[] = "/tmp/test_histdb.XXXXXX";

static void
test_path(void)
{
	struct config cfg;
	char *p;

	memset(&cfg, 0, sizeof(cfg));
	cfg.database = (char *)(uintptr_t)"/cfg/history.db";
	unsetenv("SSLHIST_DB");
	p = histdb_path("/opt/x.db", &cfg);
	CHECK_STR(p, "/opt/x.db");
	free(p);
	setenv("SSLHIST_DB", "/env/h.db", 1);
	p = histdb_path("/opt/x.db", &cfg);
	CHECK_STR(p, "/opt/x.db");		/* --db wins */
	free(p);
	p = histdb_path(NULL, &cfg);
	CHECK_STR(p, "/env/h.db");		/* then $SSLHIST_DB */
	free(p);
	unsetenv("SSLHIST_DB");
	p = histdb_path(NULL, &cfg);
	CHECK_STR(p, "/cfg/history.db");	/* then CONFIG */
	free(p);
	p = histdb_path(NULL, NULL);
	CHECK_STR(p, CONFIG_DEFAULT_DB);	/* then the default */
	free(p);
	setenv("SSLHIST_DB", "", 1);
	p = histdb_path("", NULL);
	CHECK_STR(p, CONFIG_DEFAULT_DB);	/* empty values do not count */
	free(p);
	unsetenv("SSLHIST_DB");
}

static void
make_db(const char *path, int version)
{
	sqlite3 *db;
	char sql[128];

	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode = WAL; CREATE TABLE t (x);"
		 " PRAGMA user_version = %d;", version);
	CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* The value of a one-row integer PRAGMA; -1 on error. */
static int
pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
test_open(void)
{
	char path[256], err[512];
	sqlite3 *db;
	bool imm = true;

	/* Missing: the message names the path. */
	snprintf(path, sizeof(path), "%s/missing.db", dir);
	CHECK(histdb_open(path, HISTDB_RO, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, "does not exist") != NULL);
	CHECK(histdb_open(path, HISTDB_RW, NULL, err, sizeof(err)) == NULL);
	CHECK(access(path, F_OK) != 0);		/* never created */
	/* A SQLite file without our schema. */
	snprintf(path, sizeof(path), "%s/foreign.db", dir);
	make_db(path, 0);
	CHECK(histdb_open(path, HISTDB_RO, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "not an sslhist database") != NULL);
	/* Ours, but older or newer than this program: a clear error. */
	snprintf(path, sizeof(path), "%s/old.db", dir);
	make_db(path, migration_count - 1);
	CHECK(histdb_open(path, HISTDB_RO, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "is older than this sslhist reads") != NULL);
	CHECK(strstr(err, path) != NULL);
	snprintf(path, sizeof(path), "%s/new.db", dir);
	make_db(path, migration_count + 1);
	CHECK(histdb_open(path, HISTDB_RO, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "is newer than this sslhist knows") != NULL);
	CHECK(histdb_open(path, HISTDB_RW, NULL, err, sizeof(err)) == NULL);
	/* Ours, at a path that needs URI escaping. */
	snprintf(path, sizeof(path), "%s/we?ird#%%20.db", dir);
	make_db(path, migration_count);
	db = histdb_open(path, HISTDB_RO, &imm, err, sizeof(err));
	CHECK(db != NULL);
	CHECK(!imm);
	if (db != NULL) {
		/* Read-only for real. */
		CHECK(sqlite3_exec(db, "INSERT INTO t VALUES (1)", NULL, NULL, NULL) != SQLITE_OK);
		CHECK_INT(pragma_int(db, "PRAGMA query_only"), 1);
		sqlite3_close(db);
	}
	db = histdb_open(path, HISTDB_RW, NULL, err, sizeof(err));
	CHECK(db != NULL);
	if (db != NULL) {
		CHECK_INT(sqlite3_exec(db, "INSERT INTO t VALUES (1)", NULL, NULL, NULL),
			  SQLITE_OK);
		CHECK_INT(pragma_int(db, "PRAGMA foreign_keys"), 1);
		CHECK_INT(pragma_int(db, "PRAGMA query_only"), 0);
		sqlite3_close(db);
	}
	/* Not a database at all. */
	snprintf(path, sizeof(path), "%s", dir);
	CHECK(histdb_open(path, HISTDB_RO, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "not a regular file") != NULL);
}

int
main(void)
{
	char cmd[300];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_path();
	test_open();
	snprintf(cmd, sizeof(cmd), "%s/we?ird#%%20.db", dir);
	unlink(cmd);
	strcat(cmd, "-wal");
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/we?ird#%%20.db-shm", dir);
	unlink(cmd);
	for (const char *const *n = (const char *const[]){ "foreign", "old", "new", NULL }; *n;
	     n++) {
		for (const char *const *x = (const char *const[]){ "", "-wal", "-shm", NULL }; *x;
		     x++) {
			snprintf(cmd, sizeof(cmd), "%s/%s.db%s", dir, *n, *x);
			unlink(cmd);
		}
	}
	rmdir(dir);
	return check_done();
}
