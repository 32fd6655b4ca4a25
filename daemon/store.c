/*
 * store.c: opening the daemon's SQLite history (contract in store.h,
 * schema in sql/), and what the store's files share (store_int.h): the
 * statement cache, binding, stepping and transactions.
 *
 * Every statement is prepared once (SQLITE_PREPARE_PERSISTENT), bound,
 * stepped and reset. Every write runs in one BEGIN IMMEDIATE transaction, so
 * a busy database fails at BEGIN after the short busy timeout instead of at
 * an upgrade from a read lock (SQLITE_BUSY_SNAPSHOT, which no busy handler
 * can cure). A failing write is rolled back whole: the caller keeps its
 * record and retries it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "store_int.h"

/* The daemon's event loop sleeps at most this long on a locked database. */
#define BUSY_TIMEOUT_MS		100
/* A WAL larger than this is truncated when it restarts (after a checkpoint). */
#define JOURNAL_SIZE_LIMIT	(8 * 1024 * 1024)
#define DIR_MODE		0750
#define FILE_MODE		0640

const char *const store_core_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};

/* ---- errors ---------------------------------------------------------- */

void
st_err(struct store *s, const char *what, const char *why)
{
	snprintf(s->err, sizeof s->err, "%s: %s%s%s: %s", s->path, s->ctx,
		 s->ctx[0] ? ": " : "", what, why);
}

void
st_ctx(struct store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->ctx, sizeof s->ctx, fmt, ap);
	va_end(ap);
}

/* ---- statements ------------------------------------------------------ */

sqlite3_stmt *
st_get(struct store *s, enum stmt_id id)
{
	s->bind_rc = SQLITE_OK;
	return s->st[id];
}

static void
note_bind(struct store *s, int rc)
{
	if (rc != SQLITE_OK && s->bind_rc == SQLITE_OK)
		s->bind_rc = rc;
}

/* NULL binds SQL NULL; bytes are stored as given (no UTF-8 check). */
void
st_text(struct store *s, sqlite3_stmt *st, int i, const char *v)
{
	note_bind(s, v ? sqlite3_bind_text64(st, i, v, strlen(v), SQLITE_STATIC, SQLITE_UTF8)
		       : sqlite3_bind_null(st, i));
}

/* A text that is never NULL in the schema. */
void
st_text_nn(struct store *s, sqlite3_stmt *st, int i, const char *v)
{
	st_text(s, st, i, v ? v : "");
}

void
st_int(struct store *s, sqlite3_stmt *st, int i, int64_t v)
{
	note_bind(s, sqlite3_bind_int64(st, i, v));
}

void
st_int_or_null(struct store *s, sqlite3_stmt *st, int i, bool present, int64_t v)
{
	note_bind(s, present ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i));
}

void
st_blob(struct store *s, sqlite3_stmt *st, int i, const void *v, int n)
{
	note_bind(s, sqlite3_bind_blob(st, i, v, n, SQLITE_STATIC));
}

/* Leaves st ready for the next use; bound pointers are not kept. */
void
st_finish(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/*
 * Steps st once. Returns SQLITE_ROW or SQLITE_DONE, or -1 with the error
 * recorded (prefixed with `what`) and st reset.
 */
int
st_step(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc;

	if (s->bind_rc != SQLITE_OK) {
		st_err(s, what, sqlite3_errstr(s->bind_rc));
		st_finish(st);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	st_err(s, what, sqlite3_errmsg(s->db));
	st_finish(st);
	return -1;
}

/* Runs a statement whose rows (if any) are not needed. */
int
st_run(struct store *s, sqlite3_stmt *st, const char *what)
{
	if (st_step(s, st, what) < 0)
		return -1;
	st_finish(st);
	return 0;
}

int
st_changes(struct store *s)
{
	return sqlite3_changes(s->db);
}

char *
st_col_str(sqlite3_stmt *st, int i, bool *oom)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	char *copy;

	if (v == NULL)
		return NULL;
	if ((copy = strdup((const char *)v)) == NULL)
		*oom = true;
	return copy;
}

int
st_begin(struct store *s)
{
	return st_run(s, st_get(s, ST_BEGIN), "BEGIN IMMEDIATE");
}

/* Ends a failed transaction; SQLite may already have rolled it back. */
void
st_abort(struct store *s)
{
	sqlite3_stmt *st;
	size_t n;

	if (sqlite3_get_autocommit(s->db))
		return;
	st = s->st[ST_ROLLBACK];
	if (sqlite3_step(st) != SQLITE_DONE) {
		n = strlen(s->err);
		snprintf(s->err + n, sizeof s->err - n, " (ROLLBACK: %s)", sqlite3_errmsg(s->db));
	}
	st_finish(st);
}

int
st_commit(struct store *s)
{
	if (st_run(s, st_get(s, ST_COMMIT), "COMMIT") == 0)
		return 0;
	st_abort(s);
	return -1;
}

bool
st_kept(const int64_t *keep, size_t nkeep, int64_t id)
{
	for (size_t i = 0; i < nkeep; i++)
		if (keep[i] == id)
			return true;
	return false;
}

int
st_writes(struct store *s, const struct st_write *w, size_t n)
{
	sqlite3_stmt *st;
	int changed = 0;

	if (st_begin(s) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		st = st_get(s, w[i].id);
		for (int j = 0; j < w[i].nvals; j++)
			st_int(s, st, j + 1, w[i].v[j]);
		if (st_run(s, st, w[i].what) < 0) {
			st_abort(s);
			return -1;
		}
		changed = st_changes(s);
	}
	return st_commit(s) < 0 ? -1 : changed;
}

/* ---- opening --------------------------------------------------------- */

/* Creates the last component of path's directory (0750) if missing. */
static int
make_dir(const char *path, char *err, size_t errlen)
{
	char *dir = strdup(path);
	char *slash;
	int rc = 0;

	if (dir == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, DIR_MODE) == 0) {
			/* mkdir obeys the umask; the contract is 0750 exactly. */
			if (chmod(dir, DIR_MODE) < 0) {
				snprintf(err, errlen, "%s: chmod %s: %s", path, dir, strerror(errno));
				rc = -1;
			}
		} else if (errno != EEXIST) {
			snprintf(err, errlen, "%s: cannot create directory %s: %s", path, dir,
				 strerror(errno));
			rc = -1;
		}
	}
	free(dir);
	return rc;
}

