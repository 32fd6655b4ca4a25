/*
 * statquery.c: the version-adapted query texts and the text of their
 * parameters (see statquery.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "statquery.h"

/* Own sessions without the join, for the old ones (kind 'o'), which are
 * left out inside the CTE: with many daemon connections to a server (a
 * cluster per database) those are most rows, and they are then neither
 * materialised nor scanned twice. The roles' oids are one uncorrelated
 * subquery (an InitPlan, run once per poll), not a lookup in pg_roles (a
 * view over two catalogs) per row. */
#define OWN_OLD(t) \
	"(" t ".pid = pg_catalog.pg_backend_pid() OR (" t ".application_name = 'sslhistd' " \
	"AND " t ".usesysid = ANY (ARRAY(SELECT r.oid FROM pg_catalog.pg_roles r " \
	"WHERE r.rolname = CURRENT_USER OR r.rolname = ANY ($1::text[])))))"
/*
 * The sessions of pg_stat_get_activity(NULL), read once (a CTE used twice
 * is materialized), with two flags:
 *   fresh   listed in full: it began after the previous poll's time ($2)
 *           less $3, or the daemon asks for it by pid ($4, an int4[]: a
 *           session it met without knowing it), or this is a first poll
 *           ($2 NULL). Older sessions are known to the daemon already: they
 *           come as kind 'o', pid, backend_start and application_name only
 *           (the one part of the identity a session can change), so their
 *           names are neither joined nor sent.
 *   recent  began after $2 (this statement's time on a first poll) less
 *           $3: the daemon's own sessions are listed only while recent.
 */
#define ACTIVITY(dn) \
	"WITH a AS (SELECT s.pid, s.backend_start, s.datid, s.usesysid, s.application_name, " \
	"s.client_addr, s.client_port, s.client_hostname, s.ssl, s.sslversion, s.sslcipher, s.sslbits, " \
	dn ", ($2::timestamptz IS NULL OR s.backend_start > $2::timestamptz - $3::interval " \
	"OR s.pid = ANY ($4::int4[])) AS fresh, " \
	"s.backend_start > coalesce($2::timestamptz, pg_catalog.statement_timestamp()) " \
	"- $3::interval AS recent " \
	"FROM pg_catalog.pg_stat_get_activity(NULL) s " \
	"WHERE s.backend_type = 'client backend' AND s.client_port IS NOT NULL " \
	"AND ($2::timestamptz IS NULL OR s.backend_start > $2::timestamptz - $3::interval " \
	"OR s.pid = ANY ($4::int4[]) OR NOT coalesce(" OWN_OLD("s") ", false))) "
#define DN11 "s.sslclientdn AS dn, NULL::text AS serial, NULL::text AS issuer"
#define DN12 "s.ssl_client_dn AS dn, s.ssl_client_serial::text AS serial, s.ssl_issuer_dn AS issuer"
/*
 * Own sessions are flagged, not filtered out: the missed-session count
 * needs every session the server started, the daemon's own included.
 * A session is ours if it is this connection, or another sslhistd
 * connection (another cluster, discovery, a restart) of a role the daemon
 * connects as ($1, a text[]): a client calling itself sslhistd under any
 * other role is still recorded. Database and role are named by the same
 * LEFT JOINs as pg_stat_activity's (pg_roles: pg_authid is for superusers).
 * Own sessions matter only once, as new: the daemon's many connections to
 * one server (a cluster per database, discovery) would otherwise be most
 * rows of every poll.
 */
#define OWN \
	"(a.pid = pg_catalog.pg_backend_pid() OR (a.application_name = 'sslhistd' " \
	"AND (u.rolname = CURRENT_USER OR u.rolname = ANY ($1::text[]))))"
#define FULL \
	"SELECT 'a'::text, a.pid, a.backend_start, d.datname, u.rolname, " \
	"a.application_name, pg_catalog.host(a.client_addr), a.client_hostname, " \
	"a.ssl, a.sslversion, a.sslcipher, a.sslbits, a.dn, a.serial, a.issuer, " \
	OWN ", NULL::int8, NULL::text, a.client_port " \
	"FROM a LEFT JOIN pg_catalog.pg_database d ON d.oid = a.datid " \
	"LEFT JOIN pg_catalog.pg_roles u ON u.oid = a.usesysid " \
	"WHERE a.fresh AND (a.recent OR NOT coalesce(" OWN ", false))"
