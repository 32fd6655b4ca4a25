/*
 * test_hooks.c: the alert hooks with a real store (SQLite file), real
 * child processes and a real libevent loop.
 *
 * The test binary doubles as the hook program:
 *   --hook LOG SLEEP_MS EXIT  appends "S <mono_ns> <user>" and, after
 *                             reading stdin and sleeping, "E <mono_ns>
 *                             <user>" to LOG, then exits with EXIT;
 *   --dump FILE               writes argv, environment and stdin to FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "check.h"
#include "config.h"
#include "hooks.h"
#include "log.h"
#include "evspawn.h"
#include "store.h"
#include "writer.h"

extern char **environ;

static struct event_base *base;
static char self[PATH_MAX];
static char tmpdir[] = "/tmp/test_hooks_XXXXXX";
static int ndb;

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- fixtures -------------------------------------------------------- */

struct fixture {
	struct store *store;
	struct writer *writer;	/* not started: the hooks' requests run inline */
	sqlite3 *db;		/* the test's own connection, for checks */
	struct config cfg;
	int64_t retry[4];
	int64_t instance;
	char log[PATH_MAX];
};

static void
set_cmd(struct strlist *l, const char *a0, const char *a1, const char *a2, const char *a3,
	const char *a4)
{
	const char *a[] = { a0, a1, a2, a3, a4 };
	size_t i;

	strlist_free(l);
	for (i = 0; i < 5 && a[i] != NULL; i++)
		strlist_add(l, a[i]);
}

static void
fixture_open(struct fixture *f, long max_running, int64_t timeout_ms, size_t nretry,
	     int64_t retry_ms)
{
	char path[PATH_MAX + 32], err[512];
	size_t i;

	memset(f, 0, sizeof(*f));
	snprintf(path, sizeof(path), "%s/db%d/history.db", tmpdir, ++ndb);
	snprintf(f->log, sizeof(f->log), "%s/hook%d.log", tmpdir, ndb);
	f->store = store_open(path, err, sizeof(err));
	if (f->store == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		exit(2);
	}
	if (sqlite3_open_v2(path, &f->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "sqlite3_open_v2 %s: %s\n", path, sqlite3_errmsg(f->db));
		exit(2);
	}
	sqlite3_busy_timeout(f->db, 1000);
	f->writer = writer_new(base, f->store, NULL, NULL);
	if (f->writer == NULL)
		exit(2);
	f->instance = store_instance(f->store, "prod", "::1", 5432, "writer");
	f->cfg.hook_timeout_ms = timeout_ms;
	f->cfg.hook_max_running = max_running;
	for (i = 0; i < nretry && i < 4; i++)
		f->retry[i] = retry_ms;
	f->cfg.hook_retry_ms = f->retry;
	f->cfg.n_hook_retry = nretry;
}

static void
fixture_close(struct fixture *f)
{
	strlist_free(&f->cfg.on_non_ssl);
	strlist_free(&f->cfg.on_weak_tls);
	strlist_free(&f->cfg.on_new_client);
	sqlite3_close(f->db);
	writer_free(f->writer);
	store_close(f->store);
}

/* Stores one poll with n new clients (users u000...), SSL or not. */
static void
add_clients(struct fixture *f, int first, int n, bool ssl, const char *tls)
{
	struct poll_record r = { 0 };
	char name[32];
	int i, newc = 0;

	r.instance_id = f->instance;
	r.at_ms = wall_ms();
	r.ok = true;
	r.clients = calloc((size_t)n, sizeof(*r.clients));
	r.nclients = (size_t)n;
	for (i = 0; i < n; i++) {
		struct client_key *k = &r.clients[i].key;

		snprintf(name, sizeof(name), "u%03d", first + i);
		k->database = strdup("app");
		k->user = strdup(name);
		k->application = strdup("psql");
		k->client_addr = strdup("10.0.0.7");
		k->ssl = ssl;
		k->tls_version = ssl ? strdup(tls) : NULL;
		k->cipher = ssl ? strdup("TLS_AES_256_GCM_SHA384") : NULL;
		k->bits = ssl ? 256 : -1;
		r.clients[i].samples = 1;
		r.clients[i].new_sessions = 1;
	}
	store_set_alerts(f->store, hooks_alert_mask(&f->cfg));
	CHECK(store_apply(f->store, &r, &newc) == 0);
	CHECK_INT(newc, n);
	for (i = 0; i < n; i++) {
		free(r.clients[i].key.database);
		free(r.clients[i].key.user);
		free(r.clients[i].key.application);
		free(r.clients[i].key.client_addr);
		free(r.clients[i].key.tls_version);
		free(r.clients[i].key.cipher);
	}
	free(r.clients);
}

