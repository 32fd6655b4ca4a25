/*
 * pgconn.h: one asynchronous libpq connection driven by the event loop.
 *
 * A connection attempt is: resolve the host name with evdns (never a
 * blocking lookup; /etc/hosts and resolv.conf are honoured) -> run the
 * cluster's password_command, if any -> PQconnectStartParams with
 * host=NAME hostaddr=ADDRS (so verify-full still checks NAME) ->
 * PQconnectPoll driven by socket events, re-armed with a fresh PQsocket()
 * at every wait. The whole attempt runs under one daemon-owned deadline
 * (connect_timeout): libpq's own connect_timeout does not apply to
 * PQconnectPoll. A query runs under the query_timeout deadline; at the
 * deadline the connection is dropped (libpq 15 has no non-blocking cancel;
 * the server's statement_timeout, sent a little shorter, ends the query on
 * its side).
 *
 * Callbacks run from the loop. Inside one, the owner may call
 * pgconn_query() or pgconn_close(), and pgconn_free() (deferred until the
 * callback returns).
 *
 * A call made in a state it does not belong to (pgconn_connect() while not
 * closed, a query while not ready) is a bug in the caller: it is logged at
 * error with the connection's identity and state, and the connection fails
 * through `failed`, from inside the call.
 */
#ifndef SSLHIST_PGCONN_H
#define SSLHIST_PGCONN_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

struct event_base;
struct evdns_base;
struct cluster_cfg;
struct pgconn;

struct pgconn_ops {
	void (*connected)(struct pgconn *pc, void *arg);
	/* The query's final result (any status); freed after the call. */
	void (*result)(struct pgconn *pc, const PGresult *res, void *arg);
	/* The connection failed or was lost; it is closed already. */
	void (*failed)(struct pgconn *pc, const char *error, void *arg);
};

struct pgconn_params {
	const struct cluster_cfg *cluster;	/* libpq keywords, password_command */
	const char *host;
	int port;
	int64_t connect_timeout_ms;
	int64_t query_timeout_ms;
	/* A PgBouncer admin console ([pooler]): no `options` startup
	 * parameter (the console refuses it), so no statement_timeout; the
	 * daemon's query_timeout still drops a slow answer. */
	bool console;
};

/* Copies what it needs of params. NULL when out of memory. */
struct pgconn *pgconn_new(struct event_base *base, struct evdns_base *dns,
			  const struct pgconn_params *params, const struct pgconn_ops *ops,
			  void *arg);
void pgconn_free(struct pgconn *pc);

/* Starts a connection attempt; the outcome comes through the callbacks. */
void pgconn_connect(struct pgconn *pc);
/* Sends one statement with text parameters (connected, no query running). */
void pgconn_query(struct pgconn *pc, const char *sql, int nparams, const char *const *values);
/* Sends `sql` with the simple query protocol (PQsendQuery: no
 * parameters, text results), the one PgBouncer's admin console speaks. */
void pgconn_query_simple(struct pgconn *pc, const char *sql);
/* Prepares `sql` as statement `name` of this connection (the result
 * callback says whether it worked; parameter types are inferred). */
void pgconn_prepare(struct pgconn *pc, const char *name, const char *sql, int nparams);
/* Runs prepared statement `name` with text parameters; the result comes in
 * binary format when `binary` (libpq's resultFormat 1). */
void pgconn_query_prepared(struct pgconn *pc, const char *name, int nparams,
			   const char *const *values, int binary);
/* Drops the connection (or attempt) without calling back. */
void pgconn_close(struct pgconn *pc);

/* The libpq connection while connected, else NULL. */
PGconn *pgconn_pg(const struct pgconn *pc);
/* True while connected and idle (ready for a query). */
int pgconn_ready(const struct pgconn *pc);
/* The address connected to, for logs ("10.0.0.5"); NULL if none. */
const char *pgconn_addr(const struct pgconn *pc);

/* Monotonic ms at which the running attempt or query times out; 0 when
 * none is running (idle or closed). */
int64_t pgconn_deadline_ms(const struct pgconn *pc);

/* Updates timeouts after a reload. */
void pgconn_set_timeouts(struct pgconn *pc, int64_t connect_timeout_ms, int64_t query_timeout_ms);

#endif
