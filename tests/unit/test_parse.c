/*
 * test_parse.c: table-driven cases for the value parsers of parse.c.
 * A NULL `err` in a table means the value must parse; otherwise the
 * parser must fail (the exact text is checked where it matters).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "parse.h"

static void
test_durations(void)
{
	static const struct { const char *in; int64_t ms; const char *err; } cases[] = {
		{ "500ms", 500, NULL },
		{ "30s", 30000, NULL },
		{ "5m", 300000, NULL },
		{ "2h", 7200000, NULL },
		{ "400d", 400LL * 86400000, NULL },
		{ "45", 45000, NULL },
		{ " 10s ", 10000, NULL },
		{ "0", 0, NULL },
		{ "0ms", 0, NULL },
		{ "9223372036854775807ms", INT64_MAX, NULL },
		{ "", 0, "empty duration" },
		{ "   ", 0, "empty duration" },
		{ "-5s", 0, "negative duration" },
		{ "+5s", 0, "not a duration (e.g. 500ms, 30s, 5m, 2h, 400d)" },
		{ "s", 0, "not a duration (e.g. 500ms, 30s, 5m, 2h, 400d)" },
		{ "5x", 0, "unknown duration unit (use ms, s, m, h or d)" },
		{ "5 s", 0, "unknown duration unit (use ms, s, m, h or d)" },
		{ "5sec", 0, "unknown duration unit (use ms, s, m, h or d)" },
		{ "1h30m", 0, "unknown duration unit (use ms, s, m, h or d)" },
		{ "1.5s", 0, "unknown duration unit (use ms, s, m, h or d)" },
		{ "5S", 0, "unknown duration unit (use ms, s, m, h or d)" },
		{ "9223372036854775808ms", 0, "duration too large" },
		{ "9223372036854775807s", 0, "duration too large" },
		{ "106751991167301d", 0, "duration too large" },
		{ "99999999999999999999999", 0, "duration too large" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = -1;
		const char *err = parse_duration_ms(cases[i].in, &ms);
		CHECK_STR(err, cases[i].err);
		if (cases[i].err == NULL)
			CHECK_INT(ms, cases[i].ms);
		else
			CHECK_INT(ms, -1);	/* untouched on error */
	}
}

