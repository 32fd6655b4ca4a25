/*
 * logline.c: the log parser's core (contract in logline.h): the parser,
 * times, and the three connection messages. Prefixes are logprefix.c's,
 * csvlog, jsonlog and CloudWatch logline_fields.c's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logline_int.h"
#include "parse.h"


void
ll_err(struct logline_parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof p->err, fmt, ap);
	va_end(ap);
}

char *
ll_copy(struct logline_parser *p, const char *s, size_t n)
{
	char *d;

	if (p->arena_len + n + 1 > p->arena_cap)
		return NULL;	/* cannot happen: logline_parse sizes it */
	d = p->arena + p->arena_len;
	memcpy(d, s, n);
	d[n] = '\0';
	p->arena_len += n + 1;
	return d;
}

bool
ll_parse_int(const char *s, size_t n, int64_t max, int64_t *v)
{
	int64_t x = 0;

	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (s[i] - '0');
		if (x > max)
			return false;
	}
	*v = x;
	return true;
}

/* ---- times --------------------------------------------------------- */


static bool
digits(const char *s, size_t n, int *v)
{
	int64_t x;

	if (!ll_parse_int(s, n, 1000000, &x))
		return false;
	*v = (int)x;
	return true;
}

/* The zone of a logged time: UTC, GMT, Z, or a numeric offset. */
static bool
parse_zone(const char *s, size_t n, int64_t *off_s)
{
	int h = 0, m = 0;
	int sign;

	if ((n == 3 && (memcmp(s, "UTC", 3) == 0 || memcmp(s, "GMT", 3) == 0)) ||
	    (n == 1 && s[0] == 'Z')) {
		*off_s = 0;
		return true;
	}
	if (n < 3 || (s[0] != '+' && s[0] != '-'))
		return false;
	sign = s[0] == '-' ? -1 : 1;
	if (!digits(s + 1, 2, &h))
		return false;
	if (n == 6 && s[3] == ':') {
		if (!digits(s + 4, 2, &m))
			return false;
	} else if (n == 5) {
		if (!digits(s + 3, 2, &m))
			return false;
	} else if (n != 3) {
		return false;
	}
	if (h > 15 || m > 59)
		return false;
	*off_s = sign * (h * 3600 + m * 60);
	return true;
}

bool
logline_parse_time(const char *s, size_t n, int64_t *us, int64_t *prec_us)
{
	int y, mo, d, h, mi, sec;
	int64_t frac = 0, prec = 1000000, off;
	size_t i = 19, z;

	if (n < 21 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
	    s[13] != ':' || s[16] != ':')
		return false;
	if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
	    !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	if (s[i] == '.') {
		size_t nd = 0;

		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
			if (nd < 6) {
				frac = frac * 10 + (s[i] - '0');
				prec /= 10;
			}
		}
		if (nd == 0)
			return false;
		frac *= prec;
	}
	if (i < n && s[i] == ' ')
		i++;
	z = i;
	if (!parse_zone(s + z, n - z, &off))
		return false;
	*us = ((parse_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - off) * 1000000 +
	      frac;
	*prec_us = prec;
	return true;
}

bool
ll_parse_session_id(const char *s, size_t n, int64_t *start, int32_t *pid)
{
	const char *dot = memchr(s, '.', n);
	uint64_t v[2] = {0, 0};
	size_t len[2];
	const char *part[2];

	if (dot == NULL)
		return false;
	part[0] = s;
	len[0] = (size_t)(dot - s);
	part[1] = dot + 1;
	len[1] = n - len[0] - 1;
	for (int k = 0; k < 2; k++) {
		if (len[k] == 0 || len[k] > 15)
			return false;
		for (size_t i = 0; i < len[k]; i++) {
			char c = part[k][i];
			int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

			if (x < 0)
				return false;
			v[k] = v[k] * 16 + (uint64_t)x;
		}
	}
	if (v[1] == 0 || v[1] > INT32_MAX)
		return false;
	*start = (int64_t)v[0];
	*pid = (int32_t)v[1];
	return true;
}

/* ---- messages ------------------------------------------------------- */

static const char *
find(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(s + i, needle, k) == 0)
			return s + i;
	return NULL;
}

