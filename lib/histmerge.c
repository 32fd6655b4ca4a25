/* histmerge.c: several histories read as one (histmerge.h). */
#include "histmerge.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "histdb.h"
#include "histmerge_int.h"
#include "livecounts.h"

/* Alert ids of file k become id * ALERT_SPAN + k: unique, and in id order
 * within each file. More than SQLite's hard cap of attached files. */
#define ALERT_SPAN 128

/* ---- building -------------------------------------------------------------- */

struct merge {
	sqlite3 *db;
	const char *const *paths;
	size_t n;		/* files */
	char *err;
	size_t errlen;
};

static const char *
schema_name(size_t k, char buf[32])
{
	if (k == 0)
		return "main";
	snprintf(buf, 32, "src%zu", k);
	return buf;
}

static int
run(struct merge *m, struct sql *q, const char *what)
{
	int rc;

	if (q->oom) {
		snprintf(m->err, m->errlen, "merging histories: out of memory");
		return -1;
	}
	rc = sqlite3_exec(m->db, q->s, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(m->err, m->errlen, "merging histories (%s): %s", what,
			 sqlite3_errmsg(m->db));
		return -1;
	}
	return 0;
}

static int
load_cols(struct merge *m, const char *table, struct cols *c)
{
	if (hm_cols_load(m->db, table, c) == 0 && c->n > 0)
		return 0;
	snprintf(m->err, m->errlen, "%s: unexpected schema of table %s", m->paths[0], table);
	return -1;
}

