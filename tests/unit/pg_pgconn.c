/*
 * pg_pgconn.c: pgconn on a real libevent loop against real PostgreSQL 15
 * servers (started by tests/integration/test_units_pg.py, which names them
 * in PG_CONF): connect, query and prepared query; TLS verify-full; a wrong
 * password; the connect, resolve and query deadlines; the socket changing
 * under PQconnectPoll; calls in states they cannot belong to; pgconn_free
 * while a lookup or the connection is pending and from inside callbacks
 * (run under ASan: a use after free shows there). password_command is
 * pg_pgconn_password.c's.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "check.h"
#include "log.h"
#include "pgconn.h"
#include "pgloop.h"
#include "pgrec.h"

static int silent_ns = -1;	/* a nameserver that never answers */

/* ---- connect, query, prepared query ---- */

static void
test_round_trip(void)
{
	struct rec r;
	const char *v[1] = { "21" };

	CHECK(connect_ok("plain", &r));
	CHECK(pgconn_ready(r.pc));
	CHECK(pgconn_pg(r.pc) != NULL);
	CHECK_STR(pgconn_addr(r.pc), "127.0.0.1");
	CHECK_INT(pgconn_deadline_ms(r.pc), 0);

	pgconn_query(r.pc, "SELECT $1::int + 1", 1, (const char *[]){ "41" });
	CHECK(!pgconn_ready(r.pc));
	CHECK(pgconn_deadline_ms(r.pc) > pgloop_now());
	CHECK(next_event(&r));
	CHECK_INT(r.results, 1);
	CHECK_INT(r.status, PGRES_TUPLES_OK);
	CHECK_STR(r.value, "42");
	CHECK(pgconn_ready(r.pc));
	CHECK_INT(pgconn_deadline_ms(r.pc), 0);

	/* What the daemon sets on every connection. */
	query1(&r, "SELECT current_setting('application_name'), "
		   "current_setting('statement_timeout')", NULL);
	CHECK_STR(r.value, "sslhistd");
	CHECK_STR(r.value2, "4s");	/* query_timeout 5 s less 1 s */

	/* An error is a result; the connection stays. */
	query1(&r, "SELECT 1 / $1::int", "0");
	CHECK_INT(r.status, PGRES_FATAL_ERROR);
	CHECK(contains(r.error, "division by zero"));
	CHECK(pgconn_ready(r.pc));

	pgconn_prepare(r.pc, "s1", "SELECT $1::int4 * 2", 1);
	CHECK(next_event(&r));
	CHECK_INT(r.status, PGRES_COMMAND_OK);
	pgconn_query_prepared(r.pc, "s1", 1, v, 0);
	CHECK(next_event(&r));
	CHECK_INT(r.status, PGRES_TUPLES_OK);
	CHECK_STR(r.value, "42");
	pgconn_query_prepared(r.pc, "s1", 1, v, 1);
	CHECK(next_event(&r));
	CHECK_INT(r.value_len, 4);	/* int4 in network order */
	CHECK(memcmp(r.value, "\0\0\0\x2a", 4) == 0);
	pgconn_query_prepared(r.pc, "nosuch", 1, v, 0);
	CHECK(next_event(&r));
	CHECK_INT(r.status, PGRES_FATAL_ERROR);
	CHECK(contains(r.error, "nosuch"));
	CHECK_INT(r.failed, 0);

	pgconn_close(r.pc);
	CHECK(!pgconn_ready(r.pc));
	CHECK(pgconn_pg(r.pc) == NULL);
	pgloop_run_ms(100);
	CHECK_INT(r.failed, 0);		/* close calls nobody back */
	pgconn_free(r.pc);
}

/* ---- calls in a state they cannot belong to ---- */

static void
test_refused_calls(void)
{
	struct rec r;
	int results;

	open_conn("plain", &r, 10000, 5000);
	pgconn_query(r.pc, "SELECT 1", 0, NULL);	/* never connected */
	CHECK_INT(r.failed, 1);
	CHECK(contains(r.error, "internal error: pgconn_query in connection state idle"));

	pgconn_connect(r.pc);
	CHECK(next_event(&r));
	CHECK_INT(r.connected, 1);
	pgconn_connect(r.pc);				/* connected already */
	CHECK_INT(r.failed, 2);
	CHECK(contains(r.error, "internal error: connect in connection state ready"));
	CHECK(!pgconn_ready(r.pc));

	pgconn_connect(r.pc);
	CHECK(next_event(&r));
	CHECK_INT(r.connected, 2);
	pgconn_query(r.pc, "SELECT pg_sleep(0.2)", 0, NULL);
	pgconn_prepare(r.pc, "x", "SELECT 1", 0);	/* one at a time */
	CHECK_INT(r.failed, 3);
	CHECK(contains(r.error, "internal error: pgconn_prepare in connection state query"));
	results = r.results;
	pgloop_run_ms(400);
	CHECK_INT(r.results, results);	/* the dropped query reports nothing */
	CHECK_INT(pgconn_deadline_ms(r.pc), 0);
	pgconn_free(r.pc);
}

