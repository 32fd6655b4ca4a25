/*
 * test_pollrec.c: the rows of a poll -> poll record step (pollrec_build),
 * over real libpq results built without a server (PQmakeEmptyPGresult,
 * binary format as the poll query returns them) and a real tracker, poll
 * after poll: new and known sessions, clients merged by identity, a
 * renamed application_name (in a full row and in an identity-only one),
 * ended sessions and single-poll ones, the session counters of PG 14+
 * (missed sessions, resets, dropped databases, none before 14), own and
 * excluded sessions, and hostile rows (skipped by reason; odd bytes kept).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "check.h"
#include "ident.h"
#include "parse.h"
#include "pollrec.h"
#include "statquery.h"
#include "tracker.h"

#define PG_EPOCH_US (INT64_C(946684800) * 1000000)
#define T0 (INT64_C(1795852800) * 1000000)	/* 2026-11-28T08:00:00Z */

/* ---- building results ---- */

static PGresult *
result_new(int ncols, int format)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	static char name[] = "c";
	PGresAttDesc att[STATQ_COL_COUNT + 1];

	memset(att, 0, sizeof(att));
	for (int i = 0; i < ncols; i++) {
		att[i].name = name;
		att[i].format = format;
	}
	if (res == NULL || !PQsetResultAttrs(res, ncols, att))
		abort();
	return res;
}

static void
put(PGresult *res, int row, int col, const void *v, int n)
{
	if (!PQsetvalue(res, row, col, (char *)(uintptr_t)v, n))
		abort();
}

static void
put_int(PGresult *res, int row, int col, uint64_t v, int n)
{
	char b[8];

	for (int i = 0; i < n; i++)
		b[i] = (char)(v >> (8 * (n - 1 - i)));
	put(res, row, col, b, n);
}

static void
put_text(PGresult *res, int row, int col, const char *s)
{
	if (s != NULL)
		put(res, row, col, s, (int)strlen(s));
	else
		put(res, row, col, NULL, -1);
}

/* A session row. kind 'o' sends the identity only, as the query does. */
struct sess {
	char kind;
	int32_t pid;
	int64_t start_us;	/* Unix */
	const char *db, *user, *app, *addr;
	bool ssl, own;
};

static int
add_row(PGresult *res, char kind)
{
	int row = PQntuples(res);
	char k[2] = { kind, '\0' };

	put(res, row, STATQ_COL_KIND, k, 1);
	return row;
}

static void
add_session(PGresult *res, const struct sess *s)
{
	int row = add_row(res, s->kind);

	put_int(res, row, STATQ_COL_PID, (uint32_t)s->pid, 4);
	put_int(res, row, STATQ_COL_BACKEND_START, (uint64_t)(s->start_us - PG_EPOCH_US), 8);
	put_text(res, row, STATQ_COL_APPLICATION, s->app);
	if (s->kind == 'o')
		return;
	put_text(res, row, STATQ_COL_DATNAME, s->db);
	put_text(res, row, STATQ_COL_USENAME, s->user);
	put_text(res, row, STATQ_COL_CLIENT_ADDR, s->addr);
	put_int(res, row, STATQ_COL_SSL, s->ssl, 1);
	if (s->ssl) {
		put_text(res, row, STATQ_COL_VERSION, "TLSv1.3");
		put_text(res, row, STATQ_COL_CIPHER, "TLS_AES_256_GCM_SHA384");
		put_int(res, row, STATQ_COL_BITS, 256, 4);
		put_text(res, row, STATQ_COL_CLIENT_DN, "");	/* no certificate */
	}
	put_int(res, row, STATQ_COL_OWN, s->own, 1);
}

static void
add_db(PGresult *res, uint32_t datid, const char *name, int64_t sessions, const char *reset)
{
	int row = add_row(res, 'd');

	put_int(res, row, STATQ_D_DATID, datid, 4);
	put_text(res, row, STATQ_D_DATNAME, name);
	put_int(res, row, STATQ_COL_SESSIONS, (uint64_t)sessions, 8);
	put_text(res, row, STATQ_COL_STATS_RESET, reset);
}

static void
add_time(PGresult *res, int64_t us)
{
	put_int(res, add_row(res, 't'), STATQ_T_TIME, (uint64_t)(us - PG_EPOCH_US), 8);
}

/* ---- running polls ---- */

