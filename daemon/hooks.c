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
#include "jsonw.h"
#include "log.h"
#include "hookq.h"
#include "store.h"
#include "store_hooks.h"
#include "timer.h"

#define HOOK_MAX_OUTPUT 4096	/* per stream, logged */
#define STORE_RETRY_MS 1000	/* after a failed write */

struct run {
	struct run *prev, *next;
	struct hooks *h;	/* NULL once hooks_free gave up on it */
	struct child *child;
	struct store_alert a;	/* the alert and its client */
	int64_t attempt;
	char *cmd;		/* argv[0], for logs */
	/* the end, kept until stored */
	const char *outcome;	/* "ok", "failed", "timeout" */
	bool has_status;
	int exit_status;
	char *error;
	int64_t ended_at;
};

struct hooks {
	struct event_base *base;
	struct writer *writer;
	const struct config *cfg;
	struct event *timer;
	bool timer_armed;
	int64_t timer_at_ms;
	struct run *running;		/* processes alive */
	size_t nrunning;
	struct run *unstored;		/* ended, the end's write failed */
	size_t nending;			/* ends in flight */
	bool recovered;
	bool have_logged;		/* logged_client is known */
	int64_t logged_client;		/* highest client id whose events
					 * were logged */
	bool pass_inflight, again;
	int64_t next_due;		/* from the last pass; -1: none */
	bool store_failing;		/* a write failed; logged once */
	bool stopping, dead;
	int nreq;			/* requests in flight naming us */
};

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

static const struct strlist *
event_command(const struct config *cfg, const char *event)
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

static void
run_free(struct run *r)
{
	store_alert_clear(&r->a);
	free(r->cmd);
	free(r->error);
	free(r);
}

static void
list_add(struct run **head, struct run *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head != NULL)
		(*head)->prev = r;
	*head = r;
}

static void
list_del(struct run **head, struct run *r)
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
static void
store_failed(struct hooks *h, const char *err)
{
	if (h->store_failing)
		return;
	log_warnx("hooks: %s; retrying every %d ms", err, STORE_RETRY_MS);
	h->store_failing = true;
}

/* After a write that committed. */
static void
store_works(struct hooks *h)
{
	if (!h->store_failing)
		return;
	log_infox("hooks: storing hook state works again");
	h->store_failing = false;
}

