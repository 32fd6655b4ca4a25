/*
 * config.c: the configuration model of config.h: its [sslhistd] keys as
 * one typed table with their docs/CONTRACT.md section 2 defaults, the value checks
 * both kinds of section share, and config_load()/config_free().
 *
 * config_load() runs the steps of config_int.h: read the file
 * (config_read.c), validate every entry in file order (the [sslhistd]
 * ones here, the others in config_cluster.c), then build the clusters.
 * Defaults are applied by parsing the table's default text like a written
 * value, so a default can never be one a file could not write.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "config_int.h"
#include "log.h"

/* ---- validating values ---- */

#define BAD(ld, e, what, why) \
	cfg_fail((ld), (e)->line, "key '%s': bad %s '%s' (%s)", (e)->key, (what), (e)->value, (why))

int
cfg_get_duration(struct loader *ld, const struct entry *e, int64_t min_ms,
		 const char *min_text, int64_t *out)
{
	const char *why = parse_duration_ms(e->value, out);

	if (why != NULL) {
		BAD(ld, e, "duration", why);
		return -1;
	}
	if (*out < min_ms && min_ms == 1) {
		cfg_fail(ld, e->line, "key '%s': %s must be above 0", e->key, e->value);
		return -1;
	}
	if (*out < min_ms) {
		cfg_fail(ld, e->line, "key '%s': %s must be at least %s", e->key,
		    e->value, min_text);
		return -1;
	}
	return 0;
}

int
cfg_get_duration_off(struct loader *ld, const struct entry *e, int64_t min_ms,
		     const char *min_text, int64_t *out)
{
	if (strcmp(e->value, "off") == 0) {
		*out = 0;
		return 0;
	}
	return cfg_get_duration(ld, e, min_ms, min_text, out);
}

int
cfg_get_list(struct loader *ld, const struct entry *e, struct strlist *out)
{
	struct strlist l = { NULL, 0 };
	const char *why = parse_list(e->value, &l);

	if (why != NULL) {
		BAD(ld, e, "list", why);
		return -1;
	}
	strlist_free(out);
	*out = l;
	return 0;
}

/* An empty value means no command (so a cluster can drop a default). The
 * value is not echoed: a command line may carry a token. */
int
cfg_get_command(struct loader *ld, const struct entry *e, struct strlist *out)
{
	struct strlist argv = { NULL, 0 };
	const char *why;
	const char *p = e->value;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0' && (why = parse_command(e->value, &argv)) != NULL) {
		cfg_fail(ld, e->line, "key '%s': bad command (%s)", e->key, why);
		return -1;
	}
	strlist_free(out);
	*out = argv;
	return 0;
}

/* ---- [sslhistd] ---- */

enum vtype { V_PATH, V_DURATION, V_PERCENT, V_LIST, V_COMMAND, V_INT, V_DURLIST,
	     V_LOGLEVEL, V_DURATION_OFF, V_LISTEN };

/* The [sslhistd] keys with their documented defaults (docs/CONTRACT.md section 2), parsed like written values. */
static const struct daemon_key {
	const char *name;
	enum vtype type;
	size_t off;
	const char *def;
	int64_t min;		/* V_DURATION: ms; V_INT: lowest */
	int64_t max;		/* V_INT: highest; V_PERCENT: in percent */
	const char *min_text;
} daemon_keys[] = {
	{ "database", V_PATH, offsetof(struct config, database), NULL, 0, 0, NULL },
	{ "interval", V_DURATION, offsetof(struct config, interval_ms), "30s", 100, 0, "100ms" },
	{ "jitter", V_PERCENT, offsetof(struct config, jitter), "10%", 0, 50, NULL },
	{ "connect_timeout", V_DURATION, offsetof(struct config, connect_timeout_ms), "10s", 1, 0, "1ms" },
	{ "query_timeout", V_DURATION, offsetof(struct config, query_timeout_ms), "10s", 1, 0, "1ms" },
	{ "max_backoff", V_DURATION, offsetof(struct config, max_backoff_ms), "5m", 1, 0, "1ms" },
	{ "exclude_users", V_LIST, offsetof(struct config, exclude_users), "rdsadmin", 0, 0, NULL },
	{ "exclude_databases", V_LIST, offsetof(struct config, exclude_databases), "rdsadmin", 0, 0, NULL },
	{ "retention", V_DURATION, offsetof(struct config, retention_ms), "400d", 1, 0, "1ms" },
	{ "on_non_ssl", V_COMMAND, offsetof(struct config, on_non_ssl), "", 0, 0, NULL },
	{ "on_weak_tls", V_COMMAND, offsetof(struct config, on_weak_tls), "", 0, 0, NULL },
	{ "on_new_client", V_COMMAND, offsetof(struct config, on_new_client), "", 0, 0, NULL },
	{ "hook_timeout", V_DURATION, offsetof(struct config, hook_timeout_ms), "30s", 1, 0, "1ms" },
	{ "hook_max_running", V_INT, offsetof(struct config, hook_max_running), "4", 1, 64, NULL },
	{ "hook_retry", V_DURLIST, offsetof(struct config, hook_retry_ms), "30s, 2m, 10m, 1h, 6h", 1, 0, NULL },
	{ "log_level", V_LOGLEVEL, offsetof(struct config, log_level), "info", 0, 0, NULL },
	{ "fast_interval", V_DURATION_OFF, offsetof(struct config, fast_interval_ms), "1s", 100, 0, "100ms" },
	{ "fast_for", V_DURATION, offsetof(struct config, fast_for_ms), "10m", 1, 0, "1ms" },
	{ "metrics_listen", V_LISTEN, offsetof(struct config, metrics_listen), NULL, 0, 0, NULL },
};

