/*
 * batch.h: a bounded batch of SQLite result rows, copied out of the
 * statement so that the statement can be reset (ending its read
 * transaction) before anything is written to a slow stdout. Reading the
 * history batch by batch keeps every read transaction short, so the tool
 * never holds back the daemon's checkpoints.
 */
#ifndef SSLHIST_BATCH_H
#define SSLHIST_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/* Rows per batch: small enough for flat memory, large enough to be cheap. */
#define BATCH_ROWS 512

struct bval {
	bool null;
	bool is_text;
	int64_t i;	/* INTEGER */
	double d;	/* FLOAT (and INTEGER as a double) */
	size_t off;	/* TEXT: offset of its NUL-terminated copy in text */
};

struct batch {
	size_t ncols, nrows;
	struct bval *vals;	/* nrows * ncols */
	size_t vcap;
	char *text;
	size_t tlen, tcap;
};

void batch_init(struct batch *b);
void batch_free(struct batch *b);
/*
 * Empties b, then steps st for up to max rows and copies them; st is reset
 * (not finalized) at the end. Returns the rows read, or -1 (SQLite error,
 * message from sqlite3_errmsg of the statement's db, or out of memory).
 */
int batch_fill(struct batch *b, sqlite3_stmt *st, size_t max);

const struct bval *batch_val(const struct batch *b, size_t row, size_t col);
/* The text of a value; NULL for a NULL value. */
const char *batch_text(const struct batch *b, size_t row, size_t col);
int64_t batch_int(const struct batch *b, size_t row, size_t col);

#endif
