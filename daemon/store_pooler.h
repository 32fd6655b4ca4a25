/*
 * store_pooler.h: the store's side of [pooler NAME] (sql/006_pooler.sql).
 *
 * A pooler has an instance row of the cluster it fronts, at its own
 * host:port, with `pooler` = its name; its poll records are applied by
 * store_apply like an instance's. The fleet's sweep (store_retire_others)
 * never retires these rows: the pooler set does, here.
 */
#ifndef SSLHIST_STORE_POOLER_H
#define SSLHIST_STORE_POOLER_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* The row id of pooler `name` fronting `cluster` at host:port, created if
 * new (retired_at cleared); -1 on error. */
int64_t store_pooler(struct store *s, const char *name, const char *cluster, const char *host,
		     int port);
/* Marks retired every pooler row whose id is not in keep[] (now: Unix s). */
int store_pooler_retire_others(struct store *s, const int64_t *keep, size_t nkeep, int64_t now);

#endif
