/*
 * test_poolrows.c: PgBouncer admin-console rows (daemon/poolrows.c) over
 * real PGresults built with libpq's own PQmakeEmptyPGresult/PQsetvalue, in
 * the column sets of PgBouncer 1.18, 1.21 and 1.22, 1.23 and 1.24
 * (src/admin.c socket_header of each tag), and the poolmatch
 * (daemon/poolmatch.c) that the instances' polls ask.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "check.h"
#include "parse.h"
#include "pollrec.h"
#include "poolmatch.h"
#include "poolrows.h"
#include "tracker.h"

/* SHOW CLIENTS / SHOW SERVERS columns, by version. */
static const char *const v118[] = { "type", "user", "database", "state", "addr", "port",
	"local_addr", "local_port", "connect_time", "request_time", "wait", "wait_us",
	"close_needed", "ptr", "link", "remote_pid", "tls", "application_name", NULL };
static const char *const v121[] = { "type", "user", "database", "state", "addr", "port",
	"local_addr", "local_port", "connect_time", "request_time", "wait", "wait_us",
	"close_needed", "ptr", "link", "remote_pid", "tls", "application_name",
	"prepared_statements", NULL };	/* 1.22 too */
static const char *const v123[] = { "type", "user", "database", "replication", "state", "addr",
	"port", "local_addr", "local_port", "connect_time", "request_time", "wait", "wait_us",
	"close_needed", "ptr", "link", "remote_pid", "tls", "application_name",
	"prepared_statements", NULL };
static const char *const v124[] = { "type", "user", "database", "replication", "state", "addr",
	"port", "local_addr", "local_port", "connect_time", "request_time", "wait", "wait_us",
	"close_needed", "ptr", "link", "remote_pid", "tls", "application_name",
	"prepared_statements", "id", NULL };
static const char *const *const versions[] = { v118, v121, v123, v124 };
static const char *const version_names[] = { "1.18", "1.21/1.22", "1.23", "1.24" };

/* One row by column name; columns not named get "" (as PgBouncer prints). */
struct cell {
	const char *col, *val;
};

static PGresult *
result(const char *const *cols)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc att[32];
	int n = 0;

	memset(att, 0, sizeof(att));
	for (; cols[n]; n++)
		att[n].name = (char *)(uintptr_t)cols[n];
	if (res == NULL || !PQsetResultAttrs(res, n, att))
		abort();
	return res;
}

static void
row(PGresult *res, const struct cell *cells)
{
	int r = PQntuples(res);

	for (int c = 0; c < PQnfields(res); c++) {
		const char *v = "";

		for (const struct cell *x = cells; x->col; x++)
			if (strcmp(x->col, PQfname(res, c)) == 0)
				v = x->val;
		if (!PQsetvalue(res, r, c, (char *)(uintptr_t)v, (int)strlen(v)))
			abort();
	}
}

static void
client(PGresult *res, const char *user, const char *db, const char *port, const char *tls,
       const char *app, const char *id)
{
	const struct cell c[] = { { "type", "C" }, { "user", user }, { "database", db },
		{ "state", "active" }, { "addr", "10.1.2.3" }, { "port", port },
		{ "local_addr", "10.0.0.9" }, { "local_port", "6432" },
		{ "connect_time", "2026-12-03 12:33:48 UTC" }, { "tls", tls },
		{ "application_name", app }, { "id", id }, { NULL, NULL } };

	row(res, c);
}

static void
test_columns_every_version(void)
{
	for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
		PGresult *res = result(versions[v]);
		struct poolrows_cols c;
		struct pool_sock s;
		char err[256];

		client(res, "modern_app", "orders", "40001", "TLSv1.3/TLS_AES_256_GCM_SHA384",
		       "lambda-orders", "77");
		if (poolrows_columns(res, "SHOW CLIENTS", &c, err, sizeof(err)) != NULL) {
			fprintf(stderr, "version %s: %s\n", version_names[v], err);
			CHECK(0);
			PQclear(res);
			continue;
		}
		CHECK_INT(poolrows_decode(res, 0, &c, &s), POOLROW_OK);
		CHECK_INT(s.type, 'C');
		CHECK_STR(s.user, "modern_app");
		CHECK_STR(s.database, "orders");
		CHECK_STR(s.addr, "10.1.2.3");
		CHECK_INT(s.port, 40001);
		CHECK_STR(s.local_addr, "10.0.0.9");
		CHECK_INT(s.local_port, 6432);
		CHECK_STR(s.application, "lambda-orders");
		CHECK_STR(s.tls, "TLSv1.3/TLS_AES_256_GCM_SHA384");
		CHECK_INT(s.connect_us, INT64_C(1796301228) * 1000000);
		/* `id` only from 1.24 on. */
		CHECK_INT(s.id, v == 3 ? 77 : -1);
		PQclear(res);
	}
}

