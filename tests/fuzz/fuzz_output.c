/*
 * fuzz_output.c: what the query tool writes (docs/CONTRACT.md section 4): the JSON
 * writer (lib/jsonw.c), the CSV writer (lib/csvw.c) and the rows of a
 * command as table, JSON and CSV (cli/output.c, over textesc and both
 * writers). The input describes a JSON document, CSV records and rows of
 * a fixed set of columns that has every column type and flag.
 *
 * Checked against the RFC readers of fuzzutil.c, not only "no crash":
 * - JSON parses strictly (valid UTF-8, RFC 8259) and is the document that
 *   was written: strings byte for byte, with each byte that is not valid
 *   UTF-8 read back as U+FFFD; numbers read back as the same value;
 *   nesting beyond JSONW_MAX_DEPTH is refused, never written invalid.
 * - CSV parses strictly (RFC 4180) and round-trips: every string field
 *   gives back the same bytes, NULL is an unquoted empty field and an
 *   empty string a quoted one; fields with blank ends are quoted.
 * - tables hold no control byte but the line ends, no C1 control, bidi
 *   override or line separator, are valid UTF-8 and have one line per row
 *   plus the header.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvw.h"
#include "fuzzutil.h"
#include "jsonw.h"
#include "output.h"
#include "parse.h"

/* ---- JSON writer ---- */

#define GEN_MAX_LEVEL (JSONW_MAX_DEPTH + 2)

struct jgen {
	struct fdp in;
	struct jsonw w;
	FILE *out;
	int max_level;		/* deepest container written (root value: 1) */
};

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		abort();
	return d;
}

static void expect_value(struct jgen *g, struct jv *want, int level);

/* Writes a string value (strn: with NULs) and its expected reading. */
static void
gen_string(struct jgen *g, struct jv *want, bool with_nul)
{
	size_t n = fdp_u8(&g->in) % 40, k;
	char *s = fuzz_xmalloc(n + 1);

	for (k = 0; k < n; k++)
		s[k] = (char)fdp_u8(&g->in);
	s[n] = '\0';
	if (!with_nul)
		n = strlen(s);
	if (with_nul)
		jsonw_strn(&g->w, s, n);
	else
		jsonw_str(&g->w, s);
	want->t = J_STR;
	want->s = ref_utf8_repair((const unsigned char *)s, n, &want->slen);
	free(s);
}

static void
gen_container(struct jgen *g, struct jv *want, int level, bool object)
{
	size_t n = fdp_u8(&g->in) % 5, i;
	char *key;

	if (level > g->max_level)
		g->max_level = level;
	want->t = object ? J_OBJ : J_ARR;
	want->n = n;
	want->items = calloc(n ? n : 1, sizeof(*want->items));
	want->keys = object ? calloc(n ? n : 1, sizeof(*want->keys)) : NULL;
	if (want->items == NULL || (object && want->keys == NULL))
		abort();
	if (object)
		jsonw_object_begin(&g->w);
	else
		jsonw_array_begin(&g->w);
	for (i = 0; i < n; i++) {
		if (object) {
			key = fdp_str(&g->in, 16);
			jsonw_key(&g->w, key);
			want->keys[i].t = J_STR;
			want->keys[i].s = ref_utf8_repair((const unsigned char *)key, strlen(key),
			    &want->keys[i].slen);
			free(key);
		}
		expect_value(g, &want->items[i], level + 1);
		/* Streaming: what is flushed between items is the same text. */
		if (fdp_u8(&g->in) & 1)
			(void)jsonw_flush(&g->w, g->out);
	}
	if (object)
		jsonw_object_end(&g->w);
	else
		jsonw_array_end(&g->w);
}

static void
expect_value(struct jgen *g, struct jv *want, int level)
{
	char buf[64];
	uint64_t u;
	double d;

	unsigned op = fdp_u8(&g->in) % 9;

	memset(want, 0, sizeof(*want));
	if (op <= 1 && level > GEN_MAX_LEVEL)
		op = 2;
	switch (op) {
	case 0:
	case 1:
		gen_container(g, want, level, (fdp_u8(&g->in) & 1) != 0);
		return;
	case 2:
		gen_string(g, want, false);
		return;
	case 3:
		gen_string(g, want, true);
		return;
	case 4:
		u = fdp_u64(&g->in);
		jsonw_int(&g->w, (int64_t)u);
		snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)u);
		want->t = J_NUM;
		want->s = xstrdup(buf);
		return;
	case 5:
		u = fdp_u64(&g->in);
		memcpy(&d, &u, sizeof(d));
		jsonw_double(&g->w, d);
		if (!isfinite(d)) {
			want->t = J_NULL;
			return;
		}
		/* Compared by value: %.17g is the exact bits, as text. */
		snprintf(buf, sizeof(buf), "%.17g", d);
		want->t = J_NUM;
		want->s = xstrdup(buf);
		return;
	case 6:
		want->t = J_BOOL;
		want->b = fdp_u8(&g->in) & 1;
		jsonw_bool(&g->w, want->b);
		return;
	case 7:
		want->t = J_NULL;
		if (fdp_u8(&g->in) & 1)
			jsonw_null(&g->w);
		else
			jsonw_str(&g->w, NULL);
		return;
	default:
		u = fdp_u64(&g->in);
		jsonw_time(&g->w, (int64_t)u);
		format_time((int64_t)u, buf);
		want->t = J_STR;
		want->s = xstrdup(buf);
		want->slen = strlen(buf);
		return;
	}
}

