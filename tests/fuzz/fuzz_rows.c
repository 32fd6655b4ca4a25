/*
 * fuzz_rows.c: libFuzzer target for the bytes a hostile server controls in
 * a poll: the decoding of each row of the poll query (daemon/statrow.h) and
 * the step from the rows to a poll record (pollrec_build, daemon/pollrec.h).
 *
 * Input: rows one after the other (at most MAX_ROWS), each its columns in
 * order (STATQ_COL_COUNT of them); each column is one tag byte, odd for
 * SQL NULL, else followed by a length byte N and N bytes of value (fewer
 * if the input ends). Columns past the end of the input are NULL. A seed
 * of one row reads as before the record step was added.
 *
 * Each row is decoded alone, from a buffer of its own per value with a
 * NUL byte after it, as libpq hands values over (so that ASan sees any
 * read beyond). Then the rows go into one binary PGresult, and
 * pollrec_build runs over it twice with one tracker: the record must be
 * consistent (refs within bounds, per-client counts adding up, what was
 * skipped within the rows), and the second poll of the same rows finds
 * nothing new that did not move (a session whose application_name differs
 * between two rows of the same identity moves each time).
 * Seeds: tests/fuzz/corpus/rows/ (a session, a database row, NULLs,
 * 63-byte names, invalid UTF-8, an embedded NUL, a whole poll).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "parse.h"
#include "pollrec.h"
#include "statrow.h"
#include "tracker.h"

#define MAX_ROWS 256

struct row {
	char *bufs[STATQ_COL_COUNT];
	int lens[STATQ_COL_COUNT];
	bool nulls[STATQ_COL_COUNT];
};

/* A decoded text must be one of the column buffers, whole. */
static void
check_text(const char *t, char *const *bufs, const int *lens)
{
	if (t == NULL)
		return;
	for (int c = 0; c < STATQ_COL_COUNT; c++) {
		if (t == bufs[c]) {
			FUZZ_ASSERT(strlen(t) == (size_t)lens[c], "text cut");
			return;
		}
	}
	FUZZ_ASSERT(false, "text not from a column");
}

static void
check_row(const struct stat_row *r, char *const *bufs, const int *lens)
{
	const char *const texts[] = { r->datname, r->usename, r->application, r->client_addr,
		r->client_hostname, r->tls_version, r->cipher, r->client_dn, r->client_serial,
		r->issuer_dn, r->stats_reset };

	FUZZ_ASSERT(r->kind == 'a' || r->kind == 'o' || r->kind == 'd' || r->kind == 't',
		    "kind %d", r->kind);
	if (r->kind == 'a' || r->kind == 'o')
		FUZZ_ASSERT(r->pid > 0 && r->bits >= -1 && r->bits <= 65535, "pid or bits");
	if (r->kind == 'd')
		FUZZ_ASSERT(r->datname != NULL && r->sessions >= 0, "database row");
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		check_text(texts[i], bufs, lens);
}

/* Reads one row from data at *p; every column gets a buffer. */
static void
read_row(const uint8_t *data, size_t size, size_t *p, struct row *row)
{
	for (int c = 0; c < STATQ_COL_COUNT; c++) {
		size_t n = 0;

		row->nulls[c] = *p >= size || (data[*p] & 1);
		if (*p < size)
			(*p)++;
		if (!row->nulls[c] && *p < size) {
			n = data[(*p)++];
			if (n > size - *p)
				n = size - *p;
		}
		row->bufs[c] = malloc(n + 1);
		FUZZ_ASSERT(row->bufs[c] != NULL, "out of memory");
		if (n > 0)
			memcpy(row->bufs[c], data + *p, n);
		row->bufs[c][n] = '\0';
		row->lens[c] = row->nulls[c] ? 0 : (int)n;
		*p += n;
	}
}

static void
decode_row(struct row *row)
{
	struct stat_cells cells = { row->bufs, row->lens, row->nulls };
	struct stat_row r;

	if (statrow_decode_id(&cells, &r) == STATROW_OK)
		check_row(&r, row->bufs, row->lens);
	if (statrow_decode(&cells, &r) == STATROW_OK)
		check_row(&r, row->bufs, row->lens);
}

