/* output.c: table, JSON and CSV output of rows (output.h). */
#include "output.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "csvw.h"
#include "jsonw.h"
#include "parse.h"
#include "textesc.h"

#define DEFAULT_MAXW 40
#define MIN_WIDTH 4		/* room for a cut value's marker */
#define COL_GAP "  "
/* Room for any formatted number (a double in %.3f takes up to 314). */
#define SCALAR_BUF 512

int
out_format_parse(const char *s)
{
	if (strcmp(s, "table") == 0)
		return FMT_TABLE;
	if (strcmp(s, "json") == 0)
		return FMT_JSON;
	if (strcmp(s, "csv") == 0)
		return FMT_CSV;
	return -1;
}

void
cell_str(struct cell *c, const char *s)
{
	c->null = s == NULL;
	c->s = s;
}

void
cell_int(struct cell *c, int64_t v)
{
	c->null = false;
	c->i = v;
}

void
cell_null(struct cell *c)
{
	c->null = true;
}

/* A non-string value as text (tables and CSV). */
static const char *
scalar_text(const struct col *col, const struct cell *c, char buf[SCALAR_BUF])
{
	switch (col->type) {
	case COL_INT:
		snprintf(buf, SCALAR_BUF, "%" PRId64, c->i);
		return buf;
	case COL_BOOL:
		return c->i ? "true" : "false";
	case COL_TIME:
		format_time(c->i, buf);
		return buf;
	case COL_SECONDS:
		snprintf(buf, SCALAR_BUF, "%.3f", c->d);
		return buf;
	case COL_STR:
	case COL_LIST:
		break;
	}
	return c->s;
}

static size_t
key_group_len(const char *key)
{
	const char *dot = strchr(key, '.');

	return dot ? (size_t)(dot - key) : 0;
}

static bool
same_group(const char *a, const char *b)
{
	size_t n = key_group_len(a);

	return n > 0 && n == key_group_len(b) && strncmp(a, b, n) == 0;
}

static void
json_value(struct jsonw *w, const struct col *col, const struct cell *c)
{
	if (c->null) {
		jsonw_null(w);
		return;
	}
	switch (col->type) {
	case COL_STR:
		jsonw_str(w, c->s);
		break;
	case COL_INT:
		jsonw_int(w, c->i);
		break;
	case COL_BOOL:
		jsonw_bool(w, c->i != 0);
		break;
	case COL_TIME:
		jsonw_time(w, c->i);
		break;
	case COL_SECONDS:
		jsonw_double(w, c->d);
		break;
	case COL_LIST:
		jsonw_array_begin(w);
		for (const char *p = c->s, *e; p != NULL && *p != '\0'; p = *e ? e + 1 : e) {
			e = strchr(p, '\n');
			if (e == NULL)
				e = p + strlen(p);
			jsonw_strn(w, p, (size_t)(e - p));
		}
		jsonw_array_end(w);
		break;
	}
}

/* One row as a JSON object; "g.k" columns become nested objects. */
static void
json_row(struct jsonw *w, const struct col *cols, size_t ncols, const struct cell *cells)
{
	size_t i, g;

	jsonw_object_begin(w);
	for (i = 0; i < ncols; i++) {
		if (cols[i].flags & COL_TABLE_ONLY)
			continue;
		g = key_group_len(cols[i].key);
		if (g == 0) {
			jsonw_key(w, cols[i].key);
			json_value(w, &cols[i], &cells[i]);
			continue;
		}
		{
			char group[64];
			size_t j = i;

			if (g >= sizeof(group))
				g = sizeof(group) - 1;
			memcpy(group, cols[i].key, g);
			group[g] = '\0';
			jsonw_key(w, group);
			if ((cols[i].flags & COL_GROUP_NULL) && cells[i].null) {
				jsonw_null(w);
			} else {
				jsonw_object_begin(w);
				for (; j < ncols && same_group(cols[i].key, cols[j].key); j++) {
					jsonw_key(w, cols[j].key + g + 1);
					json_value(w, &cols[j], &cells[j]);
				}
				jsonw_object_end(w);
			}
			while (i + 1 < ncols && same_group(cols[i].key, cols[i + 1].key))
				i++;
		}
	}
	jsonw_object_end(w);
}

int
out_json_array(FILE *out, int (*element)(void *arg, struct jsonw *w, char *err, size_t errlen),
	       void *arg, char *err, size_t errlen)
{
	struct jsonw w;
	int rc;

	jsonw_init(&w);
	jsonw_array_begin(&w);
	while ((rc = element(arg, &w, err, errlen)) == 1) {
		if (jsonw_flush(&w, out) != 0)
			break;
	}
	jsonw_array_end(&w);
	if (rc == 1 || jsonw_flush(&w, out) != 0 || fputc('\n', out) == EOF) {
		snprintf(err, errlen, "writing output failed");
		rc = -1;
	}
	jsonw_free(&w);
	return rc < 0 ? -1 : 0;
}

struct json_rows {
	const struct col *cols;
	size_t ncols;
	const struct rowsrc *src;
	struct cell *cells;
};

static int
json_rows_next(void *arg, struct jsonw *w, char *err, size_t errlen)
{
	struct json_rows *j = arg;
	int rc = j->src->next(j->src->arg, j->cells, err, errlen);

	if (rc == 1)
		json_row(w, j->cols, j->ncols, j->cells);
	return rc;
}

static int
out_json(FILE *out, const struct col *cols, size_t ncols, const struct rowsrc *src,
	 struct cell *cells, char *err, size_t errlen)
{
	struct json_rows j = { cols, ncols, src, cells };

