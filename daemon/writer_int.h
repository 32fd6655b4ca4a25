/*
 * writer_int.h: what the two halves of the store queue share: writer.c
 * (the loop's side) and storethread.c (the store thread). No other module
 * includes it; the contract is writer.h.
 *
 * Everything below `mu` is shared and read or written only with mu held;
 * the fields above it belong to one side each, as marked. The store
 * belongs to the loop until writer_start() and to the thread from then
 * until it has exited (writer_stop()).
 */
#ifndef SSLHIST_WRITER_INT_H
#define SSLHIST_WRITER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "writer.h"

struct event;

/* One entry of the FIFO: a poll record or a request, never both. */
struct wq_item {
	struct wq_item *next;
	struct poll_record *rec;
	struct sq_req *req;
	int64_t at_mono;	/* submitted (ms) */
};

struct writer {
	/* ---- the loop's ---- */
	struct event_base *base;
	struct event *ev_reply;
	void (*stored)(void *arg, int new_clients);
	void *arg;
	size_t queued;		/* records submitted, not yet reported stored or dropped */
	size_t dropped_logged;	/* drops seen by the loop, for the log */
	int64_t last_stored;	/* Unix s */
	bool started, joined;
	int64_t stuck_logged_ms;	/* busy time last logged (0: none) */
	pthread_t thread;
	int efd;		/* eventfd: the thread's "replies are waiting" */

	/* ---- the thread's (the loop's before start, after join) ---- */
	struct store *store;

	/* ---- shared, under mu ---- */
	pthread_mutex_t mu;
	pthread_cond_t wake;	/* the thread waits on it */
	pthread_cond_t exited_cv;	/* writer_stop waits on it */
	struct wq_item *head, *tail;
	size_t nrec, nreq;	/* records and requests in the list */
	size_t bytes;		/* of records in the list and in the thread's hands */
	bool urgent;		/* commit the records now (writer_flush) */
	bool stop;		/* drain, then exit */
	int64_t stop_deadline;	/* mono ms */
	bool exited;
	int64_t retention_s;	/* 0: do not expire */
	int64_t busy_since;	/* mono ms the current store call began; 0: idle */
	const char *busy_what;
	bool failing;
	char err[512];		/* the last failure (for the loop's log) */
	/* for the loop, set by the thread */
	struct sq_req *rep_head, *rep_tail;
	size_t rep_stored, rep_dropped;
	int rep_new_clients;
	int64_t rep_stored_at;
	bool signalled;
	/* figures for bench/ (writer_stats) */
	struct writer_stats stats;
};

/* storethread.c: the thread's body (pthread_create's start routine). */
void *writer_thread_main(void *arg);
/* With mu held: drops the oldest records past WRITER_MAX_BYTES (never the
 * last one); returns how many went. */
size_t writer_enforce_cap_locked(struct writer *w);
/* With mu held: wakes the loop (eventfd) if it is not woken yet. */
void writer_signal_loop_locked(struct writer *w);

#endif
