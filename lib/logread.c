/*
 * logread.c: a log's bytes -> records -> logline_parse (contract in
 * logread.h).
 *
 * Bytes are framed as they come: `line` holds the physical line being
 * read, `rec` the stderr record it may continue (or the CSV record / JSON
 * object being read). Nothing grows past LOGLINE_MAX_RECORD: a longer
 * line is dropped while it streams by and counted once when it ends.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logread.h"

#define AUTO_HEAD	4096
#define EXCERPT		200
#define SPLIT_SLOTS	4	/* > SPLIT_MAX of stderr_line */

struct buf {
	char *s;
	size_t n, cap;
	bool over;		/* longer than LOGLINE_MAX_RECORD: dropped */
};

struct logread {
	enum logline_format fmt;	/* LOGFMT_AUTO until decided */
	char *prefix;
	struct logline_parser *p;
	logread_fn fn;
	logread_skip_fn skip;
	void *arg;
	struct logread_stats st;
	struct buf head;	/* auto: the first bytes, until decided */
	struct buf line;
	struct buf rec;
	uint64_t line_no;	/* of the line being read (1-based) */
	uint64_t rec_no;	/* first line of rec */
	bool csv_quoted;
	/* stderr: where the record's last lines begin (ring), and how many */
	size_t line_at[SPLIT_SLOTS];
	size_t nlines;
	/* CloudWatch: the document's nesting, strings, the event's depth */
	int depth;
	bool jstr, jesc;
	int stop;		/* a callback's non-zero */
};

static int
buf_add(struct buf *b, const char *s, size_t n)
{
	size_t want;
	char *x;

	if (b->over)
		return 0;
	if (b->n + n > LOGLINE_MAX_RECORD) {
		b->over = true;
		return 0;
	}
	if (b->n + n + 1 > b->cap) {
		want = b->cap ? b->cap * 2 : 256;
		while (want < b->n + n + 1)
			want *= 2;
		if ((x = realloc(b->s, want)) == NULL)
			return -1;
		b->s = x;
		b->cap = want;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	return 0;
}

static void
buf_clear(struct buf *b)
{
	b->n = 0;
	b->over = false;
}

static void
skipped(struct logread *r, uint64_t no, const char *why, const struct buf *b)
{
	r->st.skipped++;
	if (r->skip)
		r->skip(r->arg, no, why, b->s ? b->s : "", b->n < EXCERPT ? b->n : EXCERPT);
}

/* Parses one whole record. */
static void
record(struct logread *r, struct buf *b, uint64_t no)
{
	struct logline l;
	int rc;

	if (b->over) {
		skipped(r, no, "longer than 65536 bytes", b);
		return;
	}
	rc = logline_parse(r->p, b->s ? b->s : "", b->n, &l);
	if (rc < 0) {
		skipped(r, no, logline_error(r->p), b);
		return;
	}
	if (rc > 0)
		return;
	r->st.records++;
	if (l.kind != LOGLINE_OTHER)
		r->st.connection++;
	if (r->fn && r->stop == 0)
		r->stop = r->fn(r->arg, &l, no);
}

/* ---- stderr, jsonlog: line by line ---------------------------------- */

static void
flush_rec(struct logread *r)
{
	if (r->rec.n > 0 || r->rec.over)
		record(r, &r->rec, r->rec_no);
	buf_clear(&r->rec);
	r->nlines = 0;
}

/*
 * A name with a newline inside the prefix (%u, %d, %a) splits the line
 * that starts a record: the record's last lines joined with this one may
 * start a record of their own. Tried for the last SPLIT_MAX lines.
 */
#define SPLIT_MAX	3

static int
split_start(struct logread *r, const struct buf *l)
{
	struct buf *rec = &r->rec;
	size_t from;

	for (size_t k = 1; k <= SPLIT_MAX && k < r->nlines && !rec->over; k++) {
		from = r->line_at[(r->nlines - k) % SPLIT_SLOTS];
		if (buf_add(rec, "\n", 1) < 0 || buf_add(rec, l->s, l->n) < 0)
			return -1;
		if (!rec->over && logline_starts_record(r->p, rec->s + from, rec->n - from)) {
			struct buf tail = {0};
			size_t offs[SPLIT_MAX + 1];

			if (buf_add(&tail, rec->s + from, rec->n - from) < 0) {
				free(tail.s);
				return -1;
			}
			for (size_t i = 0; i < k; i++)
				offs[i] = r->line_at[(r->nlines - k + i) % SPLIT_SLOTS] - from;
			offs[k] = tail.n - l->n;
			rec->n = from - 1;	/* the '\n' before the split line */
			flush_rec(r);
			free(rec->s);
			*rec = tail;
			r->rec_no = r->line_no - k;
			r->nlines = k + 1;
			for (size_t i = 0; i <= k; i++)
				r->line_at[i % SPLIT_SLOTS] = offs[i];
			return 1;
		}
		rec->n -= l->n + 1;
	}
	return 0;
}

static int
stderr_line(struct logread *r)
{
	struct buf *l = &r->line;
	int rc;

	if (l->n > 0 && l->s[l->n - 1] == '\r')
		l->n--;
	if (r->fmt == LOGFMT_JSONLOG) {
		if (l->over)
			skipped(r, r->line_no, "longer than 65536 bytes", l);
		else if (l->n > 0)
			record(r, l, r->line_no);
		return 0;
	}
	if (l->over) {
		flush_rec(r);
		skipped(r, r->line_no, "longer than 65536 bytes", l);
		return 0;
	}
	if (logline_starts_record(r->p, l->s ? l->s : "", l->n)) {
		flush_rec(r);
		r->rec_no = r->line_no;
		r->nlines = 1;
		r->line_at[0] = 0;
		return buf_add(&r->rec, l->s, l->n);
	}
	if (r->rec.n == 0 && !r->rec.over) {
		if (l->n > 0)
			skipped(r, r->line_no, "not a log line of this format (no prefix)", l);
		return 0;
	}
	if ((rc = split_start(r, l)) != 0)
		return rc < 0 ? -1 : 0;
	/* A continuation line: a message's (PostgreSQL put a tab first). */
	r->line_at[r->nlines % SPLIT_SLOTS] = r->rec.n + 1;
	r->nlines++;
	return buf_add(&r->rec, "\n", 1) < 0 ? -1 : buf_add(&r->rec, l->s, l->n);
}

static int
feed_lines(struct logread *r, const char *s, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(s, '\n', n);
		size_t k = nl ? (size_t)(nl - s) : n;

		if (buf_add(&r->line, s, k) < 0)
			return -1;
		if (nl == NULL)
			return 0;
		r->st.lines++;
		if (stderr_line(r) < 0)
			return -1;
		buf_clear(&r->line);
		r->line_no++;
		s += k + 1;
		n -= k + 1;
	}
	return 0;
}

