/*
 * store.h: the daemon's side of the SQLite history (schema in sql/).
 *
 * One writer: sslhistd. The file is WAL mode, synchronous=NORMAL, a short
 * busy timeout (the daemon must not sleep in its loop), created 0640 in a
 * directory of 0750, with the WAL kept on disk so that read-only openers
 * (sslhist, as a member of the file's group) work after the daemon stopped.
 * Every write is one BEGIN IMMEDIATE transaction; every value is bound.
 *
 * A failing store (disk full, locked, read-only) reports the error and
 * changes nothing: the caller keeps the record and retries later.
 *
 * The store is the daemon's one owner of the database: no other module
 * sees its connection or runs SQL on the file. This header is the poll
 * path's contract (store.c opens, store_migrate.c migrates, store_fleet.c
 * keeps the instance registry, store_poll.c applies a poll record,
 * store_maint.c expires and checkpoints); store_hooks.h is the alert
 * queue's (store_hooks.c).
 */
#ifndef SSLHIST_STORE_H
#define SSLHIST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pollrec.h"

struct store;

/* Events that hooks are configured for (bit mask), see store_set_alerts. */
#define ALERT_NON_SSL    0x1
#define ALERT_WEAK_TLS   0x2
#define ALERT_NEW_CLIENT 0x4

/*
 * Opens (creating as needed) the database at `path` and applies pending
 * migrations. Creates the directory 0750 if missing. On failure returns
 * NULL with a message naming the path in err.
 */
struct store *store_open(const char *path, char *err, size_t errlen);
void store_close(struct store *s);
/* The last SQLite error, for logs. */
const char *store_errmsg(struct store *s);

/* Which alert events to decide for newly stored clients. */
void store_set_alerts(struct store *s, unsigned mask);

/*
 * The row id of instance (cluster, host, port), created if new; clears
 * retired_at and sets role (NULL: unknown). Returns -1 on error.
 */
int64_t store_instance(struct store *s, const char *cluster, const char *host, int port,
		       const char *role);
/* Records the outcome of cluster's instance discovery at `now` (Unix s):
 * error NULL for a success, else what failed (kept until the next
 * failure; consecutive failures counted). */
int store_discovery(struct store *s, const char *cluster, int64_t now, const char *error);
/* Marks retired every instance whose id is not in keep[] (now: Unix s). */
int store_retire_others(struct store *s, const int64_t *keep, size_t nkeep, int64_t now);

/*
 * Calls fn for every live session stored for the instance (to rebuild the
 * poller's in-memory view after a restart). 0 or -1. fn must not call
 * store functions (the same holds for store_counters).
 */
int store_live_sessions(struct store *s, int64_t instance_id,
			void (*fn)(void *arg, int32_t pid, int64_t backend_start_us), void *arg);
/* The stored pg_stat_database baseline of an instance (a NULL database
 * name was stored as ""; stats_reset may be NULL). */
int store_counters(struct store *s, int64_t instance_id,
		   void (*fn)(void *arg, uint32_t datid, const char *database, int64_t sessions,
			      const char *stats_reset), void *arg);

/*
 * Applies one record in one transaction: sessions that ended (their samples
 * settled into their client), instance state and facts, clients (upserted;
 * new ones get the alert rows of the mask in the same transaction), new live
 * sessions, coverage of the hour of at_ms, missed sessions and the counters
 * that changed. A record with nothing new writes the instance row and its
 * hour's coverage row only: clients with live sessions are seen at the
 * instance's last successful poll (sql/002_live_counts.sql).
 * Returns 0, or -1 with nothing changed (store_errmsg says why and names
 * the file; the same record may be applied again later).
 * A success keeps last_error/last_error_at (the latest failure); gap_ms of a
 * failed record is ignored.
 * `new_clients` (may be NULL) is incremented by the clients inserted.
 */
int store_apply(struct store *s, const struct poll_record *r, int *new_clients);
/* Applies n records, in order, in one transaction (group commit): all or
 * none, as store_apply. */
int store_apply_batch(struct store *s, struct poll_record *const *r, size_t n,
		      int *new_clients);

/* Deletes coverage and missed-session rows of hours before `before`
 * (Unix s), attempts that ended before it of alerts in a final state (ok,
 * failed), and live sessions of retired instances. Clients stay. */
int store_expire(struct store *s, int64_t before);

/* Copies the WAL into the database (PASSIVE; never waits for readers).
 * A failure is left in store_errmsg. */
void store_checkpoint(struct store *s);

#endif
