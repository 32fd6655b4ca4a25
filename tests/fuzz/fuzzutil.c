/* fuzzutil.c: see fuzzutil.h. */
#include "fuzzutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: fuzz invariant failed: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void *
fuzz_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

char *
fuzz_cstr(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t n = nul ? (size_t)(nul - data) : size;
	char *s = fuzz_xmalloc(n + 1);

	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

bool
fuzz_contains(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	if (k == 0)
		return true;
	for (i = 0; i + k <= n; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0)
			return true;
	return false;
}

/* ---- stderr capture ---- */

static int capture_fd = -1, saved_stderr = -1;

void
fuzz_capture_begin(void)
{
	if (capture_fd < 0 && (capture_fd = memfd_create("fuzz_stderr", 0)) < 0)
		abort();
	/* The offset too: fd 2 shares it once it points at capture_fd. */
	if (ftruncate(capture_fd, 0) != 0 || lseek(capture_fd, 0, SEEK_SET) != 0)
		abort();
	fflush(stderr);
	if ((saved_stderr = dup(STDERR_FILENO)) < 0 || dup2(capture_fd, STDERR_FILENO) < 0)
		abort();
}

char *
fuzz_capture_end(size_t *len)
{
	off_t n;
	char *text;

	fflush(stderr);
	if (dup2(saved_stderr, STDERR_FILENO) < 0)
		abort();
	close(saved_stderr);
	if ((n = lseek(capture_fd, 0, SEEK_END)) < 0)
		abort();
	text = fuzz_xmalloc((size_t)n + 1);
	if (n > 0 && pread(capture_fd, text, (size_t)n, 0) != n)
		abort();
	text[n] = '\0';
	*len = (size_t)n;
	return text;
}

/* ---- input consumer ---- */

uint8_t
fdp_u8(struct fdp *p)
{
	uint8_t v;

	if (p->n == 0)
		return 0;
	v = p->d[0];
	p->d++;
	p->n--;
	return v;
}

uint64_t
fdp_u64(struct fdp *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | fdp_u8(p);
	return v;
}

bool
fdp_empty(const struct fdp *p)
{
	return p->n == 0;
}

char *
fdp_str(struct fdp *p, size_t maxlen)
{
	size_t want = fdp_u8(p) % (maxlen + 1), k = 0;
	char *s = fuzz_xmalloc(want + 1);

	while (k < want && p->n > 0) {
		uint8_t c = fdp_u8(p);
		if (c != 0)
			s[k++] = (char)c;
	}
	s[k] = '\0';
	return s;
}

/* ---- UTF-8 ---- */

/* RFC 3629 section 4: the allowed range of each byte after the first. */
static const struct {
	unsigned char lead_lo, lead_hi, len, second_lo, second_hi;
} utf8_table[] = {
	{ 0xc2, 0xdf, 2, 0x80, 0xbf },
	{ 0xe0, 0xe0, 3, 0xa0, 0xbf },
	{ 0xe1, 0xec, 3, 0x80, 0xbf },
	{ 0xed, 0xed, 3, 0x80, 0x9f },
	{ 0xee, 0xef, 3, 0x80, 0xbf },
	{ 0xf0, 0xf0, 4, 0x90, 0xbf },
	{ 0xf1, 0xf3, 4, 0x80, 0xbf },
	{ 0xf4, 0xf4, 4, 0x80, 0x8f },
};

size_t
ref_utf8_seq(const unsigned char *s, size_t n)
{
	size_t i, k;

	if (s[0] < 0x80)
		return 1;
	for (i = 0; i < sizeof(utf8_table) / sizeof(utf8_table[0]); i++) {
		if (s[0] < utf8_table[i].lead_lo || s[0] > utf8_table[i].lead_hi)
			continue;
		if (n < utf8_table[i].len || s[1] < utf8_table[i].second_lo ||
		    s[1] > utf8_table[i].second_hi)
			return 0;
		for (k = 2; k < utf8_table[i].len; k++)
			if (s[k] < 0x80 || s[k] > 0xbf)
				return 0;
		return utf8_table[i].len;
	}
	return 0;
}

bool
ref_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if ((k = ref_utf8_seq(s + i, n - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

char *
ref_utf8_repair(const unsigned char *s, size_t n, size_t *outlen)
{
	char *out = fuzz_xmalloc(3 * n + 1);
	size_t i = 0, o = 0, k;

	while (i < n) {
		if ((k = ref_utf8_seq(s + i, n - i)) == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

size_t
ref_utf8_encode(uint32_t cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

uint32_t
ref_utf8_cp(const unsigned char *s, size_t len)
{
	static const unsigned char lead_mask[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	uint32_t cp = s[0] & lead_mask[len];
	size_t i;

	for (i = 1; i < len; i++)
		cp = cp << 6 | (s[i] & 0x3f);
	return cp;
}

/* ---- JSON ---- */

#define JSON_MAX_DEPTH 100

struct jparser {
	const char *s;
	size_t n, i;
	const char *err;
	int depth;
};

static void
skip_ws(struct jparser *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	    p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static int
jfail(struct jparser *p, const char *why)
{
	if (p->err == NULL)
		p->err = why;
	return -1;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
parse_number(struct jparser *p, struct jv *v)
{
	size_t start = p->i;

	if (p->i < p->n && p->s[p->i] == '-')
		p->i++;
	if (p->i >= p->n || !is_digit(p->s[p->i]))
		return jfail(p, "bad number");
	if (p->s[p->i] == '0')
		p->i++;
	else
		while (p->i < p->n && is_digit(p->s[p->i]))
			p->i++;
	if (p->i < p->n && p->s[p->i] == '.') {
		p->i++;
		if (p->i >= p->n || !is_digit(p->s[p->i]))
			return jfail(p, "bad fraction");
		while (p->i < p->n && is_digit(p->s[p->i]))
			p->i++;
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (p->i >= p->n || !is_digit(p->s[p->i]))
			return jfail(p, "bad exponent");
		while (p->i < p->n && is_digit(p->s[p->i]))
			p->i++;
	}
	v->t = J_NUM;
	v->slen = p->i - start;
	v->s = fuzz_xmalloc(v->slen + 1);
	memcpy(v->s, p->s + start, v->slen);
	v->s[v->slen] = '\0';
	return 0;
}

static int
hex4(struct jparser *p, uint32_t *out)
{
	uint32_t v = 0;
	int k;

	if (p->i + 4 > p->n)
		return jfail(p, "short \\u escape");
	for (k = 0; k < 4; k++) {
		char c = p->s[p->i++];
		v <<= 4;
		if (is_digit(c))
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return jfail(p, "bad hex digit in \\u escape");
	}
	*out = v;
	return 0;
}

/* \uXXXX (after the "\u"), with surrogate pairs; lone surrogates are
 * errors (they decode to no UTF-8). */
static int
unicode_escape(struct jparser *p, uint32_t *cp)
{
	uint32_t lo;

	if (hex4(p, cp) < 0)
		return -1;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return jfail(p, "lone low surrogate");
	if (*cp < 0xd800 || *cp > 0xdbff)
		return 0;
	if (p->i + 2 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
		return jfail(p, "lone high surrogate");
	p->i += 2;
	if (hex4(p, &lo) < 0)
		return -1;
	if (lo < 0xdc00 || lo > 0xdfff)
		return jfail(p, "high surrogate without low");
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	return 0;
}

static int
parse_string(struct jparser *p, struct jv *v)
{
	/* Decoded text is never longer than the encoded. */
	char *out = fuzz_xmalloc(p->n - p->i + 1);
	size_t o = 0, k;
	uint32_t cp;
	unsigned char c;

	p->i++;		/* the opening quote */
	for (;;) {
		if (p->i >= p->n) {
			free(out);
			return jfail(p, "unterminated string");
		}
		c = (unsigned char)p->s[p->i];
		if (c == '"') {
			p->i++;
			break;
		}
		if (c < 0x20) {
			free(out);
			return jfail(p, "raw control character in string");
		}
		if (c != '\\') {
			if ((k = ref_utf8_seq((const unsigned char *)p->s + p->i, p->n - p->i)) == 0) {
				free(out);
				return jfail(p, "invalid UTF-8 in string");
			}
			memcpy(out + o, p->s + p->i, k);
			o += k;
			p->i += k;
			continue;
		}
		if (++p->i >= p->n) {
			free(out);
			return jfail(p, "backslash at the end");
		}
		c = (unsigned char)p->s[p->i++];
		switch (c) {
		case '"': case '\\': case '/':
			out[o++] = (char)c;
			break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			if (unicode_escape(p, &cp) < 0) {
				free(out);
				return -1;
			}
			o += ref_utf8_encode(cp, (unsigned char *)out + o);
			break;
		default:
			free(out);
			return jfail(p, "unknown escape");
		}
	}
	out[o] = '\0';
	v->t = J_STR;
	v->s = out;
	v->slen = o;
	return 0;
}

static int parse_value(struct jparser *p, struct jv *v);

static void
jv_append(struct jv *v, struct jv **arr, const struct jv *item)
{
	struct jv *a = realloc(*arr, (v->n + 1) * sizeof(**arr));

	if (a == NULL)
		abort();
	a[v->n] = *item;
	*arr = a;
}

static int
parse_container(struct jparser *p, struct jv *v, bool object)
{
	char close = object ? '}' : ']';
	struct jv key, item;

	v->t = object ? J_OBJ : J_ARR;
	if (++p->depth > JSON_MAX_DEPTH)
		return jfail(p, "nested too deep");
	p->i++;
	skip_ws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		p->depth--;
		return 0;
	}
	for (;;) {
		memset(&key, 0, sizeof(key));
		memset(&item, 0, sizeof(item));
		skip_ws(p);
		if (object) {
			if (p->i >= p->n || p->s[p->i] != '"' || parse_string(p, &key) < 0)
				return jfail(p, "expected a key");
			skip_ws(p);
			if (p->i >= p->n || p->s[p->i] != ':') {
				jv_free(&key);
				return jfail(p, "expected ':'");
			}
			p->i++;
		}
		if (parse_value(p, &item) < 0) {
			jv_free(&key);
			jv_free(&item);
			return -1;
		}
		if (object)
			jv_append(v, &v->keys, &key);
		jv_append(v, &v->items, &item);
		v->n++;
		skip_ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->n && p->s[p->i] == close) {
			p->i++;
			p->depth--;
			return 0;
		}
		return jfail(p, "expected ',' or the end of a container");
	}
}

static bool
literal(struct jparser *p, const char *word)
{
	size_t k = strlen(word);

	if (p->i + k > p->n || memcmp(p->s + p->i, word, k) != 0)
		return false;
	p->i += k;
	return true;
}

static int
parse_value(struct jparser *p, struct jv *v)
{
	memset(v, 0, sizeof(*v));
	skip_ws(p);
	if (p->i >= p->n)
		return jfail(p, "expected a value");
	switch (p->s[p->i]) {
	case '{':
		return parse_container(p, v, true);
	case '[':
		return parse_container(p, v, false);
	case '"':
		return parse_string(p, v);
	case 't':
	case 'f':
		v->t = J_BOOL;
		v->b = p->s[p->i] == 't';
		return literal(p, v->b ? "true" : "false") ? 0 : jfail(p, "bad literal");
	case 'n':
		v->t = J_NULL;
		return literal(p, "null") ? 0 : jfail(p, "bad literal");
	default:
		return parse_number(p, v);
	}
}

int
jv_parse(const char *text, size_t len, struct jv *out, const char **err)
{
	struct jparser p = { text, len, 0, NULL, 0 };

	if (parse_value(&p, out) == 0) {
		skip_ws(&p);
		if (p.i == p.n) {
			*err = NULL;
			return 0;
		}
		jfail(&p, "text after the value");
	}
	jv_free(out);
	*err = p.err;
	return -1;
}

void
jv_free(struct jv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		if (v->items)
			jv_free(&v->items[i]);
		if (v->keys)
			jv_free(&v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
	memset(v, 0, sizeof(*v));
}

const struct jv *
jv_get(const struct jv *obj, const char *key)
{
	size_t i, k = strlen(key);

	if (obj->t != J_OBJ)
		return NULL;
	for (i = 0; i < obj->n; i++)
		if (obj->keys[i].slen == k && memcmp(obj->keys[i].s, key, k) == 0)
			return &obj->items[i];
	return NULL;
}

/* ---- CSV ---- */

static void
csv_add_field(struct csv_record *r, const char *s, size_t len, bool quoted)
{
	struct csv_field *f = realloc(r->f, (r->n + 1) * sizeof(*f));

	if (f == NULL)
		abort();
	r->f = f;
	f = &r->f[r->n++];
	f->s = fuzz_xmalloc(len + 1);
	memcpy(f->s, s, len);
	f->s[len] = '\0';
	f->len = len;
	f->quoted = quoted;
}

/* One field at text[*i]; leaves *i on the ',' or CR after it. */
static int
csv_field(const char *t, size_t len, size_t *i, struct csv_record *r, const char **err)
{
	size_t start = *i, o = 0;
	char *buf;

	if (*i < len && t[*i] == '"') {
		buf = fuzz_xmalloc(len - *i);
		for ((*i)++;; (*i)++) {
			if (*i >= len) {
				free(buf);
				*err = "unterminated quoted field";
				return -1;
			}
			if (t[*i] == '"') {
				if (*i + 1 < len && t[*i + 1] == '"') {
					buf[o++] = '"';
					(*i)++;
					continue;
				}
				(*i)++;
				break;
			}
			buf[o++] = t[*i];
		}
		csv_add_field(r, buf, o, true);
		free(buf);
		return 0;
	}
	while (*i < len && t[*i] != ',' && t[*i] != '\r') {
		if (t[*i] == '"' || t[*i] == '\n') {
			*err = "quote or LF in an unquoted field";
			return -1;
		}
		(*i)++;
	}
	csv_add_field(r, t + start, *i - start, false);
	return 0;
}

int
csv_parse(const char *t, size_t len, struct csv_doc *out, const char **err)
{
	size_t i = 0;
	struct csv_record *r;

	memset(out, 0, sizeof(*out));
	*err = NULL;
	while (i < len) {
		r = realloc(out->r, (out->n + 1) * sizeof(*r));
		if (r == NULL)
			abort();
		out->r = r;
		r = &out->r[out->n++];
		memset(r, 0, sizeof(*r));
		for (;;) {
			if (csv_field(t, len, &i, r, err) < 0)
				goto fail;
			if (i < len && t[i] == ',') {
				i++;
				continue;
			}
			if (i + 1 < len && t[i] == '\r' && t[i + 1] == '\n') {
				i += 2;
				break;
			}
			*err = "record does not end with CRLF";
			goto fail;
		}
	}
	return 0;
fail:
	csv_free(out);
	return -1;
}

void
csv_free(struct csv_doc *d)
{
	size_t i, j;

	for (i = 0; i < d->n; i++) {
		for (j = 0; j < d->r[i].n; j++)
			free(d->r[i].f[j].s);
		free(d->r[i].f);
	}
	free(d->r);
	memset(d, 0, sizeof(*d));
}
