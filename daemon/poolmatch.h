/*
 * poolmatch.h: which sessions an instance's poll sees are a [pooler]'s own
 * server connections (docs/CONTRACT.md section 2).
 *
 * Each pooler poll hands its SHOW SERVERS here (poolmatch_set): the
 * connections' local_addr:local_port and user. An instance poll asks for
 * each new session of a cluster that has poolers (poolmatch_classify): a
 * session whose client address, port and user are a server connection is
 * the pooler's (recorded once as the pooler, not as the application whose
 * name PgBouncer forwards). The two polls run apart, so a server
 * connection opened after the pooler's last poll is not known yet: a new
 * session from an address where a pooler of the cluster keeps server
 * connections (or any new session while a pooler of the cluster has not
 * finished its first attempt) waits (PM_WAIT) until a later pooler poll has
 * listed the servers, then is classified. A pooler whose attempts fail
 * holds nothing back: its server connections are then recorded as
 * ordinary clients (the report shows the pooler failing).
 *
 * Memory only; one per daemon, shared by every poller on the one loop.
 */
#ifndef SSLHIST_POOLMATCH_H
#define SSLHIST_POOLMATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct poolmatch;

/* One server connection of a pooler, as SHOW SERVERS shows it. */
struct pool_server {
	const char *local_addr;
	int local_port;
	const char *user;
};

struct poolmatch *poolmatch_new(void);
void poolmatch_free(struct poolmatch *pm);

/* Pooler `pooler` fronts `cluster` (from the configuration); its first
 * attempt has not ended. 0 or -1. */
int poolmatch_add(struct poolmatch *pm, const char *pooler, const char *cluster);
/* --once: the poolers polled just before the instances' one poll, so
 * nothing waits (PM_WAIT becomes PM_CLIENT). */
void poolmatch_no_hold(struct poolmatch *pm);
/* Forgets a pooler no longer configured. */
void poolmatch_remove(struct poolmatch *pm, const char *pooler);
/* A successful SHOW SERVERS: replaces the pooler's set. 0 or -1. */
int poolmatch_set(struct poolmatch *pm, const char *pooler, const struct pool_server *v,
		  size_t n);
/* An attempt of the pooler failed: its set is forgotten, it holds nothing back. */
void poolmatch_failed(struct poolmatch *pm, const char *pooler);

enum pm_class {
	PM_CLIENT,	/* not a pooler's: record it as it is */
	PM_POOLER,	/* a server connection of *pooler */
	PM_WAIT,	/* not known yet: ask again in the next poll */
};
/* Classifies new session (pid, start) of an instance of `cluster`. */
enum pm_class poolmatch_classify(struct poolmatch *pm, const char *cluster, const char *addr,
				 int port, const char *user, int32_t pid, int64_t start_us,
				 const char **pooler);

/*
 * poolmatch_classify() for a new session row of an instance poll; a
 * pooler's server connection gets the pooler's key: pooler_server = its
 * name (borrowed from pm; copied when the record copies the key),
 * application NULL. A session that waits (PM_WAIT) is neither recorded nor
 * counted as seen: one that ends while it waits counts as a missed
 * session, as it is one; one recorded later counts then (the counter grew
 * before, so that poll's missed count, never below 0, may be one low).
 */
struct stat_row;
struct client_key;
enum pm_class poolmatch_session(struct poolmatch *pm, const char *cluster,
				const struct stat_row *sr, struct client_key *k);

#endif
