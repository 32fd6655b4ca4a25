/*
 * store_logs.c: sessions named by server logs (contract in store_logs.h,
 * schema in sql/004_log_import.sql).
 *
 * Both sides meet in session_seen: a poll keeps each session it saw
 * first (st_session_polled), an import each one a log named that no row
 * had (store_log_session). Whichever comes second finds the other's row
 * and the session counts once: a log after a poll only marks it; a poll
 * after a log moves the session to the polled client (it knows the
 * client's certificate, which a log line does not show), taking it back
 * from the logged client's counts and from log_coverage.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "livecounts.h"
#include "pollrec.h"
#include "store_int.h"
#include "store_logs.h"

#define HOUR_US (3600 * 1000000LL)

const char *const store_logs_sql[ST_COUNT] = {
	[ST_LOG_INSTANCES] =
	    "SELECT id, host, port, retired_at IS NOT NULL FROM instance WHERE cluster = ?1 "
	    "ORDER BY host, port",
	/* The nearest known session of the pid in the window. */
	[ST_LOG_FIND] =
	    "SELECT start_us, client_id, polled, logged FROM session_seen "
	    "WHERE instance_id = ?1 AND pid = ?2 AND start_us BETWEEN ?3 AND ?4 "
	    "ORDER BY abs(start_us - ?5) LIMIT 1",
	[ST_LOG_MARK] =
	    "UPDATE session_seen SET logged = 1 "
	    "WHERE instance_id = ?1 AND pid = ?2 AND start_us = ?3",
	[ST_LOG_CLIENT_LOGGED] =
	    "UPDATE client_data SET logged_sessions = logged_sessions + 1 WHERE id = ?1",
	[ST_LOG_CLIENT_ID] = "SELECT id FROM client_data WHERE ident = ?1",
	/* A batch's sessions of one client; a live client stays LIVE (see
	 * sql/002_live_counts.sql). */
	[ST_LOG_CLIENT_ADD] =
	    "UPDATE client_data SET sessions = sessions + ?2, "
	    "logged_sessions = logged_sessions + ?2, first_seen = min(first_seen, ?3), "
	    "last_seen = CASE WHEN live > 0 THEN last_seen ELSE max(last_seen, ?4) END "
	    "WHERE id = ?1",
	[ST_LOG_CLIENT_INSERT] =
	    "INSERT INTO client_data (instance_id, ident, database, user, application, "
	    "client_addr, ssl, tls_version, cipher, bits, first_seen, last_seen, sessions, "
	    "samples, logged_sessions) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, 0, 0, 0)",
	[ST_LOG_SESSION_INSERT] =
	    "INSERT OR IGNORE INTO session_seen (instance_id, pid, start_us, client_id, polled, "
	    "logged) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_LOG_COVERAGE] =
	    "INSERT INTO log_coverage (instance_id, hour, logged_sessions) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT (instance_id, hour) DO UPDATE SET "
	    "logged_sessions = max(0, logged_sessions + excluded.logged_sessions)",
	[ST_LOG_CLAIM] =
	    "UPDATE session_seen SET polled = 1, client_id = ?4 "
	    "WHERE instance_id = ?1 AND pid = ?2 AND start_us = ?3",
	[ST_LOG_CLIENT_UNLOG] =
	    "UPDATE client_data SET sessions = max(0, sessions - 1), "
	    "logged_sessions = max(0, logged_sessions - 1) WHERE id = ?1",
	[ST_LOG_NEWEST] =
	    "INSERT INTO log_import (instance_id, newest_us, imported_at) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT (instance_id) DO UPDATE SET "
	    "newest_us = max(newest_us, excluded.newest_us), imported_at = excluded.imported_at",
	[ST_LOG_SINCE] = "SELECT newest_us FROM log_import WHERE instance_id = ?1",
	[ST_LOG_LAST_CLIENT] = "SELECT coalesce(max(id), 0) FROM client_data",
	[ST_LOG_EXPIRE_SESSIONS] = "DELETE FROM session_seen WHERE start_us < ?1 * 1000000",
	[ST_LOG_EXPIRE_COVERAGE] = "DELETE FROM log_coverage WHERE hour < ?1",
};

/* Start of the hour of t_us, in Unix seconds. */
static int64_t
hour_of_us(int64_t t_us)
{
	int64_t t = t_us / 1000000 - (t_us % 1000000 < 0);

	return t - ((t % 3600) + 3600) % 3600;
}

void
store_set_busy_timeout(struct store *s, int ms)
{
	sqlite3_busy_timeout(s->db, ms);
}

