/*
 * clientjson.h: the JSON object of one client, written in one place.
 *
 * `sslhist clients --format json` prints an array of these objects, and a
 * hook's standard input is the same object with "event" added as its last
 * member: both go through clientjson_write, so the two cannot drift. The
 * members, in order: cluster, instance, database, user, application,
 * client_addr, client_hostname, ssl, tls_version, cipher, bits, client_dn,
 * issuer_dn, driver (guessed from application, lib/driver.h), first_seen,
 * last_seen (RFC 3339 UTC), sessions, samples, logged_sessions, seen_by, via
 * (the pooler the client came through, or null).
 */
#ifndef SSLHIST_CLIENTJSON_H
#define SSLHIST_CLIENTJSON_H

#include <stdbool.h>
#include <stdint.h>

struct jsonw;

/* One client's values, borrowed (nothing is freed). NULL strings are
 * written as null. */
struct clientjson {
	const char *cluster;
	const char *instance;		/* "host:port" */
	const char *database, *user, *application;
	const char *client_addr;	/* NULL: Unix socket */
	const char *client_hostname;
	bool ssl;
	const char *tls_version, *cipher;
	int64_t bits;			/* -1: null */
	const char *client_dn, *issuer_dn;
	int64_t first_seen, last_seen;	/* Unix s */
	int64_t sessions, samples;
	int64_t logged_sessions;	/* of its sessions, those a server log showed */
	const char *via;		/* the [pooler] it came through, or NULL */
	const char *pooler_server;	/* a pooler's own server connection:
					 * the pooler's name (driver
					 * "pgbouncer"), else NULL */
};

/* Writes the object (a value: in an array, or after a key); `event`
 * non-NULL adds "event": event as the last member. */
/* "poll", "log" or "poll+log": who saw the client (a client only logs
 * showed has samples 0). */
const char *clientjson_seen_by(int64_t samples, int64_t logged_sessions);

void clientjson_write(struct jsonw *w, const struct clientjson *c, const char *event);

#endif
