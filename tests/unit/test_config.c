/*
 * test_config.c: config_load() on real files written to a temporary
 * directory: defaults, every key, override rules, each kind of error with
 * FILE:LINE and key, long lines, continuation lines, the password warning
 * and what --check prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "log.h"

static char tmpdir[] = "/tmp/test_config.XXXXXX";
static char path[256];
static char err[1024];

static const char *
write_conf(const char *name, const char *text, mode_t mode)
{
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	chmod(path, mode);
	return path;
}

static struct config *
load(const char *text)
{
	struct config *cfg = config_load(write_conf("t.conf", text, 0600), err, sizeof(err));

	if (cfg == NULL)
		fprintf(stderr, "  config_load: %s\n", err);
	return cfg;
}

static const struct cluster_cfg *
cluster(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; cfg != NULL && i < cfg->nclusters; i++)
		if (strcmp(cfg->clusters[i].name, name) == 0)
			return &cfg->clusters[i];
	fprintf(stderr, "  no cluster %s\n", name);
	return NULL;
}

static char *
joined(const struct strlist *l)
{
	static char buf[1024];
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < l->n; i++) {
		if (i > 0)
			strcat(buf, "|");
		strcat(buf, l->v[i]);
	}
	return buf;
}

static void
test_defaults(void)
{
	struct config *cfg;

	unsetenv("STATE_DIRECTORY");
	cfg = load("# nothing but a comment\n; and another\n[sslhistd]\n");
	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK_STR(cfg->database, CONFIG_DEFAULT_DB);
	CHECK_INT(cfg->interval_ms, 30000);
	CHECK(cfg->jitter > 0.0999 && cfg->jitter < 0.1001);
	CHECK_INT(cfg->connect_timeout_ms, 10000);
	CHECK_INT(cfg->query_timeout_ms, 10000);
	CHECK_INT(cfg->max_backoff_ms, 300000);
	CHECK_STR(joined(&cfg->exclude_users), "rdsadmin");
	CHECK_STR(joined(&cfg->exclude_databases), "rdsadmin");
	CHECK_INT(cfg->retention_ms, 400LL * 86400000);
	CHECK_INT(cfg->on_non_ssl.n, 0);
	CHECK_INT(cfg->on_weak_tls.n, 0);
	CHECK_INT(cfg->on_new_client.n, 0);
	CHECK_INT(cfg->hook_timeout_ms, 30000);
	CHECK_INT(cfg->hook_max_running, 4);
	CHECK_INT(cfg->n_hook_retry, 5);
	if (cfg->n_hook_retry == 5) {
		CHECK_INT(cfg->hook_retry_ms[0], 30000);
		CHECK_INT(cfg->hook_retry_ms[1], 120000);
		CHECK_INT(cfg->hook_retry_ms[2], 600000);
		CHECK_INT(cfg->hook_retry_ms[3], 3600000);
		CHECK_INT(cfg->hook_retry_ms[4], 21600000);
	}
	CHECK_INT(cfg->log_level, LVL_INFO);
	CHECK_INT(cfg->nclusters, 0);
	CHECK_STR(cfg->path, path);
	config_free(cfg);

	/* An empty file is a valid, empty configuration. */
	cfg = load("");
	CHECK(cfg != NULL);
	config_free(cfg);

	setenv("STATE_DIRECTORY", "/var/lib/sslhist-state:/var/lib/other", 1);
	cfg = load("[sslhistd]\n");
	CHECK(cfg != NULL);
	if (cfg != NULL)
		CHECK_STR(cfg->database, "/var/lib/sslhist-state/history.db");
	config_free(cfg);
	/* A written database wins over $STATE_DIRECTORY. */
	cfg = load("[sslhistd]\ndatabase = /srv/h.db\n");
	CHECK(cfg != NULL);
	if (cfg != NULL)
		CHECK_STR(cfg->database, "/srv/h.db");
	config_free(cfg);
	unsetenv("STATE_DIRECTORY");
}

