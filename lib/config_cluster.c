/*
 * config_cluster.c: [defaults] and [cluster NAME] (config_int.h).
 *
 * A cluster section holds libpq connection keywords (checked against the
 * list libpq itself gives, with the values sslhist relies on validated:
 * host, port, sslmode, options) and sslhist's own keys (instances,
 * discover_interval, interval, fast_interval, fast_for, exclude_users,
 * password_command, log_command, log_interval). A
 * cluster is [defaults] overlaid with its own section; its instances are
 * the listed ones, or its host:port.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config_int.h"

static const PQconninfoOption *
pq_option(const struct loader *ld, const char *key)
{
	const PQconninfoOption *o;

	for (o = ld->pqopts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, key) == 0)
			return o;
	return NULL;
}

static int
conn_set(struct conn_kv **kv, size_t *n, const char *key, const char *value)
{
	struct conn_kv *v;
	char *nv;
	size_t i;

	if ((nv = strdup(value)) == NULL)
		return -1;
	for (i = 0; i < *n; i++) {
		if (strcmp((*kv)[i].key, key) == 0) {
			free((*kv)[i].value);
			(*kv)[i].value = nv;
			return 0;
		}
	}
	v = realloc(*kv, (*n + 1) * sizeof(*v));
	if (v == NULL) {
		free(nv);
		return -1;
	}
	*kv = v;
	v[*n].value = nv;
	if ((v[*n].key = strdup(key)) == NULL) {
		free(nv);
		return -1;
	}
	(*n)++;
	return 0;
}

void
cfg_conn_free(struct conn_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/* Checks the libpq keywords whose values sslhist itself relies on. */
static int
check_libpq_value(struct loader *ld, const struct entry *e)
{
	static const char *const modes[] = { "disable", "allow", "prefer", "require",
		"verify-ca", "verify-full" };
	const char *why;
	size_t i;
	long port;

	if (strcmp(e->key, "host") == 0) {
		if (e->value[0] == '\0' || strchr(e->value, ',') != NULL) {
			cfg_fail(ld, e->line, "key 'host': write one host name; list "
			    "several in 'instances' (each is polled)");
			return -1;
		}
	} else if (strcmp(e->key, "port") == 0) {
		if ((why = parse_int_range(e->value, 1, 65535, &port)) != NULL) {
			cfg_fail(ld, e->line, "key 'port': bad port '%s' (%s; one port "
			    "1..65535, several go in 'instances')", e->value, why);
			return -1;
		}
	} else if (strcmp(e->key, "sslmode") == 0) {
		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			if (strcmp(e->value, modes[i]) == 0)
				return 0;
		cfg_fail(ld, e->line, "key 'sslmode': bad mode '%s' (disable, allow, "
		    "prefer, require, verify-ca or verify-full)", e->value);
		return -1;
	} else if (strcmp(e->key, "options") == 0 && strstr(e->value, "application_name")) {
		cfg_fail(ld, e->line, "key 'options': must not set application_name "
		    "(sslhistd uses it to recognise its own sessions)");
		return -1;
	}
	return 0;
}

static int
check_instances(struct loader *ld, const struct entry *e)
{
	struct strlist l = { NULL, 0 };
	const char *why;
	char *host;
	int port = DEFAULT_PGPORT;
	size_t i;

	if (strcmp(e->value, "discover") == 0)
		return 0;
	if ((why = parse_list(e->value, &l)) != NULL || l.n == 0) {
		cfg_fail(ld, e->line, "key 'instances': bad list '%s' (%s)", e->value,
		    why ? why : "empty; write 'discover' or host[:port], ...");
		strlist_free(&l);
		return -1;
	}
	for (i = 0; i < l.n; i++) {
		if ((why = parse_hostport(l.v[i], &host, &port)) != NULL) {
			cfg_fail(ld, e->line, "key 'instances': bad instance '%s' (%s)",
			    l.v[i], why);
			strlist_free(&l);
			return -1;
		}
		free(host);
	}
	strlist_free(&l);
	return 0;
}

