/*
 * output.h: rows of one command as a table, JSON or CSV.
 *
 * A command describes its columns and hands over a row source; this module
 * streams the rows out, so memory does not grow with their number:
 * - json: one array, flushed after every row;
 * - csv: RFC 4180 with a header row of the JSON keys;
 * - table: two passes over the source (rewind in between). The first only
 *   measures the escaped width of every value, capped per column; the
 *   second prints. Rows added between the passes are cut visibly if wider.
 */
#ifndef SSLHIST_OUTPUT_H
#define SSLHIST_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum out_format { FMT_TABLE, FMT_JSON, FMT_CSV };

/* Parses "table", "json", "csv"; -1 if unknown. */
int out_format_parse(const char *s);

/* COL_LIST: s holds '\n'-separated strings: a JSON array of them; the
 * text itself in tables and CSV. */
enum col_type { COL_STR, COL_INT, COL_BOOL, COL_TIME, COL_SECONDS, COL_LIST };

/* Column flags. */
#define COL_NO_TABLE	0x1	/* JSON/CSV only */
#define COL_TABLE_ONLY	0x2	/* derived for people: not in JSON/CSV */
#define COL_GROUP_NULL	0x4	/* first of a "group.key" run: when NULL, the
				 * whole JSON object `group` is null */

struct col {
	const char *key;	/* JSON key / CSV header; "a.b": key b of
				 * object a (consecutive columns) */
	const char *head;	/* table header */
	enum col_type type;
	unsigned flags;
	size_t maxw;		/* table: widest this column gets (0: 40) */
};

/* One value: NULL, or s (COL_STR), i (INT, BOOL, TIME), d (SECONDS). */
struct cell {
	bool null;
	const char *s;
	int64_t i;
	double d;
};

struct rowsrc {
	/* Fills cells[ncols] for the next row: 1 a row, 0 no more rows, -1
	 * an error (written into err). Strings stay valid until the next call. */
	int (*next)(void *arg, struct cell *cells, char *err, size_t errlen);
	/* Starts over (table's second pass): 0 or -1. */
	int (*rewind)(void *arg, char *err, size_t errlen);
	void *arg;
};

/* Streams every row of src to out. 0, or -1 with a message in err. */
int out_rows(FILE *out, enum out_format fmt, const struct col *cols, size_t ncols,
	     const struct rowsrc *src, char *err, size_t errlen);

struct jsonw;
/*
 * The json format of out_rows for elements written by the caller:
 * element() writes the next one into w and returns 1, or returns 0 when
 * there are no more, -1 on an error (written into err). Streamed like
 * out_rows. 0, or -1 with a message in err.
 */
int out_json_array(FILE *out, int (*element)(void *arg, struct jsonw *w, char *err, size_t errlen),
		   void *arg, char *err, size_t errlen);

/* Cell helpers for row sources. */
void cell_str(struct cell *c, const char *s);	/* NULL s: null */
void cell_int(struct cell *c, int64_t v);
void cell_null(struct cell *c);

#endif
