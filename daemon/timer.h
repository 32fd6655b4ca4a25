/*
 * timer.h: arm a libevent timer in milliseconds (negative: now).
 */
#ifndef SSLHIST_TIMER_H
#define SSLHIST_TIMER_H

#include <stdint.h>

#include <event2/event.h>

static inline int
timer_add_ms(struct event *ev, int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	return event_add(ev, &tv);
}

#endif
