/*
 * hooks.c: see hooks.h.
 *
 * The database is the queue: an alert row is 'pending' until a pass
 * claims it ('running', attempts + 1, an alert_attempt row 'pending') in
 * one BEGIN IMMEDIATE transaction, and a hook is only started after that
 * transaction committed. Its end is recorded the same way. A write that
 * fails (busy, disk full) is retried from the timer: a claim that did not
 * commit starts nothing, an end that did not commit stays in memory.
 *
 * One timer drives everything: hooks_kick and each hook's end arm it at
 * once; otherwise it waits for the earliest retry. All SQL is short and
 * indexed (alert_due), so the loop never waits on more than the store's
 * short busy timeout.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "ident.h"
#include "clock.h"
#include "config.h"
#include "driver.h"
#include "hooks.h"
#include "jsonw.h"
#include "log.h"
#include "parse.h"
#include "evspawn.h"
#include "store.h"
#include "timer.h"

#define HOOK_MAX_OUTPUT 4096	/* per stream, logged */
#define HOOK_MAX_LOG_LINES 20
#define STORE_RETRY_MS 1000	/* after a failed write */
#define HOOK_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

/* The bit of alert.event in an ALERT_* mask, computed in SQL. */
#define EVENT_BIT_SQL(col) \
	"(CASE " col " WHEN 'non-ssl' THEN 1 WHEN 'weak-tls' THEN 2 " \
	"WHEN 'new-client' THEN 4 ELSE 0 END)"

/* The client as `sslhist clients` shows it, and the alert it is for. */
struct hook_client {
	char *event;
	char *cluster, *instance;
	char *database, *user, *application, *client_addr, *client_hostname;
	bool ssl;
	char *tls_version, *cipher;
	int64_t bits;		/* -1: NULL */
	char *client_dn, *issuer_dn;
	int64_t first_seen, last_seen, sessions, samples;
};

struct run {
	struct run *prev, *next;
	struct hooks *h;	/* NULL once hooks_free gave up on it */
	struct child *child;
	int64_t alert_id;
	int64_t attempt;
	struct hook_client cl;
	char *cmd;		/* argv[0], for logs */
	/* the end, kept until stored */
	const char *outcome;	/* "ok", "failed", "timeout" */
	bool has_status;
	int exit_status;
	char *error;
	int64_t ended_at;
};

struct hooks {
	struct event_base *base;
	struct store *store;
	const struct config *cfg;
	struct event *timer;
	bool timer_armed;
	int64_t timer_at_ms;
	struct run *running;		/* processes alive */
	size_t nrunning;
	struct run *unstored;		/* ended, end not yet written */
	bool recovered;
	int64_t logged_client;		/* highest client id whose events
					 * were logged */
	bool store_failing;		/* a write failed; logged once */
};

static void pass(struct hooks *h);

/* ---- small helpers --------------------------------------------------- */

static char *
col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? strdup((const char *)s) : NULL;
}

static const char *
nz(const char *s)
{
	return s ? s : "";
}

unsigned
hooks_alert_mask(const struct config *cfg)
{
	unsigned m = 0;

	if (cfg->on_non_ssl.n > 0)
		m |= ALERT_NON_SSL;
	if (cfg->on_weak_tls.n > 0)
		m |= ALERT_WEAK_TLS;
	if (cfg->on_new_client.n > 0)
		m |= ALERT_NEW_CLIENT;
	return m;
}

static const struct strlist *
event_command(const struct config *cfg, const char *event)
{
	const struct strlist *l = NULL;

	if (strcmp(event, "non-ssl") == 0)
		l = &cfg->on_non_ssl;
	else if (strcmp(event, "weak-tls") == 0)
		l = &cfg->on_weak_tls;
	else if (strcmp(event, "new-client") == 0)
		l = &cfg->on_new_client;
	return l != NULL && l->n > 0 ? l : NULL;
}

/* "host:port", IPv6 literals in brackets. */
static char *
instance_name(const char *host, int64_t port)
{
	char buf[IDENT_INSTANCE_NAME_MAX];

	return strdup(ident_instance_name(buf, sizeof buf, host, port));
}

static void
client_free(struct hook_client *c)
{
	free(c->event);
	free(c->cluster);
	free(c->instance);
	free(c->database);
	free(c->user);
	free(c->application);
	free(c->client_addr);
	free(c->client_hostname);
	free(c->tls_version);
	free(c->cipher);
	free(c->client_dn);
	free(c->issuer_dn);
}