static int
set_daemon_value(struct loader *ld, struct config *cfg, const struct daemon_key *k,
		 const struct entry *e)
{
	char *base = (char *)cfg;
	const char *why;
	double pct;
	long lv;
	int lvl;
	int64_t *ms;
	size_t n, i;

	switch (k->type) {
	case V_PATH:
		if (e->value[0] == '\0') {
			cfg_fail(ld, e->line, "key '%s': empty path", e->key);
			return -1;
		}
		free(cfg->database);
		if ((cfg->database = strdup(e->value)) == NULL) {
			cfg_fail(ld, e->line, "out of memory");
			return -1;
		}
		return 0;
	case V_DURATION:
		return cfg_get_duration(ld, e, k->min, k->min_text, (int64_t *)(void *)(base + k->off));
	case V_DURATION_OFF:
		return cfg_get_duration_off(ld, e, k->min, k->min_text,
					    (int64_t *)(void *)(base + k->off));
	case V_PERCENT:
		if ((why = parse_percent(e->value, &pct)) != NULL) {
			BAD(ld, e, "percentage", why);
			return -1;
		}
		if (pct * 100 > (double)k->max + 1e-9) {
			cfg_fail(ld, e->line, "key '%s': %s is above %d%%", e->key, e->value,
			    (int)k->max);
			return -1;
		}
		cfg->jitter = pct;
		return 0;
	case V_LIST:
		return cfg_get_list(ld, e, (struct strlist *)(void *)(base + k->off));
	case V_COMMAND:
		return cfg_get_command(ld, e, (struct strlist *)(void *)(base + k->off));
	case V_INT:
		if ((why = parse_int_range(e->value, (long)k->min, (long)k->max, &lv)) != NULL) {
			cfg_fail(ld, e->line, "key '%s': bad number '%s' (%s; %ld..%ld)",
			    e->key, e->value, why, (long)k->min, (long)k->max);
			return -1;
		}
		cfg->hook_max_running = lv;
		return 0;
	case V_DURLIST:
		if ((why = parse_duration_list(e->value, &ms, &n)) != NULL) {
			BAD(ld, e, "duration list", why);
			return -1;
		}
		for (i = 0; i < n; i++) {
			if (ms[i] <= 0) {
				free(ms);
				cfg_fail(ld, e->line, "key '%s': a retry delay must be above 0",
				    e->key);
				return -1;
			}
		}
		free(cfg->hook_retry_ms);
		cfg->hook_retry_ms = ms;
		cfg->n_hook_retry = n;
		return 0;
	case V_LOGLEVEL:
		if ((lvl = log_level_parse(e->value)) < 0) {
			cfg_fail(ld, e->line, "key '%s': bad level '%s' (error, warning, "
			    "info or debug)", e->key, e->value);
			return -1;
		}
		cfg->log_level = lvl;
		return 0;
	case V_LISTEN:
		if ((why = listen_parse(e->value, &cfg->metrics_listen)) != NULL) {
			BAD(ld, e, "listen address", why);
			return -1;
		}
		cfg->metrics_on = true;
		return 0;
	}
	return -1;
}

static int
daemon_entry(struct loader *ld, struct config *cfg, const struct entry *e)
{
	size_t i;

	for (i = 0; i < sizeof(daemon_keys) / sizeof(daemon_keys[0]); i++)
		if (strcmp(daemon_keys[i].name, e->key) == 0)
			return set_daemon_value(ld, cfg, &daemon_keys[i], e);
	cfg_fail(ld, e->line, "key '%s': unknown in [sslhistd]", e->key);
	return -1;
}