static void
same_json(const struct jv *got, const struct jv *want, const char *where)
{
	size_t i;

	FUZZ_ASSERT(got->t == want->t, "%s: type %d, wrote %d", where, got->t, want->t);
	switch (want->t) {
	case J_BOOL:
		FUZZ_ASSERT(got->b == want->b, "%s: boolean changed", where);
		break;
	case J_NUM:
		/* Integers exactly; doubles by value. */
		if (strpbrk(want->s, ".eE") == NULL && strpbrk(got->s, ".eE") == NULL)
			FUZZ_ASSERT(strcmp(got->s, want->s) == 0, "%s: %s, wrote %s", where,
			    got->s, want->s);
		else
			FUZZ_ASSERT(strtod(got->s, NULL) == strtod(want->s, NULL),
			    "%s: %s, wrote %s", where, got->s, want->s);
		break;
	case J_STR:
		FUZZ_ASSERT(got->slen == want->slen && memcmp(got->s, want->s, want->slen) == 0,
		    "%s: string changed", where);
		break;
	case J_ARR:
	case J_OBJ:
		FUZZ_ASSERT(got->n == want->n, "%s: %zu items, wrote %zu", where, got->n, want->n);
		for (i = 0; i < want->n; i++) {
			if (want->t == J_OBJ)
				same_json(&got->keys[i], &want->keys[i], "key");
			same_json(&got->items[i], &want->items[i], where);
		}
		break;
	case J_NULL:
		break;
	}
}

static void
check_jsonw(struct fdp *in)
{
	struct jgen g;
	struct jv want, got;
	char *buf = NULL;
	size_t len = 0;
	const char *err;
	int rc;

	memset(&g, 0, sizeof(g));
	g.in = *in;
	if ((g.out = open_memstream(&buf, &len)) == NULL)
		abort();
	jsonw_init(&g.w);
	expect_value(&g, &want, 1);
	rc = jsonw_flush(&g.w, g.out);
	jsonw_free(&g.w);
	fclose(g.out);
	*in = g.in;
	if (g.max_level >= JSONW_MAX_DEPTH) {
		FUZZ_ASSERT(rc == -1, "%d levels of nesting written", g.max_level);
	} else {
		FUZZ_ASSERT(rc == 0, "flush failed");
		FUZZ_ASSERT(jv_parse(buf, len, &got, &err) == 0, "invalid JSON (%s): %.*s", err,
		    (int)len, buf);
		same_json(&got, &want, "document");
		jv_free(&got);
	}
	jv_free(&want);
	free(buf);
}

/* ---- CSV writer ---- */

enum cfield { CF_STR, CF_NULL, CF_INT, CF_DOUBLE, CF_BOOL, CF_TIME };

struct want_field {
	char *text;	/* expected bytes; NULL for CF_NULL */
	bool must_quote;
};

