/*
 * test_tracker.c: new, known and ended sessions; single-poll sessions;
 * missed-session counting with resets; table growth.
 */
#include "check.h"
#include "tracker.h"

struct ended {
	int n, single;
	int32_t last_pid;
};

static void
on_end(void *arg, int32_t pid, int64_t bs, bool single)
{
	struct ended *e = arg;

	(void)bs;
	e->n++;
	e->single += single;
	e->last_pid = pid;
}

static void
test_sessions(void)
{
	struct tracker *t = tracker_new();
	struct ended e = { 0 };

	tracker_begin(t);
	CHECK_INT(tracker_see(t, 10, 1000, true, 0), 1);
	CHECK_INT(tracker_see(t, 11, 1000, true, 0), 1);
	CHECK_INT(tracker_see(t, 12, 1000, false, 0), 1);
	CHECK_INT(tracker_see(t, 10, 1000, true, 0), 0);	/* twice in one poll */
	tracker_finish(t, on_end, &e);
	CHECK_INT(e.n, 0);
	CHECK_INT(tracker_count(t), 3);

	/* 11 ended after one poll; 12 ended but is not recorded; the pid 10
	 * was reused by a new backend (another start time). */
	tracker_begin(t);
	CHECK_INT(tracker_see(t, 10, 1000, true, 0), 0);
	CHECK_INT(tracker_see(t, 10, 2000, true, 0), 1);
	tracker_finish(t, on_end, &e);
	CHECK_INT(e.n, 1);
	CHECK_INT(e.single, 1);
	CHECK_INT(e.last_pid, 11);
	CHECK_INT(tracker_count(t), 2);

	/* 10@1000 ends after two polls: not single. */
	e = (struct ended){ 0 };
	tracker_begin(t);
	CHECK_INT(tracker_see(t, 10, 2000, true, 0), 0);
	tracker_finish(t, on_end, &e);
	CHECK_INT(e.n, 1);
	CHECK_INT(e.single, 0);

	/* Preloaded sessions (from the store after a restart) are known. */
	CHECK_INT(tracker_preload(t, 77, 5), 0);
	tracker_begin(t);
	CHECK_INT(tracker_see(t, 77, 5, true, 0), 0);
	tracker_finish(t, on_end, &e);
	tracker_free(t);
}

static void
test_application(void)
{
	struct tracker *t = tracker_new();

	/* Unknown session, first application, same again, then another one. */
	CHECK_INT(tracker_mark(t, 5, 50, 0xa1), TRACK_UNKNOWN);
	tracker_begin(t);
	CHECK_INT(tracker_see(t, 5, 50, true, 0xa1), 1);
	CHECK_INT(tracker_mark(t, 5, 50, 0xa1), TRACK_KNOWN);
	tracker_finish(t, NULL, NULL);
	tracker_begin(t);
	CHECK_INT(tracker_see(t, 5, 50, true, 0xa1), 0);
	CHECK_INT(tracker_mark(t, 5, 50, 0xa1), TRACK_KNOWN);
	CHECK_INT(tracker_mark(t, 5, 50, 0xb3), TRACK_RENAMED);
	CHECK_INT(tracker_mark(t, 5, 50, 0xb3), TRACK_KNOWN);
	tracker_finish(t, NULL, NULL);
	/* A session preloaded after a restart adopts its application silently. */
	CHECK_INT(tracker_preload(t, 6, 60), 0);
	tracker_begin(t);
	CHECK_INT(tracker_see(t, 6, 60, true, 0), 0);
	CHECK_INT(tracker_mark(t, 6, 60, 0xc5), TRACK_KNOWN);
	tracker_finish(t, NULL, NULL);
	/* A rename seen without the full row is reported with the next one,
	 * once, even when the application is the same by then. */
	tracker_begin(t);
	CHECK_INT(tracker_mark(t, 6, 60, 0xd7), TRACK_RENAMED);
	tracker_defer(t, 6, 60);
	tracker_finish(t, NULL, NULL);
	tracker_begin(t);
	CHECK_INT(tracker_mark(t, 6, 60, 0xd7), TRACK_RENAMED);
	CHECK_INT(tracker_mark(t, 6, 60, 0xd7), TRACK_KNOWN);
	tracker_defer(t, 99, 1);	/* not known: nothing happens */
	CHECK_INT(tracker_mark(t, 99, 1, 0xd7), TRACK_UNKNOWN);
	/* A session not recorded (own, excluded) is never renamed. */
	CHECK_INT(tracker_see(t, 7, 70, false, 0xa1), 1);
	CHECK_INT(tracker_mark(t, 7, 70, 0xb3), TRACK_KNOWN);
	tracker_finish(t, NULL, NULL);
	tracker_free(t);
}

