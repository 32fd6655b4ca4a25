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
 */
#ifndef SSLHIST_STORE_H
#define SSLHIST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

struct store;

/* Events that hooks are configured for (bit mask), see store_set_alerts. */
#define ALERT_NON_SSL    0x1
#define ALERT_WEAK_TLS   0x2
#define ALERT_NEW_CLIENT 0x4

/* SPEC's client identity, as the server sent it (bytes, not escaped). */
struct client_key {
	char *database;
	char *user;
	char *application;
	char *client_addr;	/* NULL: Unix socket */
	bool ssl;
	char *tls_version;	/* NULL when !ssl */
	char *cipher;
	int bits;		/* -1: NULL */
	char *client_dn;
	char *issuer_dn;
};

/*
 * One distinct client in one poll: one with new sessions (a poll lists
 * only what changed). The samples of its live sessions (new_sessions of
 * the record) after this poll are derived by the store, one per successful
 * poll of the instance; `samples` is what to add now: the daemon gives one
 * per new session, a record without live-session refs gives all its own.
 */
struct client_obs {
	struct client_key key;
	char *client_hostname;
	int samples;		/* samples to add in this poll */
	int new_sessions;	/* sessions first seen in this poll */
};

struct session_ref {
	int32_t pid;
	int64_t backend_start_us;
	size_t client;		/* new sessions: index into poll_record.clients */
	bool single_poll;	/* ended sessions: seen in one poll only */
	bool moved;		/* not a session that began or ended: one that
				 * changed its application_name leaves its old
				 * client (an ended ref) for its new one (a new
				 * ref); coverage does not count it */
};

/* pg_stat_database.sessions of one database at this poll (PG 14+). */
struct db_counter {
	uint32_t datid;
	char *database;
	int64_t sessions;
	char *stats_reset;	/* may be NULL */
	int64_t missed;		/* sessions begun and ended unseen since the
				 * previous poll; -1: no baseline (first poll,
				 * reset detected) */
};

struct server_cert {
	char *subject;		/* RFC 2253 one-line DN */
	char *issuer;
	int64_t not_before;	/* Unix s */
	int64_t not_after;
	char *sha256;		/* "AB:CD:..." */
};

struct instance_facts {
	char *server_version;
	int server_version_num;
	int ssl_enabled;	/* 0/1, -1 unknown */
	char *force_ssl;	/* NULL: not set / not RDS */
	int can_see_all_sessions;
	struct server_cert cert;	/* all NULL/0 without TLS */
};

/*
 * What one poll (or failed attempt) of one instance produced. Owns all its
 * memory, so it can wait in a queue while the store is failing: the record,
 * its facts and its arrays are allocated with calloc/malloc and every string
 * with malloc (strdup); poll_record_free frees all of it, the record itself
 * included (NULL is a no-op).
 */
struct poll_record {
	int64_t instance_id;
	int64_t at_ms;			/* Unix ms when the poll ended */
	bool ok;
	char *error;			/* !ok: what failed */
	int64_t gap_ms;			/* ok: since the previous successful
					 * poll; 0 for the first */
	struct instance_facts *facts;	/* non-NULL after a (re)connection */
	struct client_obs *clients;
	size_t nclients;
	struct session_ref *new_sessions;
	size_t n_new;
	struct session_ref *ended_sessions;
	size_t n_ended;
	bool counters_known;		/* PG 14+: counters[] is meaningful */
	struct db_counter *counters;	/* the databases whose counter changed
					 * since the previous poll */
	size_t ncounters;
	bool baseline_known;		/* the databases not in counters[] had a
					 * baseline and missed nothing: the poll
					 * counted missed sessions even when
					 * counters[] is empty */
	uint32_t *dropped;		/* databases gone since the previous poll */
	size_t ndropped;
};
void poll_record_free(struct poll_record *r);
/* Approximate heap bytes held, for the bound of the retry queue. */
size_t poll_record_size(const struct poll_record *r);

/*
 * Opens (creating as needed) the database at `path` and applies pending
 * migrations. Creates the directory 0750 if missing. On failure returns
 * NULL with a message naming the path in err.
 */
struct store *store_open(const char *path, char *err, size_t errlen);
void store_close(struct store *s);
sqlite3 *store_db(struct store *s);
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

/* Deletes coverage and missed-session rows of hours before `before`
 * (Unix s), attempts that ended before it of alerts in a final state (ok,
 * failed), and live sessions of retired instances. Clients stay. */
int store_expire(struct store *s, int64_t before);

/* Copies the WAL into the database (PASSIVE; never waits for readers).
 * A failure is left in store_errmsg. */
void store_checkpoint(struct store *s);

#endif
