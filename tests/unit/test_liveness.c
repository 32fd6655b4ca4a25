/*
 * test_liveness.c: the watchdog's progress check over a real fleet, store
 * and event loop. An instance whose timer is due is healthy until its
 * deadline passes by more than the grace without the loop running it;
 * once the loop runs, it moves on and is healthy again.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "check.h"
#include "clock.h"
#include "config.h"
#include "fleet.h"
#include "instance.h"
#include "liveness.h"
#include "store.h"
#include "writer.h"

static char dir[] = "/tmp/sslhist-liveness-XXXXXX";
static char conf[256], db[256];

static void
write_config(void)
{
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/sslhist.conf", dir);
	snprintf(db, sizeof(db), "%s/history.db", dir);
	f = fopen(conf, "w");
	if (f == NULL)
		exit(2);
	/* Port 1 on loopback refuses at once: a failure, then a backoff. */
	fputs("[sslhistd]\ninterval = 1s\n\n[cluster c]\nhost = 127.0.0.1\nport = 1\n"
	      "sslmode = disable\n", f);
	fclose(f);
}

static void
remove_files(void)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[300];

	unlink(conf);
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", db, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
}

int
main(void)
{
	char err[512], why[256];
	struct config *cfg;
	struct store *st;
	struct event_base *base;
	struct evdns_base *dns;
	struct writer *w;
	struct fleet *f;
	struct fleet_status fs;
	struct poller_env env;
	int64_t now, deadline;

	if (mkdtemp(dir) == NULL)
		return 2;
	write_config();
	cfg = config_load(conf, err, sizeof(err));
	st = cfg ? store_open(db, err, sizeof(err)) : NULL;
	if (st == NULL) {
		fprintf(stderr, "set-up: %s\n", err);
		return 2;
	}
	base = event_base_new();
	dns = evdns_base_new(base, 0);
	w = writer_new(base, st, NULL, NULL);
	env = (struct poller_env){ .base = base, .dns = dns, .writer = w,
		.cfg = cfg, .own_users = "{}" };
	f = fleet_new(&env, NULL, NULL);
	CHECK(f != NULL && fleet_apply(f, NULL) == 0);
	CHECK_INT(writer_start(w), 0);

	/* The first attempt is due within a second (the start-up spread). */
	now = mono_ms();
	CHECK(liveness_check(f, w, now, 1000, why, sizeof(why)));
	CHECK(liveness_check(NULL, NULL, now, 1000, why, sizeof(why)));
	/* 5 s on and the loop never ran: the instance missed its timer. */
	CHECK(!liveness_check(f, w, now + 5000, 1000, why, sizeof(why)));
	CHECK(strstr(why, "c/127.0.0.1:1 stuck in state waiting") != NULL);
	/* Within the grace it is not stuck yet. */
	CHECK(liveness_check(f, w, now + 500, 1000, why, sizeof(why)));

	/* The loop runs the attempt: refused, recorded, backing off. */
	deadline = mono_ms() + 5000;
	do {
		event_base_loop(base, EVLOOP_ONCE);
		fleet_status(f, &fs);
	} while (fs.failing == 0 && mono_ms() < deadline);
	CHECK_INT(fs.failing, 1);
	CHECK(liveness_check(f, w, mono_ms(), 1000, why, sizeof(why)));
	/* The store thread is idle: a stuck store would show here, and still
	 * not fail the check (the loop is healthy). */
	CHECK_INT(writer_stuck_ms(w, mono_ms() + 60000), 0);

	fleet_free(f);
	CHECK_INT(writer_stop(w, 2000), 0);
	CHECK_INT(writer_queued(w), 0);	/* the failed attempt was stored at the stop */
	writer_free(w);
	event_base_loop(base, EVLOOP_NONBLOCK);
	evdns_base_free(dns, 1);
	event_base_free(base);
	store_close(st);
	config_free(cfg);
	libevent_global_shutdown();
	remove_files();
	return check_done();
}
