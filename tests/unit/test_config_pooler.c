/*
 * test_config_pooler.c: [pooler NAME] sections (lib/config_pooler.c) on
 * real files: [defaults] apply, the console's dbname, `cluster` required
 * and checked, keys a console cannot have, errors with FILE:LINE and key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char tmpdir[] = "/tmp/test_config_pooler.XXXXXX";
static char path[256];
static char err[1024];

static struct config *
load(const char *text)
{
	FILE *f;
	struct config *cfg;

	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	chmod(path, 0600);
	cfg = config_load(path, err, sizeof(err));
	if (cfg == NULL)
		fprintf(stderr, "  config_load: %s\n", err);
	return cfg;
}

/* The error of a file that must not load: "PATH:LINE: ..." less PATH. */
static const char *
error_of(const char *text)
{
	struct config *cfg = load(text);
	size_t n = strlen(path);

	if (cfg != NULL) {
		config_free(cfg);
		return "(loaded)";
	}
	return strncmp(err, path, n) == 0 ? err + n : err;
}

static void
test_pooler_built(void)
{
	struct config *cfg = load("[defaults]\nuser = monitor\ndbname = postgres\n"
				  "sslmode = verify-full\n"
				  "[cluster main]\nhost = db.example\n"
				  "[pooler pb1]\nhost = 10.0.0.9\nport = 6432\ncluster = main\n"
				  "sslmode = disable\ninterval = 5s\n");
	const struct cluster_cfg *p;

	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK_INT(cfg->nclusters, 1);
	CHECK_INT(cfg->npoolers, 1);
	p = &cfg->poolers[0];
	CHECK_STR(p->name, "pb1");
	CHECK_STR(p->fronts, "main");
	CHECK_STR(cluster_conn_get(p, "user"), "monitor");	/* [defaults] */
	CHECK_STR(cluster_conn_get(p, "dbname"), "pgbouncer");	/* not [defaults]' */
	CHECK_STR(cluster_conn_get(p, "sslmode"), "disable");	/* its own */
	CHECK_INT(p->ninstances, 1);
	CHECK_STR(p->instances[0].host, "10.0.0.9");
	CHECK_INT(p->instances[0].port, 6432);
	CHECK_INT(p->interval_ms, 5000);
	CHECK(cfg->clusters[0].fronts == NULL);
	CHECK_STR(cluster_conn_get(&cfg->clusters[0], "dbname"), "postgres");
	config_free(cfg);

	/* Its own dbname wins; sslmode defaults to verify-full as for clusters. */
	cfg = load("[cluster main]\nhost = db\n[pooler p]\nhost = pb\ncluster = main\n"
		   "dbname = console\n");
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_STR(cluster_conn_get(&cfg->poolers[0], "dbname"), "console");
		CHECK_STR(cluster_conn_get(&cfg->poolers[0], "sslmode"), "verify-full");
		config_free(cfg);
	}
}

static void
test_pooler_errors(void)
{
	CHECK_STR(error_of("[cluster main]\nhost = db\n[pooler pb1]\nhost = pb\n"),
		  ":3: pooler 'pb1': key 'cluster' missing (the [cluster NAME] it fronts)");
	CHECK_STR(error_of("[cluster main]\nhost = db\n[pooler pb1]\nhost = pb\n"
			   "cluster = nosuch\n"),
		  ":5: key 'cluster': no [cluster nosuch] in this file (pooler 'pb1')");
	CHECK_STR(error_of("[cluster main]\nhost = db\n[pooler pb1]\nhost = pb\n"
			   "cluster = main\ninstances = discover\n"),
		  ":6: key 'instances': not allowed in a [pooler] section (a pooler is one "
		  "admin console at its host and port)");
	CHECK_STR(error_of("[cluster main]\nhost = db\n[pooler pb1]\nhost = pb\n"
			   "cluster = main\n[pooler pb1]\n"),
		  ":6: duplicate pooler 'pb1' (first at line 3)");
	CHECK_STR(error_of("[cluster main]\nhost = db\n[pooler]\n"),
		  ":3: section [pooler]: a pooler needs a name of 1 to 63 letters, digits, "
		  "'.', '_' or '-'");
	CHECK_STR(error_of("[cluster main]\nhost = db\n[pooler p]\ncluster = main\n"
			   "bogus = 1\n"),
		  ":5: key 'bogus': unknown (neither a libpq connection keyword nor an sslhist key)");
	CHECK_STR(error_of("[cluster main]\nhost = db\n[pooler p]\ncluster = main\n"),
		  ":3: pooler 'p': no 'host' (the address of its admin console)");
	CHECK_STR(error_of("[cluster main]\nhost = db\n[pooler p]\ncluster = main\nhost = db\n"
			   "port = 5432\n"),
		  ":3: pooler 'p': db:5432 is an instance of cluster 'main', not a pooler's admin "
		  "console");
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_pooler_built();
	test_pooler_errors();
	unlink(path);
	rmdir(tmpdir);
	return check_done();
}
