/*
 * notify.h: the systemd service protocol (Type=notify), behind functions
 * that are no-ops outside systemd, so callers need no #ifdef.
 *
 * READY=1 once the configuration is loaded and the database open (not
 * waiting for any instance); STATUS= a one-line summary; RELOADING=1 with
 * MONOTONIC_USEC= and then READY=1 around a reload (systemd 252 has no
 * Type=notify-reload); STOPPING=1.
 *
 * The watchdog. When the service manager sets WATCHDOG_USEC (WatchdogSec=
 * in the unit), a loop timer runs every half of it, and sends WATCHDOG=1
 * only when two checks prove the loop alive and making progress:
 *   1. the timer itself ran on time: late by less than its period. A loop
 *      stuck in one callback (or stopped) runs it late or never; a ping
 *      sent after such a stall would hide it, so it is withheld;
 *   2. the owner's health check passes (main.c: no instance's state machine
 *      and not the writer is past its own deadline by more than `grace_ms`,
 *      i.e. every component that waits on a timer got it).
 * Every ping withheld is logged with the reason. systemd kills a service
 * that sent no ping for WatchdogSec= (SIGABRT, WatchdogSignal=) and
 * Restart=on-failure starts a fresh one: a stall longer than half of
 * WatchdogSec=, or a state machine stuck past its deadline, ends that way.
 */
#ifndef SSLHIST_NOTIFY_H
#define SSLHIST_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/*
 * The owner's progress check at monotonic time now_ms: true if healthy;
 * false with the reason written into why (why_len bytes). grace_ms is how
 * far past a deadline a component may be before it counts as stuck.
 */
typedef bool (*notify_health_fn)(void *arg, int64_t now_ms, int64_t grace_ms, char *why,
				 size_t why_len);

/* Starts the watchdog timer if the service manager asked for one; health
 * (may be NULL) is consulted before every ping. 0, or -1 out of memory. */
int notify_init(struct event_base *base, notify_health_fn health, void *arg);
void notify_shutdown(void);
void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
