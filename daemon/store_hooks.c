/*
 * store_hooks.c: the alert queue's SQL (contract in store_hooks.h).
 *
 * Reads copy every value out and reset their statement before returning,
 * so no read transaction outlives a call. Every query is indexed
 * (alert_due) and short: the daemon's loop waits at most the store's busy
 * timeout.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ident.h"
#include "store_hooks.h"
#include "store_int.h"

/* The ALERT_* bit of an alert's event, computed in SQL. */
#define EVENT_BIT_SQL(col) \
	"(CASE " col " WHEN 'non-ssl' THEN 1 WHEN 'weak-tls' THEN 2 " \
	"WHEN 'new-client' THEN 4 ELSE 0 END)"

/* A client as `sslhist clients` shows it: the view, c and i; read by
 * read_client() in this order. */
#define CLIENT_COLS \
	"c.id, i.cluster, i.host, i.port, c.database, c.user, c.application, " \
	"c.client_addr, c.client_hostname, c.ssl, c.tls_version, c.cipher, c.bits, " \
	"c.client_dn, c.issuer_dn, c.first_seen, c.last_seen, c.sessions, c.samples, " \
	"c.logged_sessions, i.pooler, (SELECT d.pooler_server FROM client_data d WHERE d.id = c.id)"
#define NCLIENT_COLS 22

const char *const store_hooks_sql[ST_COUNT] = {
	[ST_HOOK_RECOVER_ATTEMPT] =
	    "UPDATE alert_attempt SET outcome = 'failed', ended_at = ?1, "
	    "error = 'interrupted by daemon restart' WHERE outcome = 'pending' AND "
	    "alert_id IN (SELECT id FROM alert WHERE state = 'running')",
	[ST_HOOK_RECOVER_ALERT] =
	    "UPDATE alert SET state = 'pending', next_attempt_ms = ?1 WHERE state = 'running'",
	[ST_HOOK_UNCONFIGURED_ANY] =
	    "SELECT EXISTS (SELECT 1 FROM alert WHERE state = 'pending' AND ("
	    EVENT_BIT_SQL("event") " & ?1) = 0)",
	[ST_HOOK_UNCONFIGURED_ATTEMPT] =
	    "INSERT INTO alert_attempt (alert_id, attempt, started_at, ended_at, "
	    "outcome, error) SELECT id, attempts + 1, ?2, ?2, 'failed', "
	    "'hook no longer configured' FROM alert WHERE state = 'pending' AND ("
	    EVENT_BIT_SQL("event") " & ?1) = 0",
	[ST_HOOK_UNCONFIGURED_ALERT] =
	    "UPDATE alert SET state = 'failed', attempts = attempts + 1 "
	    "WHERE state = 'pending' AND (" EVENT_BIT_SQL("event") " & ?1) = 0",
	[ST_HOOK_DUE] =
	    "SELECT a.id, a.event, " CLIENT_COLS " FROM alert a "
	    "JOIN client c ON c.id = a.client_id JOIN instance i ON i.id = c.instance_id "
	    "WHERE a.state = 'pending' AND a.next_attempt_ms <= ?1 AND ("
	    EVENT_BIT_SQL("a.event") " & ?2) != 0 ORDER BY a.id LIMIT ?3",
	[ST_HOOK_NEXT_DUE] =
	    "SELECT min(next_attempt_ms) FROM alert WHERE state = 'pending' AND ("
	    EVENT_BIT_SQL("event") " & ?1) != 0",
	[ST_HOOK_CLAIM] =
	    "UPDATE alert SET state = 'running', attempts = attempts + 1 "
	    "WHERE id = ?1 AND state = 'pending' RETURNING attempts",
	[ST_HOOK_CLAIM_ATTEMPT] =
	    "INSERT INTO alert_attempt (alert_id, attempt, started_at, outcome) "
	    "VALUES (?1, ?2, ?3, 'pending')",
	[ST_HOOK_END_ATTEMPT] =
	    "UPDATE alert_attempt SET ended_at = ?3, exit_status = ?4, "
	    "outcome = ?5, error = ?6 WHERE alert_id = ?1 AND attempt = ?2",
	[ST_HOOK_END_ALERT] =
	    "UPDATE alert SET state = ?2, next_attempt_ms = "
	    "CASE WHEN ?2 = 'pending' THEN ?3 ELSE next_attempt_ms END WHERE id = ?1",
	[ST_HOOK_LAST_CLIENT] = "SELECT coalesce(max(id), 0) FROM client",
	[ST_HOOK_CLIENTS_AFTER] =
	    "SELECT " CLIENT_COLS " FROM client c JOIN instance i ON i.id = c.instance_id "
	    "WHERE c.id > ?1 ORDER BY c.id LIMIT ?2",
};

