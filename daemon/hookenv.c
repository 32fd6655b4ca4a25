/*
 * hookenv.c: a hook's environment and standard input (hookenv.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientjson.h"
#include "hookenv.h"
#include "parse.h"
#include "store_hooks.h"

#define HOOK_PATH "PATH=/usr/local/bin:/usr/bin:/bin"
#define NVARS 12	/* PATH and the SSLHIST_* variables */

static char *
env_var(const char *name, const char *value)
{
	char *s;

	return asprintf(&s, "%s=%s", name, value ? value : "") < 0 ? NULL : s;
}

char **
hookenv_new(const struct store_alert *a)
{
	const struct store_client *c = &a->client;
	const struct client_key *k = &c->key;
	char **env = calloc(NVARS + 1, sizeof(*env));
	char first[32];
	int i = 0, ok = 1;

	if (env == NULL)
		return NULL;
	format_time(c->first_seen, first);
	env[i++] = strdup(HOOK_PATH);
	env[i++] = env_var("SSLHIST_EVENT", a->event);
	env[i++] = env_var("SSLHIST_CLUSTER", c->cluster);
	env[i++] = env_var("SSLHIST_INSTANCE", c->instance);
	env[i++] = env_var("SSLHIST_DATABASE", k->database);
	env[i++] = env_var("SSLHIST_USER", k->user);
	env[i++] = env_var("SSLHIST_APPLICATION", k->application);
	env[i++] = env_var("SSLHIST_CLIENT_ADDR", k->client_addr);
	env[i++] = env_var("SSLHIST_SSL", k->ssl ? "true" : "false");
	env[i++] = env_var("SSLHIST_TLS_VERSION", k->tls_version);
	env[i++] = env_var("SSLHIST_CIPHER", k->cipher);
	env[i++] = env_var("SSLHIST_FIRST_SEEN", first);
	for (i = 0; i < NVARS; i++)
		ok &= env[i] != NULL;
	if (!ok) {
		hookenv_free(env);
		return NULL;
	}
	return env;
}

void
hookenv_free(char **env)
{
	/* Also after a partial build: every slot is freed, NULL or not. */
	for (size_t i = 0; env != NULL && i < NVARS; i++)
		free(env[i]);
	free(env);
}

void
hookenv_stdin(struct jsonw *w, const struct store_alert *a)
{
	const struct store_client *c = &a->client;
	const struct client_key *k = &c->key;
	const struct clientjson j = {
		.cluster = c->cluster,
		.instance = c->instance,
		.database = k->database,
		.user = k->user,
		.application = k->application,
		.client_addr = k->client_addr,
		.client_hostname = c->client_hostname,
		.ssl = k->ssl,
		.tls_version = k->tls_version,
		.cipher = k->cipher,
		.bits = k->bits,
		.client_dn = k->client_dn,
		.issuer_dn = k->issuer_dn,
		.first_seen = c->first_seen,
		.last_seen = c->last_seen,
		.sessions = c->sessions,
		.samples = c->samples,
		.via = c->via,
		.pooler_server = k->pooler_server,
		.logged_sessions = c->logged_sessions,
	};

	clientjson_write(w, &j, a->event);
}
