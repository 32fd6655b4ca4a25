/*
 * store_migrate.c: brings the file's schema to the numbered migrations of
 * sql/ compiled into the program (lib/migrations.h), one BEGIN IMMEDIATE
 * transaction each, with PRAGMA user_version as the number applied.
 *
 * A file whose version is newer than the program knows is refused
 * untouched; another process migrating at the same time is harmless (the
 * version is read again under the write lock).
 */
#include <inttypes.h>
#include <stdio.h>

#include <sqlite3.h>

#include "migrations.h"
#include "store_int.h"

static int
pragma_int(struct store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		st_err(s, sql, sqlite3_errmsg(s->db));
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		st_err(s, sql, sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return -1;
	}
	*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/* Brings the schema from user_version v to v + 1. */
static int
migrate_one(struct store *s, int v)
{
	char sql[64], what[128];
	int64_t now;

	snprintf(what, sizeof what, "migration %s", migrations[v].name);
	if (st_exec(s, "BEGIN IMMEDIATE", what) < 0)
		return -1;
	/* Another process may have migrated while we waited for the lock. */
	if (pragma_int(s, "PRAGMA user_version", &now) < 0)
		goto fail;
	if (now != v) {
		st_exec(s, "ROLLBACK", what);
		return 0;
	}
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
	if (st_exec(s, migrations[v].sql, what) < 0 || st_exec(s, sql, what) < 0 ||
	    st_exec(s, "COMMIT", what) < 0)
		goto fail;
	return 0;
fail:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
st_migrate(struct store *s)
{
	int64_t v;
	char why[128];

	for (;;) {
		if (pragma_int(s, "PRAGMA user_version", &v) < 0)
			return -1;
		if (v == migration_count)
			return 0;
		if (v > migration_count || v < 0) {
			snprintf(why, sizeof why,
				 "schema version %" PRId64 " is newer than this program knows (%d)",
				 v, migration_count);
			st_err(s, "open", why);
			return -1;
		}
		if (migrate_one(s, (int)v) < 0)
			return -1;
	}
}
