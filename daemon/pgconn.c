/*
 * pgconn.c: resolve -> password -> connect -> query, all from the loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "pgconn.h"
#include "evspawn.h"
#include "timer.h"

#define MAX_ADDRS 8		/* addresses of one name tried by libpq */
#define MAX_KEYWORDS 64

enum pgc_state {
	PGC_IDLE,		/* no connection, no attempt */
	PGC_RESOLVING,		/* evdns lookup running */
	PGC_PASSWORD,		/* password_command running */
	PGC_CONNECTING,		/* PQconnectPoll in progress */
	PGC_READY,		/* connected, no query */
	PGC_QUERY,		/* a query is running */
};

struct pgconn {
	struct event_base *base;
	struct evdns_base *dns;
	const struct pgconn_ops *ops;
	void *arg;
	enum pgc_state state;
	char *host;
	int port;
	int64_t connect_timeout_ms, query_timeout_ms;
	struct conn_kv *kv;		/* the cluster's libpq keywords */
	size_t nkv;
	struct strlist password_command;

	PGconn *conn;
	int fd;
	bool flushing;			/* PQflush has more to send */
	struct event *sockev;
	int armed_fd;			/* what sockev waits for: fd ... */
	short armed_what;		/* ... and events; -1 / 0 when not */
	struct event *deadline;
	int64_t deadline_mono;		/* when it fires, while armed */
	struct evdns_getaddrinfo_request *dnsreq;
	struct child *child;
	char addrs[MAX_ADDRS * (INET6_ADDRSTRLEN + 1)];
	char hosts[MAX_ADDRS * 256];
	char *password;
	PGresult *result;		/* the query's result so far */
	struct waiter *waiting;		/* the DNS lookup or password_command
					 * running for this attempt */
	int in_callback;
	bool free_pending;
};

/*
 * A DNS lookup or a password_command calls back after the attempt may be
 * gone (cancelled, timed out, the pgconn freed at shutdown): the callback
 * gets this small object, which drop() detaches from the pgconn.
 */
struct waiter {
	struct pgconn *pc;	/* NULL: the attempt is gone */
};

static struct waiter *
waiter_new(struct pgconn *pc)
{
	struct waiter *w = malloc(sizeof(*w));

	if (w != NULL) {
		w->pc = pc;
		pc->waiting = w;
	}
	return w;
}

/* The pgconn the callback is for, or NULL; frees w. */
static struct pgconn *
waiter_done(struct waiter *w)
{
	struct pgconn *pc = w->pc;

	if (pc != NULL)
		pc->waiting = NULL;
	free(w);
	return pc;
}

static void wait_socket(struct pgconn *pc, short what);
static void on_socket(evutil_socket_t fd, short what, void *arg);

static void
disarm(struct pgconn *pc)
{
	pc->armed_fd = -1;
	pc->armed_what = 0;
	if (pc->sockev)
		event_del(pc->sockev);
	if (pc->deadline)
		evtimer_del(pc->deadline);
}

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
	if (pc->password) {
		explicit_bzero(pc->password, strlen(pc->password));
		free(pc->password);
		pc->password = NULL;
	}
	pc->fd = -1;
	pc->flushing = false;
	pc->state = PGC_IDLE;
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
	free(pc);
}

/* Calls back into the owner; a pgconn_free() inside is deferred. */
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

