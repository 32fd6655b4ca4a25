/*
 * poolmatch.c: poolers' server connections, for the instances' polls
 * (poolmatch.h). Linear over a few poolers and their pools' connections.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pollrec.h"
#include "poolmatch.h"
#include "statrow.h"

/* Sessions held back per cluster, at most; more are not held. */
#define MAX_WAITING 256
/* A held session not seen for this many pooler polls is forgotten. */
#define WAIT_GENS 4

struct srv {
	char *addr, *user;
	int port;
};

struct pooler_ent {
	char *name, *cluster;
	bool tried;		/* an attempt ended */
	bool ok;		/* ... and the last one succeeded */
	struct srv *srv;
	size_t nsrv;
};

struct waiting {
	char *cluster;
	int32_t pid;
	int64_t start_us;
	uint64_t gen;		/* the cluster's gen when it began to wait */
};

struct poolmatch {
	struct pooler_ent *p;
	size_t np;
	struct waiting *w;
	size_t nw;
	uint64_t gen;		/* pooler polls ended, all clusters */
	bool no_hold;
};

struct poolmatch *
poolmatch_new(void)
{
	return calloc(1, sizeof(struct poolmatch));
}

static void
srv_free(struct pooler_ent *e)
{
	for (size_t i = 0; i < e->nsrv; i++) {
		free(e->srv[i].addr);
		free(e->srv[i].user);
	}
	free(e->srv);
	e->srv = NULL;
	e->nsrv = 0;
}

void
poolmatch_free(struct poolmatch *pm)
{
	if (pm == NULL)
		return;
	for (size_t i = 0; i < pm->np; i++) {
		srv_free(&pm->p[i]);
		free(pm->p[i].name);
		free(pm->p[i].cluster);
	}
	for (size_t i = 0; i < pm->nw; i++)
		free(pm->w[i].cluster);
	free(pm->p);
	free(pm->w);
	free(pm);
}

static struct pooler_ent *
find(struct poolmatch *pm, const char *pooler)
{
	for (size_t i = 0; i < pm->np; i++)
		if (strcmp(pm->p[i].name, pooler) == 0)
			return &pm->p[i];
	return NULL;
}

int
poolmatch_add(struct poolmatch *pm, const char *pooler, const char *cluster)
{
	struct pooler_ent *e = find(pm, pooler), *n;

	if (e != NULL) {
		char *c = strdup(cluster);

		if (c == NULL)
			return -1;
		free(e->cluster);
		e->cluster = c;
		return 0;
	}
	if ((n = realloc(pm->p, (pm->np + 1) * sizeof(*n))) == NULL)
		return -1;
	pm->p = n;
	e = &pm->p[pm->np];
	memset(e, 0, sizeof(*e));
	e->name = strdup(pooler);
	e->cluster = strdup(cluster);
	if (e->name == NULL || e->cluster == NULL) {
		free(e->name);
		free(e->cluster);
		return -1;
	}
	pm->np++;
	return 0;
}

void
poolmatch_no_hold(struct poolmatch *pm)
{
	pm->no_hold = true;
}

void
poolmatch_remove(struct poolmatch *pm, const char *pooler)
{
	struct pooler_ent *e = find(pm, pooler);

	if (e == NULL)
		return;
	srv_free(e);
	free(e->name);
	free(e->cluster);
	*e = pm->p[--pm->np];
}

int
poolmatch_set(struct poolmatch *pm, const char *pooler, const struct pool_server *v, size_t n)
{
	struct pooler_ent *e = find(pm, pooler);
	struct srv *s;

	if (e == NULL)
		return 0;
	srv_free(e);
	pm->gen++;
	e->tried = e->ok = true;
	if (n == 0)
		return 0;
	if ((s = calloc(n, sizeof(*s))) == NULL)
		return -1;
	e->srv = s;
	for (size_t i = 0; i < n; i++) {
		if (v[i].local_addr == NULL || v[i].local_port <= 0)
			continue;
		s[e->nsrv].addr = strdup(v[i].local_addr);
		s[e->nsrv].user = v[i].user ? strdup(v[i].user) : NULL;
		s[e->nsrv].port = v[i].local_port;
		if (s[e->nsrv].addr == NULL)
			return -1;
		e->nsrv++;
	}
	return 0;
}

