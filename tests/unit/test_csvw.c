/* Unit tests of lib/csvw.c: RFC 4180 quoting. */
#include <stdlib.h>

#include "check.h"
#include "csvw.h"

static const struct {
	const char *in;
	const char *want;
} fields[] = {
	{ "plain", "plain\r\n" },
	{ "", "\"\"\r\n" },
	{ NULL, "\r\n" },
	{ "a,b", "\"a,b\"\r\n" },
	{ "say \"hi\"", "\"say \"\"hi\"\"\"\r\n" },
	{ "two\nlines", "\"two\nlines\"\r\n" },
	{ "cr\r", "\"cr\r\"\r\n" },
	{ " lead", "\" lead\"\r\n" },
	{ "trail\t", "\"trail\t\"\r\n" },
	{ "\x1b[2J$(id)`x`", "\x1b[2J$(id)`x`\r\n" },	/* bytes kept as is */
	{ "\xff\xfe", "\xff\xfe\r\n" },
};

static char *
one_row(void (*fill)(struct csvw *, const void *), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct csvw w;

	if (f == NULL)
		abort();
	csvw_init(&w, f);
	fill(&w, arg);
	csvw_end_row(&w);
	CHECK_INT(csvw_status(&w), 0);
	fclose(f);
	return buf;
}

static void
fill_str(struct csvw *w, const void *arg)
{
	csvw_str(w, arg);
}

static void
fill_mixed(struct csvw *w, const void *arg)
{
	(void)arg;
	csvw_str(w, "x");
	csvw_int(w, -5);
	csvw_bool(w, true);
	csvw_null(w);
	csvw_time(w, 1793534400);
	csvw_double(w, 0.5);
}

int
main(void)
{
	size_t i;
	char *got;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		got = one_row(fill_str, fields[i].in);
		CHECK_STR(got, fields[i].want);
		free(got);
	}
	got = one_row(fill_mixed, NULL);
	CHECK_STR(got, "x,-5,true,,2026-11-01T12:00:00Z,0.5\r\n");
	free(got);
	return check_done();
}
