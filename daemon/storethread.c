/*
 * storethread.c: the store thread (writer.h): the one owner of the
 * database while the daemon runs. It takes the FIFO's entries in order,
 * commits poll records in groups (store_apply_batch), runs requests, and
 * does the checkpoint and the expiry; what the loop must hear of goes to
 * the reply list and the eventfd (writer_signal_loop_locked).
 *
 * It holds mu only to take entries and to leave results, never across a
 * store call: the loop's writer_submit never waits behind the disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "store.h"
#include "writer.h"
#include "writer_int.h"

#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 30000
#define RETRY_STOP_MS 50	/* while draining for a stop */

struct tstate {
	int64_t next_checkpoint, next_expire;
	int64_t retry_at, retry_ms;
};

static int64_t
first_record_at(const struct writer *w)
{
	for (const struct wq_item *e = w->head; e; e = e->next) {
		if (e->rec)
			return e->at_mono;
	}
	return INT64_MAX;
}

static void
free_chain(struct wq_item *e)
{
	while (e) {
		struct wq_item *next = e->next;

		poll_record_free(e->rec);
		free(e);
		e = next;
	}
}

/* Commits the records at the head of the FIFO (up to WRITER_BATCH) in one
 * transaction. Called and returns with mu held. */
static void
commit_records(struct writer *w, struct tstate *t)
{
	struct poll_record *recs[WRITER_BATCH];
	struct wq_item *first = w->head, *last = NULL, *e;
	size_t n = 0, bytes = 0, dropped;
	int new_clients = 0, rc;

	for (e = w->head; e && e->rec && n < WRITER_BATCH; e = e->next) {
		recs[n++] = e->rec;
		bytes += poll_record_size(e->rec);
		last = e;
	}
	if (last == NULL)
		return;		/* the caller saw a record at the head */
	w->head = last->next;
	if (w->head == NULL)
		w->tail = NULL;
	last->next = NULL;
	w->nrec -= n;
	w->busy_since = mono_ms();
	w->busy_what = "a commit of poll results";
	pthread_mutex_unlock(&w->mu);

	rc = store_apply_batch(w->store, recs, n, &new_clients);
	if (rc == 0) {
		/* After the COMMIT: a test that kills the daemon at random knows
		 * every poll logged here must be in the file. */
		for (size_t i = 0; i < n; i++)
			log_debugx("stored the poll of instance %lld at %lld ms (%s)",
				   (long long)recs[i]->instance_id, (long long)recs[i]->at_ms,
				   recs[i]->ok ? "ok" : "failed");
		free_chain(first);
	}

	pthread_mutex_lock(&w->mu);
	w->busy_since = 0;
	w->busy_what = NULL;
	if (rc == 0) {
		w->bytes -= bytes;
		w->stats.records += n;
		w->stats.transactions++;
		w->rep_stored += n;
		w->rep_new_clients += new_clients;
		w->rep_stored_at = (int64_t)time(NULL);
		if (w->nrec == 0)
			w->urgent = false;
		if (w->failing)
			log_infox("storing poll results works again");
		w->failing = false;
		t->retry_ms = 0;
		writer_signal_loop_locked(w);
		return;
	}
	/* Back to the head, in order, for the retry. */
	last->next = w->head;
	w->head = first;
	if (w->tail == NULL)
		w->tail = last;
	w->nrec += n;
	snprintf(w->err, sizeof(w->err), "%s", store_errmsg(w->store));
	w->stats.failures++;
	if (!w->failing)
		log_errorx("storing poll results failed: %s; holding %zu in memory and retrying",
			   w->err, w->nrec);
	w->failing = true;
	t->retry_ms = t->retry_ms ? t->retry_ms * 2 : RETRY_MIN_MS;
	if (t->retry_ms > RETRY_MAX_MS)
		t->retry_ms = RETRY_MAX_MS;
	t->retry_at = mono_ms() + (w->stop ? RETRY_STOP_MS : t->retry_ms);
	if ((dropped = writer_enforce_cap_locked(w)) > 0) {
		w->rep_dropped += dropped;
		writer_signal_loop_locked(w);
	}
}