static void
run_free(struct run *r)
{
	client_free(&r->cl);
	free(r->cmd);
	free(r->error);
	free(r);
}

static void
list_add(struct run **head, struct run *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head != NULL)
		(*head)->prev = r;
	*head = r;
}

static void
list_del(struct run **head, struct run *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/* ---- SQL ------------------------------------------------------------- */

static sqlite3 *
db(struct hooks *h)
{
	return store_db(h->store);
}

static sqlite3_stmt *
prepare(struct hooks *h, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db(h), sql, -1, &st, NULL) != SQLITE_OK) {
		log_errorx("hooks: %s", sqlite3_errmsg(db(h)));
		return NULL;
	}
	return st;
}

/*
 * A failed write is retried every STORE_RETRY_MS while the store fails
 * (locked, full, read-only): one line when it begins, one when it ends,
 * not one per retry.
 */
static void store_warn(struct hooks *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
store_warn(struct hooks *h, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (h->store_failing)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("hooks: %s; retrying every %d ms", msg, STORE_RETRY_MS);
	h->store_failing = true;
}

static void
store_works(struct hooks *h)
{
	if (!h->store_failing)
		return;
	log_infox("hooks: storing hook state works again");
	h->store_failing = false;
}

/* Runs a statement that returns no rows; finalizes it. 0 or -1. */
static int
run_stmt(struct hooks *h, sqlite3_stmt *st, const char *what)
{
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_warn(h, "%s: %s", what, sqlite3_errmsg(db(h)));
		return -1;
	}
	return 0;
}

