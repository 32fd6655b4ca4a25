/*
 * writer.c: the loop's side of the store queue (writer.h): submitting,
 * the cap, and the replies the store thread leaves for the loop.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "store.h"
#include "writer.h"
#include "writer_int.h"

static void on_reply(evutil_socket_t fd, short what, void *arg);

struct writer *
writer_new(struct event_base *base, struct store *store,
	   void (*stored)(void *arg, int new_clients), void *arg)
{
	struct writer *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	if (w == NULL)
		return NULL;
	w->base = base;
	w->store = store;
	w->stored = stored;
	w->arg = arg;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		free(w);
		return NULL;
	}
	w->ev_reply = event_new(base, w->efd, EV_READ | EV_PERSIST, on_reply, w);
	if (w->ev_reply == NULL || event_add(w->ev_reply, NULL) < 0) {
		if (w->ev_reply)
			event_free(w->ev_reply);
		close(w->efd);
		free(w);
		return NULL;
	}
	/* Monotonic deadlines: a clock step must not stall a commit. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->wake, &ca);
	pthread_cond_init(&w->exited_cv, &ca);
	pthread_condattr_destroy(&ca);
	return w;
}

int
writer_start(struct writer *w)
{
	if (w->started)
		return 0;
	if (pthread_create(&w->thread, NULL, writer_thread_main, w) != 0) {
		log_errorx("could not start the store thread: %s", strerror(errno));
		return -1;
	}
	w->started = true;
	return 0;
}

static void
item_free(struct wq_item *e)
{
	if (e->rec)
		poll_record_free(e->rec);
	if (e->req) {
		if (e->req->drop)
			e->req->drop(e->req);
		else
			free(e->req);
	}
	free(e);
}

void
writer_free(struct writer *w)
{
	struct sq_req *r;

	if (w == NULL)
		return;
	if (w->started && !w->joined)
		return;		/* the thread may still use all of it: the process exits */
	while (w->head) {
		struct wq_item *e = w->head;

		w->head = e->next;
		item_free(e);
	}
	while ((r = w->rep_head) != NULL) {
		w->rep_head = r->next;
		if (r->drop)
			r->drop(r);
		else
			free(r);
	}
	event_free(w->ev_reply);
	close(w->efd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->exited_cv);
	free(w);
}

/* ---- the replies ---------------------------------------------------- */

void
writer_signal_loop_locked(struct writer *w)
{
	uint64_t one = 1;

	if (w->signalled)
		return;
	w->signalled = true;
	/* Can only fail when the counter is full: then the loop is woken. */
	if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_errorx("store thread: waking the loop failed: %s", strerror(errno));
}

/* Runs what the thread left for the loop: counts, then each request's
 * done, in the order they ran. */
static void
deliver(struct writer *w)
{
	struct sq_req *reps, *r;
	size_t stored, dropped;
	int new_clients;
	int64_t at;

	pthread_mutex_lock(&w->mu);
	reps = w->rep_head;
	w->rep_head = w->rep_tail = NULL;
	stored = w->rep_stored;
	dropped = w->rep_dropped;
	new_clients = w->rep_new_clients;
	at = w->rep_stored_at;
	w->rep_stored = w->rep_dropped = 0;
	w->rep_new_clients = 0;
	w->signalled = false;
	pthread_mutex_unlock(&w->mu);

	w->queued -= stored + dropped < w->queued ? stored + dropped : w->queued;
	if (dropped) {
		if (w->dropped_logged / 1000 != (w->dropped_logged + dropped) / 1000 ||
		    w->dropped_logged == 0)
			log_errorx("store unavailable and %u MiB of results held: dropped %zu oldest",
				   WRITER_MAX_BYTES >> 20, w->dropped_logged + dropped);
		w->dropped_logged += dropped;
	}
	if (stored) {
		w->last_stored = at;
		if (w->stored)
			w->stored(w->arg, new_clients);
	}
	while ((r = reps) != NULL) {
		reps = r->next;
		r->next = NULL;
		r->done(r);
	}
}

static void
on_reply(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_errorx("store thread: reading its wake-up failed: %s", strerror(errno));
	deliver(arg);
}

/* ---- submitting ----------------------------------------------------- */

static void
append_locked(struct writer *w, struct wq_item *e)
{
	if (w->tail)
		w->tail->next = e;
	else
		w->head = e;
	w->tail = e;
}

