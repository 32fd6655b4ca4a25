/*
 * report_logs.c: what imported server logs add to the report's coverage
 * (docs/CONTRACT.md section 4: logged_sessions, unnamed_missed_sessions).
 *
 * Missed sessions are counted per instance and hour (coverage), at the
 * poll that noticed them; sessions only a log showed are counted per
 * instance and hour of their start (log_coverage, sql/004_log_import.sql).
 * A logged-only session can name a miss of its own hour, or of the next
 * one (a session that began at 10:59:59 is missed by the poll at 11:00:10;
 * a miss is never noticed before the session began), so per instance and
 * hour in order:
 *     avail   = logged(h) + what logged(h - 1) left over
 *     named   = min(missed(h), avail)
 *     unnamed += missed(h) - named
 * floored at 0; hours where the server cannot count (missed NULL) name
 * nothing and have nothing unnamed. A log of a time the daemon did not
 * poll names nothing either: its sessions count as logged only.
 */
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "cli.h"
#include "report.h"

/* Both tables' hours that overlap the window, per instance in order. */
static const char logs_sql[] =
	"SELECT instance_id, hour, max(missed), count(missed), sum(logged) FROM ("
	" SELECT instance_id, hour, missed_sessions AS missed, 0 AS logged FROM coverage"
	"  WHERE hour > ?1 - 3600"
	" UNION ALL"
	" SELECT instance_id, hour, NULL, logged_sessions FROM log_coverage"
	"  WHERE hour > ?1 - 3600)"
	" GROUP BY instance_id, hour ORDER BY instance_id, hour";

struct walk {
	int64_t instance, hour, carry;
};

static void
add_hour(struct walk *w, struct rinst *in, int64_t id, int64_t hour, bool known, int64_t missed,
	 int64_t logged)
{
	int64_t avail, named;

	if (w->instance != id || hour != w->hour + 3600)
		w->carry = 0;
	w->instance = id;
	w->hour = hour;
	in->logged += logged;
	avail = logged + w->carry;
	if (!known) {
		w->carry = logged;
		return;
	}
	named = missed < avail ? missed : avail;
	if (named < 0)
		named = 0;
	in->unnamed += missed - named;
	/* Only this hour's own sessions may name the next hour's misses. */
	w->carry = avail - named < logged ? avail - named : logged;
}

int
report_load_logs(struct report *r)
{
	struct walk w = { INT64_MIN, 0, 0 };
	struct rcluster *c;
	struct rinst *in;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(r->db, logs_sql, -1, &st, NULL) != SQLITE_OK) {
		cli_error("reading log coverage: %s", sqlite3_errmsg(r->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, r->q->since < INT64_MIN + 3600 ? INT64_MIN + 3600 : r->q->since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);

		if ((in = report_instance(r, id, &c)) == NULL)
			continue;	/* another cluster (--cluster) */
		add_hour(&w, in, id, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 3) > 0,
			 sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 4));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		cli_error("reading log coverage: %s", sqlite3_errmsg(r->db));
		return -1;
	}
	return 0;
}
