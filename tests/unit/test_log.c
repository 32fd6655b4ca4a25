/*
 * test_log.c: stderr lines of log.c, escaping of hostile bytes, level
 * filtering and JOURNAL_STREAM matching (a stream that is not stderr's
 * must not divert output to the journal).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

static char captured[8192];

/* Runs fn with stderr sent to a temporary file and returns what it wrote. */
static const char *
capture(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	if (tmp == NULL || saved == -1) {
		perror("capture");
		exit(2);
	}
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(captured, 1, sizeof(captured) - 1, tmp);
	captured[n] = '\0';
	fclose(tmp);
	return captured;
}

static void
emit_plain(void)
{
	log_warnx("disk %s", "full");
}

static void
emit_obj(void)
{
	struct log_obj o = { "prod", "db1:5432" };

	olog(LVL_ERROR, &o, "poll failed: %s", "timeout");
}

static void
emit_hostile(void)
{
	struct log_obj o = { "c\x1b[31m", "h\n:1" };

	/* ESC, newline, backslash, an invalid byte, a C1 CSI, valid UTF-8,
	 * a right-to-left override and a line separator. */
	olog(LVL_INFO, &o, "app '%s'", "a\x1b[2Jb\nc\\d\xff" "e\xc2\x9b" "f\xc3\xa9"
	    "\xe2\x80\xae" "g\xe2\x80\xa8");
}

static void
emit_filtered(void)
{
	log_debugx("debug %s", "x");
	log_infox("info shows");
}

static void
emit_errno(void)
{
	errno = ENOENT;
	log_warn_errno("open %s", "/x");
}

static void
emit_event(void)
{
	const char *fields[] = { "SSLHIST_USER=bob", NULL };
	struct log_obj o = { "c", NULL };

	log_event(LVL_WARNING, &o, MSGID_NON_SSL, fields, "non-SSL client %d", 7);
}

/*
 * With JOURNAL_STREAM naming stderr, events go to the journal; where no
 * journald listens (a build container) they must still reach stderr.
 */
static void
test_journal_stream(void)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	struct stat st;
	char js[64];
	size_t n;
	bool journald = access("/run/systemd/journal/socket", F_OK) == 0;

	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	fstat(STDERR_FILENO, &st);
	snprintf(js, sizeof(js), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_init("sslhistd", LVL_INFO);
	emit_event();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(captured, 1, sizeof(captured) - 1, tmp);
	captured[n] = '\0';
	fclose(tmp);
	if (journald)
		CHECK_STR(captured, "");
	else
		CHECK_STR(captured, "sslhistd: warning: c: non-SSL client 7\n");
	setenv("JOURNAL_STREAM", "1:1", 1);
	log_init("sslhistd", LVL_INFO);
}

int
main(void)
{
	setenv("JOURNAL_STREAM", "1:1", 1);	/* not stderr's */
	log_init("/usr/bin/sslhistd", LVL_INFO);

	CHECK_STR(capture(emit_plain), "sslhistd: warning: disk full\n");
	CHECK_STR(capture(emit_obj), "sslhistd: error: prod/db1:5432: poll failed: timeout\n");
	CHECK_STR(capture(emit_hostile),
	    "sslhistd: info: c\\x1b[31m/h\\x0a:1: app 'a\\x1b[2Jb\\x0ac\\x5cd\\xffe\\xc2\\x9bf\xc3\xa9"
	    "\\xe2\\x80\\xaeg\\xe2\\x80\\xa8'\n");
	CHECK_STR(capture(emit_filtered), "sslhistd: info: info shows\n");
	CHECK_STR(capture(emit_errno), "sslhistd: warning: open /x: No such file or directory\n");
	CHECK_STR(capture(emit_event), "sslhistd: warning: c: non-SSL client 7\n");

	log_set_level(LVL_ERROR);
	CHECK_INT(log_get_level(), LVL_ERROR);
	CHECK_STR(capture(emit_plain), "");
	log_set_level(LVL_DEBUG);
	CHECK_STR(capture(emit_filtered),
	    "sslhistd: debug: debug x\nsslhistd: info: info shows\n");

	CHECK_INT(log_level_parse("error"), LVL_ERROR);
	CHECK_INT(log_level_parse("warning"), LVL_WARNING);
	CHECK_INT(log_level_parse("info"), LVL_INFO);
	CHECK_INT(log_level_parse("debug"), LVL_DEBUG);
	CHECK_INT(log_level_parse("warn"), -1);
	CHECK_INT(log_level_parse(""), -1);
	CHECK_INT(log_level_parse(NULL), -1);
	test_journal_stream();
	return check_done();
}
