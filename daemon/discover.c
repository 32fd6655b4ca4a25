/*
 * discover.c: Aurora instance discovery over one short-lived connection.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ident.h"
#include "aurora.h"
#include "config.h"
#include "discover.h"
#include "instance.h"
#include "log.h"
#include "pgconn.h"
#include "statquery.h"
#include "timer.h"

#define UNDEFINED_FUNCTION "42883"

struct discover {
	const struct poller_env *env;
	const struct cluster_cfg *cluster;
	discover_fn found;
	void *arg;
	struct pgconn *pc;
	struct event *timer;
	struct log_obj obj;
	char name[IDENT_INSTANCE_NAME_MAX];
	bool failing;		/* the last discovery failed */
};

static void on_connected(struct pgconn *pc, void *arg);
static void on_result(struct pgconn *pc, const PGresult *res, void *arg);
static void on_failed(struct pgconn *pc, const char *error, void *arg);
static const struct pgconn_ops ops = { on_connected, on_result, on_failed };

static void
arm(struct discover *d, int64_t ms)
{
	timer_add_ms(d->timer, ms);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct discover *d = arg;

	(void)fd;
	(void)what;
	pgconn_connect(d->pc);
}

static struct pgconn *
make_conn(struct discover *d)
{
	const struct cluster_cfg *c = d->cluster;
	struct pgconn_params p = { .cluster = c, .host = c->instances[0].host,
		.port = c->instances[0].port, .connect_timeout_ms = d->env->cfg->connect_timeout_ms,
		.query_timeout_ms = d->env->cfg->query_timeout_ms };

	return pgconn_new(d->env->base, d->env->dns, &p, &ops, d);
}

struct discover *
discover_new(const struct poller_env *env, const struct cluster_cfg *c, discover_fn found,
	     void *arg)
{
	struct discover *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->env = env;
	d->cluster = c;
	d->found = found;
	d->arg = arg;
	ident_instance_name(d->name, sizeof(d->name), c->instances[0].host, c->instances[0].port);
	d->obj.cluster = c->name;
	d->obj.instance = d->name;
	d->timer = evtimer_new(env->base, on_timer, d);
	d->pc = make_conn(d);
	if (d->timer == NULL || d->pc == NULL) {
		discover_free(d);
		return NULL;
	}
	arm(d, 0);
	return d;
}

void
discover_free(struct discover *d)
{
	if (d == NULL)
		return;
	pgconn_free(d->pc);
	if (d->timer)
		event_free(d->timer);
	free(d);
}

void
discover_reconfigure(struct discover *d, const struct cluster_cfg *c)
{
	d->cluster = c;
	d->obj.cluster = c->name;
	pgconn_set_timeouts(d->pc, d->env->cfg->connect_timeout_ms, d->env->cfg->query_timeout_ms);
}

const struct cluster_cfg *
discover_cluster(const struct discover *d)
{
	return d->cluster;
}

bool
discover_failing(const struct discover *d)
{
	return d->failing;
}

static void
again_later(struct discover *d)
{
	if (!d->env->once)
		arm(d, d->cluster->discover_interval_ms);
}

static void
on_connected(struct pgconn *pc, void *arg)
{
	(void)arg;
	pgconn_query(pc, statq_discover(), 0, NULL);
}

/* Logged with its MESSAGE_ID (journal alerting can match it) and shown
 * in STATUS=; the owner keeps the instances found before. */
static void
failed(struct discover *d, const char *error)
{
	char msg[1100];

	snprintf(msg, sizeof(msg), "discovery failed: %s", error);
	msg[strcspn(msg, "\n")] = '\0';
	log_event(LVL_WARNING, &d->obj, MSGID_DISCOVERY_FAILED, NULL,
		  "%s; polling the instances found before", msg);
	d->failing = true;
	d->found(d->arg, d, NULL, 0, msg);
}

static void
on_failed(struct pgconn *pc, const char *error, void *arg)
{
	struct discover *d = arg;

	(void)pc;
	again_later(d);
	failed(d, error);
}

static void
report(struct discover *d, const PGresult *res)
{
	int rows = PQntuples(res);
	struct found_instance *fi = calloc(rows ? (size_t)rows : 1, sizeof(*fi));
	size_t n = 0;

	if (fi == NULL) {
		failed(d, "out of memory");
		return;
	}
	for (int i = 0; i < rows; i++) {
		if (PQgetisnull(res, i, 0))
			continue;
		fi[n].host = aurora_instance_host(d->cluster->instances[0].host,
						  PQgetvalue(res, i, 0));
		if (fi[n].host == NULL)
			continue;
		fi[n].port = d->cluster->instances[0].port;
		fi[n].role = PQgetvalue(res, i, 1)[0] == 't' ? "writer" : "reader";
		n++;
	}
	olog(LVL_DEBUG, &d->obj, "discovered %zu instances", n);
	if (n == 0) {
		failed(d, "aurora_replica_status() listed no live instance");
	} else {
		d->failing = false;
		d->found(d->arg, d, fi, n, NULL);
	}
	for (size_t i = 0; i < n; i++)
		free(fi[i].host);
	free(fi);
}

static void
on_result(struct pgconn *pc, const PGresult *res, void *arg)
{
	struct discover *d = arg;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	/* One question per interval; keep no idle connection to the endpoint. */
	pgconn_close(pc);
	again_later(d);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		report(d, res);
	} else if (state && strcmp(state, UNDEFINED_FUNCTION) == 0) {
		struct found_instance self = { .host = d->cluster->instances[0].host,
			.port = d->cluster->instances[0].port, .role = NULL };
		olog(LVL_DEBUG, &d->obj, "not Aurora: polling the host itself");
		d->failing = false;
		d->found(d->arg, d, &self, 1, NULL);
	} else {
		failed(d, PQresultErrorMessage(res));
	}
}
