/*
 * schedule.h: when an instance polls next (pure arithmetic; instance.c
 * arms its timer with it).
 *
 * Each instance keeps its own jittered schedule: a poll starts within
 * interval x (1 +- jitter) of the previous one's start. Timers are rounded
 * up to a shared tick of the loop's clock so that polls falling due close
 * together share one wake-up of the loop (and their results, arriving
 * together, the next): a wake-up that sleeps is a context switch, the
 * largest cost of an idle poll. The poll's tick is a quarter of its jitter
 * window, at most SCHED_MAX_TICK_US, and the jitter is drawn from a window
 * shorter by the tick, so the rounding never leaves interval +- jitter.
 */
#ifndef SSLHIST_SCHEDULE_H
#define SSLHIST_SCHEDULE_H

#include <stdint.h>

#define SCHED_DEFAULT_TICK_US 8000	/* other timers: backoff, start-up */
#define SCHED_MAX_TICK_US 50000

/* Random numbers for jitter: jitter_uniform(), [0, 1). */
#include "jitter.h"

/* The delay (us) from now_us to the first multiple of tick_us at or after
 * now_us + ms (tick_us <= 0: exactly ms). */
int64_t sched_round_us(int64_t now_us, int64_t ms, int64_t tick_us);
/* A quarter of the jitter window (interval x jitter x 2), at most
 * SCHED_MAX_TICK_US. */
int64_t sched_poll_tick_us(int64_t interval_ms, double jitter);
/* A poll's delay after the previous start (ms), drawn with u in [0, 1). */
int64_t sched_poll_delay_ms(int64_t interval_ms, double jitter, double u);

/* The same draw as a share j of the period (delay = period x (1 + j)),
 * for fastpoll_delay_ms(). */
double sched_poll_share(int64_t period_ms, double jitter, double u);

#endif
