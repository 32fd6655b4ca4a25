/*
 * utf8.h: strict UTF-8 decoding (RFC 3629), shared by the JSON writer and
 * the terminal escaper so that both agree on what is valid.
 */
#ifndef SSLHIST_UTF8_H
#define SSLHIST_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length (1..4) of the valid UTF-8 sequence at s[0..n), with its code
 * point in *cp; 0 when s[0] does not start one (overlong forms,
 * surrogates, code points above U+10FFFF, a truncated or broken sequence).
 * n must be at least 1.
 */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
