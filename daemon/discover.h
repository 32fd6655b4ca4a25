/*
 * discover.h: `instances = discover` for one Aurora cluster.
 *
 * Every discover_interval it connects to the cluster endpoint, asks
 * aurora_replica_status() for the live instances and reports them as
 * SERVER_ID.<the endpoint's domain without its cluster- prefix> (aurora.h). The
 * endpoint itself is not an extra instance (it would count the writer's
 * clients twice). On a server without the function (not Aurora) the
 * endpoint is the one instance. A failure is logged (MSGID_DISCOVERY_FAILED)
 * and reported with an error; the owner keeps polling what it found before.
 */
#ifndef SSLHIST_DISCOVER_H
#define SSLHIST_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>

struct poller_env;
struct cluster_cfg;
struct discover;

struct found_instance {
	char *host;
	int port;
	const char *role;	/* "writer", "reader" or NULL */
};

/* found: n instances, or error != NULL (then n == 0). */
typedef void (*discover_fn)(void *arg, struct discover *d, const struct found_instance *inst,
			    size_t n, const char *error);

struct discover *discover_new(const struct poller_env *env, const struct cluster_cfg *c,
			      discover_fn found, void *arg);
void discover_free(struct discover *d);
void discover_reconfigure(struct discover *d, const struct cluster_cfg *c);
const struct cluster_cfg *discover_cluster(const struct discover *d);
/* The last discovery failed (the owner polls what it found before). */
bool discover_failing(const struct discover *d);

#endif
