/*
 * logprefix.c: log_line_prefix compiled and matched, and the stderr
 * record read with it (contract in logline.h; shared in logline_int.h).
 *
 * A prefix is matched token by token; an escape whose text can be
 * anything (%u, %d, %a, %r, ...) takes the shortest text after which the
 * rest still matches, with backtracking under a step budget, so a hostile
 * name holding the prefix's own separators costs bounded time and at worst
 * fails the line (it is then skipped and counted, never stored).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logline_int.h"

/* Tried in order when no --prefix is given: RDS/Aurora's, PostgreSQL's
 * default (10+), Debian's, and pgBadger's usual ones. */
const char *const ll_candidates[LL_NCANDIDATES] = {
	LOGLINE_RDS_PREFIX,
	"%m [%p] ",
	"%m [%p] %q%u@%d ",
	"%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
	"%t [%p]: user=%u,db=%d,app=%a,client=%h ",
	"%m [%p] %q[user=%u,db=%d,app=%a] ",
	"%t [%p-%l] %q%u@%d ",
	"%m %c ",
};

#define MATCH_BUDGET	20000

/* ---- prefixes ------------------------------------------------------- */

void
ll_prefix_free(struct prefix *px)
{
	free(px->text);
	free(px->buf);
	free(px->tok);
}

static bool
add_tok(struct prefix *px, enum ptok_kind k, const char *lit, size_t n)
{
	if (k == PT_LIT && px->ntok > 0 && px->tok[px->ntok - 1].kind == PT_LIT) {
		px->tok[px->ntok - 1].litlen += n;	/* adjacent in buf */
		return true;
	}
	px->tok[px->ntok].kind = k;
	px->tok[px->ntok].lit = lit;
	px->tok[px->ntok].litlen = n;
	px->ntok++;
	return true;
}

static enum ptok_kind
escape_kind(char c)
{
	switch (c) {
	case 'p': return PT_PID;
	case 't': case 'm': return PT_TIME;
	case 'n': return PT_EPOCH;
	case 'c': return PT_SESSION;
	case 's': return PT_START;
	case 'l': case 'x': case 'P': case 'Q': return PT_NUM;
	case 'q': return PT_STOP;
	default: return PT_TEXT;
	}
}

/* Compiles a log_line_prefix; literal text is copied into px->buf. */
int
ll_prefix_compile(struct prefix *px, const char *text)
{
	size_t n = strlen(text), b = 0;
	char *buf;
	bool pad;

	memset(px, 0, sizeof *px);
	if ((px->text = strdup(text)) == NULL || (px->buf = malloc(n + 1)) == NULL ||
	    (px->tok = calloc(n + 1, sizeof *px->tok)) == NULL)
		return -1;
	buf = px->buf;
	for (size_t i = 0; i < n; i++) {
		if (text[i] != '%' || i + 1 >= n) {
			buf[b] = text[i];
			add_tok(px, PT_LIT, buf + b, 1);
			b++;
			continue;
		}
		i++;
		pad = false;
		while (i < n && (text[i] == '-' || (text[i] >= '0' && text[i] <= '9'))) {
			i++;	/* padding: blanks around the value */
			pad = true;
		}
		if (i >= n)
			break;
		if (text[i] == '%') {
			buf[b] = '%';
			add_tok(px, PT_LIT, buf + b, 1);
			b++;
			continue;
		}
		/* A literal after an escape starts a new token. */
		add_tok(px, escape_kind(text[i]), NULL, 0);
		px->tok[px->ntok - 1].pad = pad;
		px->tok[px->ntok - 1].esc = text[i];
		if (text[i] == 'p' || text[i] == 'c')
			px->has_pid = true;
	}
	return 0;
}

static bool
lit_at(const struct ptok *t, const char *s, size_t n, size_t pos)
{
	return n - pos >= t->litlen && memcmp(s + pos, t->lit, t->litlen) == 0;
}

