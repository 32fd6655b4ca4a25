/*
 * pg_discover.c: discover against real PostgreSQL 15 (test_units_pg.py):
 * a server without aurora_replica_status() is its own one instance; one
 * whose SQL function of that name returns Aurora's rows gives exactly the
 * live instances, named SERVER_ID.<the endpoint's domain>; an empty or
 * failing function, or no server, is a failure; a later discovery that
 * works clears it. PG_ADMIN is a superuser conninfo for the server.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "check.h"
#include "discover.h"
#include "instance.h"
#include "log.h"
#include "pgloop.h"

#define DOMAIN "abc123.test-1.rds.amazonaws.com"
#define MAX_FOUND 16

static struct config *cfg;

struct found {
	int calls;
	size_t n;
	struct { char host[256]; int port; char role[16]; } inst[MAX_FOUND];
	char error[1200];
	bool failing;	/* discover_failing() at the call */
};

static void
on_found(void *arg, struct discover *d, const struct found_instance *fi, size_t n,
	 const char *error)
{
	struct found *f = arg;

	f->calls++;
	f->n = n;
	f->failing = discover_failing(d);
	snprintf(f->error, sizeof(f->error), "%s", error ? error : "");
	for (size_t i = 0; i < n && i < MAX_FOUND; i++) {
		snprintf(f->inst[i].host, sizeof(f->inst[i].host), "%s", fi[i].host);
		f->inst[i].port = fi[i].port;
		snprintf(f->inst[i].role, sizeof(f->inst[i].role), "%s",
			 fi[i].role ? fi[i].role : "(null)");
	}
}

struct want_calls {
	const struct found *f;
	int calls;
};

static bool
called(void *arg)
{
	const struct want_calls *w = arg;

	return w->f->calls >= w->calls;
}

/* One discovery of cluster `name` (--once: it is not repeated). */
static void
discover_once(const char *name, struct found *f)
{
	struct evdns_base *dns = pgloop_dns(NULL);
	struct poller_env env = { .base = base, .dns = dns, .cfg = cfg, .once = true };
	struct want_calls w = { f, 1 };
	struct discover *d;

	memset(f, 0, sizeof(*f));
	d = discover_new(&env, pgloop_cluster(cfg, name), on_found, f);
	CHECK(d != NULL);
	CHECK(pgloop_until(called, &w, 10000));
	pgloop_run_ms(100);
	CHECK_INT(f->calls, 1);		/* once: no second discovery */
	discover_free(d);
	evdns_base_free(dns, 1);
}

/* The index of host in f, or -1. */
static int
find(const struct found *f, const char *host)
{
	for (size_t i = 0; i < f->n && i < MAX_FOUND; i++) {
		if (strcmp(f->inst[i].host, host) == 0)
			return (int)i;
	}
	fprintf(stderr, "  %s not found\n", host);
	return -1;
}

static void
expect(const struct found *f, const char *host, int port, const char *role)
{
	int i = find(f, host);

	CHECK(i >= 0);
	if (i >= 0) {
		CHECK_INT(f->inst[i].port, port);
		CHECK_STR(f->inst[i].role, role);
	}
}

static void
test_aurora(void)
{
	const struct cluster_cfg *c = pgloop_cluster(cfg, "aurora");
	int port = c->instances[0].port;
	struct found f;

	discover_once("aurora", &f);
	CHECK_STR(f.error, "");
	CHECK(!f.failing);
	CHECK_INT(f.n, 4);
	expect(&f, "inst-w." DOMAIN, port, "writer");
	expect(&f, "inst-r." DOMAIN, port, "reader");
	expect(&f, "inst-nosession." DOMAIN, port, "reader");
	expect(&f, "inst-nots." DOMAIN, port, "reader");	/* NULL timestamp: live */
}