static int64_t
q_int(struct fixture *f, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(f->db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(f->db));
		return -2;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char *
q_str(struct fixture *f, const char *sql)
{
	sqlite3_stmt *st;
	char *v = NULL;

	if (sqlite3_prepare_v2(f->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static void
exec_sql(struct fixture *f, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(f->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", sql, err);
		check_failed++;
	}
	sqlite3_free(err);
}

/* Runs the loop until `sql` yields `want` (polled) or the deadline. */
static bool
run_until(struct fixture *f, const char *sql, int64_t want, int64_t deadline_ms)
{
	int64_t end = wall_ms() + deadline_ms;

	while (wall_ms() < end) {
		struct timeval tv = { 0, 20000 };

		if (q_int(f, sql) == want)
			return true;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return q_int(f, sql) == want;
}

static bool
run_until_idle(struct hooks *h, int64_t deadline_ms)
{
	int64_t end = wall_ms() + deadline_ms;

	while (wall_ms() < end) {
		struct timeval tv = { 0, 20000 };

		if (hooks_idle(h))
			return true;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return hooks_idle(h);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, fp) != (size_t)n)
		n = 0;
	buf[n] = '\0';
	fclose(fp);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static int
count_lines(const char *path, char kind)
{
	char *s = slurp(path, NULL), *p;
	int n = 0;

	for (p = s; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		n += *p == kind;
	free(s);
	return n;
}

/* ---- tests ----------------------------------------------------------- */

static void
test_mask(void)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	CHECK_INT(hooks_alert_mask(&cfg), 0);
	strlist_add(&cfg.on_weak_tls, "/bin/true");
	CHECK_INT(hooks_alert_mask(&cfg), ALERT_WEAK_TLS);
	strlist_add(&cfg.on_new_client, "/bin/true");
	strlist_add(&cfg.on_non_ssl, "/bin/true");
	CHECK_INT(hooks_alert_mask(&cfg), ALERT_NON_SSL | ALERT_WEAK_TLS | ALERT_NEW_CLIENT);
	strlist_free(&cfg.on_weak_tls);
	strlist_free(&cfg.on_new_client);
	strlist_free(&cfg.on_non_ssl);
}

/* One run: argv, environment and stdin as documented; recorded ok. */
static void
test_run_ok(void)
{
	struct fixture f;
	struct hooks *h;
	char dump[PATH_MAX + 16], *s, *first;
	size_t len;
	static const char *const want_env[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin", "SSLHIST_EVENT=non-ssl",
		"SSLHIST_CLUSTER=prod", "SSLHIST_INSTANCE=[::1]:5432", "SSLHIST_DATABASE=app",
		"SSLHIST_USER=u000", "SSLHIST_APPLICATION=psql", "SSLHIST_CLIENT_ADDR=10.0.0.7",
		"SSLHIST_SSL=false", "SSLHIST_TLS_VERSION=", "SSLHIST_CIPHER=", NULL,
	};
	static const char want_json[] = "{\"cluster\":\"prod\",\"instance\":\"[::1]:5432\","
	    "\"database\":\"app\",\"user\":\"u000\",\"application\":\"psql\","
	    "\"client_addr\":\"10.0.0.7\",\"client_hostname\":null,\"ssl\":false,"
	    "\"tls_version\":null,\"cipher\":null,\"bits\":null,\"client_dn\":null,"
	    "\"issuer_dn\":null,\"driver\":\"psql\",\"first_seen\":\"";
	const char *p;
	size_t i;

	fixture_open(&f, 4, 5000, 0, 0);
	snprintf(dump, sizeof(dump), "%s/dump%d", tmpdir, ndb);
	set_cmd(&f.cfg.on_non_ssl, self, "--dump", dump, "two words", NULL);
	add_clients(&f, 0, 1, false, NULL);
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert WHERE state = 'pending'"), 1);
	h = hooks_new(base, f.writer, &f.cfg);
	CHECK(h != NULL);
	hooks_kick(h);
	CHECK(!hooks_idle(h));
	CHECK(run_until_idle(h, 10000));
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert WHERE state = 'ok' AND attempts = 1"), 1);
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert_attempt WHERE attempt = 1 AND "
	    "outcome = 'ok' AND exit_status = 0 AND ended_at >= started_at AND error IS NULL"), 1);

	s = slurp(dump, &len);
	CHECK(s != NULL);
	if (s != NULL) {
		/* argv */
		p = s;
		CHECK_STR(p, "argv");
		p += strlen(p) + 1;
		CHECK_STR(p, "--dump");
		p += strlen(p) + 1;
		CHECK_STR(p, dump);
		p += strlen(p) + 1;
		CHECK_STR(p, "two words");
		p += strlen(p) + 1;
		CHECK_STR(p, "env");
		p += strlen(p) + 1;
		for (i = 0; want_env[i] != NULL; i++, p += strlen(p) + 1)
			CHECK_STR(p, want_env[i]);
		first = q_str(&f, "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', first_seen, 'unixepoch') "
		    "FROM client");
		CHECK(strncmp(p, "SSLHIST_FIRST_SEEN=", 19) == 0);
		CHECK_STR(p + 19, first);
		p += strlen(p) + 1;
		CHECK_STR(p, "stdin");
		p += strlen(p) + 1;
		/* the JSON object, in the order of `sslhist clients` */
		CHECK(strncmp(p, want_json, strlen(want_json)) == 0);
		CHECK(strstr(p, "\"sessions\":1,\"samples\":1,\"logged_sessions\":0,\"seen_by\":\"poll\",\"via\":null,\"event\":\"non-ssl\"}") != NULL);
		if (strstr(p, "\"event\":\"non-ssl\"}") == NULL)
			fprintf(stderr, "stdin: %s\n", p);
		free(first);
	}
	free(s);
	/* A completed hook does not run again: a new hooks_new finds nothing. */
	hooks_free(h);
	unlink(dump);
	h = hooks_new(base, f.writer, &f.cfg);
	hooks_kick(h);
	CHECK(run_until_idle(h, 5000));
	CHECK(access(dump, F_OK) == -1);
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert_attempt"), 1);
	hooks_free(h);
	fixture_close(&f);
}

/* exit 1: retried on the schedule, then failed for good. */
static void
test_retry(void)
{
	struct fixture f;
	struct hooks *h;
	int64_t t0;

	fixture_open(&f, 4, 5000, 2, 300);
	set_cmd(&f.cfg.on_non_ssl, self, "--hook", f.log, "0", "1");
	add_clients(&f, 0, 1, false, NULL);
	h = hooks_new(base, f.writer, &f.cfg);
	t0 = wall_ms();
	CHECK(run_until(&f, "SELECT count(*) FROM alert WHERE state = 'failed'", 1, 10000));
	/* two delays of 300 ms */
	CHECK(wall_ms() - t0 >= 600);
	CHECK_INT(q_int(&f, "SELECT attempts FROM alert"), 3);
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert_attempt WHERE outcome = 'failed' AND "
	    "exit_status = 1 AND ended_at IS NOT NULL"), 3);
	CHECK_INT(count_lines(f.log, 'S'), 3);
	/* Stays failed. */
	CHECK(run_until_idle(h, 2000));
	CHECK(!run_until(&f, "SELECT count(*) FROM alert_attempt", 4, 700));
	CHECK_INT(count_lines(f.log, 'S'), 3);
	hooks_free(h);
	fixture_close(&f);
}

/* Waiting for a retry is idle (--once does not wait for retries). */
static void
test_idle_while_waiting(void)
{
	struct fixture f;
	struct hooks *h;

	fixture_open(&f, 4, 5000, 1, 60000);
	set_cmd(&f.cfg.on_non_ssl, self, "--hook", f.log, "0", "7");
	add_clients(&f, 0, 1, false, NULL);
	h = hooks_new(base, f.writer, &f.cfg);
	CHECK(run_until(&f, "SELECT count(*) FROM alert_attempt WHERE outcome = 'failed' "
	    "AND exit_status = 7", 1, 5000));
	CHECK(run_until_idle(h, 5000));
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert WHERE state = 'pending' AND "
	    "next_attempt_ms > strftime('%s', 'now') * 1000 + 50000"), 1);
	hooks_free(h);
	fixture_close(&f);
}

