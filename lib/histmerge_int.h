/*
 * histmerge_int.h: what the two files of the merge (histmerge.c, the rules
 * and the build; histmerge_sql.c, the text and the columns) share.
 */
#ifndef SSLHIST_HISTMERGE_INT_H
#define SSLHIST_HISTMERGE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

/* A growable SQL text; after an allocation failure oom stays set and
 * nothing more is added. */
struct sql {
	char *s;
	size_t len, cap;
	bool oom;
};
void hm_add(struct sql *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* expr with every '@' replaced by u."col". */
void hm_add_expr(struct sql *q, const char *expr, const char *col);

/* The columns (name, declared type) of a table of schema main. */
struct cols {
	char **name, **type;
	size_t n;
};
int hm_cols_load(sqlite3 *db, const char *table, struct cols *c);	/* 0 or -1 */
void hm_cols_free(struct cols *c);
bool hm_has_col(const struct cols *c, const char *name);

/* Registers sslhist_merge_key(v, ...) on db: a 64-bit digest of its
 * arguments that only orders (see histmerge_sql.c). SQLITE_OK or an error. */
int histmerge_key_register(sqlite3 *db);

#endif
