/*
 * hooklog.h: the journal events of newly stored clients (hooks.h).
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

#include <stdint.h>

struct store;

/*
 * Logs the events of the clients stored after client id *logged, in the
 * order they were stored, and moves *logged past them. A store that cannot
 * be read leaves the rest for the next call.
 */
void hooklog_new_clients(struct store *s, int64_t *logged);

/* A nullable string for a log line: NULL is "". */
static inline const char *
hooklog_str(const char *s)
{
	return s ? s : "";
}

#endif
