/*
 * test_metrics.c: the /metrics registry and its text (metrics.h) over poll
 * records like the poller's, and its start from a real store file:
 * label escaping (backslash, quote, line feed, bytes that are not UTF-8),
 * a client counted once however often it is seen, per (ssl, tls_version)
 * with the "other" bucket past METRICS_MAX_TLS_LABELS, failures, missed
 * sessions, certificate expiry, instances gone, hook outcomes, and the
 * client gauges read back from the store after a "restart".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "metrics.h"
#include "pollrec.h"
#include "store.h"

static char *
xstrdup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		abort();
	return d;
}

static struct poll_record *
rec(int64_t id, bool ok)
{
	struct poll_record *r = calloc(1, sizeof(*r));

	if (r == NULL)
		abort();
	r->instance_id = id;
	r->at_ms = 1700000000000;
	r->ok = ok;
	if (!ok)
		r->error = xstrdup("connection refused");
	return r;
}

static void
add_client(struct poll_record *r, const char *app, bool ssl, const char *ver)
{
	struct client_obs *c;

	r->clients = realloc(r->clients, (r->nclients + 1) * sizeof(*r->clients));
	if (r->clients == NULL)
		abort();
	c = &r->clients[r->nclients++];
	memset(c, 0, sizeof(*c));
	c->key.database = xstrdup("appdb");
	c->key.user = xstrdup("app");
	c->key.application = xstrdup(app);
	c->key.client_addr = xstrdup("10.0.0.1");
	c->key.ssl = ssl;
	c->key.tls_version = xstrdup(ssl ? ver : NULL);
	c->key.cipher = xstrdup(ssl ? "TLS_AES_256_GCM_SHA384" : NULL);
	c->key.bits = ssl ? 256 : -1;
	c->samples = 1;
	c->new_sessions = 1;
}

/* The value of the sample line that starts with `prefix` ("name{labels} "),
 * or -1 when there is none. */
static long long
sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, n) == 0)
			return atoll(p + n);
	return -1;
}

static const char *
render(struct metrics *m, size_t queue)
{
	size_t len;
	const char *t = metrics_render(m, queue, &len);

	CHECK(t != NULL);
	CHECK(t == NULL || strlen(t) == len);
	return t;
}