static void
test_not_aurora(void)
{
	const struct cluster_cfg *c = pgloop_cluster(cfg, "plainpg");
	struct found f;

	discover_once("plainpg", &f);
	CHECK_STR(f.error, "");
	CHECK(!f.failing);
	CHECK_INT(f.n, 1);
	CHECK_STR(f.inst[0].host, "127.0.0.1");
	CHECK_INT(f.inst[0].port, c->instances[0].port);
	CHECK_STR(f.inst[0].role, "(null)");
}

static bool
contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		return true;
	fprintf(stderr, "  \"%s\" not in \"%s\"\n", needle, hay);
	return false;
}

static void
test_failures(void)
{
	struct found f;

	discover_once("empty", &f);
	CHECK_INT(f.n, 0);
	CHECK(f.failing);
	CHECK(contains(f.error, "discovery failed: aurora_replica_status() listed no live instance"));

	discover_once("broken", &f);
	CHECK_INT(f.n, 0);
	CHECK(f.failing);
	CHECK(contains(f.error, "replica status unavailable"));

	discover_once("down", &f);
	CHECK_INT(f.n, 0);
	CHECK(f.failing);
	CHECK(contains(f.error, "discovery failed: "));
}

static void
admin_sql(const char *sql)
{
	PGconn *conn = PQconnectdb(pgloop_env("PG_ADMIN"));
	PGresult *r = PQexec(conn, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(conn));
		exit(2);
	}
	PQclear(r);
	PQfinish(conn);
}

/* Not --once: discovery repeats at discover_interval; success after a
 * failure clears it. */
static void
test_recovers(void)
{
	struct evdns_base *dns = pgloop_dns(NULL);
	struct poller_env env = { .base = base, .dns = dns, .cfg = cfg, .once = false };
	struct found f = { 0 };
	struct want_calls w = { &f, 1 };
	struct discover *d = discover_new(&env, pgloop_cluster(cfg, "flip"), on_found, &f);

	CHECK(pgloop_until(called, &w, 10000));
	CHECK(f.failing);
	CHECK(discover_failing(d));
	admin_sql("CREATE OR REPLACE FUNCTION aurora_replica_status() "
		  "RETURNS TABLE (server_id text, session_id text, last_update_timestamp timestamptz) "
		  "LANGUAGE sql AS $$ VALUES ('inst-x', 'MASTER_SESSION_ID', now()) $$");
	w.calls = f.calls + 2;	/* the next may be under way already */
	CHECK(pgloop_until(called, &w, 10000));
	CHECK(!f.failing);
	CHECK(!discover_failing(d));
	CHECK_INT(f.n, 1);
	CHECK_STR(f.inst[0].host, "inst-x." DOMAIN);
	CHECK_STR(f.inst[0].role, "writer");
	discover_free(d);
	evdns_base_free(dns, 1);
}

/* Freed before and while its connection is made: no callback, and ASan
 * sees no use after free. */
static void
test_free_early(void)
{
	struct evdns_base *dns = pgloop_dns(NULL);
	struct poller_env env = { .base = base, .dns = dns, .cfg = cfg, .once = true };
	struct found f = { 0 };
	struct discover *d = discover_new(&env, pgloop_cluster(cfg, "aurora"), on_found, &f);

	discover_free(d);
	d = discover_new(&env, pgloop_cluster(cfg, "aurora"), on_found, &f);
	/* One pass: the timer starts the connection. (EVLOOP_NONBLOCK alone
	 * goes on while events are active: on a loaded machine a fast server
	 * lets it run the whole discovery.) */
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	discover_free(d);
	pgloop_run_ms(200);
	CHECK_INT(f.calls, 0);
	if (f.calls)
		fprintf(stderr, "  called: n=%zu error=\"%s\" first=%s\n", f.n, f.error,
			f.n ? f.inst[0].host : "-");
	event_base_loop(base, EVLOOP_NONBLOCK);
	evdns_base_free(dns, 1);
}

int
main(void)
{
	log_init("pg_discover", LVL_INFO);
	pgloop_init();
	cfg = pgloop_config("PG_CONF");

	test_aurora();
	test_not_aurora();
	test_failures();
	test_recovers();
	test_free_early();

	config_free(cfg);
	pgloop_done();
	return check_done();
}
