/*
 * parse.h: the small value parsers of the configuration and the command
 * line. Each returns NULL on success or a static message saying what is
 * wrong with the value (the caller adds file, line and key).
 */
#ifndef SSLHIST_PARSE_H
#define SSLHIST_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* A NULL-terminated, owned array of owned strings. */
struct strlist {
	char **v;	/* v[n] == NULL */
	size_t n;
};
void strlist_free(struct strlist *l);
int strlist_add(struct strlist *l, const char *s);	/* 0, or -1 on ENOMEM */
int strlist_contains(const struct strlist *l, const char *s);

/* "500ms", "30s", "5m", "2h", "400d"; a bare integer is seconds. */
const char *parse_duration_ms(const char *s, int64_t *ms);
/* "10%" (0..100, decimals allowed) -> 0.10. */
const char *parse_percent(const char *s, double *fraction);
/* A positive integer within [min, max]. */
const char *parse_int_range(const char *s, long min, long max, long *out);
/* Comma list; items trimmed of blanks; empty items are an error. An empty
 * or all-blank string is the empty list. */
const char *parse_list(const char *s, struct strlist *out);
/* Comma list of durations, e.g. "30s, 2m, 10m". */
const char *parse_duration_list(const char *s, int64_t **ms, size_t *n);
/* "host", "host:port", "[v6addr]:port", "[v6addr]". *port is left
 * unchanged when the string names none. *host is malloc'd. */
const char *parse_hostport(const char *s, char **host, int *port);
/*
 * A hook or password command: split on blanks (space, tab), double quotes
 * group (and are removed), a backslash inside quotes escapes '"' or '\'.
 * No other shell syntax exists: $, `, ; and | are ordinary characters.
 * The first word must be an absolute path.
 */
const char *parse_command(const char *s, struct strlist *argv);
/* `--since` of sslhist: a duration back from `now` ("7d"), a date
 * ("2026-11-01", UTC midnight) or an RFC 3339 time. Result in Unix s. */
const char *parse_when(const char *s, int64_t now, int64_t *t);
/* Formats Unix seconds as RFC 3339 UTC ("2026-11-01T12:00:00Z"). */
void format_time(int64_t t, char buf[32]);
/* A duration as a configuration writes it: the largest unit that states
 * ms exactly (90000 -> "90s", 300000 -> "5m", 1500 -> "1500ms"). */
void format_duration(int64_t ms, char *buf, size_t len);
/* Days since 1970-01-01 of the date y-m-d (proleptic Gregorian, any year):
 * the one conversion the time parsers of config, logs and PgBouncer share. */
int64_t parse_days_from_civil(int64_t y, int m, int d);

#endif
