/*
 * ident.c: naming and classification rules (ident.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ident.h"

const char *
ident_instance_name(char *buf, size_t len, const char *host, int64_t port)
{
	if (host == NULL)
		host = "";
	snprintf(buf, len, strchr(host, ':') ? "[%s]:%" PRId64 : "%s:%" PRId64, host, port);
	return buf;
}

bool
ident_tls_weak(const char *version)
{
	/* Keep in step with IDENT_TLS_WEAK_SQL. */
	static const char *const weak[] = { "SSLv2", "SSLv3", "TLSv1", "TLSv1.1" };

	for (size_t i = 0; version != NULL && i < sizeof weak / sizeof weak[0]; i++)
		if (strcmp(version, weak[i]) == 0)
			return true;
	return false;
}

bool
ident_str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}
