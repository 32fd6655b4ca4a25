/* common.c: database resolution, option values, cells and instance lists. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "cli.h"
#include "ident.h"
#include "config.h"
#include "histdb.h"
#include "histmerge.h"
#include "parse.h"

/*
 * docs/CONTRACT.md section 4: CONFIG counts "if readable". An unreadable default file is
 * skipped silently (a reader in the database's group may not read the
 * daemon's configuration); one named with -c is an error. A readable file
 * that does not parse is an error when the database path depends on it,
 * else a warning (it only refines the report's polling interval).
 */
bool
cli_load_config(struct cli *c)
{
	char err[1024];
	bool needed;

	if (c->cfg_tried)
		return true;
	c->cfg_tried = true;
	if (access(c->config_path, R_OK) != 0) {
		if (!c->config_given)
			return true;
		cli_error("%s: cannot read: %s", c->config_path, strerror(errno));
		return false;
	}
	c->cfg = config_load(c->config_path, err, sizeof(err));
	if (c->cfg != NULL)
		return true;
	needed = c->config_given ||
		 ((c->db_opt == NULL || *c->db_opt == '\0') &&
		  (getenv("SSLHIST_DB") == NULL || *getenv("SSLHIST_DB") == '\0'));
	if (needed) {
		cli_error("%s", err);
		return false;
	}
	cli_error("warning: %s (ignored: the database is given)", err);
	return true;
}

sqlite3 *
cli_open(struct cli *c, enum histdb_mode mode, char **pathp)
{
	char err[1024], *path;
	sqlite3 *db;

	if (pathp != NULL)
		*pathp = NULL;
	if (!cli_load_config(c))
		return NULL;
	if ((path = histdb_path(c->db_opt, c->cfg)) == NULL) {
		cli_error("out of memory");
		return NULL;
	}
	if (c->ndbs > 1 && mode != HISTDB_RO) {
		cli_error("several --db: only reading commands merge histories");
		free(path);
		return NULL;
	}
	db = histdb_open(path, mode, NULL, err, sizeof(err));
	if (db != NULL && c->ndbs > 1 && histmerge_open(db, c->dbs, c->ndbs, err, sizeof(err)) < 0) {
		sqlite3_close(db);
		db = NULL;
	}
	if (db == NULL)
		cli_error("%s", err);
	if (db != NULL && pathp != NULL)
		*pathp = path;
	else
		free(path);
	return db;
}

bool
cli_parse_since(const char *cmd, const char *s, int64_t now, int64_t *t)
{
	const char *why = parse_when(s, now, t);

	if (why != NULL) {
		cli_usage_error(cmd, "--since '%s': %s", s, why);
		return false;
	}
	return true;
}

bool
cli_parse_format(const char *cmd, const char *s, bool csv_ok, enum out_format *f)
{
	int v = out_format_parse(s);

	if (v < 0 || (v == FMT_CSV && !csv_ok)) {
		cli_usage_error(cmd, "--format '%s': use table, json%s", s, csv_ok ? " or csv" : "");
		return false;
	}
	*f = (enum out_format)v;
	return true;
}

const char *
instance_name(const char *host, int64_t port, char *buf, size_t len)
{
	return ident_instance_name(buf, len, host, port);
}

int64_t
cli_interval_ms(const struct cli *c, const char *cluster)
{
	size_t i;

	if (c->cfg == NULL)
		return 0;
	for (i = 0; i < c->cfg->nclusters; i++)
		if (strcmp(c->cfg->clusters[i].name, cluster) == 0)
			return c->cfg->clusters[i].interval_ms;
	return 0;
}

void
cell_opt_int(struct cell *c, const struct bval *v)
{
	if (v->null)
		cell_null(c);
	else
		cell_int(c, v->i);
}

void
inst_list_free(struct inst_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].cluster);
		free(l->v[i].name);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool
inst_add(struct inst_list *l, size_t *cap, sqlite3_stmt *st)
{
	struct inst *v;
	char name[1100];
	const char *host = (const char *)sqlite3_column_text(st, 2);

	if (l->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		v = realloc(l->v, *cap * sizeof(*v));
		if (v == NULL)
			return false;
		l->v = v;
	}
	v = &l->v[l->n];
	v->id = sqlite3_column_int64(st, 0);
	v->cluster = strdup((const char *)sqlite3_column_text(st, 1));
	v->name = strdup(instance_name(host, sqlite3_column_int64(st, 3), name, sizeof(name)));
	l->n++;
	return v->cluster != NULL && v->name != NULL;
}

int
inst_list_load(sqlite3 *db, const char *cluster, struct inst_list *l)
{
	static const char sql[] =
		"SELECT id, cluster, host, port FROM instance"
		" WHERE ?1 IS NULL OR cluster = ?1 ORDER BY cluster, host, port";
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	l->v = NULL;
	l->n = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		cli_error("reading instances: %s", sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_text(st, 1, cluster, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!inst_add(l, &cap, st)) {
			cli_error("out of memory");
			rc = SQLITE_NOMEM;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		if (rc != SQLITE_NOMEM)
			cli_error("reading instances: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		inst_list_free(l);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}
