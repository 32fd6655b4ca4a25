/*
 * pgconn.c: the connection object, its one state machine, its deadline and
 * its socket waits. Connecting, password_command and the result pump live
 * in pgconn_dial.c, pgconn_password.c and pgconn_pump.c (pgconn_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "clock.h"
#include "evspawn.h"
#include "pgconn.h"
#include "pgconn_int.h"
#include "timer.h"
#include "trustpin.h"

static void on_socket(evutil_socket_t fd, short what, void *arg);
static void on_deadline(evutil_socket_t fd, short what, void *arg);

/* ---- states ---- */

const char *
pgc_state_name(enum pgc_state s)
{
	switch (s) {
	case PGC_IDLE: return "idle";
	case PGC_RESOLVING: return "resolving";
	case PGC_PASSWORD: return "password_command";
	case PGC_CONNECTING: return "connecting";
	case PGC_READY: return "ready";
	case PGC_QUERY: return "query";
	}
	return "invalid";
}

/* The transitions of pgconn_int.h's diagram. */
static bool
transition_allowed(enum pgc_state from, enum pgc_state to)
{
	switch (to) {
	case PGC_IDLE:		/* closed, failed or freed: from anywhere */
		return true;
	case PGC_RESOLVING:
		return from == PGC_IDLE;
	case PGC_PASSWORD:
		return from == PGC_RESOLVING;
	case PGC_CONNECTING:
		return from == PGC_RESOLVING || from == PGC_PASSWORD;
	case PGC_READY:
		return from == PGC_CONNECTING || from == PGC_QUERY;
	case PGC_QUERY:
		return from == PGC_READY;
	}
	return false;
}

/* A bug in the daemon: say so at error and end the connection, so the
 * owner's failure path (backoff, retry) takes over. */
static void
refuse(struct pgconn *pc, const char *event, const char *wants, const char *state)
{
	const char *from = pgc_state_name(pc->state);

	olog(LVL_ERROR, &pc->obj, "internal error: %s in connection state %s (%s %s); "
	     "dropping the connection", event, from, wants, state);
	pgc_fail(pc, "internal error: %s in connection state %s", event, from);
}

bool
pgc_set_state(struct pgconn *pc, enum pgc_state to, const char *event)
{
	if (!transition_allowed(pc->state, to)) {
		refuse(pc, event, "a move to", pgc_state_name(to));
		return false;
	}
	pc->state = to;
	return true;
}

bool
pgc_expect(struct pgconn *pc, enum pgc_state want, const char *event)
{
	if (pc->state == want)
		return true;
	refuse(pc, event, "belongs to", pgc_state_name(want));
	return false;
}

/* ---- waiters for DNS and password_command ---- */

struct waiter *
pgc_waiter_new(struct pgconn *pc)
{
	struct waiter *w = malloc(sizeof(*w));

	if (w != NULL) {
		w->pc = pc;
		pc->waiting = w;
	}
	return w;
}

struct pgconn *
pgc_waiter_done(struct waiter *w)
{
	struct pgconn *pc = w->pc;

	if (pc != NULL)
		pc->waiting = NULL;
	free(w);
	return pc;
}

/* ---- ending an attempt ---- */

static void
disarm(struct pgconn *pc)
{
	pc->armed_fd = -1;
	pc->armed_what = 0;
	if (pc->sockev)
		event_del(pc->sockev);
	pgc_disarm_deadline(pc);
}

void
pgc_forget_password(struct pgconn *pc)
{
	if (pc->password) {
		explicit_bzero(pc->password, strlen(pc->password));
		free(pc->password);
		pc->password = NULL;
	}
}

/* Back to IDLE, releasing whatever the attempt or connection holds. */
static void
drop(struct pgconn *pc)
{
	/* First: what is cancelled below may still call back, later. */
	if (pc->waiting) {
		pc->waiting->pc = NULL;
		pc->waiting = NULL;
	}
	disarm(pc);
	if (pc->dnsreq) {
		struct evdns_getaddrinfo_request *req = pc->dnsreq;
		pc->dnsreq = NULL;
		evdns_getaddrinfo_cancel(req);
	}
	if (pc->child) {
		spawn_terminate(pc->child);
		pc->child = NULL;
	}
	if (pc->conn) {
		PQfinish(pc->conn);
		pc->conn = NULL;
	}
	if (pc->result) {
		PQclear(pc->result);
		pc->result = NULL;
	}
	pgc_forget_password(pc);
	/* A pinned attempt that ends before READY (a deadline): the next one
	 * uses the whole sslrootcert (READY clears `pinned`). */
	if (pc->pinned)
		pc->pin_off = true;
	else if (pc->conn && pc->state == PGC_CONNECTING && pgc_kv_get(pc, "sslrootcert"))
		trustpin_attempt_over(pgc_kv_get(pc, "sslrootcert"), false);
	pc->pinned = false;
	pc->flushing = false;
	(void)pgc_set_state(pc, PGC_IDLE, "drop");	/* always allowed */
}

