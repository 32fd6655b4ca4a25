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
#include "parse.h"
#include "store.h"
#include "store_logs.h"
#include "timer.h"
#include "writer.h"

#define TICK_MS		1000
#define LOG_MAX_OUTPUT	(64u << 20)
#define FEED_CHUNK	(1u << 20)
#define MIN_TIMEOUT_MS	30000
/* Commands running at once (a fleet's instances are due together at
 * start); the others wait for the next tick. */
#define MAX_RUNNING	4

/* ASKING: the newest imported line is being read (a request); IMPORTING:
 * a megabyte of the output is being imported (a request). The store
 * thread owns `li` while a request is in flight. */
enum job_state { JOB_IDLE, JOB_ASKING, JOB_RUNNING, JOB_IMPORTING };

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
	struct logimport *li;	/* made, fed and freed on the store thread */
	struct logimport_opts opts;
	struct strlist users, databases;	/* copies: a reload frees the config */
	struct logimport_stats stats;	/* of the last import */
};

struct logcmd {
	const struct poller_env *env;
	const struct fleet *fleet;
	struct event *tick;
	struct job **jobs;
	size_t n, cap;
	size_t running;		/* jobs not JOB_IDLE */
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
	/* Only with no request in flight (or after the thread ended): li
	 * is then NULL or the store idle. */
	logimport_free(j->li);
	free(j->out);
	strlist_free(&j->users);
	strlist_free(&j->databases);
	free(j->cluster);
	free(j->host);
	free(j);
}

/* The job is idle again; it runs after the cluster's interval. */
static void
job_idle(struct job *j)
{
	const struct cluster_cfg *c = cluster_of(j->lc, j->cluster);

	free(j->out);
	j->out = NULL;
	j->len = j->off = 0;
	j->state = JOB_IDLE;
	j->next_ms = mono_ms() + (c ? c->log_interval_ms : 5 * 60 * 1000);
}

static void
report_done(struct job *j)
{
	const struct logimport_stats *st = &j->stats;
	struct log_obj obj = { j->cluster, j->name };

	olog(LVL_INFO, &obj, "log_command: %" PRIu64 " lines, %" PRIu64 " sessions: %" PRIu64
	     " new, %" PRIu64 " also polled, %" PRIu64 " imported before; %d new clients; %"
	     PRIu64 " lines skipped%s%s", st->lines, st->sessions, st->stored, st->named_polled,
	     st->known, st->new_clients, st->skipped, st->skipped ? ", first: " : "",
	     st->skipped ? st->skipped_why[0] : "");
}

/* One megabyte of output, imported on the store thread in FIFO order
 * with the poll records (each its own transaction: commit_each_feed). */
struct feed_req {
	struct sq_req base;
	struct job *j;
	size_t off, n;
	bool last;
	int rc;
	char err[256];
};

static void send_feed(struct feed_req *q);

static void
feed_run(struct store *s, struct sq_req *req)
{
	struct feed_req *q = (struct feed_req *)req;
	struct job *j = q->j;

	if (j->li == NULL &&
	    (j->li = logimport_new(s, j->id, &j->opts, q->err, sizeof(q->err))) == NULL) {
		q->rc = -1;
		return;
	}
	if ((q->n > 0 && logimport_feed(j->li, j->out + q->off, q->n) < 0) ||
	    (q->last && logimport_end(j->li) < 0)) {
		snprintf(q->err, sizeof(q->err), "%s", store_errmsg(s));
		q->rc = -1;
	} else if (q->last) {
		j->stats = *logimport_stats(j->li);
	}
	if (q->rc < 0 || q->last) {
		logimport_free(j->li);	/* rolls back a batch in progress */
		j->li = NULL;
	}
}

static void
feed_done(struct sq_req *req)
{
	struct feed_req *q = (struct feed_req *)req;
	struct job *j = q->j;
	struct log_obj obj = { j->cluster, j->name };

	if (j->lc == NULL) {		/* logcmd_free gave up on it */
		job_free(j);
	} else if (q->rc < 0) {
		olog(LVL_WARNING, &obj, "log_command: import failed: %s (retried at the next run)",
		     q->err);
		job_idle(j);
	} else if (!q->last) {
		j->off = q->off + q->n;
		q->rc = 0;
		send_feed(q);
		return;
	} else {
		report_done(j);
		job_idle(j);
	}
	free(q);
}

