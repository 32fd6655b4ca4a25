/*
 * tlstrim.c: a finished TLS handshake drops what only the handshake needed
 * (tlstrim.h).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tlstrim.h"

bool
tlstrim_keep_trust(void)
{
	static int keep = -1;

	if (keep < 0) {
		const char *e = getenv("SSLHIST_BENCH_KEEP_TRUST");
		keep = e != NULL && strcmp(e, "1") == 0;
	}
	return keep == 1;
}

bool
tlstrim_handshake_done(PGconn *conn, const void **done)
{
	SSL *ssl;
	X509_STORE *empty;

	if (conn == NULL || (ssl = PQsslStruct(conn, "OpenSSL")) == NULL || ssl == *done ||
	    !SSL_is_init_finished(ssl))
		return false;
	*done = ssl;
	SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	if (tlstrim_keep_trust())
		return false;
	SSL_set_options(ssl, SSL_OP_NO_RENEGOTIATION);
	/* The context is this connection's alone (libpq 15 makes one per
	 * connection); setting a store frees the one it had. Out of memory,
	 * the old store stays: correct, only larger. */
	if ((empty = X509_STORE_new()) != NULL)
		SSL_CTX_set_cert_store(SSL_get_SSL_CTX(ssl), empty);
	return true;
}