static void
test_all_keys(void)
{
	struct config *cfg = load(
	    "[sslhistd]\n"
	    "database = /tmp/x/history.db\n"
	    "interval = 100ms\n"
	    "jitter = 50%\n"
	    "connect_timeout = 3s\n"
	    "query_timeout = 4s   ; inline comment\n"
	    "max_backoff = 2m\n"
	    "exclude_users = rdsadmin, batch ,etl\n"
	    "exclude_databases =\n"
	    "retention = 30d\n"
	    "on_non_ssl = /usr/local/bin/page --team \"db ops\" $(touch x)\n"
	    "on_weak_tls = /bin/true\n"
	    "on_new_client = /usr/bin/logger -t sslhist\n"
	    "hook_timeout = 1m\n"
	    "hook_max_running = 64\n"
	    "hook_retry = 1s, 2s\n"
	    "log_level = debug\n");

	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK_STR(cfg->database, "/tmp/x/history.db");
	CHECK_INT(cfg->interval_ms, 100);
	CHECK(cfg->jitter > 0.4999 && cfg->jitter < 0.5001);
	CHECK_INT(cfg->connect_timeout_ms, 3000);
	CHECK_INT(cfg->query_timeout_ms, 4000);
	CHECK_INT(cfg->max_backoff_ms, 120000);
	CHECK_STR(joined(&cfg->exclude_users), "rdsadmin|batch|etl");
	CHECK_INT(cfg->exclude_databases.n, 0);
	CHECK_INT(cfg->retention_ms, 30LL * 86400000);
	CHECK_STR(joined(&cfg->on_non_ssl), "/usr/local/bin/page|--team|db ops|$(touch|x)");
	CHECK_STR(joined(&cfg->on_weak_tls), "/bin/true");
	CHECK_STR(joined(&cfg->on_new_client), "/usr/bin/logger|-t|sslhist");
	CHECK_INT(cfg->hook_timeout_ms, 60000);
	CHECK_INT(cfg->hook_max_running, 64);
	CHECK_INT(cfg->n_hook_retry, 2);
	CHECK_INT(cfg->log_level, LVL_DEBUG);
	config_free(cfg);

	/* An empty hook_retry means: never retry. */
	cfg = load("[sslhistd]\nhook_retry =\njitter = 0%\n");
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_INT(cfg->n_hook_retry, 0);
		CHECK(cfg->jitter == 0.0);
	}
	config_free(cfg);
}