/* ---- values out ------------------------------------------------------ */

void
store_client_clear(struct store_client *c)
{
	free(c->cluster);
	free(c->instance);
	client_key_free(&c->key);
	free(c->client_hostname);
	free(c->via);
	memset(c, 0, sizeof *c);
}

void
store_alert_clear(struct store_alert *a)
{
	free(a->event);
	store_client_clear(&a->client);
	memset(a, 0, sizeof *a);
}

/* The CLIENT_COLS of st's row from column i on. 0, or -1 out of memory. */
static int
read_client(sqlite3_stmt *st, int i, struct store_client *c)
{
	char name[IDENT_INSTANCE_NAME_MAX];
	const char *host = (const char *)sqlite3_column_text(st, i + 2);	/* NULL: "" */
	struct client_key *k = &c->key;
	bool oom = false;

	memset(c, 0, sizeof *c);
	c->id = sqlite3_column_int64(st, i);
	c->cluster = st_col_str(st, i + 1, &oom);
	c->instance = strdup(ident_instance_name(name, sizeof name, host,
						 sqlite3_column_int64(st, i + 3)));
	k->database = st_col_str(st, i + 4, &oom);
	k->user = st_col_str(st, i + 5, &oom);
	k->application = st_col_str(st, i + 6, &oom);
	k->client_addr = st_col_str(st, i + 7, &oom);
	c->client_hostname = st_col_str(st, i + 8, &oom);
	k->ssl = sqlite3_column_int(st, i + 9) != 0;
	k->tls_version = st_col_str(st, i + 10, &oom);
	k->cipher = st_col_str(st, i + 11, &oom);
	k->bits = sqlite3_column_type(st, i + 12) == SQLITE_NULL ? -1 :
		  sqlite3_column_int(st, i + 12);
	k->client_dn = st_col_str(st, i + 13, &oom);
	k->issuer_dn = st_col_str(st, i + 14, &oom);
	c->first_seen = sqlite3_column_int64(st, i + 15);
	c->last_seen = sqlite3_column_int64(st, i + 16);
	c->sessions = sqlite3_column_int64(st, i + 17);
	c->samples = sqlite3_column_int64(st, i + 18);
	c->logged_sessions = sqlite3_column_int64(st, i + 19);
	c->via = st_col_str(st, i + 20, &oom);
	k->pooler_server = st_col_str(st, i + 21, &oom);
	if (oom || c->cluster == NULL || c->instance == NULL) {
		store_client_clear(c);
		return -1;
	}
	return 0;
}

/* A single-value query's integer; `none` when NULL or no row. 0 or -1. */
static int
query_int(struct store *s, sqlite3_stmt *st, const char *what, int64_t none, int64_t *out)
{
	int rc = st_step(s, st, what);

	if (rc < 0)
		return -1;
	*out = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ?
	       sqlite3_column_int64(st, 0) : none;
	st_finish(st);
	return 0;
}

/*
 * Steps the bound st for up to max rows, each read into the next element
 * (size bytes) of out by read(). Returns the rows read, or -1 with none
 * kept (clear() undoes the elements read).
 */
static int
read_rows(struct store *s, sqlite3_stmt *st, void *out, size_t size, int max,
	  int (*read)(sqlite3_stmt *st, void *elem), void (*clear)(void *elem))
{
	char *v = out;
	int n = 0, rc = SQLITE_DONE;

	while (n < max && (rc = st_step(s, st, "select")) == SQLITE_ROW) {
		if (read(st, v + (size_t)n * size) < 0) {
			st_finish(st);
			st_err(s, "select", "out of memory");
			rc = -1;
			break;
		}
		n++;
	}
	if (rc >= 0) {
		st_finish(st);
		return n;
	}
	while (n > 0)
		clear(v + (size_t)--n * size);
	return -1;
}

/* ---- recovery and unconfigured events -------------------------------- */

int
store_hooks_recover(struct store *s, int64_t now_ms)
{
	const struct st_write steps[] = {
		{ ST_HOOK_RECOVER_ATTEMPT, "close attempts", 1, { now_ms / 1000 } },
		{ ST_HOOK_RECOVER_ALERT, "requeue alerts", 1, { now_ms } },
	};

	st_ctx(s, "recovering interrupted hooks");
	return st_writes(s, steps, 2);
}

int
store_hooks_sweep(struct store *s, unsigned mask, int64_t now_s)
{
	const struct st_write steps[] = {
		{ ST_HOOK_UNCONFIGURED_ATTEMPT, "record attempts", 2, { mask, now_s } },
		{ ST_HOOK_UNCONFIGURED_ALERT, "fail alerts", 1, { mask } },
	};
	sqlite3_stmt *st = st_get(s, ST_HOOK_UNCONFIGURED_ANY);
	int64_t any;

	st_ctx(s, "failing alerts without a hook");
	st_int(s, st, 1, mask);
	if (query_int(s, st, "find alerts", 0, &any) < 0)
		return -1;
	return any ? st_writes(s, steps, 2) : 0;
}