/* Ends the attempt or connection with an error (one line). */
static void
fail(struct pgconn *pc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
fail(struct pgconn *pc, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	char *p, *q;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* libpq messages span lines ("...\n\tIs the server running"): keep
	 * one line per error, each run of blanks one space. */
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
	drop(pc);
	CALLBACK(pc, failed, msg, pc->arg);
	finish_callback(pc);
}

static const char *
pq_error(PGconn *conn)
{
	const char *m = conn ? PQerrorMessage(conn) : NULL;

	return m && *m ? m : "unknown libpq error";
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pc = arg;
	static const char *const phase[] = {
		[PGC_RESOLVING] = "resolving the host name",
		[PGC_PASSWORD] = "running password_command",
		[PGC_CONNECTING] = "connecting",
		[PGC_QUERY] = "waiting for the query result",
	};

	(void)fd;
	(void)what;
	if (pc->state == PGC_QUERY)
		fail(pc, "timeout: no result after %lld ms (query_timeout)",
		     (long long)pc->query_timeout_ms);
	else
		fail(pc, "timeout: %s took longer than %lld ms (connect_timeout)",
		     phase[pc->state] ? phase[pc->state] : "connecting",
		     (long long)pc->connect_timeout_ms);
}

static void
arm_deadline(struct pgconn *pc, int64_t ms)
{
	pc->deadline_mono = mono_ms() + ms;
	timer_add_ms(pc->deadline, ms);
}

int64_t
pgconn_deadline_ms(const struct pgconn *pc)
{
	return evtimer_pending(pc->deadline, NULL) ? pc->deadline_mono : 0;
}

struct pgconn *
pgconn_new(struct event_base *base, struct evdns_base *dns, const struct pgconn_params *params,
	   const struct pgconn_ops *ops, void *arg)
{
	struct pgconn *pc = calloc(1, sizeof(*pc));
	const struct cluster_cfg *c = params->cluster;

	if (pc == NULL)
		return NULL;
	pc->base = base;
	pc->dns = dns;
	pc->ops = ops;
	pc->arg = arg;
	pc->fd = -1;
	pc->armed_fd = -1;
	pc->port = params->port;
	pc->connect_timeout_ms = params->connect_timeout_ms;
	pc->query_timeout_ms = params->query_timeout_ms;
	pc->host = strdup(params->host);
	pc->kv = calloc(c->nconn ? c->nconn : 1, sizeof(*pc->kv));
	pc->sockev = event_new(base, -1, 0, on_socket, pc);
	pc->deadline = evtimer_new(base, on_deadline, pc);
	if (!pc->host || !pc->kv || !pc->sockev || !pc->deadline)
		goto oom;
	for (size_t i = 0; i < c->nconn; i++, pc->nkv++) {
		pc->kv[i].key = strdup(c->conn[i].key);
		pc->kv[i].value = strdup(c->conn[i].value);
		if (!pc->kv[i].key || !pc->kv[i].value) {
			pc->nkv++;
			goto oom;
		}
	}
	for (size_t i = 0; i < c->password_command.n; i++) {
		if (strlist_add(&pc->password_command, c->password_command.v[i]) < 0)
			goto oom;
	}
	return pc;
oom:
	really_free(pc);
	return NULL;
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

/* ---- connecting ---- */

static void start_libpq(struct pgconn *pc);
static void start_password(struct pgconn *pc);

static bool
is_ip_literal(const char *h)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static void
after_resolve(struct pgconn *pc)
{
	if (pc->password_command.n > 0)
		start_password(pc);
	else
		start_libpq(pc);
}

static void
on_resolved(int err, struct evutil_addrinfo *res, void *arg)
{
	struct pgconn *pc = waiter_done(arg);
	size_t n = 0, alen = 0, hlen = 0;

	if (pc == NULL) {	/* cancelled */
		if (res)
			evutil_freeaddrinfo(res);
		return;
	}
	pc->dnsreq = NULL;
	if (err != 0) {
		fail(pc, "could not resolve host name \"%s\": %s", pc->host, evutil_gai_strerror(err));
		return;
	}
	pc->addrs[0] = pc->hosts[0] = '\0';
	for (struct evutil_addrinfo *ai = res; ai && n < MAX_ADDRS; ai = ai->ai_next) {
		char a[INET6_ADDRSTRLEN];
		const void *src;

		if (ai->ai_family == AF_INET)
			src = &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			src = &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(ai->ai_family, src, a, sizeof(a)) == NULL)
			continue;
		/* libpq pairs the i-th host with the i-th hostaddr. */
		alen += (size_t)snprintf(pc->addrs + alen, sizeof(pc->addrs) - alen, "%s%s",
					 n ? "," : "", a);
		hlen += (size_t)snprintf(pc->hosts + hlen, sizeof(pc->hosts) - hlen, "%s%s",
					 n ? "," : "", pc->host);
		n++;
	}
	if (res)
		evutil_freeaddrinfo(res);
	if (n == 0 || hlen >= sizeof(pc->hosts)) {
		fail(pc, "could not resolve host name \"%s\": no usable address", pc->host);
		return;
	}
	after_resolve(pc);
}

void
pgconn_connect(struct pgconn *pc)
{
	struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP };
	struct waiter *w;
	struct evdns_getaddrinfo_request *req;

	drop(pc);
	arm_deadline(pc, pc->connect_timeout_ms);
	pc->state = PGC_RESOLVING;
	pc->addrs[0] = pc->hosts[0] = '\0';
	if (pc->host[0] == '/' || is_ip_literal(pc->host)) {
		/* A socket directory or an address: nothing to resolve. */
		if (pc->host[0] != '/')
			snprintf(pc->addrs, sizeof(pc->addrs), "%s", pc->host);
		snprintf(pc->hosts, sizeof(pc->hosts), "%s", pc->host);
		after_resolve(pc);
		return;
	}
	if ((w = waiter_new(pc)) == NULL) {
		fail(pc, "out of memory");
		return;
	}
	/* The callback may run before this returns (hosts file, cache); the
	 * request is then NULL and the attempt has moved on. */
	req = evdns_getaddrinfo(pc->dns, pc->host, NULL, &hints, on_resolved, w);
	if (req != NULL)
		pc->dnsreq = req;
}