static void
test_missing_and_odd(void)
{
	static const char *const no_tls[] = { "type", "user", "database", "addr", "port",
		"local_addr", "local_port", "connect_time", "application_name", NULL };
	PGresult *res = result(no_tls);
	struct poolrows_cols c;
	struct pool_sock s;
	char err[256];

	CHECK_STR(poolrows_columns(res, "SHOW CLIENTS", &c, err, sizeof(err)),
		  "SHOW CLIENTS returned no column 'tls' (not a PgBouncer admin console, or a "
		  "version whose columns sslhist does not know)");
	PQclear(res);

	/* Unknown extra columns are ignored; bad values are rejected by row. */
	static const char *const extra[] = { "zz_new", "type", "user", "database", "addr",
		"port", "local_addr", "local_port", "connect_time", "tls", "application_name",
		"zz_other", NULL };
	res = result(extra);
	client(res, "u", "d", "70000", "", "a", "");
	client(res, "u", "d", "1", "", "a", "");
	row(res, (const struct cell[]){ { "type", "X" }, { NULL, NULL } });
	row(res, (const struct cell[]){ { "type", "C" }, { "connect_time", "yesterday" },
		{ NULL, NULL } });
	CHECK(poolrows_columns(res, "SHOW CLIENTS", &c, err, sizeof(err)) == NULL);
	CHECK_INT(poolrows_decode(res, 0, &c, &s), POOLROW_BAD_PORT);
	CHECK_INT(poolrows_decode(res, 1, &c, &s), POOLROW_OK);
	CHECK(s.tls != NULL && s.tls[0] == '\0');
	CHECK_INT(poolrows_decode(res, 2, &c, &s), POOLROW_BAD_TYPE);
	CHECK_INT(poolrows_decode(res, 3, &c, &s), POOLROW_BAD_TIME);
	PQclear(res);

	/* An error result is named. */
	res = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
	CHECK(poolrows_columns(res, "SHOW SERVERS", &c, err, sizeof(err)) != NULL);
	CHECK(strncmp(err, "SHOW SERVERS failed", 19) == 0);
	PQclear(res);
}

static void
test_tls(void)
{
	char v[64], c[128];

	CHECK(!poolrows_tls("", v, sizeof(v), c, sizeof(c)));
	CHECK(!poolrows_tls(NULL, v, sizeof(v), c, sizeof(c)));
	CHECK(poolrows_tls("TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519", v, sizeof(v), c,
			   sizeof(c)));
	CHECK_STR(v, "TLSv1.3");
	CHECK_STR(c, "TLS_AES_256_GCM_SHA384");
	CHECK(poolrows_tls("TLSv1.2/ECDHE-RSA-AES128-GCM-SHA256", v, sizeof(v), c, sizeof(c)));
	CHECK_STR(v, "TLSv1.2");
	CHECK_STR(c, "ECDHE-RSA-AES128-GCM-SHA256");
	CHECK(poolrows_tls("TLSv1", v, sizeof(v), c, sizeof(c)));
	CHECK_STR(v, "TLSv1");
	CHECK_STR(c, "");
	/* Cut to fit, never overrun. */
	CHECK(poolrows_tls("TLSv1.3/TLS_AES_256_GCM_SHA384", v, 4, c, 5));
	CHECK_STR(v, "TLS");
	CHECK_STR(c, "TLS_");

	int64_t us;

	CHECK(poolrows_time("2026-12-03 12:33:48 UTC", &us));
	CHECK_INT(us, INT64_C(1796301228) * 1000000);
	CHECK(poolrows_time("2026-12-03 12:33:48", &us));
	CHECK(!poolrows_time("2026-12-03T12:33:48Z", &us));
	CHECK(!poolrows_time("", &us));
}