size_t
writer_enforce_cap_locked(struct writer *w)
{
	struct wq_item **pp = &w->head, *e, *last = NULL;
	size_t n = 0;

	while (w->bytes > WRITER_MAX_BYTES && w->nrec > 1 && (e = *pp) != NULL) {
		if (e->rec == NULL) {
			last = e;
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		if (w->tail == e)
			w->tail = last;
		w->nrec--;
		w->bytes -= poll_record_size(e->rec);
		item_free(e);
		n++;
	}
	return n;
}

void
writer_submit(struct writer *w, struct poll_record *r)
{
	struct wq_item *e = calloc(1, sizeof(*e));
	size_t dropped;
	bool wake;

	if (e == NULL) {
		log_errorx("out of memory: a poll result of instance %lld is lost",
			   (long long)r->instance_id);
		poll_record_free(r);
		return;
	}
	e->rec = r;
	e->at_mono = mono_ms();
	w->queued++;
	pthread_mutex_lock(&w->mu);
	append_locked(w, e);
	w->nrec++;
	w->bytes += poll_record_size(r);
	/* Bounded: past the cap the oldest results not being written go. */
	dropped = writer_enforce_cap_locked(w);
	/* The thread sleeps until the oldest record's commit time: it needs to
	 * hear of the first record and of a full batch, not of the others. */
	wake = w->nrec == 1 || w->nrec == WRITER_BATCH;
	if (wake)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
	if (dropped) {
		w->queued -= dropped;
		if (w->dropped_logged / 1000 != (w->dropped_logged + dropped) / 1000 ||
		    w->dropped_logged == 0)
			log_errorx("store unavailable and %u MiB of results held: dropped %zu oldest",
				   WRITER_MAX_BYTES >> 20, w->dropped_logged + dropped);
		w->dropped_logged += dropped;
	}
}

void
writer_call(struct writer *w, struct sq_req *r)
{
	struct wq_item *e;

	r->next = NULL;
	if (!w->started) {	/* start-up: no thread yet, the loop owns the store */
		r->run(w->store, r);
		r->done(r);
		return;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		/* Nothing ran: done sees the request untouched, as a failure. */
		log_errorx("out of memory: a store request is not made");
		if (r->drop)
			r->drop(r);
		else
			free(r);
		return;
	}
	e->req = r;
	e->at_mono = mono_ms();
	pthread_mutex_lock(&w->mu);
	append_locked(w, e);
	w->nreq++;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
}

size_t
writer_flush(struct writer *w)
{
	pthread_mutex_lock(&w->mu);
	if (w->nrec > 0) {
		w->urgent = true;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->mu);
	return w->queued;
}

int
writer_stop(struct writer *w, int64_t wait_ms)
{
	struct timespec ts;
	int64_t deadline = mono_ms() + wait_ms;
	size_t left;
	bool exited;

	if (!w->started)
		return 0;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	w->stop_deadline = deadline;
	pthread_cond_signal(&w->wake);
	/* A little past the thread's own deadline: it gives up on a failing
	 * store by then, unless a call of the store never returns. */
	deadline += 200;
	ts.tv_sec = (time_t)(deadline / 1000);
	ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
	while (!w->exited &&
	       pthread_cond_timedwait(&w->exited_cv, &w->mu, &ts) != ETIMEDOUT)
		;
	exited = w->exited;
	left = w->nrec;
	if (!exited) {
		int64_t busy = w->busy_since ? mono_ms() - w->busy_since : 0;
		const char *what = w->busy_what ? w->busy_what : "a store call";

		pthread_mutex_unlock(&w->mu);
		event_del(w->ev_reply);	/* no reply runs after this */
		pthread_detach(w->thread);	/* left to end with the process */
		log_errorx("the store did not finish within %lld ms (inside %s for %lld ms: a frozen "
			   "or hung file system?); exiting without it: %zu poll results not stored, "
			   "the last transaction is rolled back by SQLite at the next start",
			   (long long)wait_ms, what,
			   (long long)busy, w->queued);
		return -1;
	}
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	w->joined = true;
	deliver(w);
	/* bench/scale_bench.py reads this line. */
	log_infox("store thread: %llu records in %llu transactions, %llu requests, "
		  "%llu failed commits", (unsigned long long)w->stats.records,
		  (unsigned long long)w->stats.transactions,
		  (unsigned long long)w->stats.requests, (unsigned long long)w->stats.failures);
	if (left > 0)
		log_errorx("%zu poll results could not be stored before exit: %s", left, w->err);
	return 0;
}

/* ---- state for the status line -------------------------------------- */

size_t
writer_queued(const struct writer *w)
{
	return w->queued;
}

int64_t
writer_last_stored(const struct writer *w)
{
	return w->last_stored;
}

int64_t
writer_stuck_ms(struct writer *w, int64_t now_ms)
{
	int64_t since;

	pthread_mutex_lock(&w->mu);
	since = w->busy_since;
	pthread_mutex_unlock(&w->mu);
	return since && now_ms > since ? now_ms - since : 0;
}

void
writer_set_retention(struct writer *w, int64_t retention_ms)
{
	pthread_mutex_lock(&w->mu);
	w->retention_s = retention_ms / 1000;
	pthread_mutex_unlock(&w->mu);
}

void
writer_stats(struct writer *w, struct writer_stats *st)
{
	pthread_mutex_lock(&w->mu);
	*st = w->stats;
	pthread_mutex_unlock(&w->mu);
}

/* ---- the alert mask, as a request ----------------------------------- */

struct alerts_req {
	struct sq_req base;
	unsigned mask;
};

static void
alerts_run(struct store *s, struct sq_req *r)
{
	store_set_alerts(s, ((struct alerts_req *)r)->mask);
}

static void
alerts_done(struct sq_req *r)
{
	free(r);
}

void
writer_set_alerts(struct writer *w, unsigned mask)
{
	struct alerts_req *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		log_errorx("out of memory: the new alert events are not applied");
		return;
	}
	r->base.run = alerts_run;
	r->base.done = alerts_done;
	r->mask = mask;
	writer_call(w, &r->base);
}
