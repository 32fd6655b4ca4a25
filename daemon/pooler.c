/*
 * pooler.c: one poller per [pooler NAME] (pooler.h); the set of them is
 * poolerset.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "ident.h"
#include "instance.h"
#include "inststate.h"
#include "log.h"
#include "pgconn.h"
#include "pollrec.h"
#include "pooler.h"
#include "poolmatch.h"
#include "poolrows.h"
#include "instseed.h"
#include "pooler_int.h"
#include "timer.h"
#include "tracker.h"
#include "writer.h"

#define BACKOFF_MIN_MS 1000

static void on_connected(struct pgconn *pc, void *arg);
static void on_result(struct pgconn *pc, const PGresult *res, void *arg);
static void on_failed(struct pgconn *pc, const char *error, void *arg);
static void transition(struct pooler *p, enum instance_state to);

static const struct pgconn_ops ops = { on_connected, on_result, on_failed };

/* ---- schedule ---- */

static void
arm(struct pooler *p, int64_t ms)
{
	p->timer_due_mono = mono_ms() + (ms > 0 ? ms : 0);
	timer_add_ms(p->timer, ms);
}

static int64_t
poll_delay(const struct pooler *p)
{
	double j = p->set->env->cfg->jitter * (2 * jitter_uniform() - 1);

	return p->poll_started_mono + (int64_t)((double)p->c->interval_ms * (1 + j)) - mono_ms();
}

/* As an instance's: exponential, capped, "equal jitter". */
static int64_t
reconnect_delay(const struct pooler *p)
{
	int64_t max = p->set->env->cfg->max_backoff_ms, d = BACKOFF_MIN_MS;

	for (unsigned i = 1; i < p->failures && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	return d / 2 + (int64_t)(jitter_uniform() * (double)(d / 2));
}

/* ---- states ---- */

static void
drop_connection(struct pooler *p)
{
	pgconn_close(p->pc);
	instance_facts_free(p->unsent_facts);
	pooler_facts_free(p->unsent_pooler);
	p->unsent_facts = NULL;
	p->unsent_pooler = NULL;
}

static void
enter(struct pooler *p, enum instance_state st)
{
	switch (st) {
	case INST_WAITING:
		drop_connection(p);
		arm(p, reconnect_delay(p));
		break;
	case INST_CONNECTING:
		pgconn_connect(p->pc);
		break;
	case INST_FACTS:
		pgconn_query_simple(p->pc, "SHOW VERSION");
		break;
	case INST_PREPARING:
		pgconn_query_simple(p->pc, "SHOW CONFIG");
		break;
	case INST_POLLING:
		p->poll_started_mono = mono_ms();
		p->clients_phase = false;
		pgconn_query_simple(p->pc, "SHOW SERVERS");
		break;
	case INST_IDLE:
		arm(p, poll_delay(p));
		break;
	case INST_DONE:
		drop_connection(p);
		if (p->failures)
			p->set->once_ok = false;
		if (p->set->once_left > 0 && --p->set->once_left == 0 && p->set->once_done)
			p->set->once_done(p->set->once_arg, p->set->once_ok);
		break;
	case INST_NSTATES:
		drop_connection(p);
		break;
	}
}

static void
set_state(struct pooler *p, enum instance_state st)
{
	olog(LVL_DEBUG, &p->obj, "pooler %s -> %s", inst_state_name(p->state),
	     inst_state_name(st));
	p->state = st;
	p->state_since_mono = mono_ms();
	enter(p, st);
}

/* Where an attempt ends, well or not: the next one, or DONE. */
static enum instance_state
after_attempt(const struct pooler *p, enum instance_state next)
{
	return p->set->env->once ? INST_DONE : next;
}

static void
record_failure(struct pooler *p, const char *error)
{
	struct poll_record *r = calloc(1, sizeof(*r));

	p->failures++;
	poolmatch_failed(p->set->pm, p->c->name);
	if (p->last_error == NULL || strcmp(p->last_error, error) != 0) {
		log_event(LVL_WARNING, &p->obj, MSGID_POLL_FAILED, NULL, "pooler %s: %s",
			  inst_state_name(p->state), error);
		free(p->last_error);
		p->last_error = strdup(error);
	}
	if (r == NULL || (r->error = strdup(error)) == NULL) {
		free(r);
		olog(LVL_ERROR, &p->obj, "out of memory recording a failure");
		return;
	}
	r->instance_id = p->id;
	r->at_ms = wall_ms();
	writer_submit(p->set->env->writer, r);
}

static void
fail(struct pooler *p, const char *what, const char *detail)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
	msg[strcspn(msg, "\n")] = '\0';
	record_failure(p, msg);
	set_state(p, after_attempt(p, INST_WAITING));
}