/* The last reply naming a freed hooks frees it. */
static void
req_returned(struct hooks *h)
{
	h->nreq--;
	if (h->dead && h->nreq == 0) {
		event_free(h->timer);
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
static void
schedule(struct hooks *h, int64_t delay_ms)
{
	int64_t at = wall_ms() + (delay_ms > 0 ? delay_ms : 0);

	if (h->stopping || (h->timer_armed && h->timer_at_ms <= at))
		return;
	timer_add_ms(h->timer, delay_ms);
	h->timer_armed = true;
	h->timer_at_ms = at;
}

/* ---- one hook's end -------------------------------------------------- */

static void
set_outcome(struct run *r, const struct child_result *res)
{
	r->ended_at = wall_ms() / 1000;
	r->has_status = false;
	if (!res->spawned) {
		r->outcome = "failed";
		r->error = strdup(res->spawn_error ? res->spawn_error : "cannot start");
		return;
	}
	if (res->exited) {
		r->has_status = true;
		r->exit_status = res->exit_code;
	} else if (res->signaled) {
		r->has_status = true;
		r->exit_status = 128 + res->signo;
	}
	if (res->timed_out)
		r->outcome = "timeout";
	else if (res->exited && res->exit_code == 0)
		r->outcome = "ok";
	else
		r->outcome = "failed";
}

/* The alert's next state: ok, a retry after the schedule's next delay,
 * or failed once the schedule is used up. */
static const char *
next_state(const struct hooks *h, const struct run *r, int64_t *next_ms)
{
	*next_ms = 0;
	if (strcmp(r->outcome, "ok") == 0)
		return "ok";
	if (r->attempt >= 1 && (size_t)(r->attempt - 1) < h->cfg->n_hook_retry) {
		*next_ms = wall_ms() + h->cfg->hook_retry_ms[r->attempt - 1];
		return "pending";
	}
	return "failed";
}

static void
describe_end(const struct run *r, char *buf, size_t len)
{
	if (r->error != NULL)
		snprintf(buf, len, "%s", r->error);
	else if (strcmp(r->outcome, "timeout") == 0)
		snprintf(buf, len, "timed out, killed (status %d)", r->exit_status);
	else if (r->has_status && r->exit_status > 128)
		snprintf(buf, len, "killed by signal %d", r->exit_status - 128);
	else if (r->has_status)
		snprintf(buf, len, "exit status %d", r->exit_status);
	else
		snprintf(buf, len, "ended without status");
}

static void
log_end(const struct run *r, const char *state, int64_t next_ms)
{
	char why[600];

	describe_end(r, why, sizeof(why));
	hooklog_end(&r->a, r->cmd, r->attempt, state, why, next_ms);
}

static void end_done(struct sq_req *req);
static void end_drop(struct sq_req *req);

/* Asks the store thread to write an attempt's end (r NULL: at a stop, the
 * run is the child's to free; note is logged once stored). */
static void
send_end(struct hooks *h, struct run *r, const struct store_hook_end *e, const char *note)
{
	struct hook_end_req *q = calloc(1, sizeof(*q));

	if (q == NULL || (e->error && (q->error = strdup(e->error)) == NULL) ||
	    (note && (q->stop_note = strdup(note)) == NULL)) {
		if (q)
			free(q->error);
		free(q);
		log_errorx("hooks: out of memory recording the end of a hook");
		if (r != NULL) {	/* kept for the next pass */
			list_add(&h->unstored, r);
			schedule(h, STORE_RETRY_MS);
		}
		return;
	}
	q->base.run = hookq_end_run;
	q->base.done = end_done;
	q->base.drop = end_drop;
	q->owner = h;
	q->run = r;
	q->e = *e;
	q->e.error = q->error;
	h->nreq++;
	h->nending++;
	writer_call(h->writer, &q->base);
}

static void
end_free(struct hook_end_req *q)
{
	free(q->error);
	free(q->stop_note);
	free(q);
}

static void
end_drop(struct sq_req *req)
{
	struct hook_end_req *q = (struct hook_end_req *)req;
	struct hooks *h = q->owner;

	if (q->run)
		run_free(q->run);
	h->nending--;
	end_free(q);
	req_returned(h);
}

static void
end_done(struct sq_req *req)
{
	struct hook_end_req *q = (struct hook_end_req *)req;
	struct hooks *h = q->owner;
	struct run *r = q->run;

	if (h->dead) {
		end_drop(req);
		return;
	}
	h->nending--;
	if (q->rc < 0) {
		store_failed(h, q->err);
		if (r != NULL) {
			list_add(&h->unstored, r);
			schedule(h, STORE_RETRY_MS);
		}
	} else {
		store_works(h);
		if (r != NULL) {
			log_end(r, q->e.state, q->e.next_attempt_ms);
			run_free(r);
		} else if (q->stop_note) {
			log_warnx("%s", q->stop_note);
		}
	}
	end_free(q);
	req_returned(h);
}

/* Writes a run's end and the alert's next state; the run is the
 * request's until its reply (then freed, or kept for a retry). */
static void
finish_run(struct hooks *h, struct run *r)
{
	int64_t next_ms;
	const char *state = next_state(h, r, &next_ms);
	const struct store_hook_end e = {
		.alert_id = r->a.id,
		.attempt = r->attempt,
		.ended_at = r->ended_at,
		.has_status = r->has_status,
		.exit_status = r->exit_status,
		.outcome = r->outcome,
		.error = r->error,
		.state = state,
		.next_attempt_ms = next_ms,
	};

	send_end(h, r, &e, NULL);
}

static void
hook_exited(const struct child_result *res, void *arg)
{
	struct run *r = arg;
	struct hooks *h = r->h;

	if (h == NULL) {	/* hooks_stop recorded it already */
		run_free(r);
		return;
	}
	list_del(&h->running, r);
	h->nrunning--;
	r->child = NULL;
	set_outcome(r, res);
	hooklog_output(&r->a, r->cmd, "stdout", res->out, res->out_len, res->out_truncated);
	hooklog_output(&r->a, r->cmd, "stderr", res->err, res->err_len, res->err_truncated);
	finish_run(h, r);
	schedule(h, 0);		/* a slot is free */
}

/* ---- one hook's start ------------------------------------------------ */

static void
spawn_run(struct hooks *h, struct run *r, const struct strlist *cmd)
{
	struct child_spec spec = { 0 };
	struct jsonw w;
	char **env = hookenv_new(&r->a);

	jsonw_init(&w);
	hookenv_stdin(&w, &r->a);
	if (env != NULL && !w.oom) {
		spec.argv = (const char *const *)cmd->v;
		spec.envp = (const char *const *)env;
		spec.stdin_buf = w.buf;
		spec.stdin_len = w.len;
		spec.max_output = HOOK_MAX_OUTPUT;
		spec.timeout_ms = h->cfg->hook_timeout_ms;
		spec.on_exit = hook_exited;
		spec.arg = r;
		r->child = spawn_start(h->base, &spec);
	}
	hookenv_free(env);
	jsonw_free(&w);
	if (r->child == NULL) {
		r->outcome = "failed";
		r->error = strdup("cannot start: out of memory");
		r->ended_at = wall_ms() / 1000;
		finish_run(h, r);
		return;
	}
	list_add(&h->running, r);
	h->nrunning++;
}

/* A claimed alert (committed 'running' with its attempt): start it. */
static void
start_claimed(struct hooks *h, struct store_alert *a, int64_t attempt)
{
	struct run *r = calloc(1, sizeof(*r));
	const struct strlist *cmd;

	if (r == NULL) {	/* stays 'running': recovered at the next start */
		log_errorx("hooks: out of memory starting a hook");
		store_alert_clear(a);
		return;
	}
	r->h = h;
	r->a = *a;
	memset(a, 0, sizeof(*a));
	r->attempt = attempt;
	cmd = event_command(h->cfg, r->a.event);
	if (cmd == NULL) {	/* a reload removed it since the pass asked */
		r->outcome = "failed";
		r->error = strdup("hook no longer configured");
		r->ended_at = wall_ms() / 1000;
		finish_run(h, r);
		return;
	}
	r->cmd = strdup(cmd->v[0]);
	spawn_run(h, r, cmd);
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
		finish_run(h, r);
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
		schedule(h, STORE_RETRY_MS);
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
	req_returned(h);
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
		start_claimed(h, &p->claimed[i], p->attempt[i]);
	h->next_due = p->next_due;
	more = p->more_due || p->nclients == HOOKQ_CLIENTS_MAX || h->again;
	if (p->failed) {
		store_failed(h, p->err);
		schedule(h, STORE_RETRY_MS);
	} else {
		/* Reads work on a locked or read-only file: only a write says
		 * the store works again. */
		if (p->nclaimed > 0 || p->swept > 0 || p->recovered > 0)
			store_works(h);
		if (more)
			schedule(h, 0);
		else if ((long)h->nrunning < h->cfg->hook_max_running && h->next_due >= 0)
			schedule(h, h->next_due - wall_ms());
	}
	hookq_pass_clear(p);
	free(p);
	req_returned(h);
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
	if (h->timer == NULL || spawn_init(base) == -1) {
		if (h->timer != NULL)
			event_free(h->timer);
		free(h);
		return NULL;
	}
	/* Now, in the FIFO before any record submitted later: recover, and
	 * learn which clients were logged by an earlier start. */
	send_pass(h, false);
	schedule(h, 0);
	return h;
}

void
hooks_reconfigure(struct hooks *h, const struct config *cfg)
{
	h->cfg = cfg;
	schedule(h, 0);
}

void
hooks_kick(struct hooks *h)
{
	schedule(h, 0);
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

		list_del(&h->running, r);
		h->nrunning--;
		snprintf(note, sizeof(note), "hooks: hook %s (%s) for %s@%s interrupted by the stop; "
			 "it runs again at the next start", r->a.event, r->cmd,
			 hooklog_str(r->a.client.key.user), hooklog_str(r->a.client.key.database));
		send_end(h, NULL, &e, note);
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
		list_del(&h->unstored, r);
		run_free(r);
	}
	if (h->nreq > 0) {	/* freed by the last reply (or never: the process exits) */
		h->dead = true;
		return;
	}
	event_free(h->timer);
	free(h);
}
