/*
 * pg_fleet.c: fleet_apply against a real PostgreSQL 15 server
 * (test_units_pg.py), a real store and a real writer. The configuration's
 * entries become instances that poll; a reload (PG_CONF2) keeps the
 * unchanged cluster's connection (the same backend on the server), restarts
 * the one whose connection settings changed, starts the new one, stops the
 * removed ones and marks them retired in the store; reloading back brings
 * a retired instance back. Each cluster polls its own database, so the
 * server's pg_stat_activity says which connections exist.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "check.h"
#include "fleet.h"
#include "instance.h"
#include "log.h"
#include "pgloop.h"
#include "store.h"
#include "writer.h"

static struct fleet *fleet;

/* Appends the strings (NULL-terminated list) to buf, truncating at len. */
static void
append(char *buf, size_t len, ...)
{
	size_t n = strlen(buf);
	va_list ap;
	const char *s;

	va_start(ap, len);
	while ((s = va_arg(ap, const char *)) != NULL) {
		size_t k = strlen(s);
		if (k > len - 1 - n)
			k = len - 1 - n;
		memcpy(buf + n, s, k);
		n += k;
	}
	buf[n] = '\0';
	va_end(ap);
}

/* ---- what the server sees ---- */

struct backends {
	const char *want;	/* "db:count,..." in datname order */
	char got[512];
	int keep_pid;		/* the backend of keepdb */
	int64_t next_check;
};

static void
read_backends(struct backends *b)
{
	PGconn *conn = PQconnectdb(pgloop_env("PG_ADMIN"));
	PGresult *r = PQexec(conn, "SELECT datname, count(*), min(pid) FROM pg_stat_activity "
			     "WHERE application_name = 'sslhistd' GROUP BY datname ORDER BY datname");
	b->got[0] = '\0';
	b->keep_pid = 0;
	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
		append(b->got, sizeof(b->got), i ? "," : "", PQgetvalue(r, i, 0), ":",
		       PQgetvalue(r, i, 1), (char *)NULL);
		if (strcmp(PQgetvalue(r, i, 0), "keepdb") == 0)
			b->keep_pid = atoi(PQgetvalue(r, i, 2));
	}
	PQclear(r);
	PQfinish(conn);
}

static bool
backends_are(void *arg)
{
	struct backends *b = arg;

	if (pgloop_now() < b->next_check)
		return false;
	b->next_check = pgloop_now() + 100;	/* the loop runs in between */
	read_backends(b);
	return strcmp(b->got, b->want) == 0;
}

static void
expect_backends(struct backends *b, const char *want)
{
	b->want = want;
	b->next_check = 0;
	if (!pgloop_until(backends_are, b, 15000))
		fprintf(stderr, "  backends: got %s, want %s\n", b->got, want);
	CHECK_STR(b->got, want);
}

struct want_ok {
	size_t instances;
};

static bool
all_ok(void *arg)
{
	const struct want_ok *w = arg;
	struct fleet_status st;

	fleet_status(fleet, &st);
	return st.instances == w->instances && st.ok == w->instances;
}

/* ---- what the store holds ---- */

/* "cluster/host:retired,..." of every instance row, in id order. */
static void
store_rows(char *out, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	out[0] = '\0';
	if (sqlite3_open_v2(pgloop_env("PG_DB"), &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT cluster, host, retired_at IS NOT NULL FROM instance "
			       "ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
		snprintf(out, len, "sqlite: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		append(out, len, out[0] ? "," : "", (const char *)sqlite3_column_text(st, 0), "/",
		       (const char *)sqlite3_column_text(st, 1), ":",
		       sqlite3_column_int(st, 2) ? "retired" : "live", (char *)NULL);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
expect_store(const char *want)
{
	char got[1024];

	store_rows(got, sizeof(got));
	CHECK_STR(got, want);
}

static void
expect_instances(size_t n)
{
	struct want_ok w = { n };
	struct fleet_status st;
	const struct instance *late_one;
	int64_t late;

	CHECK(pgloop_until(all_ok, &w, 15000));
	fleet_status(fleet, &st);
	CHECK_INT(st.instances, n);
	CHECK_INT(st.ok, n);
	CHECK_INT(st.failing, 0);
	late_one = fleet_most_overdue(fleet, pgloop_now(), &late);
	CHECK(late_one == NULL || late < 5000);
}

int
main(void)
{
	char err[512];
	struct config *cfg1, *cfg2;
	struct store *store;
	struct evdns_base *dns;
	struct poller_env env;
	struct backends b = { 0 };
	int keep_pid;
	char *own_users;

	log_init("pg_fleet", LVL_INFO);
	pgloop_init();
	cfg1 = pgloop_config("PG_CONF");
	cfg2 = pgloop_config("PG_CONF2");
	dns = pgloop_dns(NULL);
	store = store_open(pgloop_env("PG_DB"), err, sizeof(err));
	if (store == NULL) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	env = (struct poller_env){ .base = base, .dns = dns,
		.writer = writer_new(base, store, NULL, NULL), .cfg = cfg1,
		.own_users = own_users = instance_own_users(cfg1) };
	fleet = fleet_new(&env, NULL, NULL);
	CHECK(env.writer && env.own_users && fleet);

	/* Every entry of the configuration is an instance, and polls. */
	CHECK_INT(fleet_apply(fleet, NULL), 0);
	expect_instances(5);
	expect_backends(&b, "chgdb:1,gonedb:1,keepdb:1,postgres:2");
	keep_pid = b.keep_pid;
	CHECK(keep_pid > 0);
	expect_store("keep/127.0.0.1:live,chg/127.0.0.1:live,gone/127.0.0.1:live,"
		     "two/127.0.0.1:live,two/localhost:live");

	/* Reload: keep stays, chg restarts on its new database, gone and one
	 * of two's instances stop, new starts. */
	env.cfg = cfg2;
	CHECK_INT(fleet_apply(fleet, cfg1), 0);
	expect_instances(4);
	expect_backends(&b, "chgdb2:1,keepdb:1,newdb:1,postgres:1");
	CHECK_INT(b.keep_pid, keep_pid);
	expect_store("keep/127.0.0.1:live,chg/127.0.0.1:live,gone/127.0.0.1:retired,"
		     "two/127.0.0.1:live,two/localhost:retired,new/127.0.0.1:live");

	/* And back: the retired instances return, their rows too. */
	env.cfg = cfg1;
	CHECK_INT(fleet_apply(fleet, cfg2), 0);
	expect_instances(5);
	expect_backends(&b, "chgdb:1,gonedb:1,keepdb:1,postgres:2");
	CHECK_INT(b.keep_pid, keep_pid);
	expect_store("keep/127.0.0.1:live,chg/127.0.0.1:live,gone/127.0.0.1:live,"
		     "two/127.0.0.1:live,two/localhost:live,new/127.0.0.1:retired");

	fleet_free(fleet);
	writer_free(env.writer);
	free(own_users);
	event_base_loop(base, EVLOOP_NONBLOCK);
	evdns_base_free(dns, 1);
	store_close(store);
	config_free(cfg1);
	config_free(cfg2);
	pgloop_done();
	return check_done();
}
