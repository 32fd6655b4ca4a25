/*
 * cmd_snapshot.c: `sslhist snapshot --to FILE [--force]`, a consistent copy
 * of the live history, to ship to a central host (docs/CONTRACT.md
 * section 4).
 *
 * SQLite's online backup API copies the pages. The source connection opens
 * a read transaction first and holds it across every step, so all steps
 * read one snapshot: the copy holds exactly what was committed when the
 * command began, and the backup never restarts (SQLite restarts a backup
 * only when the source changes between two steps of a backup that has no
 * read transaction of its own to keep). The daemon is never blocked: in WAL
 * mode its commits go on into the -wal, and a checkpoint stops at our read
 * mark instead of waiting; only the -wal grows while the copy runs.
 * Steps copy STEP_PAGES pages each; SQLITE_BUSY or SQLITE_LOCKED (a brief
 * lock of either file) is retried after a short sleep, for at most
 * BUSY_WAIT_MS in all.
 *
 * The copy is written into a temporary file in FILE's directory (mode
 * 0640), turned into a self-contained rollback-journal database (no -wal
 * needed to read it), checked (PRAGMA quick_check), and only then put in
 * place: with link(2), which fails if FILE exists (so a FILE that appeared
 * meanwhile is not overwritten either), or with --force by rename(2), which
 * replaces FILE atomically. A reader of FILE sees the old file or the whole
 * new one, never a part. On any failure, and on SIGINT, SIGTERM or SIGHUP,
 * the temporary file is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define STEP_PAGES	1024	/* 4 MiB of 4 KiB pages per step */
#define BUSY_SLEEP_MS	20
#define BUSY_WAIT_MS	10000

static const char usage_text[] =
	"usage: sslhist snapshot --to FILE [--force]\n"
	"\n"
	"Writes a consistent copy of the history (one --db) to FILE, safe while\n"
	"sslhistd writes: everything committed before the command began is in it.\n"
	"The copy is one self-contained SQLite file (mode 0640) that every sslhist\n"
	"command reads, e.g. with several --db on a central host.\n"
	"\n"
	"  --to FILE   where to write it; an existing FILE is an error...\n"
	"  --force     ...unless this is given: FILE is then replaced atomically\n";

struct snap {
	const char *to;
	bool force;
	char *src_path;
	char *tmp;		/* the temporary file, while it exists */
};

/* The temporary file while it exists, for the signal handler. */
static char *volatile signal_tmp;

/* SIGINT, SIGTERM, SIGHUP during the copy: the temporary file goes (unlink
 * is async-signal-safe), then the signal does what it would have done. */
static void
on_signal(int sig)
{
	char *p = signal_tmp;

	if (p != NULL)
		unlink(p);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
guard_temp(char *path)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;

	signal_tmp = path;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = path != NULL ? on_signal : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* "DIR/.BASE.tmp-XXXXXX" beside `to`, created 0640. -1 after an error. */
static int
make_temp(struct snap *s)
{
	char *d = strdup(s->to), *b = strdup(s->to);
	const char *dir, *base;
	size_t n;
	int fd = -1;

	if (d == NULL || b == NULL)
		goto oom;
	dir = dirname(d);	/* each may change its argument: called once */
	base = basename(b);
	n = strlen(dir) + strlen(base) + 16;
	if ((s->tmp = malloc(n)) == NULL)
		goto oom;
	snprintf(s->tmp, n, "%s/.%s.tmp-XXXXXX", dir, base);
	guard_temp(s->tmp);	/* before it exists: no window without the guard */
	if ((fd = mkstemp(s->tmp)) < 0) {
		guard_temp(NULL);
		cli_error("%s: cannot create a file in its directory: %s", s->to, strerror(errno));
		free(s->tmp);
		s->tmp = NULL;
	} else if (fchmod(fd, 0640) != 0) {	/* the caller removes it */
		cli_error("%s: %s", s->tmp, strerror(errno));
		close(fd);
		fd = -1;
	} else {
		close(fd);
	}
	free(d);
	free(b);
	return fd < 0 ? -1 : 0;
oom:
	free(d);
	free(b);
	cli_error("out of memory");
	return -1;
}

/* The copy, step by step, from the snapshot src holds open. */
static int
copy_pages(sqlite3 *src, sqlite3 *dst, const char *to)
{
	sqlite3_backup *bk = sqlite3_backup_init(dst, "main", src, "main");
	int rc, waited = 0;

	if (bk == NULL) {
		cli_error("%s: cannot start the copy: %s", to, sqlite3_errmsg(dst));
		return -1;
	}
	for (;;) {
		rc = sqlite3_backup_step(bk, STEP_PAGES);
		if (rc == SQLITE_DONE)
			break;
		if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
			if (waited >= BUSY_WAIT_MS)
				break;
			sqlite3_sleep(BUSY_SLEEP_MS);
			waited += BUSY_SLEEP_MS;
			continue;
		}
		if (rc != SQLITE_OK)
			break;
	}
	sqlite3_backup_finish(bk);
	if (rc != SQLITE_DONE) {
		cli_error("%s: copy failed%s: %s", to,
			  waited >= BUSY_WAIT_MS ? " (still locked after 10 s)" : "",
			  sqlite3_errstr(rc));
		return -1;
	}
	return 0;
}