static void
test_clusters(void)
{
	const struct cluster_cfg *c;
	struct config *cfg = load(
	    "[sslhistd]\n"
	    "interval = 20s\n"
	    "exclude_users = rdsadmin\n"
	    "\n"
	    "[defaults]\n"
	    "user = monitor\n"
	    "dbname = postgres\n"
	    "port = 5433\n"
	    "connect_timeout = 5\n"
	    "password_command = /usr/local/bin/token --region eu-west-1\n"
	    "log_command = /usr/local/libexec/sslhist-rds-log --since-env\n"
	    "\n"
	    "[cluster plain]\n"
	    "host = db.example.internal\n"
	    "\n"
	    "[cluster own]\n"
	    "host = own.example.internal\n"
	    "port = 6000\n"
	    "user = other\n"
	    "sslmode = require\n"
	    "interval = 5s\n"
	    "exclude_users = a, b\n"
	    "password_command =\n"
	    "log_interval = 90s\n"
	    "password = secret\n"
	    "\n"
	    "[cluster list]\n"
	    "instances = i1, i2:7000, [::1]:7001, [fe80::2]\n"
	    "\n"
	    "[cluster aurora-1]\n"
	    "host = prod.cluster-abc.eu-west-1.rds.amazonaws.com\n"
	    "instances = discover\n"
	    "discover_interval = 1m\n");

	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK_INT(cfg->nclusters, 4);

	if ((c = cluster(cfg, "plain")) != NULL) {
		CHECK_INT(c->line, 13);
		CHECK_STR(cluster_conn_get(c, "sslmode"), "verify-full");
		CHECK_STR(cluster_conn_get(c, "user"), "monitor");
		CHECK_STR(cluster_conn_get(c, "dbname"), "postgres");
		CHECK_STR(cluster_conn_get(c, "connect_timeout"), "5");
		CHECK_STR(cluster_conn_get(c, "application_name"), NULL);
		CHECK_STR(cluster_conn_get(c, "password"), NULL);
		CHECK(!c->discover);
		CHECK_INT(c->ninstances, 1);
		if (c->ninstances == 1) {
			CHECK_STR(c->instances[0].host, "db.example.internal");
			CHECK_INT(c->instances[0].port, 5433);	/* from [defaults] */
		}
		CHECK_INT(c->interval_ms, 20000);
		CHECK_STR(joined(&c->exclude_users), "rdsadmin");
		CHECK_STR(joined(&c->password_command), "/usr/local/bin/token|--region|eu-west-1");
		CHECK_STR(joined(&c->log_command), "/usr/local/libexec/sslhist-rds-log|--since-env");
		CHECK_INT(c->log_interval_ms, 300000);
	}
	if ((c = cluster(cfg, "own")) != NULL) {
		CHECK_STR(cluster_conn_get(c, "sslmode"), "require");
		CHECK_STR(cluster_conn_get(c, "user"), "other");
		CHECK_STR(cluster_conn_get(c, "password"), "secret");
		CHECK_INT(c->ninstances, 1);
		if (c->ninstances == 1) {
			CHECK_STR(c->instances[0].host, "own.example.internal");
			CHECK_INT(c->instances[0].port, 6000);
		}
		CHECK_INT(c->interval_ms, 5000);
		CHECK_STR(joined(&c->exclude_users), "a|b");
		CHECK_INT(c->password_command.n, 0);	/* emptied by the cluster */
		CHECK_INT(c->log_command.n, 2);		/* from [defaults] */
		CHECK_INT(c->log_interval_ms, 90000);
	}
	if ((c = cluster(cfg, "list")) != NULL) {
		CHECK(!c->discover);
		CHECK_INT(c->ninstances, 4);
		if (c->ninstances == 4) {
			CHECK_STR(c->instances[0].host, "i1");
			CHECK_INT(c->instances[0].port, 5433);
			CHECK_STR(c->instances[1].host, "i2");
			CHECK_INT(c->instances[1].port, 7000);
			CHECK_STR(c->instances[2].host, "::1");
			CHECK_INT(c->instances[2].port, 7001);
			CHECK_STR(c->instances[3].host, "fe80::2");
			CHECK_INT(c->instances[3].port, 5433);
		}
	}
	if ((c = cluster(cfg, "aurora-1")) != NULL) {
		CHECK(c->discover);
		CHECK_INT(c->ninstances, 1);
		if (c->ninstances == 1) {
			CHECK_STR(c->instances[0].host, "prod.cluster-abc.eu-west-1.rds.amazonaws.com");
			CHECK_INT(c->instances[0].port, 5433);
		}
		CHECK_INT(c->discover_interval_ms, 60000);
	}
	config_free(cfg);

	/* [defaults] may set sslmode, interval and exclude_users for all. */
	cfg = load("[sslhistd]\ninterval = 20s\n[defaults]\nsslmode = disable\n"
	    "interval = 1s\nexclude_users =\n[cluster a]\nhost = h\n");
	if ((c = cluster(cfg, "a")) != NULL) {
		CHECK_STR(cluster_conn_get(c, "sslmode"), "disable");
		CHECK_INT(c->interval_ms, 1000);
		CHECK_INT(c->exclude_users.n, 0);
		CHECK_INT(c->discover_interval_ms, 300000);
		CHECK_INT(c->instances[0].port, DEFAULT_PGPORT);
	}
	config_free(cfg);
}

