/*
 * fuzz_command.c: the hook and password_command splitter, parse_command()
 * of lib/parse.c (docs/CONTRACT.md section 5: blanks split, double quotes group, no
 * shell).
 *
 * An accepted command has an absolute first word and no control byte but
 * tab in any word, and it survives a round trip: every word quoted (with
 * '"' and '\' escaped) and joined by blanks splits back into the same
 * words. Without a double quote or backslash in the input, the words are
 * exactly the blank-separated fields of the input.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "parse.h"

static char *
requote(const struct strlist *argv)
{
	size_t i, len = 1;
	char *out, *o;
	const char *p;

	for (i = 0; i < argv->n; i++)
		len += 2 * strlen(argv->v[i]) + 3;
	o = out = fuzz_xmalloc(len);
	for (i = 0; i < argv->n; i++) {
		if (i)
			*o++ = ' ';
		*o++ = '"';
		for (p = argv->v[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				*o++ = '\\';
			*o++ = *p;
		}
		*o++ = '"';
	}
	*o = '\0';
	return out;
}

/* Without quotes and backslashes the splitter is strtok on blanks. */
static void
check_plain_split(const char *s, const struct strlist *argv)
{
	char *copy, *save = NULL, *w;
	size_t i = 0;

	if (strpbrk(s, "\"\\") != NULL)
		return;
	copy = strdup(s);
	if (copy == NULL)
		abort();
	for (w = strtok_r(copy, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
		FUZZ_ASSERT(i < argv->n && strcmp(argv->v[i], w) == 0,
		    "word %zu of \"%s\": \"%s\", expected \"%s\"", i, s,
		    i < argv->n ? argv->v[i] : "(none)", w);
		i++;
	}
	FUZZ_ASSERT(i == argv->n, "\"%s\": %zu words, expected %zu", s, argv->n, i);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), *q;
	struct strlist argv = { NULL, 0 }, again = { NULL, 0 };
	const unsigned char *c;
	size_t i;

	if (parse_command(s, &argv) != NULL) {
		FUZZ_ASSERT(argv.n == 0 && argv.v == NULL, "a failed split filled argv");
		free(s);
		return 0;
	}
	FUZZ_ASSERT(argv.n >= 1 && argv.v[argv.n] == NULL, "argv not NULL-terminated");
	FUZZ_ASSERT(argv.v[0][0] == '/', "first word \"%s\" is not absolute", argv.v[0]);
	for (i = 0; i < argv.n; i++)
		for (c = (const unsigned char *)argv.v[i]; *c; c++)
			FUZZ_ASSERT((*c >= ' ' || *c == '\t') && *c != 0x7f,
			    "control byte 0x%02x in word %zu", *c, i);
	check_plain_split(s, &argv);
	q = requote(&argv);
	FUZZ_ASSERT(parse_command(q, &again) == NULL && again.n == argv.n,
	    "requoted \"%s\" does not split back", q);
	for (i = 0; i < argv.n; i++)
		FUZZ_ASSERT(strcmp(again.v[i], argv.v[i]) == 0, "word %zu: \"%s\" != \"%s\"",
		    i, again.v[i], argv.v[i]);
	free(q);
	strlist_free(&argv);
	strlist_free(&again);
	free(s);
	return 0;
}
