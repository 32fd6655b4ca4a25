/*
 * fleet.c: instances and discoveries, built from the configuration.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ident.h"
#include "config.h"
#include "discover.h"
#include "fleet.h"
#include "instance.h"
#include "log.h"
#include "store.h"

struct member {
	struct instance *in;
	bool keep;
};

struct fleet {
	struct poller_env *env;
	void (*finished)(void *arg, bool all_ok);
	void *arg;
	struct member *m;
	size_t n, cap;
	struct discover **disc;
	size_t ndisc;
	size_t once_pending;	/* --once: attempts not yet made */
	bool once_ok;
};

static void
once_step(struct fleet *f, bool ok)
{
	if (!ok)
		f->once_ok = false;
	if (--f->once_pending == 0 && f->finished)
		f->finished(f->arg, f->once_ok);
}

static void
instance_done(void *arg, struct instance *in, bool ok)
{
	(void)in;
	once_step(arg, ok);
}

struct fleet *
fleet_new(struct poller_env *env, void (*finished)(void *arg, bool all_ok), void *arg)
{
	struct fleet *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->env = env;
	f->finished = finished;
	f->arg = arg;
	f->once_ok = true;
	env->done = instance_done;
	env->done_arg = f;
	return f;
}

void
fleet_free(struct fleet *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++)
		instance_free(f->m[i].in);
	for (size_t i = 0; i < f->ndisc; i++)
		discover_free(f->disc[i]);
	free(f->m);
	free(f->disc);
	free(f);
}

/* Same libpq keywords and password_command: the connection can stay. */
static bool
same_connection(const struct cluster_cfg *a, const struct cluster_cfg *b)
{
	if (a->nconn != b->nconn || a->password_command.n != b->password_command.n)
		return false;
	for (size_t i = 0; i < a->nconn; i++) {
		if (!ident_str_eq(a->conn[i].key, b->conn[i].key) ||
		    !ident_str_eq(a->conn[i].value, b->conn[i].value))
			return false;
	}
	for (size_t i = 0; i < a->password_command.n; i++) {
		if (!ident_str_eq(a->password_command.v[i], b->password_command.v[i]))
			return false;
	}
	return true;
}

static const struct cluster_cfg *
find_cluster(const struct config *cfg, const char *name)
{
	for (size_t i = 0; cfg && i < cfg->nclusters; i++) {
		if (strcmp(cfg->clusters[i].name, name) == 0)
			return &cfg->clusters[i];
	}
	return NULL;
}

static struct member *
find_member(struct fleet *f, const char *cluster, const char *host, int port)
{
	for (size_t i = 0; i < f->n; i++) {
		struct instance *in = f->m[i].in;
		if (instance_port(in) == port && strcmp(instance_host(in), host) == 0 &&
		    strcmp(instance_cluster(in), cluster) == 0)
			return &f->m[i];
	}
	return NULL;
}

/* Starts polling host:port for cluster c (kept if already polled). */
static int
add_instance(struct fleet *f, const struct cluster_cfg *c, const char *host, int port,
	     const char *role)
{
	struct member *m = find_member(f, c->name, host, port);
	int64_t id = store_instance(f->env->store, c->name, host, port, role);

	if (id < 0) {
		log_errorx("%s/%s:%d: could not register the instance in the store: %s", c->name,
			   host, port, store_errmsg(f->env->store));
		if (m)
			m->keep = true;
		return -1;
	}
	if (m) {
		m->keep = true;
		return 0;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		struct member *nm = realloc(f->m, cap * sizeof(*nm));
		if (nm == NULL)
			return -1;
		f->m = nm;
		f->cap = cap;
	}
	f->m[f->n].in = instance_new(f->env, c, host, port, id);
	if (f->m[f->n].in == NULL)
		return -1;
	f->m[f->n].keep = true;
	f->n++;
	if (f->env->once)
		f->once_pending++;
	return 0;
}

/* Stops the instances not marked keep, and retires them in the store. */
static void
sweep(struct fleet *f)
{
	int64_t *ids = calloc(f->n ? f->n : 1, sizeof(*ids));
	size_t j = 0, nids = 0;

	for (size_t i = 0; i < f->n; i++) {
		if (f->m[i].keep) {
			f->m[j++] = f->m[i];
			if (ids)
				ids[nids++] = instance_id(f->m[i].in);
		} else {
			log_infox("%s/%s:%d: no longer polled", instance_cluster(f->m[i].in),
				  instance_host(f->m[i].in), instance_port(f->m[i].in));
			instance_free(f->m[i].in);
		}
	}
	f->n = j;
	if (ids && store_retire_others(f->env->store, ids, nids, (int64_t)time(NULL)) < 0)
		log_warnx("could not mark retired instances: %s", store_errmsg(f->env->store));
	free(ids);
}

