/*
 * parse.c: see parse.h. Every parser is strict: no sign, no blanks inside
 * a number, no unknown suffix, no overflow; what it rejects it names.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

void
strlist_free(struct strlist *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
strlist_add(struct strlist *l, const char *s)
{
	char **v;
	char *dup = strdup(s);

	if (dup == NULL)
		return -1;
	v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (v == NULL) {
		free(dup);
		return -1;
	}
	v[l->n++] = dup;
	v[l->n] = NULL;
	l->v = v;
	return 0;
}

int
strlist_contains(const struct strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies s without leading and trailing blanks into a new string. */
static char *
trimmed_dup(const char *s, size_t len)
{
	char *out;

	while (len > 0 && is_blank(*s))
		s++, len--;
	while (len > 0 && is_blank(s[len - 1]))
		len--;
	out = malloc(len + 1);
	if (out != NULL) {
		memcpy(out, s, len);
		out[len] = '\0';
	}
	return out;
}

/* Reads decimal digits into *v; returns the end, or NULL on overflow or
 * when there is no digit. */
static const char *
read_uint(const char *p, uint64_t max, uint64_t *v)
{
	const char *start = p;

	*v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (*v > (max - d) / 10)
			return NULL;
		*v = *v * 10 + d;
	}
	return p == start ? NULL : p;
}

static const char *
duration_trimmed(const char *s, int64_t *ms)
{
	static const struct { const char *suffix; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "", 1000 },
	};
	const char *end;
	uint64_t v;
	size_t i;

	if (*s == '\0')
		return "empty duration";
	if (*s == '-')
		return "negative duration";
	if (*s < '0' || *s > '9')
		return "not a duration (e.g. 500ms, 30s, 5m, 2h, 400d)";
	end = read_uint(s, INT64_MAX, &v);
	if (end == NULL)
		return "duration too large";
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (v > (uint64_t)INT64_MAX / units[i].ms)
			return "duration too large";
		*ms = (int64_t)(v * units[i].ms);
		return NULL;
	}
	return "unknown duration unit (use ms, s, m, h or d)";
}

const char *
parse_duration_ms(const char *s, int64_t *ms)
{
	char *t = trimmed_dup(s, strlen(s));
	const char *err;

	if (t == NULL)
		return "out of memory";
	err = duration_trimmed(t, ms);
	free(t);
	return err;
}

const char *
parse_percent(const char *s, double *fraction)
{
	char *t = trimmed_dup(s, strlen(s));
	const char *p, *err = NULL;
	uint64_t whole, frac = 0, scale = 1;

	if (t == NULL)
		return "out of memory";
	p = t;
	if (*p == '\0')
		err = "empty percentage";
	else if (*p == '-')
		err = "negative percentage";
	else if ((p = read_uint(p, 1000, &whole)) == NULL)
		err = "not a percentage (e.g. 10%)";
	if (err == NULL && *p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale < 1000000000) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
		}
		if (scale == 1)
			err = "not a percentage (e.g. 10%)";
	}
	if (err == NULL && strcmp(p, "%") != 0)
		err = "not a percentage (e.g. 10%)";
	if (err == NULL && (whole > 100 || (whole == 100 && frac > 0)))
		err = "percentage above 100%";
	if (err == NULL)
		*fraction = ((double)whole + (double)frac / (double)scale) / 100.0;
	free(t);
	return err;
}

const char *
parse_int_range(const char *s, long min, long max, long *out)
{
	char *t = trimmed_dup(s, strlen(s));
	const char *end, *err = NULL;
	uint64_t v = 0;

	if (t == NULL)
		return "out of memory";
	if (*t == '\0')
		err = "empty number";
	else if (*t == '-')
		err = "negative number";
	else if (*t < '0' || *t > '9')
		err = "not an integer";
	else if ((end = read_uint(t, LONG_MAX, &v)) == NULL)
		err = "number too large";
	else if (*end != '\0')
		err = "not an integer";
	else if ((long)v < min || (long)v > max)
		err = "number out of range";
	if (err == NULL)
		*out = (long)v;
	free(t);
	return err;
}

