/*
 * Unit tests of cli/findings.c: the report's rules over in-memory models
 * (report.h's plain structs, no database). Each test builds one cluster,
 * evaluates it, writes the findings to a sink that keeps them, and checks
 * which rules fired for which subject and the exact texts. The clients the
 * two naming rules ask for come from arrays the test gives the sink.
 */
#include <stdlib.h>

#include "check.h"
#include "findings.h"

/* 2026-12-01T00:00:00Z */
#define NOW 1796083200LL
#define OLD_CA_ISSUER "CN=Amazon RDS eu-west-1 2019 CA,OU=Amazon RDS,O=Amazon Web Services\\, " \
	"Inc.,ST=Washington,L=Seattle,C=US"
#define NEW_CA_ISSUER "CN=Amazon RDS eu-west-1 Subordinate CA RSA2048 G1.A.2,O=Amazon.com,C=US"

#define MAXF 32
#define MAXCALLS 8

/* The sink's memory: the findings written and the client listings asked. */
struct got {
	size_t n;
	const char *sev[MAXF];
	char *text[MAXF];
	size_t ncalls;
	const struct rinst *call_in[MAXCALLS];
	enum rclients call_kind[MAXCALLS];
	int64_t call_want[MAXCALLS];
	/* what the "history" holds, per kind */
	const struct rclient *feed[2];
	size_t nfeed[2];
	bool fail_clients;
	struct fresult r;
	int write_rc;
};

static void
keep_finding(void *arg, const char *severity, const char *text)
{
	struct got *g = arg;

	if (g->n < MAXF) {
		g->sev[g->n] = severity;
		g->text[g->n] = strdup(text);
	}
	g->n++;
}

static int
feed_clients(void *arg, const struct rcluster *c, const struct rinst *in, enum rclients kind,
	     int64_t want, const struct rclient_cb *cb)
{
	struct got *g = arg;

	(void)c;
	if (g->ncalls < MAXCALLS) {
		g->call_in[g->ncalls] = in;
		g->call_kind[g->ncalls] = kind;
		g->call_want[g->ncalls] = want;
	}
	g->ncalls++;
	if (g->fail_clients)
		return -1;
	for (size_t i = 0; i < g->nfeed[kind]; i++)
		cb->fn(cb->arg, &g->feed[kind][i]);
	return 0;
}

static void
run(struct got *g, const struct rcluster *c, int64_t now)
{
	struct fsink s = { g, keep_finding, feed_clients, false };

	CHECK_INT(findings_eval(c, now, &g->r), 0);
	g->write_rc = findings_write(&s, c, now, &g->r);
	CHECK(!s.failed);
}

static void
got_free(struct got *g)
{
	for (size_t i = 0; i < g->n && i < MAXF; i++)
		free(g->text[i]);
	fresult_free(&g->r);
	memset(g, 0, sizeof(*g));
}

/* An active instance that can see every session, nothing else known. */
static struct rinst
inst(const char *name)
{
	struct rinst in;

	memset(&in, 0, sizeof(in));
	in.name = (char *)(uintptr_t)name;
	in.can_see_all = 1;
	return in;
}

/* A cluster over `n` instances; the interval known (10 s, from the
 * configuration) and missed sessions countable, so that the info rules
 * about what is unknown stay quiet unless a test wants them. */
static struct rcluster
cluster(struct rinst *v, size_t n)
{
	struct rcluster c;

	memset(&c, 0, sizeof(c));
	c.name = (char *)(uintptr_t)"orders";
	c.inst = v;
	c.ninst = n;
	for (size_t i = 0; i < n; i++) {
		c.active += !v[i].retired;
		v[i].missed_known = true;
	}
	c.interval_ms = 10000;
	c.interval_source = "config";
	return c;
}

/* The index of the outcome of `rule` for `subject`, or -1. */
static long
outcome(const struct got *g, enum frule_id rule, size_t subject)
{
	for (size_t i = 0; i < g->r.n; i++)
		if (g->r.v[i].rule == rule && g->r.v[i].subject == subject)
			return (long)i;
	return -1;
}

