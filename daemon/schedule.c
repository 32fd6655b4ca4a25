/*
 * schedule.c: see schedule.h (jitter_uniform is jitter.c's).
 */
#include "schedule.h"

int64_t
sched_round_us(int64_t now_us, int64_t ms, int64_t tick_us)
{
	int64_t due;

	if (ms < 0)
		ms = 0;
	if (tick_us <= 0)
		return ms * 1000;
	due = (now_us + ms * 1000 + tick_us - 1) / tick_us * tick_us;
	return due - now_us;
}

int64_t
sched_poll_tick_us(int64_t interval_ms, double jitter)
{
	double window_us = 2 * jitter * (double)interval_ms * 1000;
	int64_t t = (int64_t)(window_us / 4);

	return t > SCHED_MAX_TICK_US ? SCHED_MAX_TICK_US : t;
}

int64_t
sched_poll_delay_ms(int64_t interval_ms, double jitter, double u)
{
	double span = 2 * jitter * (double)interval_ms;
	double lo = (double)interval_ms * (1 - jitter);
	double tick_ms = (double)sched_poll_tick_us(interval_ms, jitter) / 1000;

	return (int64_t)(lo + u * (span - tick_ms));
}

double
sched_poll_share(int64_t period_ms, double jitter, double u)
{
	double span = 2 * jitter * (double)period_ms;
	double tick_ms = (double)sched_poll_tick_us(period_ms, jitter) / 1000;

	if (period_ms <= 0)
		return 0;
	return -jitter + u * (span - tick_ms) / (double)period_ms;
}