static int
begin(struct hooks *h, const char *what)
{
	if (sqlite3_exec(db(h), "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		store_warn(h, "%s: BEGIN: %s", what, sqlite3_errmsg(db(h)));
		return -1;
	}
	return 0;
}

/* Commits if ok is 0, else rolls back. Returns 0 when committed. */
static int
end_txn(struct hooks *h, int ok, const char *what)
{
	if (ok == 0 && sqlite3_exec(db(h), "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		store_works(h);
		return 0;
	}
	if (ok == 0)
		store_warn(h, "%s: COMMIT: %s", what, sqlite3_errmsg(db(h)));
	if (!sqlite3_get_autocommit(db(h)))
		sqlite3_exec(db(h), "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* ---- the timer ------------------------------------------------------- */

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hooks *h = arg;

	(void)fd;
	(void)what;
	h->timer_armed = false;
	pass(h);
}

/* Arms the timer for delay_ms from now, unless it fires earlier anyway. */
static void
schedule(struct hooks *h, int64_t delay_ms)
{
	int64_t at = wall_ms() + (delay_ms > 0 ? delay_ms : 0);
	if (h->timer_armed && h->timer_at_ms <= at)
		return;
	timer_add_ms(h->timer, delay_ms);
	h->timer_armed = true;
	h->timer_at_ms = at;
}

/* ---- recovery and unconfigured events -------------------------------- */

/* Attempts left open by a crash: recorded as interrupted, run again. */
static int
recover(struct hooks *h)
{
	int64_t now = wall_ms();
	sqlite3_stmt *st;
	int rc;

	if (begin(h, "recovering interrupted hooks") == -1)
		return -1;
	st = prepare(h, "UPDATE alert_attempt SET outcome = 'failed', ended_at = ?1, "
	    "error = 'interrupted by daemon restart' WHERE outcome = 'pending' AND "
	    "alert_id IN (SELECT id FROM alert WHERE state = 'running')");
	if (st != NULL)
		sqlite3_bind_int64(st, 1, now / 1000);
	rc = run_stmt(h, st, "recovering interrupted hooks");
	if (rc == 0) {
		st = prepare(h, "UPDATE alert SET state = 'pending', next_attempt_ms = ?1 "
		    "WHERE state = 'running'");
		if (st != NULL)
			sqlite3_bind_int64(st, 1, now);
		rc = run_stmt(h, st, "recovering interrupted hooks");
	}
	if (rc == 0 && sqlite3_changes(db(h)) > 0)
		log_warnx("hooks: %d hook(s) interrupted by the last stop run again",
		    sqlite3_changes(db(h)));
	return end_txn(h, rc, "recovering interrupted hooks");
}

/*
 * Pending alerts of an event that no longer has a command (removed by a
 * reload, or by a restart with a new file) fail with a stored reason: a
 * hook added back later must not fire a backlog of old events.
 */
static int
sweep_unconfigured(struct hooks *h)
{
	unsigned mask = hooks_alert_mask(h->cfg);
	int64_t now = wall_ms() / 1000;
	sqlite3_stmt *st;
	int rc, any;

	st = prepare(h, "SELECT EXISTS (SELECT 1 FROM alert WHERE state = 'pending' AND ("
	    EVENT_BIT_SQL("event") " & ?1) = 0)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, (int)mask);
	any = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (!any)
		return 0;
	if (begin(h, "failing alerts without a hook") == -1)
		return -1;
	st = prepare(h, "INSERT INTO alert_attempt (alert_id, attempt, started_at, ended_at, "
	    "outcome, error) SELECT id, attempts + 1, ?2, ?2, 'failed', "
	    "'hook no longer configured' FROM alert WHERE state = 'pending' AND ("
	    EVENT_BIT_SQL("event") " & ?1) = 0");
	if (st != NULL) {
		sqlite3_bind_int(st, 1, (int)mask);
		sqlite3_bind_int64(st, 2, now);
	}
	rc = run_stmt(h, st, "failing alerts without a hook");
	if (rc == 0) {
		st = prepare(h, "UPDATE alert SET state = 'failed', attempts = attempts + 1 "
		    "WHERE state = 'pending' AND (" EVENT_BIT_SQL("event") " & ?1) = 0");
		if (st != NULL)
			sqlite3_bind_int(st, 1, (int)mask);
		rc = run_stmt(h, st, "failing alerts without a hook");
	}
	if (rc == 0)
		log_warnx("hooks: %d pending alert(s) failed: hook no longer configured",
		    sqlite3_changes(db(h)));
	return end_txn(h, rc, "failing alerts without a hook");
}

/* ---- event log ------------------------------------------------------- */

static void
log_client_event(const struct hook_client *c, const char *event, const char *msgid,
		 enum log_level level, const char *what)
{
	struct log_obj obj = { c->cluster, c->instance };
	char *f[8] = { NULL };
	const char *const *fields = (const char *const *)f;
	int n = 0;

	if (asprintf(&f[n++], "SSLHIST_EVENT=%s", event) < 0 ||
	    asprintf(&f[n++], "SSLHIST_DATABASE=%s", nz(c->database)) < 0 ||
	    asprintf(&f[n++], "SSLHIST_USER=%s", nz(c->user)) < 0 ||
	    asprintf(&f[n++], "SSLHIST_APPLICATION=%s", nz(c->application)) < 0 ||
	    asprintf(&f[n++], "SSLHIST_CLIENT_ADDR=%s", nz(c->client_addr)) < 0 ||
	    asprintf(&f[n++], "SSLHIST_TLS_VERSION=%s", nz(c->tls_version)) < 0) {
		f[n - 1] = NULL;
		fields = NULL;
	}
	log_event(level, &obj, msgid, fields,
	    "%s: database \"%s\" user \"%s\" application \"%s\" from %s%s%s",
	    what, nz(c->database), nz(c->user), nz(c->application),
	    c->client_addr ? c->client_addr : "local socket",
	    c->ssl ? ", " : "", c->ssl ? nz(c->tls_version) : "");
	for (n = 0; n < 8; n++)
		free(f[n]);
}

/*
 * Logs the events of clients stored since the last call, whether or not a
 * hook is configured for them, so that journal-based alerting works
 * without hooks. Called after each stored poll (hooks_kick): that is when
 * the store decided them.
 */
static void
log_new_clients(struct hooks *h)
{
	struct hook_client c;
	sqlite3_stmt *st;

	st = prepare(h, "SELECT c.id, i.cluster, i.host, i.port, c.database, c.user, "
	    "c.application, c.client_addr, c.ssl, c.tls_version FROM client c "
	    "JOIN instance i ON i.id = c.instance_id WHERE c.id > ?1 ORDER BY c.id");
	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, h->logged_client);
	while (sqlite3_step(st) == SQLITE_ROW) {
		memset(&c, 0, sizeof(c));
		h->logged_client = sqlite3_column_int64(st, 0);
		c.cluster = col_str(st, 1);
		c.instance = instance_name((const char *)sqlite3_column_text(st, 2) ?
		    (const char *)sqlite3_column_text(st, 2) : "", sqlite3_column_int64(st, 3));
		c.database = col_str(st, 4);
		c.user = col_str(st, 5);
		c.application = col_str(st, 6);
		c.client_addr = col_str(st, 7);
		c.ssl = sqlite3_column_int(st, 8) != 0;
		c.tls_version = col_str(st, 9);
		if (!c.ssl)
			log_client_event(&c, "non-ssl", MSGID_NON_SSL, LVL_WARNING,
			    "non-SSL client");
		else if (ident_tls_weak(c.tls_version))
			log_client_event(&c, "weak-tls", MSGID_WEAK_TLS, LVL_WARNING,
			    "weak TLS client");
		log_client_event(&c, "new-client", MSGID_NEW_CLIENT, LVL_INFO, "new client");
		client_free(&c);
	}
	sqlite3_finalize(st);
}

static void
init_logged_client(struct hooks *h)
{
	sqlite3_stmt *st = prepare(h, "SELECT coalesce(max(id), 0) FROM client");

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		h->logged_client = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
}

/* ---- one hook's input ------------------------------------------------ */

static char *
env_var(const char *name, const char *value)
{
	char *s;

	return asprintf(&s, "%s=%s", name, nz(value)) < 0 ? NULL : s;
}

/* SPEC section 5's environment, built from nothing; NULL values are
 * empty strings. Returns a NULL-terminated array, or NULL. */
static char **
hook_env(const struct hook_client *c)
{
	enum { NVARS = 12 };
	char **env = calloc(NVARS + 1, sizeof(*env));
	char first[32];
	int i = 0, ok = 1;

	if (env == NULL)
		return NULL;
	format_time(c->first_seen, first);
	env[i++] = strdup(HOOK_PATH);
	env[i++] = env_var("SSLHIST_EVENT", c->event);
	env[i++] = env_var("SSLHIST_CLUSTER", c->cluster);
	env[i++] = env_var("SSLHIST_INSTANCE", c->instance);
	env[i++] = env_var("SSLHIST_DATABASE", c->database);
	env[i++] = env_var("SSLHIST_USER", c->user);
	env[i++] = env_var("SSLHIST_APPLICATION", c->application);
	env[i++] = env_var("SSLHIST_CLIENT_ADDR", c->client_addr);
	env[i++] = env_var("SSLHIST_SSL", c->ssl ? "true" : "false");
	env[i++] = env_var("SSLHIST_TLS_VERSION", c->tls_version);
	env[i++] = env_var("SSLHIST_CIPHER", c->cipher);
	env[i++] = env_var("SSLHIST_FIRST_SEEN", first);
	for (i = 0; i < NVARS; i++)
		ok &= env[i] != NULL;
	if (!ok) {
		for (i = 0; i < NVARS; i++)
			free(env[i]);
		free(env);
		return NULL;
	}
	return env;
}

static void
env_free(char **env)
{
	size_t i;

	for (i = 0; env != NULL && env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* The client as one element of `sslhist clients --format json`, plus
 * "event". */
static void
hook_json(struct jsonw *w, const struct hook_client *c)
{
	jsonw_object_begin(w);
	jsonw_key(w, "cluster");
	jsonw_str(w, c->cluster);
	jsonw_key(w, "instance");
	jsonw_str(w, c->instance);
	jsonw_key(w, "database");
	jsonw_str(w, c->database);
	jsonw_key(w, "user");
	jsonw_str(w, c->user);
	jsonw_key(w, "application");
	jsonw_str(w, c->application);
	jsonw_key(w, "client_addr");
	jsonw_str(w, c->client_addr);
	jsonw_key(w, "client_hostname");
	jsonw_str(w, c->client_hostname);
	jsonw_key(w, "ssl");
	jsonw_bool(w, c->ssl);
	jsonw_key(w, "tls_version");
	jsonw_str(w, c->tls_version);
	jsonw_key(w, "cipher");
	jsonw_str(w, c->cipher);
	jsonw_key(w, "bits");
	if (c->bits < 0)
		jsonw_null(w);
	else
		jsonw_int(w, c->bits);
	jsonw_key(w, "client_dn");
	jsonw_str(w, c->client_dn);
	jsonw_key(w, "issuer_dn");
	jsonw_str(w, c->issuer_dn);
	jsonw_key(w, "driver");
	jsonw_str(w, driver_guess(c->application));
	jsonw_key(w, "first_seen");
	jsonw_time(w, c->first_seen);
	jsonw_key(w, "last_seen");
	jsonw_time(w, c->last_seen);
	jsonw_key(w, "sessions");
	jsonw_int(w, c->sessions);
	jsonw_key(w, "samples");
	jsonw_int(w, c->samples);
	jsonw_key(w, "event");
	jsonw_str(w, c->event);
	jsonw_object_end(w);
}

/* ---- one hook's end -------------------------------------------------- */

static void
log_output(const struct run *r, const char *stream, const char *buf, size_t len,
	   bool truncated)
{
	struct log_obj obj = { r->cl.cluster, r->cl.instance };
	size_t i = 0, e;
	int lines = 0;

	while (i < len && lines < HOOK_MAX_LOG_LINES) {
		for (e = i; e < len && buf[e] != '\n'; e++)
			;
		log_event(LVL_INFO, &obj, NULL, NULL, "hook %s (%s) for %s@%s %s: %.*s",
		    r->cl.event, r->cmd, nz(r->cl.user), nz(r->cl.database), stream,
		    (int)(e - i), buf + i);
		lines++;
		i = e + 1;
	}
	if (truncated || i < len)
		log_event(LVL_INFO, &obj, NULL, NULL, "hook %s (%s) for %s@%s %s: (more output dropped)",
		    r->cl.event, r->cmd, nz(r->cl.user), nz(r->cl.database), stream);
}

static void
set_outcome(struct run *r, const struct child_result *res)
{
	r->ended_at = wall_ms() / 1000;
	r->has_status = false;
	if (!res->spawned) {
		r->outcome = "failed";
		r->error = strdup(res->spawn_error ? res->spawn_error : "cannot start");
		return;
	}
	if (res->exited) {
		r->has_status = true;
		r->exit_status = res->exit_code;
	} else if (res->signaled) {
		r->has_status = true;
		r->exit_status = 128 + res->signo;
	}
	if (res->timed_out)
		r->outcome = "timeout";
	else if (res->exited && res->exit_code == 0)
		r->outcome = "ok";
	else
		r->outcome = "failed";
}

/* The alert's next state: ok, a retry after the schedule's next delay,
 * or failed once the schedule is used up. */
static const char *
next_state(const struct hooks *h, const struct run *r, int64_t *next_ms)
{
	*next_ms = 0;
	if (strcmp(r->outcome, "ok") == 0)
		return "ok";
	if (r->attempt >= 1 && (size_t)(r->attempt - 1) < h->cfg->n_hook_retry) {
		*next_ms = wall_ms() + h->cfg->hook_retry_ms[r->attempt - 1];
		return "pending";
	}
	return "failed";
}

static void
describe_end(const struct run *r, char *buf, size_t len)
{
	if (r->error != NULL)
		snprintf(buf, len, "%s", r->error);
	else if (strcmp(r->outcome, "timeout") == 0)
		snprintf(buf, len, "timed out, killed (status %d)", r->exit_status);
	else if (r->has_status && r->exit_status > 128)
		snprintf(buf, len, "killed by signal %d", r->exit_status - 128);
	else if (r->has_status)
		snprintf(buf, len, "exit status %d", r->exit_status);
	else
		snprintf(buf, len, "ended without status");
}

static void
log_end(const struct hooks *h, const struct run *r, const char *state, int64_t next_ms)
{
	struct log_obj obj = { r->cl.cluster, r->cl.instance };
	char why[600], then[64];

	if (strcmp(state, "ok") == 0) {
		log_event(LVL_INFO, &obj, NULL, NULL, "hook %s (%s) for %s@%s from %s: ok (attempt %"
		    PRId64 ")", r->cl.event, r->cmd, nz(r->cl.user), nz(r->cl.database),
		    r->cl.client_addr ? r->cl.client_addr : "local socket", r->attempt);
		return;
	}
	describe_end(r, why, sizeof(why));
	if (strcmp(state, "pending") == 0)
		snprintf(then, sizeof(then), "retry in %" PRId64 " s",
		    (next_ms - wall_ms() + 999) / 1000);
	else
		snprintf(then, sizeof(then), "giving up");
	(void)h;
	log_event(LVL_WARNING, &obj, MSGID_HOOK_FAILED, NULL,
	    "hook %s (%s) for %s@%s from %s failed (attempt %" PRId64 "): %s; %s",
	    r->cl.event, r->cmd, nz(r->cl.user), nz(r->cl.database),
	    r->cl.client_addr ? r->cl.client_addr : "local socket", r->attempt, why, then);
}

/* Writes the attempt's end and the alert's next state. 0 or -1. */
static int
store_end(struct hooks *h, struct run *r, const char *state, int64_t next_ms)
{
	sqlite3_stmt *st;
	int rc;

	if (begin(h, "recording a hook's end") == -1)
		return -1;
	st = prepare(h, "UPDATE alert_attempt SET ended_at = ?3, exit_status = ?4, "
	    "outcome = ?5, error = ?6 WHERE alert_id = ?1 AND attempt = ?2");
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, r->alert_id);
		sqlite3_bind_int64(st, 2, r->attempt);
		sqlite3_bind_int64(st, 3, r->ended_at);
		if (r->has_status)
			sqlite3_bind_int(st, 4, r->exit_status);
		sqlite3_bind_text(st, 5, r->outcome, -1, SQLITE_STATIC);
		if (r->error != NULL)
			sqlite3_bind_text(st, 6, r->error, -1, SQLITE_STATIC);
	}
	rc = run_stmt(h, st, "recording a hook's end");
	if (rc == 0) {
		st = prepare(h, "UPDATE alert SET state = ?2, next_attempt_ms = "
		    "CASE WHEN ?2 = 'pending' THEN ?3 ELSE next_attempt_ms END WHERE id = ?1");
		if (st != NULL) {
			sqlite3_bind_int64(st, 1, r->alert_id);
			sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, next_ms);
		}
		rc = run_stmt(h, st, "recording a hook's end");
	}
	return end_txn(h, rc, "recording a hook's end");
}

/* Stores a run's end, or keeps it for the next pass. */
static void
finish_run(struct hooks *h, struct run *r)
{
	int64_t next_ms;
	const char *state = next_state(h, r, &next_ms);

	if (store_end(h, r, state, next_ms) == -1) {
		list_add(&h->unstored, r);
		schedule(h, STORE_RETRY_MS);
		return;
	}
	log_end(h, r, state, next_ms);
	run_free(r);
}

static void
hook_exited(const struct child_result *res, void *arg)
{
	struct run *r = arg;
	struct hooks *h = r->h;

	if (h == NULL) {	/* hooks_free recorded it already */
		run_free(r);
		return;
	}
	list_del(&h->running, r);
	h->nrunning--;
	r->child = NULL;
	set_outcome(r, res);
	log_output(r, "stdout", res->out, res->out_len, res->out_truncated);
	log_output(r, "stderr", res->err, res->err_len, res->err_truncated);
	finish_run(h, r);
	schedule(h, 0);		/* a slot is free */
}

/* ---- one hook's start ------------------------------------------------ */

/* Marks the alert running and opens its attempt; 0 when committed. */
static int
claim(struct hooks *h, struct run *r)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (begin(h, "starting a hook") == -1)
		return -1;
	st = prepare(h, "UPDATE alert SET state = 'running', attempts = attempts + 1 "
	    "WHERE id = ?1 AND state = 'pending' RETURNING attempts");
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, r->alert_id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			r->attempt = sqlite3_column_int64(st, 0);
			rc = 0;
		} else {
			store_warn(h, "starting a hook: %s", sqlite3_errmsg(db(h)));
		}
		sqlite3_finalize(st);
	}
	if (rc == 0) {
		st = prepare(h, "INSERT INTO alert_attempt (alert_id, attempt, started_at, outcome) "
		    "VALUES (?1, ?2, ?3, 'pending')");
		if (st != NULL) {
			sqlite3_bind_int64(st, 1, r->alert_id);
			sqlite3_bind_int64(st, 2, r->attempt);
			sqlite3_bind_int64(st, 3, wall_ms() / 1000);
		}
		rc = run_stmt(h, st, "starting a hook");
	}
	return end_txn(h, rc, "starting a hook");
}