static void
on_discovered(void *arg, struct discover *d, const struct found_instance *fi, size_t n,
	      const char *error)
{
	struct fleet *f = arg;
	const struct cluster_cfg *c = discover_cluster(d);

	/* Not held for a retry: the next discovery records its own outcome. */
	if (store_discovery(f->env->store, c->name, (int64_t)time(NULL), error) < 0)
		log_warnx("could not record the discovery of cluster %s: %s", c->name,
			  store_errmsg(f->env->store));
	if (error == NULL) {
		for (size_t i = 0; i < f->n; i++) {
			if (strcmp(instance_cluster(f->m[i].in), c->name) != 0)
				f->m[i].keep = true;
			else
				f->m[i].keep = false;
		}
		for (size_t i = 0; i < n; i++)
			add_instance(f, c, fi[i].host, fi[i].port, fi[i].role);
		/* Instances of other clusters are kept; this cluster's
		 * vanished ones go. */
		sweep(f);
	}
	if (f->env->once)
		once_step(f, error == NULL);
}

static bool
same_endpoint(const struct cluster_cfg *a, const struct cluster_cfg *b)
{
	return a->ninstances && b->ninstances && a->instances[0].port == b->instances[0].port &&
	       strcmp(a->instances[0].host, b->instances[0].host) == 0;
}

static bool
lists_instance(const struct cluster_cfg *c, const char *host, int port)
{
	for (size_t i = 0; i < c->ninstances; i++) {
		if (c->instances[i].port == port && strcmp(c->instances[i].host, host) == 0)
			return true;
	}
	return false;
}

/* Whether a running instance can stay as it is under the new cluster c. */
static bool
instance_unchanged(const struct instance *in, const struct cluster_cfg *oc,
		   const struct cluster_cfg *c)
{
	if (oc == NULL || c == NULL || oc->discover != c->discover || !same_connection(oc, c))
		return false;
	if (c->discover)
		return same_endpoint(oc, c);
	return lists_instance(c, instance_host(in), instance_port(in));
}

static void
apply_discoveries(struct fleet *f, const struct config *cfg)
{
	size_t j = 0;

	for (size_t i = 0; i < f->ndisc; i++) {
		struct discover *d = f->disc[i];
		const struct cluster_cfg *oc = discover_cluster(d);
		const struct cluster_cfg *c = find_cluster(cfg, oc->name);

		if (c && c->discover && same_connection(oc, c) && same_endpoint(oc, c)) {
			discover_reconfigure(d, c);
			f->disc[j++] = d;
		} else {
			discover_free(d);
		}
	}
	f->ndisc = j;
}

static bool
has_discovery(const struct fleet *f, const char *cluster)
{
	for (size_t i = 0; i < f->ndisc; i++) {
		if (strcmp(discover_cluster(f->disc[i])->name, cluster) == 0)
			return true;
	}
	return false;
}

int
fleet_apply(struct fleet *f, const struct config *old)
{
	const struct config *cfg = f->env->cfg;
	int rc = 0;

	/* Keep what did not change; stop the rest. */
	for (size_t i = 0; i < f->n; i++) {
		struct instance *in = f->m[i].in;
		const struct cluster_cfg *c = find_cluster(cfg, instance_cluster(in));

		f->m[i].keep = instance_unchanged(in, find_cluster(old, instance_cluster(in)), c);
		if (f->m[i].keep)
			instance_reconfigure(in, c);
	}
	apply_discoveries(f, cfg);
	sweep(f);

	/* Start what is new. */
	for (size_t i = 0; i < cfg->nclusters; i++) {
		const struct cluster_cfg *c = &cfg->clusters[i];

		if (!c->discover) {
			for (size_t k = 0; k < c->ninstances; k++) {
				if (add_instance(f, c, c->instances[k].host, c->instances[k].port,
						 NULL) < 0)
					rc = -1;
			}
			continue;
		}
		if (has_discovery(f, c->name))
			continue;
		struct discover **nd = realloc(f->disc, (f->ndisc + 1) * sizeof(*nd));
		if (nd == NULL)
			return -1;
		f->disc = nd;
		f->disc[f->ndisc] = discover_new(f->env, c, on_discovered, f);
		if (f->disc[f->ndisc] == NULL)
			return -1;
		f->ndisc++;
		if (f->env->once)
			f->once_pending++;
	}
	return rc;
}

void
fleet_status(const struct fleet *f, struct fleet_status *st)
{
	memset(st, 0, sizeof(*st));
	st->instances = f->n;
	st->pending = f->once_pending;
	for (size_t i = 0; i < f->ndisc; i++)
		st->discovery_failing += discover_failing(f->disc[i]);
	for (size_t i = 0; i < f->n; i++) {
		if (instance_ok(f->m[i].in))
			st->ok++;
		else if (instance_failing(f->m[i].in))
			st->failing++;
	}
}

const struct instance *
fleet_most_overdue(const struct fleet *f, int64_t now_ms, int64_t *late_ms)
{
	const struct instance *worst = NULL;

	*late_ms = 0;
	for (size_t i = 0; i < f->n; i++) {
		int64_t late = instance_overdue_ms(f->m[i].in, now_ms);
		if (late > *late_ms) {
			*late_ms = late;
			worst = f->m[i].in;
		}
	}
	return worst;
}

void
fleet_each(const struct fleet *f, void (*fn)(void *arg, const struct instance *in), void *arg)
{
	for (size_t i = 0; i < f->n; i++)
		fn(arg, f->m[i].in);
}
