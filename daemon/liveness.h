/*
 * liveness.h: the watchdog's progress check (see notify.h).
 *
 * The watchdog timer running on time proves the loop dispatches; this
 * proves that what waits on the loop's timers got them: every instance's
 * state machine is within `grace_ms` of its own deadlines (poll, backoff,
 * connect_timeout, query_timeout). A state machine that missed its
 * deadline is stuck, and a stuck daemon is better killed by the watchdog
 * and restarted than left polling nothing.
 *
 * The store is not part of it: it runs on its own thread (writer.h), so a
 * store that fails or hangs (a frozen file system, a held lock) delays no
 * poll, and results wait in bounded memory. Restarting would not thaw the
 * disk and would lose those results; a stuck store is reported in the
 * status line and the log instead (janitor.h). `w` is accepted for the
 * callers and not read.
 */
#ifndef SSLHIST_LIVENESS_H
#define SSLHIST_LIVENESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fleet;
struct writer;

/* True when healthy at monotonic now_ms; else false with the component
 * and how late it is in why. Either of f and w may be NULL (not yet made). */
bool liveness_check(const struct fleet *f, const struct writer *w, int64_t now_ms,
		    int64_t grace_ms, char *why, size_t why_len);

#endif