static char rdsadmin[] = "rdsadmin";
static char *xu[] = { rdsadmin, NULL }, *xd[] = { rdsadmin, NULL };
static const struct strlist ex_users = { xu, 1 }, ex_dbs = { xd, 1 };

struct poll {
	struct poll_record *r;
	struct pollrec_out out;
	const char *err;
};

/* Builds the record of `res` (freed) against tracker t. */
static struct poll
run_version(struct tracker *t, PGresult *res, int version)
{
	struct pollrec_ctx ctx = { .tracker = t, .server_version = version,
		.exclude_users = &ex_users, .exclude_databases = &ex_dbs };
	struct poll p = { .r = calloc(1, sizeof(struct poll_record)) };

	if (p.r == NULL)
		abort();
	p.err = pollrec_build(&ctx, res, p.r, &p.out);
	PQclear(res);
	return p;
}

static struct poll
run(struct tracker *t, PGresult *res)
{
	return run_version(t, res, 150000);
}

static void
done(struct poll *p)
{
	poll_record_free(p->r);
	p->r = NULL;
}

static const struct client_obs *
client(const struct poll_record *r, const char *app)
{
	for (size_t i = 0; i < r->nclients; i++)
		if (ident_str_eq(r->clients[i].key.application, app))
			return &r->clients[i];
	return NULL;
}

static const struct db_counter *
counter(const struct poll_record *r, uint32_t datid)
{
	for (size_t i = 0; i < r->ncounters; i++)
		if (r->counters[i].datid == datid)
			return &r->counters[i];
	return NULL;
}

static const struct session_ref *
ended(const struct poll_record *r, int32_t pid)
{
	for (size_t i = 0; i < r->n_ended; i++)
		if (r->ended_sessions[i].pid == pid)
			return &r->ended_sessions[i];
	return NULL;
}

/* The missed count stored for datid; -2 when its counter is not stored. */
static int64_t
missed_of(const struct poll_record *r, uint32_t datid)
{
	const struct db_counter *c = counter(r, datid);

	return c ? c->missed : -2;
}

/* The ended ref of pid as "single_poll,moved" bits + 1; 0 when none. */
static int
ended_as(const struct poll_record *r, int32_t pid)
{
	const struct session_ref *e = ended(r, pid);

	return e ? 1 + e->single_poll + 2 * e->moved : 0;
}
#define ENDED 1
#define SINGLE 1
#define MOVED 2

static PGresult *
poll_rows(void)
{
	return result_new(STATQ_COL_COUNT, 1);
}

/* The sessions of the first poll. */
static const struct sess S1 = { 'a', 101, T0 + 1, "appdb", "app1", "web", "10.0.0.1", true, false };
static const struct sess S2 = { 'a', 102, T0 + 2, "appdb", "app1", "web", "10.0.0.1", true, false };
static const struct sess S3 = { 'a', 103, T0 + 3, "postgres", "app2", "batch", NULL, false, false };
static const struct sess OWN = { 'a', 104, T0 + 4, "postgres", "monitor", "sslhistd", "127.0.0.1",
	true, true };
static const struct sess XUSER = { 'a', 105, T0 + 5, "appdb", "rdsadmin", "rds", NULL, false,
	false };
static const struct sess XDB = { 'a', 106, T0 + 6, "rdsadmin", "app1", "web", NULL, false, false };

static struct sess
as_old(struct sess s)
{
	s.kind = 'o';
	return s;
}

/* ---- new, known and ended sessions ---- */

