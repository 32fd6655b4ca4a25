/*
 * listen.h: the value of `metrics_listen` (docs/CONTRACT.md sections 2
 * and 8): ADDRESS:PORT, where ADDRESS is an IPv4 literal, an IPv6 literal
 * in brackets ("[::1]:9649"), `localhost`, or `*` (every address). No
 * other host name: the daemon never resolves a name on its loop, and a
 * name could bind somewhere the operator did not expect.
 */
#ifndef SSLHIST_LISTEN_H
#define SSLHIST_LISTEN_H

/* A parsed listen address. `addr` is what bind() gets ("0.0.0.0" for
 * `*`, "127.0.0.1" for `localhost`, an IPv6 literal without brackets). */
struct listen_addr {
	char addr[64];
	int port;		/* 1..65535 */
};

/* Parses s into *out; NULL, or why it is not one (for the config error). */
const char *listen_parse(const char *s, struct listen_addr *out);

/* "ADDR:PORT" or "[ADDR]:PORT" for logs; buf of at least 72 bytes. */
const char *listen_format(const struct listen_addr *a, char *buf, unsigned long len);

#endif