/* Runs the request of entry e (unlinked from the FIFO here). Called and
 * returns with mu held. */
static void
run_request(struct writer *w, struct wq_item *e)
{
	struct wq_item **pp = &w->head, *prev = NULL;
	struct sq_req *r = e->req;

	while (*pp != e) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	*pp = e->next;
	if (w->tail == e)
		w->tail = prev;
	w->nreq--;
	w->busy_since = mono_ms();
	w->busy_what = "a store request";
	pthread_mutex_unlock(&w->mu);

	free(e);
	r->run(w->store, r);

	pthread_mutex_lock(&w->mu);
	w->busy_since = 0;
	w->busy_what = NULL;
	w->stats.requests++;
	r->next = NULL;
	if (w->rep_tail)
		w->rep_tail->next = r;
	else
		w->rep_head = r;
	w->rep_tail = r;
	writer_signal_loop_locked(w);
}

/* The checkpoint and the expiry, when due. Called with mu held; true when
 * something ran. */
static bool
housekeeping(struct writer *w, struct tstate *t, int64_t now)
{
	int64_t retention = w->retention_s;

	if (now >= t->next_checkpoint) {
		t->next_checkpoint = now + WRITER_CHECKPOINT_MS;
		w->busy_since = now;
		w->busy_what = "a WAL checkpoint";
		pthread_mutex_unlock(&w->mu);
		store_checkpoint(w->store);
		pthread_mutex_lock(&w->mu);
	} else if (now >= t->next_expire) {
		t->next_expire = now + WRITER_EXPIRE_MS;
		if (retention <= 0)
			return true;
		w->busy_since = now;
		w->busy_what = "the expiry";
		pthread_mutex_unlock(&w->mu);
		if (store_expire(w->store, (int64_t)time(NULL) - retention) < 0)
			log_warnx("expiring detail older than the retention failed: %s; retrying in an hour",
				  store_errmsg(w->store));
		pthread_mutex_lock(&w->mu);
	} else {
		return false;
	}
	w->busy_since = 0;
	w->busy_what = NULL;
	return true;
}

static struct wq_item *
first_request(const struct writer *w)
{
	for (struct wq_item *e = w->head; e; e = e->next) {
		if (e->req)
			return e;
	}
	return NULL;
}

static void
wait_until(struct writer *w, int64_t at)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(at / 1000);
	ts.tv_nsec = (long)(at % 1000) * 1000000L;
	(void)pthread_cond_timedwait(&w->wake, &w->mu, &ts);
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

void *
writer_thread_main(void *arg)
{
	struct writer *w = arg;
	int64_t now = mono_ms(), at;
	struct tstate t = { .next_checkpoint = now + WRITER_CHECKPOINT_MS,
			    .next_expire = now + WRITER_EXPIRE_MS };
	bool blocked, due;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		now = mono_ms();
		if (w->stop && (w->head == NULL || now >= w->stop_deadline))
			break;
		/* Records wait for company, unless something is behind them. */
		if (w->stop && w->failing && t.retry_at > now + RETRY_STOP_MS)
			t.retry_at = now + RETRY_STOP_MS;
		blocked = w->failing && now < t.retry_at;
		due = w->nrec > 0 && !blocked &&
		      (w->urgent || w->stop || w->nreq > 0 || w->nrec >= WRITER_BATCH ||
		       now >= first_record_at(w) + WRITER_COMMIT_MS);
		if (w->head && w->head->req) {
			run_request(w, w->head);
			continue;
		}
		if (due) {
			commit_records(w, &t);
			continue;
		}
		/* A failing store must not stall the requests behind its records. */
		if (blocked && w->nreq > 0) {
			run_request(w, first_request(w));
			continue;
		}
		if (!w->stop && housekeeping(w, &t, now))
			continue;
		at = min64(t.next_checkpoint, t.next_expire);
		if (w->nrec > 0)
			at = min64(at, blocked ? t.retry_at : first_record_at(w) + WRITER_COMMIT_MS);
		if (w->stop)
			at = min64(at, w->stop_deadline);
		wait_until(w, at);
	}
	w->exited = true;
	pthread_cond_broadcast(&w->exited_cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}