static void
test_empty_cluster(void)
{
	struct got g = { 0 };
	struct rcluster c = cluster(NULL, 0);

	c.interval_ms = 0;
	c.interval_source = NULL;
	run(&g, &c, NOW);
	/* nothing seen: the interval and the missed sessions are unknown */
	CHECK_INT(g.r.n, 2);
	CHECK_INT(outcome(&g, FR_INTERVAL_UNKNOWN, 0), 0);
	CHECK_INT(outcome(&g, FR_MISSED_UNCOUNTED, 0), 1);
	CHECK_INT(g.n, 2);
	CHECK_STR(g.sev[0], SEV_INFO);
	CHECK_STR(g.text[0], "polling interval unknown (no configuration names the cluster "
		  "and too few polls to estimate it): gaps not judged");
	CHECK_STR(g.text[1], "missed sessions cannot be counted here (PostgreSQL 13 or older, "
		  "or not yet two polls of one instance)");
	CHECK_INT(g.ncalls, 0);
	got_free(&g);
}

static void
test_non_ssl_clients_critical(void)
{
	static const struct rclient feed[] = {
		{ 1795996800, "app", "orders", "app1", NULL, "10.0.0.7" },
		{ 1795996801, NULL, NULL, NULL, NULL, NULL },
	};
	struct rinst v[2] = { inst("db1:5432"), inst("db2:5432") };
	struct rcluster c;
	struct got g = { 0 };

	v[1].non_ssl = 2;
	c = cluster(v, 2);
	c.clients = 5;
	c.non_ssl = 2;
	g.feed[RC_NON_SSL] = feed;
	g.nfeed[RC_NON_SSL] = 2;
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_NON_SSL_CLIENT), 1);
	CHECK_INT(outcome(&g, FR_NON_SSL_CLIENT, 1), 0);	/* first, for db2 only */
	CHECK_INT(outcome(&g, FR_ALL_SSL, 0), -1);
	CHECK_INT(g.ncalls, 1);
	CHECK(g.call_in[0] == &v[1]);
	CHECK_INT(g.call_kind[0], RC_NON_SSL);
	CHECK_INT(g.call_want[0], 2);
	CHECK(g.n >= 2);
	CHECK_STR(g.sev[0], SEV_CRITICAL);
	CHECK_STR(g.text[0], "non-SSL client on db2:5432: user \"app\", database \"orders\", "
		  "address 10.0.0.7, application \"app1\", last seen 2026-11-30T00:00:00Z: "
		  "it breaks when rds.force_ssl=1");
	CHECK_STR(g.sev[1], SEV_CRITICAL);
	CHECK_STR(g.text[1], "non-SSL client on db2:5432: user \"\", database \"\", "
		  "address local socket, application \"\", last seen 2026-11-30T00:00:01Z: "
		  "it breaks when rds.force_ssl=1");
	got_free(&g);
}

static void
test_weak_tls_clients_warning(void)
{
	static const struct rclient feed[] = {
		{ 1795996800, "old", "d", "legacy", "TLSv1.1", "10.0.0.8" },
	};
	struct rinst v[1] = { inst("db1:5432") };
	struct rcluster c;
	struct got g = { 0 };

	v[0].weak_tls = 1;
	c = cluster(v, 1);
	c.clients = c.ssl = c.weak_tls = 1;
	g.feed[RC_WEAK_TLS] = feed;
	g.nfeed[RC_WEAK_TLS] = 1;
	run(&g, &c, NOW);
	CHECK_INT(outcome(&g, FR_WEAK_TLS_CLIENT, 0), 0);
	CHECK_INT(outcome(&g, FR_NON_SSL_CLIENT, 0), -1);
	CHECK_INT(g.ncalls, 1);
	CHECK_INT(g.call_kind[0], RC_WEAK_TLS);
	CHECK_INT(g.call_want[0], 1);
	CHECK_STR(g.sev[0], SEV_WARNING);
	CHECK_STR(g.text[0], "TLSv1.1 client on db1:5432: user \"old\", database \"d\", "
		  "address 10.0.0.8, application \"legacy\", last seen 2026-11-30T00:00:00Z: "
		  "it breaks once TLS 1.2 is the minimum");
	/* every client uses SSL, however old its TLS */
	CHECK(outcome(&g, FR_ALL_SSL, 0) > 0);
	got_free(&g);
}

