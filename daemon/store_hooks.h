/*
 * store_hooks.h: the store's side of the alert hooks (hooks.h): the
 * tables alert and alert_attempt are the hooks' queue, and these calls are
 * the only way the hook runner reads or changes them.
 *
 * Every call is one message: plain values in, plain values (copies the
 * caller owns) out; nothing returned refers to the store's statements or
 * state, and no callback runs inside the store. A write is one BEGIN
 * IMMEDIATE transaction: it commits whole or changes nothing (then -1,
 * store_errmsg says why, and the same call may be made again later).
 *
 * Events are the ALERT_* bits of store.h; "mask" is a set of them (the
 * events that have a command).
 */
#ifndef SSLHIST_STORE_HOOKS_H
#define SSLHIST_STORE_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include "pollrec.h"

struct store;

/* A stored client as `sslhist clients` shows it (last_seen and samples
 * derived for a client with live sessions). Owns its strings. */
struct store_client {
	int64_t id;
	char *cluster;
	char *instance;		/* ident_instance_name(): "host:port" */
	struct client_key key;
	char *client_hostname;
	int64_t first_seen, last_seen;	/* Unix s */
	int64_t sessions, samples;
	int64_t logged_sessions;
	char *via;			/* instance.pooler (sql/006_pooler.sql) */
};
/* Frees what c holds (not c) and zeroes it. */
void store_client_clear(struct store_client *c);

/* An alert that is due, with its client. */
struct store_alert {
	int64_t id;
	char *event;		/* "non-ssl", "weak-tls", "new-client" */
	struct store_client client;
};
void store_alert_clear(struct store_alert *a);

/*
 * After a crash: every alert left 'running' gets its open attempt closed
 * ('failed', "interrupted by daemon restart", ended now) and is 'pending'
 * again, due at now_ms (Unix ms). Returns how many alerts, or -1.
 */
int store_hooks_recover(struct store *s, int64_t now_ms);

/*
 * Every 'pending' alert whose event is not in mask becomes 'failed' with
 * one more attempt, ended at now_s (Unix s) with the error "hook no longer
 * configured". Writes nothing when there is none. Returns how many, or -1.
 */
int store_hooks_sweep(struct store *s, unsigned mask, int64_t now_s);

/*
 * Up to max alerts due at now_ms: 'pending', next_attempt_ms <= now_ms,
 * event in mask; oldest first. Fills out[0..n-1] (clear each) and returns
 * n, or -1 (out[] then holds nothing).
 */
int store_hooks_due(struct store *s, unsigned mask, int64_t now_ms, struct store_alert *out,
		    int max);

/* When the earliest 'pending' alert of mask is due (Unix ms); -1 when none
 * is pending or the store cannot say. */
int64_t store_hooks_next_due(struct store *s, unsigned mask);

/*
 * Claims a 'pending' alert: 'running', attempts + 1, and that attempt's
 * row (outcome 'pending', started at now_s). Returns the attempt's number
 * (1 for the first), or -1 (not pending any more, or the store failed):
 * a hook starts only after its claim returned.
 */
int64_t store_hooks_claim(struct store *s, int64_t alert_id, int64_t now_s);

/* How one attempt ended, and what its alert becomes. */
struct store_hook_end {
	int64_t alert_id;
	int64_t attempt;
	int64_t ended_at;	/* Unix s */
	bool has_status;
	int exit_status;	/* has_status: exit code, or 128 + signal */
	const char *outcome;	/* "ok", "failed", "timeout" */
	const char *error;	/* NULL: none */
	const char *state;	/* the alert's next state: "ok", "pending", "failed" */
	int64_t next_attempt_ms;	/* "pending": due then (Unix ms) */
};
/* Records the attempt's end and the alert's next state. 0 or -1. */
int store_hooks_end(struct store *s, const struct store_hook_end *e);

/* The id of the newest stored client (0: none yet), or -1. */
int64_t store_last_client(struct store *s);

/*
 * Up to max clients whose id is above `after`, in id order (the order they
 * were first stored). Fills out[0..n-1] (clear each) and returns n, or -1.
 */
int store_clients_after(struct store *s, int64_t after, struct store_client *out, int max);

#endif
