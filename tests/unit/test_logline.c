/*
 * test_logline.c: lib/logline.c and lib/logread.c over log lines as each
 * PostgreSQL version writes them.
 *
 * Where each fixture comes from (docs/SOURCES.md, "Server log lines"):
 *  - PG 11: REL_11_STABLE src/backend/utils/init/postinit.c,
 *    PerformAuthentication(): "connection authorized: user=%s database=%s
 *    SSL enabled (protocol=%s, cipher=%s, bits=%d, compression=%s)" and
 *    without SSL "user=%s database=%s"; no application_name before 12.
 *  - PG 12, 13: REL_12_STABLE / REL_13_STABLE postinit.c: the same with
 *    " application_name=%s" when the client sent one, compression=%s kept.
 *  - PG 14: REL_14_STABLE postinit.c builds the line piece by piece
 *    (" database=%s", " application_name=%s", " SSL enabled (protocol=%s,
 *    cipher=%s, bits=%d)": compression dropped), and auth.c's
 *    set_authn_id() adds "connection authenticated: identity=\"%s\"
 *    method=%s (%s:%d)".
 *  - PG 15: real lines of this machine's PostgreSQL 15 (log_connections =
 *    on, psql with sslmode=require and disable, and a role and database
 *    holding ESC, quotes, $(...) and a newline): tests/data/pg15-*,
 *    made by tests/integration/test_import_log.py's servers' settings.
 *    The strings are the binary's (`strings postgres`).
 *  - PG 16: REL_16_STABLE postinit.c: as 14 (GSS gains
 *    delegated_credentials=%s).
 *  - PG 17: REL_17_STABLE: "connection received: host=%s port=%s" moved
 *    from postmaster.c to src/backend/tcop/backend_startup.c, text kept.
 *  - "connection received: host=%s port=%s" / "host=%s" (Unix socket:
 *    "[local]"): postmaster.c BackendInitialize() in 11 to 16.
 *  - CloudWatch: the shape of `aws logs filter-log-events --output json`
 *    (AWS CLI reference: events[] of logStreamName, timestamp, message,
 *    ingestionTime, eventId; searchedLogStreams[]).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "logread.h"

static struct logline_parser *
parser(enum logline_format f, const char *prefix)
{
	char err[256];
	struct logline_parser *p = logline_parser_new(f, prefix, err, sizeof err);

	if (p == NULL)
		fprintf(stderr, "parser: %s\n", err);
	return p;
}

/* One stderr/csv/json record; returns logline_parse's result. */
static int
parse1(struct logline_parser *p, const char *rec, struct logline *l)
{
	return logline_parse(p, rec, strlen(rec), l);
}