int
store_log_instances(struct store *s, const char *cluster,
		    void (*fn)(void *arg, int64_t id, const char *host, int port, bool retired),
		    void *arg)
{
	sqlite3_stmt *st = st_get(s, ST_LOG_INSTANCES);
	int rc;

	st_ctx(s, "instances of cluster %s", cluster);
	st_text(s, st, 1, cluster);
	while ((rc = st_step(s, st, "select instances")) == SQLITE_ROW) {
		const unsigned char *host = sqlite3_column_text(st, 1);

		fn(arg, sqlite3_column_int64(st, 0), host ? (const char *)host : "",
		   sqlite3_column_int(st, 2), sqlite3_column_int(st, 3) != 0);
	}
	if (rc < 0)
		return -1;
	st_finish(st);
	return 0;
}

struct seen {
	int64_t start_us, client_id;
	bool polled, logged;
};

/* The known session nearest `at` in [lo, hi]; 1 found, 0 none, -1. */
static int
find_session(struct store *s, int64_t instance_id, int32_t pid, int64_t lo, int64_t hi,
	     int64_t at, struct seen *out)
{
	sqlite3_stmt *st = st_get(s, ST_LOG_FIND);
	int rc;

	st_int(s, st, 1, instance_id);
	st_int(s, st, 2, pid);
	st_int(s, st, 3, lo);
	st_int(s, st, 4, hi);
	st_int(s, st, 5, at);
	if ((rc = st_step(s, st, "find session")) < 0)
		return -1;
	if (rc == SQLITE_ROW) {
		out->start_us = sqlite3_column_int64(st, 0);
		out->client_id = sqlite3_column_int64(st, 1);
		out->polled = sqlite3_column_int(st, 2) != 0;
		out->logged = sqlite3_column_int(st, 3) != 0;
	}
	st_finish(st);
	return rc == SQLITE_ROW;
}

static int
run_ids(struct store *s, enum stmt_id id, const char *what, int n, const int64_t *v)
{
	sqlite3_stmt *st = st_get(s, id);

	for (int i = 0; i < n; i++)
		st_int(s, st, i + 1, v[i]);
	return st_run(s, st, what);
}

static int
coverage_add(struct store *s, int64_t instance_id, int64_t start_us, int64_t n)
{
	const int64_t v[] = {instance_id, hour_of_us(start_us), n};

	return run_ids(s, ST_LOG_COVERAGE, "update log coverage", 3, v);
}

static int
insert_session(struct store *s, int64_t instance_id, int32_t pid, int64_t start_us,
	       int64_t client_id, bool polled, bool logged)
{
	const int64_t v[] = {instance_id, pid, start_us, client_id, polled, logged};

	return run_ids(s, ST_LOG_SESSION_INSERT, "insert session", 6, v);
}

/* Read-only view of the log's strings as a client_key (never freed). */
static void
key_of(const struct log_session *ls, struct client_key *k)
{
	memset(k, 0, sizeof *k);
	k->database = (char *)(uintptr_t)ls->database;
	k->user = (char *)(uintptr_t)ls->user;
	k->application = (char *)(uintptr_t)ls->application;
	k->client_addr = (char *)(uintptr_t)ls->client_addr;
	k->ssl = ls->ssl;
	k->tls_version = ls->ssl ? (char *)(uintptr_t)ls->tls_version : NULL;
	k->cipher = ls->ssl ? (char *)(uintptr_t)ls->cipher : NULL;
	k->bits = ls->ssl ? ls->bits : -1;
}

/*
 * A batch sums its sessions per client and per hour in memory and writes
 * each sum once, at its end: one UPDATE per client per batch instead of
 * one per session. The ids are known again in each batch (a client the
 * daemon or a prune removed in between is never written to).
 */
struct lb_client {
	unsigned char ident[IDENT_LEN];
	bool used;
	int64_t id, n, first, last;
};

struct lb_hour {
	int64_t hour, n;
};

#define LB_HOURS 16

struct log_batch {
	struct lb_client *tab;
	size_t cap, count;
	struct lb_hour hours[LB_HOURS];
	size_t nhours;
};

static void
batch_clear(struct log_batch *b)
{
	if (b->tab != NULL)
		memset(b->tab, 0, b->cap * sizeof *b->tab);
	b->count = 0;
	b->nhours = 0;
}

void
st_log_batch_free(struct store *s)
{
	if (s->logb != NULL)
		free(s->logb->tab);
	free(s->logb);
	s->logb = NULL;
}

