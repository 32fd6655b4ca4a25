/*
 * logcmd.c: log_command per instance (contract in logcmd.h).
 *
 * One job per polled instance, found by its store row id on each tick of
 * a one-second timer (so reloads and discovery need no hook here): a job
 * is idle, running its child, or importing the child's output. A job
 * whose instance left the fleet is dropped once its child ended.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "evspawn.h"
#include "fleet.h"
#include "ident.h"
#include "instance.h"
#include "log.h"
#include "logcmd.h"
#include "logimport.h"
#include "store.h"
#include "store_logs.h"
#include "timer.h"

#define TICK_MS		1000
#define LOG_MAX_OUTPUT	(64u << 20)
#define FEED_CHUNK	(1u << 20)
#define MIN_TIMEOUT_MS	30000
/* Commands running at once (a fleet's instances are due together at
 * start); the others wait for the next tick. */
#define MAX_RUNNING	4

enum job_state { JOB_IDLE, JOB_RUNNING, JOB_IMPORTING };

struct job {
	struct logcmd *lc;
	int64_t id;
	char *cluster;
	char name[IDENT_INSTANCE_NAME_MAX];	/* host:port */
	char *host;
	int port;
	enum job_state state;
	bool seen;		/* in the fleet at this tick */
	int64_t next_ms;	/* monotonic: when it may run again */
	struct child *child;
	char *out;		/* the output being imported */
	size_t len, off;
	struct logimport *li;
	struct event *feed;
};

struct logcmd {
	const struct poller_env *env;
	const struct fleet *fleet;
	struct event *tick;
	struct job **jobs;
	size_t n, cap;
	size_t running;		/* jobs in JOB_RUNNING or JOB_IMPORTING */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct cluster_cfg *
cluster_of(const struct logcmd *lc, const char *name)
{
	const struct config *cfg = lc->env->cfg;

	for (size_t i = 0; i < cfg->nclusters; i++)
		if (strcmp(cfg->clusters[i].name, name) == 0)
			return &cfg->clusters[i];
	return NULL;
}

static void
job_free(struct job *j)
{
	logimport_free(j->li);
	if (j->feed)
		event_free(j->feed);
	free(j->out);
	free(j->cluster);
	free(j->host);
	free(j);
}

/* The job is idle again; it runs after the cluster's interval. */
static void
job_idle(struct job *j)
{
	const struct cluster_cfg *c = cluster_of(j->lc, j->cluster);

	logimport_free(j->li);
	j->li = NULL;
	free(j->out);
	j->out = NULL;
	j->len = j->off = 0;
	j->state = JOB_IDLE;
	j->next_ms = mono_ms() + (c ? c->log_interval_ms : 5 * 60 * 1000);
}

static void
report_done(struct job *j)
{
	const struct logimport_stats *st = logimport_stats(j->li);
	struct log_obj obj = { j->cluster, j->name };

	olog(LVL_INFO, &obj, "log_command: %" PRIu64 " lines, %" PRIu64 " sessions: %" PRIu64
	     " new, %" PRIu64 " also polled, %" PRIu64 " imported before; %d new clients; %"
	     PRIu64 " lines skipped%s%s", st->lines, st->sessions, st->stored, st->named_polled,
	     st->known, st->new_clients, st->skipped, st->skipped ? ", first: " : "",
	     st->skipped ? st->skipped_why[0] : "");
}

static void
feed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct store *s = j->lc->env->store;
	struct log_obj obj = { j->cluster, j->name };
	size_t n = j->len - j->off < FEED_CHUNK ? j->len - j->off : FEED_CHUNK;

	(void)fd;
	(void)what;
	if (n > 0 && logimport_feed(j->li, j->out + j->off, n) < 0) {
		olog(LVL_WARNING, &obj, "log_command: import failed: %s (retried at the next run)",
		     store_errmsg(s));
		job_idle(j);
		return;
	}
	j->off += n;
	if (j->off < j->len) {
		timer_add_ms(j->feed, 0);	/* the rest at the next turn */
		return;
	}
	if (logimport_end(j->li) < 0)
		olog(LVL_WARNING, &obj, "log_command: import failed: %s", store_errmsg(s));
	else
		report_done(j);
	job_idle(j);
}

