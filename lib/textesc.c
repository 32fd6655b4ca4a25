/*
 * textesc.c: terminal escaping and width-aware cutting of textesc.h.
 *
 * A string is walked as units: one printable code point (kept, 0-2
 * columns) or one byte to escape (\xHH, 4 columns). Cutting works on whole
 * units, so an escape or a multi-byte character is never split.
 */
#include "textesc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define ESC_WIDTH 4

struct range {
	uint32_t lo, hi;
};

/* Combining marks and zero-width characters (the common blocks). */
static const struct range zero_width[] = {
	{ 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd }, { 0x0610, 0x061a },
	{ 0x064b, 0x065f }, { 0x0e31, 0x0e31 }, { 0x0e34, 0x0e3a }, { 0x1ab0, 0x1aff },
	{ 0x1dc0, 0x1dff }, { 0x200b, 0x200f }, { 0x20d0, 0x20ff }, { 0xfe00, 0xfe0f },
	{ 0xfe20, 0xfe2f },
};

/* East Asian wide and fullwidth forms, emoji. */
static const struct range wide[] = {
	{ 0x1100, 0x115f }, { 0x2e80, 0x303e }, { 0x3041, 0x33ff }, { 0x3400, 0x4dbf },
	{ 0x4e00, 0x9fff }, { 0xa000, 0xa4cf }, { 0xac00, 0xd7a3 }, { 0xf900, 0xfaff },
	{ 0xfe30, 0xfe4f }, { 0xff00, 0xff60 }, { 0xffe0, 0xffe6 }, { 0x1f300, 0x1f64f },
	{ 0x1f900, 0x1f9ff }, { 0x20000, 0x2fffd }, { 0x30000, 0x3fffd },
};

static bool
in_ranges(uint32_t cp, const struct range *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cp >= r[i].lo && cp <= r[i].hi)
			return true;
	return false;
}

/* Code points that must not reach a terminal even when valid UTF-8. */
static bool
is_dangerous(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) ||		/* C1 controls */
	       (cp >= 0x202a && cp <= 0x202e) ||	/* bidi embeddings/overrides */
	       (cp >= 0x2066 && cp <= 0x2069) ||	/* bidi isolates */
	       cp == 0x2028 || cp == 0x2029;		/* line/paragraph separators */
}

struct unit {
	size_t len;	/* bytes of s it covers */
	size_t width;	/* columns it takes once written */
	bool escape;	/* written as \xHH per byte */
};

static struct unit
next_unit(const unsigned char *s, size_t n)
{
	struct unit u = { 1, ESC_WIDTH, true };
	uint32_t cp;
	size_t len;

	if (s[0] >= 0x20 && s[0] < 0x7f && s[0] != '\\') {
		u.width = 1;
		u.escape = false;
		return u;
	}
	if (s[0] < 0x80)
		return u;	/* C0 control, DEL, backslash */
	len = utf8_decode(s, n, &cp);
	if (len == 0)
		return u;	/* invalid byte */
	u.len = len;
	if (is_dangerous(cp)) {
		u.width = ESC_WIDTH * len;
		return u;
	}
	u.escape = false;
	if (in_ranges(cp, zero_width, sizeof(zero_width) / sizeof(zero_width[0])))
		u.width = 0;
	else if (in_ranges(cp, wide, sizeof(wide) / sizeof(wide[0])))
		u.width = 2;
	else
		u.width = 1;
	return u;
}

size_t
textesc_width(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n, i = 0, w = 0;
	struct unit u;

	if (str == NULL)
		return 0;
	n = strlen(str);
	while (i < n) {
		u = next_unit(s + i, n - i);
		w += u.width;
		i += u.len;
	}
	return w;
}

static int
write_unit(FILE *out, const unsigned char *s, struct unit u)
{
	static const char hex[] = "0123456789abcdef";
	char esc[4] = { '\\', 'x', 0, 0 };
	size_t k;

	if (!u.escape)
		return fwrite(s, 1, u.len, out) == u.len ? 0 : -1;
	for (k = 0; k < u.len; k++) {
		esc[2] = hex[s[k] >> 4];
		esc[3] = hex[s[k] & 0xf];
		if (fwrite(esc, 1, sizeof(esc), out) != sizeof(esc))
			return -1;
	}
	return 0;
}

size_t
textesc_print(FILE *out, const char *str, size_t maxw)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n, i = 0, run = 0, used = 0, budget;
	bool cut;
	struct unit u;

	if (str == NULL)
		return 0;
	n = strlen(str);
	cut = maxw > 0 && textesc_width(str) > maxw;
	/* Too narrow for the marker: cut without it. */
	if (cut && maxw <= TEXTESC_MARKER_WIDTH)
		cut = false;
	budget = cut ? maxw - TEXTESC_MARKER_WIDTH : maxw;
	/* Bytes kept as they are go out in runs, one fwrite per run. */
	while (i < n) {
		u = next_unit(s + i, n - i);
		if (maxw > 0 && used + u.width > budget)
			break;
		if (u.escape) {
			if ((i > run && fwrite(s + run, 1, i - run, out) != i - run) ||
			    write_unit(out, s + i, u) < 0)
				return (size_t)-1;
			run = i + u.len;
		}
		used += u.width;
		i += u.len;
	}
	if (i > run && fwrite(s + run, 1, i - run, out) != i - run)
		return (size_t)-1;
	if (cut) {
		if (fputs(TEXTESC_MARKER, out) == EOF)
			return (size_t)-1;
		used += TEXTESC_MARKER_WIDTH;
	}
	return used;
}

char *
textesc_dup(const char *s, size_t maxw)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	if (textesc_print(f, s ? s : "", maxw) == (size_t)-1) {
		fclose(f);
		free(buf);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