/* Past hook_timeout: killed, recorded as timeout (128 + SIGTERM). */
static void
test_timeout(void)
{
	struct fixture f;
	struct hooks *h;

	fixture_open(&f, 4, 300, 1, 100);
	set_cmd(&f.cfg.on_non_ssl, self, "--hook", f.log, "30000", "0");
	add_clients(&f, 0, 1, false, NULL);
	h = hooks_new(base, f.writer, &f.cfg);
	CHECK(run_until(&f, "SELECT count(*) FROM alert WHERE state = 'failed'", 1, 10000));
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert_attempt WHERE outcome = 'timeout' "
	    "AND exit_status = 143"), 2);
	CHECK_INT(count_lines(f.log, 'E'), 0);
	hooks_free(h);
	fixture_close(&f);
}

/* A missing path: a clear stored error, retried like any failure. */
static void
test_missing_path(void)
{
	struct fixture f;
	struct hooks *h;
	char *e;

	fixture_open(&f, 4, 5000, 1, 100);
	set_cmd(&f.cfg.on_non_ssl, "/no/such/hook", "x", NULL, NULL, NULL);
	add_clients(&f, 0, 1, false, NULL);
	h = hooks_new(base, f.writer, &f.cfg);
	CHECK(run_until(&f, "SELECT count(*) FROM alert WHERE state = 'failed'", 1, 5000));
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert_attempt WHERE outcome = 'failed' "
	    "AND exit_status IS NULL"), 2);
	e = q_str(&f, "SELECT error FROM alert_attempt WHERE attempt = 2");
	CHECK_STR(e, "/no/such/hook: No such file or directory");
	free(e);
	hooks_free(h);
	fixture_close(&f);
}

