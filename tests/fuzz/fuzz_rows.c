/*
 * fuzz_rows.c: libFuzzer target for the decoding of one row of the poll
 * query (lib/statrow.h), the bytes a hostile server controls.
 *
 * Input: the row's columns in order (STATQ_COL_COUNT of them); each is one
 * tag byte, odd for SQL NULL, else followed by a length byte N and N bytes
 * of value (fewer if the input ends). Columns past the end of the input
 * are NULL. Each value is copied into a buffer of its own with a NUL byte
 * after it, as libpq hands values over, so that ASan sees any read beyond.
 * Seeds: tests/fuzz/corpus/rows/ (a session, a database row, NULLs,
 * 63-byte names, invalid UTF-8, an embedded NUL).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statrow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A decoded text must be one of the column buffers, whole. */
static void
check_text(const char *t, char *const *bufs, const int *lens)
{
	if (t == NULL)
		return;
	for (int c = 0; c < STATQ_COL_COUNT; c++) {
		if (t == bufs[c]) {
			if (strlen(t) != (size_t)lens[c])
				abort();
			return;
		}
	}
	abort();
}

static void
check_row(const struct stat_row *r, char *const *bufs, const int *lens)
{
	const char *const texts[] = { r->datname, r->usename, r->application, r->client_addr,
		r->client_hostname, r->tls_version, r->cipher, r->client_dn, r->client_serial,
		r->issuer_dn, r->stats_reset };

	if (r->kind != 'a' && r->kind != 'o' && r->kind != 'd' && r->kind != 't')
		abort();
	if ((r->kind == 'a' || r->kind == 'o') && (r->pid <= 0 || r->bits < -1 ||
						   r->bits > 65535))
		abort();
	if (r->kind == 'd' && (r->datname == NULL || r->sessions < 0))
		abort();
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		check_text(texts[i], bufs, lens);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *bufs[STATQ_COL_COUNT] = { 0 };
	int lens[STATQ_COL_COUNT] = { 0 };
	bool nulls[STATQ_COL_COUNT];
	struct stat_cells cells = { bufs, lens, nulls };
	struct stat_row row;
	size_t p = 0;

	for (int c = 0; c < STATQ_COL_COUNT; c++) {
		size_t n = 0;

		nulls[c] = p >= size || (data[p] & 1);
		if (p < size)
			p++;
		if (!nulls[c] && p < size) {
			n = data[p++];
			if (n > size - p)
				n = size - p;
		}
		bufs[c] = malloc(n + 1);
		if (bufs[c] == NULL)
			abort();
		if (n > 0)
			memcpy(bufs[c], data + p, n);
		bufs[c][n] = '\0';
		lens[c] = nulls[c] ? 0 : (int)n;
		p += n;
	}
	if (statrow_decode_id(&cells, &row) == STATROW_OK)
		check_row(&row, bufs, lens);
	if (statrow_decode(&cells, &row) == STATROW_OK)
		check_row(&row, bufs, lens);
	for (int c = 0; c < STATQ_COL_COUNT; c++)
		free(bufs[c]);
	return 0;
}
