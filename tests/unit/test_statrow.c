/*
 * test_statrow.c: rows of the poll query, binary format, as a hostile
 * server could send them: each bad row is rejected with its reason, good
 * rows decode exactly, odd but valid text (empty, 63 bytes, invalid UTF-8,
 * escape sequences) is kept byte for byte.
 */
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "statrow.h"

/* One row under construction: values with their NUL after them. */
struct trow {
	char buf[STATQ_COL_COUNT][80];
	char *v[STATQ_COL_COUNT];
	int len[STATQ_COL_COUNT];
	bool null[STATQ_COL_COUNT];
	struct stat_cells cells;
};

static void
set(struct trow *t, int col, const void *v, int n)
{
	memcpy(t->buf[col], v, (size_t)n);
	t->buf[col][n] = '\0';
	t->len[col] = n;
	t->null[col] = false;
}

static void
set_text(struct trow *t, int col, const char *s)
{
	set(t, col, s, (int)strlen(s));
}

static void
set_null(struct trow *t, int col)
{
	t->null[col] = true;
	t->len[col] = 0;
}

static void
set_int(struct trow *t, int col, uint64_t v, int n)
{
	char b[8];

	for (int i = 0; i < n; i++)
		b[i] = (char)(v >> (8 * (n - 1 - i)));
	set(t, col, b, n);
}

/* A good SSL session row: pid 4242, started 2026-11-28T08:00:00Z. */
static void
session(struct trow *t)
{
	memset(t, 0, sizeof(*t));
	for (int c = 0; c < STATQ_COL_COUNT; c++) {
		t->v[c] = t->buf[c];
		set_null(t, c);
	}
	t->cells = (struct stat_cells){ t->v, t->len, t->null };
	set_text(t, STATQ_COL_KIND, "a");
	set_int(t, STATQ_COL_PID, 4242, 4);
	/* 1795852800 s Unix = 849168000 s after 2000-01-01. */
	set_int(t, STATQ_COL_BACKEND_START, UINT64_C(849168000) * 1000000 + 17, 8);
	set_text(t, STATQ_COL_DATNAME, "appdb");
	set_text(t, STATQ_COL_USENAME, "app1");
	set_text(t, STATQ_COL_APPLICATION, "psql");
	set_text(t, STATQ_COL_CLIENT_ADDR, "10.0.0.7");
	set_int(t, STATQ_COL_SSL, 1, 1);
	set_text(t, STATQ_COL_VERSION, "TLSv1.3");
	set_text(t, STATQ_COL_CIPHER, "TLS_AES_256_GCM_SHA384");
	set_int(t, STATQ_COL_BITS, 256, 4);
	set_int(t, STATQ_COL_OWN, 0, 1);
}

static void
test_good(void)
{
	struct trow t;
	struct stat_row r;

	session(&t);
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_OK);
	CHECK_INT(r.kind, 'a');
	CHECK_INT(r.pid, 4242);
	CHECK(r.backend_start_us == INT64_C(1795852800) * 1000000 + 17);
	CHECK_STR(r.datname, "appdb");
	CHECK_STR(r.usename, "app1");
	CHECK_STR(r.application, "psql");
	CHECK_STR(r.client_addr, "10.0.0.7");
	CHECK_STR(r.client_hostname, NULL);
	CHECK(r.ssl);
	CHECK_STR(r.tls_version, "TLSv1.3");
	CHECK_INT(r.bits, 256);
	CHECK_STR(r.client_dn, NULL);
	CHECK(!r.own);
	/* Pointers into the row, not copies. */
	CHECK(r.application == t.v[STATQ_COL_APPLICATION]);

	/* The identity alone: the rest is not looked at. */
	set_text(&t, STATQ_COL_CLIENT_ADDR, "x\0y");
	t.len[STATQ_COL_CLIENT_ADDR] = 3;
	CHECK_INT(statrow_decode_id(&t.cells, &r), STATROW_OK);
	CHECK_INT(r.pid, 4242);
	CHECK_STR(r.application, "psql");
	CHECK_STR(r.client_addr, NULL);

	/* Non-SSL, over a Unix socket, own flag NULL: not our own. */
	session(&t);
	set_int(&t, STATQ_COL_SSL, 0, 1);
	set_null(&t, STATQ_COL_CLIENT_ADDR);
	set_null(&t, STATQ_COL_BITS);
	set_null(&t, STATQ_COL_OWN);
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_OK);
	CHECK(!r.ssl);
	CHECK_INT(r.bits, -1);
	CHECK_STR(r.client_addr, NULL);
	CHECK(!r.own);
}

