/*
 * fastpoll.h: when an instance is polled fast (docs/CONTRACT.md section 2,
 * `fast_interval`, `fast_for`). Pure: times in, decisions out; instance.c
 * keeps one struct fastpoll per instance and asks it after every poll and
 * for every poll delay.
 *
 * A poll that counted missed sessions (sessions that began and ended
 * between two polls unseen: PostgreSQL 14 and later) puts the instance in
 * fast mode: it is polled every fast_interval until fast_for has passed
 * since the last poll that counted a miss; then it is polled every
 * interval again. A poll that could not count (first poll, counter reset,
 * PostgreSQL 13 and older) neither starts nor extends fast mode. With
 * fast_interval off (0), or not shorter than interval, an instance is
 * never fast. The cluster's interval, fast_interval and fast_for apply
 * (config.h: its own, or the daemon-wide values).
 */
#ifndef SSLHIST_FASTPOLL_H
#define SSLHIST_FASTPOLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cluster_cfg;

/* One instance's fast mode; zeroed is "not fast". */
struct fastpoll {
	bool fast;
	int64_t last_miss_ms;	/* monotonic: the last poll that counted a miss */
};

enum fastpoll_change {
	FASTPOLL_SAME,		/* no change of mode */
	FASTPOLL_ENTERED,	/* fast from now on */
	FASTPOLL_LEFT,		/* back to interval */
};

/*
 * After a successful poll that ended at monotonic `now_ms` and counted
 * `missed` sessions (-1: could not count). Says whether the mode changed
 * (the caller logs it).
 */
enum fastpoll_change fastpoll_after_poll(struct fastpoll *f, const struct cluster_cfg *c,
					 int64_t missed, int64_t now_ms);

/*
 * After a reload: with fast polling now off (or no faster than interval)
 * an instance in fast mode leaves it; else the mode is kept as it was.
 */
enum fastpoll_change fastpoll_reconfigure(struct fastpoll *f, const struct cluster_cfg *c);

/* The time (ms) from one poll's start to the next, before jitter:
 * fast_interval in fast mode, else interval. */
int64_t fastpoll_period_ms(const struct fastpoll *f, const struct cluster_cfg *c);

/*
 * The delay (ms) from now_ms to the next poll of an instance whose last
 * poll started at started_ms (monotonic): the period times (1 + j) after
 * that start, j being the jitter drawn in [-jitter, +jitter]; in fast mode
 * at least half a fast_interval from now, so that a server that answers
 * slower than fast_interval is not polled back to back. *fast says whether
 * that poll is a fast one (for coverage.fast_polls).
 */
int64_t fastpoll_delay_ms(const struct fastpoll *f, const struct cluster_cfg *c, double j,
			  int64_t started_ms, int64_t now_ms, bool *fast);

/*
 * The log line of a change (none for FASTPOLL_SAME: returns false), e.g.
 * "fast polling: 3 missed sessions, polling every 1s until 10m pass
 * without one"; `missed` is what the poll that entered counted.
 */
bool fastpoll_describe(enum fastpoll_change ch, const struct cluster_cfg *c, int64_t missed,
		       char *buf, size_t len);

#endif