static void
check_csvw(struct fdp *in)
{
	size_t nrows = fdp_u8(in) % 6, r, f, nf[6], k;
	struct want_field want[6][6];
	struct csv_doc doc;
	struct csvw w;
	char *buf = NULL, tmp[64];
	size_t len = 0;
	const char *err;
	FILE *out = open_memstream(&buf, &len);
	uint64_t u;
	double d;

	if (out == NULL)
		abort();
	csvw_init(&w, out);
	for (r = 0; r < nrows; r++) {
		nf[r] = 1 + fdp_u8(in) % 6;
		for (f = 0; f < nf[r]; f++) {
			struct want_field *wf = &want[r][f];
			wf->must_quote = false;
			switch (fdp_u8(in) % 6) {
			case CF_STR:
				wf->text = fdp_str(in, 40);
				csvw_str(&w, wf->text);
				k = strlen(wf->text);
				wf->must_quote = k == 0 || strchr(" \t", wf->text[0]) ||
				    strchr(" \t", wf->text[k - 1]);
				continue;
			case CF_NULL:
				wf->text = NULL;
				if (fdp_u8(in) & 1)
					csvw_null(&w);
				else
					csvw_str(&w, NULL);
				continue;
			case CF_INT:
				u = fdp_u64(in);
				csvw_int(&w, (int64_t)u);
				snprintf(tmp, sizeof(tmp), "%" PRId64, (int64_t)u);
				break;
			case CF_DOUBLE:
				u = fdp_u64(in);
				memcpy(&d, &u, sizeof(d));
				csvw_double(&w, d);
				snprintf(tmp, sizeof(tmp), "%.6g", d);
				break;
			case CF_BOOL:
				k = fdp_u8(in) & 1;
				csvw_bool(&w, k != 0);
				snprintf(tmp, sizeof(tmp), "%s", k ? "true" : "false");
				break;
			default:
				u = fdp_u64(in);
				csvw_time(&w, (int64_t)u);
				format_time((int64_t)u, tmp);
				break;
			}
			wf->text = xstrdup(tmp);
		}
		csvw_end_row(&w);
	}
	FUZZ_ASSERT(csvw_status(&w) == 0, "CSV write failed");
	fclose(out);
	FUZZ_ASSERT(csv_parse(buf, len, &doc, &err) == 0, "invalid CSV (%s)", err);
	FUZZ_ASSERT(doc.n == nrows, "%zu records, wrote %zu", doc.n, nrows);
	for (r = 0; r < nrows; r++) {
		FUZZ_ASSERT(doc.r[r].n == nf[r], "record %zu: %zu fields, wrote %zu", r,
		    doc.r[r].n, nf[r]);
		for (f = 0; f < nf[r]; f++) {
			const struct csv_field *got = &doc.r[r].f[f];
			struct want_field *wf = &want[r][f];
			if (wf->text == NULL) {
				FUZZ_ASSERT(got->len == 0 && !got->quoted, "NULL is not an empty field");
				continue;
			}
			FUZZ_ASSERT(got->len == strlen(wf->text) &&
			    memcmp(got->s, wf->text, got->len) == 0,
			    "record %zu field %zu changed", r, f);
			FUZZ_ASSERT(got->quoted || !wf->must_quote, "record %zu field %zu unquoted",
			    r, f);
			free(wf->text);
		}
	}
	csv_free(&doc);
	free(buf);
}

/* ---- rows as table, JSON, CSV (cli/output.c) ---- */

static const struct col cols[] = {
	{ "cluster", "CLUSTER", COL_STR, 0, 0 },
	{ "instance", "INSTANCE", COL_STR, 0, 12 },
	{ "port", "PORT", COL_INT, 0, 0 },
	{ "ssl", "SSL", COL_BOOL, 0, 0 },
	{ "first_seen", "FIRST SEEN", COL_TIME, 0, 0 },
	{ "largest_gap_s", "GAP", COL_SECONDS, 0, 0 },
	{ "client_dn", "CLIENT DN", COL_STR, COL_NO_TABLE, 0 },
	{ "age", "AGE", COL_STR, COL_TABLE_ONLY, 5 },
	{ "server_cert.subject", "CERT", COL_STR, COL_GROUP_NULL, 20 },
	{ "server_cert.sha256", "SHA256", COL_STR, COL_NO_TABLE, 0 },
	{ "coverage.polls", "POLLS", COL_INT, 0, 0 },
	{ "coverage.since", "SINCE", COL_TIME, 0, 0 },
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))
#define MAX_ROWS 8

struct rows {
	struct cell cells[MAX_ROWS][NCOLS];
	size_t n, next;
	size_t fail_at;		/* next() fails at this row (>= n: never) */
};

static int
rows_next(void *arg, struct cell *out, char *err, size_t errlen)
{
	struct rows *r = arg;

	if (r->next == r->fail_at && r->fail_at < r->n) {
		snprintf(err, errlen, "row source failed");
		return -1;
	}
	if (r->next >= r->n)
		return 0;
	memcpy(out, r->cells[r->next++], sizeof(r->cells[0]));
	return 1;
}

static int
rows_rewind(void *arg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	((struct rows *)arg)->next = 0;
	return 0;
}

