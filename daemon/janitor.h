/*
 * janitor.h: the daemon's housekeeping, on timers of its own loop.
 *
 * What runs, how often, and why:
 * - every 2 s, the status line to systemd (STATUS=: instances ok and
 *   failing, when a poll was last stored, results waiting for the store,
 *   clusters whose discovery fails, and a store stuck in one call for
 *   more than JANITOR_STUCK_MS, also logged once as a warning), so
 *   `systemctl status` is current;
 * - every 30 s, malloc_trim(0): the memory of connections and results
 *   that came and went (a fleet's TLS handshakes) is free but scattered
 *   through the heap, and its pages go back.
 *
 * Not here: the WAL checkpoint and the expiry of detail older than
 * `retention` run on the store thread (writer.h; the janitor hands it the
 * retention). Polls and discovery (instance.c, fleet.c), the store's
 * retries (storethread.c), hook retries (hooks.c) and the watchdog ping
 * (notify.c, with its health check in liveness.c): each has its own
 * deadline, owned by the module that waits on it.
 */
#ifndef SSLHIST_JANITOR_H
#define SSLHIST_JANITOR_H

struct config;
struct event_base;
struct fleet;
struct janitor;
struct writer;

#define JANITOR_STATUS_MS 2000
#define JANITOR_TRIM_MS 30000
#define JANITOR_STUCK_MS 5000

/* Nothing runs until janitor_start(). NULL when out of memory. The
 * arguments must outlive the janitor; cfg until janitor_reconfigure(). */
struct janitor *janitor_new(struct event_base *base, struct writer *writer,
			    const struct fleet *fleet, const struct config *cfg);
/* Arms the timers (not for --once, which exits before any is due). */
void janitor_start(struct janitor *j);
/* The configuration swapped in by a reload (its retention applies). */
void janitor_reconfigure(struct janitor *j, const struct config *cfg);
/* Sends the status line now (after start-up and after a reload). */
void janitor_status(struct janitor *j);
void janitor_free(struct janitor *j);

#endif