/* The daemon exits with the store thread stuck, maybe inside this very
 * request: nothing is freed (the process ends). */
static void
feed_drop(struct sq_req *req)
{
	(void)req;
}

/* The next chunk, with the import's one request (reused: no allocation
 * between two chunks, so an import never stops half-way for memory). */
static void
send_feed(struct feed_req *q)
{
	struct job *j = q->j;

	q->base.run = feed_run;
	q->base.done = feed_done;
	q->base.drop = feed_drop;
	q->off = j->off;
	q->n = j->len - j->off < FEED_CHUNK ? j->len - j->off : FEED_CHUNK;
	q->last = q->off + q->n >= j->len;
	writer_call(j->lc->env->writer, &q->base);
}

static int
copy_list(struct strlist *to, const struct strlist *from)
{
	strlist_free(to);
	for (size_t i = 0; from && i < from->n; i++)
		if (strlist_add(to, from->v[i]) < 0)
			return -1;
	return 0;
}

static void
start_import(struct job *j, const struct child_result *r)
{
	const struct config *cfg = j->lc->env->cfg;
	const struct cluster_cfg *c = cluster_of(j->lc, j->cluster);
	struct log_obj obj = { j->cluster, j->name };
	struct feed_req *q = calloc(1, sizeof(*q));

	if (r->out_truncated)
		olog(LVL_WARNING, &obj, "log_command printed more than %u bytes: the rest is "
		     "not imported (run it more often)", LOG_MAX_OUTPUT);
	j->out = malloc(r->out_len ? r->out_len : 1);
	if (q == NULL || j->out == NULL || copy_list(&j->users, c ? &c->exclude_users : &cfg->exclude_users) < 0 ||
	    copy_list(&j->databases, &cfg->exclude_databases) < 0) {
		olog(LVL_WARNING, &obj, "log_command: out of memory");
		free(q);
		job_idle(j);
		return;
	}
	j->opts = (struct logimport_opts){ .format = LOGFMT_AUTO, .commit_each_feed = true,
					   .exclude_users = &j->users,
					   .exclude_databases = &j->databases };
	memcpy(j->out, r->out, r->out_len);
	j->len = r->out_len;
	j->off = 0;
	j->li = NULL;
	j->state = JOB_IMPORTING;
	q->j = j;
	send_feed(q);
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
job_env(const struct job *j, const struct cluster_cfg *c, int64_t us)
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **env, port[16], since[48];
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
job_start(struct job *j, const struct cluster_cfg *c, int64_t since_us)
{
	struct log_obj obj = { j->cluster, j->name };
	char **env = job_env(j, c, since_us);
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

/* SSLHIST_LOG_SINCE: the newest line imported, read on the store thread
 * (a request); the command starts on the reply. */
struct since_req {
	struct sq_req base;
	struct job *j;
	int64_t us;
};

static void
since_run(struct store *s, struct sq_req *req)
{
	struct since_req *q = (struct since_req *)req;

	if (store_log_since(s, q->j->id, &q->us) < 0)
		q->us = INT64_MIN;
}

static void
since_done(struct sq_req *req)
{
	struct since_req *q = (struct since_req *)req;
	struct job *j = q->j;
	const struct cluster_cfg *c;
	int64_t us = q->us;

	free(q);
	if (j->lc == NULL) {		/* logcmd_free gave up on it */
		job_free(j);
		return;
	}
	j->state = JOB_IDLE;
	c = cluster_of(j->lc, j->cluster);
	if (c == NULL || c->log_command.n == 0)	/* a reload removed it */
		return;
	job_start(j, c, us);
}

static void
since_drop(struct sq_req *req)
{
	(void)req;	/* the process ends with the thread stuck: see feed_drop */
}

static void
job_ask(struct job *j)
{
	struct since_req *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		log_errorx("log_command: out of memory");
		return;
	}
	q->base.run = since_run;
	q->base.done = since_done;
	q->base.drop = since_drop;
	q->j = j;
	j->state = JOB_ASKING;
	writer_call(j->lc->env->writer, &q->base);
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
	job_ask(j);
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

		if (j->seen || j->state != JOB_IDLE)	/* a child or a request */
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
		} else if (j->state == JOB_ASKING || j->state == JOB_IMPORTING) {
			j->lc = NULL;	/* freed by its request's reply */
		} else {
			job_free(j);
		}
	}
	free(lc->jobs);
	event_free(lc->tick);
	free(lc);
}
