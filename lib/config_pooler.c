/*
 * config_pooler.c: [pooler NAME] sections (config_int.h, docs/CONTRACT.md
 * section 2).
 *
 * A pooler is a PgBouncer in front of one cluster. Its libpq keywords
 * reach the pooler's admin console, so it is built like a cluster
 * ([defaults] overlaid with its own keys, sslmode=verify-full unless
 * written) with three differences: `cluster = NAME` names the [cluster]
 * it fronts and is required; its one endpoint is its host:port
 * (`instances` and `discover_interval` make no sense for a console); and
 * its dbname is its own or `pgbouncer`, never a [defaults] dbname, which
 * is meant for the database servers.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

int
cfg_pooler_entry(struct loader *ld, struct sect_vals *sv, const struct entry *e)
{
	if (strcmp(e->key, "cluster") == 0) {
		if (e->value[0] == '\0') {
			cfg_fail(ld, e->line, "key 'cluster': empty (name the [cluster NAME] "
			    "this pooler fronts)");
			return -1;
		}
		sv->pooler_cluster = e;
		return 0;
	}
	if (strcmp(e->key, "instances") == 0 || strcmp(e->key, "discover_interval") == 0) {
		cfg_fail(ld, e->line, "key '%s': not allowed in a [pooler] section (a pooler "
		    "is one admin console at its host and port)", e->key);
		return -1;
	}
	return cfg_cluster_entry(ld, sv, e);
}

static bool
own_key(const struct sect_vals *own, const char *key)
{
	for (size_t i = 0; i < own->nconn; i++)
		if (strcmp(own->conn[i].key, key) == 0)
			return true;
	return false;
}

static const struct cluster_cfg *
find_cluster(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nclusters; i++)
		if (strcmp(cfg->clusters[i].name, name) == 0)
			return &cfg->clusters[i];
	return NULL;
}

static bool
lists_endpoint(const struct cluster_cfg *c, const struct endpoint *e)
{
	for (size_t i = 0; i < c->ninstances; i++)
		if (c->instances[i].port == e->port && strcmp(c->instances[i].host, e->host) == 0)
			return true;
	return false;
}

static int
build_pooler(struct loader *ld, struct config *cfg, struct cluster_cfg *p,
	     const struct sect_vals *def, const struct sect_vals *own)
{
	struct sect_vals mine = *own;
	static char dbname_key[] = "dbname", dbname_value[] = "pgbouncer";
	struct conn_kv *kv = NULL;
	const struct cluster_cfg *fronted;
	int r;

	if (own->pooler_cluster == NULL) {
		cfg_fail(ld, p->line, "pooler '%s': key 'cluster' missing (the [cluster NAME] "
		    "it fronts)", p->name);
		return -1;
	}
	if (find_cluster(cfg, own->pooler_cluster->value) == NULL) {
		cfg_fail(ld, own->pooler_cluster->line, "key 'cluster': no [cluster %s] in "
		    "this file (pooler '%s')", own->pooler_cluster->value, p->name);
		return -1;
	}
	if (!own_key(own, "host") && !own_key(def, "host")) {
		cfg_fail(ld, p->line, "pooler '%s': no 'host' (the address of its admin "
		    "console)", p->name);
		return -1;
	}
	if ((p->fronts = strdup(own->pooler_cluster->value)) == NULL)
		goto nomem;
	fronted = find_cluster(cfg, p->fronts);
	if (!own_key(own, "dbname")) {
		/* The console's database, over any [defaults] dbname. */
		if ((kv = calloc(own->nconn + 1, sizeof(*kv))) == NULL)
			goto nomem;
		if (own->nconn)
			memcpy(kv, own->conn, own->nconn * sizeof(*kv));
		kv[own->nconn] = (struct conn_kv){ dbname_key, dbname_value };
		mine.conn = kv;
		mine.nconn = own->nconn + 1;
	}
	r = cfg_build_cluster(ld, cfg, p, def, &mine);
	free(kv);			/* the strings are own's, or the statics */
	if (r == 0 && lists_endpoint(fronted, &p->instances[0])) {
		cfg_fail(ld, p->line, "pooler '%s': %s:%d is an instance of cluster '%s', not "
		    "a pooler's admin console", p->name, p->instances[0].host,
		    p->instances[0].port, p->fronts);
		return -1;
	}
	return r;
nomem:
	cfg_fail(ld, p->line, "out of memory");
	return -1;
}

int
cfg_build_poolers(struct loader *ld, struct config *cfg, struct sect_vals *vals)
{
	static const struct sect_vals none;
	const struct sect_vals *def = &none;
	struct cluster_cfg *p;
	size_t i;

	for (i = 0; i < ld->nsects; i++)
		if (ld->sects[i].kind == SECT_DEFAULTS)
			def = &vals[i];
	for (i = 0; i < ld->nsects; i++) {
		if (ld->sects[i].kind != SECT_POOLER)
			continue;
		p = realloc(cfg->poolers, (cfg->npoolers + 1) * sizeof(*p));
		if (p == NULL) {
			cfg_fail(ld, ld->sects[i].line, "out of memory");
			return -1;
		}
		cfg->poolers = p;
		p = &cfg->poolers[cfg->npoolers++];
		memset(p, 0, sizeof(*p));
		p->line = ld->sects[i].line;
		if ((p->name = strdup(ld->sects[i].name)) == NULL) {
			cfg_fail(ld, p->line, "out of memory");
			return -1;
		}
		if (build_pooler(ld, cfg, p, def, &vals[i]) == -1)
			return -1;
	}
	return 0;
}
