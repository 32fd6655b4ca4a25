/*
 * servercert.h: the certificate a server presented in our TLS handshake.
 *
 * pg_stat_ssl.issuer_dn is the issuer of a *client's* certificate; only
 * the daemon's own handshake shows which CA signed the server's.
 */
#ifndef SSLHIST_SERVERCERT_H
#define SSLHIST_SERVERCERT_H

#include <libpq-fe.h>

#include "pollrec.h"

/*
 * Fills cert from the connection's TLS session (subject and issuer as RFC
 * 2253 one-line DNs, validity, SHA-256 of the DER). Returns 0, 1 when the
 * connection does not use TLS (cert left zeroed), -1 on error.
 */
int servercert_read(PGconn *conn, struct server_cert *cert);
void servercert_clear(struct server_cert *cert);

#endif
