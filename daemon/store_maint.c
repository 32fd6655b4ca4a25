/*
 * store_maint.c: the store's periodic upkeep (contract in store.h):
 * expiring detail older than the retention, and checkpointing the WAL.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "livecounts.h"
#include "store_int.h"

const char *const store_maint_sql[ST_COUNT] = {
	[ST_EXPIRE_COVERAGE] = "DELETE FROM coverage WHERE hour < ?1",
	[ST_EXPIRE_MISSED] = "DELETE FROM missed_session WHERE hour < ?1",
	[ST_EXPIRE_ATTEMPT] =
	    "DELETE FROM alert_attempt WHERE ended_at < ?1 AND alert_id IN "
	    "(SELECT id FROM alert WHERE state IN ('ok', 'failed'))",
	/* Live sessions of retired instances end: their samples settle first. */
	[ST_EXPIRE_SETTLE] =
	    "UPDATE client_data SET samples = " LIVE_SAMPLES("client_data", "i") ", "
	    "live = 0, live_from = 0, last_seen = " LIVE_SEEN("client_data", "i") " "
	    "FROM instance i WHERE i.id = client_data.instance_id "
	    "AND i.retired_at IS NOT NULL AND client_data.live > 0",
	[ST_EXPIRE_LIVE] =
	    "DELETE FROM live_session WHERE instance_id IN "
	    "(SELECT id FROM instance WHERE retired_at IS NOT NULL)",

};

/* ---- maintenance ----------------------------------------------------- */

int
store_expire(struct store *s, int64_t before)
{
	const struct st_write steps[] = {
		{ ST_EXPIRE_COVERAGE, "expire coverage", 1, { before } },
		{ ST_EXPIRE_MISSED, "expire missed sessions", 1, { before } },
		{ ST_LOG_EXPIRE_SESSIONS, "expire known sessions", 1, { before } },
		{ ST_LOG_EXPIRE_COVERAGE, "expire log coverage", 1, { before } },
		{ ST_EXPIRE_ATTEMPT, "expire alert attempts", 1, { before } },
		{ ST_EXPIRE_SETTLE, "settle live sessions of retired instances", 0, { 0 } },
		{ ST_EXPIRE_LIVE, "expire live sessions of retired instances", 0, { 0 } },
	};

	st_ctx(s, "expire before %" PRId64, before);
	return st_writes(s, steps, sizeof steps / sizeof steps[0]) < 0 ? -1 : 0;
}

void
store_checkpoint(struct store *s)
{
	st_ctx(s, "checkpoint");
	if (sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) !=
	    SQLITE_OK)
		st_err(s, "wal_checkpoint(PASSIVE)", sqlite3_errmsg(s->db));
}
