/*
 * poolerset.c: the set of [pooler NAME] pollers (pooler.h). A pooler's
 * row is registered (store_pooler), its live sessions read and the rows
 * of removed poolers retired in one request to the store thread
 * (writer.h): the loop runs no SQL. Before writer_start() the request
 * runs at once, so a start-up registration that fails fails the start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "instance.h"
#include "instseed.h"
#include "log.h"
#include "pgconn.h"
#include "pooler.h"
#include "pooler_int.h"
#include "poolmatch.h"
#include "store.h"
#include "store_pooler.h"
#include "writer.h"

struct preg_item {
	char *name, *fronts, *host;
	int port;
	int64_t id;
	char err[256];
	struct instance_seed seed;
};

struct preg_req {
	struct sq_req base;
	struct preg_req *prev, *next;
	struct poolers *ps;	/* NULL once the set is freed */
	unsigned gen;
	struct preg_item *items;	/* poolers to register */
	size_t nitems;
	int64_t *keep;		/* rows kept: the running poolers' and items' */
	size_t nkeep;
	int retire_rc;
	char retire_err[256];
};

struct poolers *
poolers_new(const struct poller_env *env, struct poolmatch *pm,
	    void (*once_done)(void *arg, bool all_ok), void *arg)
{
	struct poolers *ps = calloc(1, sizeof(*ps));

	if (ps != NULL) {
		ps->env = env;
		ps->pm = pm;
		ps->once_done = once_done;
		ps->once_arg = arg;
		ps->once_ok = true;
	}
	return ps;
}

void
poolers_free(struct poolers *ps)
{
	if (ps == NULL)
		return;
	for (struct preg_req *q = ps->pending; q; q = q->next)
		q->ps = NULL;
	for (size_t i = 0; i < ps->n; i++)
		pooler_free(ps->p[i]);
	free(ps->p);
	free(ps);
}

/* ---- the registration request ---- */

static void
preg_free(struct preg_req *q)
{
	for (size_t i = 0; i < q->nitems; i++) {
		free(q->items[i].name);
		free(q->items[i].fronts);
		free(q->items[i].host);
		instance_seed_free(&q->items[i].seed);
	}
	free(q->items);
	free(q->keep);
	free(q);
}

static void
preg_unlink(struct preg_req *q)
{
	if (q->ps == NULL)
		return;
	if (q->prev)
		q->prev->next = q->next;
	else
		q->ps->pending = q->next;
	if (q->next)
		q->next->prev = q->prev;
}

static void
preg_drop(struct sq_req *req)
{
	struct preg_req *q = (struct preg_req *)req;

	preg_unlink(q);
	preg_free(q);
}

/* On the store thread. */
static void
preg_run(struct store *s, struct sq_req *req)
{
	struct preg_req *q = (struct preg_req *)req;

	for (size_t i = 0; i < q->nitems; i++) {
		struct preg_item *it = &q->items[i];

		it->id = store_pooler(s, it->name, it->fronts, it->host, it->port);
		if (it->id < 0) {
			snprintf(it->err, sizeof(it->err), "%s", store_errmsg(s));
			continue;
		}
		instance_seed_load(s, it->id, &it->seed);
		q->keep[q->nkeep++] = it->id;
	}
	q->retire_rc = store_pooler_retire_others(s, q->keep, q->nkeep, (int64_t)time(NULL));
	if (q->retire_rc < 0)
		snprintf(q->retire_err, sizeof(q->retire_err), "%s", store_errmsg(s));
}

static const struct cluster_cfg *
find_pooler_cfg(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->npoolers; i++)
		if (strcmp(cfg->poolers[i].name, name) == 0)
			return &cfg->poolers[i];
	return NULL;
}

/* Starts the poolers registered (on the loop). */
static void
preg_done(struct sq_req *req)
{
	struct preg_req *q = (struct preg_req *)req;
	struct poolers *ps = q->ps;
	struct pooler **np;

	if (ps == NULL || q->gen != ps->gen) {	/* freed, or a later apply asked again */
		preg_drop(req);
		return;
	}
	if (q->retire_rc < 0)
		log_warnx("could not mark retired poolers: %s", q->retire_err);
	np = realloc(ps->p, (ps->n + q->nitems + 1) * sizeof(*np));
	if (np != NULL)
		ps->p = np;
	for (size_t i = 0; i < q->nitems; i++) {
		struct preg_item *it = &q->items[i];
		const struct cluster_cfg *c = find_pooler_cfg(ps->env->cfg, it->name);
		struct pooler *p = NULL;

		if (it->id < 0 || c == NULL || np == NULL ||
		    poolmatch_add(ps->pm, c->name, c->fronts) < 0 ||
		    (p = pooler_new(ps, c, it->id, &it->seed)) == NULL) {
			log_warnx("pooler %s: could not start: %s", it->name,
				  it->id < 0 ? it->err : "out of memory");
			ps->apply_rc = -1;
			continue;
		}
		ps->p[ps->n++] = p;
	}
	if (ps->env->once)
		ps->once_left = ps->n;
	preg_drop(req);
}