static void
test_versions(void)
{
	struct logline_parser *p = parser(LOGFMT_STDERR, "%m [%p] ");
	struct logline l;

	/* PG 11: no application_name; compression inside the parentheses. */
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.016 UTC [10980] LOG:  connection authorized: "
			 "user=tls_app database=appdb SSL enabled (protocol=TLSv1.2, "
			 "cipher=ECDHE-RSA-AES256-GCM-SHA384, bits=256, compression=off)", &l), 0);
	CHECK_INT(l.kind, LOGLINE_AUTHORIZED);
	CHECK_INT(l.pid, 10980);
	CHECK_STR(l.user, "tls_app");
	CHECK_STR(l.database, "appdb");
	CHECK_STR(l.application, NULL);
	CHECK(l.ssl);
	CHECK_STR(l.protocol, "TLSv1.2");
	CHECK_STR(l.cipher, "ECDHE-RSA-AES256-GCM-SHA384");
	CHECK_INT(l.bits, 256);
	CHECK_INT(l.prec_us, 1000);
	CHECK_INT(l.time_us, 1796281353016000LL);
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.016 UTC [10981] LOG:  connection authorized: "
			 "user=plain database=appdb", &l), 0);
	CHECK_INT(l.kind, LOGLINE_AUTHORIZED);
	CHECK(!l.ssl);
	CHECK_STR(l.database, "appdb");
	CHECK_INT(l.bits, -1);

	/* PG 12, 13: application_name, compression still there. */
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.016 UTC [10982] LOG:  connection authorized: "
			 "user=tls_app database=appdb application_name=burst SSL enabled "
			 "(protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256, "
			 "compression=off)", &l), 0);
	CHECK_STR(l.application, "burst");
	CHECK_STR(l.cipher, "TLS_AES_256_GCM_SHA384");
	CHECK_INT(l.bits, 256);
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.016 UTC [10983] LOG:  connection authorized: "
			 "user=u database=d application_name=psql", &l), 0);
	CHECK_STR(l.application, "psql");
	CHECK(!l.ssl);
	/* PG 12, 13 GSS form, no SSL. */
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.016 UTC [10984] LOG:  connection authorized: "
			 "user=u database=d application_name=a GSS (authenticated=yes, "
			 "encrypted=yes, principal=u@EXAMPLE.COM)", &l), 0);
	CHECK_STR(l.application, "a");
	CHECK(!l.ssl);

	/* PG 14 to 17: no compression; authenticated line; GSS after SSL. */
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.007 UTC [10980] LOG:  connection received: "
			 "host=127.0.0.1 port=45646", &l), 0);
	CHECK_INT(l.kind, LOGLINE_RECEIVED);
	CHECK_STR(l.host, "127.0.0.1");
	CHECK_INT(l.port, 45646);
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.016 UTC [10980] LOG:  connection authenticated: "
			 "identity=\"tls_app\" method=scram-sha-256 "
			 "(/var/lib/pgm/data/pg_hba.conf:2)", &l), 0);
	CHECK_INT(l.kind, LOGLINE_AUTHENTICATED);
	CHECK_STR(l.identity, "tls_app");
	CHECK_STR(l.method, "scram-sha-256");
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.016 UTC [10980] LOG:  connection authorized: "
			 "user=tls_app database=appdb application_name=burst SSL enabled "
			 "(protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)", &l), 0);
	CHECK_STR(l.protocol, "TLSv1.3");
	CHECK_INT(l.bits, 256);
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.016 UTC [10985] LOG:  connection authorized: "
			 "user=u database=d SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_128_GCM_SHA256, "
			 "bits=128) GSS (authenticated=no, encrypted=no, delegated_credentials=no)", &l),
		  0);
	CHECK(l.ssl);
	CHECK_INT(l.bits, 128);
	CHECK_STR(l.application, NULL);
	/* IPv6 and Unix sockets. */
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.007 UTC [10986] LOG:  connection received: "
			 "host=::1 port=5", &l), 0);
	CHECK_STR(l.host, "::1");
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.007 UTC [10987] LOG:  connection received: "
			 "host=[local]", &l), 0);
	CHECK_INT(l.kind, LOGLINE_RECEIVED);
	CHECK_STR(l.host, NULL);
	CHECK_INT(l.port, -1);
	/* Walsenders are no client backends: no poll records them either. */
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.016 UTC [10988] LOG:  replication connection "
			 "authorized: user=repl application_name=walreceiver", &l), 0);
	CHECK_INT(l.kind, LOGLINE_OTHER);
	/* Other severities and messages are OTHER, not skipped. */
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.016 UTC [10989] FATAL:  connection authorized: "
			 "user=u database=d", &l), 0);
	CHECK_INT(l.kind, LOGLINE_OTHER);
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.016 UTC [10989] LOG:  checkpoint starting: time",
			 &l), 0);
	CHECK_INT(l.kind, LOGLINE_OTHER);
	logline_parser_free(p);
}

struct prefix_case {
	const char *prefix;
	const char *line;
	int32_t pid;
	int64_t time_us;	/* INT64_MIN: none */
	int64_t prec_us;
	int64_t start;
};

