/*
 * store.c: the daemon's writer of the SQLite history (contract in store.h,
 * schema in sql/).
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
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "ident.h"
#include "livecounts.h"
#include "migrations.h"
#include "store.h"

/* The daemon's event loop sleeps at most this long on a locked database. */
#define BUSY_TIMEOUT_MS		100
/* A WAL larger than this is truncated when it restarts (after a checkpoint). */
#define JOURNAL_SIZE_LIMIT	(8 * 1024 * 1024)
#define IDENT_LEN		16
#define DIR_MODE		0750
#define FILE_MODE		0640

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_INSTANCE_UPSERT,
	ST_INSTANCE_ACTIVE,
	ST_INSTANCE_RETIRE,
	ST_INSTANCE_POLL,
	ST_INSTANCE_FACTS,
	ST_CLIENT_SEEN,
	ST_CLIENT_INSERT,
	ST_ALERT_INSERT,
	ST_LIVE_INSERT,
	ST_CLIENT_LIVE_ADD,
	ST_LIVE_DELETE,
	ST_CLIENT_LIVE_END,
	ST_COVERAGE,
	ST_MISSED,
	ST_COUNTER_DROP,
	ST_COUNTER_INSERT,
	ST_LIVE_LIST,
	ST_COUNTER_LIST,
	ST_EXPIRE_COVERAGE,
	ST_EXPIRE_MISSED,
	ST_EXPIRE_ATTEMPT,
	ST_EXPIRE_SETTLE,
	ST_EXPIRE_LIVE,
	ST_DISCOVERY,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_INSTANCE_UPSERT] =
	    "INSERT INTO instance (cluster, host, port, role, added_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT (cluster, host, port) DO UPDATE "
	    "SET retired_at = NULL, role = excluded.role RETURNING id",
	[ST_INSTANCE_ACTIVE] = "SELECT id FROM instance WHERE retired_at IS NULL",
	[ST_INSTANCE_RETIRE] = "UPDATE instance SET retired_at = ?2 WHERE id = ?1",
	[ST_INSTANCE_POLL] =
	    "UPDATE instance SET last_attempt = ?2, "
	    "last_success = CASE WHEN ?3 THEN ?2 ELSE last_success END, "
	    "consecutive_failures = CASE WHEN ?3 THEN 0 ELSE consecutive_failures + 1 END, "
	    "polls_ok = polls_ok + CASE WHEN ?3 THEN 1 ELSE 0 END, "
	    "last_error = CASE WHEN ?3 THEN last_error ELSE ?4 END, "
	    "last_error_at = CASE WHEN ?3 THEN last_error_at ELSE ?2 END "
	    "WHERE id = ?1",
	[ST_INSTANCE_FACTS] =
	    "UPDATE instance SET facts_at = ?2, server_version = ?3, "
	    "server_version_num = ?4, ssl_enabled = ?5, force_ssl = ?6, "
	    "can_see_all_sessions = ?7, cert_subject = ?8, cert_issuer = ?9, "
	    "cert_not_before = ?10, cert_not_after = ?11, cert_sha256 = ?12 "
	    "WHERE id = ?1",
	/* A live client stays LIVE: see sql/002_live_counts.sql. */
	[ST_CLIENT_SEEN] =
	    "UPDATE client_data SET last_seen = CASE WHEN live > 0 THEN last_seen ELSE ?2 END, "
	    "samples = samples + ?3, "
	    "sessions = sessions + ?4, client_hostname = coalesce(?5, client_hostname) "
	    "WHERE ident = ?1 RETURNING id",
	[ST_CLIENT_INSERT] =
	    "INSERT INTO client_data (instance_id, ident, database, user, application, "
	    "client_addr, client_hostname, ssl, tls_version, cipher, bits, client_dn, "
	    "issuer_dn, first_seen, last_seen, sessions, samples) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15, ?16)",
	[ST_ALERT_INSERT] =
	    "INSERT INTO alert (client_id, event, state, next_attempt_ms, created_at) "
	    "VALUES (?1, ?2, 'pending', ?3, ?4)",
	/* After the poll's instance update: from_poll is the next poll. */
	[ST_LIVE_INSERT] =
	    "INSERT OR IGNORE INTO live_session (instance_id, pid, backend_start_us, "
	    "client_id, first_seen, from_poll) VALUES (?1, ?2, ?3, ?4, ?5, "
	    "(SELECT polls_ok + 1 FROM instance WHERE id = ?1))",
	[ST_CLIENT_LIVE_ADD] =
	    "UPDATE client_data SET live = live + 1, last_seen = " LIVE_LAST_SEEN ", "
	    "live_from = live_from + (SELECT polls_ok + 1 FROM instance WHERE id = ?2) "
	    "WHERE id = ?1",
	/* Before the poll's instance update: polls_ok and last_success are
	 * still those of the last poll that saw the session. */
	[ST_LIVE_DELETE] =
	    "DELETE FROM live_session "
	    "WHERE instance_id = ?1 AND pid = ?2 AND backend_start_us = ?3 "
	    "RETURNING client_id, from_poll",
	[ST_CLIENT_LIVE_END] =
	    "UPDATE client_data SET live = live - 1, live_from = live_from - ?2, "
	    "samples = samples + max(0, (SELECT polls_ok FROM instance WHERE id = ?3) + 1 - ?2), "
	    "last_seen = CASE WHEN live = 1 THEN coalesce((SELECT last_success FROM instance "
	    "WHERE id = ?3), first_seen) ELSE last_seen END "
	    "WHERE id = ?1 AND live > 0",
	[ST_COVERAGE] =
	    "INSERT INTO coverage (instance_id, hour, polls, failed_polls, largest_gap_ms, "
	    "sessions, single_poll_sessions, missed_sessions) "
	    "VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7) "
	    "ON CONFLICT (instance_id, hour) DO UPDATE SET "
	    "polls = polls + 1, failed_polls = failed_polls + excluded.failed_polls, "
	    "largest_gap_ms = max(largest_gap_ms, excluded.largest_gap_ms), "
	    "sessions = sessions + excluded.sessions, "
	    "single_poll_sessions = single_poll_sessions + excluded.single_poll_sessions, "
	    "missed_sessions = CASE WHEN excluded.missed_sessions IS NULL THEN missed_sessions "
	    "ELSE coalesce(missed_sessions, 0) + excluded.missed_sessions END",
	[ST_MISSED] =
	    "INSERT INTO missed_session (instance_id, hour, database, missed) "
	    "VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT (instance_id, hour, database) DO UPDATE "
	    "SET missed = missed + excluded.missed",
	[ST_COUNTER_DROP] = "DELETE FROM session_counter WHERE instance_id = ?1 AND datid = ?2",
	/* ?3 NULL: the discovery succeeded. */
	[ST_DISCOVERY] =
	    "INSERT INTO discovery (cluster, last_attempt, last_success, last_error, "
	    "last_error_at, consecutive_failures) VALUES (?1, ?2, "
	    "CASE WHEN ?3 IS NULL THEN ?2 END, ?3, CASE WHEN ?3 IS NOT NULL THEN ?2 END, "
	    "?3 IS NOT NULL) "
	    "ON CONFLICT (cluster) DO UPDATE SET last_attempt = ?2, "
	    "last_success = CASE WHEN ?3 IS NULL THEN ?2 ELSE last_success END, "
	    "last_error = coalesce(?3, last_error), "
	    "last_error_at = CASE WHEN ?3 IS NULL THEN last_error_at ELSE ?2 END, "
	    "consecutive_failures = CASE WHEN ?3 IS NULL THEN 0 "
	    "ELSE consecutive_failures + 1 END",
	[ST_COUNTER_INSERT] =
	    "INSERT OR REPLACE INTO session_counter (instance_id, datid, database, sessions, "
	    "stats_reset) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_LIVE_LIST] =
	    "SELECT pid, backend_start_us FROM live_session WHERE instance_id = ?1",
	[ST_COUNTER_LIST] =
	    "SELECT datid, database, sessions, stats_reset FROM session_counter "
	    "WHERE instance_id = ?1",
	[ST_EXPIRE_COVERAGE] = "DELETE FROM coverage WHERE hour < ?1",
	[ST_EXPIRE_MISSED] = "DELETE FROM missed_session WHERE hour < ?1",
	[ST_EXPIRE_ATTEMPT] =
	    "DELETE FROM alert_attempt WHERE ended_at < ?1 AND alert_id IN "
	    "(SELECT id FROM alert WHERE state IN ('ok', 'failed'))",
	/* Live sessions of retired instances end: their samples settle first. */
	[ST_EXPIRE_SETTLE] =
	    "UPDATE client_data SET samples = " LIVE_SAMPLES("client_data", "i") ", "
	    "live = 0, live_from = 0, last_seen = " LIVE_SEEN("client_data", "i") " "
	    "FROM instance i WHERE i.id = client_data.instance_id "
	    "AND i.retired_at IS NOT NULL AND client_data.live > 0",
	[ST_EXPIRE_LIVE] =
	    "DELETE FROM live_session WHERE instance_id IN "
	    "(SELECT id FROM instance WHERE retired_at IS NOT NULL)",
};

