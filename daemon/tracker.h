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
 * Marks a session seen in this poll. Returns 1 if it is new, 0 if known,
 * -1 when out of memory. `recorded`: the session belongs to a client that
 * is stored (not excluded, not our own).
 */
int tracker_see(struct tracker *t, int32_t pid, int64_t backend_start_us, bool recorded);
/*
 * Marks a known session seen in this poll and returns true; false (and
 * nothing changed) for a session not known. The poll's fast path: only a
 * session not known needs its row decoded whole, then tracker_see().
 */
bool tracker_mark(struct tracker *t, int32_t pid, int64_t backend_start_us);
/*
 * The application_name of a session is the one part of a client's identity
 * that a session can change (SET application_name). tracker_app() records
 * its hash (`app`, never 0) for a known session seen in this poll; it
 * returns 1 when the session was known under another application before,
 * or a change was deferred, 0 when it is the same, first recorded (a new
 * session, one preloaded after a restart), or the session is not known or
 * not recorded.
 * tracker_defer() marks a change seen in a row without the rest of the
 * identity: the next tracker_app() of the session reports it.
 */
int tracker_app(struct tracker *t, int32_t pid, int64_t backend_start_us, uint64_t app);
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