/* One-row text result of `sql` on db is `want`. */
static bool
pragma_is(sqlite3 *db, const char *sql, const char *want, char *got, size_t len)
{
	sqlite3_stmt *st;
	bool ok = false;

	snprintf(got, len, "%s", sqlite3_errmsg(db));
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return false;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL) {
		snprintf(got, len, "%s", (const char *)sqlite3_column_text(st, 0));
		ok = strcmp(got, want) == 0;
	}
	sqlite3_finalize(st);
	return ok;
}

/* Copies into s->tmp: 0, or -1 after an error was printed. */
static int
write_copy(struct cli *c, struct snap *s)
{
	sqlite3 *src, *dst = NULL;
	char got[256];
	int rc = -1;
	struct stat a, b;

	/* The temporary file first: it is where a copy that cannot start
	 * (no such directory) fails soonest, and from here on a signal or an
	 * error removes it. */
	if (make_temp(s) < 0)
		return -1;
	if ((src = cli_open(c, HISTDB_RO, &s->src_path)) == NULL)
		return -1;
	if (stat(s->src_path, &a) == 0 && stat(s->to, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino) {
		cli_error("%s: is the history itself", s->to);
		goto done;
	}
	/* The read transaction that pins the snapshot (see the top). */
	if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		cli_error("%s: %s", s->src_path, sqlite3_errmsg(src));
		goto done;
	}
	if (sqlite3_open_v2(s->tmp, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		cli_error("%s: %s", s->tmp, dst ? sqlite3_errmsg(dst) : "cannot open");
		goto done;
	}
	if (copy_pages(src, dst, s->to) < 0)
		goto done;
	sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
	/* A shipped file must not need its -wal: back to a rollback journal. */
	if (!pragma_is(dst, "PRAGMA journal_mode = DELETE", "delete", got, sizeof(got))) {
		cli_error("%s: journal mode: %s", s->to, got);
		goto done;
	}
	if (!pragma_is(dst, "PRAGMA quick_check", "ok", got, sizeof(got))) {
		cli_error("%s: the copy fails its check: %s", s->to, got);
		goto done;
	}
	rc = 0;
done:
	if (sqlite3_close(dst) != SQLITE_OK && rc == 0) {
		cli_error("%s: %s", s->to, sqlite3_errmsg(dst));
		rc = -1;
	}
	sqlite3_close(src);
	return rc;
}

/* The directory entry is durable too. */
static void
sync_dir(const char *path)
{
	char *d = strdup(path);
	int fd;

	if (d == NULL)
		return;
	if ((fd = open(dirname(d), O_RDONLY | O_DIRECTORY)) >= 0) {
		fsync(fd);
		close(fd);
	}
	free(d);
}

static int
put_in_place(struct snap *s)
{
	if (s->force) {
		if (rename(s->tmp, s->to) != 0) {
			cli_error("%s: cannot replace: %s", s->to, strerror(errno));
			return -1;
		}
	} else {
		if (link(s->tmp, s->to) != 0) {
			if (errno == EEXIST)
				cli_error("%s: exists (--force replaces it)", s->to);
			else
				cli_error("%s: %s", s->to, strerror(errno));
			return -1;
		}
		unlink(s->tmp);
	}
	guard_temp(NULL);
	free(s->tmp);
	s->tmp = NULL;
	sync_dir(s->to);
	return 0;
}

static int
snapshot(struct cli *c, struct snap *s)
{
	struct stat st;
	int rc = EXIT_ERROR;

	/* Fail before the copy when we already know; put_in_place checks again. */
	if (!s->force && lstat(s->to, &st) == 0) {
		cli_error("%s: exists (--force replaces it)", s->to);
		return EXIT_ERROR;
	}
	if (s->force && lstat(s->to, &st) == 0 && !S_ISREG(st.st_mode)) {
		cli_error("%s: not a regular file", s->to);
		return EXIT_ERROR;
	}
	if (write_copy(c, s) == 0 && put_in_place(s) == 0)
		rc = EXIT_DONE;
	if (s->tmp != NULL)
		unlink(s->tmp);
	guard_temp(NULL);
	free(s->tmp);
	free(s->src_path);
	return rc;
}

int
cmd_snapshot(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct snap s = { 0 };
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			s.to = optarg;
			break;
		case 'F':
			s.force = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_DONE;
		default:
			return cli_bad_option("snapshot", ch, argc, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("snapshot", "unexpected argument '%s'", argv[optind]);
	if (s.to == NULL || *s.to == '\0')
		return cli_usage_error("snapshot", "--to FILE is required");
	return snapshot(c, &s);
}