static void
test_escape(void)
{
	char buf[64];

	CHECK_INT(metrics_escape_label("a\"b\\c\nd", buf, sizeof buf), 10);
	CHECK_STR(buf, "a\\\"b\\\\c\\nd");
	metrics_escape_label("x\xff" "y\xc3\xa9", buf, sizeof buf);	/* bad byte, é */
	CHECK_STR(buf, "x\xef\xbf\xbdy\xc3\xa9");
	metrics_escape_label("\xed\xa0\x80", buf, sizeof buf);		/* a surrogate */
	CHECK_STR(buf, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	metrics_escape_label(NULL, buf, sizeof buf);
	CHECK_STR(buf, "");
	/* 3 * strlen + 1 is always room enough. */
	{
		const char *worst = "\xff\xff\xff\"\"\n";
		char small[3 * 6 + 1];

		CHECK_INT(metrics_escape_label(worst, small, sizeof small), 15);
	}
}

static void
test_registry(void)
{
	struct metrics *m = metrics_new();
	struct poll_record *r;
	const char *t;

	CHECK(m != NULL);
	/* Nothing polled yet: every family, no instance series. */
	t = render(m, 0);
	CHECK(strstr(t, "# TYPE sslhist_clients gauge\n") != NULL);
	CHECK(strstr(t, "# TYPE sslhist_polls_total counter\n") != NULL);
	CHECK_INT(sample(t, "sslhist_store_queue "), 0);
	CHECK_INT(sample(t, "sslhist_hooks_total{event=\"non-ssl\",outcome=\"ok\"} "), 0);
	CHECK(strstr(t, "sslhist_instance_up{") == NULL);

	/* Instance 7 of cluster c"1, a host with a line feed and a bad byte. */
	r = rec(7, true);
	add_client(r, "psql", false, NULL);
	add_client(r, "app\x1b[31m", true, "TLSv1.3");
	add_client(r, "jdbc", true, "TLSv1.2");
	r->facts = calloc(1, sizeof(*r->facts));
	r->facts->cert.not_after = 1900000000;
	r->counters = calloc(2, sizeof(*r->counters));
	r->ncounters = 2;
	r->counters[0].missed = 4;
	r->counters[1].missed = -1;	/* no baseline: not counted */
	metrics_poll_done(m, "c\"1", "h\nx\xff:5432", r);
	poll_record_free(r);
	/* The same clients again and one more: only the new one counts. */
	r = rec(7, true);
	add_client(r, "psql", false, NULL);
	add_client(r, "jdbc", true, "TLSv1.2");
	add_client(r, "psql2", false, NULL);
	metrics_poll_done(m, "c\"1", "h\nx\xff:5432", r);
	poll_record_free(r);
	/* A failed attempt. */
	r = rec(7, false);
	metrics_poll_done(m, "c\"1", "h\nx\xff:5432", r);
	poll_record_free(r);

	t = render(m, 3);
#define L "cluster=\"c\\\"1\",instance=\"h\\nx\xef\xbf\xbd:5432\""
	CHECK_INT(sample(t, "sslhist_clients{" L ",ssl=\"false\",tls_version=\"\"} "), 2);
	CHECK_INT(sample(t, "sslhist_clients{" L ",ssl=\"true\",tls_version=\"TLSv1.3\"} "), 1);
	CHECK_INT(sample(t, "sslhist_clients{" L ",ssl=\"true\",tls_version=\"TLSv1.2\"} "), 1);
	CHECK_INT(sample(t, "sslhist_non_ssl_clients{cluster=\"c\\\"1\"} "), 2);
	CHECK_INT(sample(t, "sslhist_instance_up{" L "} "), 0);
	CHECK_INT(sample(t, "sslhist_polls_total{" L "} "), 3);
	CHECK_INT(sample(t, "sslhist_poll_failures_total{" L "} "), 1);
	CHECK_INT(sample(t, "sslhist_missed_sessions_total{" L "} "), 4);
	CHECK_INT(sample(t, "sslhist_server_cert_expiry_timestamp_seconds{" L "} "), 1900000000);
	CHECK_INT(sample(t, "sslhist_store_queue "), 3);
	/* No application name ever becomes a label. */
	CHECK(strstr(t, "app\x1b") == NULL && strstr(t, "jdbc") == NULL);

	/* A hostile server's version strings: 8 get a series, the rest "other"
	 * (all SSL); a non-SSL client still counts as non-SSL. */
	r = rec(9, true);
	for (int i = 0; i < 20; i++) {
		char app[16], ver[16];

		snprintf(app, sizeof app, "a%d", i);
		snprintf(ver, sizeof ver, "V%d\"", i);
		add_client(r, app, true, ver);
	}
	add_client(r, "plain", false, NULL);
	metrics_poll_done(m, "c2", "h2:5432", r);
	poll_record_free(r);
	t = render(m, 0);
	CHECK_INT(sample(t, "sslhist_clients{cluster=\"c2\",instance=\"h2:5432\",ssl=\"true\","
			 "tls_version=\"other\"} "), 20 - METRICS_MAX_TLS_LABELS);
	CHECK_INT(sample(t, "sslhist_clients{cluster=\"c2\",instance=\"h2:5432\",ssl=\"true\","
			 "tls_version=\"V0\\\"\"} "), 1);
	CHECK_INT(sample(t, "sslhist_non_ssl_clients{cluster=\"c2\"} "), 1);
	CHECK_INT(sample(t, "sslhist_instance_up{cluster=\"c2\",instance=\"h2:5432\"} "), 1);
	/* No certificate known: no expiry series. */
	CHECK_INT(sample(t, "sslhist_server_cert_expiry_timestamp_seconds{cluster=\"c2\""), -1);

	/* Gone: its series go; its cluster's go with its last instance. */
	metrics_instance_gone(m, 9);
	metrics_instance_gone(m, 12345);	/* never seen: nothing */
	t = render(m, 0);
	CHECK_INT(sample(t, "sslhist_instance_up{cluster=\"c2\""), -1);
	CHECK_INT(sample(t, "sslhist_non_ssl_clients{cluster=\"c2\"} "), -1);
	CHECK_INT(sample(t, "sslhist_instance_up{" L "} "), 0);

	metrics_hook_done(m, "non-ssl", "ok");
	metrics_hook_done(m, "non-ssl", "ok");
	metrics_hook_done(m, "weak-tls", "timeout");
	metrics_hook_done(m, "bogus", "ok");
	metrics_hook_done(m, "new-client", "pending");
	t = render(m, 0);
	CHECK_INT(sample(t, "sslhist_hooks_total{event=\"non-ssl\",outcome=\"ok\"} "), 2);
	CHECK_INT(sample(t, "sslhist_hooks_total{event=\"weak-tls\",outcome=\"timeout\"} "), 1);
	CHECK_INT(sample(t, "sslhist_hooks_total{event=\"new-client\",outcome=\"failed\"} "), 0);
#undef L
	metrics_free(m);
	metrics_free(NULL);
	/* NULL registry: every hook is a no-op. */
	metrics_poll_done(NULL, "c", "i", NULL);
	metrics_instance_gone(NULL, 1);
	metrics_hook_done(NULL, "non-ssl", "ok");
}

/* The client gauges of a fresh registry come from the store's rows. */
static void
test_load(void)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", path[128], err[512];
	struct store *s;
	struct metrics *m;
	struct poll_record *r;
	int64_t id;
	int nc = 0;
	const char *t;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof path, "%s/history.db", dir);
	s = store_open(path, err, sizeof err);
	CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	id = store_instance(s, "prod", "db1", 5432, NULL);
	CHECK(id > 0);
	r = rec(id, true);
	add_client(r, "psql", false, NULL);
	add_client(r, "svc", true, "TLSv1.3");
	add_client(r, "svc2", true, "TLSv1.3");
	CHECK_INT(store_apply(s, r, &nc), 0);
	CHECK_INT(nc, 3);

	m = metrics_new();
	CHECK_INT(metrics_load(m, s), 0);
	/* Not polled since the start: counted, not shown. */
	t = render(m, 0);
	CHECK(strstr(t, "sslhist_clients{") == NULL);
	/* The same record again (clients already stored) adds nothing. */
	metrics_poll_done(m, "prod", "db1:5432", r);
	t = render(m, 0);
	CHECK_INT(sample(t, "sslhist_clients{cluster=\"prod\",instance=\"db1:5432\",ssl=\"true\","
			 "tls_version=\"TLSv1.3\"} "), 2);
	CHECK_INT(sample(t, "sslhist_non_ssl_clients{cluster=\"prod\"} "), 1);
	poll_record_free(r);
	metrics_free(m);
	store_close(s);
	snprintf(err, sizeof err, "rm -rf '%s'", dir);
	CHECK_INT(system(err), 0);
}

int
main(void)
{
	log_init("test_metrics", LVL_WARNING);
	test_escape();
	test_registry();
	test_load();
	return check_done();
}