/*
 * Creates the database file 0640 whatever the umask. SQLite then creates
 * -wal and -shm with the mode of the database file.
 */
static int
make_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);

	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, FILE_MODE) < 0) {
		snprintf(err, errlen, "%s: chmod: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
st_exec(struct store *s, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	st_err(s, what, msg ? msg : sqlite3_errmsg(s->db));
	sqlite3_free(msg);
	return -1;
}

static int
configure(struct store *s)
{
	char sql[64];
	const unsigned char *mode;
	sqlite3_stmt *st;
	int one = 1, ok;

	if (sqlite3_db_readonly(s->db, "main") == 1) {
		st_err(s, "open", "the database is read-only for this user");
		return -1;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK) {
		st_err(s, "PRAGMA journal_mode", sqlite3_errmsg(s->db));
		return -1;
	}
	ok = sqlite3_step(st) == SQLITE_ROW && (mode = sqlite3_column_text(st, 0)) != NULL &&
	     strcmp((const char *)mode, "wal") == 0;
	if (!ok)
		st_err(s, "PRAGMA journal_mode = WAL", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	if (!ok)
		return -1;
	/* Readers open read-only; they need -wal and -shm to exist after we stop. */
	if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one) != SQLITE_OK) {
		st_err(s, "SQLITE_FCNTL_PERSIST_WAL", sqlite3_errmsg(s->db));
		return -1;
	}
	snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %d", JOURNAL_SIZE_LIMIT);
	if (st_exec(s, "PRAGMA synchronous = NORMAL", "PRAGMA synchronous") < 0 ||
	    st_exec(s, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys") < 0 ||
	    st_exec(s, sql, "PRAGMA journal_size_limit") < 0)
		return -1;
	return 0;
}

/* Each slot's SQL is in exactly one file's table. */
static int
prepare_all(struct store *s)
{
	static const char *const *const tables[] = {
		store_core_sql, store_fleet_sql, store_poll_sql, store_maint_sql, store_hooks_sql,
		store_pooler_sql,
		store_logs_sql,
	};
	const char *sql;

	for (int i = 0; i < ST_COUNT; i++) {
		sql = NULL;
		for (size_t t = 0; t < sizeof tables / sizeof tables[0] && sql == NULL; t++)
			sql = tables[t][i];
		if (sql == NULL) {
			st_err(s, "prepare", "a statement has no SQL");
			return -1;
		}
		if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
				       NULL) != SQLITE_OK) {
			st_err(s, "prepare", sqlite3_errmsg(s->db));
			return -1;
		}
	}
	return 0;
}

struct store *
store_open(const char *path, char *err, size_t errlen)
{
	struct store *s;
	int rc;

	if (make_dir(path, err, errlen) < 0 || make_file(path, err, errlen) < 0)
		return NULL;
	if ((s = calloc(1, sizeof *s)) == NULL || (s->path = strdup(path)) == NULL ||
	    (s->md = EVP_MD_CTX_new()) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		store_close(s);
		return NULL;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		store_close(s);
		return NULL;
	}
	if (configure(s) < 0 || st_migrate(s) < 0 || prepare_all(s) < 0) {
		snprintf(err, errlen, "%s", s->err);
		store_close(s);
		return NULL;
	}
	return s;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	/* The last connection checkpoints; PERSIST_WAL keeps -wal and -shm. */
	sqlite3_close(s->db);
	EVP_MD_CTX_free(s->md);
	st_log_batch_free(s);
	free(s->path);
	free(s);
}

const char *
store_errmsg(struct store *s)
{
	return s->err;
}

void
store_set_alerts(struct store *s, unsigned mask)
{
	s->alerts = mask;
}
