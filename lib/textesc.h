/*
 * textesc.h: strings from monitored servers made safe for a terminal.
 *
 * Every byte that could steer a terminal or that is not valid UTF-8 is
 * shown as the four characters \xHH: C0 controls, DEL, the C1 controls
 * (U+0080..U+009F, e.g. the 8-bit CSI), bidirectional overrides and
 * isolates (U+202A..U+202E, U+2066..U+2069) and line/paragraph
 * separators. A backslash is shown as \x5c, so an escape is never
 * ambiguous. Everything else (printable UTF-8) is kept.
 *
 * Widths are terminal columns, computed without the locale: combining
 * marks take 0 columns, East Asian wide and emoji code points take 2,
 * the rest 1.
 */
#ifndef SSLHIST_TEXTESC_H
#define SSLHIST_TEXTESC_H

#include <stddef.h>
#include <stdio.h>

/* Shown at the end of a value cut to fit its column. */
#define TEXTESC_MARKER "..."
#define TEXTESC_MARKER_WIDTH 3

/* Columns that s takes once escaped (NULL: 0). */
size_t textesc_width(const char *s);

/*
 * Writes s escaped, cut to at most maxw columns (0: no limit). A value
 * that does not fit ends with TEXTESC_MARKER, and an escape or a code
 * point is never split. Returns the columns written, or (size_t)-1 on a
 * write error.
 */
size_t textesc_print(FILE *out, const char *s, size_t maxw);

/* The same into a fresh string (malloc); NULL when out of memory. */
char *textesc_dup(const char *s, size_t maxw);

#endif
