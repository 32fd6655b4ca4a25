/*
 * pgconn_dial.c: a connection attempt up to READY. The name is resolved
 * with evdns (never a blocking lookup), libpq gets host=NAME hostaddr=ADDRS
 * (verify-full still checks NAME) and PQconnectPoll runs from socket
 * events, on whatever socket libpq holds at each wait: it changes between
 * calls (the next address, an sslmode=allow/prefer retry). The deadline is
 * pgconn.c's, armed here for the whole attempt.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "pgconn.h"
#include "pgconn_int.h"
#include "timer.h"
#include "tlstrim.h"
#include "trustpin.h"

#define MAX_KEYWORDS 64

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
		pgc_start_password(pc);
	else
		pgc_start_libpq(pc);
}

/* Appends the addresses of res to pc->addrs; libpq pairs the i-th host
 * with the i-th hostaddr, so host= will repeat the name as often. */
static size_t
collect_addrs(struct pgconn *pc, const struct evutil_addrinfo *res)
{
	size_t n = 0, alen = 0;

	pc->addrs[0] = '\0';
	for (const struct evutil_addrinfo *ai = res; ai && n < PGC_MAX_ADDRS; ai = ai->ai_next) {
		char a[INET6_ADDRSTRLEN];
		const void *src;

		if (ai->ai_family == AF_INET)
			src = &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			src = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(ai->ai_family, src, a, sizeof(a)) == NULL)
			continue;
		alen += (size_t)snprintf(pc->addrs + alen, sizeof(pc->addrs) - alen, "%s%s",
					 n ? "," : "", a);
		n++;
	}
	pc->naddrs = n * (strlen(pc->host) + 1) > PGC_HOSTS_MAX ? 0 : n;
	return pc->naddrs;
}

