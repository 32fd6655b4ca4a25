/*
 * instance.c: one instance's state machine over pgconn (see instance.h):
 * its states and their entry actions, the schedule of connections and
 * polls, failures, and the facts read on each connection. The rows of a
 * poll become a record in pollrec.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ident.h"
#include "clock.h"
#include "config.h"
#include "fastpoll.h"
#include "instance.h"
#include "instfacts.h"
#include "instseed.h"
#include "log.h"
#include "metrics.h"
#include "pgconn.h"
#include "pollrec.h"
#include "schedule.h"
#include "statquery.h"
#include "tracker.h"
#include "writer.h"
#include "timer.h"

#define BACKOFF_MIN_MS 1000
/*
 * An own session is listed if it began at most this long before the last
 * poll's snapshot: it shows in pg_stat_activity only once authenticated,
 * which takes milliseconds; one slower than this counts as a missed
 * session once. (A margin as long as connect_timeout would list every
 * connection of a fleet that is starting, in every poll.)
 */
#define OWN_MARGIN_MS 2000

struct instance {
	const struct poller_env *env;
	const struct cluster_cfg *cluster;
	char *host;
	int port;
	int64_t id;
	char name[IDENT_INSTANCE_NAME_MAX];
	struct log_obj obj;

	enum instance_state state;	/* set by set_state() only: through
					 * transition(), or recover() */
	int64_t state_since_mono;	/* when it entered `state` */
	struct pgconn *pc;
	struct event *timer;		/* pending in WAITING and IDLE only */
	int64_t timer_due_mono;		/* when `timer` fires */

	/* The connection: set in FACTS, valid until WAITING or DONE. */
	int server_version;
	struct instance_facts *unsent_facts;	/* read on this connection, not
						 * yet sent with a poll record */

	/* Polls. */
	struct tracker *tracker;
	int64_t poll_started_mono;	/* the last poll's start: the next one
					 * is due an interval after it */
	struct fastpoll fast;		/* kept across reconnections and reloads */
	bool poll_fast;			/* the running poll was due at
					 * fast_interval; next_fast: the next one */
	bool next_fast;
	int64_t snapshot_us;		/* the server's time of the last
					 * successful poll ('t' row); 0: none
					 * yet, so every session comes in full */
	int32_t want[POLLREC_WANT_MAX];	/* the next poll's $4 */
	size_t nwant;
	uint64_t bad_rows;		/* rows skipped, ever */
	unsigned bad_logged;		/* kinds of bad rows logged (1 << kind) */

	/* Outcomes. ok is derived: no failure since a success. */
	int64_t last_success_ms;	/* wall clock; 0: never */
	unsigned failures;		/* attempts failed in a row */
	char *last_error;		/* the latest of them; NULL iff
					 * failures == 0 */
};