void
poolmatch_failed(struct poolmatch *pm, const char *pooler)
{
	struct pooler_ent *e = find(pm, pooler);

	if (e == NULL)
		return;
	srv_free(e);
	pm->gen++;
	e->tried = true;
	e->ok = false;
}

static bool
eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Index of the waiting session, or -1. */
static ssize_t
waiting_at(const struct poolmatch *pm, const char *cluster, int32_t pid, int64_t start_us)
{
	for (size_t i = 0; i < pm->nw; i++)
		if (pm->w[i].pid == pid && pm->w[i].start_us == start_us &&
		    strcmp(pm->w[i].cluster, cluster) == 0)
			return (ssize_t)i;
	return -1;
}

static void
unwait(struct poolmatch *pm, size_t i)
{
	free(pm->w[i].cluster);
	pm->w[i] = pm->w[--pm->nw];
}

/* Starts holding a session back; false: no room (then it is not held). */
static bool
hold(struct poolmatch *pm, const char *cluster, int32_t pid, int64_t start_us)
{
	struct waiting *n;

	/* Forget sessions held for long: they ended while waiting. */
	for (size_t i = 0; i < pm->nw;) {
		if (pm->gen > pm->w[i].gen + WAIT_GENS)
			unwait(pm, i);
		else
			i++;
	}
	if (pm->nw >= MAX_WAITING || (n = realloc(pm->w, (pm->nw + 1) * sizeof(*n))) == NULL)
		return false;
	pm->w = n;
	n[pm->nw] = (struct waiting){ strdup(cluster), pid, start_us, pm->gen };
	if (n[pm->nw].cluster == NULL)
		return false;
	pm->nw++;
	return true;
}

enum pm_class
poolmatch_classify(struct poolmatch *pm, const char *cluster, const char *addr, int port,
		   const char *user, int32_t pid, int64_t start_us, const char **pooler)
{
	ssize_t w = waiting_at(pm, cluster, pid, start_us);
	bool hold_it = false;
	/* Two pooler polls ended since it began to wait: the first may have
	 * read SHOW SERVERS before the instance's poll saw the session. */
	bool polled_since = w >= 0 && pm->gen >= pm->w[w].gen + 2;

	*pooler = NULL;
	for (size_t i = 0; i < pm->np; i++) {
		struct pooler_ent *e = &pm->p[i];

		if (strcmp(e->cluster, cluster) != 0)
			continue;
		for (size_t k = 0; k < e->nsrv; k++) {
			if (e->srv[k].port == port && eq(e->srv[k].addr, addr) &&
			    (e->srv[k].user == NULL || eq(e->srv[k].user, user))) {
				*pooler = e->name;
				if (w >= 0)
					unwait(pm, (size_t)w);
				return PM_POOLER;
			}
		}
		if (!e->tried)
			hold_it = true;
		for (size_t k = 0; k < e->nsrv && e->ok && !hold_it; k++)
			hold_it = eq(e->srv[k].addr, addr);
	}
	/* Held once already and a pooler poll came since: not a pooler's. */
	if (polled_since || !hold_it || pm->no_hold) {
		if (w >= 0)
			unwait(pm, (size_t)w);
		return PM_CLIENT;
	}
	if (w >= 0 || hold(pm, cluster, pid, start_us))
		return PM_WAIT;
	return PM_CLIENT;
}

enum pm_class
poolmatch_session(struct poolmatch *pm, const char *cluster, const struct stat_row *sr,
		  struct client_key *k)
{
	const char *pooler;
	enum pm_class c = poolmatch_classify(pm, cluster, sr->client_addr, sr->client_port,
					     sr->usename, sr->pid, sr->backend_start_us, &pooler);

	if (c == PM_POOLER) {
		k->application = NULL;
		k->pooler_server = (char *)(uintptr_t)pooler;
	}
	return c;
}