static void
test_sessions(void)
{
	struct tracker *t = tracker_new();
	struct sess s4 = { 'a', 107, T0 + 7, "appdb", "app1", "web", "10.0.0.2", true, false };
	const struct client_obs *c;
	struct poll p;
	PGresult *res;

	/* Poll 1: every session is new; own and excluded ones are tracked,
	 * never recorded; same identity, one client. */
	res = poll_rows();
	add_time(res, T0 + 1000);
	for (const struct sess *s = (const struct sess[]){ S1, S2, S3, OWN, XUSER, XDB },
	     *e = s + 6; s < e; s++)
		add_session(res, s);
	add_db(res, 16384, "appdb", 10, "r1");
	add_db(res, 5, "postgres", 20, "r1");
	add_db(res, 7, "tmpdb", 1, "r1");
	p = run(t, res);
	CHECK_STR(p.err, NULL);
	CHECK_INT(p.out.snapshot_us, T0 + 1000);
	CHECK_INT(p.out.nwant, 0);
	CHECK_INT(p.r->nclients, 2);
	CHECK_INT(p.r->n_new, 3);
	CHECK_INT(p.r->n_ended, 0);
	CHECK_INT(tracker_count(t), 6);
	CHECK((c = client(p.r, "web")) != NULL);
	if (c) {
		CHECK_INT(c->new_sessions, 2);
		CHECK_INT(c->samples, 2);
		CHECK_STR(c->key.database, "appdb");
		CHECK_STR(c->key.tls_version, "TLSv1.3");
		CHECK_INT(c->key.bits, 256);
		CHECK_STR(c->key.client_dn, NULL);	/* '' is no certificate */
	}
	CHECK((c = client(p.r, "batch")) != NULL);
	if (c) {
		CHECK_INT(c->new_sessions, 1);
		CHECK(!c->key.ssl);
		CHECK_STR(c->key.cipher, NULL);
		CHECK_INT(c->key.bits, -1);
		CHECK_STR(c->key.client_addr, NULL);
	}
	for (size_t i = 0; i < p.r->n_new; i++) {
		const struct session_ref *n = &p.r->new_sessions[i];
		CHECK_STR(p.r->clients[n->client].key.application, n->pid == 103 ? "batch" : "web");
		CHECK(!n->moved);
	}
	/* No baseline yet: counters stored, nothing counted as missed. */
	CHECK(p.r->counters_known);
	CHECK_INT(p.r->ncounters, 3);
	CHECK_INT(missed_of(p.r, 16384), -1);
	CHECK(!p.r->baseline_known);
	done(&p);

	/* Poll 2: known sessions come by identity only and cost nothing; the
	 * own session is no longer listed, which ends nothing recorded. One
	 * new session in appdb, whose counter grew by 4: 3 missed. */
	res = poll_rows();
	add_time(res, T0 + 2000);
	for (const struct sess *s = (const struct sess[]){ as_old(S1), as_old(S2), as_old(S3),
	     as_old(XUSER), as_old(XDB), s4 }, *e = s + 6; s < e; s++)
		add_session(res, s);
	add_db(res, 16384, "appdb", 14, "r1");
	add_db(res, 5, "postgres", 20, "r1");
	add_db(res, 7, "tmpdb", 1, "r1");
	p = run(t, res);
	CHECK_STR(p.err, NULL);
	CHECK_INT(p.r->n_new, 1);
	CHECK_INT(p.r->nclients, 1);
	CHECK(client(p.r, "web") && client(p.r, "web")->key.client_addr &&
	      strcmp(client(p.r, "web")->key.client_addr, "10.0.0.2") == 0);
	CHECK_INT(p.r->n_ended, 0);
	CHECK_INT(p.r->ncounters, 1);
	CHECK_INT(missed_of(p.r, 16384), 3);
	CHECK(p.r->baseline_known);
	CHECK_INT(tracker_count(t), 6);
	done(&p);

	/* Poll 3: S2 (seen twice) and s4 (seen once) ended; the excluded
	 * session ended unrecorded; tmpdb was dropped. */
	res = poll_rows();
	add_time(res, T0 + 3000);
	for (const struct sess *s = (const struct sess[]){ as_old(S1), as_old(S3), as_old(XDB) },
	     *e = s + 3; s < e; s++)
		add_session(res, s);
	add_db(res, 16384, "appdb", 14, "r1");
	add_db(res, 5, "postgres", 20, "r1");
	p = run(t, res);
	CHECK_STR(p.err, NULL);
	CHECK_INT(p.r->n_new, 0);
	CHECK_INT(p.r->nclients, 0);
	CHECK_INT(p.r->n_ended, 2);
	CHECK_INT(ended_as(p.r, 102), ENDED);
	CHECK_INT(ended_as(p.r, 107), ENDED + SINGLE);
	CHECK_INT(ended_as(p.r, 105), 0);
	CHECK_INT(p.r->ncounters, 0);
	CHECK_INT(p.r->ndropped, 1);
	CHECK(p.r->ndropped == 1 && p.r->dropped[0] == 7);
	CHECK_INT(tracker_count(t), 3);
	done(&p);

	/* Poll 4: no rows at all (the server lists nothing): every recorded
	 * session ended; no time row leaves the caller's snapshot alone. */
	p = run(t, poll_rows());
	CHECK_STR(p.err, NULL);
	CHECK_INT(p.out.snapshot_us, 0);
	CHECK_INT(p.r->n_ended, 2);
	CHECK_INT(tracker_count(t), 0);
	done(&p);
	tracker_free(t);
}