static void
start_import(struct job *j, const struct child_result *r)
{
	const struct config *cfg = j->lc->env->cfg;
	const struct cluster_cfg *c = cluster_of(j->lc, j->cluster);
	struct logimport_opts o = { .format = LOGFMT_AUTO, .commit_each_feed = true,
				    .exclude_users = c ? &c->exclude_users : &cfg->exclude_users,
				    .exclude_databases = &cfg->exclude_databases };
	struct log_obj obj = { j->cluster, j->name };
	char err[256];

	if (r->out_truncated)
		olog(LVL_WARNING, &obj, "log_command printed more than %u bytes: the rest is "
		     "not imported (run it more often)", LOG_MAX_OUTPUT);
	j->out = malloc(r->out_len ? r->out_len : 1);
	j->li = j->out ? logimport_new(j->lc->env->store, j->id, &o, err, sizeof err) : NULL;
	if (j->li == NULL || (j->feed == NULL &&
			      (j->feed = evtimer_new(j->lc->env->base, feed_cb, j)) == NULL)) {
		olog(LVL_WARNING, &obj, "log_command: %s", j->out ? err : "out of memory");
		job_idle(j);
		return;
	}
	memcpy(j->out, r->out, r->out_len);
	j->len = r->out_len;
	j->off = 0;
	j->state = JOB_IMPORTING;
	timer_add_ms(j->feed, 0);
}

static void
on_exit_cb(const struct child_result *r, void *arg)
{
	struct job *j = arg;
	struct log_obj obj = { j->cluster, j->name };
	const char *e = r->err_len ? r->err : "";
	int elen = (int)strcspn(e, "\n");

	j->child = NULL;
	if (j->lc == NULL) {		/* logcmd_free gave up on it */
		job_free(j);
		return;
	}
	if (!r->spawned) {
		olog(LVL_WARNING, &obj, "log_command: %s", r->spawn_error);
	} else if (r->timed_out || !r->exited || r->exit_code != 0) {
		if (r->exited)
			olog(LVL_WARNING, &obj, "log_command exited with status %d%s%.*s",
			     r->exit_code, elen ? ": " : "", elen, e);
		else
			olog(LVL_WARNING, &obj, "log_command killed by signal %d%s", r->signo,
			     r->timed_out ? " (timeout)" : "");
	} else {
		start_import(j, r);
		return;
	}
	job_idle(j);
}

static void
add_var(char **env, size_t *k, const char *name, const char *value)
{
	if (value != NULL && asprintf(&env[*k], "%s=%s", name, value) >= 0)
		(*k)++;
}

/* "2026-12-03T07:02:33.016Z", or "" for none. */
static void
rfc3339_ms(int64_t us, char *buf, size_t len)
{
	time_t t;
	struct tm tm;
	char date[32];

	if (us == INT64_MIN) {
		buf[0] = '\0';
		return;
	}
	t = (time_t)(us / 1000000);
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", date, (int)(us % 1000000 / 1000));
}

/* password_command's environment, plus the instance and the last line. */
static char **
job_env(const struct job *j, const struct cluster_cfg *c)
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **env, port[16], since[48];
	int64_t us = INT64_MIN;
	const char *user = NULL;

	while (environ[n])
		n++;
	if ((env = calloc(n + 8, sizeof *env)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!spawn_service_var(environ[i]))
			env[k++] = environ[i];
	for (size_t i = 0; i < c->nconn; i++)
		if (strcmp(c->conn[i].key, "user") == 0)
			user = c->conn[i].value;
	if (store_log_since(j->lc->env->store, j->id, &us) < 0)
		us = INT64_MIN;
	rfc3339_ms(us, since, sizeof since);
	snprintf(port, sizeof port, "%d", j->port);
	add_var(env, &k, "SSLHIST_HOST", j->host);
	add_var(env, &k, "SSLHIST_PORT", port);
	add_var(env, &k, "SSLHIST_USER", user);
	add_var(env, &k, "SSLHIST_CLUSTER", j->cluster);
	add_var(env, &k, "SSLHIST_INSTANCE", j->name);
	add_var(env, &k, "SSLHIST_LOG_SINCE", since);
	env[k] = NULL;
	return env;
}

static void
free_env(char **env)
{
	for (size_t i = 0; env[i]; i++)
		if (strncmp(env[i], "SSLHIST_", 8) == 0)
			free(env[i]);
	free(env);
}

