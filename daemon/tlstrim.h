/*
 * tlstrim.h: what a libpq TLS connection keeps once its handshake is over.
 *
 * libpq 15 builds a new SSL_CTX for every connection and loads sslrootcert
 * into that context's certificate store, which the connection then keeps
 * for its whole life: with a 121-certificate bundle, about 690 KB per
 * connection, of which nothing is used after the handshake (the chain and
 * the name have been verified; PostgreSQL servers do not renegotiate).
 *
 * tlstrim_handshake_done(), called after every PQconnectPoll step, acts
 * once per connection as soon as the TLS handshake has finished (chain
 * verified by OpenSSL, then the name by libpq in the same step):
 *   - the context's store is replaced by an empty one. Verification is not
 *     changed in any way: it already happened, against the full store;
 *   - renegotiation is refused from then on (SSL_OP_NO_RENEGOTIATION), so
 *     no certificate can be presented again on this connection: a server
 *     that tried would be refused, where before it was verified;
 *   - idle connections keep no TLS record buffers (SSL_MODE_RELEASE_BUFFERS,
 *     about 34 KB each).
 * The environment variable SSLHIST_BENCH_KEEP_TRUST=1 (read once; for
 * bench/fleet_mem.py's baseline only, not documented for operators)
 * keeps the store, as libpq leaves it.
 */
#ifndef SSLHIST_TLSTRIM_H
#define SSLHIST_TLSTRIM_H

#include <stdbool.h>

#include <libpq-fe.h>

/* *done is the TLS session last trimmed (NULL for a new attempt): libpq
 * may start another one within an attempt (sslmode=prefer retrying after
 * a failed authentication), which is trimmed in turn. Returns true when it
 * trimmed the connection in this call. */
bool tlstrim_handshake_done(PGconn *conn, const void **done);

/* True when SSLHIST_BENCH_KEEP_TRUST=1: the bench's "before" daemon. */
bool tlstrim_keep_trust(void);

#endif
