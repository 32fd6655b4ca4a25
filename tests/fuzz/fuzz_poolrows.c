/*
 * fuzz_poolrows.c: libFuzzer target for what a hostile PgBouncer console
 * controls: the result of SHOW CLIENTS / SHOW SERVERS / SHOW CONFIG
 * (daemon/poolrows.h) and the poolmatch fed from it (daemon/poolmatch.h).
 *
 * Input: text lines; the first holds the column names, separated by TAB
 * (at most MAX_COLS), each further line one row (at most MAX_ROWS), its
 * cells separated by TAB (missing cells are SQL NULL). The rows go into one
 * text PGresult, then: every row is decoded; the record is built twice
 * with one tracker (refs within bounds, per-client counts adding up, the
 * second poll of the same rows finding nothing new that did not move); the
 * rows are read as SHOW SERVERS into a poolmatch and each is classified; and
 * as SHOW CONFIG.
 * Seeds: tests/fuzz/corpus/poolrows/ (the 1.18 and 1.24 column sets with
 * plain, TLS, console and half-logged-in clients; odd values).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "fuzzutil.h"
#include "parse.h"
#include "pollrec.h"
#include "poolmatch.h"
#include "poolrows.h"
#include "tracker.h"

#define MAX_COLS 32
#define MAX_ROWS 128

/* The next TAB- or newline-ended field of [*p, end); its length. */
static size_t
field(const char **p, const char *end, bool *eol)
{
	const char *s = *p;

	while (*p < end && **p != '\t' && **p != '\n')
		(*p)++;
	*eol = *p >= end || **p == '\n';
	size_t n = (size_t)(*p - s);
	if (*p < end)
		(*p)++;
	return n;
}

static PGresult *
build(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *s;
	PGresAttDesc att[MAX_COLS];
	char names[MAX_COLS][64];
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	int ncols = 0;
	bool eol = false;

	if (res == NULL)
		return NULL;
	memset(att, 0, sizeof(att));
	while (!eol && ncols < MAX_COLS) {
		s = p;
		size_t n = field(&p, end, &eol);
		if (n > 63)
			n = 63;
		memcpy(names[ncols], s, n);
		names[ncols][n] = '\0';
		att[ncols].name = names[ncols];
		ncols++;
	}
	if (!PQsetResultAttrs(res, ncols, att)) {
		PQclear(res);
		return NULL;
	}
	for (int r = 0; p < end && r < MAX_ROWS; r++) {
		eol = false;
		for (int c = 0; c < ncols; c++) {
			if (eol) {
				PQsetvalue(res, r, c, NULL, -1);
				continue;
			}
			s = p;
			size_t n = field(&p, end, &eol);
			PQsetvalue(res, r, c, (char *)(uintptr_t)s, (int)n);
		}
		while (!eol) {		/* extra cells */
			(void)field(&p, end, &eol);
		}
	}
	return res;
}

static void
check_record(const struct poll_record *r, int rows)
{
	size_t sessions = 0;

	FUZZ_ASSERT(r->n_new <= (size_t)rows && r->nclients <= r->n_new, "%zu new, %zu clients",
		    r->n_new, r->nclients);
	for (size_t i = 0; i < r->n_new; i++)
		FUZZ_ASSERT(r->new_sessions[i].client < r->nclients, "ref %zu", i);
	for (size_t i = 0; i < r->nclients; i++)
		sessions += (size_t)r->clients[i].new_sessions;
	FUZZ_ASSERT(sessions == r->n_new, "%zu sessions, %zu new", sessions, r->n_new);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PGresult *res = build(data, size);
	struct tracker *t = tracker_new();
	struct strlist ex = { NULL, 0 };
	const struct poolrec_ctx ctx = { .tracker = t, .exclude_users = &ex };
	struct poolrows_cols c;
	struct pool_sock s;
	struct poolrec_out out;
	struct pooler_facts f = { NULL, NULL, NULL };
	char err[256];

	if (res == NULL || t == NULL)
		abort();
	for (int pass = 0; pass < 2; pass++) {
		struct poll_record *r = calloc(1, sizeof(*r));

		if (r == NULL)
			abort();
		if (poolrec_build(&ctx, res, r, &out) == NULL) {
			check_record(r, PQntuples(res));
			if (pass == 1)
				for (size_t i = 0; i < r->n_new; i++)
					FUZZ_ASSERT(r->new_sessions[i].moved, "new again: %zu", i);
		}
		poll_record_free(r);
	}
	if (poolrows_columns(res, "SHOW SERVERS", &c, err, sizeof(err)) == NULL) {
		struct poolmatch *pm = poolmatch_new();
		struct pool_server v[MAX_ROWS];
		size_t n = 0;
		const char *name;

		if (pm == NULL || poolmatch_add(pm, "pb", "main") < 0)
			abort();
		for (int i = 0; i < PQntuples(res); i++)
			if (poolrows_decode(res, i, &c, &s) == POOLROW_OK)
				v[n++] = (struct pool_server){ s.local_addr, s.local_port, s.user };
		(void)poolmatch_set(pm, "pb", v, n);
		for (int i = 0; i < PQntuples(res); i++)
			if (poolrows_decode(res, i, &c, &s) == POOLROW_OK)
				(void)poolmatch_classify(pm, "main", s.local_addr, s.local_port,
							 s.user, poolrows_pid(&s), s.connect_us,
							 &name);
		poolmatch_free(pm);
	}
	(void)poolrows_config(res, &f);
	free(f.client_tls_sslmode);
	free(f.server_tls_sslmode);
	free(f.server_tls_ca_file);
	tracker_free(t);
	PQclear(res);
	return 0;
}
