/*
 * config_print.c: what `sslhistd --check` prints (config.h): every
 * setting in the units it can be written in, each cluster and how its
 * instances are found. Never a secret: passwords and libpq's other
 * secret keywords show as "(set)", commands as their program only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "aurora.h"
#include "config.h"
#include "ident.h"
#include "log.h"
#include "parse.h"

static void
print_endpoint(FILE *out, const struct endpoint *ep)
{
	char name[IDENT_INSTANCE_NAME_MAX];

	fputs(ident_instance_name(name, sizeof name, ep->host, ep->port), out);
}

static void
print_list(FILE *out, const char *label, const struct strlist *l)
{
	size_t i;

	fprintf(out, "%s", label);
	if (l->n == 0)
		fprintf(out, " (none)");
	for (i = 0; i < l->n; i++)
		fprintf(out, "%s%s", i ? ", " : " ", l->v[i]);
	fputc('\n', out);
}

/* Only the program: arguments may carry a token. */
static void
print_command(FILE *out, const char *indent, const char *label, const struct strlist *argv)
{
	if (argv->n == 0)
		fprintf(out, "%s%s (none)\n", indent, label);
	else if (argv->n == 1)
		fprintf(out, "%s%s %s\n", indent, label, argv->v[0]);
	else
		fprintf(out, "%s%s %s (and %zu arguments)\n", indent, label,
		    argv->v[0], argv->n - 1);
}

/* How the cluster's instances are found: discovered, listed, or the host. */
static void
print_instances(const struct cluster_cfg *c, FILE *out)
{
	const char *host = cluster_conn_get(c, "host");
	const char *port = cluster_conn_get(c, "port");
	char d[32], *pattern;
	size_t i;

	if (c->discover) {
		format_duration(c->discover_interval_ms, d, sizeof(d));
		pattern = aurora_instance_host(c->instances[0].host, "SERVER_ID");
		fprintf(out, "  instances: discover via ");
		print_endpoint(out, &c->instances[0]);
		fprintf(out, " every %s: each live instance that aurora_replica_status() names, "
		    "polled at %s:%d (not the endpoint itself; the endpoint alone where the "
		    "function does not exist)\n", d, pattern ? pattern : "SERVER_ID",
		    c->instances[0].port);
		free(pattern);
		return;
	}
	if (c->ninstances == 1 && host != NULL && strcmp(c->instances[0].host, host) == 0 &&
	    c->instances[0].port == (port ? atoi(port) : DEFAULT_PGPORT)) {
		fprintf(out, "  instances: the host itself, ");
		print_endpoint(out, &c->instances[0]);
		fputc('\n', out);
		return;
	}
	fprintf(out, "  instances: listed,");
	for (i = 0; i < c->ninstances; i++) {
		fputs(i ? ", " : " ", out);
		print_endpoint(out, &c->instances[i]);
	}
	fputc('\n', out);
}

static void
print_cluster(const struct cluster_cfg *c, FILE *out)
{
	PQconninfoOption *opts = PQconninfoParse("", NULL), *o;
	char d2[32];
	bool secret;
	size_t i;

	if (c->fronts != NULL)
		fprintf(out, "pooler %s\n  fronts cluster %s\n", c->name, c->fronts);
	else
		fprintf(out, "cluster %s\n", c->name);
	print_instances(c, out);
	format_duration(c->interval_ms, d2, sizeof(d2));
	fprintf(out, "  interval %s\n", d2);
	if (c->fast_interval_ms > 0) {
		format_duration(c->fast_interval_ms, d2, sizeof(d2));
		fprintf(out, "  fast_interval %s", d2);
		format_duration(c->fast_for_ms, d2, sizeof(d2));
		fprintf(out, ", fast_for %s\n", d2);
	} else {
		fprintf(out, "  fast_interval off\n");
	}
	print_list(out, "  exclude_users", &c->exclude_users);
	for (i = 0; i < c->nconn; i++) {
		secret = strcmp(c->conn[i].key, "password") == 0;
		for (o = opts; o != NULL && o->keyword != NULL; o++)
			if (strcmp(o->keyword, c->conn[i].key) == 0 && o->dispchar[0] == '*')
				secret = true;
		if (secret)
			fprintf(out, "  %s (set)\n", c->conn[i].key);
		else
			fprintf(out, "  %s %s\n", c->conn[i].key, c->conn[i].value);
	}
	if (c->password_command.n > 0)
		print_command(out, "  ", "password_command", &c->password_command);
	if (c->log_command.n > 0) {
		char li[32];

		print_command(out, "  ", "log_command", &c->log_command);
		format_duration(c->log_interval_ms, li, sizeof(li));
		fprintf(out, "  log_interval %s\n", li);
	}
	if (opts != NULL)
		PQconninfoFree(opts);
}

void
config_print(const struct config *cfg, FILE *out)
{
	char a[32], b[32], c[32], d[32], e[32];
	size_t i;

	fprintf(out, "configuration %s\n", cfg->path);
	fprintf(out, "database %s\n", cfg->database);
	format_duration(cfg->interval_ms, a, sizeof(a));
	format_duration(cfg->connect_timeout_ms, b, sizeof(b));
	format_duration(cfg->query_timeout_ms, c, sizeof(c));
	format_duration(cfg->max_backoff_ms, d, sizeof(d));
	format_duration(cfg->retention_ms, e, sizeof(e));
	fprintf(out, "interval %s, jitter %g%%, connect_timeout %s, query_timeout %s, "
	    "max_backoff %s, retention %s\n", a, cfg->jitter * 100, b, c, d, e);
	print_list(out, "exclude_users", &cfg->exclude_users);
	print_list(out, "exclude_databases", &cfg->exclude_databases);
	print_command(out, "", "on_non_ssl", &cfg->on_non_ssl);
	print_command(out, "", "on_weak_tls", &cfg->on_weak_tls);
	print_command(out, "", "on_new_client", &cfg->on_new_client);
	format_duration(cfg->hook_timeout_ms, a, sizeof(a));
	fprintf(out, "hook_timeout %s, hook_max_running %ld, hook_retry", a,
	    cfg->hook_max_running);
	if (cfg->n_hook_retry == 0)
		fprintf(out, " (none)");
	for (i = 0; i < cfg->n_hook_retry; i++) {
		format_duration(cfg->hook_retry_ms[i], a, sizeof(a));
		fprintf(out, "%s%s", i ? ", " : " ", a);
	}
	fprintf(out, "\nlog_level %s\n", cfg->log_level == LVL_ERROR ? "error" :
	    cfg->log_level == LVL_WARNING ? "warning" :
	    cfg->log_level == LVL_INFO ? "info" : "debug");
	if (cfg->metrics_on) {
		char la[80];

		fprintf(out, "metrics_listen %s\n",
		    listen_format(&cfg->metrics_listen, la, sizeof la));
	}
	fprintf(out, "%zu cluster%s\n", cfg->nclusters, cfg->nclusters == 1 ? "" : "s");
	for (i = 0; i < cfg->nclusters; i++)
		print_cluster(&cfg->clusters[i], out);
	if (cfg->npoolers > 0)
		fprintf(out, "%zu pooler%s\n", cfg->npoolers, cfg->npoolers == 1 ? "" : "s");
	for (i = 0; i < cfg->npoolers; i++)
		print_cluster(&cfg->poolers[i], out);
}
