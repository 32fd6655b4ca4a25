/*
 * statquery.h: the SQL that sslhistd sends, adapted to the server version.
 *
 * The poll query returns what the reference query (docs/CONTRACT.md section 3) (pg_stat_activity joined with
 * pg_stat_ssl) returns, at less cost to the monitored server: both views
 * call pg_stat_get_activity(NULL), so the join does that work twice; this
 * query reads it once and names database and role as the views do (a join
 * to pg_database and pg_roles). Its column names changed: PostgreSQL 11 has
 * `sslclientdn`; 12 and later `ssl_client_dn`, `ssl_client_serial` and
 * `ssl_issuer_dn`. The query always returns the same columns (STATQ_COL_*),
 * NULL where the server has no such column. Like pg_stat_ssl from 13 on, it
 * leaves out the sessions whose details the role may not see (client_port
 * NULL): their identity (backend_start) is hidden too, so nothing of them
 * can be recorded on any version.
 *
 * It is sent prepared (once per connection) and its result is requested in
 * binary format (statrow.h decodes it): the server skips the output
 * functions and the daemon the number parsing. Every name is qualified
 * with pg_catalog, and the facts query, sent first on each connection,
 * empties the session's search_path, so no schema of the monitored server
 * (a database owner may set search_path) can shadow a view, function or
 * operator.
 *
 * One poll is one statement, so the sessions it lists and the session
 * counters of PostgreSQL 14+ (pg_stat_database.sessions) come from one
 * snapshot: rows of kind 'a' are sessions, rows of kind 'd' are databases
 * (STATQ_D_* columns), and one row of kind 't' holds the statement's time
 * (STATQ_T_TIME). Sessions that began before the previous poll come as
 * kind 'o': pid, backend_start and application_name only, the rest NULL
 * (the daemon knows them; a server's cost per row is mostly naming and
 * sending; application_name is there because SET can change it). The
 * daemon's own sessions (flagged, never recorded) are listed only while
 * new: they matter only then, for the count of missed ones.
 */
#ifndef SSLHIST_STATQUERY_H
#define SSLHIST_STATQUERY_H

#include <stddef.h>
#include <stdint.h>

enum statq_col {
	STATQ_COL_KIND,			/* text 'a' session, 'd' database, 't' time */
	STATQ_COL_PID,			/* int4 */
	STATQ_COL_BACKEND_START,	/* timestamptz */
	STATQ_COL_DATNAME,		/* name */
	STATQ_COL_USENAME,		/* name */
	STATQ_COL_APPLICATION,		/* text */
	STATQ_COL_CLIENT_ADDR,		/* text: host(client_addr) */
	STATQ_COL_CLIENT_HOSTNAME,	/* text */
	STATQ_COL_SSL,			/* bool */
	STATQ_COL_VERSION,		/* text */
	STATQ_COL_CIPHER,		/* text */
	STATQ_COL_BITS,			/* int4 */
	STATQ_COL_CLIENT_DN,		/* text */
	STATQ_COL_CLIENT_SERIAL,	/* text */
	STATQ_COL_ISSUER_DN,		/* text */
	STATQ_COL_OWN,			/* bool: a session of sslhistd itself */
	STATQ_COL_SESSIONS,		/* int8, rows of kind 'd' */
	STATQ_COL_STATS_RESET,		/* text, rows of kind 'd' */
	STATQ_COL_CLIENT_PORT,		/* int4, rows of kind 'a': a [pooler]'s
					 * server connections are told by their
					 * address and port (poolmatch.h) */
	STATQ_COL_COUNT
};

/* Rows of kind 'd'. */
#define STATQ_D_DATID		STATQ_COL_PID		/* the oid, as int4 */
#define STATQ_D_DATNAME		STATQ_COL_DATNAME
/* The row of kind 't': statement_timestamp(). */
#define STATQ_T_TIME		STATQ_COL_BACKEND_START

/* The oldest server the poll query supports (PQserverVersion). */
#define STATQ_MIN_VERSION 110000
/* The first server with pg_stat_database.sessions. */
#define STATQ_SESSIONS_VERSION 140000

/* The name the poll query is prepared under, on each connection. */
#define STATQ_POLL_NAME "sslhist_poll"

/* The poll query for a server of PQserverVersion() `version_num`; NULL for
 * servers older than STATQ_MIN_VERSION. Parameters: $1 a text[] of the
 * roles whose sslhistd sessions are the daemon's own; $2 the time of the
 * previous poll (its 't' row; NULL on the first poll: then every session
 * is listed in full) and $3 an interval: sessions that began before
 * $2 - $3 come as kind 'o', and own ones (before this statement's time
 * less $3 on a first poll) not at all; $4 an int4[] of pids to list in
 * full all the same (sessions the daemon met as 'o' without knowing them).
 * Results: binary. */
const char *statq_sessions(int version_num);

/* The text of $2: Unix microseconds `us` as a timestamptz in UTC, into
 * buf (STATQ_TIME_MAX bytes); NULL (SQL NULL) for 0: no previous poll. */
#define STATQ_TIME_MAX 48
const char *statq_time_param(char *buf, size_t len, int64_t us);
/* The text of $4: an int4[] literal of n pids, into buf (STATQ_PIDS_MAX(n)
 * bytes). */
#define STATQ_PIDS_MAX(n) ((n) * 12 + 3)
const char *statq_pids_param(char *buf, size_t len, const int32_t *pids, size_t n);

/* The text of $1: a text[] literal of n strings; malloc'd, NULL when out
 * of memory. */
char *statq_text_array(const char *const *v, size_t n);

enum statq_fact_col { STATQ_FACT_SERVER_VERSION, STATQ_FACT_SSL, STATQ_FACT_FORCE_SSL,
	STATQ_FACT_CAN_SEE_ALL, STATQ_FACT_IS_AURORA, STATQ_FACT_SEARCH_PATH,
	STATQ_FACT_COUNT };
/* One row of instance facts, read on each (re)connection, text results; it
 * also empties the session's search_path. No parameters. */
const char *statq_facts(void);

/* Aurora discovery: rows of server_id, is_writer ('t'/'f'), live only. */
const char *statq_discover(void);

#endif
