/*
 * test_statquery.c: the poll query adapts to the server version (the
 * 14+ text is also run against a real PostgreSQL 15 by the integration
 * tests), reads pg_stat_get_activity once, and names nothing a schema of
 * the monitored server could shadow.
 */
#include <ctype.h>

#include "check.h"
#include "statquery.h"

static int
has(const char *q, const char *s)
{
	return q != NULL && strstr(q, s) != NULL;
}

static int
count(const char *q, const char *s)
{
	int n = 0;

	for (const char *p = q; (p = strstr(p, s)) != NULL; p++)
		n++;
	return n;
}

/* Every function call (a word right before '(') and every FROM/JOIN is
 * qualified with pg_catalog. */
static int
all_qualified(const char *q)
{
	static const char *const rels[] = { "FROM ", "JOIN " };

	for (const char *p = q; *p; p++) {
		const char *w = p;

		if (*p != '(' || p == q || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue;
		while (w > q && (isalnum((unsigned char)w[-1]) || w[-1] == '_'))
			w--;
		if ((p - w == 8 && strncmp(w, "OPERATOR", 8) == 0) ||
		    (p - w == 8 && strncmp(w, "coalesce", 8) == 0) ||
		    (p - w == 5 && strncmp(w, "ARRAY", 5) == 0))
			continue;	/* SQL syntax, not a name looked up */
		if (w - q < 11 || strncmp(w - 11, "pg_catalog.", 11) != 0) {
			fprintf(stderr, "unqualified call: %.30s\n", w);
			return 0;
		}
	}
	for (size_t i = 0; i < 2; i++) {
		for (const char *p = q; (p = strstr(p, rels[i])) != NULL; p++) {
			/* The CTE `a` is the query's own. */
			if (strncmp(p + 5, "pg_catalog.", 11) != 0 && strncmp(p, "FROM a ", 7) != 0) {
				fprintf(stderr, "unqualified relation: %.30s\n", p);
				return 0;
			}
		}
	}
	return 1;
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
		/* pg_stat_get_activity's own column names, per version. */
		CHECK_INT(has(q, "s.sslclientdn"), cases[i].dn11);
		CHECK_INT(has(q, "s.ssl_client_dn") && has(q, "s.ssl_client_serial") &&
			  has(q, "s.ssl_issuer_dn"), cases[i].dn12);
		CHECK_INT(has(q, "pg_catalog.pg_stat_get_db_sessions(d.oid)"), cases[i].databases);
		/* Read once; neither view (each would read it again). */
		CHECK_INT(count(q, "pg_stat_get_activity("), 1);
		CHECK(!has(q, "pg_stat_activity") && !has(q, "pg_stat_ssl") &&
		      !has(q, "pg_stat_database"));
		/* compression is never read: it is gone from 14 on. */
		CHECK(!has(q, "compression"));
		CHECK(has(q, "s.backend_type = 'client backend'"));
		CHECK(has(q, "s.client_port IS NOT NULL"));
		CHECK(has(q, "pg_catalog.pg_backend_pid()"));
		CHECK(has(q, "$1"));
		/* Own sessions are listed only if new ($2), and the statement's
		 * time comes back for the next poll's $2. */
		CHECK(has(q, "s.backend_start > coalesce($2::timestamptz, "
			  "pg_catalog.statement_timestamp()) - $3::interval AS recent"));
		/* Older sessions by identity only, unless asked for by pid. */
		/* Old sessions: identity and the application they may change. */
		CHECK(has(q, "SELECT 'o', a.pid, a.backend_start, NULL, NULL, a.application_name, NULL"));
		CHECK(has(q, "s.pid = ANY ($4::int4[])"));
		CHECK(has(q, "pg_catalog.statement_timestamp()"));
		CHECK(all_qualified(q));
		/* The own roles are looked up once per poll, not per row, and old own
		 * sessions are left out inside the CTE. */
		CHECK(has(q, "s.usesysid = ANY (ARRAY(SELECT r.oid FROM pg_catalog.pg_roles r"));
		CHECK(!has(q, "WHERE r.oid = a.usesysid"));
	}
	CHECK(has(statq_facts(), "pg_catalog.current_setting('rds.force_ssl', true)"));
	CHECK(has(statq_facts(), "pg_read_all_stats"));
	CHECK(has(statq_facts(), "pg_catalog.set_config('search_path', '', false)"));
	/* Parsed under the server's search_path: operators are qualified too. */
	CHECK(!has(statq_facts(), " = "));
	CHECK(all_qualified(statq_facts()));
	CHECK(has(statq_discover(), "aurora_replica_status()"));
	CHECK(has(statq_discover(), "MASTER_SESSION_ID"));
	CHECK(has(statq_discover(), "last_update_timestamp IS NULL"));
	return check_done();
}
