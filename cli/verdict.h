/*
 * verdict.h: the one-line answer per cluster of `sslhist report`
 * (docs/CONTRACT.md section 4, `verdict`): whether rds.force_ssl=1 is safe,
 * whether a CA rotation needs action first, or that the history cannot yet
 * say, with the reasons.
 *
 *   force_ssl  unsafe   a non-SSL client was seen: force_ssl=1 refuses it
 *              safe     none was seen, and nothing below leaves room for one
 *              unknown  none was seen, but the history cannot rule one out
 *   rotation   action   SSL clients were seen: any of them may verify the
 *                       server certificate (a server never sees the client's
 *                       sslmode), so each needs the new CA in its trust store
 *                       first (the verifying_driver and libpq_drivers
 *                       findings name the kinds)
 *              ready    none was seen, and nothing below leaves room for one
 *              unknown  none was seen, but the history cannot rule one out
 *
 * What leaves room for an unseen client (each one a reason): missed
 * sessions no log named; an active instance where missed sessions cannot be
 * counted (PostgreSQL 13 and older, or not yet counted), whose polls fail,
 * that never polled successfully, or whose role cannot see other users'
 * sessions; instance discovery failing; an active instance with less than
 * a day of history in the window. A decided value (unsafe, action) does not
 * list them: one breaking client is enough.
 *
 * verdict_eval() is pure: the model and the time in, the verdict out.
 */
#ifndef SSLHIST_VERDICT_H
#define SSLHIST_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "report.h"

enum verdict_force { VF_UNKNOWN, VF_SAFE, VF_UNSAFE };
enum verdict_rotation { VROT_UNKNOWN, VROT_READY, VROT_ACTION };

/* Which of the two values a reason explains (a mask). */
#define VERDICT_FORCE_SSL 1u
#define VERDICT_ROTATION 2u

struct verdict_reason {
	unsigned applies;	/* VERDICT_FORCE_SSL | VERDICT_ROTATION */
	char *text;		/* unescaped: holds instance names */
};

struct verdict {
	enum verdict_force force_ssl;
	enum verdict_rotation rotation;
	struct verdict_reason *reasons;	/* deciding reasons first, then doubts */
	size_t nreasons;
};

struct verdict_input {
	const struct rcluster *c;
	int64_t now;		/* Unix s: how long the history is */
	int64_t since;		/* the window's start (INT64_MIN: whole history) */
	int64_t unnamed_missed;	/* missed sessions no log named; -1: none countable */
	int64_t min_history_s;	/* a shorter history is a doubt; 0: a day */
};

/* The unnamed missed sessions of cluster c, for verdict_input (see verdict.c). */
int64_t verdict_unnamed_missed(const struct rcluster *c);

/* Fills v (zeroed by the caller, or freed). 0, or -1 out of memory. */
int verdict_eval(const struct verdict_input *in, struct verdict *v);
void verdict_free(struct verdict *v);

/* "safe", "unsafe", "unknown"; "ready", "action", "unknown". */
const char *verdict_force_name(enum verdict_force f);
const char *verdict_rotation_name(enum verdict_rotation r);

#endif