static void
test_prefixes(void)
{
	static const struct prefix_case cases[] = {
		{"%t:%r:%u@%d:[%p]:", "2026-12-03 07:02:33 UTC:10.0.0.5(45646):app@appdb:[10980]:LOG:  x",
		 10980, 1796281353000000LL, 1000000, -1},
		{"%t:%r:%u@%d:[%p]:",
		 "2026-12-03 07:02:33 UTC:[local]:[unknown]@[unknown]:[7]:LOG:  x", 7,
		 1796281353000000LL, 1000000, -1},
		{"%p ", "4242 LOG:  x", 4242, INT64_MIN, 0, -1},
		{"[%p] ", "[4242] LOG:  x", 4242, INT64_MIN, 0, -1},
		{"%m [%p] %q%u@%d ", "2026-12-03 07:02:33.100 UTC [99] app@db LOG:  x", 99,
		 1796281353100000LL, 1000, -1},
		/* %q: a process with no session stops the prefix there. */
		{"%m [%p] %q%u@%d ", "2026-12-03 07:02:33.100 UTC [99] LOG:  x", 99,
		 1796281353100000LL, 1000, -1},
		/* %c = hex start . hex pid: the pid is its second half. */
		{"%m %c ", "2026-12-03 07:02:33.100 UTC 6b111409.2ae4 LOG:  x", 0x2ae4,
		 1796281353100000LL, 1000, 0x6b111409},
		{"%c:", "6b111409.2ae4:LOG:  x", 0x2ae4, INT64_MIN, 0, 0x6b111409},
		{"%n [%p] ", "1796281353.007 [5] LOG:  x", 5, 1796281353007000LL, 1000, -1},
		{"%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
		 "2026-12-03 07:02:33 UTC [31]: [1-1] user=a,db=b,app=c d,client=1.2.3.4 LOG:  x", 31,
		 1796281353000000LL, 1000000, -1},
		{"%s %-8p|", "2026-12-03 07:00:00 UTC 31      |LOG:  x", 31, INT64_MIN, 0,
		 1796281200},
		{"%m [%p] ", "2026-12-03 08:02:33.100 +01 [3] LOG:  x", 3, 1796281353100000LL, 1000,
		 -1},
		{"%m [%p] ", "2026-12-03 02:02:33.100 -05:00 [3] LOG:  x", 3, 1796281353100000LL,
		 1000, -1},
	};
	struct logline l;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct prefix_case *c = &cases[i];
		struct logline_parser *p = parser(LOGFMT_STDERR, c->prefix);

		if (p == NULL) {
			CHECK(!"parser");
			continue;
		}
		if (parse1(p, c->line, &l) != 0) {
			fprintf(stderr, "case %zu (%s): %s\n", i, c->prefix, logline_error(p));
			CHECK(!"parsed");
		}
		CHECK_INT(l.pid, c->pid);
		CHECK_INT(l.time_us, c->time_us);
		if (c->time_us != INT64_MIN)
			CHECK_INT(l.prec_us, c->prec_us);
		CHECK_INT(l.session_start, c->start);
		logline_parser_free(p);
	}
}

static void
test_bad(void)
{
	char err[256];
	struct logline_parser *p = parser(LOGFMT_STDERR, NULL);
	struct logline l;

	CHECK(logline_parser_new(LOGFMT_STDERR, "%m %u ", err, sizeof err) == NULL);
	CHECK(strstr(err, "%p") != NULL);
	/* A line of no known prefix; a time in an unknown zone. */
	CHECK_INT(parse1(p, "Dec  3 07:02:33 host postgres[5]: LOG:  connection received", &l), -1);
	CHECK(strstr(logline_error(p), "prefix") != NULL);
	CHECK_INT(parse1(p, "2026-12-03 07:02:33 CET:1.2.3.4(5):a@b:[5]:LOG:  x", &l), -1);
	/* Truncated: the SSL part is broken, the line is no session. */
	CHECK_INT(parse1(p, "2026-12-03 07:02:33 UTC:1.2.3.4(5):a@b:[5]:LOG:  connection "
			 "authorized: user=a database=b SSL enabled (protocol=TLSv1.3, ciph)", &l), 0);
	CHECK_INT(l.kind, LOGLINE_OTHER);
	CHECK_INT(parse1(p, "2026-12-03 07:02:33 UTC:1.2.3.4(5):a@b:[5]:LOG:  connection "
			 "authorized: user=a", &l), 0);
	CHECK_INT(l.kind, LOGLINE_OTHER);
	logline_parser_free(p);

	p = parser(LOGFMT_CSVLOG, NULL);
	CHECK_INT(parse1(p, "2026-12-03 07:02:33.007 UTC,\"a\",\"b", &l), -1);
	CHECK_INT(parse1(p, "not,csv", &l), -1);
	logline_parser_free(p);
	p = parser(LOGFMT_JSONLOG, NULL);
	CHECK_INT(parse1(p, "{\"timestamp\":\"2026-12-03 07:02:33.007 UTC\",\"pid\":", &l), -1);
	CHECK_INT(parse1(p, "{\"timestamp\":\"2026-12-03 07:02:33.007 UTC\",\"pid\":5,"
			 "\"user\":\"a\\u0000b\"}", &l), -1);
	logline_parser_free(p);
}

