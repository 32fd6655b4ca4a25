/*
 * logcmd.h: the clusters' log_command (docs/CONTRACT.md section 2), run per
 * instance every log_interval; what it prints is that instance's server
 * log, imported as `sslhist import-log` does (logimport.h), through the
 * store.
 *
 * The command runs through evspawn.h (no shell) with the environment of
 * password_command (the daemon's, less the service manager's variables,
 * plus SSLHIST_HOST, SSLHIST_PORT, SSLHIST_USER) and SSLHIST_CLUSTER,
 * SSLHIST_INSTANCE ("host:port") and SSLHIST_LOG_SINCE (the RFC 3339 time
 * of the newest line already imported for the instance; empty before the
 * first import). At most 4 run at once. It may print up to 64 MiB; it gets SIGTERM after
 * max(log_interval, 30 s). Its output is imported a megabyte per request to
 * the store thread (writer.h), as is the read of SSLHIST_LOG_SINCE,
 * so the loop keeps polling meanwhile; the store's batches keep each write
 * short. A failing command is logged with its status and the first line
 * of its stderr and runs again at the next interval. Not in --once.
 */
#ifndef SSLHIST_LOGCMD_H
#define SSLHIST_LOGCMD_H

struct poller_env;
struct fleet;
struct logcmd;

/* Looks every second which instances are due. NULL when out of memory. */
struct logcmd *logcmd_new(const struct poller_env *env, const struct fleet *fleet);
/* Stops: commands still running get SIGTERM, imports in progress stop
 * (what was committed stays). */
void logcmd_free(struct logcmd *lc);

#endif