static void on_connected(struct pgconn *pc, void *arg);
static void on_result(struct pgconn *pc, const PGresult *res, void *arg);
static void on_failed(struct pgconn *pc, const char *error, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void transition(struct instance *in, enum instance_state to);

static const struct pgconn_ops ops = { on_connected, on_result, on_failed };

/* Timers on a shared tick of libevent's cached time (schedule.h). */
static void
arm_tick(struct instance *in, int64_t ms, int64_t tick_us)
{
	struct timeval tv = { 0, 0 };
	int64_t delay_us;

	if (ms < 0)
		ms = 0;
	if (ms == 0 || event_base_gettimeofday_cached(in->env->base, &tv) != 0)
		tick_us = 0;
	delay_us = sched_round_us((int64_t)tv.tv_sec * 1000000 + tv.tv_usec, ms, tick_us);
	in->timer_due_mono = mono_ms() + (delay_us + 999) / 1000;
	tv.tv_sec = (time_t)(delay_us / 1000000);
	tv.tv_usec = (suseconds_t)(delay_us % 1000000);
	event_add(in->timer, &tv);
}

static void
arm(struct instance *in, int64_t ms)
{
	arm_tick(in, ms, SCHED_DEFAULT_TICK_US);
}

/* Logs a change of fast mode (info). */
static void
note_fast(struct instance *in, enum fastpoll_change ch, int64_t missed)
{
	char msg[160];

	if (fastpoll_describe(ch, in->cluster, missed, msg, sizeof(msg)))
		olog(LVL_INFO, &in->obj, "%s", msg);
}

struct instance *
instance_new(const struct poller_env *env, const struct cluster_cfg *c, const char *host,
	     int port, int64_t id, const struct instance_seed *seed)
{
	bool changed;

	struct instance *in = calloc(1, sizeof(*in));
	struct pgconn_params p;

	if (in == NULL)
		return NULL;
	in->env = env;
	in->cluster = c;
	in->port = port;
	in->id = id;
	in->host = strdup(host);
	ident_instance_name(in->name, sizeof(in->name), host, port);
	in->obj.cluster = c->name;
	in->obj.instance = in->name;
	in->timer = evtimer_new(env->base, on_timer, in);
	in->tracker = tracker_new();
	p = (struct pgconn_params){ .cluster = c, .host = host, .port = port,
		.connect_timeout_ms = env->cfg->connect_timeout_ms,
		.query_timeout_ms = env->cfg->query_timeout_ms };
	in->pc = pgconn_new(env->base, env->dns, &p, &ops, in);
	if (!in->host || !in->timer || !in->tracker || !in->pc) {
		instance_free(in);
		return NULL;
	}
	if (seed->live_err)
		olog(LVL_WARNING, &in->obj, "could not load live sessions: %s", seed->live_err);
	if (seed->counters_err)
		olog(LVL_WARNING, &in->obj, "could not load session counters: %s",
		     seed->counters_err);
	for (size_t i = 0; i < seed->nlive; i++)
		tracker_preload(in->tracker, seed->live[i].pid, seed->live[i].backend_start_us);
	/* The stored pg_stat_database baseline: the sessions that began and
	 * ended while the daemon was not running are missed sessions too. */
	for (size_t i = 0; i < seed->ncounters; i++)
		(void)tracker_count_db(in->tracker, seed->counters[i].datid,
				       seed->counters[i].sessions, seed->counters[i].stats_reset,
				       0, &changed);
	/* The initial state, not a transition: spread a fleet's first
	 * connections over a little time. */
	in->state = INST_WAITING;
	in->state_since_mono = mono_ms();
	arm(in, env->once ? 0 : (int64_t)(jitter_uniform() * 1000));
	return in;
}

void
instance_free(struct instance *in)
{
	if (in == NULL)
		return;
	metrics_instance_gone(in->env->metrics, in->id);
	pgconn_free(in->pc);
	if (in->timer)
		event_free(in->timer);
	tracker_free(in->tracker);
	instance_facts_free(in->unsent_facts);
	free(in->last_error);
	free(in->host);
	free(in);
}

void
instance_reconfigure(struct instance *in, const struct cluster_cfg *c)
{
	in->cluster = c;
	in->obj.cluster = c->name;
	pgconn_set_timeouts(in->pc, in->env->cfg->connect_timeout_ms,
			    in->env->cfg->query_timeout_ms);
	note_fast(in, fastpoll_reconfigure(&in->fast, in->cluster), 0);
}

enum instance_state instance_state(const struct instance *in) { return in->state; }
bool instance_ok(const struct instance *in) { return in->failures == 0 && in->last_success_ms; }
bool instance_failing(const struct instance *in) { return in->failures > 0; }
int64_t instance_id(const struct instance *in) { return in->id; }
const char *instance_host(const struct instance *in) { return in->host; }
int instance_port(const struct instance *in) { return in->port; }
const char *instance_cluster(const struct instance *in) { return in->cluster->name; }
const char *instance_state_name(const struct instance *in) { return inst_state_name(in->state); }

int64_t
instance_overdue_ms(const struct instance *in, int64_t now_ms)
{
	struct inst_clocks c = { .timer_due = in->timer_due_mono,
		.conn_deadline = pgconn_deadline_ms(in->pc), .state_since = in->state_since_mono };

	return inst_overdue_ms(in->state, &c, now_ms);
}

/* ---- the schedule ---- */

/* The next poll: interval (fast_interval in fast mode) after the last one
 * started, +- jitter as a share of that period (fastpoll.h). The jitter is
 * drawn as schedule.h draws it, from a window shorter by the period's
 * tick, so that arm_tick's rounding keeps it within the period +- jitter;
 * *tick_us is that tick. */
static int64_t
poll_delay(struct instance *in, int64_t *tick_us)
{
	int64_t period = fastpoll_period_ms(&in->fast, in->cluster);

	*tick_us = sched_poll_tick_us(period, in->env->cfg->jitter);
	return fastpoll_delay_ms(&in->fast, in->cluster,
				 sched_poll_share(period, in->env->cfg->jitter, jitter_uniform()),
				 in->poll_started_mono, mono_ms(), &in->next_fast);
}

/* Exponential in the failures in a row, capped, with "equal jitter":
 * between half and all of the delay. */
static int64_t
reconnect_delay(const struct instance *in)
{
	int64_t max = in->env->cfg->max_backoff_ms, d = BACKOFF_MIN_MS;

	for (unsigned i = 1; i < in->failures && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	return d / 2 + (int64_t)(jitter_uniform() * (double)(d / 2));
}

static void
start_poll(struct instance *in)
{
	char since[STATQ_TIME_MAX], margin[48], pids[STATQ_PIDS_MAX(POLLREC_WANT_MAX)];
	/* $2 is kept across reconnections, so that own sessions begun in
	 * between count as seen. */
	const char *params[4] = { in->env->own_users,
		statq_time_param(since, sizeof(since), in->snapshot_us), margin,
		statq_pids_param(pids, sizeof(pids), in->want, in->nwant) };

	in->nwant = 0;
	in->poll_fast = in->next_fast;
	in->next_fast = false;
	in->poll_started_mono = mono_ms();
	snprintf(margin, sizeof(margin), "%d milliseconds", OWN_MARGIN_MS);
	pgconn_query_prepared(in->pc, STATQ_POLL_NAME, 4, params, 1);
}

/* ---- transitions ---- */

/* The connection is over: what was read on it goes with it. */
static void
drop_connection(struct instance *in)
{
	pgconn_close(in->pc);
	in->next_fast = false;	/* the poll after a reconnection is no fast one */
	instance_facts_free(in->unsent_facts);
	in->unsent_facts = NULL;
}

/*
 * What entering state `st` does. The action comes last: pgconn may call
 * back from inside it (a failure), and that callback may change the state
 * again.
 */
static void
enter(struct instance *in, enum instance_state st)
{
	switch (st) {
	case INST_WAITING:
		drop_connection(in);
		arm(in, reconnect_delay(in));
		break;
	case INST_CONNECTING:
		pgconn_connect(in->pc);
		break;
	case INST_FACTS:
		pgconn_query(in->pc, statq_facts(), 0, NULL);
		break;
	case INST_PREPARING:
		pgconn_prepare(in->pc, STATQ_POLL_NAME, statq_sessions(in->server_version), 4);
		break;
	case INST_POLLING:
		start_poll(in);
		break;
	case INST_IDLE: {
		int64_t tick_us, ms = poll_delay(in, &tick_us);

		arm_tick(in, ms, tick_us);
		break;
	}
	case INST_DONE:
		drop_connection(in);
		in->env->done(in->env->done_arg, in, instance_ok(in));
		break;
	case INST_NSTATES:
		break;
	}
}

/* Unchecked: for transition(), and for recover()'s way out of a state
 * whose way the table does not know. */
static void
set_state(struct instance *in, enum instance_state st)
{
	olog(LVL_DEBUG, &in->obj, "%s -> %s", inst_state_name(in->state), inst_state_name(st));
	in->state = st;
	in->state_since_mono = mono_ms();
	enter(in, st);
}

/* Where an attempt ends, well or not: the next one, or DONE. */
static enum instance_state
after_failure(const struct instance *in)
{
	return in->env->once ? INST_DONE : INST_WAITING;
}

/* Every record goes to the writer through here; /metrics counts it. */
static void
submit(struct instance *in, struct poll_record *r)
{
	metrics_poll_done(in->env->metrics, in->obj.cluster, in->name, r);
	writer_submit(in->env->writer, r);
}

/* ---- failures ---- */

/* Counts a failed attempt and hands it to the writer. */
static void
record_failure(struct instance *in, const char *error)
{
	struct poll_record *r = calloc(1, sizeof(*r));

	in->failures++;
	/* The first failure and each new kind of error are worth a warning;
	 * the same error again, at every backoff step, is not. */
	if (in->last_error == NULL || strcmp(in->last_error, error) != 0) {
		log_event(LVL_WARNING, &in->obj, MSGID_POLL_FAILED, NULL, "%s: %s",
			  inst_state_name(in->state), error);
		free(in->last_error);
		in->last_error = strdup(error);
	} else {
		olog(LVL_DEBUG, &in->obj, "failed again (%u): %s", in->failures, error);
	}
	if (r == NULL || (r->error = strdup(error)) == NULL) {
		free(r);
		olog(LVL_ERROR, &in->obj, "out of memory recording a failure");
		return;
	}
	r->instance_id = in->id;
	r->at_ms = wall_ms();
	r->fast = in->state == INST_POLLING && in->poll_fast;
	submit(in, r);
}

static void
fail(struct instance *in, const char *error)
{
	record_failure(in, error);
	transition(in, after_failure(in));
}

/* Fails with "what: detail", detail cut at its first line (libpq's
 * messages end in a newline and may go on with hints). */
static void
fail_with(struct instance *in, const char *what, const char *detail)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s: %s", what, detail);
	msg[strcspn(msg, "\n")] = '\0';
	fail(in, msg);
}

/*
 * The safe state after an internal error: the connection dropped, the
 * error recorded as a failed attempt, a reconnect after the backoff (or
 * DONE in --once mode). DONE stays DONE: its outcome was reported.
 */
static void
recover(struct instance *in, const char *why)
{
	if (in->state == INST_DONE) {
		drop_connection(in);
		return;
	}
	record_failure(in, why);
	set_state(in, after_failure(in));
}

/* The one way to change state (but for recover()'s way out). */
static void
transition(struct instance *in, enum instance_state to)
{
	char why[128];

	if (inst_transition_allowed(in->state, to)) {
		set_state(in, to);
		return;
	}
	olog(LVL_ERROR, &in->obj, "internal error: impossible transition %s -> %s; "
	     "dropping the connection", inst_state_name(in->state), inst_state_name(to));
	snprintf(why, sizeof(why), "internal error: impossible transition %s -> %s",
		 inst_state_name(in->state), inst_state_name(to));
	recover(in, why);
}

/* An event that the current state does not wait for. */
static void
unexpected(struct instance *in, const char *event)
{
	char why[128];

	olog(LVL_ERROR, &in->obj, "internal error: %s while %s; dropping the connection", event,
	     inst_state_name(in->state));
	snprintf(why, sizeof(why), "internal error: %s while %s", event,
		 inst_state_name(in->state));
	recover(in, why);
}

/* ---- events ---- */

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct instance *in = arg;

	(void)fd;
	(void)what;
	if (in->state == INST_WAITING)
		transition(in, INST_CONNECTING);
	else if (in->state == INST_IDLE && pgconn_ready(in->pc))
		transition(in, INST_POLLING);
	else if (in->state == INST_IDLE)
		unexpected(in, "the poll timer, the connection not ready,");
	else
		unexpected(in, "a timer");
}

