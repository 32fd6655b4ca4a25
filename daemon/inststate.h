/*
 * inststate.h: the states of one instance's poller and the rules between
 * them: which transitions may happen, and what deadline ends each state.
 *
 * Kept apart from the machine that runs them (instance.c) so that the
 * rules read as one table and are tested without a server. instance.c
 * changes state only through its one transition function, which asks
 * inst_transition_allowed() first.
 */
#ifndef SSLHIST_INSTSTATE_H
#define SSLHIST_INSTSTATE_H

#include <stdbool.h>
#include <stdint.h>

enum instance_state {
	INST_WAITING,		/* no connection; the backoff timer runs */
	INST_CONNECTING,	/* resolving, password_command, TLS, auth */
	INST_FACTS,		/* the facts query runs */
	INST_PREPARING,		/* the poll query is being prepared */
	INST_POLLING,		/* the poll query runs */
	INST_IDLE,		/* connected; the poll timer runs */
	INST_DONE,		/* --once: the attempt is over; terminal */
	INST_NSTATES
};

/* "waiting", "connecting", ...; "?" for a value out of range. */
const char *inst_state_name(enum instance_state st);

/*
 * Whether `from` may go to `to`: the table in inststate.c. Every live
 * state may fail to WAITING (or, in --once mode, end in DONE); DONE goes
 * nowhere; a state never "changes" to itself.
 */
bool inst_transition_allowed(enum instance_state from, enum instance_state to);

/* What ends each state: the instance's own timer (poll, backoff), the
 * connection's deadline (connect_timeout, query_timeout), or nothing. */
enum inst_ends_by { INST_BY_TIMER, INST_BY_CONNECTION, INST_BY_NOTHING };
enum inst_ends_by inst_ended_by(enum instance_state st);

/* The clocks an instance reads to say how late it is (monotonic ms). */
struct inst_clocks {
	int64_t timer_due;	/* when the instance's timer fires */
	int64_t conn_deadline;	/* the connection's deadline; 0: none runs */
	int64_t state_since;	/* when the instance entered its state */
};

/*
 * How long (ms) past its deadline an instance in state `st` is at `now`
 * (0 when not late, and always in DONE). A state the connection ends but
 * with no deadline running has nothing that will end it: it is late from
 * the moment it began.
 */
int64_t inst_overdue_ms(enum instance_state st, const struct inst_clocks *c, int64_t now);

#endif