/* Adds s[0..len) trimmed to l; an empty item is an error. */
static const char *
list_item(struct strlist *l, const char *s, size_t len)
{
	char *item = trimmed_dup(s, len);
	const char *err = NULL;

	if (item == NULL)
		return "out of memory";
	if (item[0] == '\0')
		err = "empty item in list";
	else if (strlist_add(l, item) == -1)
		err = "out of memory";
	free(item);
	return err;
}

const char *
parse_list(const char *s, struct strlist *out)
{
	const char *p = s, *comma, *err;
	struct strlist l = { NULL, 0 };

	while (is_blank(*p))
		p++;
	while (*p != '\0') {
		comma = strchr(p, ',');
		err = list_item(&l, p, comma ? (size_t)(comma - p) : strlen(p));
		if (err == NULL && comma != NULL && comma[1] == '\0')
			err = "empty item in list";
		if (err != NULL) {
			strlist_free(&l);
			return err;
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*out = l;
	return NULL;
}

const char *
parse_duration_list(const char *s, int64_t **ms, size_t *n)
{
	struct strlist l;
	const char *err;
	int64_t *v;
	size_t i;

	if ((err = parse_list(s, &l)) != NULL)
		return err;
	v = calloc(l.n ? l.n : 1, sizeof(*v));
	if (v == NULL) {
		strlist_free(&l);
		return "out of memory";
	}
	for (i = 0; i < l.n; i++) {
		if ((err = duration_trimmed(l.v[i], &v[i])) != NULL) {
			free(v);
			strlist_free(&l);
			return err;
		}
	}
	*ms = v;
	*n = l.n;
	strlist_free(&l);
	return NULL;
}

static const char *
parse_port(const char *s, int *port)
{
	uint64_t v;
	const char *end = read_uint(s, 65535, &v);

	if (*s == '\0')
		return "empty port";
	if (end == NULL || *end != '\0' || v == 0)
		return "bad port (1..65535)";
	*port = (int)v;
	return NULL;
}

static const char *
check_host(const char *h, size_t len)
{
	size_t i;

	if (len == 0)
		return "empty host";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];
		if (c <= ' ' || c == 0x7f || c == ',' || c == '[' || c == ']')
			return "bad character in host";
	}
	return NULL;
}

const char *
parse_hostport(const char *s, char **host, int *port)
{
	char *t = trimmed_dup(s, strlen(s));
	const char *h, *ps = NULL, *err, *colon;
	size_t hlen;
	int p = *port;

	if (t == NULL)
		return "out of memory";
	if (t[0] == '[') {
		const char *close = strchr(t, ']');
		if (close == NULL) {
			err = "missing ']' after IPv6 address";
			goto out;
		}
		h = t + 1;
		hlen = (size_t)(close - h);
		if (close[1] == ':')
			ps = close + 2;
		else if (close[1] != '\0') {
			err = "expected ':PORT' after ']'";
			goto out;
		}
	} else {
		h = t;
		colon = strchr(t, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			err = "IPv6 address without brackets (write [ADDR]:PORT)";
			goto out;
		}
		hlen = colon ? (size_t)(colon - t) : strlen(t);
		if (colon != NULL)
			ps = colon + 1;
	}
	if ((err = check_host(h, hlen)) != NULL)
		goto out;
	if (ps != NULL && (err = parse_port(ps, &p)) != NULL)
		goto out;
	if ((*host = strndup(h, hlen)) == NULL) {
		err = "out of memory";
		goto out;
	}
	*port = p;
out:
	free(t);
	return err;
}

/* Appends one word of a command; `w` is reset for the next word. */
static int
command_word(struct strlist *argv, char *w, size_t *wlen)
{
	w[*wlen] = '\0';
	*wlen = 0;
	return strlist_add(argv, w);
}

const char *
parse_command(const char *s, struct strlist *argv)
{
	struct strlist l = { NULL, 0 };
	char *w = malloc(strlen(s) + 1);
	const char *p, *err = NULL;
	size_t wlen = 0;
	bool inword = false, quoted = false;

	if (w == NULL)
		return "out of memory";
	for (p = s; *p != '\0' && err == NULL; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c < ' ' && c != '\t') || c == 0x7f) {
			err = "control character in command";
		} else if (quoted) {
			if (c == '"')
				quoted = false;
			else if (c == '\\' && (p[1] == '"' || p[1] == '\\'))
				w[wlen++] = *++p;
			else
				w[wlen++] = (char)c;
		} else if (c == ' ' || c == '\t') {
			if (inword && command_word(&l, w, &wlen) == -1)
				err = "out of memory";
			inword = false;
		} else {
			inword = true;
			if (c == '"')
				quoted = true;
			else
				w[wlen++] = (char)c;
		}
	}
	if (err == NULL && quoted)
		err = "unterminated double quote in command";
	if (err == NULL && inword && command_word(&l, w, &wlen) == -1)
		err = "out of memory";
	if (err == NULL && l.n == 0)
		err = "empty command";
	if (err == NULL && l.v[0][0] != '/')
		err = "command must start with an absolute path";
	free(w);
	if (err != NULL) {
		strlist_free(&l);
		return err;
	}
	*argv = l;
	return NULL;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (parse.h). */
