/*
 * logline_fields.c: the structured log formats (contract in logline.h):
 * csvlog's columns, jsonlog's keys (15+), and CloudWatch Logs' events,
 * whose "message" is a stderr line (RDS's prefix).
 *
 * csvlog columns (PostgreSQL's config.sgml, "Using CSV-Format Log
 * Output"): 0 log_time, 1 user_name, 2 database_name, 3 process_id,
 * 4 connection_from, 5 session_id, 8 session_start_time, 11
 * error_severity, 13 message, 22 application_name. Quoted fields double
 * their quotes and may hold newlines; an empty unquoted field is NULL.
 * jsonlog keys (same page, "Using JSON-Format Log Output"): timestamp,
 * user, dbname, pid, remote_host, remote_port, session_id, session_start,
 * error_severity, message, application_name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logline_int.h"

#define CSV_FIELDS	32

struct span {
	const char *s;		/* NULL: absent */
	size_t n;
	bool quoted;
};

/* ---- csvlog --------------------------------------------------------- */

/* Splits one record into fields; quoted ones are unquoted into the arena. */
static int
csv_split(struct logline_parser *p, const char *r, size_t n, struct span *f, size_t *nf)
{
	size_t i = 0, k = 0;

	for (;;) {
		if (k == CSV_FIELDS)
			return 0;	/* later columns are not read */
		if (i < n && r[i] == '"') {
			char *d = p->arena + p->arena_len;
			size_t dl = 0;

			for (i++;; i++) {
				if (i >= n) {
					ll_err(p, "unterminated quoted field %zu", k + 1);
					return -1;
				}
				if (r[i] == '"') {
					if (i + 1 < n && r[i + 1] == '"') {
						d[dl++] = '"';
						i++;
						continue;
					}
					i++;
					break;
				}
				d[dl++] = r[i];
			}
			d[dl] = '\0';
			p->arena_len += dl + 1;
			f[k].s = d;
			f[k].n = dl;
			f[k].quoted = true;
		} else {
			size_t a = i;

			while (i < n && r[i] != ',')
				i++;
			f[k].s = i > a ? r + a : NULL;
			f[k].n = i - a;
			f[k].quoted = false;
		}
		k++;
		*nf = k;
		if (i >= n)
			return 0;
		if (r[i] != ',') {
			ll_err(p, "text after the quoted field %zu", k);
			return -1;
		}
		i++;
	}
}

static const char *
span_str(struct logline_parser *p, const struct span *f)
{
	if (f->s == NULL)
		return NULL;
	return f->quoted ? f->s : ll_copy(p, f->s, f->n);
}

/* The fields every format has once its values are found. */
struct fields {
	struct span time, user, db, pid, from, host, port, session, start, severity, msg, app;
};

static bool
span_eq(const struct span *f, const char *word)
{
	return f->s != NULL && f->n == strlen(word) && memcmp(f->s, word, f->n) == 0;
}

/* Fills out from the fields; 0 or -1. */
static int
from_fields(struct logline_parser *p, const struct fields *f, struct logline *out)
{
	int64_t v, prec;
	int32_t pid;

	if (f->time.s == NULL || !logline_parse_time(f->time.s, f->time.n, &out->time_us, &prec)) {
		ll_err(p, "no log time");
		return -1;
	}
	out->prec_us = prec;
	if (f->pid.s == NULL || !ll_parse_int(f->pid.s, f->pid.n, INT32_MAX, &v) || v == 0) {
		ll_err(p, "no process id");
		return -1;
	}
	out->pid = (int32_t)v;
	if (f->start.s != NULL && logline_parse_time(f->start.s, f->start.n, &v, &prec))
		out->session_start = v / 1000000;
	else if (f->session.s != NULL &&
		 ll_parse_session_id(f->session.s, f->session.n, &v, &pid) && pid == out->pid)
		out->session_start = v;
	if (!span_eq(&f->severity, "LOG") || f->msg.s == NULL)
		return 0;
	ll_parse_message(p, f->msg.s, f->msg.n, out);
	if (f->from.s != NULL)
		ll_set_host(p, f->from.s, f->from.n, ':', out);
	else if (f->host.s != NULL)
		ll_set_host(p, f->host.s, f->host.n, 0, out);
	/* The columns are unambiguous where the message is not. */
	if (out->kind == LOGLINE_AUTHORIZED) {
		if (f->user.s != NULL)
			out->user = span_str(p, &f->user);
		if (f->db.s != NULL)
			out->database = span_str(p, &f->db);
	}
	return 0;
}

