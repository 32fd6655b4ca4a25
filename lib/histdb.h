/*
 * histdb.h: how the query tool finds and opens the history database.
 *
 * Read-only opening never blocks the daemon and works:
 * - while the daemon runs, and after it stopped with -wal/-shm left in
 *   place (the store sets SQLITE_FCNTL_PERSIST_WAL): SQLite reads a WAL
 *   database with a read-only -shm since 3.22;
 * - as a user in the file's group who cannot create files in the
 *   directory (0640 file, 0750 directory), even when -wal is gone: a
 *   read-only WAL open then fails (SQLite must create -wal/-shm), and only
 *   in that case, when the -wal file does not exist, the file is reopened
 *   with `immutable=1`. That is safe because without a -wal file every
 *   committed transaction is in the main file (SQLite deletes -wal only
 *   after a full checkpoint) and no writer is running (a running writer
 *   always has its -wal open). The one race is a daemon that starts during the
 *   command: it writes into its new -wal, and the main file changes only
 *   at its first checkpoint, which runs from a timer well after start-up;
 *   a command still reading then could see a torn page and fail.
 */
#ifndef SSLHIST_HISTDB_H
#define SSLHIST_HISTDB_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

struct config;

/* Readers may wait this long for a writer's brief exclusive moments. */
#define HISTDB_READ_BUSY_MS 5000
/* prune waits this long for the daemon's write transaction. */
#define HISTDB_WRITE_BUSY_MS 10000

/*
 * The database path of docs/CONTRACT.md section 4: db_opt (--db), else $SSLHIST_DB,
 * else `database` of cfg (may be NULL), else CONFIG_DEFAULT_DB. Returns a
 * fresh string, or NULL when out of memory.
 */
char *histdb_path(const char *db_opt, const struct config *cfg);

enum histdb_mode {
	HISTDB_RO,	/* query_only, busy timeout HISTDB_READ_BUSY_MS, the
			 * immutable fallback above */
	HISTDB_RW,	/* foreign_keys=ON, busy timeout HISTDB_WRITE_BUSY_MS */
};

/*
 * Opens `path` (an existing regular file, never created) in `mode` and
 * checks that it holds the sslhist schema of this version. On failure
 * returns NULL and a message naming the path in err. *immutable (may be
 * NULL) tells whether the immutable fallback was taken.
 */
sqlite3 *histdb_open(const char *path, enum histdb_mode mode, bool *immutable, char *err,
		     size_t errlen);

/*
 * Attaches `path` to db (opened by histdb_open in HISTDB_RO) read-only as
 * schema `name`, with the same checks and the same immutable fallback as
 * histdb_open (so every file holds the schema of this version). On
 * failure the file is detached again and err names the path.
 */
int histdb_attach(sqlite3 *db, const char *path, const char *name, bool *immutable, char *err,
		  size_t errlen);

#endif
