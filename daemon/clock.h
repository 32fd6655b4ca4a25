/*
 * clock.h: the two clocks the daemon reads, in milliseconds. Wall time is
 * what gets stored (Unix ms); monotonic time schedules and measures.
 */
#ifndef SSLHIST_CLOCK_H
#define SSLHIST_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unix time in ms. */
static inline int64_t
wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

/* Monotonic ms, for deadlines and intervals. */
static inline int64_t
mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

#endif
