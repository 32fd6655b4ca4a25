/* Unit tests of lib/jsonw.c: escaping, UTF-8 repair, structure, streaming. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jsonw.h"

/* The buffered text, NUL-terminated, as a fresh string. */
static char *
text(struct jsonw *w)
{
	char *s = malloc(w->len + 1);

	if (s == NULL)
		abort();
	memcpy(s, w->buf ? w->buf : "", w->len);
	s[w->len] = '\0';
	return s;
}

static void
check_string(const char *in, size_t n, const char *want, int line)
{
	struct jsonw w;
	char *got;

	jsonw_init(&w);
	jsonw_strn(&w, in, n);
	got = text(&w);
	if (strcmp(got, want) != 0) {
		check_failed++;
		fprintf(stderr, "line %d: got %s, want %s\n", line, got, want);
	} else {
		check_passed++;
	}
	free(got);
	jsonw_free(&w);
}

#define S(lit, want) check_string(lit, sizeof(lit) - 1, want, __LINE__)

static void
test_strings(void)
{
	S("", "\"\"");
	S("plain", "\"plain\"");
	S("a\"b\\c", "\"a\\\"b\\\\c\"");
	S("\x1b[31mred", "\"\\u001b[31mred\"");
	S("nl\nt\tcr\r", "\"nl\\u000at\\u0009cr\\u000d\"");
	S("del\x7f", "\"del\\u007f\"");
	S("a\0b", "\"a\\u0000b\"");
	S("$(rm -rf /) `id`", "\"$(rm -rf /) `id`\"");
	/* Valid UTF-8 is kept as is. */
	S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* Each invalid byte becomes U+FFFD. */
	S("\xff", "\"\\ufffd\"");
	S("a\xc3", "\"a\\ufffd\"");			/* truncated */
	S("\xc3(", "\"\\ufffd(\"");			/* bad continuation */
	S("\xc0\xaf", "\"\\ufffd\\ufffd\"");		/* overlong '/' */
	S("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");	/* overlong */
	S("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");	/* surrogate */
	S("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");	/* > U+10FFFF */
	S("\x80x", "\"\\ufffdx\"");			/* lone continuation */
}

static void
test_structure(void)
{
	struct jsonw w;
	char *got;

	jsonw_init(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "a");
	jsonw_int(&w, -42);
	jsonw_key(&w, "b");
	jsonw_array_begin(&w);
	jsonw_bool(&w, true);
	jsonw_null(&w);
	jsonw_str(&w, NULL);
	jsonw_object_begin(&w);
	jsonw_object_end(&w);
	jsonw_array_begin(&w);
	jsonw_array_end(&w);
	jsonw_array_end(&w);
	jsonw_key(&w, "t");
	jsonw_time(&w, 1793534400);
	jsonw_key(&w, "d");
	jsonw_double(&w, 0.25);
	jsonw_key(&w, "nan");
	jsonw_double(&w, 0.0 / 0.0);
	jsonw_key(&w, "big");
	jsonw_int(&w, INT64_MIN);
	jsonw_object_end(&w);
	got = text(&w);
	CHECK_STR(got, "{\"a\":-42,\"b\":[true,null,null,{},[]],\"t\":\"2026-11-01T12:00:00Z\","
		  "\"d\":0.25,\"nan\":null,\"big\":-9223372036854775808}");
	CHECK(!w.oom);
	CHECK_INT(w.depth, 0);
	free(got);
	jsonw_free(&w);
}

static void
test_double_roundtrip(void)
{
	static const double v[] = { 0.1, 1.0 / 3.0, 1e-300, 123456789.125, 0.0 };
	struct jsonw w;
	char *got;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		jsonw_init(&w);
		jsonw_double(&w, v[i]);
		got = text(&w);
		CHECK(strtod(got, NULL) == v[i]);
		free(got);
		jsonw_free(&w);
	}
}

static void
test_stream(void)
{
	struct jsonw w;
	FILE *f;
	char out[256];
	size_t n;
	int i;

	f = tmpfile();
	CHECK(f != NULL);
	if (f == NULL)
		return;
	jsonw_init(&w);
	jsonw_array_begin(&w);
	for (i = 0; i < 3; i++) {
		jsonw_int(&w, i);
		CHECK_INT(jsonw_flush(&w, f), 0);
		CHECK_INT(w.len, 0);	/* emptied: memory stays bounded */
	}
	jsonw_array_end(&w);
	CHECK_INT(jsonw_flush(&w, f), 0);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	CHECK_STR(out, "[0,1,2]");
	fclose(f);
	jsonw_free(&w);
}

static void
test_too_deep(void)
{
	struct jsonw w;
	int i;

	jsonw_init(&w);
	for (i = 0; i < JSONW_MAX_DEPTH + 2; i++)
		jsonw_array_begin(&w);
	CHECK(w.oom);
	CHECK_INT(jsonw_flush(&w, stdout), -1);
	jsonw_free(&w);
}

int
main(void)
{
	test_strings();
	test_structure();
	test_double_roundtrip();
	test_stream();
	test_too_deep();
	return check_done();
}