int
cfg_cluster_entry(struct loader *ld, struct sect_vals *sv, const struct entry *e)
{
	struct strlist tmp = { NULL, 0 };
	int64_t ms;
	const PQconninfoOption *o;

	if (strcmp(e->key, "instances") == 0) {
		sv->instances = e;
		return check_instances(ld, e);
	} else if (strcmp(e->key, "discover_interval") == 0) {
		sv->discover_interval = e;
		return cfg_get_duration(ld, e, 1000, "1s", &ms);
	} else if (strcmp(e->key, "interval") == 0) {
		sv->interval = e;
		return cfg_get_duration(ld, e, 100, "100ms", &ms);
	} else if (strcmp(e->key, "fast_interval") == 0) {
		sv->fast_interval = e;
		return cfg_get_duration_off(ld, e, 100, "100ms", &ms);
	} else if (strcmp(e->key, "fast_for") == 0) {
		sv->fast_for = e;
		return cfg_get_duration(ld, e, 1, "1ms", &ms);
	} else if (strcmp(e->key, "exclude_users") == 0) {
		sv->exclude_users = e;
		if (cfg_get_list(ld, e, &tmp) == -1)
			return -1;
	} else if (strcmp(e->key, "password_command") == 0) {
		sv->password_command = e;
		if (cfg_get_command(ld, e, &tmp) == -1)
			return -1;
	} else if (strcmp(e->key, "log_command") == 0) {
		sv->log_command = e;
		if (cfg_get_command(ld, e, &tmp) == -1)
			return -1;
	} else if (strcmp(e->key, "log_interval") == 0) {
		sv->log_interval = e;
		return cfg_get_duration(ld, e, 1000, "1s", &ms);
	} else if (strcmp(e->key, "application_name") == 0 ||
	    strcmp(e->key, "fallback_application_name") == 0) {
		cfg_fail(ld, e->line, "key '%s': not allowed (sslhistd sets "
		    "application_name=sslhistd to recognise its own sessions)", e->key);
		return -1;
	} else if (strcmp(e->key, "hostaddr") == 0) {
		cfg_fail(ld, e->line, "key 'hostaddr': not allowed (sslhistd resolves "
		    "'host' itself without blocking and sets hostaddr; write an "
		    "address in 'host' or 'instances')");
		return -1;
	} else if ((o = pq_option(ld, e->key)) != NULL) {
		if (check_libpq_value(ld, e) == -1)
			return -1;
		if (strcmp(e->key, "password") == 0)
			ld->saw_password = true;
		if (conn_set(&sv->conn, &sv->nconn, e->key, e->value) == -1) {
			cfg_fail(ld, e->line, "out of memory");
			return -1;
		}
	} else {
		cfg_fail(ld, e->line, "key '%s': unknown (neither a libpq connection "
		    "keyword nor an sslhist key)", e->key);
		return -1;
	}
	strlist_free(&tmp);
	return 0;
}

