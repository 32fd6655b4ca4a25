/*
 * pg_pgconn.c: pgconn on a real libevent loop against real PostgreSQL 15
 * servers (started by tests/integration/test_units_pg.py, which names them
 * in PG_CONF): connect, query and prepared query; TLS verify-full; a wrong
 * password; the connect, resolve and query deadlines; password_command;
 * the socket changing under PQconnectPoll; calls in states they cannot
 * belong to; pgconn_free while a lookup or a password_command is pending
 * and from inside callbacks (run under ASan: a use after free shows there).
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
#include "evspawn.h"
#include "log.h"
#include "pgconn.h"
#include "pgloop.h"

static struct config *cfg;
static struct evdns_base *dns;
static int silent_ns = -1;	/* a nameserver that never answers */

struct rec {
	struct pgconn *pc;
	int connected, results, failed;
	char error[1100];
	ExecStatusType status;
	char value[256], value2[256];	/* row 0, columns 0 and 1 */
	int value_len;
	bool free_in_failed, free_in_result;
};

static int
events(const struct rec *r)
{
	return r->connected + r->results + r->failed;
}

static void
on_connected(struct pgconn *pc, void *arg)
{
	struct rec *r = arg;

	(void)pc;
	r->connected++;
}

static void
copy_cell(const PGresult *res, int col, char *dst, size_t len, int *outlen)
{
	int n;

	dst[0] = '\0';
	if (PQntuples(res) < 1 || PQnfields(res) <= col)
		return;
	n = PQgetlength(res, 0, col);
	if ((size_t)n >= len)
		n = (int)len - 1;
	memcpy(dst, PQgetvalue(res, 0, col), (size_t)n);
	dst[n] = '\0';
	if (outlen)
		*outlen = n;
}

static void
on_result(struct pgconn *pc, const PGresult *res, void *arg)
{
	struct rec *r = arg;

	r->results++;
	r->status = PQresultStatus(res);
	snprintf(r->error, sizeof(r->error), "%s", PQresultErrorMessage(res));
	copy_cell(res, 0, r->value, sizeof(r->value), &r->value_len);
	copy_cell(res, 1, r->value2, sizeof(r->value2), NULL);
	if (r->free_in_result) {
		pgconn_free(pc);
		r->pc = NULL;
	}
}

static void
on_failed(struct pgconn *pc, const char *error, void *arg)
{
	struct rec *r = arg;

	r->failed++;
	snprintf(r->error, sizeof(r->error), "%s", error);
	if (r->free_in_failed) {
		pgconn_free(pc);
		r->pc = NULL;
	}
}

static const struct pgconn_ops ops = { on_connected, on_result, on_failed };

static struct pgconn *
open_conn(const char *cluster, struct rec *r, int64_t connect_ms, int64_t query_ms)
{
	const struct cluster_cfg *c = pgloop_cluster(cfg, cluster);
	struct pgconn_params p = { .cluster = c, .host = c->instances[0].host,
		.port = c->instances[0].port, .connect_timeout_ms = connect_ms,
		.query_timeout_ms = query_ms };

	memset(r, 0, sizeof(*r));
	r->pc = pgconn_new(base, dns, &p, &ops, r);
	if (r->pc == NULL) {
		fprintf(stderr, "pgconn_new failed\n");
		exit(2);
	}
	return r->pc;
}

struct waitfor {
	const struct rec *r;
	int want;
};

static bool
reached(void *arg)
{
	const struct waitfor *w = arg;

	return events(w->r) >= w->want;
}

/* Runs the loop until r saw one more callback (10 s at most). */
static bool
next_event(const struct rec *r)
{
	struct waitfor w = { r, events(r) + 1 };

	return pgloop_until(reached, &w, 10000);
}

static bool
connect_ok(const char *cluster, struct rec *r)
{
	open_conn(cluster, r, 10000, 5000);
	pgconn_connect(r->pc);
	if (!next_event(r) || r->connected != 1) {
		fprintf(stderr, "%s: not connected: %s\n", cluster, r->error);
		return false;
	}
	return true;
}

