/* csvw.c: the RFC 4180 writer of csvw.h. */
#include "csvw.h"

#include <inttypes.h>
#include <string.h>

#include "parse.h"

void
csvw_init(struct csvw *w, FILE *out)
{
	w->out = out;
	w->row_started = false;
	w->error = false;
}

static void
separator(struct csvw *w)
{
	if (w->row_started && putc(',', w->out) == EOF)
		w->error = true;
	w->row_started = true;
}

static bool
needs_quotes(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return true;	/* "" is an empty string; nothing is NULL */
	if (strpbrk(s, ",\"\r\n") != NULL)
		return true;
	return s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t';
}

void
csvw_str(struct csvw *w, const char *s)
{
	const char *p;

	separator(w);
	if (s == NULL)
		return;
	if (!needs_quotes(s)) {
		if (fputs(s, w->out) == EOF && *s != '\0')
			w->error = true;
		return;
	}
	if (putc('"', w->out) == EOF)
		w->error = true;
	for (p = s; *p != '\0'; p++) {
		if (*p == '"' && putc('"', w->out) == EOF)
			w->error = true;
		if (putc(*p, w->out) == EOF)
			w->error = true;
	}
	if (putc('"', w->out) == EOF)
		w->error = true;
}

void
csvw_int(struct csvw *w, int64_t v)
{
	separator(w);
	if (fprintf(w->out, "%" PRId64, v) < 0)
		w->error = true;
}

void
csvw_double(struct csvw *w, double v)
{
	separator(w);
	if (fprintf(w->out, "%.6g", v) < 0)
		w->error = true;
}

void
csvw_bool(struct csvw *w, bool v)
{
	separator(w);
	if (fputs(v ? "true" : "false", w->out) == EOF)
		w->error = true;
}

void
csvw_time(struct csvw *w, int64_t t)
{
	char b[32];

	separator(w);
	format_time(t, b);
	if (fputs(b, w->out) == EOF)
		w->error = true;
}

void
csvw_null(struct csvw *w)
{
	separator(w);
}

void
csvw_end_row(struct csvw *w)
{
	if (fputs("\r\n", w->out) == EOF)
		w->error = true;
	w->row_started = false;
}

int
csvw_status(const struct csvw *w)
{
	return w->error || ferror(w->out) ? -1 : 0;
}