struct collect {
	struct logline got[64];
	char *strs[64][4];
	size_t n;
	uint64_t skipped_at[16];
	size_t nskipped;
};

static char *
dup0(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int
collect_fn(void *arg, const struct logline *l, uint64_t lineno)
{
	struct collect *c = arg;

	(void)lineno;
	if (l->kind == LOGLINE_OTHER || c->n == 64)
		return 0;
	c->got[c->n] = *l;
	c->strs[c->n][0] = dup0(l->user);
	c->strs[c->n][1] = dup0(l->database);
	c->strs[c->n][2] = dup0(l->application);
	c->strs[c->n][3] = dup0(l->host);
	c->n++;
	return 0;
}

static void
collect_skip(void *arg, uint64_t lineno, const char *why, const char *rec, size_t len)
{
	struct collect *c = arg;

	(void)why, (void)rec, (void)len;
	if (c->nskipped < 16)
		c->skipped_at[c->nskipped++] = lineno;
}

static void
collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		for (int k = 0; k < 4; k++)
			free(c->strs[i][k]);
}

/* Reads text in chunks of `chunk` bytes (framing must not depend on them). */
static const struct logread_stats *
read_all(struct logread *r, const char *text, size_t n, size_t chunk)
{
	for (size_t i = 0; i < n; i += chunk)
		logread_feed(r, text + i, n - i < chunk ? n - i : chunk);
	logread_end(r);
	return logread_stats(r);
}

static char *
slurp(const char *name, size_t *n)
{
	char path[1024];
	const char *dir = getenv("SSLHIST_TEST_DATA");
	FILE *f;
	char *buf;
	long len;

	snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/data", name);
	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc((size_t)len + 1);
	*n = fread(buf, 1, (size_t)len, f);
	fclose(f);
	return buf;
}

/* The real PG 15 files: 5 sessions each, the last one hostile. */
static void
test_pg15_files(void)
{
	static const char *const files[] = {"pg15-stderr-rds.log", "pg15-csvlog.csv",
					    "pg15-jsonlog.json"};
	static const enum logline_format want[] = {LOGFMT_STDERR, LOGFMT_CSVLOG, LOGFMT_JSONLOG};
	static const size_t chunks[] = {1, 7, 4096, 1 << 20};

	for (size_t f = 0; f < 3; f++) {
		for (size_t ci = 0; ci < 4; ci++) {
			struct collect c = {0};
			char err[256];
			size_t n;
			char *text = slurp(files[f], &n);
			struct logread *r = logread_new(LOGFMT_AUTO, NULL, collect_fn, collect_skip,
							&c, err, sizeof err);
			const struct logread_stats *st;
			struct logline *h;

			if (text == NULL || r == NULL) {
				CHECK(!"read");
				free(text);
				logread_free(r);
				continue;
			}
			st = read_all(r, text, n, chunks[ci]);
			CHECK_INT(logread_format(r), want[f]);
			CHECK_INT(st->skipped, 0);
			CHECK_INT(c.n, 10);	/* 5 received + 5 authorized */
			h = &c.got[9];
			CHECK_INT(h->kind, LOGLINE_AUTHORIZED);
			CHECK_STR(c.strs[9][0], "ev\x1bil'\"$(id)");
			CHECK_STR(c.strs[9][1], "d\nb;$(x)");
			CHECK_STR(c.strs[9][2], "x $(y)");
			CHECK(h->ssl);
			CHECK_INT(h->bits, 256);
			CHECK_INT(h->pid, c.got[8].pid);
			CHECK_STR(c.strs[8][3], "127.0.0.1");
			CHECK_STR(c.strs[5][2], "burst");
			/* The authorized line's own address (%r, connection_from,
			 * remote_host), for logs cut between the two lines. */
			CHECK(h->has_host);
			CHECK_STR(c.strs[9][3], "127.0.0.1");
			CHECK(c.got[5].ssl);
			CHECK(!c.got[7].ssl);
			CHECK_STR(c.strs[7][2], "psql");
			logread_free(r);
			collect_free(&c);
			free(text);
		}
	}
}

/*
 * The real lines of PostgreSQL 13.16, 15.18 and 17.12 (Debian's servers,
 * RDS prefix, written by test_versions.py: tests/fixtures/pglogs/): three
 * sessions each, fixture-tls (scram, TLS), fixture-plain (scram, no TLS)
 * and fixture-trust (trust, TLS); 13 adds compression=off, 17 logs
 * "connection authenticated" for trust too.
 */