static void
transition(struct pooler *p, enum instance_state to)
{
	char why[128];

	if (inst_transition_allowed(p->state, to)) {
		set_state(p, to);
		return;
	}
	snprintf(why, sizeof(why), "internal error: impossible transition %s -> %s",
		 inst_state_name(p->state), inst_state_name(to));
	olog(LVL_ERROR, &p->obj, "%s; dropping the connection", why);
	record_failure(p, why);
	if (p->state != INST_DONE)
		set_state(p, after_attempt(p, INST_WAITING));
}

static void
unexpected(struct pooler *p, const char *event)
{
	char why[128];

	snprintf(why, sizeof(why), "internal error: %s while %s", event,
		 inst_state_name(p->state));
	olog(LVL_ERROR, &p->obj, "%s; dropping the connection", why);
	record_failure(p, why);
	if (p->state != INST_DONE)
		set_state(p, after_attempt(p, INST_WAITING));
}

/* ---- events ---- */

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pooler *p = arg;

	(void)fd;
	(void)what;
	if (p->state == INST_WAITING)
		transition(p, INST_CONNECTING);
	else if (p->state == INST_IDLE && pgconn_ready(p->pc))
		transition(p, INST_POLLING);
	else
		unexpected(p, "a timer");
}

static void
on_failed(struct pgconn *pc, const char *error, void *arg)
{
	struct pooler *p = arg;

	(void)pc;
	if (p->state == INST_WAITING || p->state == INST_DONE)
		unexpected(p, "a connection failure");
	else
		fail(p, error, NULL);
}

static void
on_connected(struct pgconn *pc, void *arg)
{
	struct pooler *p = arg;

	(void)pc;
	if (p->state != INST_CONNECTING)
		unexpected(p, "a new connection");
	else
		transition(p, INST_FACTS);
}

/* SHOW VERSION: one row, "PgBouncer 1.18.0" (its column was renamed
 * over the versions: read the first). */
static void
version_done(struct pooler *p, const PGresult *res)
{
	struct instance_facts *f;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1 || PQnfields(res) < 1) {
		fail(p, "SHOW VERSION failed (not a PgBouncer admin console?)",
		     PQresultErrorMessage(res));
		return;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->server_version = strndup(PQgetvalue(res, 0, 0), 64)) == NULL) {
		instance_facts_free(f);
		fail(p, "out of memory", NULL);
		return;
	}
	f->ssl_enabled = -1;
	f->can_see_all_sessions = 1;	/* SHOW CLIENTS lists every client */
	instance_facts_free(p->unsent_facts);
	p->unsent_facts = f;
	transition(p, INST_PREPARING);
}

static void
config_done(struct pooler *p, const PGresult *res)
{
	struct pooler_facts *f = calloc(1, sizeof(*f));
	const char *err;

	if (f == NULL) {
		fail(p, "out of memory", NULL);
		return;
	}
	if ((err = poolrows_config(res, f)) != NULL) {
		pooler_facts_free(f);
		fail(p, err, PQresultStatus(res) == PGRES_TUPLES_OK ? NULL :
		     PQresultErrorMessage(res));
		return;
	}
	if (p->unsent_facts != NULL && f->client_tls_sslmode != NULL)
		p->unsent_facts->ssl_enabled = strcmp(f->client_tls_sslmode, "disable") != 0;
	olog(LVL_INFO, &p->obj, "pooler %s fronting cluster %s: %s, client_tls_sslmode %s, "
	     "server_tls_sslmode %s", p->c->name, p->c->fronts,
	     p->unsent_facts ? p->unsent_facts->server_version : "?",
	     f->client_tls_sslmode ? f->client_tls_sslmode : "?",
	     f->server_tls_sslmode ? f->server_tls_sslmode : "?");
	pooler_facts_free(p->unsent_pooler);
	p->unsent_pooler = f;
	transition(p, INST_POLLING);
}

/* SHOW SERVERS -> the poolmatch; then SHOW CLIENTS. */
static void
servers_done(struct pooler *p, const PGresult *res)
{
	struct poolrows_cols c;
	struct pool_server *v;
	struct pool_sock s;
	char err[256];
	size_t n = 0;
	int rc;

	if (poolrows_columns(res, "SHOW SERVERS", &c, err, sizeof(err)) != NULL) {
		fail(p, err, NULL);
		return;
	}
	if ((v = calloc((size_t)PQntuples(res) + 1, sizeof(*v))) == NULL) {
		fail(p, "out of memory", NULL);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++)
		if (poolrows_decode(res, i, &c, &s) == POOLROW_OK && s.type == 'S')
			v[n++] = (struct pool_server){ s.local_addr, s.local_port, s.user };
	rc = poolmatch_set(p->set->pm, p->c->name, v, n);
	free(v);
	if (rc < 0) {
		fail(p, "out of memory", NULL);
		return;
	}
	p->clients_phase = true;
	pgconn_query_simple(p->pc, "SHOW CLIENTS");
}

