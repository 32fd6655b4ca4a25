/*
 * pooler.h: the pollers of [pooler NAME] sections (docs/CONTRACT.md
 * section 2): one admin-console connection per PgBouncer.
 *
 * A pooler's poller runs the instances' state table (inststate.h) over the
 * same pgconn (event loop, connect_timeout and query_timeout deadlines,
 * password_command, evdns), with the same backoff and jitter:
 *
 *   WAITING --timer--> CONNECTING --connected--> FACTS (SHOW VERSION)
 *   --result--> PREPARING (SHOW CONFIG: the pooler's TLS settings; the
 *   console has no prepared statements) --result--> POLLING (SHOW SERVERS,
 *   then SHOW CLIENTS) --result--> IDLE --timer--> POLLING ...
 *   any failure --> WAITING (dropped, recorded, backoff)
 *
 * Every statement goes with the simple query protocol (PQsendQuery): the
 * console answers only that; Parse/Bind/Execute, which the instances'
 * prepared binary poll uses, is refused ("extended query protocol not
 * supported by admin console", measured with 1.18), and so is the
 * `options` startup parameter that carries the instances'
 * statement_timeout ("unsupported startup parameter: options"). Its
 * results are text, decoded by column name (poolrows.h).
 *
 * Each poll is a poll record of the pooler's instance row
 * (store_pooler.h): its client sessions as live sessions, its failures as
 * failed attempts; its SHOW SERVERS goes to the poolmatch (poolmatch.h),
 * which the instances' polls of the fronted cluster ask. A pooler that is
 * down, slow or odd fails alone: it shares nothing with other pollers but
 * the loop, the writer and the poolmatch.
 *
 * In --once mode each pooler makes one attempt, and `once_done` runs when
 * all have: the daemon polls the instances only then, so that the poolers'
 * server connections are known (and nothing is held back: poolmatch.h).
 */
#ifndef SSLHIST_POOLER_H
#define SSLHIST_POOLER_H

#include <stdbool.h>
#include <stdint.h>

struct poller_env;
struct poolmatch;
struct poolers;

/* once_done (--once, may be NULL otherwise): every pooler made its
 * attempt; all_ok when every one succeeded. */
struct poolers *poolers_new(const struct poller_env *env, struct poolmatch *pm,
			    void (*once_done)(void *arg, bool all_ok), void *arg);
void poolers_free(struct poolers *ps);
/* Applies env->cfg's poolers: new ones start, removed ones stop (their
 * rows retired, history kept), changed ones reconnect. 0, or -1 when the
 * store could not register one. */
int poolers_apply(struct poolers *ps);
/* How long (ms) past its deadline the most overdue pooler is. */
int64_t poolers_overdue_ms(const struct poolers *ps, int64_t now_ms);

#endif