static void
test_all_ssl(void)
{
	struct rinst v[1] = { inst("db1:5432") };
	struct rcluster c = cluster(v, 1);
	struct got g = { 0 };

	run(&g, &c, NOW);	/* no clients: no claim about them */
	CHECK_INT(findings_fired(&g.r, FR_ALL_SSL), 0);
	got_free(&g);
	c.clients = c.ssl = 3;
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_ALL_SSL), 1);
	CHECK_STR(g.sev[0], SEV_INFO);
	CHECK_STR(g.text[0], "every client seen uses SSL: rds.force_ssl=1 breaks none of them");
	got_free(&g);
}

static void
test_old_ca(void)
{
	struct rinst v[3] = { inst("a:1"), inst("b:1"), inst("c:1") };
	struct rcluster c;
	struct got g = { 0 };

	v[0].issuer = (char *)(uintptr_t)OLD_CA_ISSUER;
	v[1].issuer = (char *)(uintptr_t)NEW_CA_ISSUER;
	v[2].issuer = (char *)(uintptr_t)OLD_CA_ISSUER;
	v[2].retired = true;	/* no longer polled: no rotation to do */
	c = cluster(v, 3);
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_OLD_CA), 1);
	CHECK_INT(outcome(&g, FR_OLD_CA, 0), 0);
	CHECK_STR(g.sev[0], SEV_CRITICAL);
	CHECK_STR(g.text[0], "a:1 presents a certificate of the old CA rds-ca-2019: rotate it "
		  "to rds-ca-rsa2048-g1 (or another G1 CA)");
	got_free(&g);
}

static void
test_cert_expiry(void)
{
	struct rinst v[5] = { inst("a:1"), inst("b:1"), inst("c:1"), inst("d:1"), inst("e:1") };
	struct rcluster c;
	struct got g = { 0 };
	size_t i;

	for (i = 0; i < 5; i++)
		v[i].has_not_after = true;
	v[0].not_after = NOW - 1;			/* expired */
	v[1].not_after = NOW + CERT_SOON_S - 1;		/* just within */
	v[2].not_after = NOW + CERT_SOON_S;		/* just outside */
	v[3].not_after = NOW - 1;
	v[3].retired = true;
	v[4].has_not_after = false;
	c = cluster(v, 5);
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_CERT_EXPIRY), 2);
	CHECK_INT(outcome(&g, FR_CERT_EXPIRY, 0), 0);
	CHECK_INT(outcome(&g, FR_CERT_EXPIRY, 1), 1);
	CHECK_STR(g.sev[0], SEV_CRITICAL);
	CHECK_STR(g.text[0], "a:1: its server certificate expired 2026-11-30T23:59:59Z");
	CHECK_STR(g.text[1], "b:1: its server certificate expires 2026-12-30T23:59:59Z");
	got_free(&g);
}

static void
test_hidden_sessions(void)
{
	struct rinst v[4] = { inst("a:1"), inst("b:1"), inst("c:1"), inst("d:1") };
	struct rcluster c;
	struct got g = { 0 };

	v[0].can_see_all = 0;
	v[1].can_see_all = -1;	/* not known yet: no claim */
	v[3].can_see_all = 0;
	v[3].retired = true;
	c = cluster(v, 4);
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_HIDDEN_SESSIONS), 1);
	CHECK_INT(outcome(&g, FR_HIDDEN_SESSIONS, 0), 0);
	CHECK_STR(g.sev[0], SEV_CRITICAL);
	CHECK_STR(g.text[0], "a:1: the monitoring role cannot see other users' sessions, so the "
		  "history misses their clients: grant it pg_monitor (or pg_read_all_stats)");
	got_free(&g);
}