static void
spawn_run(struct hooks *h, struct run *r, const struct strlist *cmd)
{
	struct child_spec spec = { 0 };
	struct jsonw w;
	char **env = hook_env(&r->cl);

	jsonw_init(&w);
	hook_json(&w, &r->cl);
	if (env != NULL && !w.oom) {
		spec.argv = (const char *const *)cmd->v;
		spec.envp = (const char *const *)env;
		spec.stdin_buf = w.buf;
		spec.stdin_len = w.len;
		spec.max_output = HOOK_MAX_OUTPUT;
		spec.timeout_ms = h->cfg->hook_timeout_ms;
		spec.on_exit = hook_exited;
		spec.arg = r;
		r->child = spawn_start(h->base, &spec);
	}
	env_free(env);
	jsonw_free(&w);
	if (r->child == NULL) {
		r->outcome = "failed";
		r->error = strdup("cannot start: out of memory");
		r->ended_at = wall_ms() / 1000;
		finish_run(h, r);
		return;
	}
	list_add(&h->running, r);
	h->nrunning++;
}

static struct run *
row_to_run(struct hooks *h, sqlite3_stmt *st)
{
	struct run *r = calloc(1, sizeof(*r));
	const char *host = (const char *)sqlite3_column_text(st, 2);

	if (r == NULL)
		return NULL;
	r->h = h;
	r->alert_id = sqlite3_column_int64(st, 0);
	r->cl.event = col_str(st, 1);
	r->cl.instance = instance_name(host ? host : "", sqlite3_column_int64(st, 3));
	r->cl.cluster = col_str(st, 4);
	r->cl.database = col_str(st, 5);
	r->cl.user = col_str(st, 6);
	r->cl.application = col_str(st, 7);
	r->cl.client_addr = col_str(st, 8);
	r->cl.client_hostname = col_str(st, 9);
	r->cl.ssl = sqlite3_column_int(st, 10) != 0;
	r->cl.tls_version = col_str(st, 11);
	r->cl.cipher = col_str(st, 12);
	r->cl.bits = sqlite3_column_type(st, 13) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 13);
	r->cl.client_dn = col_str(st, 14);
	r->cl.issuer_dn = col_str(st, 15);
	r->cl.first_seen = sqlite3_column_int64(st, 16);
	r->cl.last_seen = sqlite3_column_int64(st, 17);
	r->cl.sessions = sqlite3_column_int64(st, 18);
	r->cl.samples = sqlite3_column_int64(st, 19);
	if (r->cl.event == NULL || r->cl.instance == NULL || r->cl.cluster == NULL) {
		run_free(r);
		return NULL;
	}
	return r;
}

