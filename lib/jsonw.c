/*
 * jsonw.c: the streaming JSON writer of jsonw.h.
 *
 * The buffer only ever holds what was written since the last flush, so a
 * caller that flushes per row writes documents of any size in bounded
 * memory. Invalid UTF-8 is replaced byte by byte, so the output is valid
 * UTF-8 whatever a monitored server sent.
 */
#include "jsonw.h"
#include "parse.h"
#include "utf8.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void
jsonw_init(struct jsonw *w)
{
	memset(w, 0, sizeof(*w));
	w->first[0] = true;
}

void
jsonw_free(struct jsonw *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

int
jsonw_flush(struct jsonw *w, FILE *out)
{
	if (w->oom)
		return -1;
	if (w->len > 0 && fwrite(w->buf, 1, w->len, out) != w->len)
		return -1;
	w->len = 0;
	return 0;
}

static bool
reserve(struct jsonw *w, size_t more)
{
	size_t ncap;
	char *nbuf;

	if (w->oom)
		return false;
	if (w->len + more <= w->cap)
		return true;
	ncap = w->cap ? w->cap : 256;
	while (ncap < w->len + more) {
		if (ncap > SIZE_MAX / 2) {
			w->oom = true;
			return false;
		}
		ncap *= 2;
	}
	nbuf = realloc(w->buf, ncap);
	if (nbuf == NULL) {
		w->oom = true;
		return false;
	}
	w->buf = nbuf;
	w->cap = ncap;
	return true;
}

static void
put(struct jsonw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void
puts_(struct jsonw *w, const char *s)
{
	put(w, s, strlen(s));
}

/* The separator before a value or a key at the current depth. */
static void
before_item(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first[w->depth])
		put(w, ",", 1);
	w->first[w->depth] = false;
}

static void
open_(struct jsonw *w, char c)
{
	before_item(w);
	put(w, &c, 1);
	if (w->depth + 1 >= JSONW_MAX_DEPTH) {
		w->oom = true;	/* too deep: the output would be invalid */
		return;
	}
	w->depth++;
	w->first[w->depth] = true;
}

static void
close_(struct jsonw *w, char c)
{
	put(w, &c, 1);
	if (w->depth > 0)
		w->depth--;
	w->after_key = false;
}

void
jsonw_object_begin(struct jsonw *w)
{
	open_(w, '{');
}

void
jsonw_object_end(struct jsonw *w)
{
	close_(w, '}');
}

void
jsonw_array_begin(struct jsonw *w)
{
	open_(w, '[');
}

void
jsonw_array_end(struct jsonw *w)
{
	close_(w, ']');
}

static void
put_string(struct jsonw *w, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run, len;
	uint32_t cp;
	char esc[7];

	put(w, "\"", 1);
	while (i < n) {
		/* Copy the longest run that needs no escaping at once. */
		run = i;
		while (run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' &&
		       s[run] != '\\')
			run++;
		if (run > i) {
			put(w, str + i, run - i);
			i = run;
			continue;
		}
		if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)s[i];
			put(w, esc, 2);
			i++;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[s[i] >> 4];
			esc[5] = hex[s[i] & 0xf];
			put(w, esc, 6);
			i++;
		} else if ((len = utf8_decode(s + i, n - i, &cp)) > 0) {
			put(w, str + i, len);
			i += len;
		} else {
			puts_(w, "\\ufffd");
			i++;
		}
	}
	put(w, "\"", 1);
}

void
jsonw_key(struct jsonw *w, const char *key)
{
	before_item(w);
	put_string(w, key, strlen(key));
	put(w, ":", 1);
	w->after_key = true;
}

void
jsonw_str(struct jsonw *w, const char *s)
{
	if (s == NULL) {
		jsonw_null(w);
		return;
	}
	jsonw_strn(w, s, strlen(s));
}

void
jsonw_strn(struct jsonw *w, const char *s, size_t n)
{
	if (s == NULL) {
		jsonw_null(w);
		return;
	}
	before_item(w);
	put_string(w, s, n);
}

void
jsonw_int(struct jsonw *w, int64_t v)
{
	char b[24];

	before_item(w);
	snprintf(b, sizeof(b), "%" PRId64, v);
	puts_(w, b);
}

void
jsonw_double(struct jsonw *w, double v)
{
	char b[32];

	/* JSON has no NaN or infinity. */
	if (!isfinite(v)) {
		jsonw_null(w);
		return;
	}
	before_item(w);
	/* The shortest of %.15g/%.17g that reads back as the same value. */
	snprintf(b, sizeof(b), "%.15g", v);
	if (strtod(b, NULL) != v)
		snprintf(b, sizeof(b), "%.17g", v);
	puts_(w, b);
}

void
jsonw_bool(struct jsonw *w, bool v)
{
	before_item(w);
	puts_(w, v ? "true" : "false");
}

void
jsonw_null(struct jsonw *w)
{
	before_item(w);
	puts_(w, "null");
}

void
jsonw_time(struct jsonw *w, int64_t t)
{
	char b[32];

	format_time(t, b);
	before_item(w);
	put(w, "\"", 1);
	puts_(w, b);
	put(w, "\"", 1);
}