static void
test_drivers(void)
{
	struct count verifying[2] = { { "pgjdbc", 1 }, { "node-postgres", 3 } };
	struct count libpq[2] = { { "psql", 1 }, { "pg_dump", 2 } };
	struct rcluster c = cluster(NULL, 0);
	struct got g = { 0 };

	c.verifying = verifying;
	c.nverifying = 2;
	c.libpq = libpq;
	c.nlibpq = 2;
	run(&g, &c, NOW);
	CHECK_INT(outcome(&g, FR_VERIFYING_DRIVER, 0), 0);
	CHECK_INT(outcome(&g, FR_VERIFYING_DRIVER, 1), 1);
	CHECK_INT(outcome(&g, FR_LIBPQ_DRIVERS, 0), 2);
	CHECK_STR(g.sev[0], SEV_WARNING);
	CHECK_STR(g.text[0], "1 SSL client uses pgjdbc, which verifies the server certificate "
		  "by default when TLS is on (pgjdbc with ssl=true, node-postgres): put the new "
		  "CA in their trust store before the rotation");
	CHECK_STR(g.text[1], "3 SSL clients use node-postgres, which verifies the server "
		  "certificate by default when TLS is on (pgjdbc with ssl=true, node-postgres): "
		  "put the new CA in their trust store before the rotation");
	CHECK_STR(g.sev[2], SEV_WARNING);
	CHECK_STR(g.text[2], "3 SSL clients are libpq-based (psql 1, pg_dump 2): they verify "
		  "the server only with sslmode=verify-ca or verify-full or a root.crt; those "
		  "that do need the new CA");
	got_free(&g);
	c.nverifying = 0;
	c.nlibpq = 1;
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_VERIFYING_DRIVER), 0);
	CHECK_STR(g.text[0], "1 SSL client is libpq-based (psql 1): they verify the server only "
		  "with sslmode=verify-ca or verify-full or a root.crt; those that do need the "
		  "new CA");
	got_free(&g);
	c.nlibpq = 0;
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_LIBPQ_DRIVERS), 0);
	got_free(&g);
}

static void
test_discovery_failing(void)
{
	struct rinst v[1] = { inst("a:1") };
	struct rcluster c = cluster(v, 1);
	struct got g = { 0 };

	c.disc.known = true;
	c.disc.last_success = NOW - 86400;
	run(&g, &c, NOW);	/* discovered, not failing */
	CHECK_INT(findings_fired(&g.r, FR_DISCOVERY_FAILING), 0);
	got_free(&g);
	c.disc.failures = 2;
	c.disc.last_error_at = NOW - 60;
	c.disc.last_error = (char *)(uintptr_t)"DescribeDBInstances: timeout";
	run(&g, &c, NOW);
	CHECK_INT(outcome(&g, FR_DISCOVERY_FAILING, 0), 0);
	CHECK_STR(g.sev[0], SEV_WARNING);
	CHECK_STR(g.text[0], "instance discovery failing (2 attempts in a row, last "
		  "2026-11-30T23:59:00Z, last success 2026-11-30T00:00:00Z): DescribeDBInstances: "
		  "timeout; the 1 instance found before is still polled, new ones are not");
	got_free(&g);
	c.disc.failures = 1;
	c.disc.last_success = 0;
	c.disc.last_error = NULL;
	v[0].retired = true;
	c.active = 0;
	run(&g, &c, NOW);
	CHECK_STR(g.text[0], "instance discovery failing (1 attempt in a row, last "
		  "2026-11-30T23:59:00Z, last success never): (no error recorded); the 0 "
		  "instances found before are still polled, new ones are not");
	got_free(&g);
}

static void
test_gaps(void)
{
	struct rinst v[2] = { inst("a:1"), inst("b:1") };
	struct rcluster c;
	struct got g = { 0 };

	v[0].gap_ms = 30001;	/* over three intervals of 10 s */
	v[1].gap_ms = 30000;	/* exactly three: not over */
	c = cluster(v, 2);
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_POLL_GAP), 1);
	CHECK_INT(outcome(&g, FR_POLL_GAP, 0), 0);
	CHECK_STR(g.sev[0], SEV_WARNING);
	CHECK_STR(g.text[0], "a:1: successful polls were up to 30.0 s apart, over 3 intervals "
		  "of 10.0 s: sessions in between may be missing");
	CHECK_INT(outcome(&g, FR_INTERVAL, 0), 1);
	CHECK_STR(g.text[1], "polling interval 10.0 s (from the configuration)");
	got_free(&g);
	/* no interval: gaps are not judged, and the report says so */
	c.interval_ms = 0;
	c.interval_source = NULL;
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_POLL_GAP), 0);
	CHECK_INT(findings_fired(&g.r, FR_INTERVAL), 0);
	CHECK_INT(findings_fired(&g.r, FR_INTERVAL_UNKNOWN), 1);
	got_free(&g);
	c.interval_ms = 9500;
	c.interval_source = "estimate";
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_POLL_GAP), 2);
	CHECK_INT(findings_fired(&g.r, FR_INTERVAL_UNKNOWN), 0);
	CHECK_STR(g.text[2], "polling interval 9.5 s (estimated from the polls recorded)");
	got_free(&g);
}