#define DUE_SQL \
	"SELECT a.id, a.event, i.host, i.port, i.cluster, c.database, c.user, " \
	"c.application, c.client_addr, c.client_hostname, c.ssl, c.tls_version, " \
	"c.cipher, c.bits, c.client_dn, c.issuer_dn, c.first_seen, c.last_seen, " \
	"c.sessions, c.samples FROM alert a JOIN client c ON c.id = a.client_id " \
	"JOIN instance i ON i.id = c.instance_id " \
	"WHERE a.state = 'pending' AND a.next_attempt_ms <= ?1 AND (" \
	EVENT_BIT_SQL("a.event") " & ?2) != 0 ORDER BY a.id LIMIT ?3"

/* Reads up to max due alerts (oldest first); the statement is done
 * before anything is written. Returns the number read, -1 on error. */
static int
fetch_due(struct hooks *h, struct run **out, int max)
{
	sqlite3_stmt *st = prepare(h, DUE_SQL);
	int n = 0, rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, wall_ms());
	sqlite3_bind_int(st, 2, (int)hooks_alert_mask(h->cfg));
	sqlite3_bind_int(st, 3, max);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		out[n] = row_to_run(h, st);
		if (out[n] != NULL)
			n++;
	}
	sqlite3_finalize(st);
	return n;
}