int
ll_parse_csv(struct logline_parser *p, const char *rec, size_t len, struct logline *out)
{
	struct span f[CSV_FIELDS];
	struct fields x;
	size_t nf = 0;

	memset(f, 0, sizeof f);
	if (csv_split(p, rec, len, f, &nf) < 0)
		return -1;
	if (nf < 14) {
		ll_err(p, "%zu columns, csvlog has at least 22", nf);
		return -1;
	}
	memset(&x, 0, sizeof x);
	x.time = f[0];
	x.user = f[1];
	x.db = f[2];
	x.pid = f[3];
	x.from = f[4];
	x.session = f[5];
	x.start = f[8];
	x.severity = f[11];
	x.msg = f[13];
	return from_fields(p, &x, out);
}

/* ---- JSON ----------------------------------------------------------- */

static size_t
ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

static size_t
put_utf8(char *d, uint32_t cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool
hex4(const char *s, size_t n, size_t i, uint32_t *v)
{
	*v = 0;
	if (i + 4 > n)
		return false;
	for (size_t k = i; k < i + 4; k++) {
		char c = s[k];
		int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (x < 0)
			return false;
		*v = *v * 16 + (uint32_t)x;
	}
	return true;
}

/* A JSON string at s[i] == '"', unescaped into the arena; the index after
 * it, or 0. Bytes are kept as they come (invalid UTF-8 included); \u0000
 * is refused (names cannot hold it). */
static size_t
json_string(struct logline_parser *p, const char *s, size_t n, size_t i, struct span *out)
{
	char *d = p->arena + p->arena_len;
	size_t dl = 0;
	uint32_t cp, lo;

	for (i++; i < n; i++) {
		char c = s[i];

		if (c == '"') {
			d[dl] = '\0';
			p->arena_len += dl + 1;
			out->s = d;
			out->n = dl;
			out->quoted = true;
			return i + 1;
		}
		if (c != '\\') {
			d[dl++] = c;
			continue;
		}
		if (++i >= n)
			return 0;
		switch (s[i]) {
		case 'n': d[dl++] = '\n'; break;
		case 't': d[dl++] = '\t'; break;
		case 'r': d[dl++] = '\r'; break;
		case 'b': d[dl++] = '\b'; break;
		case 'f': d[dl++] = '\f'; break;
		case '"': case '\\': case '/': d[dl++] = s[i]; break;
		case 'u':
			if (!hex4(s, n, i + 1, &cp) || cp == 0)
				return 0;
			i += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && i + 2 < n && s[i + 1] == '\\' &&
			    s[i + 2] == 'u' && hex4(s, n, i + 3, &lo) && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd;
			}
			dl += put_utf8(d + dl, cp);
			break;
		default:
			return 0;
		}
	}
	return 0;
}

