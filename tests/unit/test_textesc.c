/* Unit tests of lib/textesc.c: terminal escaping and cutting. */
#include <stdlib.h>

#include "check.h"
#include "textesc.h"

static const struct {
	const char *in;
	size_t maxw;
	const char *want;
	size_t width;	/* textesc_width(in) */
} cases[] = {
	{ "", 0, "", 0 },
	{ "plain", 0, "plain", 5 },
	{ "\x1b[31mred", 0, "\\x1b[31mred", 11 },
	{ "a\nb\tc\r", 0, "a\\x0ab\\x09c\\x0d", 15 },
	{ "del\x7f", 0, "del\\x7f", 7 },
	{ "back\\slash", 0, "back\\x5cslash", 13 },
	{ "\xff\xfe", 0, "\\xff\\xfe", 8 },
	{ "caf\xc3\xa9", 0, "caf\xc3\xa9", 4 },
	{ "\xc2\x9b" "2J", 0, "\\xc2\\x9b2J", 10 },		/* 8-bit CSI */
	{ "a\xe2\x80\xae" "b", 0, "a\\xe2\\x80\\xaeb", 14 },	/* RLO */
	{ "\xe6\xbc\xa2\xe5\xad\x97", 0, "\xe6\xbc\xa2\xe5\xad\x97", 4 },	/* wide */
	{ "e\xcc\x81", 0, "e\xcc\x81", 1 },			/* combining */
	{ "$(id) `id` \"q\"", 0, "$(id) `id` \"q\"", 14 },
	/* Cutting: the marker is inside the limit; units are never split. */
	{ "abcdefghij", 10, "abcdefghij", 10 },
	{ "abcdefghijk", 10, "abcdefg...", 11 },
	{ "ab\x1b" "cdefgh", 8, "ab...", 12 },		/* \x1b would not fit whole */
	{ "ab\x1b" "cdefgh", 9, "ab\\x1b...", 12 },
	{ "\xe6\xbc\xa2\xe5\xad\x97\xe6\xbc\xa2", 5, "\xe6\xbc\xa2...", 6 },
	{ "abcdef", 2, "ab", 6 },				/* narrower than the marker */
};

int
main(void)
{
	size_t i;
	char *got;
	FILE *devnull = fopen("/dev/null", "w");

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = textesc_dup(cases[i].in, cases[i].maxw);
		CHECK_STR(got, cases[i].want);
		CHECK_INT(textesc_width(cases[i].in), cases[i].width);
		/* The columns printed never exceed the limit. */
		if (cases[i].maxw > 0 && devnull != NULL)
			CHECK(textesc_print(devnull, cases[i].in, cases[i].maxw) <=
			      cases[i].maxw);
		free(got);
	}
	CHECK_INT(textesc_width(NULL), 0);
	got = textesc_dup(NULL, 0);
	CHECK_STR(got, "");
	free(got);
	/* No byte below 0x20 or DEL ever comes out. */
	{
		char all[256];
		int b;
		size_t k;

		for (b = 1; b < 256; b++)
			all[b - 1] = (char)b;
		all[255] = '\0';
		got = textesc_dup(all, 0);
		CHECK(got != NULL);
		for (k = 0; got && got[k]; k++)
			if ((unsigned char)got[k] < 0x20 || (unsigned char)got[k] == 0x7f ||
			    ((unsigned char)got[k] >= 0x80))
				break;
		CHECK(got && got[k] == '\0');
		free(got);
	}
	if (devnull != NULL)
		fclose(devnull);
	return check_done();
}
