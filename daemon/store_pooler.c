/*
 * store_pooler.c: pooler rows and a pooler record's facts
 * (store_pooler.h, sql/006_pooler.sql).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "pollrec.h"
#include "store_int.h"
#include "store_pooler.h"

const char *const store_pooler_sql[ST_COUNT] = {
	[ST_POOLER_UPSERT] =
	    "INSERT INTO instance (cluster, host, port, added_at, pooler) "
	    "VALUES (?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT (cluster, host, port) DO UPDATE "
	    "SET retired_at = NULL, pooler = excluded.pooler "
	    /* An instance of the cluster at that endpoint stays one: no row. */
	    "WHERE instance.pooler IS NOT NULL RETURNING id",
	[ST_POOLER_ACTIVE] =
	    "SELECT id FROM instance WHERE retired_at IS NULL AND pooler IS NOT NULL",
	[ST_POOLER_FACTS] =
	    "UPDATE instance SET pooler_client_tls_sslmode = ?2, pooler_server_tls_sslmode = ?3, "
	    "pooler_server_tls_ca_file = ?4 WHERE id = ?1",
};

int64_t
store_pooler(struct store *s, const char *name, const char *cluster, const char *host, int port)
{
	sqlite3_stmt *st;
	int64_t id;
	int rc;

	st_ctx(s, "pooler %s (%s:%d)", name, host, port);
	if (st_begin(s) < 0)
		return -1;
	st = st_get(s, ST_POOLER_UPSERT);
	st_text_nn(s, st, 1, cluster);
	st_text_nn(s, st, 2, host);
	st_int(s, st, 3, port);
	st_int(s, st, 4, (int64_t)time(NULL));
	st_text_nn(s, st, 5, name);
	if ((rc = st_step(s, st, "upsert pooler")) != SQLITE_ROW) {
		if (rc == SQLITE_DONE) {
			st_err(s, "upsert pooler", "an instance of the cluster has this "
			       "host and port");
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


int
store_pooler_retire_others(struct store *s, const int64_t *keep, size_t nkeep, int64_t now)
{
	st_ctx(s, "retire poolers");
	return st_retire_others(s, ST_POOLER_ACTIVE, keep, nkeep, now);
}

int
store_pooler_facts(struct store *s, const struct poll_record *r)
{
	sqlite3_stmt *st = st_get(s, ST_POOLER_FACTS);

	st_int(s, st, 1, r->instance_id);
	st_text(s, st, 2, r->pooler->client_tls_sslmode);
	st_text(s, st, 3, r->pooler->server_tls_sslmode);
	st_text(s, st, 4, r->pooler->server_tls_ca_file);
	return st_run(s, st, "update pooler facts");
}
