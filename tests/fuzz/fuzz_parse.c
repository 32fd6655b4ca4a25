/*
 * fuzz_parse.c: the value parsers of lib/parse.c (durations, percentages,
 * integers, lists, duration lists, host:port, `--since` WHEN) and
 * format_time(), all on the same input string.
 *
 * Beyond not crashing: durations are compared against a reference reading
 * of the grammar (digits, one unit, no overflow); every accepted value is
 * formatted and read back to the same value; lists hold trimmed, non-empty
 * items, one more than the commas; WHEN times inside years 0000..9999 come
 * back from format_time() unchanged.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "parse.h"

/* A fixed "now", so that a crashing input replays the same. */
#define NOW INT64_C(1798761600)		/* 2027-01-01T00:00:00Z */
#define YEAR0 INT64_C(-62167219200)	/* 0000-01-01T00:00:00Z */
#define YEAR10000 INT64_C(253402300800)	/* 10000-01-01T00:00:00Z */

static bool
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The reference: what parse_duration_ms() must accept, and its value. */
static bool
ref_duration(const char *s, int64_t *ms)
{
	static const struct { const char *unit; int64_t mul; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "", 1000 },
	};
	size_t n = strlen(s), i = 0, j, k;
	int64_t v = 0;

	while (n > 0 && blank(s[n - 1]))
		n--;
	while (i < n && blank(s[i]))
		i++;
	for (j = i; j < n && s[j] >= '0' && s[j] <= '9'; j++) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[j] - '0', &v))
			return false;
	}
	if (j == i)
		return false;
	for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
		if (strlen(units[k].unit) == n - j && memcmp(s + j, units[k].unit, n - j) == 0)
			return !__builtin_mul_overflow(v, units[k].mul, ms);
	}
	return false;
}

static void
check_duration(const char *s)
{
	int64_t ms = -1, ref = -1, back = -1;
	const char *err = parse_duration_ms(s, &ms);
	bool want = ref_duration(s, &ref);
	char buf[40];

	FUZZ_ASSERT((err == NULL) == want, "parse_duration_ms(\"%s\"): %s, reference %s", s,
	    err ? err : "accepted", want ? "accepts" : "rejects");
	if (err != NULL)
		return;
	FUZZ_ASSERT(ms == ref, "\"%s\": %" PRId64 " ms, reference %" PRId64, s, ms, ref);
	snprintf(buf, sizeof(buf), "%" PRId64 "ms", ms);
	FUZZ_ASSERT(parse_duration_ms(buf, &back) == NULL && back == ms, "%s not read back", buf);
}

static void
check_percent(const char *s)
{
	double f = -1;

	if (parse_percent(s, &f) == NULL)
		FUZZ_ASSERT(f >= 0.0 && f <= 1.0, "parse_percent(\"%s\") = %g", s, f);
}

static void
check_int(const char *s)
{
	long v = -1, back = -1;
	char buf[32];

	if (parse_int_range(s, 1, 65535, &v) != NULL)
		return;
	FUZZ_ASSERT(v >= 1 && v <= 65535, "parse_int_range(\"%s\") = %ld", s, v);
	snprintf(buf, sizeof(buf), "%ld", v);
	FUZZ_ASSERT(parse_int_range(buf, 1, 65535, &back) == NULL && back == v, "%s", buf);
}