/* 100 alerts, hook_max_running 4: never more than 4 at once, all run,
 * oldest first. */
static void
test_max_running(void)
{
	struct fixture f;
	struct hooks *h;
	char *s, *p, user[16];
	int early = 0;
	int cur = 0, max = 0, starts = 0, ends = 0;

	fixture_open(&f, 4, 10000, 0, 0);
	set_cmd(&f.cfg.on_non_ssl, self, "--hook", f.log, "40", "0");
	add_clients(&f, 0, 100, false, NULL);
	h = hooks_new(base, f.writer, &f.cfg);
	hooks_kick(h);
	CHECK(run_until(&f, "SELECT count(*) FROM alert WHERE state = 'ok'", 100, 40000));
	CHECK(run_until_idle(h, 5000));
	s = slurp(f.log, NULL);
	for (p = s; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (*p == 'S') {
			starts++;
			if (++cur > max)
				max = cur;
			/* The first four to start are the four oldest. */
			if (starts <= 4 && sscanf(p, "S %*d %15s", user) == 1 &&
			    strncmp(user, "u00", 3) == 0 && user[3] >= '0' && user[3] <= '3')
				early++;
		} else if (*p == 'E') {
			ends++;
			cur--;
		}
	}
	free(s);
	CHECK_INT(starts, 100);
	CHECK_INT(ends, 100);
	CHECK(max <= 4);
	CHECK(max >= 2);	/* they did run side by side */
	CHECK_INT(early, 4);
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert_attempt WHERE outcome = 'ok'"), 100);
	hooks_free(h);
	fixture_close(&f);
}

/* A crash left rows 'running': the open attempt is closed as interrupted
 * and the hook runs once more; completed ones do not. */
