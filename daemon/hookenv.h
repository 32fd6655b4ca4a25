/*
 * hookenv.h: what a hook is given (hooks.h): its environment, built from
 * nothing, and its standard input.
 *
 * The environment is exactly PATH=/usr/local/bin:/usr/bin:/bin and
 * SSLHIST_EVENT, _CLUSTER, _INSTANCE, _DATABASE, _USER, _APPLICATION,
 * _CLIENT_ADDR, _SSL (true/false), _TLS_VERSION, _CIPHER and _FIRST_SEEN
 * (RFC 3339 UTC); a NULL value is the empty string. Standard input is the
 * client's JSON object as `sslhist clients --format json` prints it, plus
 * "event" (lib/clientjson.h, the one writer of both).
 */
#ifndef SSLHIST_HOOKENV_H
#define SSLHIST_HOOKENV_H

struct jsonw;
struct store_alert;

/* The environment of alert a's hook: a NULL-terminated array, or NULL
 * when out of memory. Free with hookenv_free. */
char **hookenv_new(const struct store_alert *a);
void hookenv_free(char **env);

/* Writes the hook's standard input (one JSON object) into w. */
void hookenv_stdin(struct jsonw *w, const struct store_alert *a);

#endif
