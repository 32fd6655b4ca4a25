/*
 * fastpoll.c: the fast-polling rules of fastpoll.h.
 */
#include <stdio.h>

#include "config.h"
#include "fastpoll.h"
#include "parse.h"

/* Whether the configuration makes any poll faster than interval. */
static bool
enabled(const struct cluster_cfg *c)
{
	return c->fast_interval_ms > 0 && c->fast_interval_ms < c->interval_ms;
}

enum fastpoll_change
fastpoll_after_poll(struct fastpoll *f, const struct cluster_cfg *c, int64_t missed,
		    int64_t now_ms)
{
	if (!enabled(c))
		return fastpoll_reconfigure(f, c);
	if (missed > 0) {
		f->last_miss_ms = now_ms;
		if (f->fast)
			return FASTPOLL_SAME;
		f->fast = true;
		return FASTPOLL_ENTERED;
	}
	if (f->fast && now_ms - f->last_miss_ms >= c->fast_for_ms) {
		f->fast = false;
		return FASTPOLL_LEFT;
	}
	return FASTPOLL_SAME;
}

enum fastpoll_change
fastpoll_reconfigure(struct fastpoll *f, const struct cluster_cfg *c)
{
	if (!f->fast || enabled(c))
		return FASTPOLL_SAME;
	f->fast = false;
	return FASTPOLL_LEFT;
}

int64_t
fastpoll_period_ms(const struct fastpoll *f, const struct cluster_cfg *c)
{
	return f->fast && enabled(c) ? c->fast_interval_ms : c->interval_ms;
}

int64_t
fastpoll_delay_ms(const struct fastpoll *f, const struct cluster_cfg *c, double j,
		  int64_t started_ms, int64_t now_ms, bool *fast)
{
	int64_t period = fastpoll_period_ms(f, c);
	int64_t delay = started_ms + (int64_t)((double)period * (1 + j)) - now_ms;

	*fast = period < c->interval_ms;
	if (*fast && delay < period / 2)
		delay = period / 2;
	return delay;
}

bool
fastpoll_describe(enum fastpoll_change ch, const struct cluster_cfg *c, int64_t missed,
		  char *buf, size_t len)
{
	char fast[32], period[32], slow[32];

	format_duration(c->fast_interval_ms, fast, sizeof(fast));
	format_duration(c->fast_for_ms, period, sizeof(period));
	format_duration(c->interval_ms, slow, sizeof(slow));
	if (ch == FASTPOLL_ENTERED)
		snprintf(buf, len, "fast polling: %lld missed session%s, polling every %s until "
			 "%s pass without one", (long long)missed, missed == 1 ? "" : "s", fast,
			 period);
	else if (ch == FASTPOLL_LEFT)
		snprintf(buf, len, "fast polling ends: polling every %s again", slow);
	return ch != FASTPOLL_SAME;
}
