/* histdb.c: finding and opening the history database (histdb.h). */
#include "histdb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "migrations.h"

char *
histdb_path(const char *db_opt, const struct config *cfg)
{
	const char *env = getenv("SSLHIST_DB");

	if (db_opt != NULL && *db_opt != '\0')
		return strdup(db_opt);
	if (env != NULL && *env != '\0')
		return strdup(env);
	if (cfg != NULL && cfg->database != NULL)
		return strdup(cfg->database);
	return strdup(CONFIG_DEFAULT_DB);
}

/* "file:PATH?PARAMS" with PATH percent-encoded where URIs need it. */
static char *
make_uri(const char *path, const char *params)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path), k = 0;
	char *uri = malloc(5 + 3 * n + 1 + strlen(params) + 1);
	const unsigned char *p;

	if (uri == NULL)
		return NULL;
	memcpy(uri, "file:", 5);
	k = 5;
	for (p = (const unsigned char *)path; *p != '\0'; p++) {
		if (*p == '%' || *p == '?' || *p == '#' || *p <= 0x20 || *p >= 0x7f) {
			uri[k++] = '%';
			uri[k++] = hex[*p >> 4];
			uri[k++] = hex[*p & 0xf];
		} else {
			uri[k++] = (char)*p;
		}
	}
	uri[k++] = '?';
	strcpy(uri + k, params);
	return uri;
}

/* Reads the schema version; the first read also opens the WAL. */
static int
schema_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static sqlite3 *
open_uri(const char *path, const char *params, int flags, int busy_ms, int *rc,
	 char *err, size_t errlen)
{
	char *uri = make_uri(path, params);
	sqlite3 *db = NULL;

	if (uri == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		*rc = SQLITE_NOMEM;
		return NULL;
	}
	*rc = sqlite3_open_v2(uri, &db, flags | SQLITE_OPEN_URI, NULL);
	free(uri);
	if (*rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(*rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, busy_ms);
	return db;
}

/* Exists and is a regular file; else err names the path and why. */
static bool
check_file(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "%s: database does not exist", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return false;
	}
	return true;
}

static bool
check_schema(const char *path, int version, char *err, size_t errlen)
{
	if (version < 1) {
		snprintf(err, errlen, "%s: not an sslhist database (no schema)", path);
		return false;
	}
	/* The tool reads what the daemon of the same version writes; the
	 * daemon migrates the file when it starts. */
	if (version < migration_count) {
		snprintf(err, errlen, "%s: schema version %d is older than this sslhist reads (%d): "
			 "start sslhistd of this version once to upgrade the file", path, version,
			 migration_count);
		return false;
	}
	if (version > migration_count) {
		snprintf(err, errlen, "%s: schema version %d is newer than this sslhist knows (%d)",
			 path, version, migration_count);
		return false;
	}
	return true;
}

/* The -wal file of path is absent (not merely unreadable). */
static bool
wal_absent(const char *path)
{
	char wal[4096];
	struct stat st;

	if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", path) >= sizeof(wal))
		return false;
	return stat(wal, &st) != 0 && errno == ENOENT;
}

/* What differs between the two ways of opening; the steps are the same. */
static const struct open_mode {
	const char *params;		/* URI parameters */
	const char *fallback;		/* for a WAL file we cannot open: see
					 * histdb.h; NULL: none */
	int flags;
	int busy_ms;
	const char *pragma;		/* run once the schema is checked */
} open_modes[] = {
	[HISTDB_RO] = { "mode=ro", "mode=ro&immutable=1", SQLITE_OPEN_READONLY,
			HISTDB_READ_BUSY_MS, "PRAGMA query_only = ON" },
	[HISTDB_RW] = { "mode=rw", NULL, SQLITE_OPEN_READWRITE,
			HISTDB_WRITE_BUSY_MS, "PRAGMA foreign_keys = ON" },
};

/* A WAL database without -wal that we may not create one for fails with
 * SQLITE_READONLY_DIRECTORY (or CANTOPEN): see histdb.h for why reading it
 * as immutable is sound then. */
static bool
wants_fallback(const struct open_mode *m, const char *path, int rc)
{
	return m->fallback != NULL && rc != SQLITE_OK &&
	       ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY) &&
	       wal_absent(path);
}

sqlite3 *
histdb_open(const char *path, enum histdb_mode mode, bool *immutable, char *err,
	    size_t errlen)
{
	const struct open_mode *m = &open_modes[mode];
	sqlite3 *db;
	int rc, version = 0;

	if (immutable != NULL)
		*immutable = false;
	if (!check_file(path, err, errlen))
		return NULL;
	db = open_uri(path, m->params, m->flags, m->busy_ms, &rc, err, errlen);
	if (db == NULL)
		return NULL;
	rc = schema_version(db, &version);
	if (wants_fallback(m, path, rc)) {
		sqlite3_close(db);
		db = open_uri(path, m->fallback, m->flags, m->busy_ms, &rc, err, errlen);
		if (db == NULL)
			return NULL;
		if (immutable != NULL)
			*immutable = true;
		rc = schema_version(db, &version);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot read: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (!check_schema(path, version, err, errlen))
		goto fail;
	if (sqlite3_exec(db, m->pragma, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	return db;
fail:
	sqlite3_close(db);
	return NULL;
}

/* ATTACH uri AS name; the file is only opened by the first read. */
static int
attach_uri(sqlite3 *db, const char *path, const char *params, const char *name)
{
	char *uri = make_uri(path, params);
	sqlite3_stmt *st;
	int rc;

	if (uri == NULL)
		return SQLITE_NOMEM;
	rc = sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS ?2", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(db);
		sqlite3_finalize(st);
	}
	free(uri);
	return rc;
}

static void
detach(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "DETACH DATABASE ?1", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

/* PRAGMA name.user_version (name is ours: "src1", never from input). */
static int
attached_version(sqlite3 *db, const char *name, int *version)
{
	char sql[96];
	sqlite3_stmt *st;
	int rc;

	snprintf(sql, sizeof(sql), "PRAGMA \"%s\".user_version", name);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite3_extended_errcode(db);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	} else {
		rc = sqlite3_extended_errcode(db);
	}
	sqlite3_finalize(st);
	return rc;
}

int
histdb_attach(sqlite3 *db, const char *path, const char *name, bool *immutable, char *err,
	      size_t errlen)
{
	const struct open_mode *m = &open_modes[HISTDB_RO];
	int rc, version = 0;

	if (immutable != NULL)
		*immutable = false;
	if (!check_file(path, err, errlen))
		return -1;
	rc = attach_uri(db, path, m->params, name);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot attach: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	rc = attached_version(db, name, &version);
	if (wants_fallback(m, path, rc)) {
		detach(db, name);
		if ((rc = attach_uri(db, path, m->fallback, name)) != SQLITE_OK) {
			snprintf(err, errlen, "%s: cannot attach: %s", path, sqlite3_errmsg(db));
			return -1;
		}
		if (immutable != NULL)
			*immutable = true;
		rc = attached_version(db, name, &version);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot read: %s", path, sqlite3_errmsg(db));
		detach(db, name);
		return -1;
	}
	if (!check_schema(path, version, err, errlen)) {
		detach(db, name);
		return -1;
	}
	return 0;
}