static void
test_version_fixtures(void)
{
	static const char *const files[] = {"../fixtures/pglogs/pg13.log",
					    "../fixtures/pglogs/pg15.log",
					    "../fixtures/pglogs/pg17.log"};
	static const char *const apps[] = {"fixture-tls", "fixture-plain", "fixture-trust"};
	static const bool ssl[] = {true, false, true};

	for (size_t f = 0; f < 3; f++) {
		struct collect c = {0};
		char err[256];
		size_t n, a = 0;
		char *text = slurp(files[f], &n);
		struct logread *r = logread_new(LOGFMT_AUTO, NULL, collect_fn, collect_skip, &c,
						err, sizeof err);
		const struct logread_stats *st;

		if (text == NULL || r == NULL) {
			CHECK(!"read");
			free(text);
			logread_free(r);
			continue;
		}
		st = read_all(r, text, n, 4096);
		CHECK_INT(logread_format(r), LOGFMT_STDERR);
		CHECK_INT(st->skipped, 0);
		for (size_t i = 0; i < c.n; i++) {
			if (c.got[i].kind != LOGLINE_AUTHORIZED)
				continue;
			if (a < 3) {
				CHECK_STR(c.strs[i][2], apps[a]);
				CHECK_INT(c.got[i].ssl, ssl[a]);
				if (ssl[a])
					CHECK_INT(c.got[i].bits, 256);
			}
			a++;
		}
		if (a != 3)
			fprintf(stderr, "%s: %zu authorized lines\n", files[f], a);
		CHECK_INT(a, 3);
		logread_free(r);
		collect_free(&c);
		free(text);
	}
}

static void
test_cloudwatch(void)
{
	static const char doc[] =
	    "{\n    \"events\": [\n        {\n"
	    "            \"logStreamName\": \"my-instance-1\",\n"
	    "            \"timestamp\": 1796281353000,\n"
	    "            \"message\": \"2026-12-03 07:02:33 UTC:10.1.2.3(45646):[unknown]@[unknown]"
	    ":[10980]:LOG:  connection received: host=10.1.2.3 port=45646\",\n"
	    "            \"ingestionTime\": 1764745358000,\n"
	    "            \"eventId\": \"1\"\n        },\n        {\n"
	    "            \"logStreamName\": \"my-instance-1\",\n"
	    "            \"timestamp\": 1796281353000,\n"
	    "            \"message\": \"2026-12-03 07:02:33 UTC:10.1.2.3(45646):app@db:[10980]:LOG"
	    ":  connection authorized: user=app database=db\\u001b[31m application_name=x\\\"{}"
	    " SSL enabled (protocol=TLSv1.2, cipher=ECDHE-RSA-AES128-GCM-SHA256, bits=128)\",\n"
	    "            \"eventId\": \"2\"\n        },\n"
	    "        { \"timestamp\": 1, \"message\": \"garbage\" }\n"
	    "    ],\n    \"searchedLogStreams\": [\n        {\n"
	    "            \"logStreamName\": \"my-instance-1\",\n"
	    "            \"searchedCompletely\": true\n        }\n    ]\n}\n";
	static const size_t chunks[] = {1, 13, sizeof doc};

	for (size_t ci = 0; ci < 3; ci++) {
		struct collect c = {0};
		char err[256];
		struct logread *r = logread_new(LOGFMT_AUTO, NULL, collect_fn, collect_skip, &c, err,
						sizeof err);
		const struct logread_stats *st = read_all(r, doc, sizeof doc - 1, chunks[ci]);

		CHECK_INT(logread_format(r), LOGFMT_CLOUDWATCH);
		CHECK_INT(c.n, 2);
		CHECK_INT(st->skipped, 1);	/* "garbage" */
		CHECK_INT(c.nskipped, 1);
		CHECK_INT(c.skipped_at[0], 16);
		CHECK_INT(c.got[0].pid, 10980);
		CHECK_STR(c.strs[0][3], "10.1.2.3");
		CHECK_INT(c.got[1].kind, LOGLINE_AUTHORIZED);
		CHECK_STR(c.strs[1][1], "db\x1b[31m");
		CHECK_STR(c.strs[1][2], "x\"{}");
		CHECK_INT(c.got[1].bits, 128);
		CHECK_INT(c.got[1].time_us, 1796281353000000LL);
		logread_free(r);
		collect_free(&c);
	}
}