/* Each bad file must fail with "PATH:LINE: " and mention `want`. */
static void
test_errors(void)
{
	static const struct { const char *text; int line; const char *want; } cases[] = {
		{ "[sslhistd]\ninterval = 1s\nbogus_key = 1\n", 3, "key 'bogus_key': unknown" },
		{ "[sslhistd]\n\n# c\ninterval = x\n", 4,
		  "key 'interval': bad duration 'x' (not a duration" },
		{ "[sslhistd]\ninterval = 5 parsecs\n", 2, "key 'interval': bad duration" },
		{ "[sslhistd]\ninterval = 50ms\n", 2, "key 'interval': 50ms must be at least 100ms" },
		{ "[sslhistd]\ninterval = -1s\n", 2, "negative duration" },
		{ "[sslhistd]\ninterval = 99999999999999999999d\n", 2, "duration too large" },
		{ "[sslhistd]\nconnect_timeout = 0s\n", 2, "key 'connect_timeout': 0s must be above 0" },
		{ "[sslhistd]\njitter = lots\n", 2, "key 'jitter': bad percentage" },
		{ "[sslhistd]\njitter = 51%\n", 2, "key 'jitter': 51% is above 50%" },
		{ "[sslhistd]\nhook_max_running = 0\n", 2, "key 'hook_max_running'" },
		{ "[sslhistd]\nhook_max_running = 65\n", 2, "key 'hook_max_running'" },
		{ "[sslhistd]\nhook_retry = 1s, 0s\n", 2, "key 'hook_retry'" },
		{ "[sslhistd]\nhook_retry = 1s,,2s\n", 2, "key 'hook_retry': bad duration list" },
		{ "[sslhistd]\nlog_level = chatty\n", 2, "key 'log_level': bad level 'chatty'" },
		{ "[sslhistd]\nexclude_users = a,,b\n", 2, "key 'exclude_users': bad list" },
		{ "[sslhistd]\non_non_ssl = notify.sh\n", 2,
		  "key 'on_non_ssl': bad command (command must start with an absolute path)" },
		{ "[sslhistd]\non_new_client = /bin/x \"open\n", 2, "key 'on_new_client': bad command" },
		{ "[sslhistd]\ndatabase =\n", 2, "key 'database': empty path" },
		{ "[sslhistd]\ninterval = 1s\ninterval = 2s\n", 3,
		  "key 'interval': duplicate (first at line 2)" },
		{ "[sslhistd]\n[nonsense]\nhost = x\n", 2, "unknown section [nonsense]" },
		{ "[sslhistd]\n[sslhistd]\n", 2, "section [sslhistd] repeated (first at line 1)" },
		{ "[cluster a]\nhost = x\n\n[cluster a]\nhost = y\n", 4,
		  "duplicate cluster 'a' (first at line 1)" },
		{ "[cluster]\nhost = x\n", 1, "a cluster needs a name" },
		{ "[cluster a/b]\nhost = x\n", 1, "a cluster needs a name" },
		{ "[cluster a]\nhost = x\nsslmoed = require\n", 3, "key 'sslmoed': unknown" },
		{ "[defaults]\nsslmoed = require\n", 2, "key 'sslmoed': unknown" },
		{ "[cluster a]\nhost = x\njitter = 5%\n", 3, "key 'jitter': unknown" },
		{ "[cluster a]\nhost = x\napplication_name = me\n", 3,
		  "key 'application_name': not allowed" },
		{ "[defaults]\nfallback_application_name = me\n", 2,
		  "key 'fallback_application_name': not allowed" },
		{ "[cluster a]\nhost = x\nhostaddr = 10.0.0.1\n", 3,
		  "key 'hostaddr': not allowed (sslhistd resolves" },
		{ "[cluster a]\nhost = x\noptions = -c application_name=x\n", 3, "key 'options'" },
		{ "[cluster a]\nhost = x\nsslmode = verify_full\n", 3, "key 'sslmode': bad mode" },
		{ "[cluster a]\nhost = x\nport = 0\n", 3, "key 'port': bad port '0'" },
		{ "[cluster a]\nhost = x\nport = 5432,5433\n", 3, "key 'port': bad port" },
		{ "[cluster a]\nhost = x,y\n", 2, "key 'host': write one host name" },
		{ "[cluster a]\nhost = x\ninterval = 10ms\n", 3, "key 'interval': 10ms must be at least 100ms" },
		{ "[cluster a]\nhost = x\ndiscover_interval = 0\n", 3, "key 'discover_interval'" },
		{ "[cluster a]\nhost = x\nexclude_users = ,\n", 3, "key 'exclude_users': bad list" },
		{ "[cluster a]\nhost = x\npassword_command = aws rds token\n", 3,
		  "key 'password_command': bad command" },
		{ "[cluster a]\nhost = x\nlog_command = aws rds download\n", 3,
		  "key 'log_command': bad command" },
		{ "[cluster a]\nhost = x\nlog_interval = 500ms\n", 3, "key 'log_interval'" },
		{ "[cluster a]\nhost = x\ninstances = h1,,h2\n", 3, "key 'instances': bad list" },
		{ "[cluster a]\nhost = x\ninstances = h1:99999\n", 3,
		  "key 'instances': bad instance 'h1:99999' (bad port" },
		{ "[cluster a]\nhost = x\ninstances = ::1\n", 3, "key 'instances': bad instance '::1'" },
		{ "[cluster a]\nhost = x\ninstances =\n", 3, "key 'instances'" },
		{ "[cluster a]\ninstances = h1, h2, h1:5432\n", 2, "key 'instances': 'h1:5432' listed twice" },
		{ "[sslhistd]\n\n[cluster a]\nuser = u\n", 3, "cluster 'a': no 'host' and no 'instances'" },
		{ "[cluster a]\n", 1, "cluster 'a': no 'host' and no 'instances'" },
		{ "[cluster a]\ninstances = discover\n", 2,
		  "key 'instances': 'discover' needs the cluster endpoint in 'host'" },
		{ "interval = 1s\n", 1, "key 'interval' before any section" },
		{ "[sslhistd]\nthis line has no equals sign\n", 2, "syntax error" },
		{ "[sslhistd\ninterval = 1s\n", 1, "syntax error" },
		{ "[sslhistd]\ninterval = 1s\n  jitter = 5%\n", 3,
		  "key 'interval': indented line continues its value" },
		{ "[cluster a]\nhost = x\n  [cluster b]\n", 3, "key 'host': indented line continues" },
		{ "[cluster a]\n  host = x\n  port = 5433\n", 3, "key 'host': indented line continues" },
	};
	size_t i;
	char prefix[400];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg = config_load(write_conf("bad.conf", cases[i].text, 0600),
		    err, sizeof(err));
		CHECK(cfg == NULL);
		config_free(cfg);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, cases[i].line);
		if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, cases[i].want) == NULL) {
			check_failed++;
			fprintf(stderr, "%s:%d: case %zu: got \"%s\", want \"%s...%s\"\n",
			    __FILE__, __LINE__, i, err, prefix, cases[i].want);
		} else {
			check_passed++;
		}
	}

	/* A missing file: the message names it. */
	snprintf(prefix, sizeof(prefix), "%s/none.conf", tmpdir);
	CHECK(config_load(prefix, err, sizeof(err)) == NULL);
	CHECK(strstr(err, prefix) != NULL && strstr(err, "No such file") != NULL);
}

