/*
 * pgrec.h: what the pg_pgconn*.c programs share: a pgconn whose callbacks
 * record what they were told (struct rec), opened on a [cluster NAME] of
 * PG_CONF, and waits for its next callback.
 */
#ifndef SSLHIST_PGREC_H
#define SSLHIST_PGREC_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "check.h"
#include "pgconn.h"
#include "pgloop.h"

static struct config *cfg;
static struct evdns_base *dns;

struct rec {
	struct pgconn *pc;
	int connected, results, failed;
	char error[1100];
	ExecStatusType status;
	char value[256], value2[256];	/* row 0, columns 0 and 1 */
	int value_len;
	bool free_in_failed, free_in_result;
};

static inline int
events(const struct rec *r)
{
	return r->connected + r->results + r->failed;
}

static inline void
on_connected(struct pgconn *pc, void *arg)
{
	struct rec *r = arg;

	(void)pc;
	r->connected++;
}

static inline void
copy_cell(const PGresult *res, int col, char *dst, size_t len, int *outlen)
{
	int n;

	dst[0] = '\0';
	if (PQntuples(res) < 1 || PQnfields(res) <= col)
		return;
	n = PQgetlength(res, 0, col);
	if ((size_t)n >= len)
		n = (int)len - 1;
	memcpy(dst, PQgetvalue(res, 0, col), (size_t)n);
	dst[n] = '\0';
	if (outlen)
		*outlen = n;
}

static inline void
on_result(struct pgconn *pc, const PGresult *res, void *arg)
{
	struct rec *r = arg;

	r->results++;
	r->status = PQresultStatus(res);
	snprintf(r->error, sizeof(r->error), "%s", PQresultErrorMessage(res));
	copy_cell(res, 0, r->value, sizeof(r->value), &r->value_len);
	copy_cell(res, 1, r->value2, sizeof(r->value2), NULL);
	if (r->free_in_result) {
		pgconn_free(pc);
		r->pc = NULL;
	}
}

static inline void
on_failed(struct pgconn *pc, const char *error, void *arg)
{
	struct rec *r = arg;

	r->failed++;
	snprintf(r->error, sizeof(r->error), "%s", error);
	if (r->free_in_failed) {
		pgconn_free(pc);
		r->pc = NULL;
	}
}

static const struct pgconn_ops ops = { on_connected, on_result, on_failed };

static inline struct pgconn *
open_conn(const char *cluster, struct rec *r, int64_t connect_ms, int64_t query_ms)
{
	const struct cluster_cfg *c = pgloop_cluster(cfg, cluster);
	struct pgconn_params p = { .cluster = c, .host = c->instances[0].host,
		.port = c->instances[0].port, .connect_timeout_ms = connect_ms,
		.query_timeout_ms = query_ms };

	memset(r, 0, sizeof(*r));
	r->pc = pgconn_new(base, dns, &p, &ops, r);
	if (r->pc == NULL) {
		fprintf(stderr, "pgconn_new failed\n");
		exit(2);
	}
	return r->pc;
}

struct waitfor {
	const struct rec *r;
	int want;
};

static inline bool
reached(void *arg)
{
	const struct waitfor *w = arg;

	return events(w->r) >= w->want;
}

/* Runs the loop until r saw one more callback (10 s at most). */
static inline bool
next_event(const struct rec *r)
{
	struct waitfor w = { r, events(r) + 1 };

	return pgloop_until(reached, &w, 10000);
}

static inline bool
connect_ok(const char *cluster, struct rec *r)
{
	open_conn(cluster, r, 10000, 5000);
	pgconn_connect(r->pc);
	if (!next_event(r) || r->connected != 1) {
		fprintf(stderr, "%s: not connected: %s\n", cluster, r->error);
		return false;
	}
	return true;
}

static inline bool
contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		return true;
	fprintf(stderr, "  \"%s\" not in \"%s\"\n", needle, hay);
	return false;
}

/* Runs sql (one text parameter, or none) and waits for its callback. */
static inline void
query1(struct rec *r, const char *sql, const char *arg)
{
	const char *vals[1] = { arg };

	pgconn_query(r->pc, sql, arg ? 1 : 0, arg ? vals : NULL);
	CHECK(next_event(r));
}

#endif