static int
daemon_defaults(struct loader *ld, struct config *cfg)
{
	const char *sd = getenv("STATE_DIRECTORY");
	struct entry e;
	size_t i, len;

	for (i = 0; i < sizeof(daemon_keys) / sizeof(daemon_keys[0]); i++) {
		if (daemon_keys[i].def == NULL)
			continue;
		e.key = (char *)(uintptr_t)daemon_keys[i].name;
		e.value = (char *)(uintptr_t)daemon_keys[i].def;
		e.line = 0;
		e.sect = 0;
		if (set_daemon_value(ld, cfg, &daemon_keys[i], &e) == -1)
			return -1;
	}
	/* systemd passes a colon list when StateDirectory= names several. */
	if (sd != NULL && sd[0] != '\0' && sd[0] != ':') {
		len = strcspn(sd, ":");
		if (asprintf(&cfg->database, "%.*s/history.db", (int)len, sd) < 0)
			cfg->database = NULL;
	} else {
		cfg->database = strdup(CONFIG_DEFAULT_DB);
	}
	if (cfg->database == NULL) {
		cfg_fail(ld, 0, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- the whole file ---- */

static int
validate_entries(struct loader *ld, struct config *cfg, struct sect_vals *vals)
{
	size_t i;
	const struct entry *e;
	int r;

	for (i = 0; i < ld->nentries; i++) {
		e = &ld->entries[i];
		if (ld->sects[e->sect].kind == SECT_DAEMON)
			r = daemon_entry(ld, cfg, e);
		else if (ld->sects[e->sect].kind == SECT_POOLER)
			r = cfg_pooler_entry(ld, &vals[e->sect], e);
		else
			r = cfg_cluster_entry(ld, &vals[e->sect], e);
		if (r == -1)
			return -1;
	}
	return 0;
}

static void
warn_password(const struct loader *ld)
{
	struct stat st;

	if (!ld->saw_password || fstat(fileno(ld->fp), &st) == -1)
		return;
	if (st.st_mode & (S_IRGRP | S_IROTH))
		log_warnx("%s: holds a 'password' and is readable by group or "
		    "others; make it readable by its owner only, or use "
		    "password_command or a passfile", ld->path);
}

static void
loader_free(struct loader *ld)
{
	size_t i;

	for (i = 0; i < ld->nsects; i++)
		free(ld->sects[i].name);
	free(ld->sects);
	for (i = 0; i < ld->nentries; i++) {
		free(ld->entries[i].key);
		free(ld->entries[i].value);
	}
	free(ld->entries);
	free(ld->linebuf);
	if (ld->pqopts != NULL)
		PQconninfoFree(ld->pqopts);
	if (ld->fp != NULL)
		fclose(ld->fp);
}

static int
parse_file(struct loader *ld, struct config *cfg)
{
	struct sect_vals *vals;
	int r;

	if (cfg_read(ld) == -1 || daemon_defaults(ld, cfg) == -1)
		return -1;
	vals = calloc(ld->nsects ? ld->nsects : 1, sizeof(*vals));
	if (vals == NULL) {
		cfg_fail(ld, 0, "out of memory");
		return -1;
	}
	r = validate_entries(ld, cfg, vals);
	if (r == 0)
		r = cfg_build_clusters(ld, cfg, vals);
	if (r == 0)
		r = cfg_build_poolers(ld, cfg, vals);
	for (size_t i = 0; i < ld->nsects; i++)
		cfg_conn_free(vals[i].conn, vals[i].nconn);
	free(vals);
	if (r == 0)
		warn_password(ld);
	return r;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct loader ld;
	struct config *cfg;
	char *pqerr = NULL;

	memset(&ld, 0, sizeof(ld));
	ld.path = path;
	ld.err = err;
	ld.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL || (cfg->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		free(cfg);
		return NULL;
	}
	/* The keywords PQconndefaults() lists, without its reading of the
	 * environment and service files. */
	if ((ld.pqopts = PQconninfoParse("", &pqerr)) == NULL) {
		snprintf(err, errlen, "%s: cannot list libpq keywords: %s", path,
		    pqerr ? pqerr : "out of memory");
		PQfreemem(pqerr);
		config_free(cfg);
		return NULL;
	}
	if ((ld.fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		loader_free(&ld);
		config_free(cfg);
		return NULL;
	}
	if (parse_file(&ld, cfg) == -1) {
		config_free(cfg);
		cfg = NULL;
	}
	loader_free(&ld);
	return cfg;
}

void
config_free(struct config *cfg)
{
	size_t i;
	struct cluster_cfg *c;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nclusters + cfg->npoolers; i++) {
		c = i < cfg->nclusters ? &cfg->clusters[i] : &cfg->poolers[i - cfg->nclusters];
		free(c->name);
		free(c->fronts);
		cfg_conn_free(c->conn, c->nconn);
		for (size_t j = 0; j < c->ninstances; j++)
			free(c->instances[j].host);
		free(c->instances);
		strlist_free(&c->exclude_users);
		strlist_free(&c->password_command);
		strlist_free(&c->log_command);
	}
	free(cfg->clusters);
	free(cfg->poolers);
	free(cfg->path);
	free(cfg->database);
	strlist_free(&cfg->exclude_users);
	strlist_free(&cfg->exclude_databases);
	strlist_free(&cfg->on_non_ssl);
	strlist_free(&cfg->on_weak_tls);
	strlist_free(&cfg->on_new_client);
	free(cfg->hook_retry_ms);
	free(cfg);
}

const char *
cluster_conn_get(const struct cluster_cfg *c, const char *key)
{
	size_t i;

	for (i = 0; i < c->nconn; i++)
		if (strcmp(c->conn[i].key, key) == 0)
			return c->conn[i].value;
	return NULL;
}

