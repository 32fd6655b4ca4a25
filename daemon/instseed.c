/*
 * instseed.c: an instance's start from the store (instseed.h).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "instseed.h"
#include "store.h"

static bool
grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return true;
	ncap = *cap ? 2 * *cap : 16;
	if ((nv = realloc(*v, ncap * size)) == NULL)
		return false;
	*v = nv;
	*cap = ncap;
	return true;
}

static void
add_live(void *arg, int32_t pid, int64_t backend_start_us)
{
	struct instance_seed *seed = arg;

	if (!grow((void **)&seed->live, &seed->cap_live, seed->nlive, sizeof(*seed->live)))
		return;		/* a session not preloaded is counted as missed: no harm */
	seed->live[seed->nlive++] = (struct seed_live){ pid, backend_start_us };
}

static void
add_counter(void *arg, uint32_t datid, const char *database, int64_t sessions,
	    const char *stats_reset)
{
	struct instance_seed *seed = arg;
	struct seed_counter *c;

	(void)database;
	if (!grow((void **)&seed->counters, &seed->cap_counters, seed->ncounters,
		  sizeof(*seed->counters)))
		return;
	c = &seed->counters[seed->ncounters];
	c->datid = datid;
	c->sessions = sessions;
	c->stats_reset = stats_reset ? strdup(stats_reset) : NULL;
	if (stats_reset && c->stats_reset == NULL)
		return;
	seed->ncounters++;
}

void
instance_seed_load(struct store *s, int64_t id, struct instance_seed *seed)
{
	if (store_live_sessions(s, id, add_live, seed) < 0)
		seed->live_err = strdup(store_errmsg(s));
	if (store_counters(s, id, add_counter, seed) < 0)
		seed->counters_err = strdup(store_errmsg(s));
}

void
instance_seed_free(struct instance_seed *seed)
{
	for (size_t i = 0; i < seed->ncounters; i++)
		free(seed->counters[i].stats_reset);
	free(seed->counters);
	free(seed->live);
	free(seed->live_err);
	free(seed->counters_err);
	memset(seed, 0, sizeof(*seed));
}
