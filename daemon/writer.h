/*
 * writer.h: hands poll records to the store, in order, and holds them in
 * bounded memory while the store fails (disk full, locked, read-only),
 * retrying from a timer with backoff. The poller never waits for it.
 */
#ifndef SSLHIST_WRITER_H
#define SSLHIST_WRITER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct poll_record;
struct writer;

/* Records held while the store fails, at most (oldest dropped, logged). */
#define WRITER_MAX_BYTES (64u << 20)

/* `stored` (may be NULL) runs after records were stored. */
struct writer *writer_new(struct event_base *base, struct store *store,
			  void (*stored)(void *arg, int new_clients), void *arg);
void writer_free(struct writer *w);
/* Takes ownership of r and stores it now, or queues it behind others. */
void writer_submit(struct writer *w, struct poll_record *r);
/* Tries to store everything queued now; returns the records left. */
size_t writer_flush(struct writer *w);
size_t writer_queued(const struct writer *w);
/* Unix time (s) when a record was last stored; 0 before the first. */
int64_t writer_last_stored(const struct writer *w);
/* How long (ms) past its retry time the queue is at monotonic now_ms
 * (0 when empty): a failing store is retried on time, so a live loop
 * keeps this near 0 even while the disk is full. */
int64_t writer_overdue_ms(const struct writer *w, int64_t now_ms);

#endif
