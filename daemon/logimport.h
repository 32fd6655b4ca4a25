/*
 * logimport.h: a server log of one instance -> its sessions, stored
 * (docs/CONTRACT.md section 4, `import-log`). Shared by `sslhist
 * import-log` and the daemon's log_command.
 *
 * Bytes go through logread.h; "connection received" (address, port) is
 * joined with "connection authorized" (names, TLS) by pid (and, where the
 * format has it, the session's start), and each session goes to
 * store_log_session with the window its lines allow:
 *   - the session's start known (csvlog, jsonlog, %c, %s): that second;
 *   - else the received line's time t (precision p): [t - 1 s, t + p);
 *   - only the authorized line: [t - 10 s, t + p).
 * A session whose address no line gives (the received line lies before
 * the log's start, and the prefix has no %r/%h) is counted, not stored:
 * its client would be a different one. Excluded users and databases and
 * the daemon's own sessions (application_name sslhistd) are skipped as a
 * poll skips them.
 *
 * Writes are batched: one transaction per batch_lines lines read or
 * batch_ms of writing, whichever comes first, so a daemon writing at the
 * same time waits at most one batch.
 */
#ifndef SSLHIST_LOGIMPORT_H
#define SSLHIST_LOGIMPORT_H

#include <stdint.h>

#include "logline.h"
#include "parse.h"
#include "store.h"

#define LOGIMPORT_SKIPPED_QUOTED 3	/* skipped lines kept for the report */

struct logimport_opts {
	enum logline_format format;
	const char *prefix;		/* NULL: found */
	const struct strlist *exclude_users;	/* may be NULL */
	const struct strlist *exclude_databases;
	int batch_lines;		/* 0: 10000 */
	int64_t batch_ms;		/* 0: 1000 */
	/* Each logimport_feed ends with a commit: the daemon's store connection
	 * is shared with the writer, which must find no transaction open
	 * between two turns of the loop. */
	bool commit_each_feed;
};

struct logimport_stats {
	uint64_t lines, records, skipped;
	uint64_t sessions;		/* authorized lines of client sessions */
	uint64_t stored;		/* new sessions stored (no poll saw them) */
	uint64_t named_polled;		/* polled sessions a log now also shows */
	uint64_t known;			/* imported before */
	uint64_t excluded;		/* excluded users, databases, sslhistd */
	uint64_t no_address;		/* no line gave the address */
	int new_clients;
	int64_t newest_us;		/* newest line time; INT64_MIN: none */
	uint64_t skipped_line[LOGIMPORT_SKIPPED_QUOTED];
	char skipped_why[LOGIMPORT_SKIPPED_QUOTED][96];
	char skipped_text[LOGIMPORT_SKIPPED_QUOTED][128];	/* escaped (textesc) */
};

struct logimport;

/* NULL with err set (bad prefix, no memory). */
struct logimport *logimport_new(struct store *s, int64_t instance_id,
				const struct logimport_opts *o, char *err, size_t errlen);
/* Feeds bytes; 0, or -1 when the store failed (store_errmsg; what was
 * committed before stays, the batch in progress is rolled back). */
int logimport_feed(struct logimport *li, const char *buf, size_t n);
/* The end of the input: the last batch committed. 0 or -1. */
int logimport_end(struct logimport *li);
const struct logimport_stats *logimport_stats(const struct logimport *li);
enum logline_format logimport_format(const struct logimport *li);
void logimport_free(struct logimport *li);

#endif
