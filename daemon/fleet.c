/*
 * fleet.c: instances and discoveries, built from the configuration.
 *
 * The instance registry is the store's, and the loop never waits on it:
 * registering an instance (store_instance, then its seed: instseed.h),
 * recording a discovery and retiring the instances no longer polled are
 * requests to the store thread (writer.h). A new instance starts polling
 * when its registration's reply arrives with its row id; before the
 * writer's thread starts (start-up) that is at once, so a registry that
 * cannot be written fails the start. Retiring waits for the registrations
 * in flight: the FIFO would otherwise retire an instance registered just
 * before it. An instance a discovery found, whose registration is still in
 * flight when a later discovery no longer lists it, starts anyway and goes
 * at the discovery after.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ident.h"
#include "config.h"
#include "discover.h"
#include "fleet.h"
#include "instance.h"
#include "instseed.h"
#include "log.h"
#include "store.h"
#include "writer.h"

struct member {
	struct instance *in;
	bool keep;
};

struct reg_req;

struct fleet {
	struct poller_env *env;
	struct reg_req *pending;	/* registrations in flight */
	size_t npending;		/* of them, of new instances */
	bool retire_wanted;		/* a sweep waits for them */
	bool reg_failed;		/* a registration failed (fleet_apply's result) */
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

static void send_retire(struct fleet *f);
static void forget_pending(struct fleet *f);

void
fleet_free(struct fleet *f)
{
	if (f == NULL)
		return;
	/* Replies after this only free their request. */
	forget_pending(f);
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

/* ---- requests to the store thread ------------------------------------ */

struct reg_req {
	struct sq_req base;
	struct reg_req *prev, *next;	/* f->pending */
	struct fleet *f;		/* NULL: the fleet is gone */
	char *cluster, *host, *role;
	int port;
	bool seed_wanted;		/* a new instance: start it on the reply */
	int64_t id;
	char err[512];
	struct instance_seed seed;
};

static void
reg_free(struct reg_req *r)
{
	instance_seed_free(&r->seed);
	free(r->cluster);
	free(r->host);
	free(r->role);
	free(r);
}

static void
reg_drop(struct sq_req *req)
{
	reg_free((struct reg_req *)req);
}

static void
reg_run(struct store *s, struct sq_req *req)
{
	struct reg_req *r = (struct reg_req *)req;

	r->id = store_instance(s, r->cluster, r->host, r->port, r->role);
	if (r->id < 0)
		snprintf(r->err, sizeof(r->err), "%s", store_errmsg(s));
	else if (r->seed_wanted)
		instance_seed_load(s, r->id, &r->seed);
}

static void
forget_pending(struct fleet *f)
{
	for (struct reg_req *r = f->pending; r; r = r->next)
		r->f = NULL;
}

static struct reg_req *
find_pending(struct fleet *f, const char *cluster, const char *host, int port)
{
	for (struct reg_req *r = f->pending; r; r = r->next) {
		if (r->seed_wanted && r->port == port && strcmp(r->host, host) == 0 &&
		    strcmp(r->cluster, cluster) == 0)
			return r;
	}
	return NULL;
}

static int
append_member(struct fleet *f, struct instance *in)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		struct member *nm = realloc(f->m, cap * sizeof(*nm));

		if (nm == NULL)
			return -1;
		f->m = nm;
		f->cap = cap;
	}
	f->m[f->n].in = in;
	f->m[f->n].keep = true;
	f->n++;
	return 0;
}

/* A new instance's registration came back: start polling it. */
static void
start_registered(struct fleet *f, struct reg_req *r)
{
	const struct cluster_cfg *c = find_cluster(f->env->cfg, r->cluster);
	struct instance *in;

	/* Its cluster went in a reload meanwhile, or it is already polled. */
	if (c == NULL || find_member(f, r->cluster, r->host, r->port) != NULL) {
		if (f->env->once)
			once_step(f, true);
		return;
	}
	in = instance_new(f->env, c, r->host, r->port, r->id, &r->seed);
	if (in == NULL || append_member(f, in) < 0) {
		log_errorx("%s/%s:%d: out of memory starting its poller", r->cluster, r->host,
			   r->port);
		instance_free(in);
		if (f->env->once)
			once_step(f, false);
	}
}

static void
reg_done(struct sq_req *req)
{
	struct reg_req *r = (struct reg_req *)req;
	struct fleet *f = r->f;

	if (f == NULL) {
		reg_free(r);
		return;
	}
	if (r->prev)
		r->prev->next = r->next;
	else
		f->pending = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->seed_wanted)
		f->npending--;
	if (r->id < 0) {
		log_errorx("%s/%s:%d: could not register the instance in the store: %s", r->cluster,
			   r->host, r->port, r->err);
		f->reg_failed = true;
		if (r->seed_wanted && f->env->once)
			once_step(f, false);
	} else if (r->seed_wanted) {
		start_registered(f, r);
	}
	if (f->npending == 0 && f->retire_wanted)
		send_retire(f);
	reg_free(r);
}

/* Starts polling host:port for cluster c (kept if already polled): asks
 * the store for its row; the instance starts on the reply. */