static const char *
find_last(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = n >= k ? n - k + 1 : 0; i-- > 0;)
		if (memcmp(s + i, needle, k) == 0)
			return s + i;
	return NULL;
}

static bool
starts(const char *s, size_t n, const char *word)
{
	size_t k = strlen(word);

	return n >= k && memcmp(s, word, k) == 0;
}

static void
parse_received(struct logline_parser *p, const char *s, size_t n, struct logline *out)
{
	const char *port = find_last(s, n, " port=");
	size_t hl = port ? (size_t)(port - s) : n;
	int64_t v;

	out->kind = LOGLINE_RECEIVED;
	out->has_host = true;
	out->host = NULL;
	if (port && ll_parse_int(port + 6, n - hl - 6, 65535, &v))
		out->port = (int)v;
	else
		hl = n;
	if (!(hl == 7 && memcmp(s, "[local]", 7) == 0))
		out->host = ll_copy(p, s, hl);
}

/* "protocol=V, cipher=C, bits=N[, compression=X]" inside the parentheses. */
static bool
parse_ssl(struct logline_parser *p, const char *s, size_t n, struct logline *out)
{
	const char *c = find(s, n, ", cipher="), *b = find_last(s, n, ", bits=");
	const char *x = find_last(s, n, ", compression=");
	size_t bend = x && x > b ? (size_t)(x - s) : n;
	int64_t v;

	if (!starts(s, n, "protocol=") || c == NULL || b == NULL || b < c)
		return false;
	if (!ll_parse_int(b + 7, bend - (size_t)(b + 7 - s), 1 << 20, &v))
		return false;
	out->ssl = true;
	out->protocol = ll_copy(p, s + 9, (size_t)(c - s) - 9);
	out->cipher = ll_copy(p, c + 9, (size_t)(b - c) - 9);
	out->bits = (int)v;
	return true;
}

static void
parse_authorized(struct logline_parser *p, const char *s, size_t n, struct logline *out)
{
	const char *g, *ssl, *db, *app;
	size_t end = n;

	/* From the end: GSS (14+ after SSL), then SSL; an application name
	 * cannot hold ")" at the very end and also be followed by them. */
	if (end > 0 && s[end - 1] == ')' && (g = find_last(s, end, " GSS (authenticated=")))
		end = (size_t)(g - s);
	if (end > 0 && s[end - 1] == ')' && (ssl = find_last(s, end, " SSL enabled ("))) {
		size_t a = (size_t)(ssl - s) + 14;

		if (!parse_ssl(p, s + a, end - 1 - a, out))
			return;	/* stays OTHER */
		end = (size_t)(ssl - s);
	}
	if (!starts(s, end, "user=") || (db = find(s + 5, end - 5, " database=")) == NULL)
		return;
	out->user = ll_copy(p, s + 5, (size_t)(db - s) - 5);
	db += 10;
	app = find(db, end - (size_t)(db - s), " application_name=");
	if (app != NULL) {
		out->database = ll_copy(p, db, (size_t)(app - db));
		app += 18;
		out->application = ll_copy(p, app, end - (size_t)(app - s));
	} else {
		out->database = ll_copy(p, db, end - (size_t)(db - s));
	}
	out->kind = LOGLINE_AUTHORIZED;
}

static void
parse_authenticated(struct logline_parser *p, const char *s, size_t n, struct logline *out)
{
	const char *m = find_last(s, n, "\" method=");
	const char *sp;

	if (!starts(s, n, "identity=\"") || m == NULL)
		return;
	out->identity = ll_copy(p, s + 10, (size_t)(m - s) - 10);
	m += 9;
	sp = memchr(m, ' ', n - (size_t)(m - s));
	out->method = ll_copy(p, m, sp ? (size_t)(sp - m) : n - (size_t)(m - s));
	out->kind = LOGLINE_AUTHENTICATED;
}

void
ll_parse_message(struct logline_parser *p, const char *msg, size_t n, struct logline *out)
{
	if (starts(msg, n, "connection received: host="))
		parse_received(p, msg + 26, n - 26, out);
	else if (starts(msg, n, "connection authorized: "))
		parse_authorized(p, msg + 23, n - 23, out);
	else if (starts(msg, n, "connection authenticated: "))
		parse_authenticated(p, msg + 26, n - 26, out);
	/* "replication connection authorized": walsenders, which no poll
	 * records either (backend_type is not 'client backend'). */
}

