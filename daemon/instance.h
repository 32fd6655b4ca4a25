/*
 * instance.h: the poller of one database instance.
 *
 * States (inststate.h holds the table of allowed transitions):
 *
 *   WAITING --timer--> CONNECTING --connected--> FACTS --result-->
 *   PREPARING --result--> POLLING --result--> IDLE --timer--> POLLING ...
 *   any failure --> WAITING (connection dropped, error recorded,
 *                   reconnect after exponential backoff with jitter)
 *
 * Every change of state goes through one function that checks it against
 * the table: an impossible one, or an event that cannot happen in the
 * current state (a timer, result, connection or failure the state does
 * not wait for), is logged as an error with both states, and the instance
 * drops its connection and reconnects after a backoff, as after a failure.
 *
 * The connection stays open between polls, and the poll query is prepared
 * on it once (PREPARING). The live sessions stay in memory (tracker.h): a
 * poll decodes whole only the rows of sessions it did not know
 * (pollrec_build), and its poll_record, handed to the writer, holds only
 * what changed (new and ended sessions, their clients, counters that
 * moved). Failed attempts are records too. A row that cannot be decoded
 * (statrow.h) is skipped and counted; each kind of bad row is logged once
 * per instance. In --once mode an instance makes one attempt, reports
 * through `done` and stops (DONE).
 */
#ifndef SSLHIST_INSTANCE_H
#define SSLHIST_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "inststate.h"

struct event_base;
struct evdns_base;
struct config;
struct cluster_cfg;
struct writer;
struct metrics;
struct poolmatch;
struct instance;
struct instance_seed;

/* What all instances share; owned by the daemon. */
struct poller_env {
	struct event_base *base;
	struct evdns_base *dns;
	struct writer *writer;		/* the store is behind it (writer.h) */
	struct metrics *metrics;	/* NULL: metrics_listen never set */
	const struct config *cfg;	/* current configuration */
	const char *own_users;		/* the roles the daemon connects as, as
					 * a PostgreSQL text[] literal */
	bool once;
	/* Poolers' server connections (poolmatch.h), asked by the polls of
	 * clusters that have a [pooler]. */
	struct poolmatch *pooled;
	/* --once: an instance made its attempt. */
	void (*done)(void *arg, struct instance *in, bool ok);
	void *done_arg;
};

/*
 * A new instance of cluster `c` at host:port, stored as row `id`, its
 * tracker preloaded from `seed` (read by the store thread). Starts
 * its first connection attempt right away (at a small random offset, so a
 * fleet does not connect all at once).
 */
struct instance *instance_new(const struct poller_env *env, const struct cluster_cfg *c,
			      const char *host, int port, int64_t id,
			      const struct instance_seed *seed);
void instance_free(struct instance *in);

/* After a reload: the instance now belongs to cluster config `c` (same
 * connection settings). Timeouts and interval apply from the next step. */
void instance_reconfigure(struct instance *in, const struct cluster_cfg *c);

enum instance_state instance_state(const struct instance *in);
bool instance_ok(const struct instance *in);	/* last attempt succeeded */
bool instance_failing(const struct instance *in);	/* last attempt failed */
/* Neither of them: no attempt has ended yet. */
int64_t instance_id(const struct instance *in);
const char *instance_host(const struct instance *in);
int instance_port(const struct instance *in);
const char *instance_cluster(const struct instance *in);
const char *instance_state_name(const struct instance *in);

/*
 * How long (ms) past its own deadline the instance is at monotonic time
 * now_ms: every state but DONE ends by a timer the daemon owns (the poll
 * or backoff timer, the connection's connect_timeout or query_timeout), so
 * a live loop keeps this near 0. The watchdog's progress check reads it.
 */
int64_t instance_overdue_ms(const struct instance *in, int64_t now_ms);

/* The `user` of every cluster as a text[] literal (own_users); malloc'd. */
char *instance_own_users(const struct config *cfg);

/* jitter_uniform(): jitter.h (schedule.h draws from it). */
#include "jitter.h"

#endif
