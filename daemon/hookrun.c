/*
 * hookrun.c: one hook's start and end (hooks.h): the child through
 * evspawn.c with hookenv.c's environment and stdin, its outcome, and the
 * end sent to the store thread as a request (hookq.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "evspawn.h"
#include "hookenv.h"
#include "hooklog.h"
#include "hookq.h"
#include "hooks.h"
#include "hooks_int.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "writer.h"

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
void
hk_send_end(struct hooks *h, struct run *r, const struct store_hook_end *e, const char *note)
{
	struct hook_end_req *q = calloc(1, sizeof(*q));

	if (q == NULL || (e->error && (q->error = strdup(e->error)) == NULL) ||
	    (note && (q->stop_note = strdup(note)) == NULL)) {
		if (q)
			free(q->error);
		free(q);
		log_errorx("hooks: out of memory recording the end of a hook");
		if (r != NULL) {	/* kept for the next pass */
			hk_list_add(&h->unstored, r);
			hk_schedule(h, STORE_RETRY_MS);
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
		hk_run_free(q->run);
	h->nending--;
	end_free(q);
	hk_req_returned(h);
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
		hk_store_failed(h, q->err);
		if (r != NULL) {
			hk_list_add(&h->unstored, r);
			hk_schedule(h, STORE_RETRY_MS);
		}
	} else {
		hk_store_works(h);
		if (r != NULL) {
			log_end(r, q->e.state, q->e.next_attempt_ms);
			hk_run_free(r);
		} else if (q->stop_note) {
			log_warnx("%s", q->stop_note);
		}
	}
	end_free(q);
	hk_req_returned(h);
}

/* Writes a run's end and the alert's next state; the run is the
 * request's until its reply (then freed, or kept for a retry). */
void
hk_finish_run(struct hooks *h, struct run *r)
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

	hk_send_end(h, r, &e, NULL);
}

/* A run ended (not a retried write of its end): /metrics counts it once. */
static void
run_ended(struct hooks *h, struct run *r)
{
	metrics_hook_done(h->metrics, r->a.event, r->outcome);
	hk_finish_run(h, r);
}

static void
hook_exited(const struct child_result *res, void *arg)
{
	struct run *r = arg;
	struct hooks *h = r->h;

	if (h == NULL) {	/* hooks_stop recorded it already */
		hk_run_free(r);
		return;
	}
	hk_list_del(&h->running, r);
	h->nrunning--;
	r->child = NULL;
	set_outcome(r, res);
	hooklog_output(&r->a, r->cmd, "stdout", res->out, res->out_len, res->out_truncated);
	hooklog_output(&r->a, r->cmd, "stderr", res->err, res->err_len, res->err_truncated);
	run_ended(h, r);
	hk_schedule(h, 0);		/* a slot is free */
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
		run_ended(h, r);
		return;
	}
	hk_list_add(&h->running, r);
	h->nrunning++;
}

/* A claimed alert (committed 'running' with its attempt): start it. */
void
hk_start_claimed(struct hooks *h, struct store_alert *a, int64_t attempt)
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
	cmd = hk_event_command(h->cfg, r->a.event);
	if (cmd == NULL) {	/* a reload removed it since the pass asked */
		r->outcome = "failed";
		r->error = strdup("hook no longer configured");
		r->ended_at = wall_ms() / 1000;
		run_ended(h, r);
		return;
	}
	r->cmd = strdup(cmd->v[0]);
	spawn_run(h, r, cmd);
}

