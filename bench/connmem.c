/*
 * connmem.c: the memory floor of a libpq TLS connection, without sslhistd
 * (bench/fleet_mem.py runs it). Opens N blocking connections, round-robin
 * over the conninfo strings given, runs one small query on each, and prints
 * the heap (mallinfo2 in-use bytes, after malloc_trim) and the resident
 * memory each connection adds.
 *
 * mode 0: libpq as it is; 1: + SSL_MODE_RELEASE_BUFFERS after connecting;
 * 2: + the trust store dropped after the handshake (what daemon/tlstrim.c
 * does).
 *
 * usage: connmem N MODE CONNINFO...
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = atol(line + 6);
	}
	if (f)
		fclose(f);
	return v;
}

int
main(int argc, char **argv)
{
	int n, mode;
	PGconn **c, *warm;
	struct mallinfo2 m0, m1;
	long r0, r1;

	if (argc < 4) {
		fprintf(stderr, "usage: connmem N MODE CONNINFO...\n");
		return 64;
	}
	n = atoi(argv[1]);
	mode = atoi(argv[2]);
	if (n < 1 || (c = calloc((size_t)n, sizeof(*c))) == NULL)
		return 1;
	/* Libraries initialised before the measurement starts. */
	warm = PQconnectdb(argv[3]);
	PQclear(PQexec(warm, "SELECT 1"));
	malloc_trim(0);
	m0 = mallinfo2();
	r0 = rss_kb();
	for (int i = 0; i < n; i++) {
		SSL *ssl;

		c[i] = PQconnectdb(argv[3 + i % (argc - 3)]);
		if (PQstatus(c[i]) != CONNECTION_OK) {
			fprintf(stderr, "connmem: %s", PQerrorMessage(c[i]));
			return 1;
		}
		ssl = PQsslStruct(c[i], "OpenSSL");
		if (ssl && mode >= 1)
			SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
		if (ssl && mode >= 2)
			SSL_CTX_set_cert_store(SSL_get_SSL_CTX(ssl), X509_STORE_new());
		PQclear(PQexec(c[i], "SELECT count(*) FROM pg_stat_activity"));
	}
	malloc_trim(0);
	m1 = mallinfo2();
	r1 = rss_kb();
	printf("%.1f %.1f\n", (double)(m1.uordblks - m0.uordblks) / n / 1024,
	       (double)(r1 - r0) / n);
	for (int i = 0; i < n; i++)
		PQfinish(c[i]);
	PQfinish(warm);
	free(c);
	return 0;
}
