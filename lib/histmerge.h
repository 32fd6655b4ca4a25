/*
 * histmerge.h: several histories (`sslhist --db A --db B ...`) read as one.
 *
 * The first file is `main` (opened by histdb_open, read-only); every other
 * one is ATTACHed read-only with the same checks (histdb_attach) as
 * src1, src2, ... Then the tables the tool reads get a merged copy in the
 * connection's temp schema under their own names, which SQLite searches
 * before main, so the commands' queries run unchanged:
 *
 * - instance: one row per (cluster, host, port) over all files, fresh ids
 *   (rules below), plus `source_mask` (bit k: file k recorded it);
 * - client_data: one row per client identity (docs/CONTRACT.md section 3:
 *   the instance by (cluster, host, port), not by a file's id), with the
 *   derived columns of schema 2 computed per file first (live 0);
 * - coverage, missed_session, discovery: aggregate views;
 * - every other table: a UNION ALL view, with instance_id, client_id and
 *   alert ids mapped into the merged id spaces;
 * - every view of main (e.g. `client`) recreated in temp over the above.
 *
 * What "merged" means where two bastions observed the same instance (two
 * observers, one truth): docs/CONTRACT.md section 4 states the rules:
 * clients once each, sessions the largest count (files hold counts, not
 * session ids: exact when each observer saw the other's sessions, a lower
 * bound otherwise), samples summed, first_seen min, last_seen max; coverage
 * per instance and hour: polls and failed polls summed, largest gap the
 * smallest of the observers that had a successful poll in the hour,
 * sessions first seen the largest, single-poll and missed sessions the
 * smallest (a session is missed by the union only if every observer missed
 * it, so the smaller count is the upper bound of what the union missed).
 *
 * All files are read in one transaction per file (BEGIN ... COMMIT around
 * the build), so each file contributes one consistent snapshot.
 */
#ifndef SSLHIST_HISTMERGE_H
#define SSLHIST_HISTMERGE_H

#include <stddef.h>

#include <sqlite3.h>

/* Files one command can read: main plus SQLite's attached databases. */
int histmerge_max_files(sqlite3 *db);

/*
 * db is paths[0] opened by histdb_open(HISTDB_RO). Attaches paths[1..n-1]
 * and builds the merged temp schema; query_only is on again afterwards.
 * 0, or -1 with a message in err that names the file at fault.
 */
int histmerge_open(sqlite3 *db, const char *const *paths, size_t n, char *err, size_t errlen);

#endif