static void
test_odd_text(void)
{
	static const char n63[] = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk";
	struct trow t;
	struct stat_row r;

	session(&t);
	set_text(&t, STATQ_COL_DATNAME, n63);
	set_text(&t, STATQ_COL_USENAME, "\xff\xfe\xc3\x28");
	set_text(&t, STATQ_COL_APPLICATION, "");
	set_text(&t, STATQ_COL_CLIENT_HOSTNAME, "\x1b[31m$(rm -rf /)");
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_OK);
	CHECK_INT((int)strlen(r.datname), 63);
	CHECK_STR(r.usename, "\xff\xfe\xc3\x28");
	CHECK_STR(r.application, "");
	CHECK_STR(r.client_hostname, "\x1b[31m$(rm -rf /)");
}

static void
test_bad(void)
{
	static const struct {
		int col;
		const char *val;	/* NULL: SQL NULL */
		int len;
		enum statrow_error want;
	} cases[] = {
		{ STATQ_COL_KIND, NULL, 0, STATROW_BAD_KIND },
		{ STATQ_COL_KIND, "x", 1, STATROW_BAD_KIND },
		{ STATQ_COL_KIND, "ab", 2, STATROW_BAD_KIND },
		{ STATQ_COL_KIND, "", 0, STATROW_BAD_KIND },
		{ STATQ_COL_PID, NULL, 0, STATROW_BAD_PID },
		{ STATQ_COL_PID, "12", 2, STATROW_BAD_PID },		/* text, not int4 */
		{ STATQ_COL_PID, "\0\0\0\0", 4, STATROW_BAD_PID },	/* 0 */
		{ STATQ_COL_PID, "\xff\xff\xff\xff", 4, STATROW_BAD_PID },	/* -1 */
		{ STATQ_COL_BACKEND_START, NULL, 0, STATROW_BAD_START },
		{ STATQ_COL_BACKEND_START, "2026", 4, STATROW_BAD_START },
		{ STATQ_COL_BACKEND_START, "\x7f\xff\xff\xff\xff\xff\xff\xff", 8, STATROW_BAD_START },
		{ STATQ_COL_BACKEND_START, "\x80\0\0\0\0\0\0\0", 8, STATROW_BAD_START },
		{ STATQ_COL_BACKEND_START, "\x7f\xff\xff\xff\xff\xff\xff\x00", 8, STATROW_BAD_START },
		{ STATQ_COL_SSL, NULL, 0, STATROW_BAD_SSL },
		{ STATQ_COL_SSL, "t", 1, STATROW_BAD_SSL },
		{ STATQ_COL_SSL, "\1\1", 2, STATROW_BAD_SSL },
		{ STATQ_COL_BITS, "256", 3, STATROW_BAD_BITS },
		{ STATQ_COL_BITS, "\0\1\0\0", 4, STATROW_BAD_BITS },	/* 65536 */
		{ STATQ_COL_BITS, "\xff\xff\xff\xf0", 4, STATROW_BAD_BITS },
		{ STATQ_COL_OWN, "f", 1, STATROW_BAD_OWN },
		{ STATQ_COL_DATNAME, "app\0db", 6, STATROW_BAD_TEXT },
		{ STATQ_COL_APPLICATION, "\0", 1, STATROW_BAD_TEXT },
		{ STATQ_COL_ISSUER_DN, "CN=\0x", 5, STATROW_BAD_TEXT },
	};
	struct trow t;
	struct stat_row r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		session(&t);
		if (cases[i].val == NULL)
			set_null(&t, cases[i].col);
		else
			set(&t, cases[i].col, cases[i].val, cases[i].len);
		CHECK_INT(statrow_decode(&t.cells, &r), cases[i].want);
	}
	/* A text longer than the cap (a hostile server's, not PostgreSQL's). */
	{
		static char big[STATROW_MAX_TEXT + 2];
		session(&t);
		memset(big, 'x', sizeof(big) - 1);
		t.v[STATQ_COL_APPLICATION] = big;
		t.len[STATQ_COL_APPLICATION] = STATROW_MAX_TEXT + 1;
		CHECK_INT(statrow_decode(&t.cells, &r), STATROW_BAD_TEXT);
		t.len[STATQ_COL_APPLICATION] = -5;
		CHECK_INT(statrow_decode(&t.cells, &r), STATROW_BAD_TEXT);
	}
	/* Every column NULL. */
	session(&t);
	for (int c = 0; c < STATQ_COL_COUNT; c++)
		set_null(&t, c);
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_BAD_KIND);
	CHECK_STR(statrow_error_name(STATROW_BAD_PID), "bad pid");
	CHECK_STR(statrow_error_name(STATROW_NERRORS), "unknown error");
}

