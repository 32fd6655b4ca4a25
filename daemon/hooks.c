/*
 * hooks.c: see hooks.h.
 *
 * The database is the queue: an alert row is 'pending' until a pass
 * claims it ('running', attempts + 1, an alert_attempt row 'pending') in
 * one BEGIN IMMEDIATE transaction, and a hook is only started after that
 * transaction committed. Its end is recorded the same way. A write that
 * fails (busy, disk full) is retried from the timer: a claim that did not
 * commit starts nothing, an end that did not commit stays in memory.
 *
 * The loop never touches the database: a pass and each end are requests
 * to the store thread (hookq.h, writer.h) whose replies come back to the
 * loop; at most one pass is in flight. One timer drives the passes:
 * hooks_kick and each hook's end arm it at once; otherwise it waits for
 * the earliest retry. The FIFO orders an end before the pass that follows
 * it, and a pass after the records whose clients it reads. A hook's
 * environment and stdin are built by hookenv.c, the journal events of new
 * clients by hooklog.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "evspawn.h"
#include "hookenv.h"
#include "hooklog.h"
#include "hooks.h"
#include "hooks_int.h"
#include "jsonw.h"
#include "log.h"
#include "hookq.h"
#include "store.h"
#include "store_hooks.h"
#include "timer.h"

/* How often to look for clients that `sslhist import-log` stored: its
 * alerts fire from this daemon, within this long. One indexed query, a
 * request to the store thread. */
#define OUTSIDE_CHECK_MS 2000


static void pass(struct hooks *h);

/* ---- small helpers --------------------------------------------------- */

unsigned
hooks_alert_mask(const struct config *cfg)
{
	unsigned m = 0;

	if (cfg->on_non_ssl.n > 0)
		m |= ALERT_NON_SSL;
	if (cfg->on_weak_tls.n > 0)
		m |= ALERT_WEAK_TLS;
	if (cfg->on_new_client.n > 0)
		m |= ALERT_NEW_CLIENT;
	return m;
}

const struct strlist *
hk_event_command(const struct config *cfg, const char *event)
{
	const struct strlist *l = NULL;

	if (strcmp(event, "non-ssl") == 0)
		l = &cfg->on_non_ssl;
	else if (strcmp(event, "weak-tls") == 0)
		l = &cfg->on_weak_tls;
	else if (strcmp(event, "new-client") == 0)
		l = &cfg->on_new_client;
	return l != NULL && l->n > 0 ? l : NULL;
}

void
hk_run_free(struct run *r)
{
	store_alert_clear(&r->a);
	free(r->cmd);
	free(r->error);
	free(r);
}

void
hk_list_add(struct run **head, struct run *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head != NULL)
		(*head)->prev = r;
	*head = r;
}

void
hk_list_del(struct run **head, struct run *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/* ---- the store's state ---------------------------------------------- */

/*
 * A failed write is retried every STORE_RETRY_MS while the store fails
 * (locked, full, read-only): one line when it begins, one when it ends,
 * not one per retry.
 */
void
hk_store_failed(struct hooks *h, const char *err)
{
	if (h->store_failing)
		return;
	log_warnx("hooks: %s; retrying every %d ms", err, STORE_RETRY_MS);
	h->store_failing = true;
}

/* After a write that committed. */
void
hk_store_works(struct hooks *h)
{
	if (!h->store_failing)
		return;
	log_infox("hooks: storing hook state works again");
	h->store_failing = false;
}

/* The last reply naming a freed hooks frees it. */
void
hk_req_returned(struct hooks *h)
{
	h->nreq--;
	if (h->dead && h->nreq == 0) {
		event_free(h->timer);
		if (h->outside != NULL)
			event_free(h->outside);
		free(h);
	}
}

/* ---- the timer ------------------------------------------------------- */

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hooks *h = arg;

	(void)fd;
	(void)what;
	h->timer_armed = false;
	pass(h);
}

/* Arms the timer for delay_ms from now, unless it fires earlier anyway. */
void
hk_schedule(struct hooks *h, int64_t delay_ms)
{
	int64_t at = wall_ms() + (delay_ms > 0 ? delay_ms : 0);

	if (h->stopping || (h->timer_armed && h->timer_at_ms <= at))
		return;
	timer_add_ms(h->timer, delay_ms);
	h->timer_armed = true;
	h->timer_at_ms = at;
}

