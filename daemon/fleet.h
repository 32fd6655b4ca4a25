/*
 * fleet.h: every instance the configuration names or discovery finds.
 *
 * fleet_apply() turns a configuration into pollers: instances whose
 * cluster connection settings did not change keep their connection and
 * schedule across a reload; new ones start, removed ones stop and are
 * marked retired in the store (their history stays).
 */
#ifndef SSLHIST_FLEET_H
#define SSLHIST_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct poller_env;
struct instance;
struct config;
struct fleet;

/* --once: `finished` runs when every instance made its attempt. */
struct fleet *fleet_new(struct poller_env *env, void (*finished)(void *arg, bool all_ok),
			void *arg);
void fleet_free(struct fleet *f);
/* Applies env->cfg (already swapped in by the caller). 0, or -1 when the
 * store could not register an instance (start-up must fail then). */
int fleet_apply(struct fleet *f, const struct config *old);

struct fleet_status {
	size_t instances, ok, failing, pending;
	size_t discovery_failing;	/* clusters whose last discovery failed */
};
void fleet_status(const struct fleet *f, struct fleet_status *st);

/* The instance most overdue at monotonic now_ms (instance_overdue_ms) and
 * by how much in *late_ms; NULL (and 0) when every one is on time. */
const struct instance *fleet_most_overdue(const struct fleet *f, int64_t now_ms,
					  int64_t *late_ms);

/* Calls fn for every instance polled now. */
void fleet_each(const struct fleet *f, void (*fn)(void *arg, const struct instance *in),
		void *arg);

#endif