static void
fill_rows(struct fdp *in, struct rows *r)
{
	size_t i, c;
	uint64_t u;

	memset(r, 0, sizeof(*r));
	r->n = fdp_u8(in) % (MAX_ROWS + 1);
	r->fail_at = fdp_u8(in) % 64;
	for (i = 0; i < r->n; i++) {
		for (c = 0; c < NCOLS; c++) {
			struct cell *cell = &r->cells[i][c];
			if (fdp_u8(in) % 4 == 0) {
				cell_null(cell);
				continue;
			}
			if (cols[c].type == COL_STR) {
				cell_str(cell, fdp_str(in, 48));
				continue;
			}
			u = fdp_u64(in);
			cell_int(cell, (int64_t)u);
			memcpy(&cell->d, &u, sizeof(cell->d));
		}
	}
}

static void
free_rows(struct rows *r)
{
	size_t i, c;

	for (i = 0; i < r->n; i++)
		for (c = 0; c < NCOLS; c++)
			if (cols[c].type == COL_STR)
				free((char *)(uintptr_t)r->cells[i][c].s);
}

static void
want_scalar(const struct col *col, const struct cell *cell, char *buf, size_t len)
{
	switch (col->type) {
	case COL_INT:
		snprintf(buf, len, "%" PRId64, cell->i);
		break;
	case COL_BOOL:
		snprintf(buf, len, "%s", cell->i ? "true" : "false");
		break;
	case COL_TIME:
		format_time(cell->i, buf);
		break;
	case COL_SECONDS:
		snprintf(buf, len, "%.3f", cell->d);
		break;
	case COL_STR:
	case COL_LIST:
		snprintf(buf, len, "%s", cell->s);
		break;
	}
}

static void
check_json_cell(const struct jv *v, const struct col *col, const struct cell *cell)
{
	char buf[600];
	size_t n;
	char *rep;

	if (cell->null) {
		FUZZ_ASSERT(v->t == J_NULL, "%s: not null", col->key);
		return;
	}
	switch (col->type) {
	case COL_STR:
		rep = ref_utf8_repair((const unsigned char *)cell->s, strlen(cell->s), &n);
		FUZZ_ASSERT(v->t == J_STR && v->slen == n && memcmp(v->s, rep, n) == 0,
		    "%s: string changed", col->key);
		free(rep);
		break;
	case COL_INT:
		want_scalar(col, cell, buf, sizeof(buf));
		FUZZ_ASSERT(v->t == J_NUM && strcmp(v->s, buf) == 0, "%s: int changed", col->key);
		break;
	case COL_BOOL:
		FUZZ_ASSERT(v->t == J_BOOL && v->b == (cell->i != 0), "%s: bool", col->key);
		break;
	case COL_TIME:
		want_scalar(col, cell, buf, sizeof(buf));
		FUZZ_ASSERT(v->t == J_STR && strcmp(v->s, buf) == 0, "%s: time", col->key);
		break;
	case COL_SECONDS:
		if (!isfinite(cell->d))
			FUZZ_ASSERT(v->t == J_NULL, "%s: non-finite is not null", col->key);
		else
			FUZZ_ASSERT(v->t == J_NUM && strtod(v->s, NULL) == cell->d,
			    "%s: %s for %.17g", col->key, v->s, cell->d);
		break;
	case COL_LIST:	/* none among this target's columns */
		break;
	}
}

static void
check_json_rows(const char *text, size_t len, const struct rows *r)
{
	struct jv doc;
	const struct jv *row, *v, *group;
	const char *err;
	char gname[64];
	size_t i, c, g;

	FUZZ_ASSERT(jv_parse(text, len, &doc, &err) == 0, "invalid JSON rows (%s)", err);
	FUZZ_ASSERT(doc.t == J_ARR && doc.n == r->n, "%zu rows, wrote %zu", doc.n, r->n);
	for (i = 0; i < r->n; i++) {
		row = &doc.items[i];
		FUZZ_ASSERT(row->t == J_OBJ, "row %zu is no object", i);
		for (c = 0; c < NCOLS; c++) {
			const char *dot = strchr(cols[c].key, '.');
			if (cols[c].flags & COL_TABLE_ONLY) {
				FUZZ_ASSERT(jv_get(row, cols[c].key) == NULL, "%s in JSON", cols[c].key);
				continue;
			}
			if (dot == NULL) {
				v = jv_get(row, cols[c].key);
				FUZZ_ASSERT(v != NULL, "row %zu lacks %s", i, cols[c].key);
				check_json_cell(v, &cols[c], &r->cells[i][c]);
				continue;
			}
			g = (size_t)(dot - cols[c].key);
			FUZZ_ASSERT(g < sizeof(gname), "group name too long");
			memcpy(gname, cols[c].key, g);
			gname[g] = '\0';
			group = jv_get(row, gname);
			FUZZ_ASSERT(group != NULL, "row %zu lacks %s", i, gname);
			if (group->t == J_NULL) {
				/* Only a null first member of a COL_GROUP_NULL run. */
				size_t first = c;
				while (first > 0 && strncmp(cols[first - 1].key, cols[c].key, g + 1) == 0)
					first--;
				FUZZ_ASSERT((cols[first].flags & COL_GROUP_NULL) &&
				    r->cells[i][first].null, "%s null without cause", gname);
				continue;
			}
			v = jv_get(group, dot + 1);
			FUZZ_ASSERT(v != NULL, "row %zu lacks %s", i, cols[c].key);
			check_json_cell(v, &cols[c], &r->cells[i][c]);
		}
	}
	jv_free(&doc);
}

