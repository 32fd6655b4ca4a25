/*
 * tracker.h: which sessions of one instance are alive, poll to poll.
 *
 * A session is (pid, backend_start). Each poll shows the sessions alive at
 * that instant; the tracker tells which are new and which ended since the
 * previous poll, and whether an ended one was seen in one poll only (a
 * sign that the interval is too long). It also keeps the previous poll's
 * pg_stat_database.sessions per database, to count the sessions that began
 * and ended between two polls unseen: growth of the counter minus the new
 * sessions the poll saw.
 */
#ifndef SSLHIST_TRACKER_H
#define SSLHIST_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tracker;

struct tracker *tracker_new(void);
void tracker_free(struct tracker *t);

/* A session known from before a restart: alive, seen more than once. */
int tracker_preload(struct tracker *t, int32_t pid, int64_t backend_start_us);

/* Starts a poll. */
void tracker_begin(struct tracker *t);
/*
 * The application_name of a session is the one part of a client's identity
 * that a session can change (SET application_name); the tracker keeps its
 * hash (`app`, never 0; 0 passed means "not known here") per session.
 */
enum track_mark {
	TRACK_UNKNOWN,	/* not known: nothing changed */
	TRACK_KNOWN,	/* known, marked seen in this poll */
	TRACK_RENAMED,	/* known and recorded, and its application differs from
			 * the one recorded before (or a rename was deferred):
			 * the session now belongs to another client */
};
/*
 * Marks a known session seen in this poll: the poll's fast path, one hash
 * lookup; only a session not known needs its row decoded whole, then
 * tracker_see(). A session preloaded after a restart (application not yet
 * known) adopts `app` without a rename.
 */
enum track_mark tracker_mark(struct tracker *t, int32_t pid, int64_t backend_start_us,
			     uint64_t app);
/*
 * Marks a session seen in this poll. Returns 1 if it is new, 0 if known,
 * -1 when out of memory. `recorded`: the session belongs to a client that
 * is stored (not excluded, not our own).
 */
int tracker_see(struct tracker *t, int32_t pid, int64_t backend_start_us, bool recorded,
		uint64_t app);
/* A rename seen in a row without the rest of the identity: the next
 * tracker_mark() of the session reports TRACK_RENAMED. */
void tracker_defer(struct tracker *t, int32_t pid, int64_t backend_start_us);
/*
 * Ends the poll: calls fn for every recorded session not seen in it (then
 * forgets all sessions not seen). single_poll: it was seen in one poll.
 */
void tracker_finish(struct tracker *t,
		    void (*fn)(void *arg, int32_t pid, int64_t backend_start_us, bool single_poll),
		    void *arg);
size_t tracker_count(const struct tracker *t);

/*
 * Session counters. tracker_count_db() is called once per database of a
 * poll with its counter and how many new sessions the poll saw in it;
 * returns the sessions missed since the previous poll, or -1 when there is
 * no usable baseline (first poll, counter reset: stats_reset changed or
 * the counter went down). *changed says whether the counter or stats_reset
 * differ from the previous poll's (or the database is new): only then is
 * there anything to store. tracker_counters_done() then forgets databases
 * that were not reported (dropped), calling `dropped` (may be NULL) for each.
 */
int64_t tracker_count_db(struct tracker *t, uint32_t datid, int64_t sessions,
			 const char *stats_reset, int64_t new_seen, bool *changed);
void tracker_counters_done(struct tracker *t, void (*dropped)(void *arg, uint32_t datid),
			   void *arg);
/* Forgets all counter baselines (e.g. after a server restart was seen). */
void tracker_counters_reset(struct tracker *t);

#endif
