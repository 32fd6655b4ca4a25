/*
 * log.c: see log.h. One event is formatted once, escaped once and written
 * either as one journal entry with fields or as one stderr line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <syslog.h>
#include <systemd/sd-journal.h>

#include "log.h"
#include "textesc.h"

static const char *log_progname = "sslhist";
static enum log_level log_level = LVL_INFO;	/* atomic: the daemon's store thread logs too */

static enum log_level
cur_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}
static bool log_journal;

static const char *const level_names[] = {
	[LVL_ERROR] = "error",
	[LVL_WARNING] = "warning",
	[LVL_INFO] = "info",
	[LVL_DEBUG] = "debug",
};

/* syslog(3) priorities as the journal's PRIORITY field wants them. */
static int
journal_priority(enum log_level level)
{
	switch (level) {
	case LVL_ERROR:
		return LOG_ERR;
	case LVL_WARNING:
		return LOG_WARNING;
	case LVL_INFO:
		return LOG_INFO;
	case LVL_DEBUG:
		return LOG_DEBUG;
	}
	return LOG_INFO;
}

/* systemd sets JOURNAL_STREAM=DEV:INODE for the stream it connected; a
 * child whose stderr was redirected elsewhere inherits the variable, so
 * only a matching stderr counts. */
static bool
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;
	char tail;

	if (js == NULL || sscanf(js, "%ju:%ju%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) == -1)
		return false;
	if ((uintmax_t)st.st_dev != dev || (uintmax_t)st.st_ino != ino)
		return false;
	/* sd_journal_sendv() drops messages silently when journald is absent. */
	return access("/run/systemd/journal/socket", W_OK) == 0;
}

void
log_init(const char *progname, enum log_level level)
{
	const char *slash;

	if (progname != NULL) {
		slash = strrchr(progname, '/');
		log_progname = slash ? slash + 1 : progname;
	}
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
	log_journal = stderr_is_journal();
}

void
log_set_level(enum log_level level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

enum log_level
log_get_level(void)
{
	return cur_level();
}

int
log_level_parse(const char *s)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

/*
 * Messages carry strings from monitored servers and may be read on a
 * terminal (stderr) or through journalctl: they are escaped as the query
 * tool's tables are (textesc.h), so a log line can hold no control
 * character, C1 control, bidirectional override or line separator, nor
 * invalid UTF-8. NULL on ENOMEM.
 */
static char *
log_escape(const char *src)
{
	return textesc_dup(src, 0);
}

static char *format_message(const char *, va_list, int)
	__attribute__((format(printf, 1, 0)));
static void log_emit(enum log_level, const struct log_obj *, const char *,
		     const char *const *, int, const char *, va_list)
	__attribute__((format(printf, 6, 0)));

/* Formats into a malloc'd string, or NULL on failure. */
static char *
format_message(const char *fmt, va_list ap, int errnum)
{
	va_list aq;
	char *buf;
	int n;
	size_t extra = 0;
	const char *es = NULL;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return NULL;
	if (errnum != 0) {
		es = strerror(errnum);
		extra = strlen(es) + 2;
	}
	buf = malloc((size_t)n + extra + 1);
	if (buf == NULL)
		return NULL;
	vsnprintf(buf, (size_t)n + 1, fmt, ap);
	if (es != NULL) {
		memcpy(buf + n, ": ", 2);
		memcpy(buf + n + 2, es, extra - 1);	/* with its NUL */
	}
	return buf;
}

/* "cluster/instance: " or "cluster: " or "instance: " or "". */
static char *
obj_prefix(const struct log_obj *obj)
{
	const char *c = obj ? obj->cluster : NULL, *i = obj ? obj->instance : NULL;
	char *raw, *esc;
	int n;

	if (c == NULL && i == NULL)
		return strdup("");
	if (c != NULL && i != NULL)
		n = asprintf(&raw, "%s/%s: ", c, i);
	else
		n = asprintf(&raw, "%s: ", c ? c : i);
	if (n < 0)
		return NULL;
	esc = log_escape(raw);
	free(raw);
	return esc;
}

static void
write_stderr(enum log_level level, const char *prefix, const char *msg)
{
	fprintf(stderr, "%s: %s: %s%s\n", log_progname, level_names[level],
	    prefix, msg);
	fflush(stderr);
}

#define MAX_FIELDS 32

static int
write_journal(enum log_level level, const struct log_obj *obj,
	      const char *msgid, const char *const *fields,
	      const char *prefix, const char *msg)
{
	struct iovec iov[MAX_FIELDS + 7];
	char *owned[7];
	size_t n = 0, nowned = 0, i;
	int r = -1;

#define ADD_FMT(...) do { \
	char *s_; \
	if (asprintf(&s_, __VA_ARGS__) < 0) goto out; \
	owned[nowned++] = s_; \
	iov[n].iov_base = s_; iov[n].iov_len = strlen(s_); n++; \
} while (0)
	ADD_FMT("MESSAGE=%s%s", prefix, msg);
	ADD_FMT("PRIORITY=%d", journal_priority(level));
	ADD_FMT("SYSLOG_IDENTIFIER=%s", log_progname);
	if (msgid != NULL)
		ADD_FMT("MESSAGE_ID=%s", msgid);
	if (obj != NULL && obj->cluster != NULL)
		ADD_FMT("SSLHIST_CLUSTER=%s", obj->cluster);
	if (obj != NULL && obj->instance != NULL)
		ADD_FMT("SSLHIST_INSTANCE=%s", obj->instance);
#undef ADD_FMT
	for (i = 0; fields != NULL && fields[i] != NULL && i < MAX_FIELDS; i++) {
		/* The journal rejects a field without NAME=; skip it. */
		if (strchr(fields[i], '=') == NULL || fields[i][0] == '=')
			continue;
		iov[n].iov_base = (void *)(uintptr_t)fields[i];
		iov[n].iov_len = strlen(fields[i]);
		n++;
	}
	r = sd_journal_sendv(iov, (int)n);
out:
	for (i = 0; i < nowned; i++)
		free(owned[i]);
	return r;
}

static void
log_emit(enum log_level level, const struct log_obj *obj, const char *msgid,
	 const char *const *fields, int errnum, const char *fmt, va_list ap)
{
	char *raw, *msg, *prefix;
	int saved = errno;

	if ((int)level < 0 || level > LVL_DEBUG)
		level = LVL_ERROR;
	if (level > cur_level())
		return;
	raw = format_message(fmt, ap, errnum);
	msg = raw ? log_escape(raw) : NULL;
	prefix = obj_prefix(obj);
	if (msg == NULL || prefix == NULL) {
		write_stderr(level, "", "(out of memory formatting log message)");
	} else if (!log_journal ||
	    write_journal(level, obj, msgid, fields, prefix, msg) < 0) {
		write_stderr(level, prefix, msg);
	}
	free(raw);
	free(msg);
	free(prefix);
	errno = saved;
}

void
log_event(enum log_level level, const struct log_obj *obj, const char *msgid,
	  const char *const *fields, const char *fmt, ...)
{
	va_list ap;

	if (level > cur_level())
		return;
	va_start(ap, fmt);
	log_emit(level, obj, msgid, fields, 0, fmt, ap);
	va_end(ap);
}

#define DEFINE_SHORTHAND(name, level, with_errno) \
void \
name(const char *fmt, ...) \
{ \
	va_list ap; \
	int e = (with_errno) ? errno : 0; \
	if ((level) > cur_level()) \
		return; \
	va_start(ap, fmt); \
	log_emit((level), NULL, NULL, NULL, e, fmt, ap); \
	va_end(ap); \
}

DEFINE_SHORTHAND(log_errorx, LVL_ERROR, 0)
DEFINE_SHORTHAND(log_error_errno, LVL_ERROR, 1)
DEFINE_SHORTHAND(log_warnx, LVL_WARNING, 0)
DEFINE_SHORTHAND(log_warn_errno, LVL_WARNING, 1)
DEFINE_SHORTHAND(log_infox, LVL_INFO, 0)
DEFINE_SHORTHAND(log_debugx, LVL_DEBUG, 0)

void
olog(enum log_level level, const struct log_obj *obj, const char *fmt, ...)
{
	va_list ap;

	if (level > cur_level())
		return;
	va_start(ap, fmt);
	log_emit(level, obj, NULL, NULL, 0, fmt, ap);
	va_end(ap);
}