/* ---- password_command ---- */

static void
on_password(const struct child_result *r, void *arg)
{
	struct pgconn *pc = waiter_done(arg);
	size_t len;

	if (pc == NULL)		/* the attempt is gone */
		return;
	pc->child = NULL;
	if (!r->spawned) {
		fail(pc, "password_command: %s", r->spawn_error);
		return;
	}
	if (r->timed_out || !r->exited || r->exit_code != 0) {
		const char *e = r->err_len ? r->err : "";
		int elen = (int)strcspn(e, "\n");

		if (r->exited)
			fail(pc, "password_command exited with status %d%s%.*s", r->exit_code,
			     elen ? ": " : "", elen, e);
		else
			fail(pc, "password_command killed by signal %d%s", r->signo,
			     r->timed_out ? " (timeout)" : "");
		return;
	}
	len = strcspn(r->out, "\r\n");
	if (len == 0) {
		fail(pc, "password_command printed no password");
		return;
	}
	pc->password = strndup(r->out, len);
	if (pc->password == NULL) {
		fail(pc, "out of memory");
		return;
	}
	start_libpq(pc);
}

/*
 * The command gets the daemon's environment less what belongs to the
 * service manager, plus what an IAM token generator needs to know.
 */
static char **
password_env(const struct pgconn *pc, const char *user)
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **env;
	char port[16];

	while (environ[n])
		n++;
	env = calloc(n + 5, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *e = environ[i];
		if (strncmp(e, "NOTIFY_SOCKET=", 14) == 0 || strncmp(e, "WATCHDOG_", 9) == 0 ||
		    strncmp(e, "LISTEN_", 7) == 0 || strncmp(e, "SSLHIST_", 8) == 0)
			continue;
		env[k++] = environ[i];
	}
	snprintf(port, sizeof(port), "%d", pc->port);
	if (asprintf(&env[k], "SSLHIST_HOST=%s", pc->host) < 0)
		env[k] = NULL;
	else
		k++;
	if (asprintf(&env[k], "SSLHIST_PORT=%s", port) < 0)
		env[k] = NULL;
	else
		k++;
	if (user && asprintf(&env[k], "SSLHIST_USER=%s", user) >= 0)
		k++;
	env[k] = NULL;
	return env;
}

static const char *
kv_get(const struct pgconn *pc, const char *key)
{
	for (size_t i = 0; i < pc->nkv; i++) {
		if (strcmp(pc->kv[i].key, key) == 0)
			return pc->kv[i].value;
	}
	return NULL;
}

static void
start_password(struct pgconn *pc)
{
	char **env = password_env(pc, kv_get(pc, "user"));
	struct waiter *w = env ? waiter_new(pc) : NULL;
	struct child_spec spec = {
		.argv = (const char *const *)pc->password_command.v,
		.envp = (const char *const *)env,
		.max_output = 8192,
		.timeout_ms = pc->connect_timeout_ms,
		.on_exit = on_password,
		.arg = w,
	};

	if (w == NULL) {
		free(env);
		fail(pc, "out of memory");
		return;
	}
	pc->state = PGC_PASSWORD;
	pc->child = spawn_start(pc->base, &spec);
	/* Free the strings we allocated (the ones not from environ). */
	for (size_t i = 0; env[i]; i++) {
		if (strncmp(env[i], "SSLHIST_", 8) == 0)
			free(env[i]);
	}
	free(env);
	if (pc->child == NULL) {
		(void)waiter_done(w);
		fail(pc, "password_command: out of memory");
	}
}

/* ---- libpq ---- */

/*
 * The daemon's statement_timeout: a little under query_timeout, so the
 * server ends a slow query before the daemon drops the connection.
 */
static long long
statement_timeout_ms(const struct pgconn *pc)
{
	long long ms = pc->query_timeout_ms;

	return ms > 2000 ? ms - 1000 : ms * 9 / 10;
}

