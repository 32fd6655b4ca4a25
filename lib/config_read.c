/*
 * config_read.c: the file as lines, sections and entries (config_int.h).
 *
 * libinih splits the file into (section, key, value) entries. Our reader
 * beside it hands inih one line at a time, counts lines, tracks sections
 * itself (inih truncates section names at 49 bytes and does not report
 * empty sections), refuses lines inih would silently cut (libinih 55 reads
 * at most 199 bytes and parses the rest as a new line) and joins indented
 * continuation lines to the value before them (config.h). Every error
 * names the file and line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <ini.h>

#include "config_int.h"

/* Records the first error only: later ones are often its consequences. */
void
cfg_fail(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->failed)
		return;
	ld->failed = true;
	ld->fail_line = line;
	n = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->path, line);
	if (n < 0 || (size_t)n >= ld->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* ---- reading: lines, sections, entries ---- */

static bool
valid_cluster_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' &&
		    s[i] != '-')
			return false;
	return true;
}

static int
add_section(struct loader *ld, enum sect_kind kind, const char *name)
{
	struct section *s;
	size_t i;

	for (i = 0; i < ld->nsects; i++) {
		s = &ld->sects[i];
		if (s->kind != kind || ((kind == SECT_CLUSTER || kind == SECT_POOLER) &&
		    strcmp(s->name, name) != 0))
			continue;
		if (kind == SECT_POOLER)
			cfg_fail(ld, ld->lineno, "duplicate pooler '%s' (first at line %d)",
			    name, s->line);
		else if (kind == SECT_CLUSTER)
			cfg_fail(ld, ld->lineno, "duplicate cluster '%s' (first at line %d)",
			    name, s->line);
		else
			cfg_fail(ld, ld->lineno, "section [%s] repeated (first at line %d)",
			    kind == SECT_DAEMON ? "sslhistd" : "defaults", s->line);
		return -1;
	}
	s = realloc(ld->sects, (ld->nsects + 1) * sizeof(*s));
	if (s == NULL)
		goto nomem;
	ld->sects = s;
	s = &ld->sects[ld->nsects];
	s->kind = kind;
	s->line = ld->lineno;
	s->name = NULL;
	if (name != NULL && (s->name = strdup(name)) == NULL)
		goto nomem;
	ld->nsects++;
	return 0;
nomem:
	cfg_fail(ld, ld->lineno, "out of memory");
	return -1;
}

/* A "[...]" line, cut as inih cuts it: at ']' or at an inline comment. */
static void
section_line(struct loader *ld, const char *start)
{
	const char *p = start + 1;
	bool was_space = false;
	char *name;
	size_t len;

	while (*p && *p != ']' && !(was_space && *p == ';')) {
		was_space = isspace((unsigned char)*p);
		p++;
	}
	if (*p != ']')
		return;		/* inih reports the syntax error */
	while (start + 1 < p && isspace((unsigned char)start[1]))
		start++;
	while (p > start + 1 && isspace((unsigned char)p[-1]))
		p--;
	len = (size_t)(p - start - 1);
	if ((name = strndup(start + 1, len)) == NULL) {
		cfg_fail(ld, ld->lineno, "out of memory");
		return;
	}
	ld->have_prev_key = false;
	if (strcmp(name, "sslhistd") == 0)
		(void)add_section(ld, SECT_DAEMON, NULL);
	else if (strcmp(name, "defaults") == 0)
		(void)add_section(ld, SECT_DEFAULTS, NULL);
	else if (strncmp(name, "cluster", 7) == 0 && (name[7] == '\0' ||
	    isspace((unsigned char)name[7]))) {
		const char *cn = name + 7;
		while (isspace((unsigned char)*cn))
			cn++;
		if (!valid_cluster_name(cn))
			cfg_fail(ld, ld->lineno, "section [%s]: a cluster needs a name of "
			    "1 to 63 letters, digits, '.', '_' or '-'", name);
		else
			(void)add_section(ld, SECT_CLUSTER, cn);
	} else if (strncmp(name, "pooler", 6) == 0 && (name[6] == '\0' ||
	    isspace((unsigned char)name[6]))) {
		const char *pn = name + 6;
		while (isspace((unsigned char)*pn))
			pn++;
		if (!valid_cluster_name(pn))
			cfg_fail(ld, ld->lineno, "section [%s]: a pooler needs a name of "
			    "1 to 63 letters, digits, '.', '_' or '-'", name);
		else
			(void)add_section(ld, SECT_POOLER, pn);
	} else {
		cfg_fail(ld, ld->lineno, "unknown section [%s] (expected [sslhistd], "
		    "[defaults], [cluster NAME] or [pooler NAME])", name);
	}
	free(name);
}

/*
 * The ini_reader. It hands inih one line at a time, as fgets would, after
 * noting what inih is about to make of it.
 */