static void
feed_str(struct logread *r, const char *s)
{
	logread_feed(r, s, strlen(s));
}

/* Framing: continuation lines, a prefix split by a newline in a name, an
 * overlong line, another format's lines, invalid UTF-8. */
static void
test_framing(void)
{
	static const char text[] =
	    "garbage before the first record\n"
	    "2026-12-03 07:02:33 UTC:1.2.3.4(5):a@b:[5]:LOG:  statement: select\n"
	    "\t1\n"
	    "2026-12-03 07:02:33 UTC:1.2.3.4(5):[unknown]@[unknown]:[6]:LOG:  connection received: "
	    "host=1.2.3.4 port=5\n"
	    "2026-12-03 07:02:33 UTC:1.2.3.4(5):u\xff@d\n"
	    "b:[6]:LOG:  connection authorized: user=u\xff database=d\n"
	    "\tb application_name=z\n"
	    "2026-12-03 07:02:34 UTC:1.2.3.4(5):a@b:[7]:LOG:  connection received: host=1.2.3.4 "
	    "port=7\n";
	struct collect c = {0};
	char err[256], *big;
	struct logread *r = logread_new(LOGFMT_STDERR, LOGLINE_RDS_PREFIX, collect_fn,
					collect_skip, &c, err, sizeof err);
	const struct logread_stats *st = read_all(r, text, sizeof text - 1, 3);

	CHECK_INT(st->lines, 8);
	CHECK_INT(st->skipped, 1);
	CHECK_INT(c.skipped_at[0], 1);
	CHECK_INT(c.n, 3);
	CHECK_STR(c.strs[1][0], "u\xff");
	CHECK_STR(c.strs[1][1], "d\nb");
	CHECK_STR(c.strs[1][2], "z");
	CHECK_INT(c.got[2].pid, 7);
	logread_free(r);
	collect_free(&c);

	/* A 1 MB line between two records: skipped once, nothing lost. */
	memset(&c, 0, sizeof c);
	r = logread_new(LOGFMT_AUTO, NULL, collect_fn, collect_skip, &c, err, sizeof err);
	big = malloc(1 << 20);
	memset(big, 'x', 1 << 20);
	feed_str(r, "2026-12-03 07:02:33 UTC:1.2.3.4(5):a@b:[8]:LOG:  connection received: "
		     "host=1.2.3.4 port=8\n");
	logread_feed(r, big, 1 << 20);
	feed_str(r, "\n2026-12-03 07:02:33 UTC:1.2.3.4(5):a@b:[9]:LOG:  connection received: "
		     "host=1.2.3.4 port=9\n");
	logread_end(r);
	st = logread_stats(r);
	CHECK_INT(st->skipped, 1);
	CHECK_INT(c.n, 2);
	CHECK_INT(c.got[1].pid, 9);
	logread_free(r);
	collect_free(&c);
	free(big);

	/* csvlog with a quote that never closes: cut, then read on. */
	memset(&c, 0, sizeof c);
	r = logread_new(LOGFMT_CSVLOG, NULL, collect_fn, collect_skip, &c, err, sizeof err);
	big = malloc(70000);
	memset(big, 'y', 70000);
	for (size_t i = 100; i < 70000; i += 100)
		big[i] = '\n';
	feed_str(r, "2026-12-03 07:02:33.007 UTC,\"a");
	logread_feed(r, big, 70000);
	feed_str(r, "\n2026-12-03 07:02:33.007 UTC,,,24768,\"1.2.3.4:5\",6b116098.60c0,1,\"\","
		     "2026-12-03 07:02:33 UTC,,0,LOG,00000,\"connection received: host=1.2.3.4 "
		     "port=5\",,,,,,,,,\"\",\"not initialized\",,0\n");
	logread_end(r);
	CHECK_INT(c.n, 1);
	CHECK_INT(c.got[0].pid, 24768);
	CHECK_INT(c.got[0].session_start, 1796281353);
	CHECK(logread_stats(r)->skipped >= 1);
	logread_free(r);
	collect_free(&c);
	free(big);
}

int
main(void)
{
	test_versions();
	test_prefixes();
	test_bad();
	test_pg15_files();
	test_version_fixtures();
	test_cloudwatch();
	test_framing();
	return check_done();
}
