/*
 * store_fleet.c: the instance registry (instances, their retiring, the
 * outcome of each cluster's discovery) and what the poller reads back
 * after a restart (live sessions, session counters). Contract in store.h.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include <sqlite3.h>

#include "store_int.h"

const char *const store_fleet_sql[ST_COUNT] = {
	[ST_INSTANCE_UPSERT] =
	    "INSERT INTO instance (cluster, host, port, role, added_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT (cluster, host, port) DO UPDATE "
	    "SET retired_at = NULL, role = excluded.role RETURNING id",
	/* Poolers' rows are the pooler set's (store_pooler.c). */
	[ST_INSTANCE_ACTIVE] = "SELECT id FROM instance WHERE retired_at IS NULL AND pooler IS NULL",
	[ST_INSTANCE_RETIRE] = "UPDATE instance SET retired_at = ?2 WHERE id = ?1",
	/* ?3 NULL: the discovery succeeded. */
	[ST_DISCOVERY] =
	    "INSERT INTO discovery (cluster, last_attempt, last_success, last_error, "
	    "last_error_at, consecutive_failures) VALUES (?1, ?2, "
	    "CASE WHEN ?3 IS NULL THEN ?2 END, ?3, CASE WHEN ?3 IS NOT NULL THEN ?2 END, "
	    "?3 IS NOT NULL) "
	    "ON CONFLICT (cluster) DO UPDATE SET last_attempt = ?2, "
	    "last_success = CASE WHEN ?3 IS NULL THEN ?2 ELSE last_success END, "
	    "last_error = coalesce(?3, last_error), "
	    "last_error_at = CASE WHEN ?3 IS NULL THEN last_error_at ELSE ?2 END, "
	    "consecutive_failures = CASE WHEN ?3 IS NULL THEN 0 "
	    "ELSE consecutive_failures + 1 END",
	[ST_LIVE_LIST] =
	    "SELECT pid, backend_start_us FROM live_session WHERE instance_id = ?1",
	[ST_COUNTER_LIST] =
	    "SELECT datid, database, sessions, stats_reset FROM session_counter "
	    "WHERE instance_id = ?1",
};

/* ---- instances ------------------------------------------------------- */

int64_t
store_instance(struct store *s, const char *cluster, const char *host, int port,
	       const char *role)
{
	sqlite3_stmt *st;
	int64_t id;
	int rc;

	st_ctx(s, "instance %s/%s:%d", cluster, host, port);
	if (st_begin(s) < 0)
		return -1;
	st = st_get(s, ST_INSTANCE_UPSERT);
	st_text_nn(s, st, 1, cluster);
	st_text_nn(s, st, 2, host);
	st_int(s, st, 3, port);
	st_text(s, st, 4, role);
	st_int(s, st, 5, (int64_t)time(NULL));
	if ((rc = st_step(s, st, "upsert instance")) != SQLITE_ROW) {
		if (rc == SQLITE_DONE) {
			st_err(s, "upsert instance", "no id returned");
			st_finish(st);
		}
		st_abort(s);
		return -1;
	}
	id = sqlite3_column_int64(st, 0);
	st_finish(st);
	if (st_commit(s) < 0)
		return -1;
	return id;
}


/* The ids that statement `active` lists and keep[] does not hold. */
static int
to_retire(struct store *s, enum stmt_id active, const int64_t *keep, size_t nkeep,
	  int64_t **ids, size_t *n)
{
	sqlite3_stmt *st = st_get(s, active);
	size_t cap = 0;
	int64_t *grown, id;
	int rc;

	*ids = NULL;
	*n = 0;
	while ((rc = st_step(s, st, "list active rows")) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		if (st_kept(keep, nkeep, id))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			if ((grown = realloc(*ids, cap * sizeof *grown)) == NULL) {
				st_err(s, "list active rows", "out of memory");
				st_finish(st);
				return -1;
			}
			*ids = grown;
		}
		(*ids)[(*n)++] = id;
	}
	if (rc < 0)
		return -1;
	st_finish(st);
	return 0;
}

int
store_discovery(struct store *s, const char *cluster, int64_t now, const char *error)
{
	sqlite3_stmt *st;

	st_ctx(s, "discovery of cluster %s", cluster);
	if (st_begin(s) < 0)
		return -1;
	st = st_get(s, ST_DISCOVERY);
	st_text_nn(s, st, 1, cluster);
	st_int(s, st, 2, now);
	st_text(s, st, 3, error);
	if (st_run(s, st, "record discovery") < 0) {
		st_abort(s);
		return -1;
	}
	return st_commit(s);
}

int
st_retire_others(struct store *s, enum stmt_id active, const int64_t *keep, size_t nkeep,
		 int64_t now)
{
	int64_t *ids = NULL;
	size_t n = 0;
	sqlite3_stmt *st;

	if (st_begin(s) < 0)
		return -1;
	if (to_retire(s, active, keep, nkeep, &ids, &n) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		st = st_get(s, ST_INSTANCE_RETIRE);
		st_int(s, st, 1, ids[i]);
		st_int(s, st, 2, now);
		if (st_run(s, st, "retire") < 0)
			goto fail;
	}
	free(ids);
	return st_commit(s);
fail:
	free(ids);
	st_abort(s);
	return -1;
}

int
store_retire_others(struct store *s, const int64_t *keep, size_t nkeep, int64_t now)
{
	st_ctx(s, "retire instances");
	return st_retire_others(s, ST_INSTANCE_ACTIVE, keep, nkeep, now);
}

/* ---- reading back ---------------------------------------------------- */

int
store_live_sessions(struct store *s, int64_t instance_id,
		    void (*fn)(void *arg, int32_t pid, int64_t backend_start_us), void *arg)
{
	sqlite3_stmt *st = st_get(s, ST_LIVE_LIST);
	int rc;

	st_ctx(s, "instance %" PRId64, instance_id);
	st_int(s, st, 1, instance_id);
	while ((rc = st_step(s, st, "list live sessions")) == SQLITE_ROW)
		fn(arg, (int32_t)sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
	if (rc < 0)
		return -1;
	st_finish(st);
	return 0;
}

int
store_counters(struct store *s, int64_t instance_id,
	       void (*fn)(void *arg, uint32_t datid, const char *database, int64_t sessions,
			  const char *stats_reset), void *arg)
{
	sqlite3_stmt *st = st_get(s, ST_COUNTER_LIST);
	int rc;

	st_ctx(s, "instance %" PRId64, instance_id);
	st_int(s, st, 1, instance_id);
	while ((rc = st_step(s, st, "list session counters")) == SQLITE_ROW)
		fn(arg, (uint32_t)sqlite3_column_int64(st, 0),
		   (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2),
		   (const char *)sqlite3_column_text(st, 3));
	if (rc < 0)
		return -1;
	st_finish(st);
	return 0;
}