static struct lb_client *
batch_slot(struct log_batch *b, const unsigned char *ident)
{
	uint64_t h = 0;
	size_t i;

	memcpy(&h, ident, sizeof h);
	for (i = (size_t)(h & (b->cap - 1));; i = (i + 1) & (b->cap - 1))
		if (!b->tab[i].used || memcmp(b->tab[i].ident, ident, IDENT_LEN) == 0)
			return &b->tab[i];
}

static bool
batch_grow(struct log_batch *b)
{
	struct lb_client *old = b->tab, *e;
	size_t oldcap = b->cap, cap = b->cap ? b->cap * 2 : 1024;

	if ((b->tab = calloc(cap, sizeof *b->tab)) == NULL) {
		b->tab = old;
		return false;
	}
	b->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].used)
			continue;
		e = batch_slot(b, old[i].ident);
		*e = old[i];
	}
	free(old);
	return true;
}

static int
batch_hour(struct store *s, int64_t instance_id, int64_t start_us)
{
	struct log_batch *b = s->logb;
	int64_t hour = hour_of_us(start_us);

	for (size_t i = 0; i < b->nhours; i++) {
		if (b->hours[i].hour == hour) {
			b->hours[i].n++;
			return 0;
		}
	}
	if (b->nhours == LB_HOURS)	/* a log of many hours: write as it goes */
		return coverage_add(s, instance_id, start_us, 1);
	b->hours[b->nhours].hour = hour;
	b->hours[b->nhours++].n = 1;
	return 0;
}

/* Writes the batch's sums (before its commit). */
static int
batch_flush(struct store *s, int64_t instance_id)
{
	struct log_batch *b = s->logb;

	for (size_t i = 0; b != NULL && i < b->cap; i++) {
		struct lb_client *e = &b->tab[i];
		const int64_t v[] = {e->id, e->n, e->first, e->last};

		if (e->used && e->n > 0 &&
		    run_ids(s, ST_LOG_CLIENT_ADD, "count logged sessions", 4, v) < 0)
			return -1;
	}
	for (size_t i = 0; b != NULL && i < b->nhours; i++) {
		const int64_t v[] = {instance_id, b->hours[i].hour, b->hours[i].n};

		if (run_ids(s, ST_LOG_COVERAGE, "update log coverage", 3, v) < 0)
			return -1;
	}
	return 0;
}

/* The row id of a client by its digest, or 0 when none. */
static int
client_by_ident(struct store *s, const unsigned char *ident, int64_t *id)
{
	sqlite3_stmt *st = st_get(s, ST_LOG_CLIENT_ID);
	int rc;

	st_blob(s, st, 1, ident, IDENT_LEN);
	if ((rc = st_step(s, st, "find client")) < 0)
		return -1;
	*id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	st_finish(st);
	return 0;
}

static int
insert_client(struct store *s, int64_t instance_id, const struct client_key *k,
	      const unsigned char *ident, int64_t seen, int64_t now_ms, int64_t *id)
{
	sqlite3_stmt *st = st_get(s, ST_LOG_CLIENT_INSERT);

	st_int(s, st, 1, instance_id);
	st_blob(s, st, 2, ident, IDENT_LEN);
	st_text(s, st, 3, k->database);
	st_text(s, st, 4, k->user);
	st_text(s, st, 5, k->application);
	st_text(s, st, 6, k->client_addr);
	st_int(s, st, 7, k->ssl);
	st_text(s, st, 8, k->tls_version);
	st_text(s, st, 9, k->cipher);
	st_int_or_null(s, st, 10, k->bits >= 0, k->bits);
	st_int(s, st, 11, seen);
	if (st_run(s, st, "insert client") < 0)
		return -1;
	*id = sqlite3_last_insert_rowid(s->db);
	return st_client_alerts(s, now_ms, k, *id);
}

/* The logged session's client (found or stored), its session counted in
 * the batch; its id in *id. */
static int
log_client(struct store *s, int64_t instance_id, const struct log_session *ls, int64_t now_ms,
	   int64_t *id, int *new_clients)
{
	unsigned char ident[IDENT_LEN];
	struct log_batch *b = s->logb;
	struct client_key k;
	struct lb_client *e;
	int64_t seen = ls->start_us / 1000000;

	key_of(ls, &k);
	if (st_client_ident(s, instance_id, &k, ident) < 0)
		return -1;
	if ((b->count + 1) * 10 > b->cap * 7 && !batch_grow(b)) {
		st_err(s, "logged session", "out of memory");
		return -1;
	}
	e = batch_slot(b, ident);
	if (!e->used) {
		if (client_by_ident(s, ident, id) < 0)
			return -1;
		if (*id == 0) {
			if (insert_client(s, instance_id, &k, ident, seen, now_ms, id) < 0)
				return -1;
			if (new_clients != NULL)
				(*new_clients)++;
		}
		memcpy(e->ident, ident, IDENT_LEN);
		e->used = true;
		e->id = *id;
		e->first = e->last = seen;
		b->count++;
	}
	*id = e->id;
	e->n++;
	if (seen < e->first)
		e->first = seen;
	if (seen > e->last)
		e->last = seen;
	return 0;
}

