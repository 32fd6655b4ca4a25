/*
 * statrow.c: the poll query's rows, binary format (see statrow.h).
 *
 * Binary formats (PostgreSQL's send functions): int4 and int8 big-endian,
 * bool one byte 0 or 1, timestamptz an int8 of microseconds since
 * 2000-01-01 00:00 UTC (INT64_MIN and INT64_MAX are -infinity and
 * infinity), text and name their bytes.
 */
#include <string.h>

#include "statrow.h"

/* 2000-01-01 in Unix microseconds. */
#define PG_EPOCH_US INT64_C(946684800000000)

static const char *const error_names[STATROW_NERRORS] = {
	[STATROW_OK] = "ok",
	[STATROW_BAD_KIND] = "bad row kind",
	[STATROW_BAD_PID] = "bad pid",
	[STATROW_BAD_START] = "bad backend_start",
	[STATROW_BAD_SSL] = "bad ssl",
	[STATROW_BAD_BITS] = "bad bits",
	[STATROW_BAD_TEXT] = "bad text value",
	[STATROW_BAD_OWN] = "bad own-session flag",
	[STATROW_BAD_DATABASE] = "bad database row",
};

const char *
statrow_error_name(enum statrow_error e)
{
	return (unsigned)e < STATROW_NERRORS ? error_names[e] : "unknown error";
}

static bool
is_null(const struct stat_cells *c, int col)
{
	return c->nulls[col] || c->values[col] == NULL;
}

static uint64_t
be(const char *v, int n)
{
	const unsigned char *p = (const unsigned char *)v;
	uint64_t x = 0;

	for (int i = 0; i < n; i++)
		x = x << 8 | p[i];
	return x;
}

/* An int4 column; false when NULL or not 4 bytes. */
static bool
get_int4(const struct stat_cells *c, int col, int32_t *out)
{
	if (is_null(c, col) || c->lengths[col] != 4)
		return false;
	*out = (int32_t)(uint32_t)be(c->values[col], 4);
	return true;
}

static bool
get_int8(const struct stat_cells *c, int col, int64_t *out)
{
	if (is_null(c, col) || c->lengths[col] != 8)
		return false;
	*out = (int64_t)be(c->values[col], 8);
	return true;
}

/* A bool column: 1 true, 0 false, -1 NULL, -2 malformed. */
static int
get_bool(const struct stat_cells *c, int col)
{
	if (is_null(c, col))
		return -1;
	if (c->lengths[col] != 1 || (unsigned char)c->values[col][0] > 1)
		return -2;
	return c->values[col][0];
}

/* A text column into *out (NULL for SQL NULL); false when malformed. */
static bool
get_text(const struct stat_cells *c, int col, char **out)
{
	int n = c->lengths[col];

	*out = NULL;
	if (is_null(c, col))
		return true;
	if (n < 0 || n > STATROW_MAX_TEXT || memchr(c->values[col], '\0', (size_t)n) != NULL)
		return false;
	*out = c->values[col];
	return true;
}

/* A timestamptz column as Unix microseconds; false when NULL, malformed,
 * infinite or out of range. */
static bool
get_time(const struct stat_cells *c, int col, int64_t *us)
{
	int64_t pgtime;

	if (!get_int8(c, col, &pgtime) || pgtime == INT64_MIN || pgtime == INT64_MAX ||
	    pgtime > INT64_MAX - PG_EPOCH_US)
		return false;
	*us = pgtime + PG_EPOCH_US;
	return true;
}

static enum statrow_error
decode_database(const struct stat_cells *c, struct stat_row *r)
{
	int32_t datid;

	if (!get_int4(c, STATQ_D_DATID, &datid) || !get_int8(c, STATQ_COL_SESSIONS, &r->sessions) ||
	    !get_text(c, STATQ_D_DATNAME, &r->datname) || r->datname == NULL || r->sessions < 0)
		return STATROW_BAD_DATABASE;
	if (!get_text(c, STATQ_COL_STATS_RESET, &r->stats_reset))
		return STATROW_BAD_TEXT;
	r->datid = (uint32_t)datid;
	return STATROW_OK;
}

enum statrow_error
statrow_decode_id(const struct stat_cells *c, struct stat_row *r)
{
	memset(r, 0, sizeof(*r));
	r->bits = -1;
	if (is_null(c, STATQ_COL_KIND) || c->lengths[STATQ_COL_KIND] != 1 ||
	    strchr("adot", c->values[STATQ_COL_KIND][0]) == NULL ||
	    c->values[STATQ_COL_KIND][0] == '\0')
		return STATROW_BAD_KIND;
	r->kind = c->values[STATQ_COL_KIND][0];
	if (r->kind == 'd')
		return decode_database(c, r);
	if (r->kind == 't')
		return get_time(c, STATQ_T_TIME, &r->backend_start_us) ? STATROW_OK :
		       STATROW_BAD_START;
	if (!get_int4(c, STATQ_COL_PID, &r->pid) || r->pid <= 0)
		return STATROW_BAD_PID;
	if (!get_time(c, STATQ_COL_BACKEND_START, &r->backend_start_us))
		return STATROW_BAD_START;
	if (!get_text(c, STATQ_COL_APPLICATION, &r->application))
		return STATROW_BAD_TEXT;
	return STATROW_OK;
}

static bool
get_texts(const struct stat_cells *c, struct stat_row *r)
{
	return get_text(c, STATQ_COL_DATNAME, &r->datname) &&
	       get_text(c, STATQ_COL_USENAME, &r->usename) &&
	       get_text(c, STATQ_COL_APPLICATION, &r->application) &&
	       get_text(c, STATQ_COL_CLIENT_ADDR, &r->client_addr) &&
	       get_text(c, STATQ_COL_CLIENT_HOSTNAME, &r->client_hostname) &&
	       get_text(c, STATQ_COL_VERSION, &r->tls_version) &&
	       get_text(c, STATQ_COL_CIPHER, &r->cipher) &&
	       get_text(c, STATQ_COL_CLIENT_DN, &r->client_dn) &&
	       get_text(c, STATQ_COL_CLIENT_SERIAL, &r->client_serial) &&
	       get_text(c, STATQ_COL_ISSUER_DN, &r->issuer_dn);
}

enum statrow_error
statrow_decode(const struct stat_cells *c, struct stat_row *r)
{
	enum statrow_error e = statrow_decode_id(c, r);
	int32_t bits;
	int b;

	if (e != STATROW_OK || r->kind != 'a')
		return e;
	if ((b = get_bool(c, STATQ_COL_SSL)) < 0)
		return STATROW_BAD_SSL;
	r->ssl = b == 1;
	if (!is_null(c, STATQ_COL_BITS)) {
		if (!get_int4(c, STATQ_COL_BITS, &bits) || bits < 0 || bits > 65535)
			return STATROW_BAD_BITS;
		r->bits = bits;
	}
	if ((b = get_bool(c, STATQ_COL_OWN)) == -2)
		return STATROW_BAD_OWN;
	r->own = b == 1;
	if (!is_null(c, STATQ_COL_CLIENT_PORT) &&
	    (!get_int4(c, STATQ_COL_CLIENT_PORT, &r->client_port) || r->client_port < 0 ||
	     r->client_port > 65535))
		r->client_port = 0;	/* only a [pooler] match reads it */
	if (!get_texts(c, r))
		return STATROW_BAD_TEXT;
	return STATROW_OK;
}