/* After the prefix: "SEVERITY:  " (upper-case letters, digits for DEBUG1). */
static size_t
severity_end(const char *s, size_t n, size_t pos)
{
	size_t i = pos;

	while (i < n && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
		i++;
	if (i == pos || n - i < 3 || memcmp(s + i, ":  ", 3) != 0)
		return 0;
	return i + 3;
}

/*
 * "YYYY-MM-DD HH:MM:SS[.fff] ZONE" at pos, ending before `below`: the
 * longest such text (0: none). The zone ends where the next literal
 * begins, so "+01:..." may be "+01" or "+01:MM": match_from tries each.
 */
static size_t
time_end(const char *s, size_t n, size_t pos, size_t below)
{
	static const size_t zone_len[] = {6, 5, 3, 1};	/* +HH:MM +HHMM UTC|+HH Z */
	int64_t us, prec;
	size_t z = pos + 19, e;

	/* The shape of the date and time; logline_parse_time checks it all. */
	if (n - pos < 20 || s[pos + 4] != '-' || s[pos + 13] != ':' || s[pos + 16] != ':')
		return 0;
	if (z < n && s[z] == '.')
		for (z++; z < n && s[z] >= '0' && s[z] <= '9'; z++)
			;
	if (z < n && s[z] == ' ')
		z++;
	for (size_t k = 0; k < sizeof zone_len / sizeof zone_len[0]; k++) {
		e = z + zone_len[k];
		if (e < below && e <= n && logline_parse_time(s + pos, e - pos, &us, &prec))
			return e;
	}
	return 0;
}

/* The end of a fixed-shape token at pos (0: it does not match). */
static size_t
typed_end(const struct ptok *t, const char *s, size_t n, size_t pos)
{
	size_t i = pos;

	while (i < n && s[i] == ' ' && t->kind != PT_TIME && t->kind != PT_START)
		i++;
	switch (t->kind) {
	case PT_PID:
	case PT_NUM: {
		size_t d = i;

		while (i < n && s[i] >= '0' && s[i] <= '9' && i - d < 12)
			i++;
		if (t->kind == PT_PID && i == d)
			return 0;
		while (t->pad && i < n && s[i] == ' ')
			i++;	/* %-8p: padded on the right */
		return i;
	}
	case PT_EPOCH:
		while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
			i++;
		return i > pos ? i : 0;
	case PT_SESSION:
		while (i < n && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
				 s[i] == '.'))
			i++;
		return i > pos ? i : 0;
	case PT_TIME:
	case PT_START:
		return time_end(s, n, pos, n);
	default:
		return 0;
	}
}

/* Matches tokens ti.. at pos; returns the message's start, or 0. */
static size_t
match_from(struct logline_parser *p, const struct prefix *px, size_t ti, const char *s,
	   size_t n, size_t pos)
{
	const struct ptok *t;
	size_t r, e;

	if (--p->budget < 0)
		return 0;
	if (ti == px->ntok)
		return severity_end(s, n, pos);
	t = &px->tok[ti];
	p->tok_at[ti] = pos;
	p->tok_hit[ti] = true;
	switch (t->kind) {
	case PT_LIT:
		r = lit_at(t, s, n, pos) ? match_from(p, px, ti + 1, s, n, pos + t->litlen) : 0;
		break;
	case PT_STOP:
		if ((r = severity_end(s, n, pos)) != 0) {
			for (size_t k = ti; k < px->ntok; k++)
				p->tok_hit[k] = false;
			return r;
		}
		r = match_from(p, px, ti + 1, s, n, pos);
		break;
	case PT_TEXT:
		r = 0;
		/* A name may hold a newline: text spans lines (logread.c
		 * joins a prefix split so before asking). */
		for (e = pos; e <= n && r == 0 && p->budget > 0; e++)
			r = match_from(p, px, ti + 1, s, n, e);
		break;
	case PT_TIME:
	case PT_START:
		r = 0;
		for (e = time_end(s, n, pos, n + 1); e != 0; e = time_end(s, n, pos, e)) {
			if ((r = match_from(p, px, ti + 1, s, n, e)) != 0) {
				p->tok_end[ti] = e;
				break;
			}
		}
		break;
	default:
		e = typed_end(t, s, n, pos);
		r = e ? match_from(p, px, ti + 1, s, n, e) : 0;
		break;
	}
	if (r == 0)
		p->tok_hit[ti] = false;
	return r;
}

static bool
grow_match(struct logline_parser *p, size_t ntok)
{
	size_t *at;
	bool *hit;

	if (ntok <= p->tok_cap)
		return true;
	if ((at = realloc(p->tok_at, ntok * sizeof *at)) == NULL)
		return false;
	p->tok_at = at;
	if ((hit = realloc(p->tok_hit, ntok * sizeof *hit)) == NULL)
		return false;
	p->tok_hit = hit;
	if ((at = realloc(p->tok_end, ntok * sizeof *at)) == NULL)
		return false;
	p->tok_end = at;
	p->tok_cap = ntok;
	return true;
}