static void
test_growth(void)
{
	struct tracker *t = tracker_new();
	struct ended e = { 0 };
	int fresh = 0;

	/* Many polls of churning sessions: tombstones must not fill the
	 * table, and every session is found again while alive. */
	for (int poll = 0; poll < 200; poll++) {
		tracker_begin(t);
		for (int i = 0; i < 500; i++)
			fresh += tracker_see(t, poll * 250 + i, 42, true, 0);
		tracker_finish(t, on_end, &e);
	}
	/* Each poll shares 250 sessions with the previous one. */
	CHECK_INT(fresh, 500 + 199 * 250);
	CHECK_INT(tracker_count(t), 500);
	CHECK_INT(e.n, 199 * 250);
	/* Only the first poll's lower half was seen once (every later
	 * session is in two consecutive polls). */
	CHECK_INT(e.single, 250);
	tracker_free(t);
}

static void
on_dropped(void *arg, uint32_t datid)
{
	*(uint32_t *)arg = datid;
}

static void
test_counters(void)
{
	struct tracker *t = tracker_new();
	uint32_t gone = 0;
	bool ch;

	tracker_begin(t);
	CHECK_INT(tracker_count_db(t, 5, 100, "r1", 0, &ch), -1);	/* no baseline */
	CHECK(ch);
	CHECK_INT(tracker_count_db(t, 6, 10, NULL, 0, &ch), -1);
	CHECK(ch);
	tracker_counters_done(t, on_dropped, &gone);

	tracker_begin(t);
	CHECK_INT(tracker_count_db(t, 5, 150, "r1", 8, &ch), 42);	/* 50 began, 8 seen */
	CHECK(ch);
	CHECK_INT(tracker_count_db(t, 6, 12, NULL, 5, &ch), 0);	/* seen early: never < 0 */
	CHECK(ch);
	tracker_counters_done(t, on_dropped, &gone);

	/* Nothing began: nothing changed, nothing missed. */
	tracker_begin(t);
	CHECK_INT(tracker_count_db(t, 5, 150, "r1", 0, &ch), 0);
	CHECK(!ch);
	CHECK_INT(tracker_count_db(t, 6, 12, NULL, 0, &ch), 0);
	CHECK(!ch);
	tracker_counters_done(t, on_dropped, &gone);
	CHECK_INT(gone, 0);

	tracker_begin(t);
	CHECK_INT(tracker_count_db(t, 5, 10, "r1", 0, &ch), -1);	/* went down: reset */
	CHECK(ch);
	CHECK_INT(tracker_count_db(t, 6, 12, "r2", 0, &ch), -1);	/* stats_reset changed */
	CHECK(ch);
	tracker_counters_done(t, on_dropped, &gone);

	tracker_begin(t);
	CHECK_INT(tracker_count_db(t, 5, 13, "r1", 1, &ch), 2);
	tracker_counters_done(t, on_dropped, &gone);	/* 6 not reported: dropped database */
	CHECK_INT(gone, 6);

	tracker_begin(t);
	CHECK_INT(tracker_count_db(t, 6, 30, "r2", 0, &ch), -1);	/* forgotten */
	CHECK_INT(tracker_count_db(t, 5, 13, "r1", 0, &ch), 0);
	CHECK(!ch);
	tracker_counters_done(t, NULL, NULL);
	tracker_counters_reset(t);
	tracker_begin(t);
	CHECK_INT(tracker_count_db(t, 5, 20, "r1", 0, &ch), -1);
	tracker_free(t);
}

/* A crowd of sessions comes and goes: the table shrinks back. */
static void
test_shrink(void)
{
	struct tracker *t = tracker_new();

	tracker_begin(t);
	for (int i = 1; i <= 5000; i++)
		CHECK_INT(tracker_see(t, i, 7, true, 0), 1);
	tracker_begin(t);
	CHECK_INT(tracker_see(t, 1, 7, true, 0), 0);
	tracker_finish(t, NULL, NULL);
	CHECK_INT(tracker_count(t), 1);
	tracker_begin(t);
	CHECK(tracker_mark(t, 1, 7, 0));
	CHECK_INT(tracker_see(t, 9, 7, true, 0), 1);
	tracker_finish(t, NULL, NULL);
	CHECK_INT(tracker_count(t), 2);
	tracker_free(t);
}

static void
test_mark(void)
{
	struct tracker *t = tracker_new();

	tracker_begin(t);
	CHECK(!tracker_mark(t, 10, 1000, 0));	/* empty: nothing known */
	CHECK_INT(tracker_see(t, 10, 1000, true, 0), 1);
	tracker_begin(t);
	CHECK(tracker_mark(t, 10, 1000, 0));
	CHECK(!tracker_mark(t, 10, 1001, 0));	/* same pid, another session */
	CHECK_INT(tracker_count(t), 1);
	tracker_finish(t, NULL, NULL);
	CHECK_INT(tracker_count(t), 1);		/* marked: still alive */
	tracker_free(t);
}

int
main(void)
{
	test_sessions();
	test_application();
	test_growth();
	test_counters();
	test_mark();
	test_shrink();
	return check_done();
}