static void
test_restart_recovery(void)
{
	struct fixture f;
	struct hooks *h;
	char *e;

	fixture_open(&f, 4, 5000, 0, 0);
	set_cmd(&f.cfg.on_non_ssl, self, "--hook", f.log, "0", "0");
	add_clients(&f, 0, 2, false, NULL);
	exec_sql(&f, "UPDATE alert SET state = 'running', attempts = 1 WHERE id = 1;"
	    "INSERT INTO alert_attempt (alert_id, attempt, started_at, outcome) "
	    "VALUES (1, 1, 1000, 'pending');"
	    "UPDATE alert SET state = 'ok', attempts = 1 WHERE id = 2;"
	    "INSERT INTO alert_attempt (alert_id, attempt, started_at, ended_at, exit_status, "
	    "outcome) VALUES (2, 1, 1000, 1001, 0, 'ok');");
	h = hooks_new(base, f.writer, &f.cfg);
	e = q_str(&f, "SELECT outcome || ' ' || error FROM alert_attempt WHERE alert_id = 1 "
	    "AND attempt = 1");
	CHECK_STR(e, "failed interrupted by daemon restart");
	free(e);
	hooks_kick(h);
	CHECK(run_until(&f, "SELECT count(*) FROM alert WHERE state = 'ok'", 2, 5000));
	CHECK(run_until_idle(h, 5000));
	CHECK_INT(q_int(&f, "SELECT attempts FROM alert WHERE id = 1"), 2);
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert_attempt WHERE alert_id = 2"), 1);
	CHECK_INT(count_lines(f.log, 'S'), 1);
	hooks_free(h);
	fixture_close(&f);
}

/* A stop while a hook runs: recorded as interrupted, pending again, and
 * the hook process is gone after spawn_shutdown... here: after SIGTERM. */
static void
test_stop_while_running(void)
{
	struct fixture f;
	struct hooks *h;
	char *e;

	fixture_open(&f, 4, 60000, 0, 0);
	set_cmd(&f.cfg.on_non_ssl, self, "--hook", f.log, "30000", "0");
	add_clients(&f, 0, 1, false, NULL);
	h = hooks_new(base, f.writer, &f.cfg);
	hooks_kick(h);
	CHECK(run_until(&f, "SELECT count(*) FROM alert WHERE state = 'running'", 1, 5000));
	while (count_lines(f.log, 'S') < 1) {
		struct timeval tv = { 0, 20000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	hooks_free(h);
	e = q_str(&f, "SELECT a.state || ' ' || t.outcome || ' ' || t.error FROM alert a "
	    "JOIN alert_attempt t ON t.alert_id = a.id");
	CHECK_STR(e, "pending failed interrupted by daemon stop");
	free(e);
	/* The SIGTERMed child is reaped by the loop. */
	{
		int64_t end = wall_ms() + 5000;

		while (spawn_running() > 0 && wall_ms() < end) {
			struct timeval tv = { 0, 20000 };

			event_base_loopexit(base, &tv);
			event_base_dispatch(base);
		}
	}
	CHECK_INT(spawn_running(), 0);
	fixture_close(&f);
}

/* A command removed while alerts wait: they fail with a stored reason. */
static void
test_unconfigured(void)
{
	struct fixture f;
	struct hooks *h;
	char *e;

	fixture_open(&f, 4, 5000, 2, 100);
	set_cmd(&f.cfg.on_weak_tls, self, "--hook", f.log, "0", "0");
	set_cmd(&f.cfg.on_new_client, self, "--hook", f.log, "0", "0");
	add_clients(&f, 0, 1, true, "TLSv1.1");
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert"), 2);
	strlist_free(&f.cfg.on_weak_tls);
	h = hooks_new(base, f.writer, &f.cfg);
	hooks_kick(h);
	CHECK(run_until(&f, "SELECT count(*) FROM alert WHERE state IN ('ok', 'failed')", 2, 5000));
	CHECK(run_until_idle(h, 5000));
	e = q_str(&f, "SELECT a.state || ' ' || t.outcome || ' ' || t.error FROM alert a "
	    "JOIN alert_attempt t ON t.alert_id = a.id WHERE a.event = 'weak-tls'");
	CHECK_STR(e, "failed failed hook no longer configured");
	free(e);
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert WHERE event = 'new-client' AND "
	    "state = 'ok'"), 1);
	CHECK_INT(count_lines(f.log, 'S'), 1);
	hooks_free(h);
	fixture_close(&f);
}

