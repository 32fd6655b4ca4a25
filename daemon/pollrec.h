/*
 * pollrec.h: the poll record, what one poll (or failed attempt) of one
 * instance produced, on its way from the poller to the store, and the one
 * step that builds it from the server's rows.
 *
 * The one home of the poll path's types: built here (pollrec_build) from
 * the poll query's result, queued by the writer while the store fails,
 * applied by the store in one transaction, freed here.
 */
#ifndef SSLHIST_POLLREC_H
#define SSLHIST_POLLREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "statrow.h"

struct strlist;
struct tracker;
struct poolmatch;

/* The client identity (docs/CONTRACT.md section 3), as the server sent it (bytes, not escaped). */
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
	char *pooler_server;	/* a [pooler]'s own server connection: the
				 * pooler's name (application then NULL);
				 * NULL for every other client */
};
/* Frees the key's strings (not k itself). */
void client_key_free(struct client_key *k);

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

/* A pooler's TLS settings (SHOW CONFIG), read on each connection. */
struct pooler_facts {
	char *client_tls_sslmode;
	char *server_tls_sslmode;
	char *server_tls_ca_file;
};
void pooler_facts_free(struct pooler_facts *f);

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
	struct pooler_facts *pooler;	/* a pooler's record: non-NULL after a
					 * (re)connection */
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
	bool fast;			/* a poll made at fast_interval */
};
void poll_record_free(struct poll_record *r);
/* Frees facts and its strings (NULL is a no-op). */
void instance_facts_free(struct instance_facts *f);
/* Approximate heap bytes held, for the bound of the retry queue. */
size_t poll_record_size(const struct poll_record *r);
/* The sessions a successful poll counted missed (the sum over its
 * counters), or -1 when it could count none (PostgreSQL 13 and older, no
 * baseline yet). */
int64_t poll_record_missed(const struct poll_record *r);

/* ---- rows -> poll record ---- */

/* Sessions a poll asks for in full, at most (the rest the poll after). */
#define POLLREC_WANT_MAX 64

/* What the build needs besides the rows. */
struct pollrec_ctx {
	struct tracker *tracker;	/* the instance's live sessions and
					 * counter baselines: updated */
	int server_version;		/* PQserverVersion(): counters from 14 */
	const struct strlist *exclude_users;	/* never recorded */
	const struct strlist *exclude_databases;
	/* Poolers' server connections (poolmatch.h), NULL when the cluster
	 * has no [pooler]: sessions it claims become the pooler's client. */
	struct poolmatch *pooled;
	const char *cluster;
};

/* What the build reports besides the record; the caller acts on it. */
struct pollrec_out {
	int64_t snapshot_us;		/* the 't' row: the statement's time
					 * (server clock, Unix us); 0: none */
	int32_t want[POLLREC_WANT_MAX];	/* sessions the next poll lists in
					 * full ($4): met by identity only
					 * ('o') but not known, or renamed */
	size_t nwant;
	uint64_t bad[STATROW_NERRORS];	/* rows skipped, by reason */
};

/*
 * Turns the result of one poll (statquery.h's poll query, binary) into r,
 * zeroed by the caller: the sessions the tracker did not know (new, or
 * moved to another application_name) with their clients, the recorded
 * sessions that ended, the database counters that changed (and the
 * sessions missed since the previous poll), the databases dropped. Own
 * sessions and excluded users and databases are tracked, never recorded.
 * A row that cannot be decoded is skipped and counted in out->bad.
 *
 * Pure but for ctx->tracker, which it moves to this poll (tracker_begin
 * ... tracker_counters_done); no I/O, no logging. Sets r's rows only:
 * the instance, times, ok and facts are the caller's. Returns NULL, or
 * what went wrong ("out of memory", a result of the wrong shape): r then
 * holds what was built so far (free it) and the tracker may be part-way.
 */
const char *pollrec_build(const struct pollrec_ctx *ctx, const PGresult *res,
			  struct poll_record *r, struct pollrec_out *out);

#endif
