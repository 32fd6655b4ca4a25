/*
 * clientjson.c: one client as a JSON object (clientjson.h).
 */
#include "clientjson.h"
#include "driver.h"
#include "jsonw.h"

static void
member_str(struct jsonw *w, const char *key, const char *v)
{
	jsonw_key(w, key);
	jsonw_str(w, v);
}

static void
member_int(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_int(w, v);
}

static void
member_time(struct jsonw *w, const char *key, int64_t t)
{
	jsonw_key(w, key);
	jsonw_time(w, t);
}

void
clientjson_write(struct jsonw *w, const struct clientjson *c, const char *event)
{
	jsonw_object_begin(w);
	member_str(w, "cluster", c->cluster);
	member_str(w, "instance", c->instance);
	member_str(w, "database", c->database);
	member_str(w, "user", c->user);
	member_str(w, "application", c->application);
	member_str(w, "client_addr", c->client_addr);
	member_str(w, "client_hostname", c->client_hostname);
	jsonw_key(w, "ssl");
	jsonw_bool(w, c->ssl);
	member_str(w, "tls_version", c->tls_version);
	member_str(w, "cipher", c->cipher);
	jsonw_key(w, "bits");
	if (c->bits < 0)
		jsonw_null(w);
	else
		jsonw_int(w, c->bits);
	member_str(w, "client_dn", c->client_dn);
	member_str(w, "issuer_dn", c->issuer_dn);
	member_str(w, "driver", c->pooler_server ? "pgbouncer" : driver_guess(c->application));
	member_time(w, "first_seen", c->first_seen);
	member_time(w, "last_seen", c->last_seen);
	member_int(w, "sessions", c->sessions);
	member_int(w, "samples", c->samples);
	member_int(w, "logged_sessions", c->logged_sessions);
	member_str(w, "seen_by", clientjson_seen_by(c->samples, c->logged_sessions));
	member_str(w, "via", c->via);
	if (event != NULL)
		member_str(w, "event", event);
	jsonw_object_end(w);
}

const char *
clientjson_seen_by(int64_t samples, int64_t logged_sessions)
{
	if (samples > 0)
		return logged_sessions > 0 ? "poll+log" : "poll";
	return "log";
}