static void
test_long_lines(void)
{
	char text[2048], value[400], expect[800];
	struct config *cfg;
	const struct cluster_cfg *c;
	size_t i;

	/* One 300-character value on one line: rejected, with its line. */
	memset(value, 'x', 300);
	value[300] = '\0';
	snprintf(text, sizeof(text), "[cluster a]\nhost = h\noptions = -c search_path=%s\n"
	    "sslmode = disable\n", value);
	CHECK(config_load(write_conf("long.conf", text, 0600), err, sizeof(err)) == NULL);
	snprintf(expect, sizeof(expect), "%s:3: line longer than 197 characters", path);
	CHECK(strncmp(err, expect, strlen(expect)) == 0);
	if (strncmp(err, expect, strlen(expect)) != 0)
		fprintf(stderr, "  got: %s\n", err);

	/* 197 characters fit exactly, 198 do not. */
	memset(value, 'y', 197);
	memcpy(value, "dbname=", 7);
	value[197] = '\0';
	snprintf(text, sizeof(text), "[cluster a]\nhost = h\n%s\n", value);
	cfg = config_load(write_conf("fit.conf", text, 0600), err, sizeof(err));
	CHECK(cfg != NULL);
	if ((c = cluster(cfg, "a")) != NULL)
		CHECK_INT(strlen(cluster_conn_get(c, "dbname")), 190);
	config_free(cfg);
	value[197] = 'y';
	value[198] = '\0';
	snprintf(text, sizeof(text), "[cluster a]\nhost = h\n%s\n", value);
	CHECK(config_load(write_conf("fit.conf", text, 0600), err, sizeof(err)) == NULL);
	CHECK(strstr(err, ":3: line longer than 197") != NULL);

	/* Stray carriage returns must not overrun inih's buffer. */
	value[197] = '\0';
	snprintf(text, sizeof(text), "[cluster a]\nhost = h\n%s\r\r\r\n", value);
	CHECK(config_load(write_conf("fit.conf", text, 0600), err, sizeof(err)) == NULL);
	CHECK(strstr(err, ":3: line longer than 197") != NULL);

	/* A 300-character options value over indented lines is read whole. */
	snprintf(text, sizeof(text), "[cluster a]\nhost = h\noptions = -c statement_timeout=5000\n");
	expect[0] = '\0';
	strcat(expect, "-c statement_timeout=5000");
	for (i = 0; i < 10; i++) {
		char piece[64];
		snprintf(piece, sizeof(piece), "-c my.setting_%zu=%022zu", i, i);
		strcat(text, "    ");
		strcat(text, piece);
		strcat(text, i == 4 ? "   ; a comment on a continuation\n" : "\n");
		strcat(expect, " ");
		strcat(expect, piece);
		if (i == 6)
			strcat(text, "\n  # a comment line between pieces\n");
	}
	strcat(text, "sslmode = disable\n");
	cfg = config_load(write_conf("cont.conf", text, 0600), err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg == NULL)
		fprintf(stderr, "  %s\n", err);
	CHECK(strlen(expect) > 300);
	if ((c = cluster(cfg, "a")) != NULL) {
		CHECK_STR(cluster_conn_get(c, "options"), expect);
		CHECK_STR(cluster_conn_get(c, "sslmode"), "disable");
	}
	config_free(cfg);

	/* A long instance list over lines, breaking after commas or not. */
	cfg = load("[cluster a]\ninstances = h1:5432,\n  h2:5433\n  , h3,\n\th4:1,h5\n");
	if ((c = cluster(cfg, "a")) != NULL) {
		CHECK_INT(c->ninstances, 5);
		if (c->ninstances == 5) {
			CHECK_STR(c->instances[1].host, "h2");
			CHECK_INT(c->instances[1].port, 5433);
			CHECK_STR(c->instances[2].host, "h3");
		}
	}
	config_free(cfg);
	cfg = load("[cluster a]\ninstances = h1,\n  [::1]:5433,\n  [fe80::1]\n");
	if ((c = cluster(cfg, "a")) != NULL) {
		CHECK_INT(c->ninstances, 3);
		if (c->ninstances == 3) {
			CHECK_STR(c->instances[1].host, "::1");
			CHECK_INT(c->instances[1].port, 5433);
			CHECK_STR(c->instances[2].host, "fe80::1");
		}
	}
	config_free(cfg);
	/* A missing comma between continued items is an error, not a join. */
	CHECK(load("[cluster a]\ninstances = h1\n  h2\n") == NULL);
	CHECK(strstr(err, ":2: key 'instances': bad instance 'h1 h2'") != NULL);
	/* Commands continue with more arguments. */
	cfg = load("[sslhistd]\non_non_ssl = /usr/bin/notify\n  --to \"db ops\"\n  --urgent\n");
	if (cfg != NULL)
		CHECK_STR(joined(&cfg->on_non_ssl), "/usr/bin/notify|--to|db ops|--urgent");
	config_free(cfg);
}