/* ---- csvlog: a newline outside quotes ends the record --------------- */

static int
feed_csv(struct logread *r, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\n') {
			r->st.lines++;
			if (!r->csv_quoted || r->rec.over) {
				/* A record cut for length resumes at this line. */
				if (r->rec.n > 0 && r->rec.s[r->rec.n - 1] == '\r')
					r->rec.n--;
				if (r->rec.n > 0 || r->rec.over)
					record(r, &r->rec, r->rec_no);
				buf_clear(&r->rec);
				r->csv_quoted = false;
				r->line_no++;
				r->rec_no = r->line_no;
				continue;
			}
			r->line_no++;
		}
		if (c == '"')
			r->csv_quoted = !r->csv_quoted;
		if (buf_add(&r->rec, &c, 1) < 0)
			return -1;
	}
	return 0;
}

/* ---- CloudWatch: each object two levels down ------------------------ */

static int
feed_cloudwatch(struct logread *r, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool in_event = r->depth >= 3;

		if (c == '\n') {
			r->st.lines++;
			r->line_no++;
		}
		if (r->jstr) {
			if (r->jesc)
				r->jesc = false;
			else if (c == '\\')
				r->jesc = true;
			else if (c == '"')
				r->jstr = false;
		} else if (c == '"') {
			r->jstr = true;
		} else if (c == '{' || c == '[') {
			if (++r->depth == 3 && c == '{') {
				buf_clear(&r->rec);
				r->rec_no = r->line_no;
				in_event = true;
			}
		} else if (c == '}' || c == ']') {
			if (r->depth > 0)
				r->depth--;
			if (in_event && r->depth == 2) {
				if (buf_add(&r->rec, &c, 1) < 0)
					return -1;
				record(r, &r->rec, r->rec_no);
				buf_clear(&r->rec);
				continue;
			}
		}
		if (in_event && buf_add(&r->rec, &c, 1) < 0)
			return -1;
	}
	return 0;
}

/* ---- the stream ----------------------------------------------------- */