static int
endpoint_add(struct cluster_cfg *c, const char *host, int port)
{
	struct endpoint *v;
	size_t i;

	for (i = 0; i < c->ninstances; i++)
		if (c->instances[i].port == port && strcmp(c->instances[i].host, host) == 0)
			return 1;
	v = realloc(c->instances, (c->ninstances + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	c->instances = v;
	if ((v[c->ninstances].host = strdup(host)) == NULL)
		return -1;
	v[c->ninstances++].port = port;
	return 0;
}

static int
resolve_instances(struct loader *ld, struct cluster_cfg *c, const struct entry *inst)
{
	const char *host = cluster_conn_get(c, "host");
	const char *ps = cluster_conn_get(c, "port");
	int port = ps ? atoi(ps) : DEFAULT_PGPORT;	/* checked already */
	struct strlist l = { NULL, 0 };
	char *h;
	int p, r = 0;
	size_t i;

	if (inst == NULL || strcmp(inst->value, "discover") == 0) {
		if (host == NULL && inst == NULL) {
			cfg_fail(ld, c->line, "cluster '%s': no 'host' and no 'instances'",
			    c->name);
			return -1;
		}
		if (host == NULL) {
			cfg_fail(ld, inst->line, "key 'instances': 'discover' needs the "
			    "cluster endpoint in 'host' (cluster '%s')", c->name);
			return -1;
		}
		c->discover = inst != NULL;
		r = endpoint_add(c, host, port);
	} else {
		(void)parse_list(inst->value, &l);	/* checked already */
		for (i = 0; i < l.n && r == 0; i++) {
			h = NULL;
			p = port;
			if (parse_hostport(l.v[i], &h, &p) != NULL)
				r = -1;
			else
				r = endpoint_add(c, h, p);
			if (r == 1)
				cfg_fail(ld, inst->line, "key 'instances': '%s' listed twice",
				    l.v[i]);
			free(h);
		}
		strlist_free(&l);
	}
	if (r == -1)
		cfg_fail(ld, inst ? inst->line : c->line, "out of memory");
	return r == 0 ? 0 : -1;
}

/* A value from the cluster, else from [defaults]. */
#define PICK(own, def, field) ((own)->field ? (own)->field : (def)->field)

int
cfg_build_cluster(struct loader *ld, struct config *cfg, struct cluster_cfg *c,
		  const struct sect_vals *def, const struct sect_vals *own)
{
	const struct entry *e;
	size_t i;

	for (i = 0; i < def->nconn; i++)
		if (conn_set(&c->conn, &c->nconn, def->conn[i].key, def->conn[i].value) == -1)
			goto nomem;
	for (i = 0; i < own->nconn; i++)
		if (conn_set(&c->conn, &c->nconn, own->conn[i].key, own->conn[i].value) == -1)
			goto nomem;
	/* libpq would default to "prefer", which silently accepts plain text. */
	if (cluster_conn_get(c, "sslmode") == NULL &&
	    conn_set(&c->conn, &c->nconn, "sslmode", "verify-full") == -1)
		goto nomem;
	if (resolve_instances(ld, c, PICK(own, def, instances)) == -1)
		return -1;

	c->discover_interval_ms = 5 * 60 * 1000;
	if ((e = PICK(own, def, discover_interval)) != NULL)
		(void)parse_duration_ms(e->value, &c->discover_interval_ms);
	c->interval_ms = cfg->interval_ms;
	if ((e = PICK(own, def, interval)) != NULL)
		(void)parse_duration_ms(e->value, &c->interval_ms);
	c->fast_interval_ms = cfg->fast_interval_ms;
	if ((e = PICK(own, def, fast_interval)) != NULL && strcmp(e->value, "off") == 0)
		c->fast_interval_ms = 0;
	else if (e != NULL)
		(void)parse_duration_ms(e->value, &c->fast_interval_ms);
	c->fast_for_ms = cfg->fast_for_ms;
	if ((e = PICK(own, def, fast_for)) != NULL)
		(void)parse_duration_ms(e->value, &c->fast_for_ms);
	if ((e = PICK(own, def, exclude_users)) != NULL) {
		if (cfg_get_list(ld, e, &c->exclude_users) == -1)
			return -1;
	} else {
		for (i = 0; i < cfg->exclude_users.n; i++)
			if (strlist_add(&c->exclude_users, cfg->exclude_users.v[i]) == -1)
				goto nomem;
	}
	if ((e = PICK(own, def, password_command)) != NULL &&
	    cfg_get_command(ld, e, &c->password_command) == -1)
		return -1;
	if ((e = PICK(own, def, log_command)) != NULL &&
	    cfg_get_command(ld, e, &c->log_command) == -1)
		return -1;
	c->log_interval_ms = 5 * 60 * 1000;
	if ((e = PICK(own, def, log_interval)) != NULL)
		(void)parse_duration_ms(e->value, &c->log_interval_ms);
	return 0;
nomem:
	cfg_fail(ld, c->line, "out of memory");
	return -1;
}

int
cfg_build_clusters(struct loader *ld, struct config *cfg, struct sect_vals *vals)
{
	static const struct sect_vals none;
	const struct sect_vals *def = &none;
	struct cluster_cfg *c;
	size_t i;

	for (i = 0; i < ld->nsects; i++)
		if (ld->sects[i].kind == SECT_DEFAULTS)
			def = &vals[i];
	for (i = 0; i < ld->nsects; i++) {
		if (ld->sects[i].kind != SECT_CLUSTER)
			continue;
		c = realloc(cfg->clusters, (cfg->nclusters + 1) * sizeof(*c));
		if (c == NULL) {
			cfg_fail(ld, ld->sects[i].line, "out of memory");
			return -1;
		}
		cfg->clusters = c;
		c = &cfg->clusters[cfg->nclusters++];
		memset(c, 0, sizeof(*c));
		c->line = ld->sects[i].line;
		if ((c->name = strdup(ld->sects[i].name)) == NULL) {
			cfg_fail(ld, c->line, "out of memory");
			return -1;
		}
		if (cfg_build_cluster(ld, cfg, c, def, &vals[i]) == -1)
			return -1;
	}
	return 0;
}
