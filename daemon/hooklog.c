/*
 * hooklog.c: the hooks' journal lines (hooklog.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hooklog.h"
#include "ident.h"
#include "log.h"
#include "store.h"
#include "store_hooks.h"

#define HOOK_MAX_LOG_LINES 20	/* per stream of one run */

static void
log_client_event(const struct store_client *c, const char *event, const char *msgid,
		 enum log_level level, const char *what)
{
	const struct client_key *k = &c->key;
	struct log_obj obj = { c->cluster, c->instance };
	char *f[8] = { NULL };
	const char *const *fields = (const char *const *)f;
	int n = 0;

	if (asprintf(&f[n++], "SSLHIST_EVENT=%s", event) < 0 ||
	    asprintf(&f[n++], "SSLHIST_DATABASE=%s", hooklog_str(k->database)) < 0 ||
	    asprintf(&f[n++], "SSLHIST_USER=%s", hooklog_str(k->user)) < 0 ||
	    asprintf(&f[n++], "SSLHIST_APPLICATION=%s", hooklog_str(k->application)) < 0 ||
	    asprintf(&f[n++], "SSLHIST_CLIENT_ADDR=%s", hooklog_str(k->client_addr)) < 0 ||
	    asprintf(&f[n++], "SSLHIST_TLS_VERSION=%s", hooklog_str(k->tls_version)) < 0) {
		f[n - 1] = NULL;
		fields = NULL;
	}
	log_event(level, &obj, msgid, fields,
	    "%s: database \"%s\" user \"%s\" application \"%s\" from %s%s%s",
	    what, hooklog_str(k->database), hooklog_str(k->user), hooklog_str(k->application),
	    k->client_addr ? k->client_addr : "local socket",
	    k->ssl ? ", " : "", k->ssl ? hooklog_str(k->tls_version) : "");
	for (n = 0; n < 8; n++)
		free(f[n]);
}

void
hooklog_client(const struct store_client *c)
{
	if (!c->key.ssl)
		log_client_event(c, "non-ssl", MSGID_NON_SSL, LVL_WARNING, "non-SSL client");
	else if (ident_tls_weak(c->key.tls_version))
		log_client_event(c, "weak-tls", MSGID_WEAK_TLS, LVL_WARNING, "weak TLS client");
	log_client_event(c, "new-client", MSGID_NEW_CLIENT, LVL_INFO, "new client");
}

/* ---- a hook's run ---------------------------------------------------- */

void
hooklog_output(const struct store_alert *a, const char *cmd, const char *stream,
	       const char *buf, size_t len, bool truncated)
{
	const struct client_key *k = &a->client.key;
	struct log_obj obj = { a->client.cluster, a->client.instance };
	size_t i = 0, e;
	int lines = 0;

	while (i < len && lines < HOOK_MAX_LOG_LINES) {
		for (e = i; e < len && buf[e] != '\n'; e++)
			;
		log_event(LVL_INFO, &obj, NULL, NULL, "hook %s (%s) for %s@%s %s: %.*s",
		    a->event, cmd, hooklog_str(k->user), hooklog_str(k->database), stream,
		    (int)(e - i), buf + i);
		lines++;
		i = e + 1;
	}
	if (truncated || i < len)
		log_event(LVL_INFO, &obj, NULL, NULL, "hook %s (%s) for %s@%s %s: (more output dropped)",
		    a->event, cmd, hooklog_str(k->user), hooklog_str(k->database), stream);
}

void
hooklog_end(const struct store_alert *a, const char *cmd, int64_t attempt, const char *state,
	    const char *why, int64_t next_ms)
{
	const struct client_key *k = &a->client.key;
	struct log_obj obj = { a->client.cluster, a->client.instance };
	const char *from = k->client_addr ? k->client_addr : "local socket";
	char then[64];

	if (strcmp(state, "ok") == 0) {
		log_event(LVL_INFO, &obj, NULL, NULL, "hook %s (%s) for %s@%s from %s: ok (attempt %"
		    PRId64 ")", a->event, cmd, hooklog_str(k->user), hooklog_str(k->database),
		    from, attempt);
		return;
	}
	if (strcmp(state, "pending") == 0)
		snprintf(then, sizeof(then), "retry in %" PRId64 " s",
		    (next_ms - wall_ms() + 999) / 1000);
	else
		snprintf(then, sizeof(then), "giving up");
	log_event(LVL_WARNING, &obj, MSGID_HOOK_FAILED, NULL,
	    "hook %s (%s) for %s@%s from %s failed (attempt %" PRId64 "): %s; %s",
	    a->event, cmd, hooklog_str(k->user), hooklog_str(k->database), from, attempt, why,
	    then);
}
