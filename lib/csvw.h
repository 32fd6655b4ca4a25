/*
 * csvw.h: RFC 4180 CSV output.
 *
 * Records end with CRLF. A field is quoted when it holds a comma, a double
 * quote (doubled inside), CR or LF, or starts or ends with a blank (so no
 * reader trims it); every other byte is written as is, so a reader gets
 * back exactly the server's bytes. A NULL field is empty.
 */
#ifndef SSLHIST_CSVW_H
#define SSLHIST_CSVW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct csvw {
	FILE *out;
	bool row_started;	/* a field was written in this record */
	bool error;		/* a write failed */
};

void csvw_init(struct csvw *w, FILE *out);
void csvw_str(struct csvw *w, const char *s);
void csvw_int(struct csvw *w, int64_t v);
void csvw_double(struct csvw *w, double v);
void csvw_bool(struct csvw *w, bool v);		/* true / false */
void csvw_time(struct csvw *w, int64_t t);	/* RFC 3339 UTC */
void csvw_null(struct csvw *w);
void csvw_end_row(struct csvw *w);
/* 0, or -1 when any write failed. */
int csvw_status(const struct csvw *w);

#endif