/* A poll of the given sessions, no database rows. */
static struct poll
poll_of(struct tracker *t, const struct sess *s, size_t n)
{
	PGresult *res = poll_rows();

	for (size_t i = 0; i < n; i++)
		add_session(res, &s[i]);
	return run(t, res);
}

static void
test_renamed(void)
{
	struct tracker *t = tracker_new();
	struct sess s = S1, own = OWN;
	struct poll p;

	p = poll_of(t, &s, 1);
	CHECK_INT(p.r->n_new, 1);
	done(&p);

	/* SET application_name, seen in a full row: the session leaves its
	 * client for another; neither new nor ended for the instance. */
	s.app = "web2";
	p = poll_of(t, &s, 1);
	CHECK_INT(p.r->n_new, 1);
	CHECK_INT(p.r->n_ended, 1);
	CHECK(p.r->n_new == 1 && p.r->new_sessions[0].moved && p.r->new_sessions[0].pid == 101);
	CHECK_INT(ended_as(p.r, 101), ENDED + MOVED);
	CHECK(client(p.r, "web2") && client(p.r, "web2")->new_sessions == 1);
	done(&p);

	/* Renamed in an identity-only row: the rest of the identity is not
	 * there, so the next poll asks for it ($4)... */
	s = as_old(S1);
	s.app = "web3";
	p = poll_of(t, &s, 1);
	CHECK_INT(p.r->n_new, 0);
	CHECK_INT(p.r->n_ended, 0);
	CHECK_INT(p.out.nwant, 1);
	CHECK(p.out.nwant == 1 && p.out.want[0] == 101);
	done(&p);
	/* ... and moves it when the full row comes. */
	s.kind = 'a';
	p = poll_of(t, &s, 1);
	CHECK_INT(p.r->n_new, 1);
	CHECK_INT(p.r->n_ended, 1);
	CHECK(client(p.r, "web3") != NULL);
	CHECK_INT(p.out.nwant, 0);
	done(&p);

	/* NULL and '' are different names. */
	s.app = NULL;
	p = poll_of(t, &s, 1);
	CHECK_INT(p.r->n_new, 1);
	CHECK(p.r->nclients == 1 && p.r->clients[0].key.application == NULL);
	done(&p);
	s.app = "";
	p = poll_of(t, &s, 1);
	CHECK_INT(p.r->n_new, 1);
	CHECK(client(p.r, "") != NULL);
	done(&p);

	/* An own session that renames itself has no client to leave. */
	struct sess both[2] = { s, own };
	p = poll_of(t, both, 2);
	CHECK_INT(p.r->n_new, 0);
	done(&p);
	both[1].app = "sslhistd-2";
	p = poll_of(t, both, 2);
	CHECK_INT(p.r->n_new, 0);
	CHECK_INT(p.r->n_ended, 0);
	done(&p);

	/* A session met by identity only that the tracker does not know
	 * (not visible before, or its row was bad): asked for in full. */
	s = as_old(S2);
	p = poll_of(t, &s, 1);
	CHECK_INT(p.r->n_new, 0);
	CHECK(p.out.nwant == 1 && p.out.want[0] == 102);
	done(&p);
	tracker_free(t);
}

/* ---- session counters ---- */

/* A poll of the given sessions and one database row for appdb. */
static struct poll
poll_db(struct tracker *t, const struct sess *s, size_t n, int64_t sessions, const char *reset,
	int version)
{
	PGresult *res = poll_rows();

	for (size_t i = 0; i < n; i++)
		add_session(res, &s[i]);
	if (version >= STATQ_SESSIONS_VERSION)
		add_db(res, 16384, "appdb", sessions, reset);
	return run_version(t, res, version);
}

