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
 * One timer drives everything: hooks_kick and each hook's end arm it at
 * once; otherwise it waits for the earliest retry. The queue's SQL is the
 * store's (store_hooks.h): short and indexed, so the loop never waits on
 * more than the store's short busy timeout. A hook's environment and stdin
 * are built by hookenv.c, the journal events of new clients by hooklog.c.
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
#include "metrics.h"
#include "store.h"
#include "store_hooks.h"
#include "store_logs.h"
#include "timer.h"

#define HOOK_MAX_OUTPUT 4096	/* per stream, logged */
#define STORE_RETRY_MS 1000	/* after a failed write */
#define DUE_BATCH 16		/* due alerts read at a time */
/* How often to look for clients that `sslhist import-log` stored: its
 * alerts fire from this daemon, within this long. One indexed query. */
#define OUTSIDE_CHECK_MS 2000

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
	struct store *store;
	const struct config *cfg;
	struct event *timer;
	bool timer_armed;
	int64_t timer_at_ms;
	struct run *running;		/* processes alive */
	size_t nrunning;
	struct run *unstored;		/* ended, end not yet written */
	bool recovered;
	int64_t logged_client;		/* highest client id whose events
					 * were logged */
	bool store_failing;		/* a write failed; logged once */
	struct metrics *metrics;	/* attempts' ends counted; may be NULL */
	struct event *outside;		/* clients another process stored */
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
store_failed(struct hooks *h)
{
	if (h->store_failing)
		return;
	log_warnx("hooks: %s; retrying every %d ms", store_errmsg(h->store), STORE_RETRY_MS);
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

/* Notes how a write went; returns rc. */
static int
stored(struct hooks *h, int rc)
{
	if (rc < 0)
		store_failed(h);
	else
		store_works(h);
	return rc;
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
	if (h->timer_armed && h->timer_at_ms <= at)
		return;
	timer_add_ms(h->timer, delay_ms);
	h->timer_armed = true;
	h->timer_at_ms = at;
}

/* ---- recovery and unconfigured events -------------------------------- */

/* Attempts left open by a crash: recorded as interrupted, run again. */
static int
recover(struct hooks *h)
{
	int n = stored(h, store_hooks_recover(h->store, wall_ms()));

	if (n > 0)
		log_warnx("hooks: %d hook(s) interrupted by the last stop run again", n);
	return n < 0 ? -1 : 0;
}

/*
 * Pending alerts of an event that no longer has a command (removed by a
 * reload, or by a restart with a new file) fail with a stored reason: a
 * hook added back later must not fire a backlog of old events.
 */
static int
sweep_unconfigured(struct hooks *h)
{
	int n = store_hooks_sweep(h->store, hooks_alert_mask(h->cfg), wall_ms() / 1000);

	if (n < 0) {
		store_failed(h);
		return -1;
	}
	if (n > 0) {
		store_works(h);
		log_warnx("hooks: %d pending alert(s) failed: hook no longer configured", n);
	}
	return 0;
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

/* Writes the attempt's end and the alert's next state. 0 or -1. */
static int
store_end(struct hooks *h, const struct run *r, const char *state, int64_t next_ms)
{
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

	return stored(h, store_hooks_end(h->store, &e));
}

/* Stores a run's end, or keeps it for the next pass. */
static void
finish_run(struct hooks *h, struct run *r)
{
	int64_t next_ms;
	const char *state = next_state(h, r, &next_ms);

	metrics_hook_done(h->metrics, r->a.event, r->outcome);
	if (store_end(h, r, state, next_ms) == -1) {
		list_add(&h->unstored, r);
		schedule(h, STORE_RETRY_MS);
		return;
	}
	log_end(r, state, next_ms);
	run_free(r);
}

static void
hook_exited(const struct child_result *res, void *arg)
{
	struct run *r = arg;
	struct hooks *h = r->h;

	if (h == NULL) {	/* hooks_free recorded it already */
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

/* Marks the alert running and opens its attempt; 0 when committed. */
static int
claim(struct hooks *h, struct run *r)
{
	r->attempt = store_hooks_claim(h->store, r->a.id, wall_ms() / 1000);
	return stored(h, r->attempt < 0 ? -1 : 0);
}

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

/* Reads up to max due alerts (oldest first) into runs. Returns the number
 * read, -1 on error. */
static int
fetch_due(struct hooks *h, struct run **out, int max)
{
	struct store_alert due[DUE_BATCH];
	int n, i, got = 0;

	if (max > DUE_BATCH)
		max = DUE_BATCH;
	n = store_hooks_due(h->store, hooks_alert_mask(h->cfg), wall_ms(), due, max);
	if (n < 0) {
		store_failed(h);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct run *r = calloc(1, sizeof(*r));

		if (r == NULL) {	/* due again at the next pass */
			store_alert_clear(&due[i]);
			continue;
		}
		r->h = h;
		r->a = due[i];
		out[got++] = r;
	}
	return got;
}

/* Starts due hooks while slots are free. -1: a write failed. */
static int
start_due(struct hooks *h)
{
	struct run *batch[DUE_BATCH];
	long max = h->cfg->hook_max_running > 0 ? h->cfg->hook_max_running : 1;
	int want, n, i, failed = 0;

	while ((long)h->nrunning < max && !failed) {
		want = (int)(max - (long)h->nrunning);
		if (want > DUE_BATCH)
			want = DUE_BATCH;
		n = fetch_due(h, batch, want);
		if (n <= 0)
			return n;
		for (i = 0; i < n; i++) {
			const struct strlist *cmd = event_command(h->cfg, batch[i]->a.event);

			/* cmd is never NULL: fetch_due selects configured events. */
			if (!failed && cmd != NULL && claim(h, batch[i]) == 0) {
				batch[i]->cmd = strdup(cmd->v[0]);
				spawn_run(h, batch[i], cmd);
				continue;
			}
			failed = 1;	/* later rows too: the store is failing */
			run_free(batch[i]);
		}
		if (n < want)
			break;
	}
	return failed ? -1 : 0;
}

/* When the next pending alert becomes due; -1 when none is pending. */
static int64_t
next_due_ms(struct hooks *h)
{
	return store_hooks_next_due(h->store, hooks_alert_mask(h->cfg));
}

static int
store_unstored(struct hooks *h)
{
	struct run *r;
	int64_t next_ms;
	const char *state;

	while ((r = h->unstored) != NULL) {
		state = next_state(h, r, &next_ms);
		if (store_end(h, r, state, next_ms) == -1)
			return -1;
		list_del(&h->unstored, r);
		log_end(r, state, next_ms);
		run_free(r);
	}
	return 0;
}

static void
pass(struct hooks *h)
{
	int64_t at;

	if (!h->recovered && recover(h) == 0)
		h->recovered = true;
	if (!h->recovered || store_unstored(h) == -1) {
		schedule(h, STORE_RETRY_MS);
		return;
	}
	hooklog_new_clients(h->store, &h->logged_client);
	if (sweep_unconfigured(h) == -1 || start_due(h) == -1) {
		schedule(h, STORE_RETRY_MS);
		return;
	}
	if ((long)h->nrunning >= h->cfg->hook_max_running)
		return;		/* a hook's end arms the timer */
	at = next_due_ms(h);
	if (at >= 0)
		schedule(h, at - wall_ms());
}

/* Clients stored by another process (import-log) have alert rows due
 * now; nothing here kicks the queue for them, so look now and then. */
static void
outside_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hooks *h = arg;
	int64_t newest = store_newest_client(h->store);

	(void)fd;
	(void)what;
	if (newest > h->logged_client)
		schedule(h, 0);
	timer_add_ms(h->outside, OUTSIDE_CHECK_MS);
}

/* ---- public ---------------------------------------------------------- */

struct hooks *
hooks_new(struct event_base *base, struct store *store, const struct config *cfg)
{
	struct hooks *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->base = base;
	h->store = store;
	h->cfg = cfg;
	h->timer = evtimer_new(base, timer_cb, h);
	if (h->timer == NULL || spawn_init(base) == -1) {
		if (h->timer != NULL)
			event_free(h->timer);
		free(h);
		return NULL;
	}
	h->recovered = recover(h) == 0;
	/* Clients stored before this start were logged by an earlier one. */
	h->logged_client = store_last_client(store);
	if (h->logged_client < 0)
		h->logged_client = 0;
	if ((h->outside = evtimer_new(base, outside_cb, h)) != NULL)
		timer_add_ms(h->outside, OUTSIDE_CHECK_MS);
	schedule(h, 0);
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
	struct hooks *hm = (struct hooks *)(uintptr_t)h;
	int64_t at;

	if (h->nrunning > 0 || h->unstored != NULL || !h->recovered)
		return false;
	if (h->timer_armed && h->timer_at_ms <= wall_ms())
		return false;	/* a pass is about to run */
	at = next_due_ms(hm);
	return at < 0 || at > wall_ms();
}

/*
 * The daemon stops: hooks still running are recorded as interrupted and
 * their alerts go back to pending (they run again at the next start),
 * then they get SIGTERM; spawn_shutdown() kills what is left.
 */
void
hooks_free(struct hooks *h)
{
	struct run *r;

	if (h == NULL)
		return;
	store_unstored(h);
	while ((r = h->unstored) != NULL) {
		list_del(&h->unstored, r);
		run_free(r);
	}
	while ((r = h->running) != NULL) {
		list_del(&h->running, r);
		r->outcome = "failed";
		r->has_status = false;
		r->error = strdup("interrupted by daemon stop");
		r->ended_at = wall_ms() / 1000;
		if (r->error != NULL && store_end(h, r, "pending", wall_ms()) == 0)
			log_warnx("hooks: hook %s (%s) for %s@%s interrupted by the stop; it runs "
			    "again at the next start", r->a.event, r->cmd,
			    hooklog_str(r->a.client.key.user), hooklog_str(r->a.client.key.database));
		r->h = NULL;
		spawn_terminate(r->child);
	}
	event_free(h->timer);
	if (h->outside != NULL)
		event_free(h->outside);
	free(h);
}