static void
check_csv_rows(const char *text, size_t len, const struct rows *r)
{
	struct csv_doc doc;
	const char *err;
	char buf[600];
	size_t i, c, f;

	FUZZ_ASSERT(csv_parse(text, len, &doc, &err) == 0, "invalid CSV rows (%s)", err);
	FUZZ_ASSERT(doc.n == r->n + 1, "%zu records for %zu rows", doc.n, r->n);
	for (i = 0; i <= r->n; i++) {
		for (c = 0, f = 0; c < NCOLS; c++) {
			const struct csv_field *got;
			const struct cell *cell = i ? &r->cells[i - 1][c] : NULL;
			if (cols[c].flags & COL_TABLE_ONLY)
				continue;
			FUZZ_ASSERT(f < doc.r[i].n, "record %zu is short", i);
			got = &doc.r[i].f[f++];
			if (cell == NULL)
				snprintf(buf, sizeof(buf), "%s", cols[c].key);
			else if (cell->null) {
				FUZZ_ASSERT(got->len == 0 && !got->quoted, "NULL %s", cols[c].key);
				continue;
			} else
				want_scalar(&cols[c], cell, buf, sizeof(buf));
			FUZZ_ASSERT(got->len == strlen(buf) && memcmp(got->s, buf, got->len) == 0,
			    "record %zu %s changed", i, cols[c].key);
		}
		FUZZ_ASSERT(f == doc.r[i].n, "record %zu is long", i);
	}
	csv_free(&doc);
}

static void
check_table_rows(const char *text, size_t len, const struct rows *r)
{
	const unsigned char *u = (const unsigned char *)text;
	size_t i = 0, k, lines = 0;
	uint32_t cp;

	FUZZ_ASSERT(ref_utf8_valid(u, len), "table is not valid UTF-8");
	while (i < len) {
		k = ref_utf8_seq(u + i, len - i);
		cp = ref_utf8_cp(u + i, k);
		lines += cp == '\n';
		FUZZ_ASSERT(cp == '\n' || !(cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
		    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
		    cp == 0x2028 || cp == 0x2029), "U+%04X raw in a table", (unsigned)cp);
		i += k;
	}
	FUZZ_ASSERT(lines == r->n + 1 && (len == 0 || text[len - 1] == '\n'),
	    "%zu lines for %zu rows", lines, r->n);
}

static void
check_out_rows(struct fdp *in)
{
	static const enum out_format fmts[] = { FMT_TABLE, FMT_JSON, FMT_CSV };
	struct rows *r = fuzz_xmalloc(sizeof(*r));
	struct rowsrc src = { rows_next, rows_rewind, r };
	char err[256], *buf;
	size_t f, len;
	FILE *out;
	int rc;

	fill_rows(in, r);
	for (f = 0; f < 3; f++) {
		buf = NULL;
		len = 0;
		err[0] = '\0';
		r->next = 0;
		if ((out = open_memstream(&buf, &len)) == NULL)
			abort();
		rc = out_rows(out, fmts[f], cols, NCOLS, &src, err, sizeof(err));
		fclose(out);
		if (r->fail_at < r->n) {
			FUZZ_ASSERT(rc == -1 && err[0] != '\0', "a failing row source went unnoticed");
		} else {
			FUZZ_ASSERT(rc == 0, "out_rows failed: %s", err);
			if (fmts[f] == FMT_JSON)
				check_json_rows(buf, len, r);
			else if (fmts[f] == FMT_CSV)
				check_csv_rows(buf, len, r);
			else
				check_table_rows(buf, len, r);
		}
		free(buf);
	}
	free_rows(r);
	free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fdp in = { data, size };

	if (size == 0)
		return 0;
	/* The first byte picks what to exercise, so each part gets the
	 * whole input's structure. */
	switch (fdp_u8(&in) % 3) {
	case 0:
		check_jsonw(&in);
		break;
	case 1:
		check_csvw(&in);
		break;
	default:
		check_out_rows(&in);
		break;
	}
	return 0;
}
