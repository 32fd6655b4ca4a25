/* histmerge_sql.c: the SQL text, table columns and the key function that
 * histmerge.c builds the merged schema with (histmerge_int.h). */
#include "histmerge_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growable SQL text ------------------------------------------------ */

void
hm_add(struct sql *q, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *ns;

	if (q->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(q->s ? q->s + q->len : NULL, q->s ? q->cap - q->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			q->oom = true;
			return;
		}
		if (q->s != NULL && q->len + (size_t)n < q->cap) {
			q->len += (size_t)n;
			return;
		}
		q->cap = (q->cap + (size_t)n + 1) * 2;
		if ((ns = realloc(q->s, q->cap)) == NULL) {
			q->oom = true;
			return;
		}
		q->s = ns;
	}
}

/* A rule's expression with every '@' replaced by u.COL. */
void
hm_add_expr(struct sql *q, const char *expr, const char *col)
{
	for (const char *p = expr; *p != '\0'; p++) {
		if (*p == '@')
			hm_add(q, "u.\"%s\"", col);
		else
			hm_add(q, "%c", *p);
	}
}

/* ---- the columns of a table in main ------------------------------------ */

void
hm_cols_free(struct cols *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->name[i]);
		free(c->type[i]);
	}
	free(c->name);
	free(c->type);
	memset(c, 0, sizeof(*c));
}

bool
hm_plain_name(const char *s, bool spaces)
{
	if (s == NULL || !(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
		return s != NULL && spaces && *s == '\0';	/* a type may be empty */
	for (; *s != '\0'; s++)
		if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || (spaces && *s == ' ')))
			return false;
	return true;
}

int
hm_cols_load(sqlite3 *db, const char *table, struct cols *c)
{
	sqlite3_stmt *st;
	int rc;

	memset(c, 0, sizeof(*c));
	if (sqlite3_prepare_v2(db, "SELECT name, type FROM pragma_table_info(?1, 'main')", -1, &st,
			       NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char **nn = realloc(c->name, (c->n + 1) * sizeof(*nn));
		char **nt = nn ? realloc(c->type, (c->n + 1) * sizeof(*nt)) : NULL;

		if (nn != NULL)
			c->name = nn;
		if (nt == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		c->type = nt;
		c->name[c->n] = strdup((const char *)sqlite3_column_text(st, 0));
		c->type[c->n] = strdup((const char *)sqlite3_column_text(st, 1));
		c->n++;
		if (c->name[c->n - 1] == NULL || c->type[c->n - 1] == NULL ||
		    !hm_plain_name(c->name[c->n - 1], false) || !hm_plain_name(c->type[c->n - 1], true)) {
			rc = SQLITE_MISMATCH;	/* not the schema this program wrote */
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		hm_cols_free(c);
		return -1;
	}
	return 0;
}

bool
hm_has_col(const struct cols *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->name[i], name) == 0)
			return true;
	return false;
}

/*
 * sslhist_merge_key(v, ...): a 64-bit FNV-1a digest of its arguments (type
 * tag, length, bytes), so the sort that groups clients compares one integer
 * first instead of eleven columns (the window functions and wide sorts it
 * replaces took ten times as long). The key only orders: the GROUP BY and
 * the lookup below compare the identity columns too, so two clients whose
 * keys collide stay two.
 */
static void
merge_key_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint64_t h = 14695981039346656037ULL;

	for (int i = 0; i < argc; i++) {
		int type = sqlite3_value_type(argv[i]);
		const unsigned char *p = NULL;
		unsigned char num[8];
		size_t n = 0;

		h = (h ^ (uint64_t)type) * 1099511628211ULL;
		if (type == SQLITE_INTEGER) {
			uint64_t v = (uint64_t)sqlite3_value_int64(argv[i]);

			for (int k = 0; k < 8; k++)
				num[k] = (unsigned char)(v >> (8 * k));
			p = num;
			n = 8;
		} else if (type != SQLITE_NULL) {
			p = sqlite3_value_blob(argv[i]);
			n = (size_t)sqlite3_value_bytes(argv[i]);
		}
		h = (h ^ (uint64_t)n) * 1099511628211ULL;
		for (size_t k = 0; k < n; k++)
			h = (h ^ p[k]) * 1099511628211ULL;
	}
	sqlite3_result_int64(ctx, (sqlite3_int64)h);
}

int
histmerge_key_register(sqlite3 *db)
{
	return sqlite3_create_function(db, "sslhist_merge_key", -1,
				       SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, merge_key_fn, NULL,
				       NULL);
}
