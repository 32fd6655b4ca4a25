/*
 * statquery.h: the SQL that sslhistd sends, adapted to the server version.
 *
 * pg_stat_ssl changed shape: PostgreSQL 11 has `clientdn` and
 * `compression`; 12-13 `client_dn`, `client_serial`, `issuer_dn` and
 * `compression`; 14+ drops `compression`. The poll query always returns
 * the same columns (STATQ_COL_*), NULL where the server has no such column.
 *
 * One poll is one statement, so the sessions it lists and the session
 * counters of pg_stat_database (PostgreSQL 14+) come from one snapshot:
 * rows of kind 'a' are sessions, rows of kind 'd' are databases, whose
 * columns are reused as the STATQ_D_* names say.
 */
#ifndef SSLHIST_STATQUERY_H
#define SSLHIST_STATQUERY_H

enum statq_col {
	STATQ_COL_KIND,			/* 'a': session, 'd': database */
	STATQ_COL_PID,
	STATQ_COL_BACKEND_START_US,	/* int8, microseconds since the epoch */
	STATQ_COL_DATNAME,
	STATQ_COL_USENAME,
	STATQ_COL_APPLICATION,
	STATQ_COL_CLIENT_ADDR,		/* host(client_addr) */
	STATQ_COL_CLIENT_HOSTNAME,
	STATQ_COL_SSL,			/* 't' / 'f' */
	STATQ_COL_VERSION,
	STATQ_COL_CIPHER,
	STATQ_COL_BITS,
	STATQ_COL_CLIENT_DN,
	STATQ_COL_CLIENT_SERIAL,
	STATQ_COL_ISSUER_DN,
	STATQ_COL_OWN,			/* 't': a session of sslhistd itself */
	STATQ_COL_COUNT
};

/* Rows of kind 'd'. */
#define STATQ_D_DATID		STATQ_COL_PID
#define STATQ_D_SESSIONS	STATQ_COL_BACKEND_START_US
#define STATQ_D_DATNAME		STATQ_COL_DATNAME
#define STATQ_D_STATS_RESET	STATQ_COL_VERSION

/* The oldest server the poll query supports (PQserverVersion). */
#define STATQ_MIN_VERSION 110000
/* The first server with pg_stat_database.sessions. */
#define STATQ_SESSIONS_VERSION 140000

/* The poll query for a server of PQserverVersion() `version_num`; NULL for
 * servers older than STATQ_MIN_VERSION. One parameter: a text[] of the
 * roles whose sslhistd sessions are the daemon's own. */
const char *statq_sessions(int version_num);

enum statq_fact_col { STATQ_FACT_SERVER_VERSION, STATQ_FACT_SSL, STATQ_FACT_FORCE_SSL,
	STATQ_FACT_CAN_SEE_ALL, STATQ_FACT_IS_AURORA, STATQ_FACT_COUNT };
/* One row of instance facts, read on each (re)connection. No parameters. */
const char *statq_facts(void);

/* Aurora discovery: rows of server_id, is_writer ('t'/'f'), live only. */
const char *statq_discover(void);

#endif
