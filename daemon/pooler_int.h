/*
 * pooler_int.h: what pooler.c (one pooler's poller) and poolerset.c (the
 * set, its registration through the store thread) share. No other module
 * includes it; the contract is pooler.h.
 */
#ifndef SSLHIST_POOLER_INT_H
#define SSLHIST_POOLER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inststate.h"
#include "ident.h"
#include "log.h"

struct cluster_cfg;
struct event;
struct instance_facts;
struct instance_seed;
struct pgconn;
struct pooler_facts;
struct poller_env;
struct poolmatch;
struct preg_req;
struct tracker;

struct pooler {
	struct poolers *set;
	const struct cluster_cfg *c;	/* c->fronts: the cluster */
	int64_t id;
	char name[IDENT_INSTANCE_NAME_MAX];	/* host:port */
	struct log_obj obj;
	enum instance_state state;	/* set by set_state() only */
	int64_t state_since_mono;
	struct pgconn *pc;
	struct event *timer;
	int64_t timer_due_mono;
	bool clients_phase;		/* POLLING: SHOW SERVERS done */
	struct tracker *tracker;
	struct instance_facts *unsent_facts;
	struct pooler_facts *unsent_pooler;
	int64_t poll_started_mono;
	int64_t last_success_ms;
	unsigned failures;
	char *last_error;
	unsigned bad_logged;
};

struct poolers {
	const struct poller_env *env;
	struct poolmatch *pm;
	void (*once_done)(void *arg, bool all_ok);
	void *once_arg;
	size_t once_left;	/* --once: attempts not yet ended */
	bool once_ok;
	struct pooler **p;
	size_t n;
	/* Registrations in flight (poolerset.c): a reply whose gen is not
	 * the latest is ignored, the later apply having asked again. */
	struct preg_req *pending;
	unsigned gen;
	int apply_rc;		/* the last reply's: -1 if one could not start */
};

/* A pooler of the set with its row id, its tracker preloaded from seed
 * (live sessions; read on the store thread); it connects soon. NULL out
 * of memory. */
struct pooler *pooler_new(struct poolers *set, const struct cluster_cfg *c, int64_t id,
			  const struct instance_seed *seed);
void pooler_free(struct pooler *p);

#endif