static void
start_libpq(struct pgconn *pc)
{
	const char *keys[MAX_KEYWORDS + 1], *vals[MAX_KEYWORDS + 1];
	char options[2048], port[16], tcp_timeout[32];
	const char *user_options = kv_get(pc, "options");
	size_t n = 0;

	snprintf(port, sizeof(port), "%d", pc->port);
	snprintf(options, sizeof(options), "%s%s-c statement_timeout=%lld",
		 user_options ? user_options : "", user_options ? " " : "",
		 statement_timeout_ms(pc));
	snprintf(tcp_timeout, sizeof(tcp_timeout), "%lld", (long long)pc->query_timeout_ms);
	for (size_t i = 0; i < pc->nkv && n < MAX_KEYWORDS - 12; i++) {
		const char *k = pc->kv[i].key;
		/* Set below; the cluster's host/port are the endpoint, not
		 * this instance. */
		if (!strcmp(k, "host") || !strcmp(k, "port") || !strcmp(k, "hostaddr") ||
		    !strcmp(k, "options") || !strcmp(k, "application_name") ||
		    !strcmp(k, "fallback_application_name") || !strcmp(k, "connect_timeout") ||
		    (pc->password && !strcmp(k, "password")))
			continue;
		keys[n] = k;
		vals[n++] = pc->kv[i].value;
	}
	keys[n] = "host", vals[n++] = pc->hosts;
	if (pc->addrs[0])
		keys[n] = "hostaddr", vals[n++] = pc->addrs;
	keys[n] = "port", vals[n++] = port;
	keys[n] = "application_name", vals[n++] = "sslhistd";
	keys[n] = "options", vals[n++] = options;
	if (pc->password)
		keys[n] = "password", vals[n++] = pc->password;
	if (!kv_get(pc, "keepalives_idle"))
		keys[n] = "keepalives_idle", vals[n++] = "30";
	if (!kv_get(pc, "tcp_user_timeout"))
		keys[n] = "tcp_user_timeout", vals[n++] = tcp_timeout;
	/* Try each address once; the daemon owns retries and backoff. */
	if (!kv_get(pc, "target_session_attrs"))
		keys[n] = "target_session_attrs", vals[n++] = "any";
	keys[n] = NULL;
	vals[n] = NULL;

	pc->state = PGC_CONNECTING;
	pc->conn = PQconnectStartParams(keys, vals, 0);
	if (pc->password) {
		explicit_bzero(pc->password, strlen(pc->password));
		free(pc->password);
		pc->password = NULL;
	}
	if (pc->conn == NULL) {
		fail(pc, "out of memory");
		return;
	}
	if (PQstatus(pc->conn) == CONNECTION_BAD) {
		fail(pc, "%s", pq_error(pc->conn));
		return;
	}
	PQsetnonblocking(pc->conn, 1);
	/* libpq: behave as if PQconnectPoll had returned POLLING_WRITING. */
	wait_socket(pc, EV_WRITE);
}

/*
 * Arms the socket event on the current socket (it may have changed while
 * connecting). Once connected, a wait for reading only is a persistent
 * event that stays armed from poll to poll: a poll then costs no
 * epoll_ctl. Any other wait is one-shot.
 */
static void
wait_socket(struct pgconn *pc, short what)
{
	int fd = PQsocket(pc->conn);

	if (fd < 0) {
		event_del(pc->sockev);
		pc->armed_fd = -1;
		fail(pc, "connection has no socket: %s", pq_error(pc->conn));
		return;
	}
	if ((pc->state == PGC_READY || pc->state == PGC_QUERY) && what == EV_READ)
		what = EV_READ | EV_PERSIST;
	if (fd == pc->armed_fd && what == pc->armed_what && (what & EV_PERSIST) &&
	    event_pending(pc->sockev, EV_READ, NULL))
		return;
	event_del(pc->sockev);
	pc->fd = fd;
	pc->armed_fd = fd;
	pc->armed_what = what;
	event_assign(pc->sockev, pc->base, fd, what, on_socket, pc);
	event_add(pc->sockev, NULL);
}

static void connect_step(struct pgconn *pc);
static void query_step(struct pgconn *pc, short what);
static void idle_step(struct pgconn *pc);

static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pc = arg;

	(void)fd;
	switch (pc->state) {
	case PGC_CONNECTING:
		connect_step(pc);
		break;
	case PGC_QUERY:
		query_step(pc, what);
		break;
	case PGC_READY:
		idle_step(pc);
		break;
	case PGC_IDLE:
	case PGC_RESOLVING:
	case PGC_PASSWORD:
		break;
	}
}

static void
ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/*
 * An idle connection keeps no TLS record buffers (about 34 KB each): a
 * poll every few seconds reallocates them, a fleet of thousands of idle
 * connections does not hold them all.
 */
static void
release_tls_buffers(PGconn *conn)
{
	SSL *ssl = PQsslStruct(conn, "OpenSSL");

	if (ssl != NULL)
		SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
}