static void
test_counters(void)
{
	static const struct {
		const char *what;
		int64_t sessions;	/* appdb's counter at this poll */
		const char *reset;
		int new_seen;		/* new sessions in appdb in this poll */
		bool own;		/* one of them is the daemon's own */
		int64_t missed;		/* -2: the counter is not stored */
	} steps[] = {
		{ "first poll: no baseline", 100, "r1", 0, false, -1 },
		{ "nothing began", 100, "r1", 0, false, -2 },
		{ "5 began, none seen", 105, "r1", 0, false, 5 },
		{ "5 began, 2 seen", 110, "r1", 2, false, 3 },
		{ "an own session is seen too", 112, "r1", 2, true, 0 },
		{ "seen early (counter behind): never negative", 113, "r1", 3, false, 0 },
		{ "stats reset: no baseline", 4, "r2", 0, false, -1 },
		{ "counter went down: a reset", 2, "r2", 0, false, -1 },
		{ "counting again after the reset", 9, "r2", 1, false, 6 },
		{ "stats_reset NULL is a change too", 9, NULL, 0, false, -1 },
	};
	struct tracker *t = tracker_new();
	int32_t pid = 1000;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct sess s[3];
		struct poll p;
		const struct db_counter *c;

		for (int j = 0; j < steps[i].new_seen; j++) {
			pid++;
			s[j] = (struct sess){ 'a', pid, T0 + pid, "appdb", "app1", "web", NULL,
				false, steps[i].own && j == 0 };
		}
		p = poll_db(t, s, (size_t)steps[i].new_seen, steps[i].sessions, steps[i].reset,
			    150000);
		c = counter(p.r, 16384);
		if (steps[i].missed == -2 ? c != NULL : c == NULL || c->missed != steps[i].missed)
			fprintf(stderr, "step \"%s\": missed %lld\n", steps[i].what,
				c ? (long long)c->missed : -2LL);
		CHECK(steps[i].missed == -2 ? c == NULL : c != NULL && c->missed == steps[i].missed);
		if (c) {
			CHECK_INT(c->sessions, steps[i].sessions);
			CHECK_STR(c->stats_reset, steps[i].reset);
			CHECK_STR(c->database, "appdb");
		}
		CHECK(p.r->counters_known);
		CHECK(p.r->baseline_known == (steps[i].missed == -2));
		done(&p);
	}
	tracker_free(t);

	/* A baseline from the store (sessions that began and ended while the
	 * daemon was stopped are missed ones), as instance_new preloads it. */
	t = tracker_new();
	bool changed;
	CHECK_INT(tracker_count_db(t, 16384, 50, "r1", 0, &changed), -1);
	struct poll p = poll_db(t, NULL, 0, 57, "r1", 150000);
	CHECK_INT(missed_of(p.r, 16384), 7);
	done(&p);
	tracker_free(t);

	/* Before PostgreSQL 14 there is no counter: nothing is known. */
	t = tracker_new();
	p = poll_db(t, NULL, 0, 0, NULL, 130000);
	CHECK(!p.r->counters_known);
	CHECK_INT(p.r->ncounters, 0);
	CHECK(!p.r->baseline_known);
	done(&p);
	tracker_free(t);
}

/* ---- hostile rows ---- */

enum { BAD_KIND_X, BAD_KIND_EMPTY, BAD_KIND_NULL, BAD_PID_ZERO, BAD_PID_SHORT, BAD_START_NULL,
	BAD_START_INFINITE, BAD_APP_NUL, BAD_NAME_NUL, BAD_BITS, BAD_SSL, BAD_OWN, BAD_DB_NAME,
	BAD_DB_SESSIONS, BAD_TIME, NBAD };

/* One bad row of each kind, each made from a good one. */
static void
add_bad(PGresult *res, int which)
{
	struct sess s = { 'a', 500 + which, T0 + 500 + which, "appdb", "evil", "x", NULL, false,
		false };
	int row = PQntuples(res);

	switch (which) {
	case BAD_DB_NAME:
		add_db(res, 9, "gone", 1, NULL);
		put_text(res, row, STATQ_D_DATNAME, NULL);
		return;
	case BAD_DB_SESSIONS:
		add_db(res, 9, "gone", -1, NULL);
		return;
	case BAD_TIME:
		add_row(res, 't');
		return;
	}
	add_session(res, &s);
	switch (which) {
	case BAD_KIND_X: put_text(res, row, STATQ_COL_KIND, "x"); break;
	case BAD_KIND_EMPTY: put_text(res, row, STATQ_COL_KIND, ""); break;
	case BAD_KIND_NULL: put_text(res, row, STATQ_COL_KIND, NULL); break;
	case BAD_PID_ZERO: put_int(res, row, STATQ_COL_PID, 0, 4); break;
	case BAD_PID_SHORT: put_int(res, row, STATQ_COL_PID, 7, 3); break;
	case BAD_START_NULL: put_text(res, row, STATQ_COL_BACKEND_START, NULL); break;
	case BAD_START_INFINITE:
		put_int(res, row, STATQ_COL_BACKEND_START, (uint64_t)INT64_MAX, 8);
		break;
	case BAD_APP_NUL: put(res, row, STATQ_COL_APPLICATION, "a\0b", 3); break;
	case BAD_NAME_NUL: put(res, row, STATQ_COL_USENAME, "ev\0il", 5); break;
	case BAD_BITS: put_int(res, row, STATQ_COL_BITS, 70000, 4); break;
	case BAD_SSL: put_int(res, row, STATQ_COL_SSL, 2, 1); break;
	case BAD_OWN: put_int(res, row, STATQ_COL_OWN, 1, 2); break;
	}
}

