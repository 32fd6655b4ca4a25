/*
 * store_logs.h: sessions named by server logs, in the history (schema
 * sql/004_log_import.sql). Used by `sslhist import-log` and by the
 * daemon's log_command; the store stays the one owner of the SQL.
 *
 * A logged session matches a known one (polled or logged before) of the
 * same instance and pid whose start lies in [lo_us, hi_us]; then it adds
 * nothing but the mark "a log showed it" (client.logged_sessions + 1 the
 * first time). Otherwise it is a session of its client as a poll would
 * have stored it (same identity digest as store_apply: a client found by
 * a poll and a log is one client), with samples 0, and it counts in its
 * hour's log_coverage. New clients get their alert rows as in store_apply.
 *
 * Writes go in batches: store_log_begin, any number of store_log_session,
 * store_log_end (commit). The caller keeps batches short: the daemon
 * waits at most its busy timeout for the lock.
 */
#ifndef SSLHIST_STORE_LOGS_H
#define SSLHIST_STORE_LOGS_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* The window of a logged session around its line's time (SOURCES:
 * backend start precedes "connection received" by the fork, and
 * "connection authorized" by the authentication too). */
#define LOG_SLACK_RECEIVED_US	(1 * 1000000LL)
#define LOG_SLACK_AUTHORIZED_US	(10 * 1000000LL)

struct log_session {
	int32_t pid;
	int64_t start_us;	/* its key: the received line's time, else the authorized one's */
	int64_t lo_us, hi_us;	/* where its backend start can lie */
	const char *database, *user, *application, *client_addr;	/* addr NULL: Unix socket */
	bool ssl;
	const char *tls_version, *cipher;
	int bits;		/* -1: none */
};

enum log_outcome {
	LOG_NEW,		/* a session no poll saw: stored */
	LOG_NAMED_POLLED,	/* a polled session the log now also shows */
	LOG_KNOWN,		/* imported before */
};

/* Sets how long a writer waits for the lock (the import waits longer than
 * the daemon, which must not sleep in its loop). */
void store_set_busy_timeout(struct store *s, int ms);

/* The instances of cluster, for fn(id, host, port, retired). 0 or -1. */
int store_log_instances(struct store *s, const char *cluster,
			void (*fn)(void *arg, int64_t id, const char *host, int port, bool retired),
			void *arg);

int store_log_begin(struct store *s);
/* One logged session of instance_id; now_ms: when its alerts may run. */
int store_log_session(struct store *s, int64_t instance_id, const struct log_session *ls,
		      int64_t now_ms, enum log_outcome *out, int *new_clients);
/* Commits, recording newest_us (the newest line read; INT64_MIN: none)
 * for the instance. 0, or -1 with the batch rolled back. */
int store_log_end(struct store *s, int64_t instance_id, int64_t newest_us, int64_t now_s);
void store_log_abort(struct store *s);

/* The newest line imported for the instance (Unix us), or INT64_MIN. */
int store_log_since(struct store *s, int64_t instance_id, int64_t *us);
/* The largest client row id (new clients since a mark, e.g. imported by
 * another process); -1 on error. */
int64_t store_newest_client(struct store *s);

/* ---- the poll's side (store_poll.c, inside its transaction) ---- */
/* A session a poll saw first: matched with a logged one (then counted
 * once, in the polled client), else kept for logs imported later. */
int st_session_polled(struct store *s, int64_t instance_id, int32_t pid, int64_t backend_start_us,
		      int64_t client_id);

#endif