static char *
reader(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	const char *start;
	ssize_t n;
	size_t len;

	if (ld->failed)
		return NULL;
	n = getline(&ld->linebuf, &ld->linecap, ld->fp);
	if (n <= 0)
		return NULL;
	ld->lineno++;
	len = (size_t)n;
	if (strlen(ld->linebuf) != len) {
		cfg_fail(ld, ld->lineno, "NUL byte in line");
		return NULL;
	}
	while (len > 0 && (ld->linebuf[len - 1] == '\n' || ld->linebuf[len - 1] == '\r'))
		len--;
	/* inih needs room for the text, "\r\n" and NUL; a longer line it
	 * would cut and parse the rest as a new line. */
	if (num < 4 || len > (size_t)num - 3 || (size_t)n >= (size_t)num) {
		cfg_fail(ld, ld->lineno, "line longer than %d characters; continue a "
		    "long value on indented lines", num - 3);
		return NULL;
	}
	memcpy(str, ld->linebuf, (size_t)n + 1);

	start = str;
	if (ld->lineno == 1 && strncmp(start, "\xef\xbb\xbf", 3) == 0)
		start += 3;
	while (*start && isspace((unsigned char)*start))
		start++;
	ld->line_continues = false;
	if (*start == '\0' || *start == ';' || *start == '#')
		return str;
	if (start > str && ld->have_prev_key)
		ld->line_continues = true;
	else if (*start == '[')
		section_line(ld, start);
	else
		ld->have_prev_key = true;
	return str;
}

/* "name =" at the start of an indented line: inih would take it as more of
 * the previous value, which is never what the writer meant. */
static bool
looks_like_key(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	while (isalnum((unsigned char)*s) || *s == '_')
		s++;
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '=';
}

/* "[sslhistd]", "[defaults]" or "[cluster ...": an indented section
 * header. An IPv6 instance such as "[::1]:5433" is not one. */
static bool
looks_like_section(const char *s)
{
	return strncmp(s, "[sslhistd]", 10) == 0 || strncmp(s, "[defaults]", 10) == 0 ||
	    strncmp(s, "[cluster", 8) == 0;
}

/* Length of a continuation piece without an inline "; comment", which
 * libinih 55 leaves in (later versions strip it). */
static size_t
piece_len(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 1; i < n; i++) {
		if (s[i] == ';' && isspace((unsigned char)s[i - 1])) {
			n = i;
			break;
		}
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return n;
}

static int
continue_entry(struct loader *ld, const char *name, const char *value)
{
	struct entry *e = ld->nentries ? &ld->entries[ld->nentries - 1] : NULL;
	char *joined;
	int len = (int)piece_len(value);

	if (e == NULL || e->sect != ld->nsects - 1) {
		cfg_fail(ld, ld->lineno, "indented line continues no key");
		return 0;
	}
	if (looks_like_key(value) || looks_like_section(value)) {
		cfg_fail(ld, ld->lineno, "key '%s': indented line continues its value; "
		    "write a new key or section at the start of the line", name);
		return 0;
	}
	/* One blank joins the pieces; see config.h. */
	if (asprintf(&joined, "%s%s%.*s", e->value, e->value[0] ? " " : "", len,
	    value) < 0) {
		cfg_fail(ld, ld->lineno, "out of memory");
		return 0;
	}
	free(e->value);
	e->value = joined;
	return 1;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	struct entry *e;
	size_t i;

	(void)section;	/* ours is in ld->sects, whole */
	if (ld->failed)
		return 0;
	if (ld->nsects == 0) {
		cfg_fail(ld, ld->lineno, "key '%s' before any section", name);
		return 0;
	}
	if (ld->line_continues)
		return continue_entry(ld, name, value);
	for (i = 0; i < ld->nentries; i++) {
		e = &ld->entries[i];
		if (e->sect == ld->nsects - 1 && strcmp(e->key, name) == 0) {
			cfg_fail(ld, ld->lineno, "key '%s': duplicate (first at line %d)",
			    name, e->line);
			return 0;
		}
	}
	e = realloc(ld->entries, (ld->nentries + 1) * sizeof(*e));
	if (e == NULL) {
		cfg_fail(ld, ld->lineno, "out of memory");
		return 0;
	}
	ld->entries = e;
	e = &ld->entries[ld->nentries];
	e->sect = ld->nsects - 1;
	e->line = ld->lineno;
	e->key = strdup(name);
	e->value = strdup(value);
	ld->nentries++;
	if (e->key == NULL || e->value == NULL) {
		cfg_fail(ld, ld->lineno, "out of memory");
		return 0;
	}
	return 1;
}

int
cfg_read(struct loader *ld)
{
	int r = ini_parse_stream(reader, ld, handler, ld);

	if (r > 0 && (!ld->failed || r < ld->fail_line)) {
		ld->failed = false;	/* an earlier line is the one to report */
		cfg_fail(ld, r, "syntax error (expected 'key = value', '[section]' or a comment)");
	}
	if (!ld->failed && ferror(ld->fp))
		cfg_fail(ld, ld->lineno, "read error: %s", strerror(errno));
	return ld->failed ? -1 : 0;
}
