/*
 * logread.h: a server log as a stream of bytes -> its records, each parsed
 * by logline.h (pure: the caller reads the file, a pipe or a child's
 * output and feeds the bytes as they come, in any chunks).
 *
 * Framing per format: stderr, a line that starts with the prefix and the
 * lines after it that do not (a newline inside a name or a multi-line
 * message); csvlog, one CSV record (quoted fields may hold newlines);
 * jsonlog, one object per line; CloudWatch, each object of the document's
 * "events" array. LOGFMT_AUTO looks at the first 4 KiB: a JSON document
 * whose first key is "events" (or "searchedLogStreams", "nextToken") is
 * CloudWatch's, another JSON object jsonlog, a first line that begins
 * with a millisecond time and a comma csvlog, else stderr.
 *
 * A record that cannot be read (another format, truncated, longer than
 * LOGLINE_MAX_RECORD, broken CSV or JSON) is skipped: counted and handed
 * to the skip callback with its line number and why, never fatal. A CSV
 * record whose quote never closes is cut at LOGLINE_MAX_RECORD and reading
 * goes on at the next line.
 */
#ifndef SSLHIST_LOGREAD_H
#define SSLHIST_LOGREAD_H

#include <stddef.h>
#include <stdint.h>

#include "logline.h"

struct logread_stats {
	uint64_t lines;		/* physical lines read */
	uint64_t records;	/* records parsed */
	uint64_t skipped;	/* records that could not be read */
	uint64_t connection;	/* received, authenticated, authorized lines */
};

/* A parsed record, first line `lineno` (1-based). Non-zero stops reading
 * (logread_feed and logread_end return it). */
typedef int (*logread_fn)(void *arg, const struct logline *l, uint64_t lineno);
/* A skipped record: why, and its bytes (at most the first 200). */
typedef void (*logread_skip_fn)(void *arg, uint64_t lineno, const char *why, const char *rec,
				size_t len);

struct logread;

/* NULL with err set (a prefix without the pid, no memory). prefix: see
 * logline_parser_new. */
struct logread *logread_new(enum logline_format fmt, const char *prefix, logread_fn fn,
			    logread_skip_fn skip, void *arg, char *err, size_t errlen);
void logread_free(struct logread *r);

/* Feeds the next bytes. 0, a callback's non-zero, or -1 out of memory. */
int logread_feed(struct logread *r, const char *buf, size_t n);
/* The end of the input: the last record is flushed. Same returns. */
int logread_end(struct logread *r);

const struct logread_stats *logread_stats(const struct logread *r);
/* The format read (auto resolved once 4 KiB or the end were seen). */
enum logline_format logread_format(const struct logread *r);

#endif