void
ll_set_host(struct logline_parser *p, const char *s, size_t n, char sep, struct logline *out)
{
	const char *cut = NULL;

	if (out->kind != LOGLINE_AUTHORIZED || out->has_host || n == 0)
		return;
	out->has_host = true;
	if (n == 7 && memcmp(s, "[local]", 7) == 0)
		return;
	if (sep == '(')
		cut = memchr(s, '(', n);
	else if (sep == ':')
		cut = find_last(s, n, ":");
	out->host = ll_copy(p, s, cut ? (size_t)(cut - s) : n);
}

/* ---- the parser ----------------------------------------------------- */

struct logline_parser *
logline_parser_new(enum logline_format fmt, const char *prefix, char *err, size_t errlen)
{
	struct logline_parser *p = calloc(1, sizeof *p);
	size_t n = prefix ? 1 : LL_NCANDIDATES;

	if (p == NULL || (p->prefixes = calloc(n, sizeof *p->prefixes)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(p);
		return NULL;
	}
	p->fmt = fmt;
	p->nprefix = n;
	for (size_t i = 0; i < n; i++) {
		if (ll_prefix_compile(&p->prefixes[i], prefix ? prefix : ll_candidates[i]) < 0) {
			snprintf(err, errlen, "out of memory");
			logline_parser_free(p);
			return NULL;
		}
	}
	if (prefix != NULL && !p->prefixes[0].has_pid) {
		snprintf(err, errlen, "log_line_prefix \"%s\" has no %%p or %%c: "
			 "a session's lines cannot be joined without the process id", prefix);
		logline_parser_free(p);
		return NULL;
	}
	return p;
}

void
logline_parser_free(struct logline_parser *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nprefix; i++)
		ll_prefix_free(&p->prefixes[i]);
	free(p->prefixes);
	free(p->arena);
	free(p->tok_at);
	free(p->tok_hit);
	free(p->tok_end);
	ll_cache_free(p);
	free(p);
}

const char *
logline_error(const struct logline_parser *p)
{
	return p->err;
}

int
logline_parse(struct logline_parser *p, const char *rec, size_t len, struct logline *out)
{
	size_t need = 3 * len + 256;

	memset(out, 0, sizeof *out);
	out->time_us = INT64_MIN;
	out->session_start = -1;
	out->port = -1;
	out->bits = -1;
	p->err[0] = '\0';
	if (len > LOGLINE_MAX_RECORD) {
		ll_err(p, "longer than %d bytes", LOGLINE_MAX_RECORD);
		return -1;
	}
	if (need > p->arena_cap) {
		char *a = realloc(p->arena, need);

		if (a == NULL) {
			ll_err(p, "out of memory");
			return -1;
		}
		p->arena = a;
		p->arena_cap = need;
	}
	p->arena_len = 0;
	switch (p->fmt) {
	case LOGFMT_CSVLOG:
		return ll_parse_csv(p, rec, len, out);
	case LOGFMT_JSONLOG:
		return ll_parse_json(p, rec, len, out);
	case LOGFMT_CLOUDWATCH:
		return ll_parse_cloudwatch(p, rec, len, out);
	default:
		return ll_parse_stderr(p, rec, len, out);
	}
}

static const char *const format_names[] = {
	[LOGFMT_AUTO] = "auto", [LOGFMT_STDERR] = "stderr", [LOGFMT_CSVLOG] = "csvlog",
	[LOGFMT_JSONLOG] = "jsonlog", [LOGFMT_CLOUDWATCH] = "cloudwatch",
};

bool
logline_format_parse(const char *s, enum logline_format *f)
{
	for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++) {
		if (strcmp(s, format_names[i]) == 0) {
			*f = (enum logline_format)i;
			return true;
		}
	}
	return false;
}

const char *
logline_format_name(enum logline_format f)
{
	return (size_t)f < sizeof format_names / sizeof format_names[0] ? format_names[f] : "?";
}
