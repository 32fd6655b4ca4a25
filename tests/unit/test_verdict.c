/*
 * Unit tests of cli/verdict.c: the per-cluster verdict over in-memory
 * models (report.h's plain structs, no database), one row per case: the
 * cluster's counts and instances in, both values and every reason (its
 * exact text and which value it explains) out.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "verdict.h"

/* 2026-12-01T00:00:00Z */
#define NOW 1796083200LL
#define DAY 86400
#define OLD (NOW - 30 * DAY)	/* an instance polled for a month */

#define F VERDICT_FORCE_SSL
#define R VERDICT_ROTATION
#define FR (VERDICT_FORCE_SSL | VERDICT_ROTATION)

/* One instance, as the loader fills it (the fields the verdict reads). */
struct inst {
	const char *name;
	int64_t added_at;
	int64_t polls, failed, failures;
	int can_see_all;
	bool missed_known;
	int64_t missed;
	int version;
	bool retired;
	int64_t non_ssl;
};

/* A healthy PostgreSQL 15 instance polled for a month, no misses. */
#define OK_INST(n) { n, OLD, 1000, 0, 0, 1, true, 0, 150004, false, 0 }

struct reason {
	unsigned applies;
	const char *text;
};

struct vcase {
	const char *what;
	int64_t clients, ssl, non_ssl, verifying, disc_failures;
	int64_t since;			/* 0: whole history */
	struct inst inst[3];
	size_t ninst;
	enum verdict_force force;
	enum verdict_rotation rotation;
	struct reason reasons[6];
	size_t nreasons;
	int64_t pooler_plain, pooler_tls;	/* of non_ssl, of ssl: legs to a [pooler] */
};