struct store {
	sqlite3 *db;
	char *path;
	unsigned alerts;
	EVP_MD_CTX *md;
	int bind_rc;		/* first failed bind since stmt() */
	char ctx[96];		/* what the current public call is about */
	char err[768];
	sqlite3_stmt *st[ST_COUNT];
};

/* ---- errors ---------------------------------------------------------- */

static void
seterr(struct store *s, const char *what, const char *why)
{
	snprintf(s->err, sizeof s->err, "%s: %s%s%s: %s", s->path, s->ctx,
		 s->ctx[0] ? ": " : "", what, why);
}

static void setctx(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
setctx(struct store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->ctx, sizeof s->ctx, fmt, ap);
	va_end(ap);
}

/* ---- statements ------------------------------------------------------ */

static sqlite3_stmt *
stmt(struct store *s, enum stmt_id id)
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
static void
b_text(struct store *s, sqlite3_stmt *st, int i, const char *v)
{
	note_bind(s, v ? sqlite3_bind_text64(st, i, v, strlen(v), SQLITE_STATIC, SQLITE_UTF8)
		       : sqlite3_bind_null(st, i));
}

/* A text that is never NULL in the schema. */
static void
b_text_nn(struct store *s, sqlite3_stmt *st, int i, const char *v)
{
	b_text(s, st, i, v ? v : "");
}