static void
test_hostile(void)
{
	static const enum statrow_error reason[NBAD] = {
		[BAD_KIND_X] = STATROW_BAD_KIND, [BAD_KIND_EMPTY] = STATROW_BAD_KIND,
		[BAD_KIND_NULL] = STATROW_BAD_KIND, [BAD_PID_ZERO] = STATROW_BAD_PID,
		[BAD_PID_SHORT] = STATROW_BAD_PID, [BAD_START_NULL] = STATROW_BAD_START,
		[BAD_START_INFINITE] = STATROW_BAD_START, [BAD_APP_NUL] = STATROW_BAD_TEXT,
		[BAD_NAME_NUL] = STATROW_BAD_TEXT, [BAD_BITS] = STATROW_BAD_BITS,
		[BAD_SSL] = STATROW_BAD_SSL, [BAD_OWN] = STATROW_BAD_OWN,
		[BAD_DB_NAME] = STATROW_BAD_DATABASE, [BAD_DB_SESSIONS] = STATROW_BAD_DATABASE,
		[BAD_TIME] = STATROW_BAD_START,
	};
	char name63[64];
	struct sess odd = { 'a', 42, T0 + 42, "\xff\xfe db", name63, "\x1b[31mred\x1b[0m", "::1",
		false, false };
	uint64_t want[STATROW_NERRORS] = { 0 };
	struct tracker *t = tracker_new();
	struct poll p;
	PGresult *res;

	memset(name63, 'n', 63);
	name63[63] = '\0';
	/* Each bad row alone: skipped with its reason, nothing tracked. */
	for (int b = 0; b < NBAD; b++) {
		res = poll_rows();
		add_bad(res, b);
		p = run(t, res);
		CHECK_STR(p.err, NULL);
		CHECK_INT(p.out.bad[reason[b]], 1);
		CHECK_INT(p.r->n_new + p.r->ncounters + p.r->nclients, 0);
		CHECK_INT(tracker_count(t), 0);
		done(&p);
		want[reason[b]]++;
	}
	/* All of them in one poll, around a good row whose odd bytes (not
	 * UTF-8, escape sequences, a 63-byte name) are kept as sent. */
	res = poll_rows();
	for (int b = 0; b < NBAD; b++) {
		add_bad(res, b);
		if (b == NBAD / 2)
			add_session(res, &odd);
	}
	p = run(t, res);
	CHECK_STR(p.err, NULL);
	for (int e = 0; e < STATROW_NERRORS; e++)
		CHECK_INT(p.out.bad[e], want[e]);
	CHECK_INT(p.r->n_new, 1);
	CHECK_INT(p.r->nclients, 1);
	if (p.r->nclients == 1) {
		CHECK_STR(p.r->clients[0].key.database, "\xff\xfe db");
		CHECK_STR(p.r->clients[0].key.user, name63);
		CHECK_STR(p.r->clients[0].key.application, "\x1b[31mred\x1b[0m");
		CHECK_STR(p.r->clients[0].key.client_addr, "::1");
	}
	CHECK_INT(tracker_count(t), 1);
	done(&p);

	/* A result of another shape is refused whole, before any row. */
	res = result_new(STATQ_COL_COUNT - 1, 1);
	p = run(t, res);
	CHECK(p.err != NULL);
	done(&p);
	res = result_new(STATQ_COL_COUNT, 0);
	add_session(res, &odd);
	p = run(t, res);
	CHECK(p.err != NULL);
	CHECK_INT(p.r->n_new, 0);
	done(&p);
	tracker_free(t);
}

int
main(void)
{
	test_sessions();
	test_renamed();
	test_counters();
	test_hostile();
	return check_done();
}
