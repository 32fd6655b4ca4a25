/*
 * test_inststate.c: the instance's state table. The success path and a
 * failure from every live state are allowed, nothing else is (DONE is
 * terminal, no state "changes" to itself); every state but DONE is ended
 * by a clock the daemon owns, so a stuck one is overdue (PREPARING was
 * not, before the table).
 */
#include "check.h"
#include "inststate.h"

static void
test_transitions(void)
{
	static const struct {
		enum instance_state from, to;
	} allowed[] = {
		{ INST_WAITING, INST_CONNECTING },
		{ INST_CONNECTING, INST_FACTS }, { INST_CONNECTING, INST_WAITING },
		{ INST_CONNECTING, INST_DONE },
		{ INST_FACTS, INST_PREPARING }, { INST_FACTS, INST_WAITING }, { INST_FACTS, INST_DONE },
		{ INST_PREPARING, INST_POLLING }, { INST_PREPARING, INST_WAITING },
		{ INST_PREPARING, INST_DONE },
		{ INST_POLLING, INST_IDLE }, { INST_POLLING, INST_WAITING },
		{ INST_POLLING, INST_DONE },
		{ INST_IDLE, INST_POLLING }, { INST_IDLE, INST_WAITING },
	};
	int n = 0;

	for (int f = 0; f < INST_NSTATES; f++) {
		for (int t = 0; t < INST_NSTATES; t++) {
			bool want = false;
			for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
				want |= allowed[i].from == (enum instance_state)f &&
					allowed[i].to == (enum instance_state)t;
			if (inst_transition_allowed(f, t) != want)
				fprintf(stderr, "%s -> %s: want %s\n", inst_state_name(f),
					inst_state_name(t), want ? "allowed" : "rejected");
			CHECK(inst_transition_allowed(f, t) == want);
			n += want;
		}
	}
	CHECK_INT(n, (int)(sizeof(allowed) / sizeof(allowed[0])));
	/* Out of range is rejected, not read past the table. */
	CHECK(!inst_transition_allowed(INST_NSTATES, INST_WAITING));
	CHECK(!inst_transition_allowed(INST_WAITING, INST_NSTATES));
	CHECK(!inst_transition_allowed((enum instance_state)-1, INST_WAITING));
}

static void
test_names(void)
{
	static const char *const names[] = { "waiting", "connecting", "facts", "preparing",
		"polling", "idle", "done" };

	for (int s = 0; s < INST_NSTATES; s++)
		CHECK_STR(inst_state_name(s), names[s]);
	CHECK_STR(inst_state_name(INST_NSTATES), "?");
}

static void
test_overdue(void)
{
	/* Due at 1000, a connection deadline at 2000, entered at 500. */
	struct inst_clocks c = { .timer_due = 1000, .conn_deadline = 2000, .state_since = 500 };
	struct inst_clocks none = { .timer_due = 1000, .conn_deadline = 0, .state_since = 500 };

	for (int s = 0; s < INST_NSTATES; s++) {
		enum inst_ends_by by = inst_ended_by(s);

		/* Every state but DONE has a deadline. */
		CHECK(by == (s == INST_DONE ? INST_BY_NOTHING :
			     s == INST_WAITING || s == INST_IDLE ? INST_BY_TIMER :
			     INST_BY_CONNECTION));
		CHECK_INT(inst_overdue_ms(s, &c, 400), 0);
		if (s == INST_DONE) {
			CHECK_INT(inst_overdue_ms(s, &c, 1000000), 0);
		} else if (by == INST_BY_TIMER) {
			CHECK_INT(inst_overdue_ms(s, &c, 1500), 500);
		} else {
			CHECK_INT(inst_overdue_ms(s, &c, 1500), 0);
			CHECK_INT(inst_overdue_ms(s, &c, 2600), 600);
			/* No deadline running: late since it began. */
			CHECK_INT(inst_overdue_ms(s, &none, 1500), 1000);
		}
	}
	/* The bug this table fixed: a stuck PREPARING is overdue. */
	CHECK_INT(inst_overdue_ms(INST_PREPARING, &c, 5000), 3000);
}

int
main(void)
{
	test_transitions();
	test_names();
	test_overdue();
	return check_done();
}
