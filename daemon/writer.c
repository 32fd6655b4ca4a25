/*
 * writer.c: a FIFO of poll records in front of the store.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "store.h"
#include "writer.h"
#include "timer.h"

#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 30000

struct qent {
	struct poll_record *r;
	struct qent *next;
};

struct writer {
	struct store *store;
	void (*stored)(void *arg, int new_clients);
	void *arg;
	struct qent *head, *tail;
	size_t count, bytes, dropped;
	struct event *retry;
	int64_t retry_ms;
	int64_t retry_due_mono;
	int64_t last_stored;
	bool failing;
};

static void on_retry(evutil_socket_t fd, short what, void *arg);

struct writer *
writer_new(struct event_base *base, struct store *store,
	   void (*stored)(void *arg, int new_clients), void *arg)
{
	struct writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->store = store;
	w->stored = stored;
	w->arg = arg;
	w->retry = evtimer_new(base, on_retry, w);
	if (w->retry == NULL) {
		free(w);
		return NULL;
	}
	return w;
}

void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	while (w->head) {
		struct qent *e = w->head;
		w->head = e->next;
		poll_record_free(e->r);
		free(e);
	}
	event_free(w->retry);
	free(w);
}

size_t
writer_queued(const struct writer *w)
{
	return w->count;
}

int64_t
writer_last_stored(const struct writer *w)
{
	return w->last_stored;
}

int64_t
writer_overdue_ms(const struct writer *w, int64_t now_ms)
{
	/* Records only wait behind a failing store, for the retry timer. */
	if (w->count == 0 || now_ms <= w->retry_due_mono)
		return 0;
	return now_ms - w->retry_due_mono;
}

static void
pop(struct writer *w)
{
	struct qent *e = w->head;

	w->head = e->next;
	if (w->head == NULL)
		w->tail = NULL;
	w->count--;
	w->bytes -= poll_record_size(e->r);
	poll_record_free(e->r);
	free(e);
}

size_t
writer_flush(struct writer *w)
{
	int new_clients = 0;
	size_t done = 0;

	while (w->head) {
		if (store_apply(w->store, w->head->r, &new_clients) < 0) {
			if (!w->failing)
				log_errorx("storing poll results failed: %s; holding %zu in memory and retrying",
					   store_errmsg(w->store), w->count);
			w->failing = true;
			break;
		}
		/* After the COMMIT: a test that kills the daemon at random knows
		 * every poll logged here must be in the file. */
		log_debugx("stored the poll of instance %lld at %lld ms (%s)",
			   (long long)w->head->r->instance_id, (long long)w->head->r->at_ms,
			   w->head->r->ok ? "ok" : "failed");
		pop(w);
		done++;
	}
	if (w->head == NULL && w->failing) {
		log_infox("storing poll results works again");
		w->failing = false;
		w->retry_ms = 0;
	}
	if (done)
		w->last_stored = (int64_t)time(NULL);
	if (done && w->stored)
		w->stored(w->arg, new_clients);
	return w->count;
}

static void
schedule_retry(struct writer *w)
{
	if (evtimer_pending(w->retry, NULL))
		return;
	w->retry_ms = w->retry_ms ? w->retry_ms * 2 : RETRY_MIN_MS;
	if (w->retry_ms > RETRY_MAX_MS)
		w->retry_ms = RETRY_MAX_MS;
	w->retry_due_mono = mono_ms() + w->retry_ms;
	timer_add_ms(w->retry, w->retry_ms);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;

	(void)fd;
	(void)what;
	if (writer_flush(w) > 0)
		schedule_retry(w);
}

void
writer_submit(struct writer *w, struct poll_record *r)
{
	struct qent *e = malloc(sizeof(*e));

	if (e == NULL) {
		log_errorx("out of memory: a poll result of instance %lld is lost",
			   (long long)r->instance_id);
		poll_record_free(r);
		return;
	}
	e->r = r;
	e->next = NULL;
	if (w->tail)
		w->tail->next = e;
	else
		w->head = e;
	w->tail = e;
	w->count++;
	w->bytes += poll_record_size(r);
	/* Bounded: past the cap the oldest results go (counted, logged). */
	while (w->bytes > WRITER_MAX_BYTES && w->count > 1) {
		pop(w);
		if (w->dropped++ % 1000 == 0)
			log_errorx("store unavailable and %u MiB of results held: dropped %zu oldest",
				   WRITER_MAX_BYTES >> 20, w->dropped);
	}
	/* Behind a failing store, wait for the retry timer to keep order. */
	if (w->failing) {
		schedule_retry(w);
		return;
	}
	if (writer_flush(w) > 0)
		schedule_retry(w);
}