static void
connect_step(struct pgconn *pc)
{
	switch (PQconnectPoll(pc->conn)) {
	case PGRES_POLLING_READING:
		wait_socket(pc, EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		wait_socket(pc, EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		break;
	case PGRES_POLLING_FAILED:
	case PGRES_POLLING_ACTIVE:
	default:
		fail(pc, "%s", pq_error(pc->conn));
		return;
	}
	evtimer_del(pc->deadline);
	pc->state = PGC_READY;
	/* Notices (e.g. of the server shutting down) are not ours to print. */
	PQsetNoticeProcessor(pc->conn, ignore_notice, NULL);
	release_tls_buffers(pc->conn);
	wait_socket(pc, EV_READ);
	if (pc->state != PGC_READY)
		return;
	CALLBACK(pc, connected, pc->arg);
	finish_callback(pc);
}

/* Between queries: a readable socket is the server closing on us. */
static void
idle_step(struct pgconn *pc)
{
	if (!PQconsumeInput(pc->conn) || PQstatus(pc->conn) == CONNECTION_BAD) {
		fail(pc, "connection lost: %s", pq_error(pc->conn));
		return;
	}
	/* Parameter status or notification messages: keep waiting. */
	while (!PQisBusy(pc->conn)) {
		PGresult *r = PQgetResult(pc->conn);
		if (r == NULL)
			break;
		PQclear(r);
	}
	wait_socket(pc, EV_READ);
}

/* A command was handed to libpq (sent is its PQsend* return value). */
static void
query_sent(struct pgconn *pc, int sent)
{
	if (!sent) {
		fail(pc, "could not send query: %s", pq_error(pc->conn));
		return;
	}
	pc->state = PGC_QUERY;
	arm_deadline(pc, pc->query_timeout_ms);
	pc->flushing = true;
	query_step(pc, EV_WRITE);
}

static bool
check_ready(struct pgconn *pc)
{
	if (pc->state == PGC_READY)
		return true;
	fail(pc, "internal error: query while not ready");
	return false;
}

void
pgconn_query(struct pgconn *pc, const char *sql, int nparams, const char *const *values)
{
	if (check_ready(pc))
		query_sent(pc, PQsendQueryParams(pc->conn, sql, nparams, NULL, values, NULL, NULL, 0));
}

void
pgconn_prepare(struct pgconn *pc, const char *name, const char *sql, int nparams)
{
	if (check_ready(pc))
		query_sent(pc, PQsendPrepare(pc->conn, name, sql, nparams, NULL));
}

void
pgconn_query_prepared(struct pgconn *pc, const char *name, int nparams,
		      const char *const *values, int binary)
{
	if (check_ready(pc))
		query_sent(pc, PQsendQueryPrepared(pc->conn, name, nparams, values, NULL, NULL,
						   binary ? 1 : 0));
}

/*
 * Drives a running query: flush what is left to send, read what arrived,
 * and collect results until PQgetResult says the query is done.
 */
static void
query_step(struct pgconn *pc, short what)
{
	PGresult *r;
	PGresult *done;

	if (what & EV_READ) {
		if (!PQconsumeInput(pc->conn)) {
			fail(pc, "connection lost during the query: %s", pq_error(pc->conn));
			return;
		}
	}
	if (pc->flushing) {
		int f = PQflush(pc->conn);
		if (f < 0) {
			fail(pc, "could not send query: %s", pq_error(pc->conn));
			return;
		}
		pc->flushing = f == 1;
	}
	while (!PQisBusy(pc->conn)) {
		r = PQgetResult(pc->conn);
		if (r == NULL)
			goto done;
		/* Keep the first error, else the last result. */
		if (pc->result == NULL || PQresultStatus(pc->result) == PGRES_TUPLES_OK ||
		    PQresultStatus(pc->result) == PGRES_COMMAND_OK) {
			PQclear(pc->result);
			pc->result = r;
		} else {
			PQclear(r);
		}
	}
	wait_socket(pc, pc->flushing ? EV_READ | EV_WRITE : EV_READ);
	return;
done:
	evtimer_del(pc->deadline);
	pc->state = PGC_READY;
	if (PQstatus(pc->conn) == CONNECTION_BAD) {
		fail(pc, "connection lost: %s", pq_error(pc->conn));
		return;
	}
	wait_socket(pc, EV_READ);
	if (pc->state != PGC_READY)
		return;
	done = pc->result;
	pc->result = NULL;
	if (done == NULL) {
		fail(pc, "query returned no result");
		return;
	}
	CALLBACK(pc, result, done, pc->arg);
	PQclear(done);
	finish_callback(pc);
}
