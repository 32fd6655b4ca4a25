/*
 * hooklog.h: the hooks' journal lines (hooks.h): the events of newly
 * stored clients, a hook's output and how each attempt ended.
 *
 * Each event of each client is logged once, whether or not a hook is
 * configured for it, so that journal-based alerting works without hooks:
 * a non-SSL client (MSGID_NON_SSL, warning), a weak-TLS client
 * (MSGID_WEAK_TLS, warning) and every new client (MSGID_NEW_CLIENT, info),
 * with fields SSLHIST_EVENT, SSLHIST_DATABASE, SSLHIST_USER,
 * SSLHIST_APPLICATION, SSLHIST_CLIENT_ADDR and SSLHIST_TLS_VERSION, the
 * client's cluster/instance as the object of the line.
 */
#ifndef SSLHIST_HOOKLOG_H
#define SSLHIST_HOOKLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_alert;
struct store_client;

/* Logs the events of one newly stored client (the store thread read it:
 * hookq.h); called in the order clients were stored. */
void hooklog_client(const struct store_client *c);

/*
 * A hook's stdout or stderr (`stream`), line by line with the client's
 * identity, at most 20 lines; what is left, or was cut
 * (truncated), is one "(more output dropped)" line.
 */
void hooklog_output(const struct store_alert *a, const char *cmd, const char *stream,
		    const char *buf, size_t len, bool truncated);

/*
 * An attempt's end: "ok" at info; otherwise MSGID_HOOK_FAILED at warning
 * with `why` and what follows (the retry in next_ms, Unix ms, when `state`
 * is "pending"; else giving up).
 */
void hooklog_end(const struct store_alert *a, const char *cmd, int64_t attempt,
		 const char *state, const char *why, int64_t next_ms);

/* A nullable string for a log line: NULL is "". */
static inline const char *
hooklog_str(const char *s)
{
	return s ? s : "";
}

#endif
