/*
 * notify.h: the systemd service protocol (Type=notify).
 *
 * READY=1 once the configuration is loaded and the database open;
 * STATUS= a one-line summary; WATCHDOG=1 from a loop timer at half of
 * WATCHDOG_USEC, so a stalled loop stops feeding it; RELOADING=1 with
 * MONOTONIC_USEC= and READY=1 around a reload (systemd 252 has no
 * Type=notify-reload); STOPPING=1. Outside systemd every call is a no-op.
 */
#ifndef SSLHIST_NOTIFY_H
#define SSLHIST_NOTIFY_H

struct event_base;

/* Starts the watchdog timer if the service manager asked for one. */
int notify_init(struct event_base *base);
void notify_shutdown(void);
void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
