/*
 * metrics_http.c: the /metrics endpoint (metrics_http.h) on evhttp.
 *
 * libevent 2.1's evhttp has neither a connection limit nor a deadline for
 * a whole request (its timeout restarts with every byte read), so each
 * connection is tracked here:
 *   1. evhttp asks us for the connection's bufferevent (evhttp_set_bevcb);
 *      we take a reference to it and activate `attach` at once: it runs
 *      in the same loop pass, before the new socket can have any I/O;
 *   2. attach reads the evhttp_connection from the bufferevent's callback
 *      argument (evhttp sets it to the connection), sets a close callback
 *      and drops our reference (a bufferevent evhttp freed in between, on
 *      an allocation failure, has no callbacks left: we only let it go);
 *   3. the close callback, which evhttp calls whenever it closes the
 *      socket, forgets the connection; a once-a-second sweep frees those
 *      past their deadline, and attach frees those beyond the limit.
 * Our reference never outlives the pass in which the socket was accepted,
 * so a bufferevent evhttp freed never keeps an event on a closed
 * descriptor into a later poll of the loop.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "clock.h"
#include "config.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "timer.h"
#include "writer.h"

#define SWEEP_MS 1000

struct conn {
	struct conn *prev, *next;
	struct metrics_http *h;
	struct bufferevent *bev;		/* until attached: our reference */
	struct evhttp_connection *evcon;	/* once attached */
	int64_t deadline_ms;
	bool reject;				/* over the limit */
};

struct metrics_http {
	struct event_base *base;
	struct evhttp *http;
	struct listen_addr at;
	char name[80];
	struct metrics *m;
	const struct writer *w;
	struct conn *conns;		/* attached */
	struct conn *pending;		/* accepted in this loop pass */
	size_t nconns;			/* both lists */
	struct event *attach_ev, *sweep_ev;
	uint64_t rejected, cut;
};

static void
list_add(struct conn **head, struct conn *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
}

static void
list_del(struct conn **head, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void
conn_drop(struct conn *c, struct conn **head)
{
	list_del(head, c);
	c->h->nconns--;
	free(c);
}

/* ---- connection tracking ---------------------------------------------- */

static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;

	(void)evcon;
	conn_drop(c, &c->h->conns);
}

/* Frees an attached connection now (never from evhttp's own callbacks). */
static void
conn_cut(struct conn *c)
{
	struct evhttp_connection *evcon = c->evcon;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	conn_drop(c, &c->h->conns);
	evhttp_connection_free(evcon);
}

static struct bufferevent *
make_bev(struct event_base *base, void *arg)
{
	struct metrics_http *h = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
	struct conn *c;

	if (bev == NULL)
		return NULL;	/* evhttp tries its own; untracked */
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		bufferevent_free(bev);
		return NULL;
	}
	bufferevent_incref(bev);
	c->h = h;
	c->bev = bev;
	c->deadline_ms = mono_ms() + METRICS_HTTP_DEADLINE_S * 1000;
	c->reject = h->nconns >= METRICS_HTTP_MAX_CONNS;
	list_add(&h->pending, c);
	h->nconns++;
	event_active(h->attach_ev, EV_TIMEOUT, 1);
	return bev;
}

static void
attach(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_http *h = arg;
	struct conn *c;

	(void)fd;
	(void)what;
	while ((c = h->pending) != NULL) {
		bufferevent_event_cb ecb = NULL;
		void *cbarg = NULL;
		struct bufferevent *bev = c->bev;

		list_del(&h->pending, c);
		bufferevent_getcb(bev, NULL, NULL, &ecb, &cbarg);
		if (ecb == NULL || cbarg == NULL) {
			h->nconns--;
			free(c);
			bufferevent_decref(bev);
			continue;
		}
		c->evcon = cbarg;
		c->bev = NULL;
		list_add(&h->conns, c);
		evhttp_connection_set_closecb(c->evcon, on_close, c);
		bufferevent_decref(bev);
		if (c->reject) {
			if (h->rejected++ == 0)
				log_warnx("metrics %s: more than %d connections at once; "
					  "closing the surplus (logged once)", h->name,
					  METRICS_HTTP_MAX_CONNS);
			conn_cut(c);
		}
	}
	if (h->conns != NULL && !evtimer_pending(h->sweep_ev, NULL))
		timer_add_ms(h->sweep_ev, SWEEP_MS);
}

static void
sweep(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_http *h = arg;
	int64_t now = mono_ms();
	struct conn *c, *next;

	(void)fd;
	(void)what;
	for (c = h->conns; c != NULL; c = next) {
		next = c->next;
		if (now >= c->deadline_ms) {
			h->cut++;
			log_debugx("metrics %s: connection past its %d s deadline: closed",
				   h->name, METRICS_HTTP_DEADLINE_S);
			conn_cut(c);
		}
	}
	if (h->conns != NULL)
		timer_add_ms(h->sweep_ev, SWEEP_MS);
}

