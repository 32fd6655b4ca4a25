/*
 * logline.h: one PostgreSQL server log record -> what it says about a
 * session (pure: no I/O, no allocation per record after the first).
 *
 * Read are the three lines that log_connections = on writes for every
 * session (docs/SOURCES.md names the source file and branch of each text):
 *   connection received: host=H[ port=P]                      (all versions)
 *   connection authenticated: identity="I" method=M (F:N)     (14+)
 *   connection authorized: user=U database=D[ application_name=A]
 *       [ SSL enabled (protocol=V, cipher=C, bits=N[, compression=X])]
 *       [ GSS (...)]                                          (application_name 12+,
 *                                                              compression 11-13)
 * in four formats: stderr with any log_line_prefix that carries the pid
 * (%p, or %c whose second half is the pid in hex), csvlog, jsonlog (15+),
 * and one event of CloudWatch Logs' JSON (`aws logs filter-log-events
 * --output json`), whose "message" is a stderr line with RDS's prefix.
 * Only severity LOG counts; messages are PostgreSQL's English texts
 * (lc_messages = C or en, as RDS and Aurora write them).
 *
 * Values are hostile and kept byte for byte (ESC, quotes, $(...), invalid
 * UTF-8). Where a name itself holds " database=" or " application_name="
 * the split is the leftmost one; the SSL and GSS parts are read from the
 * end, so an application name cannot forge them. In stderr a newline
 * inside a name ends the physical line: logread.c joins the lines that do
 * not start with the prefix back into the record (with the newline), so
 * the name keeps it; csvlog and jsonlog quote it and are unambiguous.
 */
#ifndef SSLHIST_LOGLINE_H
#define SSLHIST_LOGLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum logline_format {
	LOGFMT_AUTO,
	LOGFMT_STDERR,
	LOGFMT_CSVLOG,
	LOGFMT_JSONLOG,
	LOGFMT_CLOUDWATCH,
};

enum logline_kind {
	LOGLINE_OTHER,		/* a record of the format, not a connection line */
	LOGLINE_RECEIVED,
	LOGLINE_AUTHENTICATED,
	LOGLINE_AUTHORIZED,
};

/* RDS's and Aurora's log_line_prefix, the default of --prefix. */
#define LOGLINE_RDS_PREFIX "%t:%r:%u@%d:[%p]:"
/* The longest record read; a longer one is skipped (names are at most 63
 * bytes, a connection line is well under 1 KiB). */
#define LOGLINE_MAX_RECORD (64 * 1024)

struct logline {
	enum logline_kind kind;
	int64_t time_us;	/* the line's time (Unix us); INT64_MIN: none */
	int64_t prec_us;	/* its precision: 1000 (%m, csv, json), 1000000 (%t) */
	int64_t session_start;	/* backend start in Unix s (%c, %s, csv, json); -1: none */
	int32_t pid;		/* 0: none */
	/* received; authorized too where the record says (csvlog's
	 * connection_from, jsonlog's remote_host, a prefix's %r or %h) */
	bool has_host;
	const char *host;	/* NULL for [local] (a Unix socket) */
	int port;		/* -1: none */
	/* authorized */
	const char *user;
	const char *database;
	const char *application;	/* NULL: the line has none */
	bool ssl;
	const char *protocol;
	const char *cipher;
	int bits;		/* -1: none */
	/* authenticated */
	const char *identity;
	const char *method;
};

struct logline_parser;

/*
 * A parser for one format. prefix (stderr, and CloudWatch's messages) is a
 * log_line_prefix; NULL: try RDS's and the common ones per line, keeping
 * the last that matched. LOGFMT_AUTO is resolved by logread.c, not here.
 * NULL with a message in err for a prefix without the pid, or no memory.
 */
struct logline_parser *logline_parser_new(enum logline_format fmt, const char *prefix,
					  char *err, size_t errlen);
void logline_parser_free(struct logline_parser *p);

/*
 * Parses one record (stderr: a line and its continuation lines; csvlog:
 * one CSV record; jsonlog and CloudWatch: one JSON object). 0: parsed
 * (kind may be LOGLINE_OTHER); 1: a record to ignore silently (a
 * CloudWatch object that is no event); -1: not a record of the format,
 * logline_error() says why. Strings in out point into the parser and stay
 * valid until its next call.
 */
int logline_parse(struct logline_parser *p, const char *rec, size_t len, struct logline *out);
const char *logline_error(const struct logline_parser *p);

/* Whether a stderr line starts a record (its prefix matches). */
bool logline_starts_record(struct logline_parser *p, const char *line, size_t len);

/* "YYYY-MM-DD HH:MM:SS[.fff...] ZONE" (ZONE: UTC, GMT, Z, +HH[[:]MM]) into
 * Unix us and its precision. false when it is not one. */
bool logline_parse_time(const char *s, size_t n, int64_t *us, int64_t *prec_us);

/* Parses "auto", "stderr", "csvlog", "jsonlog", "cloudwatch". */
bool logline_format_parse(const char *s, enum logline_format *f);
const char *logline_format_name(enum logline_format f);

#endif