static void
note_bad_rows(struct pooler *p, const struct poolrec_out *out)
{
	for (int e = 0; e < POOLROW_NERRORS; e++) {
		if (out->bad[e] == 0 || (p->bad_logged & (1u << e)))
			continue;
		p->bad_logged |= 1u << e;
		olog(LVL_WARNING, &p->obj, "pooler %s: skipped a row of SHOW CLIENTS: %s (each "
		     "kind is logged once)", p->c->name, poolrow_error_name((enum poolrow_error)e));
	}
}

static void
clients_done(struct pooler *p, const PGresult *res)
{
	const struct poolrec_ctx ctx = { .tracker = p->tracker,
		.exclude_users = &p->c->exclude_users,
		.exclude_databases = &p->set->env->cfg->exclude_databases };
	struct poolrec_out out;
	struct poll_record *r = calloc(1, sizeof(*r));
	const char *err;
	int64_t now = wall_ms();

	if (r == NULL) {
		fail(p, "out of memory", NULL);
		return;
	}
	if ((err = poolrec_build(&ctx, res, r, &out)) != NULL) {
		char msg[300];

		snprintf(msg, sizeof(msg), "%s", err);
		poll_record_free(r);
		fail(p, msg, NULL);
		return;
	}
	note_bad_rows(p, &out);
	r->instance_id = p->id;
	r->at_ms = now;
	r->ok = true;
	r->gap_ms = p->last_success_ms ? now - p->last_success_ms : 0;
	r->facts = p->unsent_facts;
	r->pooler = p->unsent_pooler;
	p->unsent_facts = NULL;
	p->unsent_pooler = NULL;
	if (p->failures)
		olog(LVL_INFO, &p->obj, "pooler %s: polling again after %u failed attempts",
		     p->c->name, p->failures);
	p->failures = 0;
	free(p->last_error);
	p->last_error = NULL;
	p->last_success_ms = now;
	olog(LVL_DEBUG, &p->obj, "pooler poll: %zu client rows, %zu new and %zu ended sessions",
	     out.clients, r->n_new, r->n_ended);
	writer_submit(p->set->env->writer, r);
	transition(p, after_attempt(p, INST_IDLE));
}

static void
on_result(struct pgconn *pc, const PGresult *res, void *arg)
{
	struct pooler *p = arg;

	(void)pc;
	if (p->state == INST_FACTS)
		version_done(p, res);
	else if (p->state == INST_PREPARING)
		config_done(p, res);
	else if (p->state == INST_POLLING && !p->clients_phase)
		servers_done(p, res);
	else if (p->state == INST_POLLING)
		clients_done(p, res);
	else
		unexpected(p, "a query result");
}

/* ---- one pooler ---- */

void
pooler_free(struct pooler *p)
{
	if (p == NULL)
		return;
	pgconn_free(p->pc);
	if (p->timer)
		event_free(p->timer);
	tracker_free(p->tracker);
	instance_facts_free(p->unsent_facts);
	pooler_facts_free(p->unsent_pooler);
	free(p->last_error);
	free(p);
}

struct pooler *
pooler_new(struct poolers *set, const struct cluster_cfg *c, int64_t id,
	   const struct instance_seed *seed)
{
	const struct poller_env *env = set->env;
	struct pooler *p = calloc(1, sizeof(*p));
	struct pgconn_params pp;

	if (p == NULL)
		return NULL;
	p->set = set;
	p->c = c;
	p->id = id;
	ident_instance_name(p->name, sizeof(p->name), c->instances[0].host, c->instances[0].port);
	p->obj.cluster = c->fronts;
	p->obj.instance = p->name;
	p->timer = evtimer_new(env->base, on_timer, p);
	p->tracker = tracker_new();
	pp = (struct pgconn_params){ .cluster = c, .host = c->instances[0].host,
		.port = c->instances[0].port, .connect_timeout_ms = env->cfg->connect_timeout_ms,
		.query_timeout_ms = env->cfg->query_timeout_ms, .console = true };
	p->pc = pgconn_new(env->base, env->dns, &pp, &ops, p);
	if (!p->timer || !p->tracker || !p->pc) {
		pooler_free(p);
		return NULL;
	}
	if (seed->live_err)
		olog(LVL_WARNING, &p->obj, "pooler %s: could not load live sessions: %s", c->name,
		     seed->live_err);
	for (size_t i = 0; i < seed->nlive; i++)
		tracker_preload(p->tracker, seed->live[i].pid, seed->live[i].backend_start_us);
	p->state = INST_WAITING;
	p->state_since_mono = mono_ms();
	arm(p, env->once ? 0 : (int64_t)(jitter_uniform() * 1000));
	return p;
}