static char captured[4096];

static void
load_capturing(const char *file, mode_t mode, const char *text)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	struct config *cfg;
	size_t n;

	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	cfg = config_load(write_conf(file, text, mode), err, sizeof(err));
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	CHECK(cfg != NULL);
	config_free(cfg);
	rewind(tmp);
	n = fread(captured, 1, sizeof(captured) - 1, tmp);
	captured[n] = '\0';
	fclose(tmp);
}

static void
test_password_warning(void)
{
	const char *text = "[cluster a]\nhost = h\npassword = hunter2-secret\n";
	char want[600];

	load_capturing("pw644.conf", 0644, text);
	snprintf(want, sizeof(want), "%s/pw644.conf", tmpdir);
	CHECK(strstr(captured, want) != NULL);
	CHECK(strstr(captured, "password") != NULL);
	CHECK(strstr(captured, "hunter2") == NULL);
	load_capturing("pw640.conf", 0640, text);
	CHECK(strstr(captured, "pw640.conf") != NULL);
	load_capturing("pw600.conf", 0600, text);
	CHECK_STR(captured, "");
	load_capturing("nopw.conf", 0644, "[cluster a]\nhost = h\npassfile = /x\n");
	CHECK_STR(captured, "");
	load_capturing("dpw.conf", 0604, "[defaults]\npassword = p\n[cluster a]\nhost = h\n");
	CHECK(strstr(captured, "dpw.conf") != NULL);
}

