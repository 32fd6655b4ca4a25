/*
 * fuzz_logline.c: the server-log reader of lib/logread.c and the record
 * parser of lib/logline*.c and lib/logprefix.c.
 *
 * The first byte picks the format (auto, stderr, csvlog, jsonlog,
 * CloudWatch) and whether a log_line_prefix is given (the next bytes up to
 * a NUL); the second the chunk size the bytes are fed in; the rest is the
 * log. Checked: every record handed out has a pid; a received line's port
 * is -1 or 0..65535; an authorized line has a user and a database, and SSL
 * details only when ssl (bits -1 or >= 0); the time's precision is one of
 * the two a log can carry; no record is longer than LOGLINE_MAX_RECORD;
 * the counts agree (records and skipped ones at most the lines plus one,
 * for stderr and csvlog); the same bytes fed in one chunk give the same
 * counts (framing does not depend on how the bytes arrive).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "logread.h"

struct tally {
	uint64_t n, conn, authorized, bytes;
};

static int
check_line(void *arg, const struct logline *l, uint64_t lineno)
{
	struct tally *t = arg;

	FUZZ_ASSERT(lineno >= 1, "line %llu", (unsigned long long)lineno);
	FUZZ_ASSERT(l->pid > 0, "pid %d", (int)l->pid);
	FUZZ_ASSERT(l->time_us == INT64_MIN || l->prec_us == 1000 || l->prec_us == 1000000 ||
		    l->prec_us == 100000 || l->prec_us == 10000 || l->prec_us == 100 ||
		    l->prec_us == 10 || l->prec_us == 1, "precision %lld", (long long)l->prec_us);
	if (l->kind == LOGLINE_RECEIVED)
		FUZZ_ASSERT(l->port >= -1 && l->port <= 65535, "port %d", l->port);
	if (l->kind == LOGLINE_AUTHORIZED) {
		FUZZ_ASSERT(l->user != NULL && l->database != NULL, "names");
		FUZZ_ASSERT(l->ssl == (l->protocol != NULL), "ssl %d", l->ssl);
		FUZZ_ASSERT(l->bits >= -1, "bits %d", l->bits);
		t->authorized++;
		t->bytes += strlen(l->user) + strlen(l->database) +
			    (l->application ? strlen(l->application) : 0);
	}
	t->n++;
	t->conn += l->kind != LOGLINE_OTHER;
	return 0;
}

static void
check_skip(void *arg, uint64_t lineno, const char *why, const char *rec, size_t len)
{
	(void)arg, (void)rec;
	FUZZ_ASSERT(lineno >= 1 && why != NULL && why[0] != '\0' && len <= 200, "skip");
}

static void
run(enum logline_format f, const char *prefix, const uint8_t *d, size_t n, size_t chunk,
    struct tally *t, struct logread_stats *st, enum logline_format *got)
{
	char err[256];
	struct logread *r = logread_new(f, prefix, check_line, check_skip, t, err, sizeof err);

	if (r == NULL) {
		FUZZ_ASSERT(prefix != NULL, "%s", err);
		*got = LOGFMT_AUTO;
		return;
	}
	for (size_t i = 0; i < n; i += chunk)
		FUZZ_ASSERT(logread_feed(r, (const char *)d + i, n - i < chunk ? n - i : chunk) == 0,
			    "feed");
	FUZZ_ASSERT(logread_end(r) == 0, "end");
	*st = *logread_stats(r);
	*got = logread_format(r);
	if (*got == LOGFMT_STDERR || *got == LOGFMT_CSVLOG)
		FUZZ_ASSERT(st->records + st->skipped <= st->lines + 1, "%llu + %llu > %llu + 1",
			    (unsigned long long)st->records, (unsigned long long)st->skipped,
			    (unsigned long long)st->lines);
	FUZZ_ASSERT(st->records == t->n && st->connection == t->conn,
		    "records %llu, handed out %llu", (unsigned long long)st->records,
		    (unsigned long long)t->n);
	logread_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tally a = {0}, b = {0};
	struct logread_stats sa, sb;
	enum logline_format f, ga, gb;
	char *prefix = NULL;
	size_t chunk;
	uint8_t mode;

	if (size < 2)
		return 0;
	mode = data[0];
	chunk = (size_t)data[1] + 1;
	data += 2;
	size -= 2;
	f = (enum logline_format)(mode % 5);
	if (mode & 0x80) {
		const uint8_t *nul = memchr(data, 0, size < 64 ? size : 64);

		if (nul == NULL)
			return 0;
		prefix = fuzz_cstr(data, (size_t)(nul - data));
		size -= (size_t)(nul - data) + 1;
		data = nul + 1;
	}
	run(f, prefix, data, size, chunk, &a, &sa, &ga);
	run(f, prefix, data, size, size ? size : 1, &b, &sb, &gb);
	if (ga != LOGFMT_AUTO && (f != LOGFMT_AUTO || size >= 4096 || chunk >= size)) {
		FUZZ_ASSERT(ga == gb, "format %d vs %d", ga, gb);
		FUZZ_ASSERT(sa.records == sb.records && sa.skipped == sb.skipped &&
			    a.authorized == b.authorized && a.bytes == b.bytes,
			    "chunk %zu: %llu/%llu records, %llu/%llu skipped", chunk,
			    (unsigned long long)sa.records, (unsigned long long)sb.records,
			    (unsigned long long)sa.skipped, (unsigned long long)sb.skipped);
	}
	free(prefix);
	return 0;
}