static void
test_missed_sessions(void)
{
	struct rinst v[3] = { inst("a:1"), inst("b:1"), inst("c:1") };
	struct rcluster c;
	struct got g = { 0 };

	v[0].missed = 1;
	v[2].missed = 4;
	v[2].retired = true;	/* its history still counts */
	c = cluster(v, 3);
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_MISSED_SESSIONS), 2);
	CHECK_INT(outcome(&g, FR_MISSED_SESSIONS, 0), 0);
	CHECK_INT(outcome(&g, FR_MISSED_SESSIONS, 2), 1);
	CHECK_STR(g.text[0], "a:1: 1 session began and ended between two polls unseen: lower the "
		  "interval");
	CHECK_STR(g.text[1], "c:1: 4 sessions began and ended between two polls unseen: lower "
		  "the interval");
	CHECK_INT(findings_fired(&g.r, FR_MISSED_UNCOUNTED), 0);
	got_free(&g);
	/* one instance that can count them is enough */
	v[0].missed_known = v[1].missed_known = false;
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_MISSED_UNCOUNTED), 0);
	got_free(&g);
	v[2].missed_known = false;
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_MISSED_UNCOUNTED), 1);
	got_free(&g);
}

static void
test_failing_instances(void)
{
	struct rinst v[3] = { inst("a:1"), inst("b:1"), inst("c:1") };
	struct rcluster c;
	struct got g = { 0 };

	v[0].failures = 3;
	v[0].last_error = (char *)(uintptr_t)"connection refused";
	v[1].failures = 1;
	v[2].failures = 9;
	v[2].retired = true;
	c = cluster(v, 3);
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_INSTANCE_FAILING), 2);
	CHECK_STR(g.sev[0], SEV_WARNING);
	CHECK_STR(g.text[0], "a:1: failing, 3 consecutive failed polls, last error: connection "
		  "refused");
	CHECK_STR(g.text[1], "b:1: failing, 1 consecutive failed polls, last error: (none "
		  "recorded)");
	CHECK_INT(outcome(&g, FR_INSTANCE_FAILING, 2), -1);
	got_free(&g);
}

static void
test_unseen_and_retired(void)
{
	struct rinst v[3] = { inst("a:1"), inst("b:1"), inst("c:1") };
	struct rcluster c;
	struct got g = { 0 };

	c = cluster(v, 3);
	run(&g, &c, NOW);
	CHECK_INT(findings_fired(&g.r, FR_UNSEEN_ESTIMATE), 0);
	CHECK_INT(findings_fired(&g.r, FR_RETIRED), 0);
	got_free(&g);
	v[1].retired = true;
	c = cluster(v, 3);
	c.one_session = 1;
	c.client_sessions = 4;
	run(&g, &c, NOW);
	CHECK_INT(g.n, 3);	/* interval, estimate, retired */
	CHECK_STR(g.text[1], "the next session comes from a client not yet recorded with a "
		  "chance of about 25.00% (1 client seen in one session only, of 4 sessions)");
	CHECK_STR(g.text[2], "1 instance is retired (no longer polled, history kept)");
	got_free(&g);
	v[0].retired = v[2].retired = true;
	c.one_session = 2;
	c.client_sessions = 1;
	run(&g, &c, NOW);
	CHECK_STR(g.text[1], "the next session comes from a client not yet recorded with a "
		  "chance of about 200.00% (2 clients seen in one session only, of 1 session)");
	CHECK_STR(g.text[2], "3 instances are retired (no longer polled, history kept)");
	got_free(&g);
}