static const struct vcase cases[] = {
	{ "no client on a healthy instance: safe and ready", 0, 0, 0, 0, 0, 0,
	  { OK_INST("a:5432") }, 1, VF_SAFE, VROT_READY,
	  { { F, "no client seen" },
	    { R, "no SSL client seen: a new server certificate breaks none" } }, 2, 0, 0 },
	{ "only SSL clients, nothing in doubt: safe, action", 3, 3, 0, 1, 0, 0,
	  { OK_INST("a:5432") }, 1, VF_SAFE, VROT_ACTION,
	  { { F, "all 3 clients seen use SSL" },
	    { R, "3 SSL clients may verify the server certificate, 1 with a driver that does "
	      "by default: put the new CA in their trust store before the rotation" } }, 2, 0, 0 },
	{ "one non-SSL client: unsafe, and ready", 1, 0, 1, 0, 0, 0,
	  { { "a:5432", OLD, 1000, 0, 0, 1, true, 0, 150004, false, 1 } }, 1,
	  VF_UNSAFE, VROT_READY,
	  { { F, "1 non-SSL client on a:5432: rds.force_ssl=1 would refuse it" },
	    { R, "no SSL client seen: a new server certificate breaks none" } }, 2, 0, 0 },
	{ "decided values list no doubts", 5, 2, 3, 0, 0, 0,
	  { { "a:1", OLD, 10, 0, 0, 1, true, 4, 150004, false, 2 },
	    { "b:2", NOW - 3600, 10, 0, 0, 1, true, 0, 150004, false, 1 } }, 2,
	  VF_UNSAFE, VROT_ACTION,
	  { { F, "3 non-SSL clients on a:1, b:2: rds.force_ssl=1 would refuse them" },
	    { R, "2 SSL clients may verify the server certificate: put the new CA in their "
	      "trust store before the rotation" } }, 2, 0, 0 },
	{ "unnamed missed sessions: both unknown, said once for both", 2, 0, 0, 0, 0, 0,
	  { { "a:5432", OLD, 1000, 0, 0, 1, true, 5, 150004, false, 0 } }, 1,
	  VF_UNKNOWN, VROT_UNKNOWN,
	  { { FR, "5 missed sessions, begun and ended between two polls, no log named" } }, 1, 0, 0 },
	{ "SSL clients and a miss: force_ssl unknown, rotation action", 2, 2, 0, 0, 0, 0,
	  { { "a:5432", OLD, 1000, 0, 0, 1, true, 1, 150004, false, 0 } }, 1,
	  VF_UNKNOWN, VROT_ACTION,
	  { { R, "2 SSL clients may verify the server certificate: put the new CA in their "
	      "trust store before the rotation" },
	    { F, "1 missed session, begun and ended between two polls, no log named" } }, 2, 0, 0 },
	{ "PostgreSQL 13 cannot count misses", 1, 1, 0, 0, 0, 0,
	  { { "old:5432", OLD, 1000, 0, 0, 1, false, 0, 130011, false, 0 } }, 1,
	  VF_UNKNOWN, VROT_ACTION,
	  { { R, "1 SSL client may verify the server certificate: put the new CA in their "
	      "trust store before the rotation" },
	    { F, "old:5432: PostgreSQL 13 cannot count missed sessions" } }, 2, 0, 0 },
	{ "failing, blind, never polled, not yet counted: each said", 0, 0, 0, 0, 0, 0,
	  { { "f:1", OLD, 100, 60, 60, 1, true, 0, 150004, false, 0 },
	    { "b:2", OLD, 100, 0, 0, 0, false, 0, 150004, false, 0 },
	    { "n:3", OLD, 0, 0, 0, -1, false, 0, 0, false, 0 } }, 3,
	  VF_UNKNOWN, VROT_UNKNOWN,
	  { { FR, "n:3: no successful poll in the history" },
	    { FR, "f:1: failing, 60 polls in a row" },
	    { FR, "b:2: the monitoring role cannot see other users' sessions" },
	    { FR, "b:2: missed sessions not counted yet, fewer than two polls" } }, 4, 0, 0 },
	{ "discovery failing", 0, 0, 0, 0, 3, 0,
	  { OK_INST("a:5432") }, 1, VF_UNKNOWN, VROT_UNKNOWN,
	  { { FR, "instance discovery failing, 3 attempts in a row: new instances are not "
	      "polled" } }, 1, 0, 0 },
	{ "a history shorter than a day names the instance", 0, 0, 0, 0, 0, 0,
	  { OK_INST("a:1"), { "new:2", NOW - 3600, 100, 0, 0, 1, true, 0, 150004, false, 0 } },
	  2, VF_UNKNOWN, VROT_UNKNOWN,
	  { { FR, "new:2: history only since 2026-11-30T23:00:00Z, less than a day" } }, 1, 0, 0 },
	{ "a window (--since) shorter than a day", 0, 0, 0, 0, 0, NOW - 7200,
	  { OK_INST("a:1") }, 1, VF_UNKNOWN, VROT_UNKNOWN,
	  { { FR, "a:1: history only since 2026-11-30T22:00:00Z, less than a day" } }, 1, 0, 0 },
	{ "a retired instance (failing, PostgreSQL 13, new) raises no doubt", 1, 1, 0, 0, 0, 0,
	  { OK_INST("a:1"), { "gone:2", NOW - 60, 1, 1, 1, 0, true, 0, 130000, true, 0 } }, 2,
	  VF_SAFE, VROT_ACTION,
	  { { F, "the 1 client seen uses SSL" },
	    { R, "1 SSL client may verify the server certificate: put the new CA in their "
	      "trust store before the rotation" } }, 2, 0, 0 },
	{ "legs to a pooler only: force_ssl never reaches them, nor the server's CA", 3, 1, 2,
	  0, 0, 0, { OK_INST("a:1") }, 1, VF_SAFE, VROT_READY,
	  { { F, "every client that reaches the server uses SSL; 2 plain legs to a pooler end "
	      "there (see findings)" },
	    { R, "no SSL client seen: a new server certificate breaks none" } }, 2, 2, 1 },
	{ "a pooler's own TLS server connection needs the new CA", 4, 2, 2, 0, 0, 0,
	  { OK_INST("a:1") }, 1, VF_SAFE, VROT_ACTION,
	  { { F, "every client that reaches the server uses SSL; 2 plain legs to a pooler end "
	      "there (see findings)" },
	    { R, "1 SSL client may verify the server certificate: put the new CA in their "
	      "trust store before the rotation" } }, 2, 2, 1 },
};

static void
build(const struct vcase *k, struct rcluster *c, struct rinst *in, struct count *verifying)
{
	memset(c, 0, sizeof(*c));
	c->name = (char *)(uintptr_t)"c";
	c->clients = k->clients;
	c->ssl = k->ssl;
	c->non_ssl = k->non_ssl;
	c->pooler_plain = k->pooler_plain;
	c->pooler_tls = k->pooler_tls;
	c->disc.failures = k->disc_failures;
	c->disc.known = k->disc_failures > 0;
	if (k->verifying > 0) {
		*verifying = (struct count){ "pgjdbc", k->verifying };
		c->verifying = verifying;
		c->nverifying = 1;
	}
	for (size_t i = 0; i < k->ninst; i++) {
		const struct inst *s = &k->inst[i];

		memset(&in[i], 0, sizeof(in[i]));
		in[i].name = (char *)(uintptr_t)s->name;
		in[i].added_at = s->added_at;
		in[i].polls = s->polls;
		in[i].failed = s->failed;
		in[i].failures = s->failures;
		in[i].can_see_all = s->can_see_all;
		in[i].missed_known = s->missed_known;
		in[i].missed = s->missed;
		in[i].unnamed = s->missed;	/* no log imported in these cases */
		in[i].server_version_num = s->version;
		in[i].retired = s->retired;
		in[i].non_ssl = s->non_ssl;
		c->active += !s->retired;
	}
	c->inst = in;
	c->ninst = k->ninst;
}