/* Starts due hooks while slots are free. -1: a write failed. */
static int
start_due(struct hooks *h)
{
	struct run *batch[16];
	long max = h->cfg->hook_max_running > 0 ? h->cfg->hook_max_running : 1;
	int want, n, i, failed = 0;

	while ((long)h->nrunning < max && !failed) {
		want = (int)(max - (long)h->nrunning);
		if (want > 16)
			want = 16;
		n = fetch_due(h, batch, want);
		if (n <= 0)
			return n;
		for (i = 0; i < n; i++) {
			const struct strlist *cmd = event_command(h->cfg, batch[i]->cl.event);

			/* cmd is never NULL: fetch_due selects configured events. */
			if (!failed && cmd != NULL && claim(h, batch[i]) == 0) {
				batch[i]->cmd = strdup(cmd->v[0]);
				spawn_run(h, batch[i], cmd);
				continue;
			}
			failed = 1;	/* later rows too: the store is failing */
			run_free(batch[i]);
		}
		if (n < want)
			break;
	}
	return failed ? -1 : 0;
}

/* When the next pending alert becomes due; -1 when none is pending. */
static int64_t
next_due_ms(struct hooks *h)
{
	sqlite3_stmt *st = prepare(h, "SELECT min(next_attempt_ms) FROM alert WHERE "
	    "state = 'pending' AND (" EVENT_BIT_SQL("event") " & ?1) != 0");
	int64_t at = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, (int)hooks_alert_mask(h->cfg));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		at = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return at;
}