static void
job_start(struct job *j, const struct cluster_cfg *c)
{
	struct log_obj obj = { j->cluster, j->name };
	char **env = job_env(j, c);
	struct child_spec spec = {
		.argv = (const char *const *)c->log_command.v,
		.max_output = LOG_MAX_OUTPUT,
		.timeout_ms = c->log_interval_ms > MIN_TIMEOUT_MS ? c->log_interval_ms :
								    MIN_TIMEOUT_MS,
		.on_exit = on_exit_cb,
		.arg = j,
	};

	if (env == NULL) {
		olog(LVL_WARNING, &obj, "log_command: out of memory");
		return;
	}
	spec.envp = (const char *const *)env;
	j->child = spawn_start(j->lc->env->base, &spec);
	free_env(env);
	if (j->child == NULL) {
		olog(LVL_WARNING, &obj, "log_command: out of memory");
		j->next_ms = mono_ms() + c->log_interval_ms;
		return;
	}
	j->state = JOB_RUNNING;
}

static struct job *
job_find(struct logcmd *lc, const struct instance *in)
{
	int64_t id = instance_id(in);
	struct job *j, **v;

	for (size_t i = 0; i < lc->n; i++)
		if (lc->jobs[i]->id == id)
			return lc->jobs[i];
	if (lc->n == lc->cap) {
		size_t cap = lc->cap ? lc->cap * 2 : 16;

		if ((v = realloc(lc->jobs, cap * sizeof *v)) == NULL)
			return NULL;
		lc->jobs = v;
		lc->cap = cap;
	}
	if ((j = calloc(1, sizeof *j)) == NULL)
		return NULL;
	j->lc = lc;
	j->id = id;
	j->port = instance_port(in);
	j->cluster = strdup(instance_cluster(in));
	j->host = strdup(instance_host(in));
	ident_instance_name(j->name, sizeof j->name, instance_host(in), j->port);
	j->next_ms = mono_ms();		/* the first run: at once */
	if (j->cluster == NULL || j->host == NULL) {
		job_free(j);
		return NULL;
	}
	lc->jobs[lc->n++] = j;
	return j;
}

static void
visit(void *arg, const struct instance *in)
{
	struct logcmd *lc = arg;
	struct job *j = job_find(lc, in);
	const struct cluster_cfg *c;

	if (j == NULL)
		return;
	j->seen = true;
	c = cluster_of(lc, j->cluster);
	if (c == NULL || c->log_command.n == 0 || j->state != JOB_IDLE ||
	    mono_ms() < j->next_ms || lc->running >= MAX_RUNNING)
		return;
	job_start(j, c);
	if (j->state != JOB_IDLE)
		lc->running++;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct logcmd *lc = arg;
	size_t k = 0;

	(void)fd;
	(void)what;
	lc->running = 0;
	for (size_t i = 0; i < lc->n; i++) {
		lc->jobs[i]->seen = false;
		lc->running += lc->jobs[i]->state != JOB_IDLE;
	}
	fleet_each(lc->fleet, visit, lc);
	for (size_t i = 0; i < lc->n; i++) {
		struct job *j = lc->jobs[i];

		if (j->seen || j->state == JOB_RUNNING)
			lc->jobs[k++] = j;
		else
			job_free(j);	/* gone from the fleet */
	}
	lc->n = k;
	timer_add_ms(lc->tick, TICK_MS);
}

struct logcmd *
logcmd_new(const struct poller_env *env, const struct fleet *fleet)
{
	struct logcmd *lc = calloc(1, sizeof *lc);

	if (lc == NULL)
		return NULL;
	lc->env = env;
	lc->fleet = fleet;
	if ((lc->tick = evtimer_new(env->base, tick_cb, lc)) == NULL) {
		free(lc);
		return NULL;
	}
	timer_add_ms(lc->tick, 0);
	return lc;
}

void
logcmd_free(struct logcmd *lc)
{
	if (lc == NULL)
		return;
	for (size_t i = 0; i < lc->n; i++) {
		struct job *j = lc->jobs[i];

		if (j->child != NULL) {
			j->lc = NULL;	/* freed by its on_exit */
			spawn_terminate(j->child);
		} else {
			job_free(j);
		}
	}
	free(lc->jobs);
	event_free(lc->tick);
	free(lc);
}
