/*
 * store_metrics.c: the one read the /metrics registry makes
 * (store_metrics.h). It runs once per daemon (when metrics_listen is first
 * configured), so it is prepared for the occasion rather than kept in the
 * statement cache of store_int.h.
 */
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store_int.h"
#include "store_metrics.h"

static char *
col(sqlite3_stmt *st, int i)
{
	/* The callback only reads: the cast drops const for struct client_key. */
	return (char *)(uintptr_t)sqlite3_column_text(st, i);
}

int
store_metrics_clients(struct store *s,
		      void (*fn)(void *arg, int64_t instance_id, const struct client_key *k),
		      void *arg)
{
	static const char sql[] =
	    "SELECT instance_id, database, user, application, client_addr, ssl, "
	    "tls_version, cipher, bits, client_dn, issuer_dn FROM client_data";
	sqlite3_stmt *st = NULL;
	int rc;

	st_ctx(s, "metrics: clients");
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		st_err(s, "prepare", sqlite3_errmsg(s->db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct client_key k = {
			.database = col(st, 1),
			.user = col(st, 2),
			.application = col(st, 3),
			.client_addr = col(st, 4),
			.ssl = sqlite3_column_int(st, 5) != 0,
			.tls_version = col(st, 6),
			.cipher = col(st, 7),
			.bits = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1 :
				sqlite3_column_int(st, 8),
			.client_dn = col(st, 9),
			.issuer_dn = col(st, 10),
		};

		fn(arg, sqlite3_column_int64(st, 0), &k);
	}
	if (rc != SQLITE_DONE)
		st_err(s, "read clients", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