static void
check_list(const char *s)
{
	struct strlist l = { NULL, 0 }, again = { NULL, 0 };
	size_t commas = 0, i, len = 0;
	const char *p;
	char *joined;
	int64_t *ms = NULL;
	size_t nms = 0;

	if (parse_list(s, &l) != NULL) {
		FUZZ_ASSERT(parse_duration_list(s, &ms, &nms) != NULL,
		    "a duration list parsed where the list did not: \"%s\"", s);
		return;
	}
	for (p = s; *p; p++)
		commas += *p == ',';
	FUZZ_ASSERT(l.n == (l.n == 0 ? 0 : commas + 1), "\"%s\": %zu items, %zu commas",
	    s, l.n, commas);
	FUZZ_ASSERT(l.v == NULL ? l.n == 0 : l.v[l.n] == NULL, "list not NULL-terminated");
	for (i = 0; i < l.n; i++) {
		size_t k = strlen(l.v[i]);
		FUZZ_ASSERT(k > 0 && !blank(l.v[i][0]) && !blank(l.v[i][k - 1]) &&
		    strchr(l.v[i], ',') == NULL, "bad item \"%s\" of \"%s\"", l.v[i], s);
		len += k + 1;
	}
	joined = fuzz_xmalloc(len + 1);
	joined[0] = '\0';
	for (i = 0; i < l.n; i++) {
		if (i)
			strcat(joined, ",");
		strcat(joined, l.v[i]);
	}
	FUZZ_ASSERT(parse_list(joined, &again) == NULL && again.n == l.n, "\"%s\"", joined);
	for (i = 0; i < l.n; i++)
		FUZZ_ASSERT(strcmp(again.v[i], l.v[i]) == 0, "item %zu changed", i);
	if (parse_duration_list(s, &ms, &nms) == NULL) {
		FUZZ_ASSERT(nms == l.n, "\"%s\": %zu durations, %zu items", s, nms, l.n);
		for (i = 0; i < nms; i++) {
			int64_t one = -1;
			FUZZ_ASSERT(parse_duration_ms(l.v[i], &one) == NULL && one == ms[i],
			    "duration item %zu of \"%s\"", i, s);
		}
		free(ms);
	}
	free(joined);
	strlist_free(&l);
	strlist_free(&again);
}

static void
check_hostport(const char *s)
{
	char *host = NULL, *host2 = NULL, *buf;
	int port = 5432, port2 = 1;
	const unsigned char *h;

	if (parse_hostport(s, &host, &port) != NULL)
		return;
	FUZZ_ASSERT(host != NULL && host[0] != '\0', "empty host from \"%s\"", s);
	FUZZ_ASSERT(port >= 1 && port <= 65535, "port %d from \"%s\"", port, s);
	for (h = (const unsigned char *)host; *h; h++)
		FUZZ_ASSERT(*h > ' ' && *h != 0x7f && *h != ',' && *h != '[' && *h != ']',
		    "byte 0x%02x in host from \"%s\"", *h, s);
	buf = fuzz_xmalloc(strlen(host) + 16);
	sprintf(buf, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	FUZZ_ASSERT(parse_hostport(buf, &host2, &port2) == NULL && strcmp(host, host2) == 0 &&
	    port2 == port, "\"%s\" does not read back", buf);
	free(buf);
	free(host);
	free(host2);
}

static void
check_when(const char *s)
{
	int64_t t = 0, back = 0;
	char buf[32];

	if (parse_when(s, NOW, &t) != NULL)
		return;
	format_time(t, buf);
	if (t < YEAR0 || t >= YEAR10000)
		return;		/* no 4-digit year to write it with */
	FUZZ_ASSERT(parse_when(buf, NOW, &back) == NULL && back == t,
	    "\"%s\" -> %" PRId64 " -> %s -> %" PRId64, s, t, buf, back);
}

/* format_time() over any int64: a NUL-terminated string, and inside the
 * 4-digit years one that parse_when() reads back. */
static void
check_format_time(int64_t t)
{
	char buf[32];
	int64_t back = 0;

	memset(buf, 'x', sizeof(buf));
	format_time(t, buf);
	FUZZ_ASSERT(memchr(buf, '\0', sizeof(buf)) != NULL, "unterminated");
	if (t >= YEAR0 && t < YEAR10000)
		FUZZ_ASSERT(parse_when(buf, NOW, &back) == NULL && back == t,
		    "%" PRId64 " -> %s -> %" PRId64, t, buf, back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct fdp p = { data, size };

	check_duration(s);
	check_percent(s);
	check_int(s);
	check_list(s);
	check_hostport(s);
	check_when(s);
	check_format_time((int64_t)fdp_u64(&p));
	free(s);
	return 0;
}
