/*
 * fuzz_textesc.c: the terminal escaping of lib/textesc.c and the UTF-8
 * decoder of lib/utf8.c under it.
 *
 * The first byte picks a column limit, the rest is the string. Checked:
 * the escaped text is valid UTF-8 with no control byte, no C1 control, no
 * bidi override or isolate and no line/paragraph separator; undoing the
 * \xHH escapes gives back the input exactly (so nothing is lost or
 * ambiguous); the returned width is textesc_width() when nothing is cut;
 * a cut value stays within its limit, ends with the marker and is a prefix
 * of the whole one. utf8_decode() agrees with the RFC 3629 table at every
 * offset, and every code point encoded decodes back.
 *
 * The daemon's log escapes the same way: a log line about a cluster and
 * instance named s, with s in the message, is one line that holds nothing
 * a terminal would obey and unescapes to exactly what was logged.
 *
 * The other readers of strings from servers ride along: driver_guess() of
 * an application name is NULL or a name from its table, and rdsca_name()
 * of an issuer DN is an RDS CA name or the issuer itself, cut to fit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "fuzzutil.h"
#include "log.h"
#include "rdsca.h"
#include "textesc.h"
#include "utf8.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Code points textesc.h promises never to print raw. */
static bool
forbidden_cp(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	    cp == 0x2028 || cp == 0x2029;
}