/* The values of the matched prefix's typed tokens. */
static void
prefix_values(struct logline_parser *p, const struct prefix *px, const char *s, size_t n,
	      struct logline *out)
{
	int64_t v, prec;

	for (size_t i = 0; i < px->ntok; i++) {
		const struct ptok *t = &px->tok[i];
		size_t a, e;

		if (!p->tok_hit[i] || t->kind == PT_LIT || t->kind == PT_TEXT || t->kind == PT_STOP)
			continue;
		a = p->tok_at[i];
		e = t->kind == PT_TIME || t->kind == PT_START ? p->tok_end[i] :
		    typed_end(t, s, n, a);
		while (a < e && s[a] == ' ')
			a++;
		while (e > a && s[e - 1] == ' ' && t->kind != PT_TIME && t->kind != PT_START)
			e--;
		if (t->kind == PT_PID && ll_parse_int(s + a, e - a, INT32_MAX, &v) && v > 0) {
			out->pid = (int32_t)v;
		} else if (t->kind == PT_SESSION) {
			int32_t pid;

			if (ll_parse_session_id(s + a, e - a, &v, &pid)) {
				out->session_start = v;
				if (out->pid == 0)
					out->pid = pid;
			}
		} else if (t->kind == PT_TIME && logline_parse_time(s + a, e - a, &v, &prec)) {
			out->time_us = v;
			out->prec_us = prec;
		} else if (t->kind == PT_START && logline_parse_time(s + a, e - a, &v, &prec)) {
			out->session_start = v / 1000000;
		} else if (t->kind == PT_EPOCH && out->time_us == INT64_MIN) {
			const char *dot = memchr(s + a, '.', e - a);
			size_t il = dot ? (size_t)(dot - (s + a)) : e - a;
			int64_t ms = 0;

			if (ll_parse_int(s + a, il, INT64_MAX / 2000000, &v) &&
			    (dot == NULL || ll_parse_int(dot + 1, 3, 999, &ms))) {
				out->time_us = v * 1000000 + ms * 1000;
				out->prec_us = dot ? 1000 : 1000000;
			}
		}
	}
}

/* The host of %r or %h, for an authorized line without its received one. */
static void
prefix_hosts(struct logline_parser *p, const struct prefix *px, const char *s,
	     struct logline *out)
{
	for (size_t i = 0; i < px->ntok; i++) {
		const struct ptok *t = &px->tok[i];
		size_t end;

		if (t->kind != PT_TEXT || (t->esc != 'r' && t->esc != 'h') || !p->tok_hit[i])
			continue;
		/* It ends where the next matched token begins. */
		if (i + 1 >= px->ntok || !p->tok_hit[i + 1])
			continue;
		end = p->tok_at[i + 1];
		ll_set_host(p, s + p->tok_at[i], end - p->tok_at[i], t->esc == 'r' ? '(' : 0, out);
	}
}

/* The message's start if the prefix matches the record's first line. */
static size_t
prefix_match(struct logline_parser *p, const struct prefix *px, const char *s, size_t n)
{
	if (!grow_match(p, px->ntok + 1))
		return 0;
	p->budget = MATCH_BUDGET;
	memset(p->tok_hit, 0, (px->ntok + 1) * sizeof *p->tok_hit);
	return match_from(p, px, 0, s, n, 0);
}

/* Which prefix matches (the last one that did, first); its index or -1. */
static long
find_prefix(struct logline_parser *p, const char *s, size_t n, size_t *msg)
{
	if ((*msg = prefix_match(p, &p->prefixes[p->last], s, n)) != 0)
		return (long)p->last;
	for (size_t i = 0; i < p->nprefix; i++) {
		if (i == p->last)
			continue;
		if ((*msg = prefix_match(p, &p->prefixes[i], s, n)) != 0) {
			p->last = i;
			return (long)i;
		}
	}
	return -1;
}

/*
 * logread.c asks whether a line starts a record, then parses the record
 * that line began once the next one arrived: the match of the last two
 * lines is kept, so a one-line record is matched once.
 */
