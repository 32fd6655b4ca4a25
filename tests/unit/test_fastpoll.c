/*
 * test_fastpoll.c: the fast-polling schedule (daemon/fastpoll.c) as
 * sequences of polls: each step is a poll at a time that counted some
 * missed sessions (-1: could not count), with the change of mode and the
 * period to the next poll it must give.
 */
#include "check.h"
#include "config.h"
#include "fastpoll.h"

struct step {
	int64_t at_ms;
	int64_t missed;
	enum fastpoll_change want;
	int64_t period;		/* fastpoll_period_ms after the step */
};

struct seq {
	const char *what;
	int64_t interval, fast_interval, fast_for;
	struct step steps[8];
	size_t n;
};

#define E FASTPOLL_ENTERED
#define L FASTPOLL_LEFT
#define S FASTPOLL_SAME

static const struct seq seqs[] = {
	{ "no miss: never fast", 30000, 1000, 600000,
	  { { 0, 0, S, 30000 }, { 30000, 0, S, 30000 }, { 60000, -1, S, 30000 } }, 3 },
	{ "a miss speeds up, fast_for without one slows down", 30000, 1000, 10000,
	  { { 0, 0, S, 30000 }, { 30000, 2, E, 1000 }, { 31000, 0, S, 1000 },
	    { 39999, 0, S, 1000 }, { 40000, 0, L, 30000 }, { 70000, 0, S, 30000 } }, 6 },
	{ "a later miss extends fast mode from itself", 30000, 1000, 10000,
	  { { 0, 1, E, 1000 }, { 5000, 3, S, 1000 }, { 14999, 0, S, 1000 },
	    { 15000, 0, L, 30000 }, { 45000, 1, E, 1000 } }, 5 },
	{ "polls that cannot count neither start nor extend it", 30000, 1000, 10000,
	  { { 0, -1, S, 30000 }, { 30000, 1, E, 1000 }, { 39000, -1, S, 1000 },
	    { 40000, -1, L, 30000 } }, 4 },
	{ "fast_interval off: never fast", 30000, 0, 10000,
	  { { 0, 5, S, 30000 }, { 30000, 5, S, 30000 } }, 2 },
	{ "fast_interval not below interval: never fast", 1000, 1000, 10000,
	  { { 0, 5, S, 1000 }, { 2000, 5, S, 1000 } }, 2 },
	{ "the test's figures: 200 ms for 2 s", 30000, 200, 2000,
	  { { 0, 4, E, 200 }, { 200, 0, S, 200 }, { 1999, 0, S, 200 },
	    { 2000, 0, L, 30000 } }, 4 },
};

static void
test_sequences(void)
{
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		const struct seq *q = &seqs[i];
		struct cluster_cfg c = { .interval_ms = q->interval,
			.fast_interval_ms = q->fast_interval, .fast_for_ms = q->fast_for };
		struct fastpoll f = { 0 };

		for (size_t k = 0; k < q->n; k++) {
			const struct step *st = &q->steps[k];
			enum fastpoll_change ch = fastpoll_after_poll(&f, &c, st->missed, st->at_ms);
			int64_t p = fastpoll_period_ms(&f, &c);

			if (ch != st->want || p != st->period)
				fprintf(stderr, "%s, step %zu: change %d period %lld\n", q->what, k,
					(int)ch, (long long)p);
			CHECK_INT(ch, st->want);
			CHECK_INT(p, st->period);
		}
	}
}

/* A reload keeps the mode unless fast polling is no longer possible. */
static void
test_reconfigure(void)
{
	struct cluster_cfg c = { .interval_ms = 30000, .fast_interval_ms = 1000,
		.fast_for_ms = 600000 };
	struct fastpoll f = { 0 };

	CHECK_INT(fastpoll_reconfigure(&f, &c), S);
	CHECK_INT(fastpoll_after_poll(&f, &c, 1, 100), E);
	c.fast_interval_ms = 500;	/* another fast_interval: still fast, at the new one */
	CHECK_INT(fastpoll_reconfigure(&f, &c), S);
	CHECK_INT(fastpoll_period_ms(&f, &c), 500);
	c.fast_interval_ms = 0;		/* off */
	CHECK_INT(fastpoll_reconfigure(&f, &c), L);
	CHECK_INT(fastpoll_period_ms(&f, &c), 30000);
	CHECK_INT(fastpoll_reconfigure(&f, &c), S);
	/* Turned off while fast, a poll with a miss leaves fast mode too. */
	c.fast_interval_ms = 1000;
	CHECK_INT(fastpoll_after_poll(&f, &c, 1, 200), E);
	c.interval_ms = 500;
	CHECK_INT(fastpoll_after_poll(&f, &c, 1, 300), L);
	CHECK_INT(fastpoll_period_ms(&f, &c), 500);
}

/* The delay: the period after the last start, jitter as its share; a fast
 * poll waits at least half a fast_interval from now. */
static void
test_delay(void)
{
	static const struct {
		bool fast;
		double j;
		int64_t started, now, want;
		bool want_fast;
	} cases[] = {
		{ false, 0, 1000, 1500, 29500, false },		/* 30 s after the start */
		{ false, 0.1, 1000, 1500, 32500, false },	/* +10% of 30 s */
		{ false, -0.1, 1000, 1500, 26500, false },
		{ false, 0, 0, 40000, -10000, false },		/* late: at once (arm() clamps) */
		{ true, 0, 1000, 1100, 900, true },		/* 1 s after the start */
		{ true, 0.1, 1000, 1100, 1000, true },		/* +10% of 1 s */
		{ true, -0.1, 1000, 1100, 800, true },
		{ true, 0, 1000, 1800, 500, true },		/* a slow poll: half a period */
		{ true, 0, 1000, 9000, 500, true },		/* slower than fast_interval */
	};
	struct cluster_cfg c = { .interval_ms = 30000, .fast_interval_ms = 1000,
		.fast_for_ms = 600000 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fastpoll f = { .fast = cases[i].fast };
		bool fast = !cases[i].want_fast;

		CHECK_INT(fastpoll_delay_ms(&f, &c, cases[i].j, cases[i].started, cases[i].now,
					    &fast), cases[i].want);
		CHECK(fast == cases[i].want_fast);
	}
	/* Fast mode with fast polling now off: a normal poll. */
	c.fast_interval_ms = 0;
	{
		struct fastpoll f = { .fast = true };
		bool fast = true;

		CHECK_INT(fastpoll_delay_ms(&f, &c, 0, 0, 0, &fast), 30000);
		CHECK(!fast);
	}
}

static void
test_describe(void)
{
	struct cluster_cfg c = { .interval_ms = 30000, .fast_interval_ms = 1000,
		.fast_for_ms = 600000 };
	char buf[160];

	CHECK(!fastpoll_describe(S, &c, 3, buf, sizeof(buf)));
	CHECK(fastpoll_describe(E, &c, 3, buf, sizeof(buf)));
	CHECK_STR(buf, "fast polling: 3 missed sessions, polling every 1s until 10m pass "
		  "without one");
	CHECK(fastpoll_describe(E, &c, 1, buf, sizeof(buf)));
	CHECK_STR(buf, "fast polling: 1 missed session, polling every 1s until 10m pass "
		  "without one");
	CHECK(fastpoll_describe(L, &c, 0, buf, sizeof(buf)));
	CHECK_STR(buf, "fast polling ends: polling every 30s again");
}

int
main(void)
{
	test_sequences();
	test_reconfigure();
	test_delay();
	test_describe();
	return check_done();
}