/* Checks the escaped text e[0..n) and returns it unescaped (fresh). */
static char *
check_and_unescape(const char *e, size_t n, size_t *outlen)
{
	const unsigned char *u = (const unsigned char *)e;
	char *out = fuzz_xmalloc(n + 1);
	size_t i = 0, o = 0, k;

	FUZZ_ASSERT(ref_utf8_valid(u, n), "escaped text is not valid UTF-8");
	while (i < n) {
		k = ref_utf8_seq(u + i, n - i);
		FUZZ_ASSERT(!forbidden_cp(ref_utf8_cp(u + i, k)),
		    "code point U+%04X printed raw", (unsigned)ref_utf8_cp(u + i, k));
		if (e[i] == '\\') {
			FUZZ_ASSERT(i + 3 < n && e[i + 1] == 'x' && hexval(e[i + 2]) >= 0 &&
			    hexval(e[i + 3]) >= 0, "backslash not followed by xHH");
			out[o++] = (char)(hexval(e[i + 2]) << 4 | hexval(e[i + 3]));
			i += 4;
			continue;
		}
		memcpy(out + o, e + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static void
check_escape(const char *s, size_t maxw)
{
	size_t len = strlen(s), n, cutn, plain, width = textesc_width(s), used;
	char *full = textesc_dup(s, 0), *cut, *back;
	static FILE *devnull;

	FUZZ_ASSERT(full != NULL, "textesc_dup failed");
	n = strlen(full);
	back = check_and_unescape(full, n, &plain);
	FUZZ_ASSERT(plain == len && memcmp(back, s, len) == 0, "unescaping does not give the input back");
	free(back);

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	used = textesc_print(devnull, s, 0);
	FUZZ_ASSERT(used == width, "printed %zu columns, width says %zu", used, width);
	used = textesc_print(devnull, s, maxw);

	cut = textesc_dup(s, maxw);
	FUZZ_ASSERT(cut != NULL, "textesc_dup failed");
	cutn = strlen(cut);
	if (maxw == 0 || width <= maxw) {
		FUZZ_ASSERT(strcmp(cut, full) == 0 && used == width, "cut although it fits");
	} else {
		FUZZ_ASSERT(used <= maxw, "%zu columns in a limit of %zu", used, maxw);
		if (maxw > TEXTESC_MARKER_WIDTH) {
			FUZZ_ASSERT(cutn >= 3 && strcmp(cut + cutn - 3, TEXTESC_MARKER) == 0,
			    "cut value without the marker");
			cutn -= 3;
		}
		FUZZ_ASSERT(cutn <= n && memcmp(cut, full, cutn) == 0, "cut is no prefix");
		/* The kept part on its own: still valid, still safe. */
		back = check_and_unescape(cut, cutn, &plain);
		FUZZ_ASSERT(plain <= len && memcmp(back, s, plain) == 0, "cut part changed");
		free(back);
	}
	free(cut);
	free(full);
}

static void
check_decoder(const unsigned char *s, size_t n)
{
	size_t i, got, want;
	uint32_t cp;

	for (i = 0; i < n; i++) {
		cp = 0xffffffff;
		got = utf8_decode(s + i, n - i, &cp);
		want = ref_utf8_seq(s + i, n - i);
		FUZZ_ASSERT(got == want, "offset %zu: utf8_decode %zu bytes, RFC 3629 %zu", i,
		    got, want);
		if (got > 0)
			FUZZ_ASSERT(cp == ref_utf8_cp(s + i, got), "offset %zu: U+%04X", i,
			    (unsigned)cp);
	}
}

/* Every scalar value made of 3 input bytes encodes and decodes back. */
static void
check_roundtrip(const unsigned char *s, size_t n)
{
	unsigned char buf[4];
	size_t i, k;
	uint32_t cp, got;

	for (i = 0; i + 3 <= n; i += 3) {
		cp = ((uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2]) % 0x110000;
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		k = ref_utf8_encode(cp, buf);
		FUZZ_ASSERT(utf8_decode(buf, k, &got) == k && got == cp, "U+%04X", (unsigned)cp);
	}
}

static void
check_log(const char *s)
{
	static bool ready;
	struct log_obj obj = { s, s };
	size_t n, plain, len = strlen(s);
	char *out, *back, *want;

	if (!ready) {
		unsetenv("JOURNAL_STREAM");
		log_init("fuzz_textesc", LVL_INFO);
		ready = true;
	}
	fuzz_capture_begin();
	olog(LVL_WARNING, &obj, "%s", s);
	out = fuzz_capture_end(&n);
	FUZZ_ASSERT(n > 0 && memchr(out, '\n', n) == out + n - 1, "not one log line");
	back = check_and_unescape(out, n - 1, &plain);
	want = fuzz_xmalloc(3 * len + 32);
	sprintf(want, "fuzz_textesc: warning: %s/%s: %s", s, s, s);
	FUZZ_ASSERT(plain == strlen(want) && memcmp(back, want, plain) == 0,
	    "the log line does not unescape to what was logged");
	free(want);
	free(back);
	free(out);
}

static void
check_server_names(const char *s, size_t buflen)
{
	static const char *const cas[] = { "rds-ca-2019", "rds-ca-rsa2048-g1",
		"rds-ca-rsa4096-g1", "rds-ca-ecc384-g1" };
	const char *drv = driver_guess(s);
	char buf[64];
	size_t i, n;
	bool rds = false;

	if (drv != NULL) {
		FUZZ_ASSERT(drv[0] != '\0' && strlen(drv) < 32, "driver \"%s\"", drv);
		for (i = 0; drv[i]; i++)
			FUZZ_ASSERT(drv[i] > ' ' && drv[i] < 0x7f, "driver name byte 0x%02x", drv[i]);
		FUZZ_ASSERT(!(driver_verifies_by_default(drv) && driver_is_libpq(drv)),
		    "%s both verifies by default and is libpq", drv);
	}
	memset(buf, 'x', sizeof(buf));
	FUZZ_ASSERT(rdsca_name(s, buf, buflen) == buf, "rdsca_name result");
	n = strlen(buf);
	FUZZ_ASSERT(n < buflen, "rdsca_name wrote %zu bytes into %zu", n + 1, buflen);
	for (i = 0; i < sizeof(cas) / sizeof(cas[0]); i++)
		rds = rds || (strncmp(cas[i], buf, n) == 0 && (n == strlen(cas[i]) || n == buflen - 1));
	FUZZ_ASSERT(rds || strncmp(buf, s, n) == 0, "rdsca_name(\"%s\") = \"%s\"", s, buf);
	FUZZ_ASSERT(rds || n == strlen(s) || n == buflen - 1, "issuer cut short");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size == 0)
		return 0;
	s = fuzz_cstr(data + 1, size - 1);
	check_escape(s, data[0] % 64);
	check_server_names(s, 1 + data[0] % 63);
	check_log(s);
	check_decoder(data + 1, size - 1);
	check_roundtrip(data + 1, size - 1);
	free(s);
	return 0;
}