static PGresult *
make_result(const struct row *rows, int n)
{
	static char name[] = "c";
	PGresAttDesc att[STATQ_COL_COUNT];
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

	memset(att, 0, sizeof(att));
	for (int c = 0; c < STATQ_COL_COUNT; c++) {
		att[c].name = name;
		att[c].format = 1;
	}
	FUZZ_ASSERT(res != NULL && PQsetResultAttrs(res, STATQ_COL_COUNT, att), "PGresult");
	for (int i = 0; i < n; i++)
		for (int c = 0; c < STATQ_COL_COUNT; c++)
			FUZZ_ASSERT(PQsetvalue(res, i, c, rows[i].nulls[c] ? NULL : rows[i].bufs[c],
					       rows[i].nulls[c] ? -1 : rows[i].lens[c]), "PQsetvalue");
	return res;
}

static void
check_key(const struct client_key *k)
{
	const char *const s[] = { k->database, k->user, k->application, k->client_addr,
		k->tls_version, k->cipher, k->client_dn, k->issuer_dn };

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		FUZZ_ASSERT(s[i] == NULL || strlen(s[i]) <= STATROW_MAX_TEXT, "key text");
	FUZZ_ASSERT(k->ssl || (k->tls_version == NULL && k->bits == -1), "non-SSL key with TLS");
}

/* One poll of res; second: the same rows were polled just before. */
static void
build(struct tracker *t, const PGresult *res, int nrows, bool second)
{
	static char xname[] = "evil";
	static char *xv[] = { xname, NULL };
	static const struct strlist ex = { xv, 1 };
	const struct pollrec_ctx ctx = { .tracker = t, .server_version = 150000,
		.exclude_users = &ex, .exclude_databases = &ex };
	struct poll_record *r = calloc(1, sizeof(*r));
	struct pollrec_out out;
	const char *err;
	uint64_t bad = 0;
	long sessions = 0;

	FUZZ_ASSERT(r != NULL, "out of memory");
	err = pollrec_build(&ctx, res, r, &out);
	FUZZ_ASSERT(err == NULL, "build failed: %s", err);
	for (int e = 0; e < STATROW_NERRORS; e++)
		bad += out.bad[e];
	FUZZ_ASSERT(out.bad[STATROW_OK] == 0 && bad <= (uint64_t)nrows, "bad rows %llu",
		    (unsigned long long)bad);
	FUZZ_ASSERT(r->n_new <= (size_t)nrows && r->nclients <= r->n_new &&
		    r->ncounters <= (size_t)nrows && out.nwant <= POLLREC_WANT_MAX, "counts");
	for (size_t i = 0; i < r->nclients; i++) {
		FUZZ_ASSERT(r->clients[i].new_sessions >= 1 &&
			    r->clients[i].samples == r->clients[i].new_sessions, "client counts");
		check_key(&r->clients[i].key);
		sessions += r->clients[i].new_sessions;
	}
	FUZZ_ASSERT(sessions == (long)r->n_new, "sessions %ld of %zu", sessions, r->n_new);
	for (size_t i = 0; i < r->n_new; i++) {
		FUZZ_ASSERT(r->new_sessions[i].client < r->nclients, "client ref");
		FUZZ_ASSERT(!second || r->new_sessions[i].moved, "known session new again");
	}
	for (size_t i = 0; i < r->n_ended; i++)
		FUZZ_ASSERT(!second || r->ended_sessions[i].moved, "session seen again ended");
	FUZZ_ASSERT(poll_record_size(r) >= sizeof(*r), "size");
	poll_record_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct row *rows = calloc(MAX_ROWS, sizeof(*rows));
	struct tracker *t = tracker_new();
	PGresult *res;
	size_t p = 0;
	int n = 0;

	FUZZ_ASSERT(rows != NULL && t != NULL, "out of memory");
	do {
		read_row(data, size, &p, &rows[n]);
		decode_row(&rows[n++]);
	} while (p < size && n < MAX_ROWS);
	res = make_result(rows, n);
	build(t, res, n, false);
	build(t, res, n, true);
	PQclear(res);
	tracker_free(t);
	for (int i = 0; i < n; i++)
		for (int c = 0; c < STATQ_COL_COUNT; c++)
			free(rows[i].bufs[c]);
	free(rows);
	return 0;
}
