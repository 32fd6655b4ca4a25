/*
 * inststate.c: the instance's state table (inststate.h).
 */
#include "inststate.h"

#define TO(s) (1u << (s))

/* Where each state may go. The success path runs down the left column
 * of instance.h's diagram; every live state may fail. */
static const struct {
	const char *name;
	unsigned to;		/* TO(state) bits */
	enum inst_ends_by ends_by;
} table[INST_NSTATES] = {
	[INST_WAITING] = { "waiting", TO(INST_CONNECTING), INST_BY_TIMER },
	[INST_CONNECTING] = { "connecting", TO(INST_FACTS) | TO(INST_WAITING) | TO(INST_DONE),
			      INST_BY_CONNECTION },
	[INST_FACTS] = { "facts", TO(INST_PREPARING) | TO(INST_WAITING) | TO(INST_DONE),
			 INST_BY_CONNECTION },
	[INST_PREPARING] = { "preparing", TO(INST_POLLING) | TO(INST_WAITING) | TO(INST_DONE),
			     INST_BY_CONNECTION },
	[INST_POLLING] = { "polling", TO(INST_IDLE) | TO(INST_WAITING) | TO(INST_DONE),
			   INST_BY_CONNECTION },
	[INST_IDLE] = { "idle", TO(INST_POLLING) | TO(INST_WAITING), INST_BY_TIMER },
	[INST_DONE] = { "done", 0, INST_BY_NOTHING },
};

static bool
valid(enum instance_state st)
{
	return (unsigned)st < INST_NSTATES;
}

const char *
inst_state_name(enum instance_state st)
{
	return valid(st) ? table[st].name : "?";
}

bool
inst_transition_allowed(enum instance_state from, enum instance_state to)
{
	return valid(from) && valid(to) && (table[from].to & TO(to)) != 0;
}

enum inst_ends_by
inst_ended_by(enum instance_state st)
{
	return valid(st) ? table[st].ends_by : INST_BY_NOTHING;
}

int64_t
inst_overdue_ms(enum instance_state st, const struct inst_clocks *c, int64_t now)
{
	int64_t due;

	switch (inst_ended_by(st)) {
	case INST_BY_TIMER:
		due = c->timer_due;
		break;
	case INST_BY_CONNECTION:
		due = c->conn_deadline != 0 ? c->conn_deadline : c->state_since;
		break;
	case INST_BY_NOTHING:
	default:
		return 0;
	}
	return now > due ? now - due : 0;
}
