/*
 * log.h: one log line per event, to the journal with structured fields when
 * stderr is connected to it (JOURNAL_STREAM), else to stderr.
 *
 * Every message is formatted first and then escaped as textesc.h escapes
 * for tables: control characters, C1 controls, bidirectional overrides,
 * line separators and invalid UTF-8 (which monitored servers may send in
 * any name) never reach a terminal or the journal raw. Messages about an instance carry its identity
 * as SSLHIST_CLUSTER / SSLHIST_INSTANCE fields and as a "cluster/instance: "
 * prefix on stderr.
 */
#ifndef SSLHIST_LOG_H
#define SSLHIST_LOG_H

#include <stdarg.h>

/* Not LOG_*: <syslog.h> (which sd-journal.h includes) owns those names. */
enum log_level { LVL_ERROR, LVL_WARNING, LVL_INFO, LVL_DEBUG };

/* Journal MESSAGE_IDs (128-bit, hex) for events that alerting may match. */
#define MSGID_NON_SSL      "5b1c7e0f4a2d4e6c9d3f8a1b2c3d4e01"
#define MSGID_WEAK_TLS     "5b1c7e0f4a2d4e6c9d3f8a1b2c3d4e02"
#define MSGID_NEW_CLIENT   "5b1c7e0f4a2d4e6c9d3f8a1b2c3d4e03"
#define MSGID_HOOK_FAILED  "5b1c7e0f4a2d4e6c9d3f8a1b2c3d4e04"
#define MSGID_POLL_FAILED  "5b1c7e0f4a2d4e6c9d3f8a1b2c3d4e05"
#define MSGID_DISCOVERY_FAILED "5b1c7e0f4a2d4e6c9d3f8a1b2c3d4e06"

/* The object a message is about; either field may be NULL. */
struct log_obj {
	const char *cluster;
	const char *instance;	/* "host:port" */
};

/* Sets the program name and level; picks journal or stderr output. */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warning", "info", "debug"; returns -1 if unknown. */
int log_level_parse(const char *s);

/*
 * Logs at `level` about `obj` (may be NULL). `msgid` (may be NULL) becomes
 * MESSAGE_ID; `fields` (may be NULL) is a NULL-terminated list of extra
 * "NAME=value" journal fields (values are sent unescaped to the journal,
 * which stores bytes; they are not printed on stderr).
 */
void log_event(enum log_level level, const struct log_obj *obj, const char *msgid,
	       const char *const *fields, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Shorthands. The *_errno forms append ": strerror(errno)". */
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_infox(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debugx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* About an object: "cluster/instance: message". */
void olog(enum log_level level, const struct log_obj *obj, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