static void
really_free(struct pgconn *pc)
{
	drop(pc);
	if (pc->sockev)
		event_free(pc->sockev);
	if (pc->deadline)
		event_free(pc->deadline);
	for (size_t i = 0; i < pc->nkv; i++) {
		free(pc->kv[i].key);
		free(pc->kv[i].value);
	}
	free(pc->kv);
	strlist_free(&pc->password_command);
	free(pc->host);
	free(pc->cluster);
	free(pc);
}

/* ---- calling the owner; a pgconn_free() inside is deferred ---- */

#define CALLBACK(pc, fn, ...) do { \
	(pc)->in_callback++; \
	(pc)->ops->fn((pc), __VA_ARGS__); \
	(pc)->in_callback--; \
} while (0)

static void
finish_callback(struct pgconn *pc)
{
	if (pc->in_callback == 0 && pc->free_pending)
		really_free(pc);
}

void
pgc_callback_connected(struct pgconn *pc)
{
	CALLBACK(pc, connected, pc->arg);
	finish_callback(pc);
}

void
pgc_callback_result(struct pgconn *pc, PGresult *res)
{
	CALLBACK(pc, result, res, pc->arg);
	PQclear(res);
	finish_callback(pc);
}

/* libpq messages span lines ("...\n\tIs the server running"): keep one
 * line per error, each run of blanks one space. */
static void
one_line(char *msg)
{
	char *p, *q;

	for (p = q = msg; *p; p++) {
		bool blank = *p == '\n' || *p == '\t' || *p == ' ';
		if (!blank)
			*q++ = *p;
		else if (q > msg && q[-1] != ' ')
			*q++ = ' ';
	}
	while (q > msg && q[-1] == ' ')
		q--;
	*q = '\0';
}

void
pgc_fail(struct pgconn *pc, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	one_line(msg);
	drop(pc);
	CALLBACK(pc, failed, msg, pc->arg);
	finish_callback(pc);
}

const char *
pgc_pq_error(PGconn *conn)
{
	const char *m = conn ? PQerrorMessage(conn) : NULL;

	return m && *m ? m : "unknown libpq error";
}

const char *
pgc_kv_get(const struct pgconn *pc, const char *key)
{
	for (size_t i = 0; i < pc->nkv; i++) {
		if (strcmp(pc->kv[i].key, key) == 0)
			return pc->kv[i].value;
	}
	return NULL;
}

/* ---- the deadline ---- */

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pc = arg;

	(void)fd;
	(void)what;
	switch (pc->state) {
	case PGC_QUERY:
		pgc_fail(pc, "timeout: no result after %lld ms (query_timeout)",
			 (long long)pc->query_timeout_ms);
		return;
	case PGC_RESOLVING:
	case PGC_PASSWORD:
	case PGC_CONNECTING:
		pgc_fail(pc, "timeout: %s took longer than %lld ms (connect_timeout)",
			 pc->state == PGC_RESOLVING ? "resolving the host name" :
			 pc->state == PGC_PASSWORD ? "running password_command" : "connecting",
			 (long long)pc->connect_timeout_ms);
		return;
	case PGC_READY:
		refuse(pc, "deadline", "belongs to", "connecting or query");
		return;
	case PGC_IDLE:		/* nothing to fail: say so, and stay idle */
		olog(LVL_ERROR, &pc->obj, "internal error: deadline in state idle");
		return;
	}
}

void
pgc_arm_deadline(struct pgconn *pc, int64_t ms)
{
	pc->deadline_mono = mono_ms() + ms;
	timer_add_ms(pc->deadline, ms);
}

void
pgc_disarm_deadline(struct pgconn *pc)
{
	if (pc->deadline)
		evtimer_del(pc->deadline);
}

int64_t
pgconn_deadline_ms(const struct pgconn *pc)
{
	return evtimer_pending(pc->deadline, NULL) ? pc->deadline_mono : 0;
}

/* ---- socket waits ---- */

/*
 * Arms the socket event on the current socket (it may have changed while
 * connecting). Once connected, a wait for reading only is a persistent
 * event that stays armed from poll to poll: a poll then costs no
 * epoll_ctl. Any other wait is one-shot.
 */
