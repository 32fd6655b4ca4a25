/*
 * ident.h: the rules by which both programs name and classify what they
 * see, each written once: an instance's name, the weak-TLS rule (in C and
 * in SQL, which must agree), and NULL-aware string equality for the
 * nullable columns of a client's identity.
 */
#ifndef SSLHIST_IDENT_H
#define SSLHIST_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Writes "host:port" into buf, an IPv6 literal in brackets ("[::1]:5432"),
 * truncated to len; a NULL host is "". Returns buf.
 */
const char *ident_instance_name(char *buf, size_t len, const char *host, int64_t port);

/* Large enough for any name ident_instance_name writes from a host name
 * (at most 255 bytes) and a port. */
#define IDENT_INSTANCE_NAME_MAX 300

/*
 * A TLS version older than TLS 1.2 (pg_stat_ssl.version): SSLv2, SSLv3,
 * TLSv1, TLSv1.1. NULL (not SSL) is not weak.
 */
bool ident_tls_weak(const char *version);
/* The same list as an SQL tuple, for `tls_version IN IDENT_TLS_WEAK_SQL`. */
#define IDENT_TLS_WEAK_SQL "('SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1')"

/* Both NULL, or both non-NULL and equal. */
bool ident_str_eq(const char *a, const char *b);

#endif
