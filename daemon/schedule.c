/*
 * schedule.c: see schedule.h.
 */
#include <sys/random.h>

#include "clock.h"
#include "schedule.h"

double
jitter_uniform(void)
{
	static uint64_t s;

	if (s == 0 && (getrandom(&s, sizeof(s), 0) != sizeof(s) || s == 0))
		s = (uint64_t)mono_ms() | 1;
	/* xorshift64*: plenty for spreading timers. */
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return (double)((s * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

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
