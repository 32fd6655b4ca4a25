/*
 * logline_int.h: what the log parser's files share (lib/logline*.c); no
 * other module includes it. The contract is logline.h.
 */
#ifndef SSLHIST_LOGLINE_INT_H
#define SSLHIST_LOGLINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logline.h"

/* A log_line_prefix compiled into tokens. */
enum ptok_kind {
	PT_LIT,		/* literal text */
	PT_PID,		/* %p */
	PT_TIME,	/* %t, %m: a time */
	PT_EPOCH,	/* %n: Unix s with ms */
	PT_SESSION,	/* %c: hex start . hex pid */
	PT_START,	/* %s: the session's start time */
	PT_NUM,		/* %l %x %P %Q: digits, maybe none */
	PT_TEXT,	/* %a %u %d %r %h %b %i %v %e ...: any text of one line */
	PT_STOP,	/* %q: non-session processes end the prefix here */
};

struct ptok {
	enum ptok_kind kind;
	const char *lit;	/* PT_LIT */
	size_t litlen;
	bool pad;		/* %-8p, %8p: blanks around the value */
	char esc;		/* PT_TEXT: its letter (%r and %h carry the host) */
};

struct prefix {
	char *text;		/* the prefix as given; lit points into a copy */
	char *buf;
	struct ptok *tok;
	size_t ntok;
	bool has_pid;		/* %p or %c */
};

/* A prefix match kept for the record its line begins (logprefix.c). */
struct mcache {
	bool valid;
	char *line;
	size_t len, cap;
	long prefix;
	size_t msg;
	size_t *at, *end;
	bool *hit;
	size_t ntok_cap;
};

struct logline_parser {
	enum logline_format fmt;
	struct prefix *prefixes;	/* the given one, or the candidates */
	size_t nprefix;
	size_t last;		/* the candidate that matched last */
	char *arena;		/* the strings of the last record */
	size_t arena_cap, arena_len;
	char err[160];
	/* matcher state */
	size_t *tok_at;		/* where each token of the matched prefix began */
	size_t *tok_end;	/* times: where they ended */
	bool *tok_hit;
	size_t tok_cap;
	long budget;
	struct mcache mc[2];
	int mc_next;
};

/* ---- logline.c ---- */
void ll_err(struct logline_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A NUL-terminated copy of s[0..n) in the arena (sized by logline_parse). */
char *ll_copy(struct logline_parser *p, const char *s, size_t n);
/* Parses a stderr record with the parser's prefix(es); 0 or -1. */
int ll_parse_stderr(struct logline_parser *p, const char *rec, size_t len, struct logline *out);
/* Reads the message of a severity-LOG record into out (kind, names). */
void ll_parse_message(struct logline_parser *p, const char *msg, size_t n, struct logline *out);
/* "%lx.%x" of %c: the start (s) and the pid. */
bool ll_parse_session_id(const char *s, size_t n, int64_t *start, int32_t *pid);
bool ll_parse_int(const char *s, size_t n, int64_t max, int64_t *v);

/* Sets out's host from "[local]", "HOST", "HOST(PORT)" or "HOST:PORT"
 * (sep: the port's separator, 0 none) when the record is authorized. */
void ll_set_host(struct logline_parser *p, const char *s, size_t n, char sep,
		 struct logline *out);

/* ---- logprefix.c ---- */
#define LL_NCANDIDATES 8
/* The prefixes tried when none is given (RDS's first). */
extern const char *const ll_candidates[LL_NCANDIDATES];
int ll_prefix_compile(struct prefix *px, const char *text);
void ll_prefix_free(struct prefix *px);
void ll_cache_free(struct logline_parser *p);

/* ---- logline_fields.c ---- */
int ll_parse_csv(struct logline_parser *p, const char *rec, size_t len, struct logline *out);
int ll_parse_json(struct logline_parser *p, const char *rec, size_t len, struct logline *out);
int ll_parse_cloudwatch(struct logline_parser *p, const char *rec, size_t len,
			struct logline *out);

#endif