static void
test_config(void)
{
	static const char *const cols[] = { "key", "value", "default", "changeable", NULL };
	PGresult *res = result(cols);
	struct pooler_facts f = { NULL, NULL, NULL };

	row(res, (const struct cell[]){ { "key", "client_tls_sslmode" }, { "value", "disable" },
		{ NULL, NULL } });
	row(res, (const struct cell[]){ { "key", "server_tls_sslmode" },
		{ "value", "verify-full" }, { NULL, NULL } });
	row(res, (const struct cell[]){ { "key", "server_tls_ca_file" },
		{ "value", "/etc/pgbouncer/rds-ca.pem" }, { NULL, NULL } });
	row(res, (const struct cell[]){ { "key", "listen_port" }, { "value", "6432" },
		{ NULL, NULL } });
	CHECK(poolrows_config(res, &f) == NULL);
	CHECK_STR(f.client_tls_sslmode, "disable");
	CHECK_STR(f.server_tls_sslmode, "verify-full");
	CHECK_STR(f.server_tls_ca_file, "/etc/pgbouncer/rds-ca.pem");
	free(f.client_tls_sslmode);
	free(f.server_tls_sslmode);
	free(f.server_tls_ca_file);
	PQclear(res);
}

static const struct client_obs *
obs(const struct poll_record *r, const char *app)
{
	for (size_t i = 0; i < r->nclients; i++)
		if (r->clients[i].key.application && strcmp(r->clients[i].key.application, app) == 0)
			return &r->clients[i];
	return NULL;
}

/* One poll of `res` into a fresh record. */
static struct poll_record *
poll(struct tracker *t, const PGresult *res, struct poolrec_out *out)
{
	struct strlist ex = { NULL, 0 };
	const struct poolrec_ctx ctx = { .tracker = t, .exclude_users = &ex };
	struct poll_record *r = calloc(1, sizeof(*r));

	CHECK(poolrec_build(&ctx, res, r, out) == NULL);
	return r;
}

static void
test_record(void)
{
	struct tracker *t = tracker_new();
	struct poolrec_out out;
	struct poll_record *r;
	const struct client_obs *o;
	PGresult *res = result(v118);

	client(res, "modern_app", "orders", "40001", "", "lambda-orders", "");
	client(res, "modern_app", "orders", "40002", "", "lambda-orders", "");
	client(res, "app2", "orders", "40003", "TLSv1.3/TLS_AES_256_GCM_SHA384", "tls-app", "");
	client(res, "mon", "pgbouncer", "40004", "", "sslhistd", "");	/* the console */
	client(res, "(nouser)", "(nodb)", "40005", "", "", "");		/* logging in */
	client(res, "evil", "orders", "40006", "", "x\x1b[31m$(id)", "");
	r = poll(t, res, &out);
	CHECK_INT(out.clients, 4);
	CHECK_INT(r->n_new, 4);
	CHECK_INT(r->nclients, 3);
	CHECK(!r->counters_known);
	o = obs(r, "lambda-orders");
	CHECK(o != NULL);
	if (o != NULL) {
		CHECK_INT(o->new_sessions, 2);
		CHECK(!o->key.ssl);
		CHECK(o->key.tls_version == NULL);
		CHECK_STR(o->key.client_addr, "10.1.2.3");
		CHECK(o->key.pooler_server == NULL);
	}
	o = obs(r, "tls-app");
	CHECK(o != NULL);
	if (o != NULL) {
		CHECK(o->key.ssl);
		CHECK_STR(o->key.tls_version, "TLSv1.3");
		CHECK_STR(o->key.cipher, "TLS_AES_256_GCM_SHA384");
		CHECK_INT(o->key.bits, -1);
	}
	CHECK(obs(r, "x\x1b[31m$(id)") != NULL);	/* bytes kept; readers escape */
	poll_record_free(r);

	/* The same rows again: nothing new. */
	r = poll(t, res, &out);
	CHECK_INT(r->n_new, 0);
	CHECK_INT(r->n_ended, 0);
	poll_record_free(r);
	PQclear(res);

	/* One ended, one renamed (SET application_name through the pooler). */
	res = result(v118);
	client(res, "modern_app", "orders", "40001", "", "lambda-orders", "");
	client(res, "app2", "orders", "40003", "TLSv1.3/TLS_AES_256_GCM_SHA384", "renamed", "");
	client(res, "evil", "orders", "40006", "", "x\x1b[31m$(id)", "");
	r = poll(t, res, &out);
	CHECK_INT(r->n_new, 1);
	CHECK_INT(r->n_ended, 2);
	CHECK(obs(r, "renamed") != NULL);
	CHECK(r->n_new == 1 && r->new_sessions[0].moved);
	poll_record_free(r);
	PQclear(res);
	tracker_free(t);
}

