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
#include "clock.h"
#include "timer.h"
#include "writer.h"

struct janitor {
	struct writer *writer;
	const struct fleet *fleet;
	const struct config *cfg;
	struct event *ev_status, *ev_trim;
	bool stuck_logged;
};

static void
on_status(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	janitor_status(arg);
}

static void
on_trim(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

struct janitor *
janitor_new(struct event_base *base, struct writer *writer, const struct fleet *fleet,
	    const struct config *cfg)
{
	struct janitor *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->writer = writer;
	j->fleet = fleet;
	j->cfg = cfg;
	j->ev_status = event_new(base, -1, EV_PERSIST, on_status, j);
	j->ev_trim = event_new(base, -1, EV_PERSIST, on_trim, j);
	if (!j->ev_status || !j->ev_trim) {
		janitor_free(j);
		return NULL;
	}
	return j;
}

void
janitor_start(struct janitor *j)
{
	timer_add_ms(j->ev_status, JANITOR_STATUS_MS);
	timer_add_ms(j->ev_trim, JANITOR_TRIM_MS);
	writer_set_retention(j->writer, j->cfg->retention_ms);
}

void
janitor_reconfigure(struct janitor *j, const struct config *cfg)
{
	j->cfg = cfg;
	writer_set_retention(j->writer, cfg->retention_ms);
}

void
janitor_status(struct janitor *j)
{
	struct fleet_status st;
	char when[32] = "never", disc[64], stuck[96] = "";
	int64_t busy = writer_stuck_ms(j->writer, mono_ms());
	time_t last = (time_t)writer_last_stored(j->writer);
	struct tm tm;

	fleet_status(j->fleet, &st);
	if (last && gmtime_r(&last, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* The loop goes on polling; a stuck store shows here, not in the
	 * watchdog (liveness.h). */
	if (busy > JANITOR_STUCK_MS) {
		snprintf(stuck, sizeof(stuck), "; the store has been stuck in one call for %lld s",
			 (long long)(busy / 1000));
		if (!j->stuck_logged)
			log_warnx("the store has been inside one call for %lld s (a frozen or hung "
				  "file system?); polls go on, results wait in memory",
				  (long long)(busy / 1000));
		j->stuck_logged = true;
	} else if (j->stuck_logged) {
		log_infox("the store responds again");
		j->stuck_logged = false;
	}
	snprintf(disc, sizeof(disc), "; discovery failing for %zu cluster%s",
		 st.discovery_failing, st.discovery_failing == 1 ? "" : "s");
	notify_status("%zu instances: %zu ok, %zu failing; last poll stored %s; "
		      "%zu results waiting for the store%s%s",
		      st.instances, st.ok, st.failing, when, writer_queued(j->writer),
		      st.discovery_failing ? disc : "", stuck);
}

void
janitor_free(struct janitor *j)
{
	if (j == NULL)
		return;
	if (j->ev_status)
		event_free(j->ev_status);
	if (j->ev_trim)
		event_free(j->ev_trim);
	free(j);
}
