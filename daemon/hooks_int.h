/*
 * hooks_int.h: what the hooks' two files share (hooks.c: the passes, the
 * timer, the public calls; hookrun.c: one hook's start and end). No other
 * module includes it; the contract is hooks.h.
 */
#ifndef SSLHIST_HOOKS_INT_H
#define SSLHIST_HOOKS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_hooks.h"

struct child;
struct config;
struct event;
struct event_base;
struct metrics;
struct strlist;
struct writer;

#define HOOK_MAX_OUTPUT 4096	/* per stream, logged */
#define STORE_RETRY_MS 1000	/* after a failed write */

struct run {
	struct run *prev, *next;
	struct hooks *h;	/* NULL once hooks_free gave up on it */
	struct child *child;
	struct store_alert a;	/* the alert and its client */
	int64_t attempt;
	char *cmd;		/* argv[0], for logs */
	/* the end, kept until stored */
	const char *outcome;	/* "ok", "failed", "timeout" */
	bool has_status;
	int exit_status;
	char *error;
	int64_t ended_at;
};

struct hooks {
	struct event_base *base;
	struct writer *writer;
	const struct config *cfg;
	struct event *timer;
	bool timer_armed;
	int64_t timer_at_ms;
	struct run *running;		/* processes alive */
	size_t nrunning;
	struct run *unstored;		/* ended, the end's write failed */
	size_t nending;			/* ends in flight */
	bool recovered;
	bool have_logged;		/* logged_client is known */
	int64_t logged_client;		/* highest client id whose events
					 * were logged */
	bool pass_inflight, again;
	int64_t next_due;		/* from the last pass; -1: none */
	bool store_failing;		/* a write failed; logged once */
	bool stopping, dead;
	int nreq;			/* requests in flight naming us */
	struct metrics *metrics;	/* attempts' ends counted; may be NULL */
	struct event *outside;		/* clients another process stored */
	bool outside_inflight;
};

/* hooks.c */
const struct strlist *hk_event_command(const struct config *cfg, const char *event);
void hk_run_free(struct run *r);
void hk_list_add(struct run **head, struct run *r);
void hk_list_del(struct run **head, struct run *r);
/* A write failed (logged once until one works again) / one committed. */
void hk_store_failed(struct hooks *h, const char *err);
void hk_store_works(struct hooks *h);
/* A request naming h came back (frees h after hooks_free). */
void hk_req_returned(struct hooks *h);
/* Arms the pass timer for delay_ms from now, unless it fires earlier. */
void hk_schedule(struct hooks *h, int64_t delay_ms);

/* hookrun.c */
/* Writes a run's end and the alert's next state (a request); the run is
 * the request's until its reply (then freed, or kept for a retry). */
void hk_finish_run(struct hooks *h, struct run *r);
/* Asks the store thread to write an attempt's end (r NULL: at a stop, the
 * run is the child's to free; note is logged once stored). */
void hk_send_end(struct hooks *h, struct run *r, const struct store_hook_end *e,
		 const char *note);
/* A claimed alert (committed 'running' with its attempt): start it. */
void hk_start_claimed(struct hooks *h, struct store_alert *a, int64_t attempt);

#endif