#define OLD \
	" UNION ALL " \
	"SELECT 'o', a.pid, a.backend_start, NULL, NULL, a.application_name, NULL, NULL, " \
	"NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL " \
	"FROM a WHERE NOT a.fresh"
/* The time of this statement, for the next poll's $2. */
#define SNAPSHOT \
	" UNION ALL " \
	"SELECT 't', NULL, pg_catalog.statement_timestamp(), NULL, NULL, NULL, NULL, NULL, " \
	"NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
/* pg_stat_database less the shared row (datid 0), from its functions:
 * the view computes some twenty counters per database. */
#define DATABASES \
	" UNION ALL " \
	"SELECT 'd', d.oid::int4, NULL, d.datname, NULL, NULL, NULL, NULL, NULL, NULL, " \
	"NULL, NULL, NULL, NULL, NULL, NULL, pg_catalog.pg_stat_get_db_sessions(d.oid), " \
	"pg_catalog.pg_stat_get_db_stat_reset_time(d.oid)::text, NULL " \
	"FROM pg_catalog.pg_database d"

static const char q11[] = ACTIVITY(DN11) FULL OLD SNAPSHOT;
static const char q12[] = ACTIVITY(DN12) FULL OLD SNAPSHOT;
static const char q14[] = ACTIVITY(DN12) FULL OLD DATABASES SNAPSHOT;

const char *
statq_sessions(int version_num)
{
	if (version_num < STATQ_MIN_VERSION)
		return NULL;
	if (version_num < 120000)
		return q11;
	if (version_num < STATQ_SESSIONS_VERSION)
		return q12;
	return q14;
}

const char *
statq_facts(void)
{
	/*
	 * pg_read_all_stats exists from PostgreSQL 10; superusers see all.
	 * The search_path is still the server's while this statement is
	 * parsed: its operators are qualified too.
	 */
	return "SELECT pg_catalog.current_setting('server_version'), "
	       "pg_catalog.current_setting('ssl'), "
	       "pg_catalog.current_setting('rds.force_ssl', true), "
	       "(SELECT r.rolsuper FROM pg_catalog.pg_roles r "
	       "WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) "
	       "OR pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE'), "
	       "EXISTS (SELECT 1 FROM pg_catalog.pg_proc p "
	       "WHERE p.proname OPERATOR(pg_catalog.=) 'aurora_replica_status'), "
	       "pg_catalog.set_config('search_path', '', false)";
}

const char *
statq_discover(void)
{
	/*
	 * A reader whose status is older than 5 minutes is gone; the writer
	 * and the instance we are connected to (NULL from Aurora 13.9) are
	 * never stale.
	 */
	return "SELECT server_id, session_id = 'MASTER_SESSION_ID' "
	       "FROM aurora_replica_status() "
	       "WHERE session_id = 'MASTER_SESSION_ID' OR last_update_timestamp IS NULL "
	       "OR last_update_timestamp >= now() - interval '5 minutes'";
}

const char *
statq_time_param(char *buf, size_t len, int64_t us)
{
	time_t s = (time_t)(us / 1000000);
	int64_t frac = us % 1000000;
	struct tm tm;
	size_t n;

	if (us == 0)
		return NULL;
	if (frac < 0) {
		frac += 1000000;
		s--;
	}
	if (gmtime_r(&s, &tm) == NULL)
		return NULL;
	n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%06lld+00", (long long)frac);
	return buf;
}

const char *
statq_pids_param(char *buf, size_t len, const int32_t *pids, size_t n)
{
	size_t k = 0;

	if (len < STATQ_PIDS_MAX(n))
		return NULL;
	buf[k++] = '{';
	for (size_t i = 0; i < n; i++)
		k += (size_t)snprintf(buf + k, len - k, "%s%d", i ? "," : "", (int)pids[i]);
	buf[k++] = '}';
	buf[k] = '\0';
	return buf;
}

char *
statq_text_array(const char *const *v, size_t n)
{
	size_t cap = 3, len = 0;
	char *out;

	for (size_t i = 0; i < n; i++)
		cap += 2 * strlen(v[i]) + 3;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	out[len++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			out[len++] = ',';
		/* An element in double quotes: escape '"' and '\\'. */
		out[len++] = '"';
		for (const char *c = v[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				out[len++] = '\\';
			out[len++] = *c;
		}
		out[len++] = '"';
	}
	out[len++] = '}';
	out[len] = '\0';
	return out;
}
