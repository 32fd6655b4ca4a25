/*
 * instseed.h: what an instance starts from, read from the store on the
 * store thread as part of its registration (fleet.c's request) and
 * replayed into its tracker on the loop (instance_new): the live sessions
 * stored for it and its pg_stat_database baseline (store.h:
 * store_live_sessions, store_counters). Plain values; owns its memory.
 */
#ifndef SSLHIST_INSTSEED_H
#define SSLHIST_INSTSEED_H

#include <stddef.h>
#include <stdint.h>

struct store;

struct seed_live {
	int32_t pid;
	int64_t backend_start_us;
};

struct seed_counter {
	uint32_t datid;
	int64_t sessions;
	char *stats_reset;	/* NULL: none */
};

struct instance_seed {
	struct seed_live *live;
	size_t nlive, cap_live;
	struct seed_counter *counters;
	size_t ncounters, cap_counters;
	char *live_err, *counters_err;	/* what failed, for the log; NULL: read */
};

/* On the store thread: fills seed (zeroed by the caller) for instance id. */
void instance_seed_load(struct store *s, int64_t id, struct instance_seed *seed);
void instance_seed_free(struct instance_seed *seed);

#endif
