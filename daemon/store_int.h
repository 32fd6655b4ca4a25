/*
 * store_int.h: what the store's own files share (daemon/store*.c); no
 * other module includes it. The public contracts are store.h and
 * store_hooks.h.
 *
 * Every statement has a slot in enum stmt_id. Its SQL lives in the file
 * that uses it, in that file's sparse table (store_*_sql[ST_COUNT]);
 * store_open prepares every slot once (SQLITE_PREPARE_PERSISTENT), so a
 * statement the schema does not accept fails at open, not at first use.
 *
 * A public call names what it is about (st_ctx) before its first step;
 * a failing step records "path: context: what: why" (st_err) and resets
 * the statement, so the caller only has to roll back and return -1.
 */
#ifndef SSLHIST_STORE_INT_H
#define SSLHIST_STORE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "store.h"

enum stmt_id {
	/* store.c */
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	/* store_fleet.c */
	ST_INSTANCE_UPSERT,
	ST_INSTANCE_ACTIVE,
	ST_INSTANCE_RETIRE,
	ST_DISCOVERY,
	ST_LIVE_LIST,
	ST_COUNTER_LIST,
	/* store_poll.c */
	ST_INSTANCE_POLL,
	ST_INSTANCE_FACTS,
	ST_CLIENT_SEEN,
	ST_CLIENT_INSERT,
	ST_ALERT_INSERT,
	ST_LIVE_INSERT,
	ST_CLIENT_LIVE_ADD,
	ST_LIVE_DELETE,
	ST_CLIENT_LIVE_END,
	ST_COVERAGE,
	ST_MISSED,
	ST_COUNTER_DROP,
	ST_COUNTER_INSERT,
	/* store_maint.c */
	ST_EXPIRE_COVERAGE,
	ST_EXPIRE_MISSED,
	ST_EXPIRE_ATTEMPT,
	ST_EXPIRE_SETTLE,
	ST_EXPIRE_LIVE,
	/* store_hooks.c */
	ST_HOOK_RECOVER_ATTEMPT,
	ST_HOOK_RECOVER_ALERT,
	ST_HOOK_UNCONFIGURED_ANY,
	ST_HOOK_UNCONFIGURED_ATTEMPT,
	ST_HOOK_UNCONFIGURED_ALERT,
	ST_HOOK_DUE,
	ST_HOOK_NEXT_DUE,
	ST_HOOK_CLAIM,
	ST_HOOK_CLAIM_ATTEMPT,
	ST_HOOK_END_ATTEMPT,
	ST_HOOK_END_ALERT,
	ST_HOOK_LAST_CLIENT,
	ST_HOOK_CLIENTS_AFTER,
	/* store_pooler.c */
	ST_POOLER_UPSERT,
	ST_POOLER_ACTIVE,
	ST_POOLER_FACTS,
	/* store_logs.c */
	ST_LOG_INSTANCES,
	ST_LOG_FIND,
	ST_LOG_MARK,
	ST_LOG_CLIENT_LOGGED,
	ST_LOG_CLIENT_ID,
	ST_LOG_CLIENT_ADD,
	ST_LOG_CLIENT_INSERT,
	ST_LOG_SESSION_INSERT,
	ST_LOG_COVERAGE,
	ST_LOG_CLAIM,
	ST_LOG_CLIENT_UNLOG,
	ST_LOG_NEWEST,
	ST_LOG_SINCE,
	ST_LOG_LAST_CLIENT,
	ST_LOG_EXPIRE_SESSIONS,
	ST_LOG_EXPIRE_COVERAGE,
	ST_COUNT
};

/* The SQL of each file's slots (the other slots NULL). */
extern const char *const store_core_sql[ST_COUNT];
extern const char *const store_fleet_sql[ST_COUNT];
extern const char *const store_poll_sql[ST_COUNT];
extern const char *const store_maint_sql[ST_COUNT];
extern const char *const store_hooks_sql[ST_COUNT];
extern const char *const store_pooler_sql[ST_COUNT];

/* store_pooler.c: a pooler record's facts, inside store_apply's
 * transaction. 0 or -1. */
