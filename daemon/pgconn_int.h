/*
 * pgconn_int.h: what the files of the connection module share, and nothing
 * outside them may use (pgconn.h is the contract).
 *
 *   pgconn.c           the object, its state machine, deadline and socket waits
 *   pgconn_dial.c      resolving the name, PQconnectStartParams/PQconnectPoll
 *   pgconn_password.c  password_command: its environment, the token it prints
 *   pgconn_pump.c      sending statements and collecting their results
 *
 * States, and the only transitions pgc_set_state() accepts:
 *
 *   IDLE --pgconn_connect--> RESOLVING --name known--> CONNECTING
 *                            RESOLVING --name known--> PASSWORD --token--> CONNECTING
 *   CONNECTING --PQconnectPoll OK--> READY --pgconn_query*--> QUERY --result--> READY
 *   any state --close, failure, free--> IDLE
 *
 * Any other change, and any socket, deadline, DNS or child event or API
 * call arriving in a state it cannot belong to, is a bug in the daemon: it
 * is logged at error (with the connection's identity and both states) and
 * fails the connection, so the owner's retry path takes over.
 */
#ifndef SSLHIST_PGCONN_INT_H
#define SSLHIST_PGCONN_INT_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config.h"
#include "ident.h"
#include "log.h"

#define PGC_MAX_ADDRS 8		/* addresses of one name tried by libpq */
#define PGC_HOSTS_MAX (PGC_MAX_ADDRS * 256)	/* host=NAME,NAME,... */

enum pgc_state {
	PGC_IDLE,		/* no connection, no attempt */
	PGC_RESOLVING,		/* evdns lookup running */
	PGC_PASSWORD,		/* password_command running */
	PGC_CONNECTING,		/* PQconnectPoll in progress */
	PGC_READY,		/* connected, no query */
	PGC_QUERY,		/* a query is running */
};

struct pgconn {
	struct event_base *base;
	struct evdns_base *dns;
	const struct pgconn_ops *ops;
	void *arg;
	enum pgc_state state;	/* changed by pgc_set_state() only */
	char *host;
	int port;
	char *cluster;			/* for logs */
	char name[IDENT_INSTANCE_NAME_MAX];	/* host:port, for logs */
	struct log_obj obj;
	int64_t connect_timeout_ms, query_timeout_ms;
	struct conn_kv *kv;		/* the cluster's libpq keywords */
	size_t nkv;
	struct strlist password_command;

	PGconn *conn;
	bool flushing;			/* PQflush has more to send */
	bool console;			/* pgconn_params.console */
	struct event *sockev;
	int armed_fd;			/* what sockev waits for: fd ... */
	short armed_what;		/* ... and events; -1 / 0 when not */
	struct event *deadline;
	int64_t deadline_mono;		/* when it fires, while armed */
	struct evdns_getaddrinfo_request *dnsreq;
	struct child *child;
	char addrs[PGC_MAX_ADDRS * (INET6_ADDRSTRLEN + 1)];
	size_t naddrs;			/* host= repeats the name this often
					 * (built when dialling, not kept) */
	char *password;
	PGresult *result;		/* the query's result so far */
	struct waiter *waiting;		/* the DNS lookup or password_command
					 * running for this attempt */
	int in_callback;
	bool free_pending;
	const void *tls_trimmed;	/* the TLS session tlstrim.h trimmed */
	bool pinned;			/* this attempt uses trustpin.h's roots */
	bool pin_off;			/* the pin failed: the whole sslrootcert
					 * until an attempt with it succeeds */
};

/*
 * A DNS lookup or a password_command calls back after the attempt may be
 * gone (cancelled, timed out, the pgconn freed at shutdown): the callback
 * gets this small object, which dropping the attempt detaches.
 */
struct waiter {
	struct pgconn *pc;	/* NULL: the attempt is gone */
};

/* pgconn.c */
struct waiter *pgc_waiter_new(struct pgconn *pc);
/* The pgconn the callback is for, or NULL; frees w. */
struct pgconn *pgc_waiter_done(struct waiter *w);
const char *pgc_state_name(enum pgc_state s);
/* The one way to change pc->state. false: the change is impossible, was
 * logged and failed the connection (`event` says what asked for it). */
bool pgc_set_state(struct pgconn *pc, enum pgc_state to, const char *event);
/* true when pc is in state `want`; else like a refused pgc_set_state(). */
bool pgc_expect(struct pgconn *pc, enum pgc_state want, const char *event);
/* Ends the attempt or connection with an error (one line) and calls back. */
void pgc_fail(struct pgconn *pc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *pgc_pq_error(PGconn *conn);
const char *pgc_kv_get(const struct pgconn *pc, const char *key);
void pgc_arm_deadline(struct pgconn *pc, int64_t ms);
void pgc_disarm_deadline(struct pgconn *pc);
/* Waits for `what` on the current PQsocket(); false: failed (no socket). */
bool pgc_wait_socket(struct pgconn *pc, short what);
/* Forgets the password the attempt was given, leaving no copy in memory. */
void pgc_forget_password(struct pgconn *pc);
void pgc_callback_connected(struct pgconn *pc);
/* Hands the result to the owner and clears it. */
void pgc_callback_result(struct pgconn *pc, PGresult *res);

/* pgconn_dial.c */
void pgc_start_libpq(struct pgconn *pc);
void pgc_connect_step(struct pgconn *pc);

/* pgconn_password.c */
void pgc_start_password(struct pgconn *pc);

/* pgconn_pump.c */
void pgc_query_step(struct pgconn *pc, short what);
void pgc_idle_step(struct pgconn *pc);

#endif