static void
test_percent(void)
{
	static const struct { const char *in; double f; int ok; } cases[] = {
		{ "10%", 0.10, 1 }, { "0%", 0.0, 1 }, { "100%", 1.0, 1 },
		{ "12.5%", 0.125, 1 }, { " 50% ", 0.5, 1 }, { "100.0%", 1.0, 1 },
		{ "10", 0, 0 }, { "", 0, 0 }, { "-1%", 0, 0 }, { "101%", 0, 0 },
		{ "100.5%", 0, 0 }, { "1.%", 0, 0 }, { ".5%", 0, 0 }, { "5%%", 0, 0 },
		{ "5 %", 0, 0 }, { "abc%", 0, 0 }, { "99999999999999999999%", 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double f = -1;
		const char *err = parse_percent(cases[i].in, &f);
		if (cases[i].ok) {
			CHECK_STR(err, NULL);
			CHECK(f > cases[i].f - 1e-9 && f < cases[i].f + 1e-9);
		} else {
			CHECK(err != NULL);
		}
	}
}

static void
test_int_range(void)
{
	static const struct { const char *in; long min, max, v; const char *err; } cases[] = {
		{ "4", 1, 64, 4, NULL },
		{ "1", 1, 64, 1, NULL },
		{ "64", 1, 64, 64, NULL },
		{ " 7 ", 1, 64, 7, NULL },
		{ "0", 1, 64, 0, "number out of range" },
		{ "65", 1, 64, 0, "number out of range" },
		{ "-1", 1, 64, 0, "negative number" },
		{ "", 1, 64, 0, "empty number" },
		{ "4x", 1, 64, 0, "not an integer" },
		{ "x", 1, 64, 0, "not an integer" },
		{ "0x10", 1, 64, 0, "not an integer" },
		{ "99999999999999999999", 1, 64, 0, "number too large" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long v = -1;
		CHECK_STR(parse_int_range(cases[i].in, cases[i].min, cases[i].max, &v),
		    cases[i].err);
		CHECK_INT(v, cases[i].err ? -1 : cases[i].v);
	}
}

static void
test_lists(void)
{
	static const struct { const char *in; const char *joined; const char *err; } cases[] = {
		{ "a", "a", NULL },
		{ "a,b", "a|b", NULL },
		{ " a , b\t,c ", "a|b|c", NULL },
		{ "", "", NULL },
		{ "   ", "", NULL },
		{ "rdsadmin", "rdsadmin", NULL },
		{ "a,,b", NULL, "empty item in list" },
		{ "a,", NULL, "empty item in list" },
		{ ",a", NULL, "empty item in list" },
		{ "a, ,b", NULL, "empty item in list" },
		{ ",", NULL, "empty item in list" },
	};
	size_t i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strlist l = { NULL, 0 };
		char buf[256] = "";
		CHECK_STR(parse_list(cases[i].in, &l), cases[i].err);
		if (cases[i].err != NULL) {
			CHECK_INT(l.n, 0);
			continue;
		}
		for (j = 0; j < l.n; j++) {
			if (j > 0)
				strcat(buf, "|");
			strcat(buf, l.v[j]);
		}
		CHECK_STR(buf, cases[i].joined);
		if (l.n > 0)
			CHECK(l.v[l.n] == NULL);
		strlist_free(&l);
	}

	{
		struct strlist l = { NULL, 0 };
		CHECK_INT(strlist_add(&l, "x"), 0);
		CHECK_INT(strlist_add(&l, "y"), 0);
		CHECK(strlist_contains(&l, "y"));
		CHECK(!strlist_contains(&l, "z"));
		CHECK(l.v[2] == NULL);
		strlist_free(&l);
		CHECK_INT(l.n, 0);
		CHECK(l.v == NULL);
	}
}

static void
test_duration_lists(void)
{
	int64_t *v = NULL;
	size_t n = 99;

	CHECK_STR(parse_duration_list("30s, 2m, 10m, 1h, 6h", &v, &n), NULL);
	CHECK_INT(n, 5);
	if (n == 5) {
		CHECK_INT(v[0], 30000);
		CHECK_INT(v[1], 120000);
		CHECK_INT(v[4], 6 * 3600000LL);
	}
	free(v);
	v = NULL;
	CHECK_STR(parse_duration_list("", &v, &n), NULL);
	CHECK_INT(n, 0);
	free(v);
	v = NULL;
	n = 99;
	CHECK_STR(parse_duration_list("30s, x", &v, &n), "not a duration (e.g. 500ms, 30s, 5m, 2h, 400d)");
	CHECK_STR(parse_duration_list("30s,,1m", &v, &n), "empty item in list");
	CHECK_STR(parse_duration_list("30s,-1m", &v, &n), "negative duration");
	CHECK_STR(parse_duration_list("1s, 5y", &v, &n), "unknown duration unit (use ms, s, m, h or d)");
	CHECK(v == NULL);
	CHECK_INT(n, 99);
}

static void
test_hostport(void)
{
	static const struct { const char *in; const char *host; int port; const char *err; } cases[] = {
		{ "db1", "db1", 5432, NULL },
		{ "db1:6432", "db1", 6432, NULL },
		{ "db1.cluster-abc.eu-west-1.rds.amazonaws.com:5433",
		  "db1.cluster-abc.eu-west-1.rds.amazonaws.com", 5433, NULL },
		{ "127.0.0.1:1", "127.0.0.1", 1, NULL },
		{ "[::1]:5433", "::1", 5433, NULL },
		{ "[::1]", "::1", 5432, NULL },
		{ "[fe80::1%eth0]:65535", "fe80::1%eth0", 65535, NULL },
		{ " db2:7 ", "db2", 7, NULL },
		{ "/var/run/postgresql", "/var/run/postgresql", 5432, NULL },
		{ "", NULL, 0, "empty host" },
		{ ":5432", NULL, 0, "empty host" },
		{ "db1:", NULL, 0, "empty port" },
		{ "db1:0", NULL, 0, "bad port (1..65535)" },
		{ "db1:65536", NULL, 0, "bad port (1..65535)" },
		{ "db1:-1", NULL, 0, "bad port (1..65535)" },
		{ "db1:54x", NULL, 0, "bad port (1..65535)" },
		{ "db1:99999999999999999999", NULL, 0, "bad port (1..65535)" },
		{ "::1", NULL, 0, "IPv6 address without brackets (write [ADDR]:PORT)" },
		{ "[::1", NULL, 0, "missing ']' after IPv6 address" },
		{ "[::1]5432", NULL, 0, "expected ':PORT' after ']'" },
		{ "[]:5432", NULL, 0, "empty host" },
		{ "db 1:5432", NULL, 0, "bad character in host" },
		{ "db\x1b:5432", NULL, 0, "bad character in host" },
		{ "a,b", NULL, 0, "bad character in host" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *host = NULL;
		int port = 5432;
		CHECK_STR(parse_hostport(cases[i].in, &host, &port), cases[i].err);
		CHECK_STR(host, cases[i].host);
		if (cases[i].err == NULL)
			CHECK_INT(port, cases[i].port);
		else
			CHECK_INT(port, 5432);
		free(host);
	}
}

static void
test_command(void)
{
	static const struct { const char *in; const char *argv; const char *err; } cases[] = {
		{ "/usr/bin/notify", "/usr/bin/notify", NULL },
		{ "/usr/bin/notify --to ops", "/usr/bin/notify|--to|ops", NULL },
		{ "  /bin/x\t a  b ", "/bin/x|a|b", NULL },
		{ "/bin/x \"two words\" c", "/bin/x|two words|c", NULL },
		{ "/bin/x a\"b c\"d", "/bin/x|ab cd", NULL },
		{ "/bin/x \"\"", "/bin/x|", NULL },
		{ "/bin/x \"say \\\"hi\\\"\"", "/bin/x|say \"hi\"", NULL },
		{ "/bin/x \"back\\\\slash\"", "/bin/x|back\\slash", NULL },
		{ "/bin/x \"a\\nb\"", "/bin/x|a\\nb", NULL },
		{ "/bin/x a\\ b", "/bin/x|a\\|b", NULL },
		/* No shell: these are literal arguments. */
		{ "/bin/echo $(touch x)", "/bin/echo|$(touch|x)", NULL },
		{ "/bin/echo `id`", "/bin/echo|`id`", NULL },
		{ "/bin/echo a; rm -rf /", "/bin/echo|a;|rm|-rf|/", NULL },
		{ "/bin/echo a|b && c > /tmp/f", "/bin/echo|a|b|&&|c|>|/tmp/f", NULL },
		{ "/bin/echo $HOME '*'", "/bin/echo|$HOME|'*'", NULL },
		{ "\"/opt/my hooks/run\" x", "/opt/my hooks/run|x", NULL },
		{ "", NULL, "empty command" },
		{ "   ", NULL, "empty command" },
		{ "notify --to ops", NULL, "command must start with an absolute path" },
		{ "./notify", NULL, "command must start with an absolute path" },
		{ "\"\" /bin/x", NULL, "command must start with an absolute path" },
		{ "/bin/x \"open", NULL, "unterminated double quote in command" },
		{ "/bin/x\na", NULL, "control character in command" },
	};
	size_t i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strlist argv = { NULL, 0 };
		char buf[256] = "";
		CHECK_STR(parse_command(cases[i].in, &argv), cases[i].err);
		if (cases[i].err != NULL) {
			CHECK_INT(argv.n, 0);
			continue;
		}
		for (j = 0; j < argv.n; j++) {
			if (j > 0)
				strcat(buf, "|");
			strcat(buf, argv.v[j]);
		}
		CHECK_STR(buf, cases[i].argv);
		CHECK(argv.v[argv.n] == NULL);
		strlist_free(&argv);
	}
}

static void
test_when(void)
{
	const int64_t now = 1795000000;	/* 2026-11-18T07:06:40Z */
	static const struct { const char *in; int64_t t; const char *err; } cases[] = {
		{ "7d", 1795000000 - 7 * 86400, NULL },
		{ "90m", 1795000000 - 5400, NULL },
		{ "1500ms", 1795000000 - 1, NULL },
		{ "2026-11-01", 1793491200, NULL },
		{ "1970-01-01", 0, NULL },
		{ "1969-12-31", -86400, NULL },
		{ "2024-02-29", 1709164800, NULL },
		{ "2026-11-01T12:00:00Z", 1793491200 + 43200, NULL },
		{ "2026-11-01t12:00:00z", 1793491200 + 43200, NULL },
		{ "2026-11-01 12:00:00Z", 1793491200 + 43200, NULL },
		{ "2026-11-01T12:00:00.123456Z", 1793491200 + 43200, NULL },
		{ "2026-11-01T12:00:00+02:00", 1793491200 + 36000, NULL },
		{ "2026-11-01T12:00:00.5-05:30", 1793491200 + 43200 + 19800, NULL },
		{ "2026-11-01T00:00:00+00:00", 1793491200, NULL },
		{ "2016-12-31T23:59:60Z", 1483228800, NULL },
		{ "2023-02-29", 0, "no such day in that month" },
		{ "2026-04-31", 0, "no such day in that month" },
		{ "2026-13-01", 0, "bad date (YYYY-MM-DD)" },
		{ "2026-00-10", 0, "bad date (YYYY-MM-DD)" },
		{ "2026-1-01", 0, "not a duration, date or RFC 3339 time" },
		{ "2026-11-01T12:00:00", 0, "missing or bad time zone (Z or +hh:mm)" },
		{ "2026-11-01T12:00Z", 0, "bad time of day (HH:MM:SS)" },
		{ "2026-11-01T24:00:00Z", 0, "bad time of day (HH:MM:SS)" },
		{ "2026-11-01T12:00:00.Z", 0, "bad fraction of a second" },
		{ "2026-11-01T12:00:00+0200", 0, "missing or bad time zone (Z or +hh:mm)" },
		{ "2026-11-01T12:00:00+24:00", 0, "missing or bad time zone (Z or +hh:mm)" },
		{ "2026-11-01T12:00:00Zx", 0, "missing or bad time zone (Z or +hh:mm)" },
		{ "2026-11-01X", 0, "bad date or time (YYYY-MM-DD or RFC 3339)" },
		{ "yesterday", 0, "not a duration, date or RFC 3339 time" },
		{ "", 0, "not a duration, date or RFC 3339 time" },
		{ "-7d", 0, "not a duration, date or RFC 3339 time" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = 42;
		const char *err = parse_when(cases[i].in, now, &t);
		CHECK_STR(err, cases[i].err);
		CHECK_INT(t, cases[i].err ? 42 : cases[i].t);
		if (err != NULL && cases[i].err == NULL)
			fprintf(stderr, "  (input %s)\n", cases[i].in);
	}
}

static void
test_format_time(void)
{
	static const struct { int64_t t; const char *s; } cases[] = {
		{ 0, "1970-01-01T00:00:00Z" },
		{ 1793491200 + 43200, "2026-11-01T12:00:00Z" },
		{ -1, "1969-12-31T23:59:59Z" },
		{ 951782400, "2000-02-29T00:00:00Z" },
		{ 253402300799, "9999-12-31T23:59:59Z" },
	};
	size_t i;
	char buf[32];
	int64_t back;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		format_time(cases[i].t, buf);
		CHECK_STR(buf, cases[i].s);
		/* What format_time writes, parse_when reads back. */
		if (cases[i].t >= 0) {
			CHECK_STR(parse_when(buf, 0, &back), NULL);
			CHECK_INT(back, cases[i].t);
		}
	}
	format_time(INT64_MAX, buf);
	CHECK(strlen(buf) < 32 && buf[strlen(buf) - 1] == 'Z');
	format_time(INT64_MIN, buf);
	CHECK(strlen(buf) < 32 && buf[strlen(buf) - 1] == 'Z');
}

int
main(void)
{
	test_durations();
	test_percent();
	test_int_range();
	test_lists();
	test_duration_lists();
	test_hostport();
	test_command();
	test_when();
	test_format_time();
	return check_done();
}
