/*
 * fuzzutil.h: what the fuzz targets share. Every tests/fuzz/fuzz_NAME.c
 * defines only LLVMFuzzerTestOneInput and is linked twice: with libFuzzer
 * (clang -fsanitize=fuzzer, -DSSLHIST_FUZZ=ON) and with replay.c, whose
 * main() runs it over the seed corpus and the kept crashing inputs in the
 * normal builds.
 *
 * A target checks invariants, not only that nothing crashed: a broken one
 * aborts through FUZZ_ASSERT, which libFuzzer reports as a crash and the
 * replay turns into a failed test.
 *
 * The reference checkers here (UTF-8, JSON, CSV) are written from the RFCs
 * and on purpose share no code with lib/: a fuzz target compares what the
 * program wrote against them.
 */
#ifndef SSLHIST_FUZZUTIL_H
#define SSLHIST_FUZZUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));

/* Aborts with file:line, the condition and a message when cond is false. */
#define FUZZ_ASSERT(cond, ...) do { \
	if (!(cond)) \
		fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
} while (0)

/* malloc that aborts: a target never tests its own allocation failures. */
void *fuzz_xmalloc(size_t n);
/* The input as a C string: a fresh copy, cut at its first NUL byte. */
char *fuzz_cstr(const uint8_t *data, size_t size);
/* Does hay[0..n) contain the NUL-terminated needle? */
bool fuzz_contains(const char *hay, size_t n, const char *needle);

/*
 * Captures what is written to stderr (fd 2, through stdio or not) between
 * begin and end into a memfd; end returns it as a fresh NUL-terminated
 * string with its length in *len. Not nested.
 */
void fuzz_capture_begin(void);
char *fuzz_capture_end(size_t *len);

/* Bytes of the input taken in order; past the end everything is 0. */
struct fdp {
	const uint8_t *d;
	size_t n;
};
uint8_t fdp_u8(struct fdp *p);
uint64_t fdp_u64(struct fdp *p);
bool fdp_empty(const struct fdp *p);
/* A fresh C string of up to maxlen bytes (its length taken from the
 * input); NUL bytes of the input are skipped. */
char *fdp_str(struct fdp *p, size_t maxlen);

/* ---- UTF-8 (RFC 3629, section 4 table) ---- */

/* Length of the valid sequence at s[0..n) (n >= 1), or 0. */
size_t ref_utf8_seq(const unsigned char *s, size_t n);
bool ref_utf8_valid(const unsigned char *s, size_t n);
/* s with each byte that starts no valid sequence replaced by U+FFFD (fresh,
 * NUL-terminated; its length in *outlen). */
char *ref_utf8_repair(const unsigned char *s, size_t n, size_t *outlen);
/* Encodes cp (<= 0x10ffff) into out[4]; returns the length. */
size_t ref_utf8_encode(uint32_t cp, unsigned char out[4]);
/* The code point of a valid sequence (ref_utf8_seq() > 0). */
uint32_t ref_utf8_cp(const unsigned char *s, size_t len);

/* ---- JSON (RFC 8259), strict: the whole text, valid UTF-8 ---- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	bool b;
	char *s;		/* J_STR: decoded bytes; J_NUM: the text */
	size_t slen;
	struct jv *items;	/* J_ARR elements, J_OBJ values */
	struct jv *keys;	/* J_OBJ: J_STR keys */
	size_t n;
};

/* 0, or -1 with why in *err (static). */
int jv_parse(const char *text, size_t len, struct jv *out, const char **err);
void jv_free(struct jv *v);
/* The member `key` of an object, or NULL. */
const struct jv *jv_get(const struct jv *obj, const char *key);

/* ---- CSV (RFC 4180), strict: CRLF after every record ---- */

struct csv_field {
	char *s;
	size_t len;
	bool quoted;
};
struct csv_record {
	struct csv_field *f;
	size_t n;
};
struct csv_doc {
	struct csv_record *r;
	size_t n;
};

int csv_parse(const char *text, size_t len, struct csv_doc *out, const char **err);
void csv_free(struct csv_doc *d);

#endif
