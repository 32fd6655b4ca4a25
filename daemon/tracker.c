/*
 * tracker.c: live sessions in an open-addressing hash table, counters in a
 * small array (one entry per database).
 */
#include <stdlib.h>
#include <string.h>

#include "ident.h"
#include "tracker.h"

struct slot {
	int64_t backend_start_us;
	int32_t pid;
	uint8_t used;		/* 0 empty, 1 used, 2 deleted */
	uint8_t recorded;
	uint32_t polls;
	uint64_t gen;		/* the poll that last saw it */
	uint64_t app;		/* hash of its application_name; 0 unknown */
	uint8_t pending;	/* a changed application_name waits for the
				 * session's full row */
};

struct counter {
	uint32_t datid;
	int64_t sessions;
	char *stats_reset;
	uint64_t gen;
};

struct tracker {
	struct slot *slots;
	size_t cap, used, tombs;
	uint64_t gen;
	struct counter *ctr;
	size_t nctr, ctrcap;
};

struct tracker *
tracker_new(void)
{
	return calloc(1, sizeof(struct tracker));
}

void
tracker_free(struct tracker *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nctr; i++)
		free(t->ctr[i].stats_reset);
	free(t->ctr);
	free(t->slots);
	free(t);
}

static size_t
hash(int32_t pid, int64_t bs)
{
	uint64_t h = (uint64_t)(uint32_t)pid * 0x9E3779B97F4A7C15ULL ^ (uint64_t)bs;
	h ^= h >> 31;
	h *= 0xBF58476D1CE4E5B9ULL;
	h ^= h >> 29;
	return (size_t)h;
}

/* The slot of the session, or of where it would go. */
static struct slot *
lookup(struct tracker *t, int32_t pid, int64_t bs)
{
	size_t mask = t->cap - 1, i = hash(pid, bs) & mask;
	struct slot *grave = NULL;

	for (;; i = (i + 1) & mask) {
		struct slot *s = &t->slots[i];
		if (s->used == 0)
			return grave ? grave : s;
		if (s->used == 2) {
			if (grave == NULL)
				grave = s;
		} else if (s->pid == pid && s->backend_start_us == bs) {
			return s;
		}
	}
}

/* Rehashes into a table at most a quarter full (grown or shrunk); drops
 * tombstones. */
static int
grow(struct tracker *t)
{
	struct slot *old = t->slots;
	size_t oldcap = t->cap;
	size_t cap = 64;

	while (cap < 4 * (t->used + 1))
		cap *= 2;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (t->slots == NULL) {
		t->slots = old;
		return -1;
	}
	t->cap = cap;
	t->tombs = 0;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].used == 1)
			*lookup(t, old[i].pid, old[i].backend_start_us) = old[i];
	}
	free(old);
	return 0;
}

static int
insert(struct tracker *t, int32_t pid, int64_t bs, bool recorded, uint32_t polls, uint64_t app)
{
	struct slot *s;

	if ((t->used + t->tombs + 1) * 4 > t->cap * 3 && grow(t) < 0)
		return -1;
	s = lookup(t, pid, bs);
	if (s->used == 1)
		return 0;
	if (s->used == 2)
		t->tombs--;
	*s = (struct slot){ .backend_start_us = bs, .pid = pid, .used = 1,
		.recorded = recorded, .polls = polls, .gen = t->gen, .app = app };
	t->used++;
	return 1;
}

int
tracker_preload(struct tracker *t, int32_t pid, int64_t backend_start_us)
{
	return insert(t, pid, backend_start_us, true, 2, 0) < 0 ? -1 : 0;
}

void
tracker_begin(struct tracker *t)
{
	t->gen++;
}

enum track_mark
tracker_mark(struct tracker *t, int32_t pid, int64_t backend_start_us, uint64_t app)
{
	struct slot *s;
	bool renamed;

	if (t->cap == 0)
		return TRACK_UNKNOWN;
	s = lookup(t, pid, backend_start_us);
	if (s->used != 1)
		return TRACK_UNKNOWN;
	if (s->gen != t->gen) {
		s->gen = t->gen;
		s->polls++;
	}
	if (app == 0)
		return TRACK_KNOWN;
	/* A session not recorded (own, excluded) has no client to leave. */
	renamed = s->recorded && (s->pending || (s->app != 0 && s->app != app));
	s->app = app;
	s->pending = 0;
	return renamed ? TRACK_RENAMED : TRACK_KNOWN;
}