static void
test_pid(void)
{
	struct pool_sock a = { .addr = "10.1.2.3", .port = 40001, .id = -1 };
	struct pool_sock b = { .addr = "10.1.2.3", .port = 40002, .id = -1 };
	struct pool_sock c = { .addr = "10.1.2.3", .port = 40001, .id = 5 };

	CHECK(poolrows_pid(&a) > 0);
	CHECK(poolrows_pid(&a) != poolrows_pid(&b));
	CHECK_INT(poolrows_pid(&c), 6);
}

static void
test_poolmatch(void)
{
	struct poolmatch *pm = poolmatch_new();
	const struct pool_server srv[] = { { "10.0.0.9", 51000, "modern_app" },
		{ "10.0.0.9", 51001, "app2" } };
	const char *name;

	CHECK(pm != NULL);
	CHECK_INT(poolmatch_add(pm, "pb1", "main"), 0);
	/* Before the pooler's first attempt ends, new sessions wait ... */
	CHECK_INT(poolmatch_classify(pm, "main", "10.9.9.9", 1234, "x", 100, 1, &name),
		  PM_WAIT);
	/* ... but not those of another cluster. */
	CHECK_INT(poolmatch_classify(pm, "other", "10.0.0.9", 51000, "modern_app", 101, 1, &name), PM_CLIENT);
	CHECK_INT(poolmatch_set(pm, "pb1", srv, 2), 0);
	CHECK_INT(poolmatch_classify(pm, "main", "10.0.0.9", 51000, "modern_app", 102, 1, &name), PM_POOLER);
	CHECK_STR(name, "pb1");
	/* Its port but another user: not the pooler's. */
	CHECK(poolmatch_classify(pm, "main", "10.0.0.9", 51000, "intruder", 103, 1, &name) != PM_POOLER);
	/* The pooler's address, an unknown port: waits for two pooler polls. */
	CHECK_INT(poolmatch_classify(pm, "main", "10.0.0.9", 52000, "app3", 104, 1, &name), PM_WAIT);
	CHECK_INT(poolmatch_classify(pm, "main", "10.0.0.9", 52000, "app3", 104, 1, &name), PM_WAIT);
	CHECK_INT(poolmatch_set(pm, "pb1", srv, 2), 0);
	CHECK_INT(poolmatch_set(pm, "pb1", srv, 2), 0);
	CHECK_INT(poolmatch_classify(pm, "main", "10.0.0.9", 52000, "app3", 104, 1, &name), PM_CLIENT);
	/* The one that waited first (pid 100) is now known not to be the pooler's. */
	CHECK_INT(poolmatch_classify(pm, "main", "10.9.9.9", 1234, "x", 100, 1, &name),
		  PM_CLIENT);
	/* Another address: recorded at once. */
	CHECK_INT(poolmatch_classify(pm, "main", "10.5.5.5", 1, "x", 105, 1, &name),
		  PM_CLIENT);
	/* A failing pooler holds nothing back and claims nothing. */
	poolmatch_failed(pm, "pb1");
	CHECK_INT(poolmatch_classify(pm, "main", "10.0.0.9", 51000, "modern_app", 106, 1, &name), PM_CLIENT);
	poolmatch_remove(pm, "pb1");
	CHECK_INT(poolmatch_classify(pm, "main", "10.0.0.9", 51000, "modern_app", 107, 1, &name), PM_CLIENT);
	poolmatch_free(pm);
}

int
main(void)
{
	test_columns_every_version();
	test_missing_and_odd();
	test_tls();
	test_config();
	test_record();
	test_pid();
	test_poolmatch();
	return check_done();
}
