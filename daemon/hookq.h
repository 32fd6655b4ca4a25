/*
 * hookq.h: the hooks' requests to the store thread (writer.h): what
 * hooks.c asks of the alert queue (store_hooks.h), as values in and values
 * out, so the loop never runs SQL.
 *
 * A pass (one request): recover interrupted attempts (once), read the id
 * of the newest client (once, at the first pass), read clients stored
 * since the last pass (for the journal), fail the pending alerts of
 * events without a command, then read up to `want` due alerts and claim
 * each (its own transaction, committed before the reply: a hook starts
 * only after its claim), and say when the next pending alert is due.
 * It stops at the first failing step; what it did until then is in the
 * reply.
 *
 * An end (one request): store_hooks_end of one attempt.
 *
 * The outside check (one request): the newest client's id.
 */
#ifndef SSLHIST_HOOKQ_H
#define SSLHIST_HOOKQ_H

#include <stdbool.h>
#include <stdint.h>

#include "store_hooks.h"
#include "writer.h"

#define HOOKQ_DUE_MAX 16	/* claims per pass */
#define HOOKQ_CLIENTS_MAX 256	/* clients read per pass */

struct hook_pass {
	struct sq_req base;
	void *owner;		/* the hooks, for done */
	/* in */
	bool recover, want_last_client;
	unsigned mask;
	int want;		/* free slots */
	int64_t logged_after;	/* client id */
	/* out */
	bool failed;
	char err[512];
	bool recovered_ok;
	int recovered;		/* alerts recovered (recover) */
	bool got_last_client;
	int64_t last_client;	/* want_last_client */
	struct store_client clients[HOOKQ_CLIENTS_MAX];
	int nclients;
	int swept;
	struct store_alert claimed[HOOKQ_DUE_MAX];
	int64_t attempt[HOOKQ_DUE_MAX];
	int nclaimed;
	bool more_due;		/* as many due as wanted: ask again */
	int64_t next_due;	/* Unix ms, -1: none */
};

/* The store thread's part of a pass. */
void hookq_pass_run(struct store *s, struct sq_req *r);
/* Frees what the reply holds (not p): claims not taken, clients. */
void hookq_pass_clear(struct hook_pass *p);

struct hook_end_req {
	struct sq_req base;
	void *owner;		/* the hooks */
	void *run;		/* the run whose end this is; NULL at a stop */
	struct store_hook_end e;	/* e.error points at error */
	char *error;
	char *stop_note;	/* at a stop: logged once stored */
	int rc;
	char err[512];
};

void hookq_end_run(struct store *s, struct sq_req *r);

/* The outside check (one request every 2 s): the largest client id, for
 * clients another process (sslhist import-log) stored; -1 on error. */
struct hook_newest_req {
	struct sq_req base;
	void *owner;		/* the hooks */
	int64_t newest;
};

void hookq_newest_run(struct store *s, struct sq_req *r);

#endif