static void
test_database(void)
{
	struct trow t;
	struct stat_row r;

	session(&t);
	for (int c = 0; c < STATQ_COL_COUNT; c++)
		set_null(&t, c);
	set_text(&t, STATQ_COL_KIND, "d");
	set_int(&t, STATQ_D_DATID, 3000000000u, 4);	/* an oid past INT32_MAX */
	set_text(&t, STATQ_D_DATNAME, "appdb");
	set_int(&t, STATQ_COL_SESSIONS, 1234, 8);
	CHECK_INT(statrow_decode_id(&t.cells, &r), STATROW_OK);
	CHECK_INT(r.kind, 'd');
	CHECK(r.datid == 3000000000u);
	CHECK(r.sessions == 1234);
	CHECK_STR(r.stats_reset, NULL);
	set_text(&t, STATQ_COL_STATS_RESET, "2026-01-01 00:00:00+00");
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_OK);
	CHECK_STR(r.stats_reset, "2026-01-01 00:00:00+00");
	set_null(&t, STATQ_D_DATNAME);
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_BAD_DATABASE);
	set_text(&t, STATQ_D_DATNAME, "appdb");
	set_int(&t, STATQ_COL_SESSIONS, UINT64_MAX, 8);	/* -1 */
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_BAD_DATABASE);
	set_int(&t, STATQ_COL_SESSIONS, 5, 4);
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_BAD_DATABASE);
}

static void
test_time(void)
{
	struct trow t;
	struct stat_row r;

	session(&t);
	for (int c = 0; c < STATQ_COL_COUNT; c++)
		set_null(&t, c);
	set_text(&t, STATQ_COL_KIND, "t");
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_BAD_START);
	set_int(&t, STATQ_T_TIME, UINT64_C(849168000) * 1000000, 8);
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_OK);
	CHECK_INT(r.kind, 't');
	CHECK(r.backend_start_us == INT64_C(1795852800) * 1000000);
	set(&t, STATQ_COL_KIND, "\0", 1);
	CHECK_INT(statrow_decode_id(&t.cells, &r), STATROW_BAD_KIND);
}

/* A session by identity only: its other columns are not looked at. */
static void
test_old(void)
{
	struct trow t;
	struct stat_row r;

	session(&t);
	set_text(&t, STATQ_COL_KIND, "o");
	set_null(&t, STATQ_COL_SSL);
	set_text(&t, STATQ_COL_APPLICATION, "renamed");
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_OK);
	CHECK_INT(r.kind, 'o');
	CHECK_INT(r.pid, 4242);
	/* The one part of the identity a session can change comes along. */
	CHECK_STR(r.application, "renamed");
	set_null(&t, STATQ_COL_APPLICATION);
	CHECK_INT(statrow_decode_id(&t.cells, &r), STATROW_OK);
	CHECK_STR(r.application, NULL);
	set(&t, STATQ_COL_APPLICATION, "x\0y", 3);
	CHECK_INT(statrow_decode_id(&t.cells, &r), STATROW_BAD_TEXT);
	set_null(&t, STATQ_COL_PID);
	CHECK_INT(statrow_decode(&t.cells, &r), STATROW_BAD_PID);
}

int
main(void)
{
	test_time();
	test_old();
	test_good();
	test_odd_text();
	test_bad();
	test_database();
	return check_done();
}