/* The format of the first bytes (logread.h). */
static enum logline_format
guess(const char *s, size_t n)
{
	static const char *const keys[] = {"\"events\"", "\"searchedLogStreams\"",
					   "\"nextToken\""};
	size_t i = 0, k;
	const char *nl, *comma;
	int64_t us, prec;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	if (i < n && s[i] == '{') {
		for (i++; i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r');)
			i++;
		for (k = 0; k < 3; k++)
			if (n - i >= strlen(keys[k]) && memcmp(s + i, keys[k], strlen(keys[k])) == 0)
				return LOGFMT_CLOUDWATCH;
		return LOGFMT_JSONLOG;
	}
	nl = memchr(s + i, '\n', n - i);
	comma = memchr(s + i, ',', (nl ? (size_t)(nl - s) : n) - i);
	if (comma && logline_parse_time(s + i, (size_t)(comma - s) - i, &us, &prec) &&
	    prec == 1000)
		return LOGFMT_CSVLOG;
	return LOGFMT_STDERR;
}

static int
feed_format(struct logread *r, const char *s, size_t n)
{
	switch (r->fmt) {
	case LOGFMT_CSVLOG:
		return feed_csv(r, s, n);
	case LOGFMT_CLOUDWATCH:
		return feed_cloudwatch(r, s, n);
	default:
		return feed_lines(r, s, n);
	}
}

static int
decide(struct logread *r)
{
	char err[200];
	struct buf h = r->head;
	int rc;

	r->fmt = guess(h.s ? h.s : "", h.n);
	if ((r->p = logline_parser_new(r->fmt, r->prefix, err, sizeof err)) == NULL)
		return -1;
	memset(&r->head, 0, sizeof r->head);
	rc = h.n ? feed_format(r, h.s, h.n) : 0;
	free(h.s);
	return rc;
}

int
logread_feed(struct logread *r, const char *buf, size_t n)
{
	if (r->fmt == LOGFMT_AUTO) {
		size_t take = n;

		if (r->head.n + take > AUTO_HEAD)
			take = AUTO_HEAD - r->head.n;
		if (buf_add(&r->head, buf, take) < 0)
			return -1;
		if (r->head.n < AUTO_HEAD)
			return 0;
		if (decide(r) < 0)
			return -1;
		buf += take;
		n -= take;
	}
	if (feed_format(r, buf, n) < 0)
		return -1;
	return r->stop;
}

int
logread_end(struct logread *r)
{
	if (r->fmt == LOGFMT_AUTO && decide(r) < 0)
		return -1;
	if (r->fmt == LOGFMT_CSVLOG) {
		if (r->rec.n > 0 || r->rec.over) {
			r->st.lines++;
			record(r, &r->rec, r->rec_no);
		}
		buf_clear(&r->rec);
	} else if (r->fmt == LOGFMT_CLOUDWATCH) {
		if (r->rec.n > 0 || r->rec.over)
			skipped(r, r->rec_no, "truncated JSON event", &r->rec);
		buf_clear(&r->rec);
	} else {
		if (r->line.n > 0 || r->line.over) {
			r->st.lines++;
			if (stderr_line(r) < 0)
				return -1;
		}
		buf_clear(&r->line);
		flush_rec(r);
	}
	return r->stop;
}

struct logread *
logread_new(enum logline_format fmt, const char *prefix, logread_fn fn, logread_skip_fn skip,
	    void *arg, char *err, size_t errlen)
{
	struct logread *r = calloc(1, sizeof *r);

	if (r == NULL || (prefix && (r->prefix = strdup(prefix)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		free(r);
		return NULL;
	}
	r->fmt = fmt;
	r->fn = fn;
	r->skip = skip;
	r->arg = arg;
	r->line_no = r->rec_no = 1;
	/* A bad prefix is an error now, not at the first line. */
	if ((r->p = logline_parser_new(fmt == LOGFMT_AUTO ? LOGFMT_STDERR : fmt, prefix, err,
				       errlen)) == NULL) {
		logread_free(r);
		return NULL;
	}
	if (fmt == LOGFMT_AUTO) {
		logline_parser_free(r->p);
		r->p = NULL;
	}
	return r;
}

void
logread_free(struct logread *r)
{
	if (r == NULL)
		return;
	logline_parser_free(r->p);
	free(r->prefix);
	free(r->head.s);
	free(r->line.s);
	free(r->rec.s);
	free(r);
}

const struct logread_stats *
logread_stats(const struct logread *r)
{
	return &r->st;
}

enum logline_format
logread_format(const struct logread *r)
{
	return r->fmt;
}