static void
on_failed(struct pgconn *pc, const char *error, void *arg)
{
	struct instance *in = arg;

	(void)pc;
	if (in->state == INST_WAITING || in->state == INST_DONE)
		unexpected(in, "a connection failure");
	else
		fail(in, error);
}

static void
on_connected(struct pgconn *pc, void *arg)
{
	struct instance *in = arg;
	char msg[128];

	if (in->state != INST_CONNECTING) {
		unexpected(in, "a new connection");
		return;
	}
	in->server_version = PQserverVersion(pgconn_pg(pc));
	if (statq_sessions(in->server_version) == NULL) {
		snprintf(msg, sizeof(msg), "unsupported server version %d (PostgreSQL 11 or later needed)",
			 in->server_version);
		fail(in, msg);
		return;
	}
	transition(in, INST_FACTS);
}

/* ---- facts, prepare ---- */

static void
facts_done(struct instance *in, const PGresult *res)
{
	struct instance_facts *f;
	const char *err = instfacts_read(res, pgconn_pg(in->pc), in->server_version, &in->obj, &f);

	if (err != NULL) {
		fail_with(in, "reading instance facts failed", err);
		return;
	}
	instfacts_log(f, pgconn_pg(in->pc), &in->obj);
	instance_facts_free(in->unsent_facts);
	in->unsent_facts = f;
	transition(in, INST_PREPARING);
}

