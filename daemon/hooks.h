/*
 * hooks.h: the alert hooks of docs/CONTRACT.md section 5.
 *
 * The store decides which (client, event) pairs fire, in the transaction
 * that first stores the client (table alert). This module runs them: at
 * most hook_max_running at once, oldest first, retried on the hook_retry
 * schedule; every attempt is recorded in alert_attempt as it starts
 * (outcome 'pending') and as it ends. A hook is started only after its
 * claim (alert 'running', attempts + 1, attempt row) committed, and its
 * end is stored before the alert can run again, so a completed hook never
 * runs twice, across restarts and kill -9.
 *
 * Interrupted attempts run once more (documented for operators): a row
 * left 'running' by a crash or kill -9 is found at hooks_new; its open
 * attempt becomes 'failed' with error "interrupted by daemon restart" and
 * the alert is due again at once. A clean stop (hooks_free) records
 * "interrupted by daemon stop" the same way. Such an attempt counts as one
 * of the alert's attempts but is re-run even when the retry schedule is
 * used up. A hook that had done its work but not yet exited when the
 * daemon died therefore runs a second time: hooks should be idempotent.
 *
 * The hook's environment is exactly PATH=/usr/local/bin:/usr/bin:/bin and
 * the SSLHIST_* variables of docs/CONTRACT.md section 5; a value that is NULL (a Unix-socket client's
 * address, a non-SSL client's TLS version and cipher) is the empty
 * string. Standard input is the client's JSON object as
 * `sslhist clients --format json` prints it, plus "event". stdout and
 * stderr are logged line by line (at most 4 KiB each) with the client's
 * identity.
 *
 * Retries: after attempt N failed (non-zero exit, signal, timeout, or a
 * spawn error such as a missing path, stored as the attempt's error), the
 * alert is pending again after hook_retry[N-1]; when the schedule is used
 * up it stays 'failed'. The schedule of the configuration current when
 * the attempt ends applies.
 *
 * An event whose command is removed (reload, or restart with a new file)
 * while alerts of it are pending: those alerts become 'failed' with an
 * attempt whose error is "hook no longer configured". A hook added back
 * later does not fire a backlog of old events.
 *
 * Journal: each event of each newly stored client is logged once, with
 * MESSAGE_ID MSGID_NON_SSL / MSGID_WEAK_TLS / MSGID_NEW_CLIENT and fields
 * SSLHIST_CLUSTER, SSLHIST_INSTANCE, SSLHIST_EVENT, SSLHIST_DATABASE,
 * SSLHIST_USER, SSLHIST_APPLICATION, SSLHIST_CLIENT_ADDR,
 * SSLHIST_TLS_VERSION, whether or not a hook is configured for it. This
 * happens at the hooks_kick after the poll that stored the client (when
 * the store decided its alerts); clients stored before hooks_new are not
 * logged again. A failed attempt is logged with MSGID_HOOK_FAILED.
 */
#ifndef SSLHIST_HOOKS_H
#define SSLHIST_HOOKS_H

#include <stdbool.h>

struct event_base;
struct writer;
struct config;
struct metrics;
struct hooks;

/* The ALERT_* events that have a command: main passes it to
 * store_set_alerts() at start and after each reload. */
unsigned hooks_alert_mask(const struct config *cfg);

/*
 * Calls spawn_init(base). cfg must stay valid until hooks_reconfigure or
 * hooks_free. Every read and write of the alert queue is a request to the
 * store thread through `writer` (hookq.h); the first pass recovers
 * interrupted attempts (see above; if the database is busy, retried from
 * the timer). NULL only when out of memory.
 */
struct hooks *hooks_new(struct event_base *base, struct writer *writer, const struct config *cfg);
/* Each attempt's end is counted in m (metrics.h; NULL: none). */
void hooks_set_metrics(struct hooks *h, struct metrics *m);
/* A reload: new commands, limits and schedule apply to later attempts
 * (running hooks keep theirs). */
void hooks_reconfigure(struct hooks *h, const struct config *cfg);
/* New alerts may be due (called after each stored poll, hooks configured
 * or not: it also logs the events of the new clients). Never blocks. */
void hooks_kick(struct hooks *h);
/* Nothing runs and nothing is due before a retry delay: --once may exit. */
bool hooks_idle(const struct hooks *h);
/*
 * Stops starting new hooks. Running ones are recorded as interrupted (they
 * run again at the next start: requests the writer's drain commits) and
 * get SIGTERM. Call it before writer_stop() and spawn_shutdown(), which
 * kills what is left. Alerts a pass claimed whose reply arrives after this
 * stay 'running' and are recovered at the next start.
 */
void hooks_stop(struct hooks *h);
/* After writer_stop(): frees (hooks_stop first if not done). */
void hooks_free(struct hooks *h);

#endif
