/*
 * janitor.h: the daemon's housekeeping, on timers of its own loop.
 *
 * What runs, how often, and why:
 * - every 2 s, the status line to systemd (STATUS=: instances ok and
 *   failing, when a poll was last stored, results waiting for the store,
 *   clusters whose discovery fails), so `systemctl status` is current;
 * - every 30 s, a passive WAL checkpoint: a reader of the history that
 *   never lets go starves SQLite's automatic checkpoints, and the -wal
 *   file would grow without bound. Then malloc_trim(0): the memory of
 *   connections and results that came and went (a fleet's TLS handshakes)
 *   is free but scattered through the heap, and its pages go back;
 * - every hour, the expiry of detail older than `retention` (store.h,
 *   store_expire); a failure is logged and tried again an hour later.
 *
 * Not here: polls and discovery (instance.c, fleet.c), the store writer's
 * retries (writer.c), hook retries (hooks.c) and the watchdog ping
 * (notify.c, with its health check in liveness.c): each has its own
 * deadline, owned by the module that waits on it.
 */
#ifndef SSLHIST_JANITOR_H
#define SSLHIST_JANITOR_H

struct config;
struct event_base;
struct fleet;
struct janitor;
struct store;
struct writer;

#define JANITOR_STATUS_MS 2000
#define JANITOR_CHECKPOINT_MS 30000
#define JANITOR_EXPIRE_MS (3600 * 1000)

/* Nothing runs until janitor_start(). NULL when out of memory. The
 * arguments must outlive the janitor; cfg until janitor_reconfigure(). */
struct janitor *janitor_new(struct event_base *base, struct store *store,
			    const struct writer *writer, const struct fleet *fleet,
			    const struct config *cfg);
/* Arms the timers (not for --once, which exits before any is due). */
void janitor_start(struct janitor *j);
/* The configuration swapped in by a reload (its retention applies). */
void janitor_reconfigure(struct janitor *j, const struct config *cfg);
/* Sends the status line now (after start-up and after a reload). */
void janitor_status(struct janitor *j);
void janitor_free(struct janitor *j);

#endif