/* ---- apply ---- */

/* The same console, the same settings: keep the connection. */
static bool
same_pooler(const struct cluster_cfg *a, const struct cluster_cfg *b)
{
	if (strcmp(a->fronts, b->fronts) != 0 || a->nconn != b->nconn ||
	    a->instances[0].port != b->instances[0].port ||
	    strcmp(a->instances[0].host, b->instances[0].host) != 0 ||
	    a->password_command.n != b->password_command.n)
		return false;
	for (size_t i = 0; i < a->nconn; i++)
		if (strcmp(a->conn[i].key, b->conn[i].key) != 0 ||
		    strcmp(a->conn[i].value, b->conn[i].value) != 0)
			return false;
	for (size_t i = 0; i < a->password_command.n; i++)
		if (strcmp(a->password_command.v[i], b->password_command.v[i]) != 0)
			return false;
	return true;
}

static int
add_item(struct preg_req *q, const struct cluster_cfg *c)
{
	struct preg_item *it = &q->items[q->nitems];

	it->name = strdup(c->name);
	it->fronts = strdup(c->fronts);
	it->host = strdup(c->instances[0].host);
	it->port = c->instances[0].port;
	it->id = -1;
	q->nitems++;
	return it->name && it->fronts && it->host ? 0 : -1;
}

int
poolers_apply(struct poolers *ps)
{
	const struct config *cfg = ps->env->cfg;
	struct pooler **next = calloc(cfg->npoolers + 1, sizeof(*next));
	struct preg_req *q = calloc(1, sizeof(*q));
	size_t n = 0;

	if (q != NULL) {
		q->items = calloc(cfg->npoolers + 1, sizeof(*q->items));
		q->keep = calloc(cfg->npoolers + 1, sizeof(*q->keep));
	}
	if (next == NULL || q == NULL || q->items == NULL || q->keep == NULL) {
		free(next);
		if (q != NULL)
			preg_free(q);
		return -1;
	}
	for (size_t i = 0; i < cfg->npoolers; i++) {
		const struct cluster_cfg *c = &cfg->poolers[i];
		struct pooler *p = NULL;

		for (size_t k = 0; k < ps->n && p == NULL; k++) {
			if (ps->p[k] && strcmp(ps->p[k]->c->name, c->name) == 0 &&
			    same_pooler(ps->p[k]->c, c)) {
				p = ps->p[k];
				ps->p[k] = NULL;
				p->c = c;
				p->obj.cluster = c->fronts;
				pgconn_set_timeouts(p->pc, cfg->connect_timeout_ms,
						    cfg->query_timeout_ms);
			}
		}
		if (p == NULL) {
			if (add_item(q, c) < 0) {
				log_warnx("pooler %s: could not start: out of memory", c->name);
				preg_free(q);
				q = NULL;
				break;
			}
			continue;
		}
		q->keep[q->nkeep++] = p->id;
		next[n++] = p;
	}
	for (size_t k = 0; k < ps->n; k++) {
		if (ps->p[k] == NULL)
			continue;
		bool kept = false;

		for (size_t i = 0; i < n; i++)
			kept |= strcmp(next[i]->c->name, ps->p[k]->c->name) == 0;
		for (size_t i = 0; q && i < q->nitems; i++)
			kept |= strcmp(q->items[i].name, ps->p[k]->c->name) == 0;
		if (!kept)
			poolmatch_remove(ps->pm, ps->p[k]->c->name);
		pooler_free(ps->p[k]);
	}
	free(ps->p);
	ps->p = next;
	ps->n = n;
	ps->gen++;
	ps->apply_rc = q == NULL ? -1 : 0;
	if (ps->env->once)
		ps->once_left = n;
	if (q == NULL)
		return -1;
	q->base.run = preg_run;
	q->base.done = preg_done;
	q->base.drop = preg_drop;
	q->ps = ps;
	q->gen = ps->gen;
	q->next = ps->pending;
	if (ps->pending)
		ps->pending->prev = q;
	ps->pending = q;
	writer_call(ps->env->writer, &q->base);
	return ps->apply_rc;	/* before writer_start: the reply's */
}

int64_t
poolers_overdue_ms(const struct poolers *ps, int64_t now_ms)
{
	int64_t worst = 0;

	for (size_t i = 0; ps && i < ps->n; i++) {
		const struct pooler *p = ps->p[i];
		struct inst_clocks c = { .timer_due = p->timer_due_mono,
			.conn_deadline = pgconn_deadline_ms(p->pc),
			.state_since = p->state_since_mono };
		int64_t late = inst_overdue_ms(p->state, &c, now_ms);

		if (late > worst)
			worst = late;
	}
	return worst;
}