static bool
contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		return true;
	fprintf(stderr, "  \"%s\" not in \"%s\"\n", needle, hay);
	return false;
}

/* ---- connect, query, prepared query ---- */

static void
query1(struct rec *r, const char *sql, const char *arg)
{
	const char *vals[1] = { arg };

	pgconn_query(r->pc, sql, arg ? 1 : 0, arg ? vals : NULL);
	CHECK(next_event(r));
}

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

/* ---- password_command ---- */

static bool
no_children(void *arg)
{
	(void)arg;
	return spawn_running() == 0;
}

static char *
slurp(const char *path)
{
	static char buf[512];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static void
expect_failure(const char *cluster, int64_t connect_ms, const char *want, const char *also)
{
	struct rec r;

	open_conn(cluster, &r, connect_ms, 5000);
	pgconn_connect(r.pc);
	CHECK(next_event(&r));
	CHECK_INT(r.failed, 1);
	if (!strstr(r.error, want) && !(also && strstr(r.error, also)))
		CHECK(contains(r.error, want));
	pgconn_free(r.pc);
}

static void
test_password_command(void)
{
	const struct cluster_cfg *c = pgloop_cluster(cfg, "pwcmd");
	char path[600], want[600];
	struct rec r;

	/* The service manager's variables are not passed on. */
	setenv("NOTIFY_SOCKET", "/run/nonexistent/notify", 1);
	CHECK(connect_ok("pwcmd", &r));
	query1(&r, "SELECT current_user", NULL);
	CHECK_STR(r.value, "pwuser");
	pgconn_free(r.pc);
	snprintf(path, sizeof(path), "%s.env", c->password_command.v[0]);
	snprintf(want, sizeof(want), "%s:%d:pwuser:unset", c->instances[0].host,
		 c->instances[0].port);
	CHECK_STR(slurp(path), want);
	unsetenv("NOTIFY_SOCKET");

	expect_failure("pwfail", 10000, "password_command exited with status 3: no token", NULL);
	expect_failure("pwempty", 10000, "password_command printed no password", NULL);
	expect_failure("pwmissing", 10000, "No such file", NULL);
	expect_failure("pwbad", 10000, "password authentication failed", NULL);
	/* The attempt's deadline and the command's own timeout are the same
	 * connect_timeout: either may come first. */
	expect_failure("pwhang", 500, "timeout: running password_command took longer than 500 ms",
		       "password_command killed by signal 15 (timeout)");
	CHECK(pgloop_until(no_children, NULL, 10000));
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

static bool
file_exists(void *arg)
{
	return access(arg, F_OK) == 0;
}

static void
test_free_pending_password(void)
{
	const struct cluster_cfg *c = pgloop_cluster(cfg, "pwslow");
	char pidfile[600];
	struct rec r;
	const char *p;
	long pid;

	snprintf(pidfile, sizeof(pidfile), "%s.pid", c->password_command.v[0]);
	unlink(pidfile);
	open_conn("pwslow", &r, 20000, 5000);
	pgconn_connect(r.pc);
	CHECK(pgloop_until(file_exists, pidfile, 10000));
	p = slurp(pidfile);
	pid = p ? strtol(p, NULL, 10) : 0;
	CHECK(pid > 0);
	pgconn_free(r.pc);
	CHECK(pgloop_until(no_children, NULL, 10000));	/* killed and reaped */
	CHECK(pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH);
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
	if (spawn_init(base) < 0)
		return 2;

	test_round_trip();
	test_refused_calls();
	test_tls();
	test_wrong_password();
	test_connect_deadlines();
	test_query_deadline();
	test_password_command();
	test_socket_changes();
	test_free_pending_resolve();
	test_free_pending_password();
	test_free_in_result();

	spawn_shutdown();
	/* Cancelled lookups call back from deferred callbacks: let them run
	 * before the resolver goes (as main.c does). */
	event_base_loop(base, EVLOOP_NONBLOCK);
	evdns_base_free(dns, 1);
	close(silent_ns);
	config_free(cfg);
	pgloop_done();
	return check_done();
}
