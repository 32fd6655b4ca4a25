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
/* 0, or -1 (also when a name or type is not plain: see hm_plain_name). */
int hm_cols_load(sqlite3 *db, const char *table, struct cols *c);
void hm_cols_free(struct cols *c);
bool hm_has_col(const struct cols *c, const char *name);
/* s is a plain identifier ([A-Za-z_][A-Za-z0-9_]*; with `spaces`, blanks
 * and the empty string too, as a declared type): the only names the merge
 * writes into SQL text, so a crafted file cannot change the statements. */
bool hm_plain_name(const char *s, bool spaces);

/* Registers sslhist_merge_key(v, ...) on db: a 64-bit digest of its
 * arguments that only orders (see histmerge_sql.c). SQLITE_OK or an error. */
int histmerge_key_register(sqlite3 *db);

/* A client's identity (docs/CONTRACT.md section 3) over the merged instance,
 * and pooler_server: a [pooler]'s own server connections are one client apart
 * from the applications with the same columns (daemon/store_poll.c's key). */
#define CLIENT_KEYS "instance_id, database, user, application, client_addr, ssl," \
	" tls_version, cipher, bits, client_dn, issuer_dn, pooler_server"

/* How a table merges (histmerge_rules.c). */
struct rule {
	const char *col;
	const char *expr;	/* over u; '@' is the column; NULL: omitted */
};

struct grouped {
	const char *table;
	const char *keys;	/* GROUP BY (and PARTITION BY of the ranks) */
	const char *ranks[3];	/* ORDER BY of rank windows u.rk1 .. rk3 */
	const struct rule *rules;
	const char *deflt;	/* a column no rule names (a later schema's) */
	const char *extra;	/* appended select list, or NULL */
	const char *filter;	/* WHERE over the merged rows, or NULL */
};

extern const struct grouped histmerge_instance, histmerge_client;
/* The rule for col; NULL: the table's default. */
const struct rule *histmerge_rule_for(const struct grouped *g, const char *col);
/* The grouped rules of a table other than instance and client_data; NULL:
 * its rows are taken from every file as they are. */
const struct grouped *histmerge_grouped_for(const char *table);

#endif