int
tracker_see(struct tracker *t, int32_t pid, int64_t backend_start_us, bool recorded,
	    uint64_t app)
{
	if (tracker_mark(t, pid, backend_start_us, app) != TRACK_UNKNOWN)
		return 0;
	return insert(t, pid, backend_start_us, recorded, 1, app);
}

void
tracker_defer(struct tracker *t, int32_t pid, int64_t backend_start_us)
{
	struct slot *s;

	if (t->cap != 0 && (s = lookup(t, pid, backend_start_us))->used == 1)
		s->pending = 1;
}

void
tracker_finish(struct tracker *t,
	       void (*fn)(void *arg, int32_t pid, int64_t backend_start_us, bool single_poll),
	       void *arg)
{
	for (size_t i = 0; i < t->cap; i++) {
		struct slot *s = &t->slots[i];
		if (s->used != 1 || s->gen == t->gen)
			continue;
		if (s->recorded && fn)
			fn(arg, s->pid, s->backend_start_us, s->polls == 1);
		s->used = 2;
		t->used--;
		t->tombs++;
	}
	/* After a crowd has gone (a fleet's start, a connection storm), give
	 * the memory back: a table 1/16 full shrinks. */
	if (t->cap > 64 && t->used * 16 < t->cap)
		(void)grow(t);
}

size_t
tracker_count(const struct tracker *t)
{
	return t->used;
}

static struct counter *
counter_find(struct tracker *t, uint32_t datid)
{
	for (size_t i = 0; i < t->nctr; i++) {
		if (t->ctr[i].datid == datid)
			return &t->ctr[i];
	}
	return NULL;
}

int64_t
tracker_count_db(struct tracker *t, uint32_t datid, int64_t sessions, const char *stats_reset,
		 int64_t new_seen, bool *changed)
{
	struct counter *c = counter_find(t, datid);
	int64_t missed = -1;
	char *reset;

	*changed = true;
	if (c != NULL && ident_str_eq(c->stats_reset, stats_reset) && sessions == c->sessions) {
		/* The common poll: nothing began. No copy, nothing to store. */
		c->gen = t->gen;
		*changed = false;
		return 0;
	}
	reset = stats_reset ? strdup(stats_reset) : NULL;
	if (stats_reset && reset == NULL)
		return -1;
	if (c == NULL) {
		if (t->nctr == t->ctrcap) {
			size_t cap = t->ctrcap ? 2 * t->ctrcap : 8;
			struct counter *n = realloc(t->ctr, cap * sizeof(*n));
			if (n == NULL) {
				free(reset);
				return -1;
			}
			t->ctr = n;
			t->ctrcap = cap;
		}
		c = &t->ctr[t->nctr++];
		c->datid = datid;
		c->stats_reset = NULL;
	} else if (ident_str_eq(c->stats_reset, stats_reset) && sessions >= c->sessions) {
		missed = sessions - c->sessions - new_seen;
		/* A session that began after the snapshot of the counter but
		 * before that of the activity list is seen early; never
		 * report a negative count. */
		if (missed < 0)
			missed = 0;
	}
	free(c->stats_reset);
	c->stats_reset = reset;
	c->sessions = sessions;
	c->gen = t->gen;
	return missed;
}

void
tracker_counters_done(struct tracker *t, void (*dropped)(void *arg, uint32_t datid), void *arg)
{
	size_t j = 0;

	for (size_t i = 0; i < t->nctr; i++) {
		if (t->ctr[i].gen == t->gen) {
			t->ctr[j++] = t->ctr[i];
			continue;
		}
		if (dropped)
			dropped(arg, t->ctr[i].datid);
		free(t->ctr[i].stats_reset);
	}
	t->nctr = j;
}

void
tracker_counters_reset(struct tracker *t)
{
	for (size_t i = 0; i < t->nctr; i++)
		free(t->ctr[i].stats_reset);
	t->nctr = 0;
}
