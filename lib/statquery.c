/*
 * statquery.c: the version-adapted query texts (see statquery.h).
 */
#include <stddef.h>

#include "statquery.h"

/*
 * Own sessions are flagged, not filtered out: the missed-session count
 * needs every session the server started, the daemon's own included.
 * A session is ours if it is this connection, or another sslhistd
 * connection (another cluster, discovery, a restart) of a role the daemon
 * connects as ($1, a text[]): a client calling itself sslhistd under any
 * other role is still recorded.
 */
#define SESSION_HEAD \
	"SELECT 'a'::text, a.pid::int8, " \
	"(extract(epoch FROM a.backend_start) * 1000000)::int8, " \
	"a.datname::text, a.usename::text, a.application_name, host(a.client_addr), " \
	"a.client_hostname, s.ssl, s.version, s.cipher, s.bits, "
#define SESSION_TAIL \
	"(a.pid = pg_backend_pid() OR (a.application_name = 'sslhistd' " \
	"AND (a.usename = current_user OR a.usename = ANY ($1::text[])))) " \
	"FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) " \
	"WHERE a.backend_type = 'client backend'"
#define DATABASES \
	" UNION ALL " \
	"SELECT 'd', datid::int8, sessions, datname::text, NULL, NULL, NULL, NULL, " \
	"NULL, stats_reset::text, NULL, NULL, NULL, NULL, NULL, NULL " \
	"FROM pg_stat_database WHERE datname IS NOT NULL"

static const char q11[] = SESSION_HEAD
	"s.clientdn, NULL::text, NULL::text, " SESSION_TAIL;
static const char q12[] = SESSION_HEAD
	"s.client_dn, s.client_serial::text, s.issuer_dn, " SESSION_TAIL;
static const char q14[] = SESSION_HEAD
	"s.client_dn, s.client_serial::text, s.issuer_dn, " SESSION_TAIL DATABASES;

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
	/* pg_read_all_stats exists from PostgreSQL 10; superusers see all. */
	return "SELECT current_setting('server_version'), current_setting('ssl'), "
	       "current_setting('rds.force_ssl', true), "
	       "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
	       "OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'), "
	       "EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'aurora_replica_status')";
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