bool
pgc_wait_socket(struct pgconn *pc, short what)
{
	int fd = PQsocket(pc->conn);

	if (fd < 0) {
		event_del(pc->sockev);
		pc->armed_fd = -1;
		pgc_fail(pc, "connection has no socket: %s", pgc_pq_error(pc->conn));
		return false;
	}
	if ((pc->state == PGC_READY || pc->state == PGC_QUERY) && what == EV_READ)
		what = EV_READ | EV_PERSIST;
	if (fd == pc->armed_fd && what == pc->armed_what && (what & EV_PERSIST) &&
	    event_pending(pc->sockev, EV_READ, NULL))
		return true;
	event_del(pc->sockev);
	pc->armed_fd = fd;
	pc->armed_what = what;
	event_assign(pc->sockev, pc->base, fd, what, on_socket, pc);
	event_add(pc->sockev, NULL);
	return true;
}

static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pc = arg;

	(void)fd;
	switch (pc->state) {
	case PGC_CONNECTING:
		pgc_connect_step(pc);
		return;
	case PGC_QUERY:
		pgc_query_step(pc, what);
		return;
	case PGC_READY:
		pgc_idle_step(pc);
		return;
	case PGC_RESOLVING:
	case PGC_PASSWORD:
		refuse(pc, "socket event", "belongs to", "connecting, ready or query");
		return;
	case PGC_IDLE:		/* no connection: stop waiting, say so */
		disarm(pc);
		olog(LVL_ERROR, &pc->obj, "internal error: socket event in state idle");
		return;
	}
}

/* ---- the object ---- */

static int
copy_params(struct pgconn *pc, const struct pgconn_params *params)
{
	const struct cluster_cfg *c = params->cluster;

	pc->port = params->port;
	pc->connect_timeout_ms = params->connect_timeout_ms;
	pc->query_timeout_ms = params->query_timeout_ms;
	pc->console = params->console;
	pc->host = strdup(params->host);
	pc->cluster = strdup(c->name ? c->name : "");
	pc->kv = calloc(c->nconn ? c->nconn : 1, sizeof(*pc->kv));
	if (!pc->host || !pc->cluster || !pc->kv)
		return -1;
	ident_instance_name(pc->name, sizeof(pc->name), pc->host, pc->port);
	pc->obj.cluster = pc->cluster;
	pc->obj.instance = pc->name;
	for (size_t i = 0; i < c->nconn; i++) {
		pc->kv[i].key = strdup(c->conn[i].key);
		pc->kv[i].value = strdup(c->conn[i].value);
		pc->nkv++;
		if (!pc->kv[i].key || !pc->kv[i].value)
			return -1;
	}
	for (size_t i = 0; i < c->password_command.n; i++) {
		if (strlist_add(&pc->password_command, c->password_command.v[i]) < 0)
			return -1;
	}
	return 0;
}

struct pgconn *
pgconn_new(struct event_base *base, struct evdns_base *dns, const struct pgconn_params *params,
	   const struct pgconn_ops *ops, void *arg)
{
	struct pgconn *pc = calloc(1, sizeof(*pc));

	if (pc == NULL)
		return NULL;
	pc->base = base;
	pc->dns = dns;
	pc->ops = ops;
	pc->arg = arg;
	pc->armed_fd = -1;
	pc->sockev = event_new(base, -1, 0, on_socket, pc);
	pc->deadline = evtimer_new(base, on_deadline, pc);
	if (!pc->sockev || !pc->deadline || copy_params(pc, params) < 0) {
		really_free(pc);
		return NULL;
	}
	return pc;
}

void
pgconn_free(struct pgconn *pc)
{
	if (pc == NULL)
		return;
	if (pc->in_callback) {
		drop(pc);
		pc->free_pending = true;
		return;
	}
	really_free(pc);
}

void
pgconn_close(struct pgconn *pc)
{
	drop(pc);
}

void
pgconn_set_timeouts(struct pgconn *pc, int64_t connect_timeout_ms, int64_t query_timeout_ms)
{
	pc->connect_timeout_ms = connect_timeout_ms;
	pc->query_timeout_ms = query_timeout_ms;
}

PGconn *
pgconn_pg(const struct pgconn *pc)
{
	return pc->state == PGC_READY || pc->state == PGC_QUERY ? pc->conn : NULL;
}

int
pgconn_ready(const struct pgconn *pc)
{
	return pc->state == PGC_READY;
}

const char *
pgconn_addr(const struct pgconn *pc)
{
	return pc->addrs[0] ? pc->addrs : NULL;
}