/* Skips a literal, object or array at s[i]; the index after it, or 0. */
static size_t
json_skip(const char *s, size_t n, size_t i)
{
	int depth = 0;
	bool str = false;
	size_t a = i;

	if (s[i] != '{' && s[i] != '[') {
		while (i < n && s[i] >= 'a' && s[i] <= 'z')
			i++;
		return i > a ? i : 0;
	}
	for (; i < n; i++) {
		char c = s[i];

		if (str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				str = false;
		} else if (c == '"') {
			str = true;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if ((c == '}' || c == ']') && --depth == 0) {
			return i + 1;
		}
	}
	return 0;
}

/* Calls back every top-level key of the object at rec with its value. */
typedef void (*json_kv)(struct logline_parser *p, const struct span *key, const struct span *val,
			void *arg);

static int
json_object(struct logline_parser *p, const char *s, size_t n, json_kv fn, void *arg)
{
	size_t i = ws(s, n, 0);
	struct span key, val;

	if (i >= n || s[i] != '{') {
		ll_err(p, "not a JSON object");
		return -1;
	}
	i = ws(s, n, i + 1);
	if (i < n && s[i] == '}')
		return 0;
	for (;;) {
		if (i >= n || s[i] != '"' || (i = json_string(p, s, n, i, &key)) == 0)
			goto bad;
		i = ws(s, n, i);
		if (i >= n || s[i] != ':')
			goto bad;
		i = ws(s, n, i + 1);
		if (i >= n)
			goto bad;
		memset(&val, 0, sizeof val);
		if (s[i] == '"') {
			if ((i = json_string(p, s, n, i, &val)) == 0)
				goto bad;
		} else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
			size_t a = i;

			while (i < n && (s[i] == '-' || s[i] == '+' || s[i] == '.' || s[i] == 'e' ||
					 s[i] == 'E' || (s[i] >= '0' && s[i] <= '9')))
				i++;
			val.s = s + a;
			val.n = i - a;
		} else {
			size_t e = json_skip(s, n, i);

			if (e == 0 || e <= i)
				goto bad;
			i = e;
		}
		fn(p, &key, &val, arg);
		i = ws(s, n, i);
		if (i < n && s[i] == ',') {
			i = ws(s, n, i + 1);
			continue;
		}
		if (i < n && s[i] == '}')
			return 0;
		goto bad;
	}
bad:
	ll_err(p, "broken JSON near byte %zu", i);
	return -1;
}

static bool
key_is(const struct span *k, const char *name)
{
	return k->n == strlen(name) && memcmp(k->s, name, k->n) == 0;
}

static void
jsonlog_kv(struct logline_parser *p, const struct span *k, const struct span *v, void *arg)
{
	struct fields *f = arg;

	(void)p;
	if (key_is(k, "timestamp"))
		f->time = *v;
	else if (key_is(k, "user"))
		f->user = *v;
	else if (key_is(k, "dbname"))
		f->db = *v;
	else if (key_is(k, "pid"))
		f->pid = *v;
	else if (key_is(k, "session_id"))
		f->session = *v;
	else if (key_is(k, "remote_host"))
		f->host = *v;
	else if (key_is(k, "session_start"))
		f->start = *v;
	else if (key_is(k, "error_severity"))
		f->severity = *v;
	else if (key_is(k, "message"))
		f->msg = *v;
}

int
ll_parse_json(struct logline_parser *p, const char *rec, size_t len, struct logline *out)
{
	struct fields f;

	memset(&f, 0, sizeof f);
	if (json_object(p, rec, len, jsonlog_kv, &f) < 0)
		return -1;
	return from_fields(p, &f, out);
}

/* ---- CloudWatch Logs ------------------------------------------------ */

static void
event_kv(struct logline_parser *p, const struct span *k, const struct span *v, void *arg)
{
	struct fields *f = arg;

	(void)p;
	if (key_is(k, "message"))
		f->msg = *v;
	else if (key_is(k, "timestamp"))
		f->time = *v;
}

int
ll_parse_cloudwatch(struct logline_parser *p, const char *rec, size_t len, struct logline *out)
{
	struct fields f;
	int64_t ms;
	size_t n;

	memset(&f, 0, sizeof f);
	if (json_object(p, rec, len, event_kv, &f) < 0)
		return -1;
	if (f.msg.s == NULL || !f.msg.quoted)
		return 1;	/* e.g. an entry of "searchedLogStreams" */
	n = f.msg.n;
	while (n > 0 && (f.msg.s[n - 1] == '\n' || f.msg.s[n - 1] == '\r'))
		n--;
	if (ll_parse_stderr(p, f.msg.s, n, out) < 0)
		return -1;
	if (out->time_us == INT64_MIN && f.time.s != NULL && !f.time.quoted &&
	    ll_parse_int(f.time.s, f.time.n, INT64_MAX / 1000, &ms)) {
		out->time_us = ms * 1000;
		out->prec_us = 1000;
	}
	return 0;
}
