/*
 * test_schedule.c: a poll's delay and its tick (schedule.h): rounded up to
 * the tick, and a delay plus its rounding always within interval +- jitter;
 * sched_poll_share (a fast poll's jitter) is the same draw as a share.
 */
#include <stdint.h>

#include "check.h"
#include "schedule.h"

static void
test_round(void)
{
	CHECK_INT(sched_round_us(0, 10, 0), 10000);
	CHECK_INT(sched_round_us(0, 10, 8000), 16000);
	CHECK_INT(sched_round_us(3000, 5, 8000), 5000);		/* 8000 - 3000 */
	CHECK_INT(sched_round_us(3000, 0, 8000), 5000);
	CHECK_INT(sched_round_us(8000, 0, 8000), 0);		/* on a tick already */
	CHECK_INT(sched_round_us(1, -5, 8000), 7999);		/* negative: now */
	/* Two timers armed at different times for nearby deadlines share one. */
	CHECK_INT(1000 + sched_round_us(1000, 20, 50000), 7000 + sched_round_us(7000, 17, 50000));
}

static void
test_window(void)
{
	const int64_t intervals[] = { 200, 1000, 10000, 60000 };
	const double jitters[] = { 0, 0.01, 0.1, 0.5 };

	CHECK_INT(sched_poll_tick_us(1000, 0.1), 50000);	/* 200 ms window / 4 */
	CHECK_INT(sched_poll_tick_us(200, 0.1), 10000);
	CHECK_INT(sched_poll_tick_us(60000, 0.5), SCHED_MAX_TICK_US);
	CHECK_INT(sched_poll_tick_us(1000, 0), 0);
	for (size_t i = 0; i < 4; i++) {
		for (size_t j = 0; j < 4; j++) {
			int64_t iv = intervals[i];
			double jt = jitters[j];
			int64_t tick = sched_poll_tick_us(iv, jt);
			double lo = (double)iv * (1 - jt) - 1, hi = (double)iv * (1 + jt) + 1;

			for (int k = 0; k <= 1000; k++) {
				double u = k == 1000 ? 0.999999 : k / 1000.0;
				int64_t d = sched_poll_delay_ms(iv, jt, u);
				/* The worst rounding: armed just past a tick. */
				int64_t at_us = sched_round_us(1, d, tick) + 1;

				CHECK((double)d >= lo);
				CHECK((double)at_us / 1000 <= hi);
				/* A fast poll's share of its period
				 * (fastpoll_delay_ms): the same delay, to 1 ms. */
				double sd = (double)iv * (1 + sched_poll_share(iv, jt, u));

				CHECK(sd >= (double)d - 1 && sd <= (double)d + 1);
				CHECK((double)(sched_round_us(1, (int64_t)sd, tick) + 1) / 1000 <= hi + 1);
			}
		}
	}
}

int
main(void)
{
	test_round();
	test_window();
	return check_done();
}
