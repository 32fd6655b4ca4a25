/*
 * jsonw.h: a small streaming JSON writer into a growable buffer.
 *
 * Strings are written as valid UTF-8 JSON whatever the input: control
 * characters become \u00XX (ESC is \u001b), '"' and '\' are escaped, and a
 * byte that is not part of valid UTF-8 becomes \ufffd. Nothing else of a
 * string is altered. Commas between members and elements are automatic.
 */
#ifndef SSLHIST_JSONW_H
#define SSLHIST_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSONW_MAX_DEPTH 32

struct jsonw {
	char *buf;
	size_t len, cap;
	bool oom;			/* an allocation failed; output invalid */
	int depth;
	bool first[JSONW_MAX_DEPTH];	/* no member written yet at this depth */
	bool after_key;
};

void jsonw_init(struct jsonw *w);
void jsonw_free(struct jsonw *w);
/* Writes what is buffered to `out` and empties the buffer (streaming). */
int jsonw_flush(struct jsonw *w, FILE *out);

void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);

/* Values (inside an array, or after jsonw_key). NULL s writes null. */
void jsonw_str(struct jsonw *w, const char *s);
void jsonw_strn(struct jsonw *w, const char *s, size_t n);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_double(struct jsonw *w, double v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* RFC 3339 UTC time from Unix seconds. */
void jsonw_time(struct jsonw *w, int64_t t);

#endif