/* Most severe first; a run of instance rules reads instance by instance. */
static void
test_order(void)
{
	static const struct rclient one[] = { { 0, "u", "d", "a", "TLSv1", NULL } };
	struct rinst v[2] = { inst("a:1"), inst("b:1") };
	struct rcluster c;
	struct got g = { 0 };
	static const struct { enum frule_id rule; size_t subject; } want[] = {
		{ FR_NON_SSL_CLIENT, 0 }, { FR_NON_SSL_CLIENT, 1 },
		{ FR_OLD_CA, 0 }, { FR_HIDDEN_SESSIONS, 0 },
		{ FR_OLD_CA, 1 }, { FR_HIDDEN_SESSIONS, 1 },
		{ FR_WEAK_TLS_CLIENT, 1 },
		{ FR_POLL_GAP, 0 }, { FR_MISSED_SESSIONS, 0 }, { FR_INSTANCE_FAILING, 0 },
		{ FR_POLL_GAP, 1 }, { FR_MISSED_SESSIONS, 1 },
		{ FR_INTERVAL, 0 },
	};
	size_t i, n = sizeof(want) / sizeof(want[0]);

	for (i = 0; i < 2; i++) {
		v[i].non_ssl = 1;
		v[i].issuer = (char *)(uintptr_t)OLD_CA_ISSUER;
		v[i].can_see_all = 0;
		v[i].gap_ms = 60000;
		v[i].missed = 1;
	}
	v[1].weak_tls = 1;
	v[0].failures = 1;
	c = cluster(v, 2);
	c.clients = 3;
	c.non_ssl = 2;
	g.feed[RC_NON_SSL] = g.feed[RC_WEAK_TLS] = one;
	g.nfeed[RC_NON_SSL] = g.nfeed[RC_WEAK_TLS] = 1;
	run(&g, &c, NOW);
	CHECK_INT(g.r.n, n);
	for (i = 0; i < n && i < g.r.n; i++) {
		CHECK_STR(findings_rule_name(g.r.v[i].rule), findings_rule_name(want[i].rule));
		CHECK_INT(g.r.v[i].subject, want[i].subject);
	}
	/* one finding per outcome here (each listing names one client) */
	CHECK_INT(g.n, n);
	CHECK_INT(g.ncalls, 3);
	for (i = 1; i < g.n && i < MAXF; i++)	/* never less severe before more */
		CHECK(strcmp(g.sev[i - 1], SEV_INFO) != 0 || strcmp(g.sev[i], SEV_INFO) == 0);
	CHECK_STR(g.sev[6], SEV_WARNING);
	CHECK_STR(g.sev[5], SEV_CRITICAL);
	got_free(&g);
}

/* A listing that fails stops the writing there. */
static void
test_clients_failing(void)
{
	struct rinst v[1] = { inst("a:1") };
	struct rcluster c;
	struct got g = { 0 };

	v[0].non_ssl = 1;
	v[0].can_see_all = 0;
	c = cluster(v, 1);
	c.clients = c.non_ssl = 1;
	g.fail_clients = true;
	run(&g, &c, NOW);
	CHECK_INT(g.write_rc, -1);
	CHECK_INT(g.ncalls, 1);
	CHECK_INT(g.n, 0);
	CHECK_INT(findings_fired(&g.r, FR_HIDDEN_SESSIONS), 1);	/* evaluated, not written */
	got_free(&g);
}

/* Every rule has a distinct name, and the severities come in order. */
static void
test_table(void)
{
	static const char *order[] = { SEV_CRITICAL, SEV_WARNING, SEV_INFO };
	size_t i, j, level = 0;

	for (i = 0; i < FR_COUNT; i++) {
		CHECK(findings_rule_name(i) != NULL && findings_severity(i) != NULL);
		for (j = 0; j < i; j++)
			CHECK(strcmp(findings_rule_name(i), findings_rule_name(j)) != 0);
		while (level < 3 && strcmp(findings_severity(i), order[level]) != 0)
			level++;
		CHECK(level < 3);
	}
	CHECK_STR(findings_rule_name(FR_NON_SSL_CLIENT), "non_ssl_client");
	CHECK_STR(findings_severity(FR_NON_SSL_CLIENT), SEV_CRITICAL);
	CHECK_STR(findings_severity(FR_WEAK_TLS_CLIENT), SEV_WARNING);
	CHECK_STR(findings_severity(FR_RETIRED), SEV_INFO);
}

int
main(void)
{
	test_empty_cluster();
	test_non_ssl_clients_critical();
	test_weak_tls_clients_warning();
	test_all_ssl();
	test_old_ca();
	test_cert_expiry();
	test_hidden_sessions();
	test_drivers();
	test_discovery_failing();
	test_gaps();
	test_missed_sessions();
	test_failing_instances();
	test_unseen_and_retired();
	test_order();
	test_clients_failing();
	test_table();
	return check_done();
}