int
store_log_session(struct store *s, int64_t instance_id, const struct log_session *ls,
		  int64_t now_ms, enum log_outcome *out, int *new_clients)
{
	struct seen k;
	int64_t id;
	int rc;

	rc = find_session(s, instance_id, ls->pid, ls->lo_us, ls->hi_us, ls->start_us, &k);
	if (rc < 0)
		return -1;
	if (rc == 1 && k.logged) {
		*out = LOG_KNOWN;
		return 0;
	}
	if (rc == 1) {		/* a poll saw it: the log names it too */
		const int64_t v[] = {instance_id, ls->pid, k.start_us};

		*out = LOG_NAMED_POLLED;
		if (run_ids(s, ST_LOG_MARK, "mark session logged", 3, v) < 0)
			return -1;
		return run_ids(s, ST_LOG_CLIENT_LOGGED, "count logged session", 1, &k.client_id);
	}
	*out = LOG_NEW;
	if (log_client(s, instance_id, ls, now_ms, &id, new_clients) < 0 ||
	    insert_session(s, instance_id, ls->pid, ls->start_us, id, false, true) < 0)
		return -1;
	return batch_hour(s, instance_id, ls->start_us);
}

int
st_session_polled(struct store *s, int64_t instance_id, int32_t pid, int64_t backend_start_us,
		  int64_t client_id)
{
	struct seen k;
	int rc;

	/* A logged row keeps its line's time: after the backend start by up
	 * to the slack, before it by up to a second (a %t time). */
	rc = find_session(s, instance_id, pid, backend_start_us - 1000000,
			  backend_start_us + LOG_SLACK_AUTHORIZED_US, backend_start_us, &k);
	if (rc < 0)
		return -1;
	if (rc == 1 && !k.polled) {
		const int64_t claim[] = {instance_id, pid, k.start_us, client_id};

		/* The poll counted it in client_id; the log's count goes. */
		if (run_ids(s, ST_LOG_CLAIM, "claim logged session", 4, claim) < 0 ||
		    run_ids(s, ST_LOG_CLIENT_UNLOG, "uncount logged session", 1,
			    &k.client_id) < 0 ||
		    run_ids(s, ST_LOG_CLIENT_LOGGED, "count logged session", 1, &client_id) < 0)
			return -1;
		return coverage_add(s, instance_id, k.start_us, -1);
	}
	if (rc == 1)
		return 0;
	return insert_session(s, instance_id, pid, backend_start_us, client_id, true, false);
}

int
store_log_begin(struct store *s)
{
	st_ctx(s, "import server log");
	if (s->logb == NULL && (s->logb = calloc(1, sizeof *s->logb)) == NULL) {
		st_err(s, "begin", "out of memory");
		return -1;
	}
	batch_clear(s->logb);
	return st_begin(s);
}

int
store_log_end(struct store *s, int64_t instance_id, int64_t newest_us, int64_t now_s)
{
	if (batch_flush(s, instance_id) < 0) {
		store_log_abort(s);
		return -1;
	}
	if (newest_us != INT64_MIN) {
		const int64_t v[] = {instance_id, newest_us, now_s};

		if (run_ids(s, ST_LOG_NEWEST, "record newest line", 3, v) < 0) {
			st_abort(s);
			return -1;
		}
	}
	return st_commit(s);
}

void
store_log_abort(struct store *s)
{
	if (s->logb != NULL)
		batch_clear(s->logb);
	st_abort(s);
}

int
store_log_since(struct store *s, int64_t instance_id, int64_t *us)
{
	sqlite3_stmt *st = st_get(s, ST_LOG_SINCE);
	int rc;

	st_ctx(s, "newest line imported for instance %" PRId64, instance_id);
	st_int(s, st, 1, instance_id);
	if ((rc = st_step(s, st, "select")) < 0)
		return -1;
	*us = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : INT64_MIN;
	st_finish(st);
	return 0;
}

int64_t
store_newest_client(struct store *s)
{
	sqlite3_stmt *st = st_get(s, ST_LOG_LAST_CLIENT);
	int64_t id = -1;

	st_ctx(s, "newest client");
	if (st_step(s, st, "select") == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	st_finish(st);
	return id;
}