static void
on_resolved(int err, struct evutil_addrinfo *res, void *arg)
{
	struct pgconn *pc = pgc_waiter_done(arg);
	size_t n;

	if (pc == NULL) {	/* cancelled */
		if (res)
			evutil_freeaddrinfo(res);
		return;
	}
	pc->dnsreq = NULL;
	if (!pgc_expect(pc, PGC_RESOLVING, "DNS answer")) {
		if (res)
			evutil_freeaddrinfo(res);
		return;
	}
	if (err != 0) {
		pgc_fail(pc, "could not resolve host name \"%s\": %s", pc->host,
			 evutil_gai_strerror(err));
		return;
	}
	n = collect_addrs(pc, res);
	if (res)
		evutil_freeaddrinfo(res);
	if (n == 0) {
		pgc_fail(pc, "could not resolve host name \"%s\": no usable address", pc->host);
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

	if (!pgc_set_state(pc, PGC_RESOLVING, "connect"))
		return;
	pgc_arm_deadline(pc, pc->connect_timeout_ms);
	pc->addrs[0] = '\0';
	pc->naddrs = 1;
	if (pc->host[0] == '/' || is_ip_literal(pc->host)) {
		/* A socket directory or an address: nothing to resolve. */
		if (pc->host[0] != '/')
			snprintf(pc->addrs, sizeof(pc->addrs), "%s", pc->host);
		after_resolve(pc);
		return;
	}
	if ((w = pgc_waiter_new(pc)) == NULL) {
		pgc_fail(pc, "out of memory");
		return;
	}
	/* The callback may run before this returns (hosts file, cache); the
	 * request is then NULL and the attempt has moved on. */
	req = evdns_getaddrinfo(pc->dns, pc->host, NULL, &hints, on_resolved, w);
	if (req != NULL)
		pc->dnsreq = req;
}

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

/* Set by the daemon; the cluster's host/port are the endpoint, not this
 * instance. */
static bool
daemon_keyword(const struct pgconn *pc, const char *k)
{
	return !strcmp(k, "host") || !strcmp(k, "port") || !strcmp(k, "hostaddr") ||
	       !strcmp(k, "options") || !strcmp(k, "application_name") ||
	       !strcmp(k, "fallback_application_name") || !strcmp(k, "connect_timeout") ||
	       (pc->password && !strcmp(k, "password"));
}

/* The keywords and values of PQconnectStartParams; the strings live in
 * pc and in buf (options, port, tcp_user_timeout). */
struct dial_args {
	const char *keys[MAX_KEYWORDS + 1], *vals[MAX_KEYWORDS + 1];
	char options[2048], port[16], tcp_timeout[32];
	char pin[PATH_MAX];		/* sslrootcert: the bundle's pinned roots */
	char hosts[PGC_HOSTS_MAX + 1];	/* the name, once per address */
};

static void
build_args(struct pgconn *pc, struct dial_args *a)
{
	const char *user_options = pgc_kv_get(pc, "options");
	const char *rootcert = pgc_kv_get(pc, "sslrootcert");
	size_t n = 0, len = 0, hlen;

	/* The pin while it works for this connection (trustpin.h). */
	pc->pinned = rootcert != NULL && !pc->pin_off &&
		     trustpin_choose(rootcert, a->pin, sizeof(a->pin)) != NULL;

	snprintf(a->port, sizeof(a->port), "%d", pc->port);
	snprintf(a->options, sizeof(a->options), "%s%s-c statement_timeout=%lld",
		 user_options ? user_options : "", user_options ? " " : "",
		 statement_timeout_ms(pc));
	snprintf(a->tcp_timeout, sizeof(a->tcp_timeout), "%lld", (long long)pc->query_timeout_ms);
	for (size_t i = 0; i < pc->nkv && n < MAX_KEYWORDS - 12; i++) {
		if (daemon_keyword(pc, pc->kv[i].key))
			continue;
		a->keys[n] = pc->kv[i].key;
		a->vals[n++] = pc->pinned && !strcmp(pc->kv[i].key, "sslrootcert") ?
			       a->pin : pc->kv[i].value;
	}
	hlen = strlen(pc->host);
	for (size_t i = 0; i < pc->naddrs && len + hlen + 2 <= sizeof(a->hosts); i++) {
		if (i)
			a->hosts[len++] = ',';
		memcpy(a->hosts + len, pc->host, hlen);
		len += hlen;
	}
	a->hosts[len] = '\0';
	a->keys[n] = "host", a->vals[n++] = a->hosts;
	if (pc->addrs[0])
		a->keys[n] = "hostaddr", a->vals[n++] = pc->addrs;
	a->keys[n] = "port", a->vals[n++] = a->port;
	a->keys[n] = "application_name", a->vals[n++] = "sslhistd";
	if (!pc->console)
		a->keys[n] = "options", a->vals[n++] = a->options;
	if (pc->password)
		a->keys[n] = "password", a->vals[n++] = pc->password;
	if (!pgc_kv_get(pc, "keepalives_idle"))
		a->keys[n] = "keepalives_idle", a->vals[n++] = "30";
	if (!pgc_kv_get(pc, "tcp_user_timeout"))
		a->keys[n] = "tcp_user_timeout", a->vals[n++] = a->tcp_timeout;
	/* Try each address once; the daemon owns retries and backoff. */
	if (!pgc_kv_get(pc, "target_session_attrs"))
		a->keys[n] = "target_session_attrs", a->vals[n++] = "any";
	a->keys[n] = NULL;
	a->vals[n] = NULL;
}

static void dial(struct pgconn *pc);

static void
on_pin_wait(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *pc = arg;

	(void)fd;
	(void)what;
	if (pgc_expect(pc, PGC_CONNECTING, "end of the wait for pinned roots"))
		dial(pc);
}

/* A cold start: another connection is learning which roots of this
 * bundle to pin (trustpin_must_wait()); ask again shortly, on the socket
 * event (no socket yet), within the attempt's deadline. */
static bool
wait_for_pin(struct pgconn *pc)
{
	const char *rootcert = pgc_kv_get(pc, "sslrootcert");
	char pin[PATH_MAX];

	if (rootcert == NULL || pc->pin_off || trustpin_choose(rootcert, pin, sizeof(pin)) ||
	    !trustpin_must_wait(rootcert))
		return false;
	event_del(pc->sockev);
	pc->armed_fd = -1;
	pc->armed_what = 0;
	event_assign(pc->sockev, pc->base, -1, 0, on_pin_wait, pc);
	timer_add_ms(pc->sockev, TRUSTPIN_WAIT_MS);
	return true;
}

/* PQconnectStartParams and the first wait, in state CONNECTING. */
static void
dial(struct pgconn *pc)
{
	struct dial_args a;

	if (wait_for_pin(pc))
		return;
	build_args(pc, &a);
	pc->tls_trimmed = NULL;
	pc->conn = PQconnectStartParams(a.keys, a.vals, 0);
	/* A pinned attempt may need the password once more (retry_full). */
	if (!pc->pinned)
		pgc_forget_password(pc);
	if (pc->conn == NULL) {
		pgc_fail(pc, "out of memory");
		return;
	}
	if (PQstatus(pc->conn) == CONNECTION_BAD) {
		pgc_fail(pc, "%s", pgc_pq_error(pc->conn));
		return;
	}
	if (pc->pinned)
		olog(LVL_DEBUG, &pc->obj, "connecting with the pinned roots %s of %s", a.pin,
		     pgc_kv_get(pc, "sslrootcert"));
	PQsetnonblocking(pc->conn, 1);
	/* libpq: behave as if PQconnectPoll had returned POLLING_WRITING. */
	pgc_wait_socket(pc, EV_WRITE);
}

void
pgc_start_libpq(struct pgconn *pc)
{
	if (!pgc_set_state(pc, PGC_CONNECTING, "start of libpq connection"))
		return;
	dial(pc);
}

/*
 * An attempt with the pinned roots failed (a rotated certificate, or
 * anything else): at once, within the same deadline, the same attempt with
 * the configured bundle, which this connection keeps using until an
 * attempt with it succeeds.
 */
static void
retry_full(struct pgconn *pc)
{
	char why[512];

	snprintf(why, sizeof(why), "%s", pgc_pq_error(pc->conn));
	why[strcspn(why, "\n")] = '\0';
	olog(LVL_DEBUG, &pc->obj, "connecting with the pinned roots of %s failed (%s); "
	     "again at once with the whole file", pgc_kv_get(pc, "sslrootcert"), why);
	pc->pin_off = true;
	event_del(pc->sockev);
	pc->armed_fd = -1;
	pc->armed_what = 0;
	PQfinish(pc->conn);
	pc->conn = NULL;
	dial(pc);
}

/* A connection made with the whole bundle worked: pin its root. */
static void
connected_with_trust(struct pgconn *pc)
{
	const char *rootcert = pgc_kv_get(pc, "sslrootcert");

	pgc_forget_password(pc);
	if (pc->pinned) {
		pc->pinned = false;	/* the attempt is over; the pin worked */
		return;
	}
	if (rootcert == NULL)
		return;
	pc->pin_off = false;
	if (PQsslInUse(pc->conn) && !tlstrim_keep_trust())
		(void)trustpin_learn(rootcert, pc->conn);
	trustpin_attempt_over(rootcert, true);
}

static void
ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

void
pgc_connect_step(struct pgconn *pc)
{
	PostgresPollingStatusType st = PQconnectPoll(pc->conn);

	/* As soon as the handshake is over, whatever libpq does next. */
	if (st != PGRES_POLLING_FAILED)
		tlstrim_handshake_done(pc->conn, &pc->tls_trimmed);
	switch (st) {
	case PGRES_POLLING_READING:
		pgc_wait_socket(pc, EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		pgc_wait_socket(pc, EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		break;
	case PGRES_POLLING_FAILED:
		if (pc->pinned)
			retry_full(pc);
		else
			pgc_fail(pc, "%s", pgc_pq_error(pc->conn));
		return;
	case PGRES_POLLING_ACTIVE:
	default:
		pgc_fail(pc, "%s", pgc_pq_error(pc->conn));
		return;
	}
	pgc_disarm_deadline(pc);
	if (!pgc_set_state(pc, PGC_READY, "connection established"))
		return;
	connected_with_trust(pc);
	/* Notices (e.g. of the server shutting down) are not ours to print. */
	PQsetNoticeProcessor(pc->conn, ignore_notice, NULL);
	if (!pgc_wait_socket(pc, EV_READ))
		return;
	pgc_callback_connected(pc);
}