static void
prepare_done(struct instance *in, const PGresult *res)
{
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fail_with(in, "preparing the poll query failed", PQresultErrorMessage(res));
		return;
	}
	transition(in, INST_POLLING);
}

/* ---- one poll ---- */

/* Rows skipped: counted for ever, each kind logged once. */
static void
note_bad_rows(struct instance *in, const struct pollrec_out *out)
{
	for (int e = 0; e < STATROW_NERRORS; e++) {
		if (out->bad[e] == 0)
			continue;
		in->bad_rows += out->bad[e];
		if (in->bad_logged & (1u << e))
			continue;
		in->bad_logged |= 1u << e;
		olog(LVL_WARNING, &in->obj,
		     "skipped a row of the poll query: %s (%llu bad rows so far; each kind is "
		     "logged once)", statrow_error_name((enum statrow_error)e),
		     (unsigned long long)in->bad_rows);
	}
}

/* What a successful poll tells the next one. */
static void
take_out(struct instance *in, const struct pollrec_out *out)
{
	if (out->snapshot_us != 0)
		in->snapshot_us = out->snapshot_us;
	memcpy(in->want, out->want, out->nwant * sizeof(*in->want));
	in->nwant = out->nwant;
}

static void
poll_done(struct instance *in, const PGresult *res)
{
	const struct pollrec_ctx ctx = { .tracker = in->tracker,
		.server_version = in->server_version,
		.exclude_users = &in->cluster->exclude_users,
		.exclude_databases = &in->env->cfg->exclude_databases,
		.pooled = in->env->cfg->npoolers ? in->env->pooled : NULL,
		.cluster = in->cluster->name };
	struct pollrec_out out;
	struct poll_record *r;
	const char *err;
	int64_t now = wall_ms();

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail_with(in, "poll query failed", PQresultErrorMessage(res));
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		fail(in, "out of memory");
		return;
	}
	err = pollrec_build(&ctx, res, r, &out);
	note_bad_rows(in, &out);
	if (err != NULL) {
		poll_record_free(r);
		fail(in, err);
		return;
	}
	take_out(in, &out);
	r->instance_id = in->id;
	r->at_ms = now;
	r->ok = true;
	r->gap_ms = in->last_success_ms ? now - in->last_success_ms : 0;
	r->facts = in->unsent_facts;
	in->unsent_facts = NULL;
	r->fast = in->poll_fast;
	note_fast(in, fastpoll_after_poll(&in->fast, in->cluster, poll_record_missed(r),
					  mono_ms()), poll_record_missed(r));
	if (in->failures)
		olog(LVL_INFO, &in->obj, "polling again after %u failed attempts", in->failures);
	in->failures = 0;
	free(in->last_error);
	in->last_error = NULL;
	in->last_success_ms = now;
	olog(LVL_DEBUG, &in->obj, "poll: %zu clients, %zu new and %zu ended sessions, %zu tracked",
	     r->nclients, r->n_new, r->n_ended, tracker_count(in->tracker));
	submit(in, r);
	transition(in, in->env->once ? INST_DONE : INST_IDLE);
}

static void
on_result(struct pgconn *pc, const PGresult *res, void *arg)
{
	struct instance *in = arg;

	(void)pc;
	switch (in->state) {
	case INST_FACTS:
		facts_done(in, res);
		break;
	case INST_PREPARING:
		prepare_done(in, res);
		break;
	case INST_POLLING:
		poll_done(in, res);
		break;
	case INST_WAITING:
	case INST_CONNECTING:
	case INST_IDLE:
	case INST_DONE:
	case INST_NSTATES:
		unexpected(in, "a query result");
		break;
	}
}

char *
instance_own_users(const struct config *cfg)
{
	const char **users = calloc(cfg->nclusters + 1, sizeof(*users));
	size_t n = 0;
	char *out;

	if (users == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->nclusters; i++)
		if ((users[n] = cluster_conn_get(&cfg->clusters[i], "user")) != NULL)
			n++;
	out = statq_text_array(users, n);
	free(users);
	return out;
}
