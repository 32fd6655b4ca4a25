/* batch.c: copying bounded batches of result rows (batch.h). */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

void
batch_init(struct batch *b)
{
	memset(b, 0, sizeof(*b));
}

void
batch_free(struct batch *b)
{
	free(b->vals);
	free(b->text);
	batch_init(b);
}

static bool
grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 64;
	void *np;

	if (need <= *cap)
		return true;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * size);
	if (np == NULL)
		return false;
	*p = np;
	*cap = ncap;
	return true;
}

static bool
copy_value(struct batch *b, struct bval *v, sqlite3_stmt *st, int col)
{
	const unsigned char *t;
	size_t n;

	memset(v, 0, sizeof(*v));
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_NULL:
		v->null = true;
		return true;
	case SQLITE_INTEGER:
		v->i = sqlite3_column_int64(st, col);
		v->d = (double)v->i;
		return true;
	case SQLITE_FLOAT:
		v->d = sqlite3_column_double(st, col);
		v->i = (int64_t)v->d;
		return true;
	default:
		break;
	}
	/* TEXT or BLOB: the bytes as stored (names may hold any byte). */
	t = sqlite3_column_text(st, col);
	n = (size_t)sqlite3_column_bytes(st, col);
	if (t == NULL)
		n = 0;
	if (!grow((void **)&b->text, &b->tcap, b->tlen + n + 1, 1))
		return false;
	v->is_text = true;
	v->off = b->tlen;
	if (n > 0)
		memcpy(b->text + b->tlen, t, n);
	b->text[b->tlen + n] = '\0';
	b->tlen += n + 1;
	return true;
}

int
batch_fill(struct batch *b, sqlite3_stmt *st, size_t max)
{
	size_t c;
	int rc = SQLITE_DONE;

	b->nrows = 0;
	b->tlen = 0;
	b->ncols = (size_t)sqlite3_column_count(st);
	while (b->nrows < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!grow((void **)&b->vals, &b->vcap, (b->nrows + 1) * b->ncols,
			  sizeof(*b->vals)))
			goto fail;
		for (c = 0; c < b->ncols; c++)
			if (!copy_value(b, &b->vals[b->nrows * b->ncols + c], st, (int)c))
				goto fail;
		b->nrows++;
	}
	if (b->nrows < max && rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	return (int)b->nrows;
fail:
	sqlite3_reset(st);
	return -1;
}

const struct bval *
batch_val(const struct batch *b, size_t row, size_t col)
{
	return &b->vals[row * b->ncols + col];
}

const char *
batch_text(const struct batch *b, size_t row, size_t col)
{
	const struct bval *v = batch_val(b, row, col);

	if (v->null)
		return NULL;
	return v->is_text ? b->text + v->off : NULL;
}

int64_t
batch_int(const struct batch *b, size_t row, size_t col)
{
	return batch_val(b, row, col)->i;
}
