/*
 * aurora.c: see aurora.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aurora.h"

char *
aurora_instance_host(const char *endpoint, const char *server_id)
{
	/* Longest first: "cluster-" is a prefix of the others. */
	static const char *const prefixes[] = { "cluster-custom-", "cluster-ro-", "cluster-" };
	const char *rest = strchr(endpoint, '.');
	char *out;

	if (rest == NULL)
		return strdup(server_id);
	rest++;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t len = strlen(prefixes[i]);
		if (strncmp(rest, prefixes[i], len) == 0) {
			rest += len;
			break;
		}
	}
	if (asprintf(&out, "%s.%s", server_id, rest) < 0)
		return NULL;
	return out;
}
