/*
 * test_statquery.c: the poll query adapts to the server version (the
 * 14+ text is also run against a real PostgreSQL 15 by the integration
 * tests).
 */
#include "check.h"
#include "statquery.h"

static int
has(const char *q, const char *s)
{
	return q != NULL && strstr(q, s) != NULL;
}

int
main(void)
{
	static const struct {
		int version;
		int supported, dn11, dn12, databases;
	} cases[] = {
		{ 100023, 0, 0, 0, 0 },
		{ 110000, 1, 1, 0, 0 },
		{ 110022, 1, 1, 0, 0 },
		{ 120000, 1, 0, 1, 0 },
		{ 130014, 1, 0, 1, 0 },
		{ 140000, 1, 0, 1, 1 },
		{ 150004, 1, 0, 1, 1 },
		{ 170002, 1, 0, 1, 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *q = statq_sessions(cases[i].version);

		CHECK_INT(q != NULL, cases[i].supported);
		if (q == NULL)
			continue;
		CHECK_INT(has(q, "s.clientdn"), cases[i].dn11);
		CHECK_INT(has(q, "s.client_dn") && has(q, "s.client_serial") &&
			  has(q, "s.issuer_dn"), cases[i].dn12);
		CHECK_INT(has(q, "pg_stat_database"), cases[i].databases);
		/* compression is never read: it is gone from 14 on. */
		CHECK(!has(q, "compression"));
		CHECK(has(q, "backend_type = 'client backend'"));
		CHECK(has(q, "pg_backend_pid()"));
		CHECK(has(q, "$1"));
	}
	CHECK(has(statq_facts(), "current_setting('rds.force_ssl', true)"));
	CHECK(has(statq_facts(), "pg_read_all_stats"));
	CHECK(has(statq_discover(), "aurora_replica_status()"));
	CHECK(has(statq_discover(), "MASTER_SESSION_ID"));
	CHECK(has(statq_discover(), "last_update_timestamp IS NULL"));
	return check_done();
}
