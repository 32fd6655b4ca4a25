/*
 * metrics_http.h: GET /metrics over libevent's evhttp, on the daemon's
 * loop (docs/CONTRACT.md section 8). The text comes from the registry of
 * metrics.h: a scrape never reads SQLite and never waits on a server.
 *
 * Bad input on the port:
 *   - a path other than /metrics: 404; a method other than GET: 405 with
 *     `Allow: GET`; a request line or header evhttp cannot parse: 400;
 *     headers over 8 KiB or a body over 4 KiB: 400/413, connection closed;
 *   - every connection has a deadline of METRICS_HTTP_DEADLINE_S from
 *     accept() (the request, the response, all of it) and carries one
 *     request (responses say `Connection: close`), so a slow or endless
 *     request is cut, however it trickles; evhttp's own idle timeout is the
 *     same;
 *   - at most METRICS_HTTP_MAX_CONNS connections at once: a connection
 *     beyond them is closed as soon as it is accepted, so a flood costs a
 *     bounded number of descriptors and never starves the pollers of theirs.
 */
#ifndef SSLHIST_METRICS_HTTP_H
#define SSLHIST_METRICS_HTTP_H

#include <stddef.h>

struct event_base;
struct config;
struct metrics;
struct writer;
struct metrics_http;

#define METRICS_HTTP_DEADLINE_S 10
#define METRICS_HTTP_MAX_CONNS 64
#define METRICS_HTTP_MAX_HEADERS 8192
#define METRICS_HTTP_MAX_BODY 4096

/*
 * Makes *hp what cfg asks for: nothing without metrics_listen; else an
 * endpoint at cfg->metrics_listen serving m (with writer_queued(w) as
 * sslhist_store_queue). An unchanged address keeps the running endpoint;
 * a changed one is bound before the old one closes (or, on the same port,
 * right after it). Returns 0, or -1 with why in err (naming the key and
 * address); *hp then is the old endpoint if it still listens, else NULL.
 */
int metrics_http_apply(struct metrics_http **hp, struct event_base *base,
		       const struct config *cfg, struct metrics *m, const struct writer *w,
		       char *err, size_t errlen);
void metrics_http_free(struct metrics_http *h);

/* Connections open now (tests, logs). */
size_t metrics_http_connections(const struct metrics_http *h);

#endif