/* The columns of `table` in schema s as one text; NULL when it has none. */
static char *
table_shape(sqlite3 *db, const char *table, const char *s)
{
	sqlite3_stmt *st;
	char *out = NULL;

	if (sqlite3_prepare_v2(db, "SELECT group_concat(name || ' ' || type || ' ' || \"notnull\""
			       " || ' ' || pk, ',') FROM pragma_table_info(?1, ?2)", -1, &st,
			       NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

/* Every table of the first file is in every other one with the same
 * columns (the same user_version should mean so; a file altered by hand
 * is named, not half merged). */
static int
check_same_schema(struct merge *m)
{
	sqlite3_stmt *st;
	char sb[32];
	int rc = 0, step;

	if (sqlite3_prepare_v2(m->db, "SELECT name FROM main.sqlite_master WHERE type = 'table'"
			       " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'", -1, &st,
			       NULL) != SQLITE_OK) {
		snprintf(m->err, m->errlen, "%s: %s", m->paths[0], sqlite3_errmsg(m->db));
		return -1;
	}
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		char *want;

		if (!hm_plain_name(t, false)) {	/* never printed: it may hold escapes */
			snprintf(m->err, m->errlen, "%s: unexpected table name in the schema",
				 m->paths[0]);
			rc = -1;
			break;
		}
		want = table_shape(m->db, t, "main");

		for (size_t k = 1; rc == 0 && k < m->n; k++) {
			char *got = table_shape(m->db, t, schema_name(k, sb));

			if (want == NULL || got == NULL || strcmp(want, got) != 0) {
				snprintf(m->err, m->errlen, got == NULL ?
					 "%s: no table %s (%s has it)" :
					 "%s: table %s differs from that of %s",
					 m->paths[k], t, m->paths[0]);
				rc = -1;
			}
			free(got);
		}
		free(want);
	}
	if (rc == 0 && step != SQLITE_DONE) {
		snprintf(m->err, m->errlen, "%s: %s", m->paths[0], sqlite3_errmsg(m->db));
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}

/* One file's rows of `table` with the ids mapped into the merged spaces. */
static void
add_arm(struct sql *q, const char *table, const struct cols *c, size_t k)
{
	char sb[32];
	const char *s = schema_name(k, sb);

	hm_add(q, "%sSELECT %zu AS src", k ? " UNION ALL " : "", k);
	for (size_t i = 0; i < c->n; i++) {
		const char *col = c->name[i];

		if (strcmp(col, "instance_id") == 0 && strcmp(table, "instance") != 0)
			hm_add(q, ", (SELECT id FROM temp.m_inst WHERE src = %zu AND local_id ="
			    " t.instance_id) AS instance_id", k);
		else if (strcmp(col, "client_id") == 0)
			hm_add(q, ", (SELECT gid FROM temp.m_cl WHERE src = %zu AND local_id ="
			    " t.client_id) AS client_id", k);
		else if (strcmp(col, "alert_id") == 0 ||
			 (strcmp(col, "id") == 0 && strcmp(table, "alert") == 0))
			hm_add(q, ", t.\"%s\" * %d + %zu AS \"%s\"", col, ALERT_SPAN, k, col);
		else
			hm_add(q, ", t.\"%s\"", col);
	}
	hm_add(q, " FROM \"%s\".\"%s\" t", s, table);
}

static void
add_arms(struct merge *m, struct sql *q, const char *table, const struct cols *c)
{
	for (size_t k = 0; k < m->n; k++)
		add_arm(q, table, c, k);
}

/* SELECT <merged columns> FROM (<from> with ranks) u GROUP BY ... */
static void
add_grouped(struct sql *q, const struct grouped *g, const struct cols *c, const char *from)
{
	const char *sep = "";
	const char *part = g->keys;

	if (g->filter != NULL)
		hm_add(q, "SELECT * FROM (");
	hm_add(q, "SELECT ");
	for (size_t i = 0; i < c->n; i++) {
		const struct rule *r = histmerge_rule_for(g, c->name[i]);
		const char *e = r ? r->expr : g->deflt;

		if (e == NULL)
			continue;
		hm_add(q, "%s", sep);
		hm_add_expr(q, e, c->name[i]);
		hm_add(q, " AS \"%s\"", c->name[i]);
		sep = ", ";
	}
	if (g->extra != NULL)
		hm_add(q, ", %s", g->extra);
	hm_add(q, " FROM (SELECT *");
	for (int r = 0; r < 3; r++) {
		if (g->ranks[r] == NULL)
			continue;
		/* the partition is the keys without the "u." of the outer query */
		hm_add(q, ", row_number() OVER (PARTITION BY ");
		for (const char *p = part; *p != '\0'; p++) {
			if (strncmp(p, "u.", 2) == 0)
				p += 2;
			hm_add(q, "%c", *p);
		}
		hm_add(q, " ORDER BY %s) AS rk%d", g->ranks[r], r + 1);
	}
	hm_add(q, " FROM (%s)) u GROUP BY %s", from, g->keys);
	if (g->filter != NULL)
		hm_add(q, ") WHERE %s", g->filter);
}

/* CREATE TEMP TABLE name (id INTEGER PRIMARY KEY, the other columns). */
static void
add_table_ddl(struct sql *q, const char *table, const struct cols *c, const char *extra)
{
	hm_add(q, "CREATE TEMP TABLE \"%s\" (", table);
	for (size_t i = 0; i < c->n; i++)
		hm_add(q, "%s\"%s\" %s%s", i ? ", " : "", c->name[i],
		    strcmp(c->name[i], "id") == 0 ? "INTEGER" : c->type[i],
		    strcmp(c->name[i], "id") == 0 ? " PRIMARY KEY" : "");
	hm_add(q, "%s%s);", extra ? ", " : "", extra ? extra : "");
}

static int
build_instance(struct merge *m)
{
	struct sql q = { 0 }, from = { 0 };
	struct cols c;
	char sb[32];
	int rc;

	if (load_cols(m, "instance", &c) < 0)
		return -1;
	add_arms(m, &from, "instance", &c);
	add_table_ddl(&q, "instance", &c, "source_mask INTEGER");
	hm_add(&q, "INSERT INTO temp.instance (");
	for (size_t i = 0, first = 1; i < c.n; i++) {
		if (strcmp(c.name[i], "id") == 0)
			continue;
		hm_add(&q, "%s\"%s\"", first ? "" : ", ", c.name[i]);
		first = 0;
	}
	hm_add(&q, ", source_mask) ");
	add_grouped(&q, &histmerge_instance, &c, from.s ? from.s : "");
	hm_add(&q, " ORDER BY u.cluster, u.host, u.port;"
	    "CREATE UNIQUE INDEX temp.m_instance_key ON instance (cluster, host, port);"
	    "CREATE TEMP TABLE m_inst (src INTEGER, local_id INTEGER, id INTEGER,"
	    " PRIMARY KEY (src, local_id)) WITHOUT ROWID;"
	    "CREATE INDEX temp.m_inst_id ON m_inst (id);");
	for (size_t k = 0; k < m->n; k++)
		hm_add(&q, "INSERT INTO temp.m_inst SELECT %zu, t.id, i.id FROM \"%s\".instance t"
		    " JOIN temp.instance i ON i.cluster = t.cluster AND i.host = t.host"
		    " AND i.port = t.port;", k, schema_name(k, sb));
	if (from.oom)
		q.oom = true;
	rc = run(m, &q, "instances");
	free(q.s);
	free(from.s);
	hm_cols_free(&c);
	return rc;
}

#define IS_SAME(a, b) a ".instance_id = " b ".instance_id AND " a ".database IS " b \
	".database AND " a ".user IS " b ".user AND " a ".application IS " b ".application AND " \
	a ".client_addr IS " b ".client_addr AND " a ".ssl IS " b ".ssl AND " a ".tls_version IS " \
	b ".tls_version AND " a ".cipher IS " b ".cipher AND " a ".bits IS " b ".bits AND " a \
	".client_dn IS " b ".client_dn AND " a ".issuer_dn IS " b ".issuer_dn"

/*
 * Per file: the columns of schema 2 derived with that file's own instance
 * row, the instance mapped (the view m_rows); one group per client
 * identity (client_data, fresh ids; the one copy); each file's client id ->
 * merged id is the view m_cl, evaluated only where a row names a client
 * (alerts).
 */
static int
build_clients(struct merge *m)
{
	struct sql q = { 0 };
	struct cols c;
	char sb[32];
	int rc;

	if (load_cols(m, "client_data", &c) < 0)
		return -1;
	if (!hm_has_col(&c, "last_seen") || !hm_has_col(&c, "live") || !hm_has_col(&c, "issuer_dn")) {
		hm_cols_free(&c);
		snprintf(m->err, m->errlen, "merging histories: unexpected client schema");
		return -1;
	}
	if (histmerge_key_register(m->db) != SQLITE_OK) {
		hm_cols_free(&c);
		snprintf(m->err, m->errlen, "merging histories: %s", sqlite3_errmsg(m->db));
		return -1;
	}
	hm_add(&q, "CREATE TEMP VIEW m_rows AS SELECT *, sslhist_merge_key(" CLIENT_KEYS ") AS mkey,"
	    " printf('%%020d', d_seen) || CASE WHEN client_hostname IS NULL THEN '0'"
	    " ELSE '1' || client_hostname END AS seen_host FROM (");
	for (size_t k = 0; k < m->n; k++) {
		hm_add(&q, "%sSELECT %zu AS src, t.id AS local_id, mi.id AS instance_id",
		    k ? " UNION ALL " : "", k);
		for (size_t i = 0; i < c.n; i++)
			if (strcmp(c.name[i], "id") != 0 && strcmp(c.name[i], "instance_id") != 0)
				hm_add(&q, ", t.\"%s\"", c.name[i]);
		hm_add(&q, ", " LIVE_DERIVED_SEEN("t", "i") " AS d_seen, " LIVE_SAMPLES("t", "i")
		    " AS d_samples FROM \"%s\".client_data t JOIN \"%s\".instance i"
		    " ON i.id = t.instance_id JOIN temp.m_inst mi ON mi.src = %zu"
		    " AND mi.local_id = t.instance_id", schema_name(k, sb), schema_name(k, sb), k);
	}
	hm_add(&q, ");");
	add_table_ddl(&q, "client_data", &c, "m_key INTEGER");
	hm_add(&q, "INSERT INTO temp.client_data (");
	for (size_t i = 0; i < c.n; i++)
		if (strcmp(c.name[i], "id") != 0)
			hm_add(&q, "\"%s\", ", c.name[i]);
	hm_add(&q, "m_key) ");
	add_grouped(&q, &histmerge_client, &c, "SELECT * FROM temp.m_rows");
	hm_add(&q, ";CREATE INDEX temp.m_client_key ON client_data (m_key);"
	    /* looked up only for the rows that carry a client id (alerts):
	     * src and local_id reach each file's primary key through the views */
	    "CREATE TEMP VIEW m_cl AS SELECT r.src, r.local_id, (SELECT c.id FROM"
	    " temp.client_data c WHERE c.m_key = r.mkey AND " IS_SAME("c", "r") ") AS gid"
	    " FROM temp.m_rows r;"
	    "CREATE INDEX temp.client_instance ON client_data (instance_id, last_seen);"
	    "CREATE INDEX temp.client_last_seen ON client_data (last_seen);");
	rc = run(m, &q, "clients");
	free(q.s);
	hm_cols_free(&c);
	return rc;
}

/*
 * Grouped (g): a view. All rows (g NULL): a temp table with the ids mapped
 * once, an index on every *_id column (the commands range over alert ids
 * batch by batch; a view would map every row again for each batch).
 */
static int
build_view(struct merge *m, const char *table, const struct grouped *g)
{
	struct sql q = { 0 }, from = { 0 };
	struct cols c;
	int rc;

	if (load_cols(m, table, &c) < 0)
		return -1;
	add_arms(m, &from, table, &c);
	if (strcmp(table, "coverage") == 0)
		hm_add(&q, "CREATE TEMP VIEW m_coverage_src AS %s;", from.s ? from.s : "");
	if (g != NULL) {
		hm_add(&q, "CREATE TEMP VIEW \"%s\" AS ", table);
		add_grouped(&q, g, &c, from.s ? from.s : "");
	} else {
		add_table_ddl(&q, table, &c, NULL);
		hm_add(&q, "INSERT INTO temp.\"%s\" SELECT", table);
		for (size_t i = 0; i < c.n; i++)
			hm_add(&q, "%s \"%s\"", i ? "," : "", c.name[i]);
		hm_add(&q, " FROM (%s);", from.s ? from.s : "");
		for (size_t i = 0; i < c.n; i++) {
			size_t len = strlen(c.name[i]);

			if (len > 3 && strcmp(c.name[i] + len - 3, "_id") == 0)
				hm_add(&q, "CREATE INDEX temp.\"m_%s_%s\" ON \"%s\" (\"%s\");", table,
				       c.name[i], table, c.name[i]);
		}
	}
	if (from.oom)
		q.oom = true;
	rc = run(m, &q, table);
	free(q.s);
	free(from.s);
	hm_cols_free(&c);
	return rc;
}

/* CREATE TEMP VIEW <rest>: exactly one statement (the text is main's own
 * definition, which a crafted file could have extended). */
static int
recreate_view(struct merge *m, const char *name, const char *rest)
{
	struct sql q = { 0 };
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int rc = -1;

	hm_add(&q, "CREATE TEMP VIEW %s", rest);
	if (q.oom) {
		snprintf(m->err, m->errlen, "merging histories: out of memory");
	} else if (sqlite3_prepare_v2(m->db, q.s, -1, &st, &tail) != SQLITE_OK) {
		snprintf(m->err, m->errlen, "merging histories (%s): %s", name,
			 sqlite3_errmsg(m->db));
	} else if (st == NULL || (tail != NULL && tail[strspn(tail, " \t\r\n;")] != '\0')) {
		snprintf(m->err, m->errlen, "%s: view %s is not one statement", m->paths[0], name);
	} else if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(m->err, m->errlen, "merging histories (%s): %s", name,
			 sqlite3_errmsg(m->db));
	} else {
		rc = 0;
	}
	sqlite3_finalize(st);
	free(q.s);
	return rc;
}

/* Every other table of main, then main's views again in temp, over the
 * merged objects (a view in main reads main's tables only). Coverage comes
 * before missed_session, whose rule reads m_coverage_src. */
static int
build_rest(struct merge *m)
{
	static const char tables_sql[] =
		"SELECT name, type, sql FROM main.sqlite_master WHERE type IN ('table', 'view')"
		" AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
		" AND name NOT IN ('instance', 'client_data')"
		" ORDER BY type, name <> 'coverage', name";
	sqlite3_stmt *st;
	int rc = 0, step;

	if (sqlite3_prepare_v2(m->db, tables_sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(m->err, m->errlen, "merging histories: %s", sqlite3_errmsg(m->db));
		return -1;
	}
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		const char *def = (const char *)sqlite3_column_text(st, 2);

		if (!hm_plain_name(name, false)) {
			snprintf(m->err, m->errlen, "%s: unexpected %s name in the schema", m->paths[0],
				 type);
			rc = -1;
		} else if (strcmp(type, "table") == 0) {
			rc = build_view(m, name, histmerge_grouped_for(name));
		} else if (def != NULL && strncmp(def, "CREATE VIEW ", 12) == 0) {
			rc = recreate_view(m, name, def + 12);
		}
	}
	if (rc == 0 && step != SQLITE_DONE) {
		snprintf(m->err, m->errlen, "merging histories: %s", sqlite3_errmsg(m->db));
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}

int
histmerge_max_files(sqlite3 *db)
{
	return 1 + sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, -1);
}

/* The same file named twice would count every sample twice. */
static int
check_distinct(const char *const *paths, size_t n, char *err, size_t errlen)
{
	struct stat a, b;

	for (size_t i = 0; i < n; i++) {
		if (stat(paths[i], &a) != 0)
			continue;	/* histdb_open/attach names the error */
		for (size_t j = 0; j < i; j++) {
			if (stat(paths[j], &b) == 0 && a.st_dev == b.st_dev &&
			    a.st_ino == b.st_ino) {
				snprintf(err, errlen, "%s: the same history as %s (given twice)",
					 paths[i], paths[j]);
				return -1;
			}
		}
	}
	return 0;
}

int
histmerge_open(sqlite3 *db, const char *const *paths, size_t n, char *err, size_t errlen)
{
	struct merge m = { db, paths, n, err, errlen };
	char name[32];
	int max = histmerge_max_files(db);

	if (n > (size_t)max) {
		snprintf(err, errlen, "%zu histories given: at most %d can be read at once (SQLite"
			 " attaches at most %d files beside the first)", n, max, max - 1);
		return -1;
	}
	if (check_distinct(paths, n, err, errlen) < 0)
		return -1;
	for (size_t k = 1; k < n; k++)
		if (histdb_attach(db, paths[k], schema_name(k, name), NULL, err, errlen) < 0)
			return -1;
	/* The merged copy lives in temp files; a bounded cache keeps most of
	 * a mid-sized fleet's sort and copy in memory. */
	if (sqlite3_exec(db, "PRAGMA query_only = OFF; PRAGMA temp.cache_size = -32768; BEGIN",
			 NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "merging histories: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (check_same_schema(&m) < 0 || build_instance(&m) < 0 || build_clients(&m) < 0 || build_rest(&m) < 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(db, "COMMIT; PRAGMA query_only = ON", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "merging histories: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}