/* ---- requests ----------------------------------------------------------- */

static void
reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; charset=utf-8");
	if (body != NULL)
		evbuffer_add(body, text, strlen(text));
	evhttp_send_reply(req, code, reason, body);
	if (body != NULL)
		evbuffer_free(body);
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct metrics_http *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	struct evbuffer *body;
	const char *text;
	size_t len;

	evhttp_add_header(hdr, "Connection", "close");
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		reply_text(req, HTTP_NOTFOUND, "Not Found", "not found: the metrics are at /metrics\n");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(hdr, "Allow", "GET");
		reply_text(req, 405, "Method Not Allowed", "method not allowed: use GET\n");
		return;
	}
	text = metrics_render(h->m, h->w ? writer_queued(h->w) : 0, &len);
	if (text == NULL || (body = evbuffer_new()) == NULL) {
		reply_text(req, HTTP_INTERNAL, "Internal Server Error", "out of memory\n");
		return;
	}
	evbuffer_add(body, text, len);
	evhttp_add_header(hdr, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

/* ---- the endpoint --------------------------------------------------------- */

static struct metrics_http *
http_new(struct event_base *base, const struct listen_addr *at, struct metrics *m,
	 const struct writer *w, char *err, size_t errlen)
{
	struct metrics_http *h = calloc(1, sizeof(*h));
	int e;

	if (h == NULL) {
		snprintf(err, errlen, "metrics_listen: out of memory");
		return NULL;
	}
	h->base = base;
	h->at = *at;
	h->m = m;
	h->w = w;
	listen_format(at, h->name, sizeof(h->name));
	h->http = evhttp_new(base);
	h->attach_ev = event_new(base, -1, 0, attach, h);
	h->sweep_ev = evtimer_new(base, sweep, h);
	if (h->http == NULL || h->attach_ev == NULL || h->sweep_ev == NULL) {
		snprintf(err, errlen, "metrics_listen %s: out of memory", h->name);
		metrics_http_free(h);
		return NULL;
	}
	/* Every method reaches handle(), which answers 405 for all but GET
	 * (evhttp itself would answer 501 for the ones it is not told of). */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
				   EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(h->http, METRICS_HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(h->http, METRICS_HTTP_MAX_BODY);
	evhttp_set_timeout(h->http, METRICS_HTTP_DEADLINE_S);
	evhttp_set_bevcb(h->http, make_bev, h);
	evhttp_set_gencb(h->http, handle, h);
	errno = 0;
	if (evhttp_bind_socket_with_handle(h->http, at->addr, (ev_uint16_t)at->port) == NULL) {
		e = errno;
		snprintf(err, errlen, "metrics_listen %s: cannot listen: %s", h->name,
			 e ? strerror(e) : "bind failed");
		metrics_http_free(h);
		return NULL;
	}
	return h;
}

void
metrics_http_free(struct metrics_http *h)
{
	struct conn *c;

	if (h == NULL)
		return;
	/* Closes every connection: their close callbacks forget them. */
	if (h->http)
		evhttp_free(h->http);
	while ((c = h->conns) != NULL)
		conn_drop(c, &h->conns);
	while ((c = h->pending) != NULL) {
		struct bufferevent *bev = c->bev;

		conn_drop(c, &h->pending);
		bufferevent_decref(bev);
	}
	if (h->attach_ev)
		event_free(h->attach_ev);
	if (h->sweep_ev)
		event_free(h->sweep_ev);
	free(h);
}

size_t
metrics_http_connections(const struct metrics_http *h)
{
	return h ? h->nconns : 0;
}

static bool
same_addr(const struct listen_addr *a, const struct listen_addr *b)
{
	return a->port == b->port && strcmp(a->addr, b->addr) == 0;
}

int
metrics_http_apply(struct metrics_http **hp, struct event_base *base,
		   const struct config *cfg, struct metrics *m, const struct writer *w,
		   char *err, size_t errlen)
{
	struct metrics_http *old = *hp, *h;

	if (!cfg->metrics_on || m == NULL) {
		if (old != NULL)
			log_infox("metrics %s: no longer listening", old->name);
		metrics_http_free(old);
		*hp = NULL;
		return 0;
	}
	if (old != NULL && same_addr(&old->at, &cfg->metrics_listen))
		return 0;
	h = http_new(base, &cfg->metrics_listen, m, w, err, errlen);
	if (h == NULL && old != NULL && old->at.port == cfg->metrics_listen.port) {
		/* The old socket may hold the port (127.0.0.1 -> *): let it go. */
		metrics_http_free(old);
		*hp = old = NULL;
		h = http_new(base, &cfg->metrics_listen, m, w, err, errlen);
	}
	if (h == NULL)
		return -1;
	if (old != NULL)
		log_infox("metrics %s: no longer listening (moved)", old->name);
	metrics_http_free(old);
	*hp = h;
	log_infox("metrics: serving GET /metrics on %s", h->name);
	return 0;
}
