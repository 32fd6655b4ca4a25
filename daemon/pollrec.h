/*
 * pollrec.h: the poll record, what one poll (or failed attempt) of one
 * instance produced, on its way from the poller to the store.
 *
 * The one home of the poll path's types: built by the poller from the
 * server's rows, queued by the writer while the store fails, applied by
 * the store in one transaction, freed here.
 */
#ifndef SSLHIST_POLLREC_H
#define SSLHIST_POLLREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* Frees facts and its strings (NULL is a no-op). */
void instance_facts_free(struct instance_facts *f);
/* Approximate heap bytes held, for the bound of the retry queue. */
size_t poll_record_size(const struct poll_record *r);

#endif