static int
add_instance(struct fleet *f, const struct cluster_cfg *c, const char *host, int port,
	     const char *role)
{
	struct member *m = find_member(f, c->name, host, port);
	struct reg_req *r;

	if (m)
		m->keep = true;
	else if (find_pending(f, c->name, host, port) != NULL)
		return 0;
	r = calloc(1, sizeof(*r));
	if (r == NULL || (r->cluster = strdup(c->name)) == NULL ||
	    (r->host = strdup(host)) == NULL || (role && (r->role = strdup(role)) == NULL)) {
		log_errorx("%s/%s:%d: out of memory registering the instance", c->name, host, port);
		if (r)
			reg_free(r);
		return -1;
	}
	r->base.run = reg_run;
	r->base.done = reg_done;
	r->base.drop = reg_drop;
	r->f = f;
	r->port = port;
	r->seed_wanted = m == NULL;
	r->next = f->pending;
	if (f->pending)
		f->pending->prev = r;
	f->pending = r;
	if (r->seed_wanted) {
		f->npending++;
		if (f->env->once)
			f->once_pending++;
	}
	writer_call(f->env->writer, &r->base);
	return 0;
}

struct retire_req {
	struct sq_req base;
	int64_t *ids;
	size_t nids;
	int rc;
	char err[512];
};

static void
retire_run(struct store *s, struct sq_req *req)
{
	struct retire_req *r = (struct retire_req *)req;

	if ((r->rc = store_retire_others(s, r->ids, r->nids, (int64_t)time(NULL))) < 0)
		snprintf(r->err, sizeof(r->err), "%s", store_errmsg(s));
}

static void
retire_done(struct sq_req *req)
{
	struct retire_req *r = (struct retire_req *)req;

	if (r->rc < 0)
		log_warnx("could not mark retired instances: %s", r->err);
	free(r->ids);
	free(r);
}

static void
retire_drop(struct sq_req *req)
{
	free(((struct retire_req *)req)->ids);
	free(req);
}

/* Marks retired, in the store, every instance not polled now. */
static void
send_retire(struct fleet *f)
{
	struct retire_req *r = calloc(1, sizeof(*r));

	f->retire_wanted = false;
	if (r == NULL || (r->ids = calloc(f->n ? f->n : 1, sizeof(*r->ids))) == NULL) {
		free(r);
		log_warnx("could not mark retired instances: out of memory");
		return;
	}
	for (size_t i = 0; i < f->n; i++)
		r->ids[r->nids++] = instance_id(f->m[i].in);
	r->base.run = retire_run;
	r->base.done = retire_done;
	r->base.drop = retire_drop;
	writer_call(f->env->writer, &r->base);
}

/* Stops the instances not marked keep, and retires them in the store. */
static void
sweep(struct fleet *f)
{
	size_t j = 0;

	for (size_t i = 0; i < f->n; i++) {
		if (f->m[i].keep) {
			f->m[j++] = f->m[i];
		} else {
			log_infox("%s/%s:%d: no longer polled", instance_cluster(f->m[i].in),
				  instance_host(f->m[i].in), instance_port(f->m[i].in));
			instance_free(f->m[i].in);
		}
	}
	f->n = j;
	if (f->npending == 0)
		send_retire(f);
	else
		f->retire_wanted = true;
}

struct disc_req {
	struct sq_req base;
	char *cluster, *error;
	int64_t now;
	int rc;
	char err[512];
};

static void
disc_run(struct store *s, struct sq_req *req)
{
	struct disc_req *r = (struct disc_req *)req;

	if ((r->rc = store_discovery(s, r->cluster, r->now, r->error)) < 0)
		snprintf(r->err, sizeof(r->err), "%s", store_errmsg(s));
}

static void
disc_drop(struct sq_req *req)
{
	struct disc_req *r = (struct disc_req *)req;

	free(r->cluster);
	free(r->error);
	free(r);
}

static void
disc_done(struct sq_req *req)
{
	struct disc_req *r = (struct disc_req *)req;

	if (r->rc < 0)
		log_warnx("could not record the discovery of cluster %s: %s", r->cluster, r->err);
	disc_drop(req);
}

static void
on_discovered(void *arg, struct discover *d, const struct found_instance *fi, size_t n,
	      const char *error)
{
	struct fleet *f = arg;
	const struct cluster_cfg *c = discover_cluster(d);
	struct disc_req *r = calloc(1, sizeof(*r));

	/* Not held for a retry: the next discovery records its own outcome. */
	if (r == NULL || (r->cluster = strdup(c->name)) == NULL ||
	    (error && (r->error = strdup(error)) == NULL)) {
		log_warnx("could not record the discovery of cluster %s: out of memory", c->name);
		if (r)
			disc_drop(&r->base);
	} else {
		r->now = (int64_t)time(NULL);
		r->base.run = disc_run;
		r->base.done = disc_done;
		r->base.drop = disc_drop;
		writer_call(f->env->writer, &r->base);
	}
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

	f->reg_failed = false;

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
	/* Before the writer's thread starts, registrations ended already. */
	return f->reg_failed ? -1 : rc;
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