/* Every event of a new client is logged, hook or not. */
static void
test_event_log(void)
{
	struct fixture f;
	struct hooks *h;
	char path[PATH_MAX + 16], *s;
	int saved, fd;

	fixture_open(&f, 4, 5000, 0, 0);
	h = hooks_new(base, f.writer, &f.cfg);
	add_clients(&f, 0, 1, false, NULL);
	add_clients(&f, 1, 1, true, "TLSv1");
	add_clients(&f, 2, 1, true, "TLSv1.3");
	snprintf(path, sizeof(path), "%s/stderr%d", tmpdir, ndb);
	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	dup2(fd, 2);
	close(fd);
	hooks_kick(h);
	run_until_idle(h, 2000);
	{
		struct timeval tv = { 0, 50000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	s = slurp(path, NULL);
	CHECK(s != NULL && strstr(s, "prod/[::1]:5432: non-SSL client: database \"app\" user "
	    "\"u000\" application \"psql\" from 10.0.0.7") != NULL);
	CHECK(s != NULL && strstr(s, "weak TLS client: database \"app\" user \"u001\"") != NULL);
	CHECK(s != NULL && strstr(s, "new client: database \"app\" user \"u002\"") != NULL);
	CHECK(s != NULL && strstr(s, "weak TLS client: database \"app\" user \"u002\"") == NULL);
	if (s != NULL && strstr(s, "new client: database \"app\" user \"u002\"") == NULL)
		fprintf(stderr, "log:\n%s", s);
	free(s);
	CHECK_INT(q_int(&f, "SELECT count(*) FROM alert"), 0);
	hooks_free(h);
	fixture_close(&f);
}

/* ---- the hook program ------------------------------------------------ */

static void
append_line(const char *path, char kind)
{
	char line[128];
	const char *user = getenv("SSLHIST_USER");
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	int n = snprintf(line, sizeof(line), "%c %lld %s\n", kind, (long long)mono_ns(),
	    user ? user : "?");

	if (fd >= 0) {
		/* One write of a short line to O_APPEND: atomic among hooks. */
		if (write(fd, line, (size_t)n) != n)
			_exit(99);
		close(fd);
	}
}

static void
drain_stdin(FILE *out)
{
	char buf[4096];
	size_t n;

	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		if (out != NULL)
			fwrite(buf, 1, n, out);
}

static int
hook_main(int argc, char **argv)
{
	struct timespec ts;
	long ms;

	if (argc < 5)
		return 98;
	append_line(argv[2], 'S');
	drain_stdin(NULL);
	ms = atol(argv[3]);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	append_line(argv[2], 'E');
	return atoi(argv[4]);
}

static int
dump_main(int argc, char **argv)
{
	FILE *out = fopen(argv[2], "wb");
	char **e;
	int i;

	if (out == NULL)
		return 97;
	fwrite("argv", 1, 5, out);
	for (i = 1; i < argc; i++)
		fwrite(argv[i], 1, strlen(argv[i]) + 1, out);
	fwrite("env", 1, 4, out);
	for (e = environ; *e != NULL; e++)
		fwrite(*e, 1, strlen(*e) + 1, out);
	fwrite("stdin", 1, 6, out);
	drain_stdin(out);
	return fclose(out) == 0 ? 0 : 96;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(int argc, char **argv)
{
	ssize_t n;

	if (argc > 1 && strcmp(argv[1], "--hook") == 0)
		return hook_main(argc, argv);
	if (argc > 2 && strcmp(argv[1], "--dump") == 0)
		return dump_main(argc, argv);

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || mkdtemp(tmpdir) == NULL)
		return 1;
	self[n] = '\0';
	log_init("test_hooks", LVL_INFO);
	base = event_base_new();

	test_mask();
	test_run_ok();
	test_retry();
	test_idle_while_waiting();
	test_timeout();
	test_missing_path();
	test_max_running();
	test_restart_recovery();
	test_stop_while_running();
	test_unconfigured();
	test_event_log();

	spawn_shutdown();
	event_base_free(base);
	libevent_global_shutdown();
	if (check_failed == 0)
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "kept %s\n", tmpdir);
	return check_done();
}