static int
store_unstored(struct hooks *h)
{
	struct run *r;
	int64_t next_ms;
	const char *state;

	while ((r = h->unstored) != NULL) {
		state = next_state(h, r, &next_ms);
		if (store_end(h, r, state, next_ms) == -1)
			return -1;
		list_del(&h->unstored, r);
		log_end(h, r, state, next_ms);
		run_free(r);
	}
	return 0;
}

static void
pass(struct hooks *h)
{
	int64_t at;

	if (!h->recovered && recover(h) == 0)
		h->recovered = true;
	if (!h->recovered || store_unstored(h) == -1) {
		schedule(h, STORE_RETRY_MS);
		return;
	}
	log_new_clients(h);
	if (sweep_unconfigured(h) == -1 || start_due(h) == -1) {
		schedule(h, STORE_RETRY_MS);
		return;
	}
	if ((long)h->nrunning >= h->cfg->hook_max_running)
		return;		/* a hook's end arms the timer */
	at = next_due_ms(h);
	if (at >= 0)
		schedule(h, at - wall_ms());
}

/* ---- public ---------------------------------------------------------- */

struct hooks *
hooks_new(struct event_base *base, struct store *store, const struct config *cfg)
{
	struct hooks *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->base = base;
	h->store = store;
	h->cfg = cfg;
	h->timer = evtimer_new(base, timer_cb, h);
	if (h->timer == NULL || spawn_init(base) == -1) {
		if (h->timer != NULL)
			event_free(h->timer);
		free(h);
		return NULL;
	}
	h->recovered = recover(h) == 0;
	init_logged_client(h);
	schedule(h, 0);
	return h;
}