/* ---- a pass ---------------------------------------------------------- */

static void pass_done(struct sq_req *req);
static void pass_drop(struct sq_req *req);

/* Ends that failed to be written go first (the FIFO keeps them ahead of
 * the pass that follows). */
static void
resend_unstored(struct hooks *h)
{
	struct run *r, *next = h->unstored;

	h->unstored = NULL;	/* a failing end comes back to the list */
	while ((r = next) != NULL) {
		next = r->next;
		r->prev = r->next = NULL;
		hk_finish_run(h, r);
	}
}

/* A pass; `claim` false: recovery and the newest client only. */
static void
send_pass(struct hooks *h, bool claim)
{
	struct hook_pass *p;
	long max = h->cfg->hook_max_running > 0 ? h->cfg->hook_max_running : 1;

	if (h->stopping)
		return;
	if (h->pass_inflight) {
		h->again = true;
		return;
	}
	resend_unstored(h);
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		hk_schedule(h, STORE_RETRY_MS);
		return;
	}
	p->base.run = hookq_pass_run;
	p->base.done = pass_done;
	p->base.drop = pass_drop;
	p->owner = h;
	p->recover = !h->recovered;
	p->want_last_client = !h->have_logged;
	p->mask = hooks_alert_mask(h->cfg);
	p->want = claim && (long)h->nrunning < max ? (int)(max - (long)h->nrunning) : 0;
	p->logged_after = h->logged_client;
	h->pass_inflight = true;
	h->again = false;
	h->nreq++;
	writer_call(h->writer, &p->base);
}

static void
pass(struct hooks *h)
{
	send_pass(h, true);
}

static void
pass_drop(struct sq_req *req)
{
	struct hook_pass *p = (struct hook_pass *)req;
	struct hooks *h = p->owner;

	h->pass_inflight = false;
	hookq_pass_clear(p);
	free(p);
	hk_req_returned(h);
}

static void
pass_done(struct sq_req *req)
{
	struct hook_pass *p = (struct hook_pass *)req;
	struct hooks *h = p->owner;
	bool more;

	if (h->dead || h->stopping) {	/* claims stay 'running': recovered at the next start */
		pass_drop(req);
		return;
	}
	h->pass_inflight = false;
	if (p->recovered_ok) {
		h->recovered = true;
		if (p->recovered > 0)
			log_warnx("hooks: %d hook(s) interrupted by the last stop run again",
				  p->recovered);
	}
	if (p->got_last_client) {
		h->have_logged = true;
		h->logged_client = p->last_client;
	}
	for (int i = 0; i < p->nclients; i++) {
		hooklog_client(&p->clients[i]);
		h->logged_client = p->clients[i].id;
	}
	if (p->swept > 0)
		log_warnx("hooks: %d pending alert(s) failed: hook no longer configured", p->swept);
	for (int i = 0; i < p->nclaimed; i++)
		hk_start_claimed(h, &p->claimed[i], p->attempt[i]);
	h->next_due = p->next_due;
	more = p->more_due || p->nclients == HOOKQ_CLIENTS_MAX || h->again;
	if (p->failed) {
		hk_store_failed(h, p->err);
		hk_schedule(h, STORE_RETRY_MS);
	} else {
		/* Reads work on a locked or read-only file: only a write says
		 * the store works again. */
		if (p->nclaimed > 0 || p->swept > 0 || p->recovered > 0)
			hk_store_works(h);
		if (more)
			hk_schedule(h, 0);
		else if ((long)h->nrunning < h->cfg->hook_max_running && h->next_due >= 0)
			hk_schedule(h, h->next_due - wall_ms());
	}
	hookq_pass_clear(p);
	free(p);
	hk_req_returned(h);
}

/* ---- clients another process stored ------------------------------- */

/* Clients stored by another process (import-log) have alert rows due
 * now; nothing here kicks the queue for them, so look now and then. */
static void
newest_drop(struct sq_req *req)
{
	struct hook_newest_req *q = (struct hook_newest_req *)req;
	struct hooks *h = q->owner;

	h->outside_inflight = false;
	free(q);
	hk_req_returned(h);
}

