/*
 * metrics.h: the counters behind GET /metrics (docs/CONTRACT.md section 8),
 * kept in memory and rendered in the Prometheus text exposition format,
 * version 0.0.4. The HTTP side is metrics_http.h.
 *
 * Where the numbers come from:
 *   - the poll path: instance.c calls metrics_poll_done() with every
 *     poll record it hands to the writer (failed attempts included), and
 *     metrics_instance_gone() when an instance stops being polled;
 *   - the hooks: hooks.c calls metrics_hook_done() as each attempt ends;
 *   - the store, once: metrics_load() reads every stored client, so the
 *     client gauges start from the history, not from zero.
 * A scrape reads only this memory: never SQLite, never a server.
 *
 * Clients: a client is counted once when first seen, by a 64-bit digest
 * of its identity (docs/CONTRACT.md section 3; SHA-256, truncated), per
 * instance and (ssl, tls_version). Clients deleted from the file by
 * `sslhist prune` stay counted until the daemon restarts; a record the
 * writer had to drop (its queue bound while the store failed) is counted
 * though not stored. An application name is never a label: per instance
 * at most METRICS_MAX_TLS_LABELS (ssl, tls_version) pairs get their own
 * series, further ones (a hostile server's odd version strings) add to
 * tls_version="other".
 *
 * Series of an instance appear after its first attempt (success or not)
 * and disappear when it is gone. Every function takes m == NULL as "metrics
 * are not configured" and does nothing.
 */
#ifndef SSLHIST_METRICS_H
#define SSLHIST_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct poll_record;
struct store;
struct metrics;

#define METRICS_MAX_TLS_LABELS 8

/* An empty registry; NULL when out of memory. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Counts the clients the store holds (store_metrics.h). 0, or -1 with
 * store_errmsg() set (the gauges then start from what polls find). */
int metrics_load(struct metrics *m, struct store *s);

/* A poll record of instance `instance` ("host:port") of `cluster` on its
 * way to the writer. Reads r only. */
void metrics_poll_done(struct metrics *m, const char *cluster, const char *instance,
		       const struct poll_record *r);
/* The instance is no longer polled (removed by a reload, or exit). */
void metrics_instance_gone(struct metrics *m, int64_t instance_id);
/* A hook attempt ended: event "non-ssl", "weak-tls" or "new-client",
 * outcome "ok", "failed" or "timeout" (others are ignored). */
void metrics_hook_done(struct metrics *m, const char *event, const char *outcome);

/*
 * The whole exposition, # HELP and # TYPE for each family, label values
 * escaped (backslash, double quote, line feed; bytes that are not UTF-8
 * become U+FFFD). store_queue: the writer's queue (writer_queued()). The
 * text is in a buffer the registry owns, valid until the next call or
 * metrics_free; *len its length (a NUL follows, not counted). NULL when
 * out of memory.
 */
const char *metrics_render(struct metrics *m, size_t store_queue, size_t *len);

/* Escapes s (NULL: "") as a label value into dst of cap bytes (at least
 * 4 * strlen + 1 is always enough); returns the length written. */
size_t metrics_escape_label(const char *s, char *dst, size_t cap);

#endif