/* ---- the queue ------------------------------------------------------- */

static int
read_alert(sqlite3_stmt *st, void *elem)
{
	struct store_alert *a = elem;
	bool oom = false;

	a->id = sqlite3_column_int64(st, 0);
	if ((a->event = st_col_str(st, 1, &oom)) == NULL)
		return -1;
	if (read_client(st, 2, &a->client) < 0) {
		free(a->event);
		return -1;
	}
	return 0;
}

static void
clear_alert(void *elem)
{
	store_alert_clear(elem);
}

int
store_hooks_due(struct store *s, unsigned mask, int64_t now_ms, struct store_alert *out,
		int max)
{
	sqlite3_stmt *st = st_get(s, ST_HOOK_DUE);

	st_ctx(s, "listing due alerts");
	st_int(s, st, 1, now_ms);
	st_int(s, st, 2, mask);
	st_int(s, st, 3, max);
	return read_rows(s, st, out, sizeof *out, max, read_alert, clear_alert);
}

int64_t
store_hooks_next_due(struct store *s, unsigned mask)
{
	sqlite3_stmt *st = st_get(s, ST_HOOK_NEXT_DUE);
	int64_t at;

	st_ctx(s, "finding the next due alert");
	st_int(s, st, 1, mask);
	return query_int(s, st, "select", -1, &at) < 0 ? -1 : at;
}

int64_t
store_hooks_claim(struct store *s, int64_t alert_id, int64_t now_s)
{
	sqlite3_stmt *st;
	int64_t attempt;
	int rc;

	st_ctx(s, "starting the hook of alert %" PRId64, alert_id);
	if (st_begin(s) < 0)
		return -1;
	st = st_get(s, ST_HOOK_CLAIM);
	st_int(s, st, 1, alert_id);
	if ((rc = st_step(s, st, "claim")) < 0)
		goto fail;
	if (rc != SQLITE_ROW) {
		st_finish(st);
		st_err(s, "claim", "the alert is no longer pending");
		goto fail;
	}
	attempt = sqlite3_column_int64(st, 0);
	st_finish(st);
	st = st_get(s, ST_HOOK_CLAIM_ATTEMPT);
	st_int(s, st, 1, alert_id);
	st_int(s, st, 2, attempt);
	st_int(s, st, 3, now_s);
	if (st_run(s, st, "open attempt") < 0)
		goto fail;
	return st_commit(s) < 0 ? -1 : attempt;
fail:
	st_abort(s);
	return -1;
}

int
store_hooks_end(struct store *s, const struct store_hook_end *e)
{
	sqlite3_stmt *st;

	st_ctx(s, "recording the end of attempt %" PRId64 " of alert %" PRId64, e->attempt,
	       e->alert_id);
	if (st_begin(s) < 0)
		return -1;
	st = st_get(s, ST_HOOK_END_ATTEMPT);
	st_int(s, st, 1, e->alert_id);
	st_int(s, st, 2, e->attempt);
	st_int(s, st, 3, e->ended_at);
	st_int_or_null(s, st, 4, e->has_status, e->exit_status);
	st_text(s, st, 5, e->outcome);
	st_text(s, st, 6, e->error);
	if (st_run(s, st, "close attempt") < 0)
		goto fail;
	st = st_get(s, ST_HOOK_END_ALERT);
	st_int(s, st, 1, e->alert_id);
	st_text(s, st, 2, e->state);
	st_int(s, st, 3, e->next_attempt_ms);
	if (st_run(s, st, "update alert") < 0)
		goto fail;
	return st_commit(s);
fail:
	st_abort(s);
	return -1;
}

/* ---- clients for the journal ----------------------------------------- */

int64_t
store_last_client(struct store *s)
{
	int64_t id;

	st_ctx(s, "finding the newest client");
	return query_int(s, st_get(s, ST_HOOK_LAST_CLIENT), "select", 0, &id) < 0 ? -1 : id;
}

static int
read_client_row(sqlite3_stmt *st, void *elem)
{
	return read_client(st, 0, elem);
}

static void
clear_client(void *elem)
{
	store_client_clear(elem);
}

int
store_clients_after(struct store *s, int64_t after, struct store_client *out, int max)
{
	sqlite3_stmt *st = st_get(s, ST_HOOK_CLIENTS_AFTER);

	st_ctx(s, "listing clients after %" PRId64, after);
	st_int(s, st, 1, after);
	st_int(s, st, 2, max);
	return read_rows(s, st, out, sizeof *out, max, read_client_row, clear_client);
}
