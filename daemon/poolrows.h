/*
 * poolrows.h: the rows of PgBouncer's admin console (SHOW CLIENTS, SHOW
 * SERVERS, SHOW CONFIG), received as text from a pooler that may be
 * hostile, and the poll record of one pooler poll.
 *
 * Columns are found by name, never by position: SHOW CLIENTS and SHOW
 * SERVERS share one column list (src/admin.c, socket_header) that grew
 * over the versions:
 *   1.18  type user database state addr port local_addr local_port
 *         connect_time request_time wait wait_us close_needed ptr link
 *         remote_pid tls application_name
 *   1.21, 1.22  ... application_name prepared_statements
 *   1.23  `replication` after database
 *   1.24  `id` (a unique number per connection) after prepared_statements
 * Unknown columns are ignored; a missing column that the record needs is
 * an error that names it (the whole poll fails, nothing is half-read).
 *
 * `tls` is empty for a plain connection, else "PROTOCOL/CIPHER/KEYEXCHANGE"
 * (libusual's tls_get_connection_info, e.g.
 * "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519"); a client's TLS version
 * and cipher come from its first two fields. The console gives no key
 * length and no client certificate: bits and the DNs stay NULL.
 *
 * A client session of the pooler is (pid, backend_start) to the tracker:
 * pid is the `id` column where there is one (1.24+), else a 31-bit hash
 * of addr:port (unique among the pooler's open connections; a reused port
 * has a new connect_time), backend_start its connect_time.
 *
 * Pure: no I/O, no logging; the record is built as pollrec.h's.
 */
#ifndef SSLHIST_POOLROWS_H
#define SSLHIST_POOLROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct poll_record;
struct pooler_facts;
struct strlist;
struct tracker;

/* The columns one poll reads (-1: not in this version's result). */
struct poolrows_cols {
	int type, user, database, state, addr, port, local_addr, local_port, connect_time,
	    tls, application_name, id;
};

/* Finds the columns of a SHOW CLIENTS or SHOW SERVERS result. NULL, or
 * what is wrong ("SHOW CLIENTS returned no column 'tls'"), into buf. */
const char *poolrows_columns(const PGresult *res, const char *what, struct poolrows_cols *c,
			     char *buf, size_t len);

/* One row, decoded (text points into the result). */
struct pool_sock {
	char type;			/* 'C' client, 'S' server */
	const char *user, *database, *state, *addr, *local_addr, *tls, *application;
	int port, local_port;		/* 0: none (a Unix socket) */
	int64_t connect_us;		/* connect_time as Unix us (read as UTC) */
	int64_t id;			/* -1: no `id` column */
};

enum poolrow_error {
	POOLROW_OK,
	POOLROW_BAD_TYPE,	/* not C or S */
	POOLROW_BAD_PORT,	/* not 0..65535 */
	POOLROW_BAD_TIME,	/* connect_time not "YYYY-MM-DD HH:MM:SS[ ZONE]" */
	POOLROW_BAD_TEXT,	/* too long (over STATROW_MAX_TEXT) */
	POOLROW_NERRORS
};
const char *poolrow_error_name(enum poolrow_error e);

enum poolrow_error poolrows_decode(const PGresult *res, int row, const struct poolrows_cols *c,
				   struct pool_sock *out);

/* The TLS version and cipher of a `tls` value; false when it is empty (a
 * plain connection). Parts that are missing come back empty. */
bool poolrows_tls(const char *tls, char *version, size_t vlen, char *cipher, size_t clen);

/* connect_time ("2026-12-03 12:00:00 UTC"; PgBouncer prints local time
 * with the zone's abbreviation, which is read as UTC: the value only
 * tells sessions apart) as Unix microseconds; false when malformed. */
bool poolrows_time(const char *s, int64_t *us);

/* SHOW CONFIG (key, value, ...) -> the TLS settings; NULL or an error. */
const char *poolrows_config(const PGresult *res, struct pooler_facts *f);

/* What building a pooler's record needs. */
struct poolrec_ctx {
	struct tracker *tracker;	/* the pooler's live client sessions */
	const struct strlist *exclude_users;
	const struct strlist *exclude_databases;
};

struct poolrec_out {
	uint64_t bad[POOLROW_NERRORS];	/* rows skipped, by reason */
	size_t clients;			/* client rows of the cluster read */
	char error[256];		/* what poolrec_build returns, when it
					 * is about the result */
};

/*
 * SHOW CLIENTS -> r (zeroed by the caller): the client sessions the
 * tracker did not know, with their clients, and those that ended. Rows of
 * the console itself (database "pgbouncer": sslhistd and other admin
 * sessions), of clients not yet logged in ("(nouser)", "(nodb)") and of
 * excluded users or databases are not the cluster's clients. Missed
 * sessions cannot be counted (counters_known stays false): PgBouncer
 * keeps no count of client logins (SHOW STATS counts transactions and
 * queries per database, not connections). NULL, or what went wrong.
 */
const char *poolrec_build(const struct poolrec_ctx *ctx, const PGresult *res,
			  struct poll_record *r, struct poolrec_out *out);

/* The session identity of a client row (see the top of this file). */
int32_t poolrows_pid(const struct pool_sock *s);

#endif