static void
newest_done(struct sq_req *req)
{
	struct hook_newest_req *q = (struct hook_newest_req *)req;
	struct hooks *h = q->owner;

	if (!h->dead && !h->stopping) {
		/* The pass that follows logs them and reads their alerts. */
		if (h->have_logged && q->newest > h->logged_client)
			hk_schedule(h, 0);
		timer_add_ms(h->outside, OUTSIDE_CHECK_MS);
	}
	newest_drop(req);
}

static void
outside_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hooks *h = arg;
	struct hook_newest_req *q;

	(void)fd;
	(void)what;
	if (h->stopping || h->outside_inflight)
		return;
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		timer_add_ms(h->outside, OUTSIDE_CHECK_MS);
		return;
	}
	q->base.run = hookq_newest_run;
	q->base.done = newest_done;
	q->base.drop = newest_drop;
	q->owner = h;
	h->outside_inflight = true;
	h->nreq++;
	writer_call(h->writer, &q->base);
}

/* ---- public ---------------------------------------------------------- */

struct hooks *
hooks_new(struct event_base *base, struct writer *writer, const struct config *cfg)
{
	struct hooks *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->base = base;
	h->writer = writer;
	h->cfg = cfg;
	h->next_due = -1;
	h->timer = evtimer_new(base, timer_cb, h);
	h->outside = evtimer_new(base, outside_cb, h);
	if (h->timer == NULL || h->outside == NULL || spawn_init(base) == -1) {
		if (h->timer != NULL)
			event_free(h->timer);
		if (h->outside != NULL)
			event_free(h->outside);
		free(h);
		return NULL;
	}
	timer_add_ms(h->outside, OUTSIDE_CHECK_MS);
	/* Now, in the FIFO before any record submitted later: recover, and
	 * learn which clients were logged by an earlier start. */
	send_pass(h, false);
	hk_schedule(h, 0);
	return h;
}

void
hooks_set_metrics(struct hooks *h, struct metrics *m)
{
	if (h != NULL)
		h->metrics = m;
}

void
hooks_reconfigure(struct hooks *h, const struct config *cfg)
{
	h->cfg = cfg;
	hk_schedule(h, 0);
}

void
hooks_kick(struct hooks *h)
{
	hk_schedule(h, 0);
}

bool
hooks_idle(const struct hooks *h)
{
	int64_t now = wall_ms();

	if (h->nrunning > 0 || h->unstored != NULL || h->nending > 0 || h->pass_inflight ||
	    !h->recovered)
		return false;
	if (h->timer_armed && h->timer_at_ms <= now)
		return false;	/* a pass is about to run */
	return h->next_due < 0 || h->next_due > now;
}

/*
 * The daemon stops: hooks still running are recorded as interrupted and
 * their alerts go back to pending (they run again at the next start),
 * then they get SIGTERM; spawn_shutdown() kills what is left.
 */
void
hooks_stop(struct hooks *h)
{
	struct run *r;
	char note[512];

	if (h == NULL || h->stopping)
		return;
	resend_unstored(h);
	h->stopping = true;
	event_del(h->timer);
	event_del(h->outside);
	h->timer_armed = false;
	while ((r = h->running) != NULL) {
		const struct store_hook_end e = {
			.alert_id = r->a.id,
			.attempt = r->attempt,
			.ended_at = wall_ms() / 1000,
			.outcome = "failed",
			.error = "interrupted by daemon stop",
			.state = "pending",
			.next_attempt_ms = wall_ms(),
		};

		hk_list_del(&h->running, r);
		h->nrunning--;
		snprintf(note, sizeof(note), "hooks: hook %s (%s) for %s@%s interrupted by the stop; "
			 "it runs again at the next start", r->a.event, r->cmd,
			 hooklog_str(r->a.client.key.user), hooklog_str(r->a.client.key.database));
		hk_send_end(h, NULL, &e, note);
		r->h = NULL;
		spawn_terminate(r->child);
	}
}

void
hooks_free(struct hooks *h)
{
	struct run *r;

	if (h == NULL)
		return;
	hooks_stop(h);
	while ((r = h->unstored) != NULL) {
		hk_list_del(&h->unstored, r);
		hk_run_free(r);
	}
	if (h->nreq > 0) {	/* freed by the last reply (or never: the process exits) */
		h->dead = true;
		return;
	}
	event_free(h->timer);
	event_free(h->outside);
	free(h);
}
