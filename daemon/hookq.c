/*
 * hookq.c: the store thread's side of the hooks (hookq.h).
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "hookq.h"
#include "store.h"
#include "store_logs.h"

static void
fail(struct hook_pass *p, struct store *s)
{
	p->failed = true;
	snprintf(p->err, sizeof(p->err), "%s", store_errmsg(s));
}

void
hookq_pass_run(struct store *s, struct sq_req *r)
{
	struct hook_pass *p = (struct hook_pass *)r;
	int n, want = p->want < HOOKQ_DUE_MAX ? p->want : HOOKQ_DUE_MAX;

	p->next_due = -1;
	if (p->recover) {
		if ((n = store_hooks_recover(s, wall_ms())) < 0)
			{
			fail(p, s);
			return;
		}
		p->recovered_ok = true;
		p->recovered = n;
	}
	if (p->want_last_client) {
		if ((p->last_client = store_last_client(s)) < 0)
			{
			fail(p, s);
			return;
		}
		p->got_last_client = true;
		p->logged_after = p->last_client;
	}
	if ((n = store_clients_after(s, p->logged_after, p->clients, HOOKQ_CLIENTS_MAX)) < 0)
		{
			fail(p, s);
			return;
		}
	p->nclients = n;
	if ((p->swept = store_hooks_sweep(s, p->mask, wall_ms() / 1000)) < 0)
		{
			fail(p, s);
			return;
		}
	if (want > 0) {
		struct store_alert due[HOOKQ_DUE_MAX];
		int i;

		if ((n = store_hooks_due(s, p->mask, wall_ms(), due, want)) < 0)
			{
			fail(p, s);
			return;
		}
		p->more_due = n == want;
		for (i = 0; i < n && !p->failed; i++) {
			int64_t at = store_hooks_claim(s, due[i].id, wall_ms() / 1000);

			if (at < 0) {
				fail(p, s);
				break;
			}
			p->claimed[p->nclaimed] = due[i];
			p->attempt[p->nclaimed++] = at;
			memset(&due[i], 0, sizeof(due[i]));
		}
		for (; i < n; i++)
			store_alert_clear(&due[i]);
		if (p->failed)
			return;
	}
	p->next_due = store_hooks_next_due(s, p->mask);
}

void
hookq_pass_clear(struct hook_pass *p)
{
	for (int i = 0; i < p->nclients; i++)
		store_client_clear(&p->clients[i]);
	for (int i = 0; i < p->nclaimed; i++)
		store_alert_clear(&p->claimed[i]);
	p->nclients = p->nclaimed = 0;
}

void
hookq_end_run(struct store *s, struct sq_req *r)
{
	struct hook_end_req *q = (struct hook_end_req *)r;

	q->e.error = q->error;
	q->rc = store_hooks_end(s, &q->e);
	if (q->rc < 0)
		snprintf(q->err, sizeof(q->err), "%s", store_errmsg(s));
}

void
hookq_newest_run(struct store *s, struct sq_req *r)
{
	struct hook_newest_req *q = (struct hook_newest_req *)r;

	q->newest = store_newest_client(s);
}
