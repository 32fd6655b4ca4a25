/*
 * store_metrics.h: what the /metrics registry (metrics.h) reads from the
 * history once, at the moment it is created: every stored client, so that
 * the client gauges start from what the file holds. After that the
 * registry follows the poll path in memory and never asks again.
 */
#ifndef SSLHIST_STORE_METRICS_H
#define SSLHIST_STORE_METRICS_H

#include <stdint.h>

#include "pollrec.h"

struct store;

/*
 * Calls fn for every client row: its instance and its identity (a NULL
 * `bits` is -1; strings are the stored bytes, valid during the call
 * only). One read statement, no transaction of its own; fn must not call
 * store functions. 0, or -1 with store_errmsg() set.
 */
int store_metrics_clients(struct store *s,
			  void (*fn)(void *arg, int64_t instance_id, const struct client_key *k),
			  void *arg);

#endif