static void
test_cases(void)
{
	for (size_t n = 0; n < sizeof(cases) / sizeof(cases[0]); n++) {
		const struct vcase *k = &cases[n];
		struct rcluster c;
		struct rinst in[3];
		struct count verifying;
		struct verdict v;
		struct verdict_input vi;

		build(k, &c, in, &verifying);
		vi = (struct verdict_input){ &c, NOW, k->since ? k->since : INT64_MIN,
			verdict_unnamed_missed(&c), 0 };
		CHECK_INT(verdict_eval(&vi, &v), 0);
		if (v.force_ssl != k->force || v.rotation != k->rotation ||
		    v.nreasons != k->nreasons)
			fprintf(stderr, "case \"%s\": %s/%s, %zu reasons\n", k->what,
				verdict_force_name(v.force_ssl),
				verdict_rotation_name(v.rotation), v.nreasons);
		CHECK_INT(v.force_ssl, k->force);
		CHECK_INT(v.rotation, k->rotation);
		CHECK_INT(v.nreasons, k->nreasons);
		for (size_t i = 0; i < v.nreasons && i < k->nreasons; i++) {
			CHECK_STR(v.reasons[i].text, k->reasons[i].text);
			CHECK_INT(v.reasons[i].applies, k->reasons[i].applies);
		}
		verdict_free(&v);
		CHECK(v.reasons == NULL && v.nreasons == 0);
	}
}

/* The unnamed missed sessions: the sum over the instances that could
 * count, -1 when none could. */
static void
test_unnamed(void)
{
	struct rinst in[2];
	struct rcluster c;

	memset(&c, 0, sizeof(c));
	memset(in, 0, sizeof(in));
	c.inst = in;
	c.ninst = 2;
	CHECK_INT(verdict_unnamed_missed(&c), -1);
	in[0].missed_known = true;
	CHECK_INT(verdict_unnamed_missed(&c), 0);
	in[0].missed = in[0].unnamed = 3;
	in[1].missed = in[1].unnamed = 99;	/* not known: not counted */
	CHECK_INT(verdict_unnamed_missed(&c), 3);
	in[1].missed_known = true;
	CHECK_INT(verdict_unnamed_missed(&c), 102);
	/* What imported logs named (report_logs.c) no longer counts. */
	in[0].unnamed = 0;
	in[1].unnamed = 4;
	CHECK_INT(verdict_unnamed_missed(&c), 4);
}

/* --min-history: an instance polled for an hour is in doubt under the
 * default day and under 2h, not under 30 minutes. */
static void
test_min_history(void)
{
	const struct vcase *k = NULL;
	struct rcluster c;
	struct rinst in[3];
	struct count verifying;
	struct verdict v;
	struct verdict_input vi;

	for (size_t n = 0; n < sizeof(cases) / sizeof(cases[0]); n++)
		if (strstr(cases[n].what, "shorter than a day names") != NULL)
			k = &cases[n];
	CHECK(k != NULL);
	if (k == NULL)
		return;
	build(k, &c, in, &verifying);
	vi = (struct verdict_input){ &c, NOW, INT64_MIN, verdict_unnamed_missed(&c), 7200 };
	CHECK_INT(verdict_eval(&vi, &v), 0);
	CHECK_INT(v.force_ssl, VF_UNKNOWN);
	CHECK_INT(v.nreasons, 1);
	if (v.nreasons == 1)
		CHECK_STR(v.reasons[0].text, "new:2: history only since 2026-11-30T23:00:00Z, "
			  "less than --min-history 2h");
	verdict_free(&v);
	vi.min_history_s = 1800;
	CHECK_INT(verdict_eval(&vi, &v), 0);
	CHECK_INT(v.force_ssl, VF_SAFE);
	CHECK_INT(v.rotation, VROT_READY);
	verdict_free(&v);
}

static void
test_names(void)
{
	CHECK_STR(verdict_force_name(VF_SAFE), "safe");
	CHECK_STR(verdict_force_name(VF_UNSAFE), "unsafe");
	CHECK_STR(verdict_force_name(VF_UNKNOWN), "unknown");
	CHECK_STR(verdict_rotation_name(VROT_READY), "ready");
	CHECK_STR(verdict_rotation_name(VROT_ACTION), "action");
	CHECK_STR(verdict_rotation_name(VROT_UNKNOWN), "unknown");
}

int
main(void)
{
	test_cases();
	test_unnamed();
	test_min_history();
	test_names();
	return check_done();
}
