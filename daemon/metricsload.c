/*
 * metricsload.c: see metricsload.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "metrics.h"
#include "metricsload.h"
#include "store.h"
#include "writer.h"

struct load_req {
	struct sq_req base;
	struct metrics *m;
	void (*ready)(void *arg, struct metrics *m);
	void *arg;
	int rc;
	char err[256];
};

/* On the store thread. */
static void
load_run(struct store *s, struct sq_req *req)
{
	struct load_req *q = (struct load_req *)req;

	if ((q->rc = metrics_load(q->m, s)) < 0)
		snprintf(q->err, sizeof(q->err), "%s", store_errmsg(s));
}

static void
load_done(struct sq_req *req)
{
	struct load_req *q = (struct load_req *)req;

	if (q->rc < 0)
		log_warnx("metrics: could not count the stored clients (%s); the "
			  "client gauges count from now on", q->err);
	q->ready(q->arg, q->m);
	free(q);
}

static void
load_drop(struct sq_req *req)
{
	struct load_req *q = (struct load_req *)req;

	metrics_free(q->m);
	free(q);
}

int
metricsload_start(struct writer *w, void (*ready)(void *arg, struct metrics *m), void *arg)
{
	struct load_req *q = calloc(1, sizeof(*q));

	if (q == NULL || (q->m = metrics_new()) == NULL) {
		free(q);
		return -1;
	}
	q->base.run = load_run;
	q->base.done = load_done;
	q->base.drop = load_drop;
	q->ready = ready;
	q->arg = arg;
	writer_call(w, &q->base);
	return 0;
}