/* ---- TLS ---- */

static void
test_tls(void)
{
	struct rec r;

	/* A name resolved through evdns, checked against the certificate. */
	CHECK(connect_ok("tls", &r));
	CHECK(pgconn_pg(r.pc) && PQsslInUse(pgconn_pg(r.pc)));
	CHECK_STR(pgconn_addr(r.pc), "127.0.0.1");
	query1(&r, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()", NULL);
	CHECK_STR(r.value, "true");
	pgconn_free(r.pc);

	open_conn("tls_badname", &r, 10000, 5000);
	pgconn_connect(r.pc);
	CHECK(next_event(&r));
	CHECK_INT(r.failed, 1);
	CHECK(contains(r.error, "does not match host name \"pg-wrong.test\""));
	pgconn_free(r.pc);

	open_conn("tls_otherca", &r, 10000, 5000);
	pgconn_connect(r.pc);
	CHECK(next_event(&r));
	CHECK_INT(r.failed, 1);
	CHECK(contains(r.error, "certificate verify failed"));
	pgconn_free(r.pc);
}

/* ---- authentication ---- */

static void
test_wrong_password(void)
{
	struct rec r;

	open_conn("wrongpw", &r, 10000, 5000);
	r.free_in_failed = true;		/* deferred until it returns */
	pgconn_connect(r.pc);
	CHECK(next_event(&r));
	CHECK_INT(r.failed, 1);
	CHECK_INT(r.connected, 0);
	CHECK(contains(r.error, "password authentication failed for user \"pwuser\""));
	CHECK(strstr(r.error, "Wr0ng") == NULL);
	CHECK(r.pc == NULL);
	pgloop_run_ms(50);
}

/* ---- deadlines ---- */

static void
expect_timeout(const char *cluster, int64_t connect_ms, const char *want)
{
	struct rec r;
	int64_t t0 = pgloop_now(), took;

	open_conn(cluster, &r, connect_ms, 5000);
	pgconn_connect(r.pc);
	CHECK(pgconn_deadline_ms(r.pc) >= t0 + connect_ms);
	CHECK(next_event(&r));
	took = pgloop_now() - t0;
	CHECK_INT(r.failed, 1);
	CHECK(contains(r.error, want));
	CHECK(took >= connect_ms - 5 && took < connect_ms + 3000);
	CHECK_INT(pgconn_deadline_ms(r.pc), 0);
	pgconn_free(r.pc);
}

static void
test_connect_deadlines(void)
{
	/* A listener that accepts and never answers. */
	expect_timeout("blackhole", 500,
		       "timeout: connecting took longer than 500 ms (connect_timeout)");
	/* A DNS server that never answers. */
	expect_timeout("dnshang", 300,
		       "timeout: resolving the host name took longer than 300 ms (connect_timeout)");
}

static void
test_query_deadline(void)
{
	struct rec r;
	int64_t t0, took;

	open_conn("plain", &r, 10000, 1000);
	pgconn_connect(r.pc);
	CHECK(next_event(&r) && r.connected == 1);
	/* The server ends it first: statement_timeout is 900 ms. */
	query1(&r, "SELECT pg_sleep(3)", NULL);
	CHECK_INT(r.status, PGRES_FATAL_ERROR);
	CHECK(contains(r.error, "statement timeout"));
	CHECK(pgconn_ready(r.pc));
	/* Without it, the daemon's own deadline drops the connection. */
	query1(&r, "SET statement_timeout = 0", NULL);
	CHECK_INT(r.status, PGRES_COMMAND_OK);
	t0 = pgloop_now();
	pgconn_query(r.pc, "SELECT pg_sleep(5)", 0, NULL);
	CHECK(next_event(&r));
	took = pgloop_now() - t0;
	CHECK_INT(r.failed, 1);
	CHECK(contains(r.error, "timeout: no result after 1000 ms (query_timeout)"));
	CHECK(took >= 995 && took < 4000);
	CHECK(pgconn_pg(r.pc) == NULL);
	pgconn_free(r.pc);
}

/* ---- the socket changes between PQconnectPoll calls ---- */

static void
connect_ssl(const char *cluster, int want_ssl)
{
	struct rec r;

	CHECK(connect_ok(cluster, &r));
	CHECK_INT(pgconn_pg(r.pc) ? PQsslInUse(pgconn_pg(r.pc)) : -1, want_ssl);
	query1(&r, "SELECT 7", NULL);
	CHECK_STR(r.value, "7");
	pgconn_free(r.pc);
}

static void
test_socket_changes(void)
{
	/* allow: without TLS first, refused by pg_hba; TLS on a new socket. */
	connect_ssl("allow", 1);
	/* prefer: TLS first, refused by pg_hba; plain on a new socket. */
	connect_ssl("prefer_retry", 0);
	/* prefer against a server without TLS: the same socket goes on. */
	connect_ssl("prefer_plain", 0);
}

/* ---- pgconn_free while something is pending ---- */

static bool
ns_asked(void *arg)
{
	struct pollfd p = { .fd = silent_ns, .events = POLLIN };

	(void)arg;
	return poll(&p, 1, 0) == 1;
}

static void
test_free_pending_resolve(void)
{
	struct rec r;
	char buf[512];

	open_conn("dnshang", &r, 10000, 5000);
	pgconn_connect(r.pc);
	CHECK(pgloop_until(ns_asked, NULL, 5000));
	while (recv(silent_ns, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	pgconn_free(r.pc);
	pgloop_run_ms(200);
	CHECK_INT(events(&r), 0);

	/* Freed before the loop even sent the question. */
	open_conn("dnshang", &r, 10000, 5000);
	pgconn_connect(r.pc);
	pgconn_free(r.pc);
	pgloop_run_ms(200);
	CHECK_INT(events(&r), 0);
}

/* Freed while PQconnectPoll waits on its socket (a peer that never
 * answers): the armed socket event and deadline go with it. */
static void
test_free_connecting(void)
{
	struct rec r;

	open_conn("blackhole", &r, 10000, 5000);
	pgconn_connect(r.pc);
	pgloop_run_ms(100);		/* connected at TCP level, waiting */
	CHECK(pgconn_deadline_ms(r.pc) > 0);
	CHECK_INT(events(&r), 0);
	pgconn_free(r.pc);
	pgloop_run_ms(200);
	CHECK_INT(events(&r), 0);
}

/* Free from inside the result callback: deferred, nothing after it. */
static void
test_free_in_result(void)
{
	struct rec r;

	CHECK(connect_ok("plain", &r));
	r.free_in_result = true;
	pgconn_query(r.pc, "SELECT 1", 0, NULL);
	CHECK(next_event(&r));
	CHECK_INT(r.results, 1);
	CHECK(r.pc == NULL);
	pgloop_run_ms(100);
	CHECK_INT(events(&r), 2);	/* connected, result; nothing after */
}

static void
open_silent_nameserver(char *addr, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	silent_ns = socket(AF_INET, SOCK_DGRAM, 0);
	if (silent_ns < 0 || bind(silent_ns, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(silent_ns, (struct sockaddr *)&sa, &sl) < 0) {
		perror("nameserver socket");
		exit(2);
	}
	snprintf(addr, len, "127.0.0.1:%d", ntohs(sa.sin_port));
}

int
main(void)
{
	char ns[64];

	signal(SIGPIPE, SIG_IGN);
	log_init("pg_pgconn", LVL_INFO);
	pgloop_init();
	cfg = pgloop_config("PG_CONF");
	open_silent_nameserver(ns, sizeof(ns));
	dns = pgloop_dns(ns);

	test_round_trip();
	test_refused_calls();
	test_tls();
	test_wrong_password();
	test_connect_deadlines();
	test_query_deadline();
	test_socket_changes();
	test_free_pending_resolve();
	test_free_connecting();
	test_free_in_result();

	/* Cancelled lookups call back from deferred callbacks: let them run
	 * before the resolver goes (as main.c does). */
	event_base_loop(base, EVLOOP_NONBLOCK);
	evdns_base_free(dns, 1);
	close(silent_ns);
	config_free(cfg);
	pgloop_done();
	return check_done();
}