int64_t
parse_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int
days_in_month(int64_t y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

/* Exactly n digits at p, within [min, max]; returns p + n or NULL. */
static const char *
fixed_digits(const char *p, int n, int min, int max, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return NULL;
		v = v * 10 + (p[i] - '0');
	}
	if (v < min || v > max)
		return NULL;
	*out = v;
	return p + n;
}

/* "HH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" after the date; adds to *t. */
static const char *
parse_rfc3339_time(const char *p, int64_t *t)
{
	int hh, mm, ss, oh, om;
	int64_t off;

	if ((p = fixed_digits(p, 2, 0, 23, &hh)) == NULL || *p++ != ':' ||
	    (p = fixed_digits(p, 2, 0, 59, &mm)) == NULL || *p++ != ':' ||
	    (p = fixed_digits(p, 2, 0, 60, &ss)) == NULL)
		return "bad time of day (HH:MM:SS)";
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return "bad fraction of a second";
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		off = 0;
	} else if ((*p == '+' || *p == '-') &&
	    fixed_digits(p + 1, 2, 0, 23, &oh) != NULL && p[3] == ':' &&
	    fixed_digits(p + 4, 2, 0, 59, &om) != NULL && p[6] == '\0') {
		off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
	} else {
		return "missing or bad time zone (Z or +hh:mm)";
	}
	*t += hh * 3600 + mm * 60 + ss - off;
	return NULL;
}

const char *
parse_when(const char *s, int64_t now, int64_t *t)
{
	int y, m, d;
	const char *p;
	int64_t ms, v;

	if (s[0] >= '0' && s[0] <= '9' && strlen(s) >= 10 && s[4] == '-') {
		if ((p = fixed_digits(s, 4, 0, 9999, &y)) == NULL || *p++ != '-' ||
		    (p = fixed_digits(p, 2, 1, 12, &m)) == NULL || *p++ != '-' ||
		    (p = fixed_digits(p, 2, 1, 31, &d)) == NULL)
			return "bad date (YYYY-MM-DD)";
		if (d > days_in_month(y, m))
			return "no such day in that month";
		v = parse_days_from_civil(y, m, d) * 86400;
		if (*p == '\0') {
			*t = v;
			return NULL;
		}
		if (*p != 'T' && *p != 't' && *p != ' ')
			return "bad date or time (YYYY-MM-DD or RFC 3339)";
		if ((p = parse_rfc3339_time(p + 1, &v)) != NULL)
			return p;
		*t = v;
		return NULL;
	}
	if ((p = parse_duration_ms(s, &ms)) != NULL)
		return "not a duration, date or RFC 3339 time";
	if (now < INT64_MIN + ms / 1000)
		return "duration too large";
	*t = now - ms / 1000;
	return NULL;
}

void
format_time(int64_t t, char buf[32])
{
	int64_t days = t / 86400, rem = t % 86400, y;
	int m, d;
	char wide[96];
	size_t n;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	/* The longest possible result (year -292277022657) has 29 bytes;
	 * the compiler cannot see that, so format wide and copy. */
	snprintf(wide, sizeof(wide), "%04lld-%02d-%02dT%02d:%02d:%02dZ",
	    (long long)y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60),
	    (int)(rem % 60));
	n = strlen(wide);
	if (n > 31)
		n = 31;
	memcpy(buf, wide, n);
	buf[n] = '\0';
}

/* The largest unit that states ms exactly: 90000 -> "90s", 300000 -> "5m". */
void
format_duration(int64_t ms, char *buf, size_t len)
{
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(buf, len, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%lldms", (long long)ms);
}