static void
cache_keep(struct logline_parser *p, long i, size_t msg, const char *line, size_t len)
{
	struct mcache *c = &p->mc[p->mc_next];
	size_t ntok = p->prefixes[i].ntok + 1;

	c->valid = false;
	if (len > c->cap) {
		char *b = realloc(c->line, len);

		if (b == NULL)
			return;
		c->line = b;
		c->cap = len;
	}
	if (ntok > c->ntok_cap) {
		size_t *at = realloc(c->at, ntok * sizeof *at), *end;
		bool *hit;

		if (at == NULL)
			return;
		c->at = at;
		if ((end = realloc(c->end, ntok * sizeof *end)) == NULL)
			return;
		c->end = end;
		if ((hit = realloc(c->hit, ntok * sizeof *hit)) == NULL)
			return;
		c->hit = hit;
		c->ntok_cap = ntok;
	}
	memcpy(c->line, line, len);
	memcpy(c->at, p->tok_at, ntok * sizeof *c->at);
	memcpy(c->end, p->tok_end, ntok * sizeof *c->end);
	memcpy(c->hit, p->tok_hit, ntok * sizeof *c->hit);
	c->len = len;
	c->prefix = i;
	c->msg = msg;
	c->valid = true;
	p->mc_next ^= 1;
}

/* A kept match whose line is the record's first line. */
static long
cache_find(struct logline_parser *p, const char *rec, size_t len, size_t *msg)
{
	for (int k = 0; k < 2; k++) {
		struct mcache *c = &p->mc[k];
		size_t ntok;

		if (!c->valid || c->len > len || (c->len < len && rec[c->len] != '\n') ||
		    memcmp(c->line, rec, c->len) != 0)
			continue;
		ntok = p->prefixes[c->prefix].ntok + 1;
		if (!grow_match(p, ntok))
			return -1;
		memcpy(p->tok_at, c->at, ntok * sizeof *c->at);
		memcpy(p->tok_end, c->end, ntok * sizeof *c->end);
		memcpy(p->tok_hit, c->hit, ntok * sizeof *c->hit);
		*msg = c->msg;
		return c->prefix;
	}
	return -1;
}

void
ll_cache_free(struct logline_parser *p)
{
	for (int k = 0; k < 2; k++) {
		free(p->mc[k].line);
		free(p->mc[k].at);
		free(p->mc[k].end);
		free(p->mc[k].hit);
	}
}

bool
logline_starts_record(struct logline_parser *p, const char *line, size_t len)
{
	size_t msg;
	long i = find_prefix(p, line, len, &msg);

	if (i >= 0)
		cache_keep(p, i, msg, line, len);
	return i >= 0;
}

/*
 * In stderr, PostgreSQL writes a tab after every newline of a message
 * (elog.c, append_with_tabs), so that no continuation line looks like a
 * record; the tab is not part of the name.
 */
static void
parse_stderr_message(struct logline_parser *p, const char *m, size_t n, struct logline *out)
{
	char *d;
	size_t dl = 0;

	if (memchr(m, '\n', n) == NULL) {
		ll_parse_message(p, m, n, out);
		return;
	}
	d = p->arena + p->arena_len;
	for (size_t i = 0; i < n; i++) {
		d[dl++] = m[i];
		if (m[i] == '\n' && i + 1 < n && m[i + 1] == '\t')
			i++;
	}
	d[dl] = '\0';
	p->arena_len += dl + 1;
	ll_parse_message(p, d, dl, out);
}

int
ll_parse_stderr(struct logline_parser *p, const char *rec, size_t len, struct logline *out)
{
	size_t msg;
	long i = cache_find(p, rec, len, &msg);

	if (i < 0)
		i = find_prefix(p, rec, len, &msg);
	if (i < 0) {
		ll_err(p, p->nprefix == 1 ? "does not start with the prefix \"%s\"" :
		       "does not start with a known prefix (give --prefix)",
		       p->prefixes[0].text);
		return -1;
	}
	prefix_values(p, &p->prefixes[i], rec, len, out);
	if (out->pid == 0) {
		ll_err(p, "no process id in the prefix");
		return -1;
	}
	if (msg >= 6 && memcmp(rec + msg - 6, "LOG:  ", 6) == 0 &&
	    (msg == 6 || rec[msg - 7] < 'A' || rec[msg - 7] > 'Z'))
		parse_stderr_message(p, rec + msg, len - msg, out);
	prefix_hosts(p, &p->prefixes[i], rec, out);
	return 0;
}

