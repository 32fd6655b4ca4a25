/*
 * liveness.c: see liveness.h.
 */
#include <stdio.h>

#include "fleet.h"
#include "instance.h"
#include "liveness.h"

bool
liveness_check(const struct fleet *f, const struct writer *w, int64_t now_ms, int64_t grace_ms,
	       char *why, size_t why_len)
{
	const struct instance *in;
	int64_t late;

	if (f && (in = fleet_most_overdue(f, now_ms, &late)) != NULL && late > grace_ms) {
		snprintf(why, why_len, "%s/%s:%d stuck in state %s, %lld ms past its deadline",
			 instance_cluster(in), instance_host(in), instance_port(in),
			 instance_state_name(in), (long long)late);
		return false;
	}
	(void)w;		/* the store's state is not the loop's health */
	return true;
}