int store_pooler_facts(struct store *s, const struct poll_record *r);
extern const char *const store_logs_sql[ST_COUNT];

struct store {
	sqlite3 *db;
	char *path;
	unsigned alerts;
	EVP_MD_CTX *md;
	int bind_rc;		/* first failed bind since st_get() */
	char ctx[96];		/* what the current public call is about */
	char err[768];
	sqlite3_stmt *st[ST_COUNT];
	struct log_batch *logb;	/* store_logs.c: the import batch's sums */
};

/* ---- errors (store.c) ---- */
void st_err(struct store *s, const char *what, const char *why);
void st_ctx(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- statements (store.c) ---- */
/* The prepared statement of slot id, ready to bind. */
sqlite3_stmt *st_get(struct store *s, enum stmt_id id);
/* Binds; a failure is kept and reported by the next st_step. NULL text
 * binds SQL NULL; bytes are stored as given (no UTF-8 check). */
void st_text(struct store *s, sqlite3_stmt *st, int i, const char *v);
void st_text_nn(struct store *s, sqlite3_stmt *st, int i, const char *v);	/* NULL: "" */
void st_int(struct store *s, sqlite3_stmt *st, int i, int64_t v);
void st_int_or_null(struct store *s, sqlite3_stmt *st, int i, bool present, int64_t v);
void st_blob(struct store *s, sqlite3_stmt *st, int i, const void *v, int n);
/* Resets st and clears its bindings (bound pointers are not kept). */
void st_finish(sqlite3_stmt *st);
/* One step: SQLITE_ROW or SQLITE_DONE, or -1 with the error recorded
 * (prefixed with `what`) and st reset. */
int st_step(struct store *s, sqlite3_stmt *st, const char *what);
/* Steps to the end, rows unused; 0 or -1. */
int st_run(struct store *s, sqlite3_stmt *st, const char *what);
/* Rows changed by the last statement. */
int st_changes(struct store *s);
/* A copy of text column i (NULL stays NULL); *oom set when out of memory. */
char *st_col_str(sqlite3_stmt *st, int i, bool *oom);
/* SQL without values (pragmas, migrations); 0 or -1. */
int st_exec(struct store *s, const char *sql, const char *what);

/* ---- transactions (store.c): BEGIN IMMEDIATE, never an upgrade ---- */
int st_begin(struct store *s);
/* Ends a failed transaction; SQLite may already have rolled it back. */
void st_abort(struct store *s);
/* Commits, or rolls back and returns -1. */
int st_commit(struct store *s);
/* Whether id is one of keep[0..nkeep) (the retire-others walks). */
bool st_kept(const int64_t *keep, size_t nkeep, int64_t id);
/* store_fleet.c: in one transaction, retires every row that `active` lists
 * (instances or poolers) and keep[] does not hold. 0 or -1. */
int st_retire_others(struct store *s, enum stmt_id active, const int64_t *keep, size_t nkeep,
		     int64_t now);

/* One statement of a write, with its integer values for ?1, ?2. */
struct st_write {
	enum stmt_id id;
	const char *what;
	int nvals;
	int64_t v[2];
};
/* Runs the statements in one transaction, in order; returns the rows the
 * last one changed, or -1 with nothing changed. */
int st_writes(struct store *s, const struct st_write *w, size_t n);

/* ---- store_poll.c: the client identity and its alerts ---- */
#define IDENT_LEN 16
struct client_key;
/* The identity digest of a client of instance_id (docs/CONTRACT.md section 3). */
int st_client_ident(struct store *s, int64_t instance_id, const struct client_key *k,
		    unsigned char out[IDENT_LEN]);
/* The alert rows of a newly stored client (the mask of store_set_alerts). */
int st_client_alerts(struct store *s, int64_t at_ms, const struct client_key *k, int64_t id);

/* ---- store_logs.c ---- */
void st_log_batch_free(struct store *s);

/* ---- store_migrate.c ---- */
/* Applies every migration the file lacks; 0 or -1. */
int st_migrate(struct store *s);

#endif
