/*
 * notify.c: sd_notify calls and the watchdog timer (see notify.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "log.h"
#include "notify.h"
#include "timer.h"

#define MIN_GRACE_MS 1000

/*
 * Every message goes through here: a failure is logged (at debug for the
 * watchdog's pings, which come every few seconds; at warning otherwise),
 * with the first line of the message. sd_notify() returns 0 outside
 * systemd (no NOTIFY_SOCKET), which is not a failure. It never unsets
 * NOTIFY_SOCKET (its first argument is 0): children get environments
 * without it (procspawn.c), not by changing ours.
 */
static void
send_state(const char *msg)
{
	int r = sd_notify(0, msg);
	bool ping = strcmp(msg, "WATCHDOG=1") == 0;

	if (r >= 0)
		return;
	if (ping)
		log_debugx("sd_notify(%s) failed: %s", msg, strerror(-r));
	else
		log_warnx("sd_notify(%.*s) failed: %s", (int)strcspn(msg, "\n"), msg,
			  strerror(-r));
}

static struct {
	struct event *timer;
	int64_t period_ms;
	int64_t due_mono;	/* when the timer should run next */
	notify_health_fn health;
	void *arg;
	bool withholding;	/* the last ping was withheld by the health check */
} wd;

/* One ping, if the loop proves healthy; the caller re-arms. */
static void
watchdog_tick(int64_t now)
{
	int64_t late = now - wd.due_mono;
	int64_t grace = wd.period_ms > MIN_GRACE_MS ? wd.period_ms : MIN_GRACE_MS;
	char why[512];

	if (late > wd.period_ms) {
		log_warnx("watchdog: the event loop was stalled (its timer ran %" PRId64
			  " ms late); WATCHDOG=1 withheld", late);
		return;
	}
	if (wd.health && !wd.health(wd.arg, now, grace, why, sizeof(why))) {
		if (!wd.withholding)
			log_errorx("watchdog: %s; WATCHDOG=1 withheld until it moves on", why);
		wd.withholding = true;
		return;
	}
	if (wd.withholding)
		log_infox("watchdog: every component on time again; WATCHDOG=1 resumed");
	wd.withholding = false;
	send_state("WATCHDOG=1");
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = mono_ms();

	(void)fd;
	(void)what;
	(void)arg;
	watchdog_tick(now);
	wd.due_mono = now + wd.period_ms;
	timer_add_ms(wd.timer, wd.period_ms);
}

int
notify_init(struct event_base *base, notify_health_fn health, void *arg)
{
	uint64_t usec = 0;

	/* 0: keep WATCHDOG_* in our environment for sd_notify; children get
	 * an environment without them (evspawn.c, pgconn.c). */
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	wd.timer = evtimer_new(base, on_watchdog, NULL);
	if (wd.timer == NULL)
		return -1;
	wd.period_ms = (int64_t)(usec / 2000);
	if (wd.period_ms < 1)
		wd.period_ms = 1;
	wd.health = health;
	wd.arg = arg;
	wd.due_mono = mono_ms() + wd.period_ms;
	timer_add_ms(wd.timer, wd.period_ms);
	log_debugx("watchdog: a ping every %" PRId64 " ms", wd.period_ms);
	return 0;
}

void
notify_shutdown(void)
{
	if (wd.timer)
		event_free(wd.timer);
	wd.timer = NULL;
}

void
notify_ready(void)
{
	send_state("READY=1");
}

void
notify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	/* systemd matches MONOTONIC_USEC against its own CLOCK_MONOTONIC. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
		 (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	send_state(msg);
}

void
notify_stopping(void)
{
	send_state("STOPPING=1");
}

void
notify_status(const char *fmt, ...)
{
	char buf[520];
	va_list ap;

	memcpy(buf, "STATUS=", 7);
	va_start(ap, fmt);
	vsnprintf(buf + 7, sizeof(buf) - 7, fmt, ap);
	va_end(ap);
	send_state(buf);
}