	return out_json_array(out, json_rows_next, &j, err, errlen);
}

static int
out_csv(FILE *out, const struct col *cols, size_t ncols, const struct rowsrc *src,
	struct cell *cells, char *err, size_t errlen)
{
	struct csvw w;
	char buf[SCALAR_BUF];
	size_t i;
	int rc;

	csvw_init(&w, out);
	for (i = 0; i < ncols; i++)
		if (!(cols[i].flags & COL_TABLE_ONLY))
			csvw_str(&w, cols[i].key);
	csvw_end_row(&w);
	while ((rc = src->next(src->arg, cells, err, errlen)) == 1) {
		for (i = 0; i < ncols; i++) {
			if (cols[i].flags & COL_TABLE_ONLY)
				continue;
			if (cells[i].null)
				csvw_null(&w);
			else
				csvw_str(&w, scalar_text(&cols[i], &cells[i], buf));
		}
		csvw_end_row(&w);
		if (csvw_status(&w) != 0)
			break;
	}
	if (rc < 0)
		return -1;
	if (csvw_status(&w) != 0 || fflush(out) != 0) {
		snprintf(err, errlen, "writing output failed");
		return -1;
	}
	return 0;
}

static bool
in_table(const struct col *col)
{
	return !(col->flags & COL_NO_TABLE);
}

static const char *
table_text(const struct col *col, const struct cell *c, char buf[SCALAR_BUF])
{
	if (c->null)
		return "-";
	if (col->type == COL_BOOL)
		return c->i ? "yes" : "no";
	return scalar_text(col, c, buf);
}

/* Pass 1: the width of every table column, from header and data. */
static int
measure(const struct col *cols, size_t ncols, const struct rowsrc *src, struct cell *cells,
	size_t *width, char *err, size_t errlen)
{
	char buf[SCALAR_BUF];
	size_t i, w, cap;
	int rc;

	for (i = 0; i < ncols; i++)
		width[i] = textesc_width(cols[i].head);
	while ((rc = src->next(src->arg, cells, err, errlen)) == 1) {
		for (i = 0; i < ncols; i++) {
			if (!in_table(&cols[i]))
				continue;
			w = textesc_width(table_text(&cols[i], &cells[i], buf));
			cap = cols[i].maxw ? cols[i].maxw : DEFAULT_MAXW;
			if (w > cap)
				w = cap;
			if (w > width[i])
				width[i] = w;
		}
	}
	for (i = 0; i < ncols; i++)
		if (width[i] < MIN_WIDTH)
			width[i] = MIN_WIDTH;
	return rc;
}

static bool
right_aligned(const struct col *col)
{
	return col->type == COL_INT || col->type == COL_SECONDS;
}

/* One padded cell; the last column of a line gets no trailing blanks. */
static int
table_cell(FILE *out, const struct col *col, const char *text, size_t width, bool last)
{
	size_t w = textesc_width(text), used;

	if (w > width)
		w = width;
	if (right_aligned(col) && fprintf(out, "%*s", (int)(width - w), "") < 0)
		return -1;
	used = textesc_print(out, text, width);
	if (used == (size_t)-1)
		return -1;
	if (!right_aligned(col) && !last && fprintf(out, "%*s", (int)(width - used), "") < 0)
		return -1;
	if (!last && fputs(COL_GAP, out) == EOF)
		return -1;
	return 0;
}

static size_t
last_table_col(const struct col *cols, size_t ncols)
{
	size_t i, last = 0;

	for (i = 0; i < ncols; i++)
		if (in_table(&cols[i]))
			last = i;
	return last;
}

static int
out_table(FILE *out, const struct col *cols, size_t ncols, const struct rowsrc *src,
	  struct cell *cells, char *err, size_t errlen)
{
	size_t *width = calloc(ncols, sizeof(*width));
	size_t i, last = last_table_col(cols, ncols);
	char buf[SCALAR_BUF];
	int rc = -1;

	if (width == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (measure(cols, ncols, src, cells, width, err, errlen) < 0 ||
	    src->rewind(src->arg, err, errlen) < 0)
		goto done;
	for (i = 0; i < ncols; i++)
		if (in_table(&cols[i]) && table_cell(out, &cols[i], cols[i].head, width[i],
						      i == last) < 0)
			goto write_error;
	if (fputc('\n', out) == EOF)
		goto write_error;
	while ((rc = src->next(src->arg, cells, err, errlen)) == 1) {
		for (i = 0; i < ncols; i++)
			if (in_table(&cols[i]) &&
			    table_cell(out, &cols[i], table_text(&cols[i], &cells[i], buf),
				       width[i], i == last) < 0)
				goto write_error;
		if (fputc('\n', out) == EOF)
			goto write_error;
	}
	if (rc == 0 && fflush(out) != 0)
		goto write_error;
	goto done;
write_error:
	snprintf(err, errlen, "writing output failed");
	rc = -1;
done:
	free(width);
	return rc < 0 ? -1 : 0;
}

int
out_rows(FILE *out, enum out_format fmt, const struct col *cols, size_t ncols,
	 const struct rowsrc *src, char *err, size_t errlen)
{
	struct cell *cells = calloc(ncols, sizeof(*cells));
	int rc = -1;

	if (cells == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	switch (fmt) {
	case FMT_TABLE:
		rc = out_table(out, cols, ncols, src, cells, err, errlen);
		break;
	case FMT_JSON:
		rc = out_json(out, cols, ncols, src, cells, err, errlen);
		break;
	case FMT_CSV:
		rc = out_csv(out, cols, ncols, src, cells, err, errlen);
		break;
	}
	free(cells);
	return rc;
}