void
hooks_reconfigure(struct hooks *h, const struct config *cfg)
{
	h->cfg = cfg;
	schedule(h, 0);
}

void
hooks_kick(struct hooks *h)
{
	schedule(h, 0);
}

bool
hooks_idle(const struct hooks *h)
{
	struct hooks *hm = (struct hooks *)(uintptr_t)h;
	int64_t at;

	if (h->nrunning > 0 || h->unstored != NULL || !h->recovered)
		return false;
	if (h->timer_armed && h->timer_at_ms <= wall_ms())
		return false;	/* a pass is about to run */
	at = next_due_ms(hm);
	return at < 0 || at > wall_ms();
}

/*
 * The daemon stops: hooks still running are recorded as interrupted and
 * their alerts go back to pending (they run again at the next start),
 * then they get SIGTERM; spawn_shutdown() kills what is left.
 */
void
hooks_free(struct hooks *h)
{
	struct run *r;

	if (h == NULL)
		return;
	store_unstored(h);
	while ((r = h->unstored) != NULL) {
		list_del(&h->unstored, r);
		run_free(r);
	}
	while ((r = h->running) != NULL) {
		list_del(&h->running, r);
		r->outcome = "failed";
		r->has_status = false;
		r->error = strdup("interrupted by daemon stop");
		r->ended_at = wall_ms() / 1000;
		if (r->error != NULL && store_end(h, r, "pending", wall_ms()) == 0)
			log_warnx("hooks: hook %s (%s) for %s@%s interrupted by the stop; it runs "
			    "again at the next start", r->cl.event, r->cmd, nz(r->cl.user),
			    nz(r->cl.database));
		r->h = NULL;
		spawn_terminate(r->child);
	}
	event_free(h->timer);
	free(h);
}