static void
test_print(void)
{
	struct config *cfg = load(
	    "[sslhistd]\non_non_ssl = /usr/bin/page --token SECRETTOKEN\n"
	    "[defaults]\nuser = monitor\nsslpassword = keypass-xyz\n"
	    "[cluster orders]\nhost = orders.cluster-x.eu-west-1.rds.amazonaws.com\n"
	    "port = 5433\n"
	    "instances = o-1.x.eu-west-1.rds.amazonaws.com, o-2:6543, [::1]:7\n"
	    "password = Pa55w0rd-never-printed\n"
	    "password_command = /usr/local/bin/iam-token --secret s3cr3t\n"
	    "[cluster disc]\nhost = d.cluster-y.rds.amazonaws.com\ninstances = discover\n"
	    "[cluster self]\nhost = db.example.internal\nport = 5499\n");
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	out = open_memstream(&buf, &len);
	config_print(cfg, out);
	fclose(out);
	CHECK(strstr(buf, "cluster orders") != NULL);
	CHECK(strstr(buf, "o-1.x.eu-west-1.rds.amazonaws.com:5433") != NULL);
	CHECK(strstr(buf, "o-2:6543") != NULL);
	CHECK(strstr(buf, "[::1]:7") != NULL);
	CHECK(strstr(buf, "instances: listed, o-1.x.eu-west-1.rds.amazonaws.com:5433, o-2:6543, [::1]:7\n") != NULL);
	CHECK(strstr(buf, "instances: discover via d.cluster-y.rds.amazonaws.com:5432 every 5m: "
	    "each live instance that aurora_replica_status() names, polled at "
	    "SERVER_ID.y.rds.amazonaws.com:5432") != NULL);
	CHECK(strstr(buf, "instances: the host itself, db.example.internal:5499\n") != NULL);
	CHECK(strstr(buf, "sslmode verify-full") != NULL);
	CHECK(strstr(buf, "user monitor") != NULL);
	CHECK(strstr(buf, "password (set)") != NULL);
	CHECK(strstr(buf, "sslpassword (set)") != NULL);
	CHECK(strstr(buf, "/usr/local/bin/iam-token") != NULL);
	CHECK(strstr(buf, "/usr/bin/page") != NULL);
	CHECK(strstr(buf, "Pa55w0rd") == NULL);
	CHECK(strstr(buf, "keypass") == NULL);
	CHECK(strstr(buf, "s3cr3t") == NULL);
	CHECK(strstr(buf, "SECRETTOKEN") == NULL);
	CHECK(strstr(buf, "interval 30s") != NULL);
	CHECK(strstr(buf, "exclude_users rdsadmin") != NULL);
	if (check_failed)
		fputs(buf, stderr);
	free(buf);
	config_free(cfg);
}

int
main(void)
{
	int rc;
	char cmd[600];

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	unsetenv("JOURNAL_STREAM");
	log_init("test_config", LVL_INFO);
	test_defaults();
	test_all_keys();
	test_clusters();
	test_errors();
	test_long_lines();
	test_password_warning();
	test_print();
	rc = check_done();
	snprintf(cmd, sizeof(cmd), "%s/", tmpdir);
	{
		/* Remove what we wrote, without a shell. */
		static const char *const files[] = { "t.conf", "bad.conf", "long.conf",
			"fit.conf", "cont.conf", "pw644.conf", "pw640.conf", "pw600.conf",
			"nopw.conf", "dpw.conf", NULL };
		size_t i;
		for (i = 0; files[i] != NULL; i++) {
			snprintf(cmd, sizeof(cmd), "%s/%s", tmpdir, files[i]);
			unlink(cmd);
		}
		rmdir(tmpdir);
	}
	return rc;
}