static void
b_int(struct store *s, sqlite3_stmt *st, int i, int64_t v)
{
	note_bind(s, sqlite3_bind_int64(st, i, v));
}

static void
b_int_or_null(struct store *s, sqlite3_stmt *st, int i, bool present, int64_t v)
{
	note_bind(s, present ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i));
}

static void
b_blob(struct store *s, sqlite3_stmt *st, int i, const void *v, int n)
{
	note_bind(s, sqlite3_bind_blob(st, i, v, n, SQLITE_STATIC));
}

/* Leaves st ready for the next use; bound pointers are not kept. */
static void
finish(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/*
 * Steps st once. Returns SQLITE_ROW or SQLITE_DONE, or -1 with the error
 * recorded (prefixed with `what`) and st reset.
 */
static int
step(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc;

	if (s->bind_rc != SQLITE_OK) {
		seterr(s, what, sqlite3_errstr(s->bind_rc));
		finish(st);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	seterr(s, what, sqlite3_errmsg(s->db));
	finish(st);
	return -1;
}

/* Runs a statement whose rows (if any) are not needed. */
static int
run(struct store *s, sqlite3_stmt *st, const char *what)
{
	if (step(s, st, what) < 0)
		return -1;
	finish(st);
	return 0;
}

static int
tx_begin(struct store *s)
{
	return run(s, stmt(s, ST_BEGIN), "BEGIN IMMEDIATE");
}

/* Ends a failed transaction; SQLite may already have rolled it back. */
static void
tx_abort(struct store *s)
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
	finish(st);
}

static int
tx_commit(struct store *s)
{
	if (run(s, stmt(s, ST_COMMIT), "COMMIT") == 0)
		return 0;
	tx_abort(s);
	return -1;
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

/* Runs SQL without values (pragmas, migrations). */
static int
exec_sql(struct store *s, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	seterr(s, what, msg ? msg : sqlite3_errmsg(s->db));
	sqlite3_free(msg);
	return -1;
}

static int
pragma_int(struct store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		seterr(s, sql, sqlite3_errmsg(s->db));
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		seterr(s, sql, sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return -1;
	}
	*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int
configure(struct store *s)
{
	char sql[64];
	const unsigned char *mode;
	sqlite3_stmt *st;
	int one = 1, ok;

	if (sqlite3_db_readonly(s->db, "main") == 1) {
		seterr(s, "open", "the database is read-only for this user");
		return -1;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK) {
		seterr(s, "PRAGMA journal_mode", sqlite3_errmsg(s->db));
		return -1;
	}
	ok = sqlite3_step(st) == SQLITE_ROW && (mode = sqlite3_column_text(st, 0)) != NULL &&
	     strcmp((const char *)mode, "wal") == 0;
	if (!ok)
		seterr(s, "PRAGMA journal_mode = WAL", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	if (!ok)
		return -1;
	/* Readers open read-only; they need -wal and -shm to exist after we stop. */
	if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one) != SQLITE_OK) {
		seterr(s, "SQLITE_FCNTL_PERSIST_WAL", sqlite3_errmsg(s->db));
		return -1;
	}
	snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %d", JOURNAL_SIZE_LIMIT);
	if (exec_sql(s, "PRAGMA synchronous = NORMAL", "PRAGMA synchronous") < 0 ||
	    exec_sql(s, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys") < 0 ||
	    exec_sql(s, sql, "PRAGMA journal_size_limit") < 0)
		return -1;
	return 0;
}

/* Brings the schema from user_version v to v + 1. */
static int
migrate_one(struct store *s, int v)
{
	char sql[64], what[128];
	int64_t now;

	snprintf(what, sizeof what, "migration %s", migrations[v].name);
	if (exec_sql(s, "BEGIN IMMEDIATE", what) < 0)
		return -1;
	/* Another process may have migrated while we waited for the lock. */
	if (pragma_int(s, "PRAGMA user_version", &now) < 0)
		goto fail;
	if (now != v) {
		exec_sql(s, "ROLLBACK", what);
		return 0;
	}
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
	if (exec_sql(s, migrations[v].sql, what) < 0 || exec_sql(s, sql, what) < 0 ||
	    exec_sql(s, "COMMIT", what) < 0)
		goto fail;
	return 0;
fail:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int
migrate(struct store *s)
{
	int64_t v;
	char why[128];

	for (;;) {
		if (pragma_int(s, "PRAGMA user_version", &v) < 0)
			return -1;
		if (v == migration_count)
			return 0;
		if (v > migration_count || v < 0) {
			snprintf(why, sizeof why,
				 "schema version %" PRId64 " is newer than this program knows (%d)",
				 v, migration_count);
			seterr(s, "open", why);
			return -1;
		}
		if (migrate_one(s, (int)v) < 0)
			return -1;
	}
}

static int
prepare_all(struct store *s)
{
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &s->st[i], NULL) != SQLITE_OK) {
			seterr(s, "prepare", sqlite3_errmsg(s->db));
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
	if (configure(s) < 0 || migrate(s) < 0 || prepare_all(s) < 0) {
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
	free(s->path);
	free(s);
}

sqlite3 *
store_db(struct store *s)
{
	return s->db;
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

/* ---- instances ------------------------------------------------------- */

int64_t
store_instance(struct store *s, const char *cluster, const char *host, int port,
	       const char *role)
{
	sqlite3_stmt *st;
	int64_t id;
	int rc;

	setctx(s, "instance %s/%s:%d", cluster, host, port);
	if (tx_begin(s) < 0)
		return -1;
	st = stmt(s, ST_INSTANCE_UPSERT);
	b_text_nn(s, st, 1, cluster);
	b_text_nn(s, st, 2, host);
	b_int(s, st, 3, port);
	b_text(s, st, 4, role);
	b_int(s, st, 5, (int64_t)time(NULL));
	if ((rc = step(s, st, "upsert instance")) != SQLITE_ROW) {
		if (rc == SQLITE_DONE) {
			seterr(s, "upsert instance", "no id returned");
			finish(st);
		}
		tx_abort(s);
		return -1;
	}
	id = sqlite3_column_int64(st, 0);
	finish(st);
	if (tx_commit(s) < 0)
		return -1;
	return id;
}

static bool
kept(const int64_t *keep, size_t nkeep, int64_t id)
{
	for (size_t i = 0; i < nkeep; i++)
		if (keep[i] == id)
			return true;
	return false;
}

/* The ids of instances not yet retired and not in keep[]. */
static int
to_retire(struct store *s, const int64_t *keep, size_t nkeep, int64_t **ids, size_t *n)
{
	sqlite3_stmt *st = stmt(s, ST_INSTANCE_ACTIVE);
	size_t cap = 0;
	int64_t *grown, id;
	int rc;

	*ids = NULL;
	*n = 0;
	while ((rc = step(s, st, "list instances")) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		if (kept(keep, nkeep, id))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			if ((grown = realloc(*ids, cap * sizeof *grown)) == NULL) {
				seterr(s, "list instances", "out of memory");
				finish(st);
				return -1;
			}
			*ids = grown;
		}
		(*ids)[(*n)++] = id;
	}
	if (rc < 0)
		return -1;
	finish(st);
	return 0;
}

int
store_discovery(struct store *s, const char *cluster, int64_t now, const char *error)
{
	sqlite3_stmt *st;

	setctx(s, "discovery of cluster %s", cluster);
	if (tx_begin(s) < 0)
		return -1;
	st = stmt(s, ST_DISCOVERY);
	b_text_nn(s, st, 1, cluster);
	b_int(s, st, 2, now);
	b_text(s, st, 3, error);
	if (run(s, st, "record discovery") < 0) {
		tx_abort(s);
		return -1;
	}
	return tx_commit(s);
}

int
store_retire_others(struct store *s, const int64_t *keep, size_t nkeep, int64_t now)
{
	int64_t *ids = NULL;
	size_t n = 0;
	sqlite3_stmt *st;

	setctx(s, "retire instances");
	if (tx_begin(s) < 0)
		return -1;
	if (to_retire(s, keep, nkeep, &ids, &n) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		st = stmt(s, ST_INSTANCE_RETIRE);
		b_int(s, st, 1, ids[i]);
		b_int(s, st, 2, now);
		if (run(s, st, "retire instance") < 0)
			goto fail;
	}
	free(ids);
	return tx_commit(s);
fail:
	free(ids);
	tx_abort(s);
	return -1;
}

/* ---- reading back ---------------------------------------------------- */

int
store_live_sessions(struct store *s, int64_t instance_id,
		    void (*fn)(void *arg, int32_t pid, int64_t backend_start_us), void *arg)
{
	sqlite3_stmt *st = stmt(s, ST_LIVE_LIST);
	int rc;

	setctx(s, "instance %" PRId64, instance_id);
	b_int(s, st, 1, instance_id);
	while ((rc = step(s, st, "list live sessions")) == SQLITE_ROW)
		fn(arg, (int32_t)sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
	if (rc < 0)
		return -1;
	finish(st);
	return 0;
}

int
store_counters(struct store *s, int64_t instance_id,
	       void (*fn)(void *arg, uint32_t datid, const char *database, int64_t sessions,
			  const char *stats_reset), void *arg)
{
	sqlite3_stmt *st = stmt(s, ST_COUNTER_LIST);
	int rc;

	setctx(s, "instance %" PRId64, instance_id);
	b_int(s, st, 1, instance_id);
	while ((rc = step(s, st, "list session counters")) == SQLITE_ROW)
		fn(arg, (uint32_t)sqlite3_column_int64(st, 0),
		   (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2),
		   (const char *)sqlite3_column_text(st, 3));
	if (rc < 0)
		return -1;
	finish(st);
	return 0;
}

/* ---- store_apply ----------------------------------------------------- */

static void
md_u64(EVP_MD_CTX *md, uint64_t v, int *ok)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (56 - 8 * i));
	*ok &= EVP_DigestUpdate(md, b, sizeof b);
}

/* A tag byte (0 NULL, 1 value), then the length and the bytes. */
static void
md_str(EVP_MD_CTX *md, const char *v, int *ok)
{
	unsigned char tag = v != NULL;
	size_t n;

	*ok &= EVP_DigestUpdate(md, &tag, 1);
	if (v == NULL)
		return;
	n = strlen(v);
	md_u64(md, n, ok);
	*ok &= EVP_DigestUpdate(md, v, n);
}

static void
md_int(EVP_MD_CTX *md, bool present, int64_t v, int *ok)
{
	unsigned char tag = present;

	*ok &= EVP_DigestUpdate(md, &tag, 1);
	if (present)
		md_u64(md, (uint64_t)v, ok);
}

/*
 * SPEC's client identity as a digest. The encoding is unambiguous (every
 * field tagged and length-prefixed), so NULL and '' and shifted field
 * boundaries give different digests. Changing it splits every client.
 */
static int
client_ident(struct store *s, int64_t instance_id, const struct client_key *k,
	     unsigned char out[IDENT_LEN])
{
	static const char version[] = "sslhist client v1";
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int ok = EVP_DigestInit_ex(s->md, EVP_sha256(), NULL);

	ok &= EVP_DigestUpdate(s->md, version, sizeof version);
	md_int(s->md, true, instance_id, &ok);
	md_str(s->md, k->database, &ok);
	md_str(s->md, k->user, &ok);
	md_str(s->md, k->application, &ok);
	md_str(s->md, k->client_addr, &ok);
	md_int(s->md, true, k->ssl, &ok);
	md_str(s->md, k->tls_version, &ok);
	md_str(s->md, k->cipher, &ok);
	md_int(s->md, k->bits >= 0, k->bits, &ok);
	md_str(s->md, k->client_dn, &ok);
	md_str(s->md, k->issuer_dn, &ok);
	ok &= EVP_DigestFinal_ex(s->md, full, &len);
	if (!ok || len < IDENT_LEN) {
		seterr(s, "client identity", "SHA-256 failed");
		return -1;
	}
	memcpy(out, full, IDENT_LEN);
	return 0;
}

static int64_t
at_s(const struct poll_record *r)
{
	return r->at_ms / 1000;
}

/* Start of the hour of at_ms, in Unix seconds (floor, also before 1970). */
static int64_t
hour_of(const struct poll_record *r)
{
	int64_t t = r->at_ms / 1000;

	if (r->at_ms % 1000 < 0)
		t--;
	return t - ((t % 3600) + 3600) % 3600;
}

static int
apply_facts(struct store *s, const struct poll_record *r)
{
	const struct instance_facts *f = r->facts;
	const struct server_cert *c = &f->cert;
	bool cert = c->subject || c->issuer || c->sha256;
	sqlite3_stmt *st = stmt(s, ST_INSTANCE_FACTS);

	b_int(s, st, 1, r->instance_id);
	b_int(s, st, 2, at_s(r));
	b_text(s, st, 3, f->server_version);
	b_int_or_null(s, st, 4, f->server_version_num > 0, f->server_version_num);
	b_int_or_null(s, st, 5, f->ssl_enabled >= 0, f->ssl_enabled);
	b_text(s, st, 6, f->force_ssl);
	b_int_or_null(s, st, 7, f->can_see_all_sessions >= 0, f->can_see_all_sessions);
	b_text(s, st, 8, c->subject);
	b_text(s, st, 9, c->issuer);
	b_int_or_null(s, st, 10, cert, c->not_before);
	b_int_or_null(s, st, 11, cert, c->not_after);
	b_text(s, st, 12, c->sha256);
	return run(s, st, "update instance facts");
}

static int
apply_instance(struct store *s, const struct poll_record *r)
{
	sqlite3_stmt *st = stmt(s, ST_INSTANCE_POLL);

	b_int(s, st, 1, r->instance_id);
	b_int(s, st, 2, at_s(r));
	b_int(s, st, 3, r->ok);
	b_text(s, st, 4, r->error ? r->error : "unknown error");
	if (run(s, st, "update instance") < 0)
		return -1;
	if (sqlite3_changes(s->db) != 1) {
		seterr(s, "update instance", "no such instance");
		return -1;
	}
	return r->facts ? apply_facts(s, r) : 0;
}

static int
insert_alert(struct store *s, const struct poll_record *r, int64_t client_id, const char *event)
{
	sqlite3_stmt *st = stmt(s, ST_ALERT_INSERT);

	b_int(s, st, 1, client_id);
	b_text(s, st, 2, event);
	b_int(s, st, 3, r->at_ms);
	b_int(s, st, 4, at_s(r));
	return run(s, st, "insert alert");
}

/* The alert rows of a newly stored client, decided once, ever. */
static int
new_client_alerts(struct store *s, const struct poll_record *r, const struct client_key *k,
		  int64_t id)
{
	if ((s->alerts & ALERT_NON_SSL) && !k->ssl && insert_alert(s, r, id, "non-ssl") < 0)
		return -1;
	if ((s->alerts & ALERT_WEAK_TLS) && k->ssl && ident_tls_weak(k->tls_version) &&
	    insert_alert(s, r, id, "weak-tls") < 0)
		return -1;
	if ((s->alerts & ALERT_NEW_CLIENT) && insert_alert(s, r, id, "new-client") < 0)
		return -1;
	return 0;
}

static int
insert_client(struct store *s, const struct poll_record *r, const struct client_obs *c,
	      const unsigned char *ident, int64_t *id)
{
	const struct client_key *k = &c->key;
	sqlite3_stmt *st = stmt(s, ST_CLIENT_INSERT);

	b_int(s, st, 1, r->instance_id);
	b_blob(s, st, 2, ident, IDENT_LEN);
	b_text(s, st, 3, k->database);
	b_text(s, st, 4, k->user);
	b_text(s, st, 5, k->application);
	b_text(s, st, 6, k->client_addr);
	b_text(s, st, 7, c->client_hostname);
	b_int(s, st, 8, k->ssl);
	b_text(s, st, 9, k->tls_version);
	b_text(s, st, 10, k->cipher);
	b_int_or_null(s, st, 11, k->bits >= 0, k->bits);
	b_text(s, st, 12, k->client_dn);
	b_text(s, st, 13, k->issuer_dn);
	b_int(s, st, 14, at_s(r));
	b_int(s, st, 15, c->new_sessions);
	b_int(s, st, 16, c->samples);
	if (run(s, st, "insert client") < 0)
		return -1;
	*id = sqlite3_last_insert_rowid(s->db);
	return new_client_alerts(s, r, k, *id);
}

/* Updates the client if known, else inserts it; its row id goes to *id. */
static int
apply_client(struct store *s, const struct poll_record *r, const struct client_obs *c,
	     int64_t *id, int *inserted)
{
	unsigned char ident[IDENT_LEN];
	sqlite3_stmt *st;
	int rc;

	if (client_ident(s, r->instance_id, &c->key, ident) < 0)
		return -1;
	st = stmt(s, ST_CLIENT_SEEN);
	b_blob(s, st, 1, ident, IDENT_LEN);
	b_int(s, st, 2, at_s(r));
	b_int(s, st, 3, c->samples);
	b_int(s, st, 4, c->new_sessions);
	b_text(s, st, 5, c->client_hostname);
	if ((rc = step(s, st, "update client")) < 0)
		return -1;
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	finish(st);
	if (rc == SQLITE_ROW)
		return 0;
	(*inserted)++;
	return insert_client(s, r, c, ident, id);
}

static int
bad_ref(struct store *s, const struct poll_record *r, const struct session_ref *ref)
{
	char why[96];

	snprintf(why, sizeof why, "session of pid %" PRId32 " refers to client %zu of %zu",
		 ref->pid, ref->client, r->nclients);
	seterr(s, "insert live session", why);
	return -1;
}

/* New sessions: live_session rows, counted live in their client. */
static int
apply_new_sessions(struct store *s, const struct poll_record *r, const int64_t *ids)
{
	const struct session_ref *ref;
	sqlite3_stmt *st;

	for (size_t i = 0; i < r->n_new; i++) {
		ref = &r->new_sessions[i];
		if (ref->client >= r->nclients)
			return bad_ref(s, r, ref);
		st = stmt(s, ST_LIVE_INSERT);
		b_int(s, st, 1, r->instance_id);
		b_int(s, st, 2, ref->pid);
		b_int(s, st, 3, ref->backend_start_us);
		b_int(s, st, 4, ids[ref->client]);
		b_int(s, st, 5, at_s(r));
		if (run(s, st, "insert live session") < 0)
			return -1;
		if (sqlite3_changes(s->db) == 0)
			continue;	/* known already: counted */
		st = stmt(s, ST_CLIENT_LIVE_ADD);
		b_int(s, st, 1, ids[ref->client]);
		b_int(s, st, 2, r->instance_id);
		if (run(s, st, "count live session") < 0)
			return -1;
	}
	return 0;
}

/* One ended session: its row goes, its samples settle into its client. */
static int
end_session(struct store *s, const struct poll_record *r, const struct session_ref *ref)
{
	sqlite3_stmt *st = stmt(s, ST_LIVE_DELETE);
	int64_t client, from;
	int rc;

	b_int(s, st, 1, r->instance_id);
	b_int(s, st, 2, ref->pid);
	b_int(s, st, 3, ref->backend_start_us);
	if ((rc = step(s, st, "delete live session")) < 0)
		return -1;
	if (rc != SQLITE_ROW) {		/* never stored (e.g. a dropped record) */
		finish(st);
		return 0;
	}
	client = sqlite3_column_int64(st, 0);
	from = sqlite3_column_int64(st, 1);
	/* RETURNING: the statement must run to its end to delete. */
	while ((rc = step(s, st, "delete live session")) == SQLITE_ROW)
		;
	if (rc < 0)
		return -1;
	finish(st);
	st = stmt(s, ST_CLIENT_LIVE_END);
	b_int(s, st, 1, client);
	b_int(s, st, 2, from);
	b_int(s, st, 3, r->instance_id);
	return run(s, st, "settle ended session");
}

static int
apply_ended_sessions(struct store *s, const struct poll_record *r)
{
	for (size_t i = 0; i < r->n_ended; i++)
		if (end_session(s, r, &r->ended_sessions[i]) < 0)
			return -1;
	return 0;
}

static int
apply_coverage(struct store *s, const struct poll_record *r)
{
	sqlite3_stmt *st = stmt(s, ST_COVERAGE);
	int64_t single = 0, missed = 0, begun = 0;
	bool counted = r->counters_known && r->baseline_known;

	for (size_t i = 0; i < r->n_ended; i++)
		single += r->ended_sessions[i].single_poll && !r->ended_sessions[i].moved;
	for (size_t i = 0; i < r->n_new; i++)
		begun += !r->new_sessions[i].moved;
	for (size_t i = 0; r->counters_known && i < r->ncounters; i++) {
		if (r->counters[i].missed >= 0) {
			missed += r->counters[i].missed;
			counted = true;
		}
	}
	b_int(s, st, 1, r->instance_id);
	b_int(s, st, 2, hour_of(r));
	b_int(s, st, 3, !r->ok);
	b_int(s, st, 4, r->ok && r->gap_ms > 0 ? r->gap_ms : 0);
	b_int(s, st, 5, begun);
	b_int(s, st, 6, single);
	b_int_or_null(s, st, 7, counted, missed);
	return run(s, st, "update coverage");
}

/* Missed sessions per database, and the counters that changed. */
static int
apply_counters(struct store *s, const struct poll_record *r)
{
	const struct db_counter *c;
	sqlite3_stmt *st;

	if (!r->counters_known)
		return 0;
	for (size_t i = 0; i < r->ncounters; i++) {
		c = &r->counters[i];
		if (c->missed <= 0)
			continue;
		st = stmt(s, ST_MISSED);
		b_int(s, st, 1, r->instance_id);
		b_int(s, st, 2, hour_of(r));
		b_text_nn(s, st, 3, c->database);
		b_int(s, st, 4, c->missed);
		if (run(s, st, "update missed sessions") < 0)
			return -1;
	}
	for (size_t i = 0; i < r->ndropped; i++) {
		st = stmt(s, ST_COUNTER_DROP);
		b_int(s, st, 1, r->instance_id);
		b_int(s, st, 2, r->dropped[i]);
		if (run(s, st, "drop session counter") < 0)
			return -1;
	}
	for (size_t i = 0; i < r->ncounters; i++) {
		c = &r->counters[i];
		st = stmt(s, ST_COUNTER_INSERT);
		b_int(s, st, 1, r->instance_id);
		b_int(s, st, 2, c->datid);
		b_text_nn(s, st, 3, c->database);
		b_int(s, st, 4, c->sessions);
		b_text(s, st, 5, c->stats_reset);
		if (run(s, st, "insert session counter") < 0)
			return -1;
	}
	return 0;
}

static int
apply_all(struct store *s, const struct poll_record *r, int64_t *ids, int *inserted)
{
	/* Ended sessions settle against the instance as the last poll left it. */
	if (apply_ended_sessions(s, r) < 0 || apply_instance(s, r) < 0)
		return -1;
	for (size_t i = 0; i < r->nclients; i++)
		if (apply_client(s, r, &r->clients[i], &ids[i], inserted) < 0)
			return -1;
	if (apply_new_sessions(s, r, ids) < 0 || apply_coverage(s, r) < 0 ||
	    apply_counters(s, r) < 0)
		return -1;
	return 0;
}

int
store_apply(struct store *s, const struct poll_record *r, int *new_clients)
{
	int64_t *ids = NULL;
	int inserted = 0;

	setctx(s, "store poll of instance %" PRId64, r->instance_id);
	if (r->nclients > 0 && (ids = calloc(r->nclients, sizeof *ids)) == NULL) {
		seterr(s, "apply", "out of memory");
		return -1;
	}
	if (tx_begin(s) < 0) {
		free(ids);
		return -1;
	}
	if (apply_all(s, r, ids, &inserted) < 0) {
		tx_abort(s);
		free(ids);
		return -1;
	}
	free(ids);
	if (tx_commit(s) < 0)
		return -1;
	if (new_clients != NULL)
		*new_clients += inserted;
	return 0;
}

/* ---- maintenance ----------------------------------------------------- */

int
store_expire(struct store *s, int64_t before)
{
	static const struct {
		enum stmt_id id;
		const char *what;
		bool bind;
	} steps[] = {
		{ ST_EXPIRE_COVERAGE, "expire coverage", true },
		{ ST_EXPIRE_MISSED, "expire missed sessions", true },
		{ ST_EXPIRE_ATTEMPT, "expire alert attempts", true },
		{ ST_EXPIRE_SETTLE, "settle live sessions of retired instances", false },
		{ ST_EXPIRE_LIVE, "expire live sessions of retired instances", false },
	};
	sqlite3_stmt *st;

	setctx(s, "expire before %" PRId64, before);
	if (tx_begin(s) < 0)
		return -1;
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		st = stmt(s, steps[i].id);
		if (steps[i].bind)
			b_int(s, st, 1, before);
		if (run(s, st, steps[i].what) < 0) {
			tx_abort(s);
			return -1;
		}
	}
	return tx_commit(s);
}

void
store_checkpoint(struct store *s)
{
	setctx(s, "checkpoint");
	if (sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) !=
	    SQLITE_OK)
		seterr(s, "wal_checkpoint(PASSIVE)", sqlite3_errmsg(s->db));
}
