/*
 * statrow.h: decoding one row of the poll query (statquery.h), received in
 * binary format, from a server that may be hostile.
 *
 * A pure function over one row's (values, lengths, nulls), so that it can
 * be fuzzed (tests/fuzz/fuzz_rows.c) and tested without a server. Every
 * value is checked: its length for its type, numbers for their range, text
 * for embedded NUL bytes and a length cap. A row that fails a check is
 * rejected whole with the first reason (statrow_error): the caller skips
 * it; nothing of it is stored. Text is not checked for UTF-8: the contract keeps the
 * server's bytes, and readers escape them.
 *
 * Decoded text points into the caller's values (no copies; char * like
 * libpq's PQgetvalue and struct client_key): each value
 * must be followed by a NUL byte, as libpq guarantees for PQgetvalue in
 * both formats.
 */
#ifndef SSLHIST_STATROW_H
#define SSLHIST_STATROW_H

#include <stdbool.h>
#include <stdint.h>

#include "statquery.h"

/* Longest text value accepted (PostgreSQL names are 63 bytes; DNs and
 * host names stay far below). */
#define STATROW_MAX_TEXT 8192

enum statrow_error {
	STATROW_OK,
	STATROW_BAD_KIND,	/* not 'a', 'o', 'd' or 't' */
	STATROW_BAD_PID,	/* NULL, not an int4, or <= 0 */
	STATROW_BAD_START,	/* NULL, not a timestamptz, or infinite (also the
				 * time of a 't' row) */
	STATROW_BAD_SSL,	/* NULL or not a bool */
	STATROW_BAD_BITS,	/* not an int4, or out of 0..65535 */
	STATROW_BAD_TEXT,	/* embedded NUL, or too long */
	STATROW_BAD_OWN,	/* not a bool */
	STATROW_BAD_DATABASE,	/* a database row: no oid, name or counter */
	STATROW_NERRORS
};

/* One row, as the poll query's columns say (NULL pointers for SQL NULL). */
struct stat_row {
	char kind;			/* 'a', 'o', 'd' or 't' */
	int32_t pid;			/* 'a', 'o' */
	int64_t backend_start_us;	/* 'a', 'o'; 't': the statement's time.
					 * Unix microseconds */
	char *datname;		/* both kinds */
	char *usename;
	char *application;
	char *client_addr;
	char *client_hostname;
	int32_t client_port;		/* 'a'; 0: NULL */
	bool ssl;
	char *tls_version;
	char *cipher;
	int bits;			/* -1: NULL */
	char *client_dn;
	char *client_serial;
	char *issuer_dn;
	bool own;			/* NULL counts as false */
	uint32_t datid;			/* 'd' */
	int64_t sessions;		/* 'd' */
	char *stats_reset;	/* 'd', may be NULL */
};

/* The values of one row: STATQ_COL_COUNT of each. */
struct stat_cells {
	char *const *values;	/* not modified */
	const int *lengths;
	const bool *nulls;
};

/*
 * Decodes the columns that identify a row: its kind and, for a session
 * ('a' listed in full, 'o' by identity only), pid, backend_start and
 * application_name;
 * database and time rows are decoded whole. Enough to tell a known
 * session from a new one.
 */
enum statrow_error statrow_decode_id(const struct stat_cells *c, struct stat_row *out);
/* Decodes every column (statrow_decode_id included). */
enum statrow_error statrow_decode(const struct stat_cells *c, struct stat_row *out);

/* "bad pid", ... for logs. */
const char *statrow_error_name(enum statrow_error e);

#endif
