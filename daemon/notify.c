/*
 * notify.c: sd_notify calls and the watchdog timer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

static struct event *watchdog;

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	/* Running from the loop is the health check: a loop stuck in one
	 * callback never gets here. */
	sd_notify(0, "WATCHDOG=1");
}

int
notify_init(struct event_base *base)
{
	uint64_t usec = 0;
	struct timeval tv;

	/* 0: keep WATCHDOG_* in our environment for sd_notify; children get
	 * an environment built from scratch anyway. */
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
	if (watchdog == NULL)
		return -1;
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	event_add(watchdog, &tv);
	log_debugx("watchdog every %lld ms", (long long)(usec / 1000));
	return 0;
}

void
notify_shutdown(void)
{
	if (watchdog)
		event_free(watchdog);
	watchdog = NULL;
}

void
notify_ready(void)
{
	sd_notify(0, "READY=1");
}

void
notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void
notify_status(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", buf);
}
