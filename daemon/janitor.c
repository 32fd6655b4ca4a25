/* janitor.c: the daemon's housekeeping timers (janitor.h). */
#include "janitor.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "fleet.h"
#include "log.h"
#include "notify.h"
#include "store.h"
#include "timer.h"
#include "writer.h"

struct janitor {
	struct store *store;
	const struct writer *writer;
	const struct fleet *fleet;
	const struct config *cfg;
	struct event *ev_status, *ev_checkpoint, *ev_expire;
};

static void
on_status(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	janitor_status(arg);
}

static void
on_checkpoint(evutil_socket_t fd, short what, void *arg)
{
	struct janitor *j = arg;

	(void)fd;
	(void)what;
	store_checkpoint(j->store);
	malloc_trim(0);
}

static void
on_expire(evutil_socket_t fd, short what, void *arg)
{
	struct janitor *j = arg;
	int64_t before = (int64_t)time(NULL) - j->cfg->retention_ms / 1000;

	(void)fd;
	(void)what;
	if (store_expire(j->store, before) < 0)
		log_warnx("expiring detail older than the retention failed: %s; retrying in an hour",
			  store_errmsg(j->store));
}

struct janitor *
janitor_new(struct event_base *base, struct store *store, const struct writer *writer,
	    const struct fleet *fleet, const struct config *cfg)
{
	struct janitor *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->store = store;
	j->writer = writer;
	j->fleet = fleet;
	j->cfg = cfg;
	j->ev_status = event_new(base, -1, EV_PERSIST, on_status, j);
	j->ev_checkpoint = event_new(base, -1, EV_PERSIST, on_checkpoint, j);
	j->ev_expire = event_new(base, -1, EV_PERSIST, on_expire, j);
	if (!j->ev_status || !j->ev_checkpoint || !j->ev_expire) {
		janitor_free(j);
		return NULL;
	}
	return j;
}

void
janitor_start(struct janitor *j)
{
	timer_add_ms(j->ev_status, JANITOR_STATUS_MS);
	timer_add_ms(j->ev_checkpoint, JANITOR_CHECKPOINT_MS);
	timer_add_ms(j->ev_expire, JANITOR_EXPIRE_MS);
}

void
janitor_reconfigure(struct janitor *j, const struct config *cfg)
{
	j->cfg = cfg;
}

void
janitor_status(struct janitor *j)
{
	struct fleet_status st;
	char when[32] = "never", disc[64];
	time_t last = (time_t)writer_last_stored(j->writer);
	struct tm tm;

	fleet_status(j->fleet, &st);
	if (last && gmtime_r(&last, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(disc, sizeof(disc), "; discovery failing for %zu cluster%s",
		 st.discovery_failing, st.discovery_failing == 1 ? "" : "s");
	notify_status("%zu instances: %zu ok, %zu failing; last poll stored %s; "
		      "%zu results waiting for the store%s",
		      st.instances, st.ok, st.failing, when, writer_queued(j->writer),
		      st.discovery_failing ? disc : "");
}

void
janitor_free(struct janitor *j)
{
	if (j == NULL)
		return;
	if (j->ev_status)
		event_free(j->ev_status);
	if (j->ev_checkpoint)
		event_free(j->ev_checkpoint);
	if (j->ev_expire)
		event_free(j->ev_expire);
	free(j);
}
