/*
 * writer.h: the loop's side of the store queue. The store runs on a thread
 * of its own (storethread.c), the only thread besides the loop; the loop
 * never calls SQLite once writer_start() returned.
 *
 * One FIFO carries two kinds of entries to the thread:
 * - poll records (writer_submit): committed in groups, one transaction for
 *   every record queued, at most WRITER_COMMIT_MS after the oldest of them
 *   was submitted, or at once when WRITER_BATCH records wait, when a
 *   request is behind them, or on writer_flush (docs/CONTRACT.md: a poll is
 *   visible at most 1 s after it ends). While the store fails (disk full,
 *   locked, read-only, frozen) they wait in bounded memory
 *   (WRITER_MAX_BYTES, the oldest not being written dropped and logged),
 *   retried with backoff, in order;
 * - requests (writer_call): a function run on the thread with the store
 *   (any store*.h call; values in, values out), whose `done` then runs on
 *   the loop. Requests run in FIFO order with the records: a request sees
 *   every record submitted before it, unless storing those failed (then it
 *   runs anyway: a failing record must not stall the hooks).
 *
 * Replies come back through an eventfd the loop reads (one libevent read
 * event): libevent itself stays single-threaded, without locks on every
 * event_add of the poll path (evthread_use_pthreads would add them).
 *
 * Before writer_start() there is no thread: writer_call() runs the request
 * and its `done` at once on the caller's thread (start-up: registering the
 * instances, recovering hooks) and records wait for the start.
 *
 * The thread also does the store's housekeeping: a passive WAL checkpoint
 * every 30 s and, every hour, the expiry of detail older than the
 * retention (writer_set_retention).
 */
#ifndef SSLHIST_WRITER_H
#define SSLHIST_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct poll_record;
struct writer;

/* Records held while the store fails, at most (oldest dropped, logged). */
#define WRITER_MAX_BYTES (64u << 20)
/* Group commit: the longest a record waits for company, and how many
 * records make a transaction at once. */
#define WRITER_COMMIT_MS 500
#define WRITER_BATCH 256
#define WRITER_CHECKPOINT_MS 30000
#define WRITER_EXPIRE_MS (3600 * 1000)

/* A request: embed it first in a struct of your own. */
struct sq_req {
	struct sq_req *next;
	/* On the store thread; must not touch loop state. */
	void (*run)(struct store *s, struct sq_req *r);
	/* On the loop after run; frees the request. */
	void (*done)(struct sq_req *r);
	/* Instead of run and done, when the daemon exits without them (the
	 * store thread stuck past the stop's deadline); NULL: free(r). */
	void (*drop)(struct sq_req *r);
};

/* Figures for bench/ and the status line. */
struct writer_stats {
	uint64_t records, transactions, failures, requests;
};

/* `stored` (may be NULL) runs on the loop after records were committed.
 * The store stays the caller's: it outlives the writer. */
struct writer *writer_new(struct event_base *base, struct store *store,
			  void (*stored)(void *arg, int new_clients), void *arg);
/* Hands the store to a new thread. 0, or -1 (then still synchronous). */
int writer_start(struct writer *w);
/*
 * Drains: the thread commits what is queued and runs the requests, for at
 * most wait_ms; the replies then run here. Returns 0 when the thread has
 * ended (the store is the caller's again), -1 when it is still inside a
 * store call (a frozen file system): the store must then not be closed,
 * the daemon just exits. Logs what it could not store.
 */
int writer_stop(struct writer *w, int64_t wait_ms);
/* After writer_stop (or without a start): frees what is queued. */
void writer_free(struct writer *w);

/* Takes ownership of r and queues it. Never blocks on the store. */
void writer_submit(struct writer *w, struct poll_record *r);
/* Queues a request (see above). */
void writer_call(struct writer *w, struct sq_req *r);
/* Asks for the queued records to be committed now (--once); returns the
 * records submitted and not yet reported stored. */
size_t writer_flush(struct writer *w);
size_t writer_queued(const struct writer *w);
/* Unix time (s) when a record was last stored; 0 before the first. */
int64_t writer_last_stored(const struct writer *w);
/* How long (ms) the store thread has been inside one store call at
 * monotonic now_ms (0: idle or quick). A frozen disk shows here and in
 * the status line, not in the watchdog: polls go on meanwhile. */
int64_t writer_stuck_ms(struct writer *w, int64_t now_ms);
/* Expire detail older than this (0: never); applies at the next hourly run. */
void writer_set_retention(struct writer *w, int64_t retention_ms);
/* The alert mask of store_set_alerts, in order with the records. */
void writer_set_alerts(struct writer *w, unsigned mask);
void writer_stats(struct writer *w, struct writer_stats *st);

#endif
