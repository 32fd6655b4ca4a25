/*
 * main.c: sslhistd, the sampling daemon. Parses the command line, loads
 * the configuration, opens the store and runs one event loop that drives
 * every instance's poller, the alert hooks and the housekeeping of
 * janitor.h. The store runs on a thread of its own behind the writer
 * (writer.h): start-up registers the instances and recovers nothing yet
 * on this thread, then hands the store over before the loop runs.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "fdlimit.h"
#include "fleet.h"
#include "pooler.h"
#include "poolmatch.h"
#include "hooks.h"
#include "instance.h"
#include "janitor.h"
#include "logcmd.h"
#include "liveness.h"
#include "log.h"
#include "metrics.h"
#include "metricsload.h"
#include "metrics_http.h"
#include "notify.h"
#include "trustpin.h"
#include "evspawn.h"
#include "store.h"
#include "writer.h"
#include "timer.h"

#define EXIT_USAGE 64		/* sysexits.h EX_USAGE */
#define EXIT_CONFIG 78		/* sysexits.h EX_CONFIG */
#define ONCE_TICK_MS 50
#define ONCE_STORE_WAIT_MS 10000
/* SIGTERM: the stop within 2 s includes the store's drain. */
#define STOP_STORE_WAIT_MS 1200

struct daemon {
	const char *config_path;
	const char *db_path;		/* --db, else the configuration's */
	bool verbose;
	bool once;
	struct config *cfg;
	char *own_users;		/* env.own_users */
	struct event_base *base;
	struct evdns_base *dns;
	struct store *store;
	struct writer *writer;
	struct hooks *hooks;
	struct fleet *fleet;
	struct poolers *poolers;	/* [pooler NAME]: not in --once */
	struct poolmatch *poolmatch;
	struct janitor *janitor;
	struct metrics *metrics;	/* from the first metrics_listen on */
	bool metrics_loading;		/* its client gauges being read */
	int metrics_rc;			/* metrics_ready's endpoint */
	bool tearing_down;
	struct metrics_http *http;
	struct logcmd *logcmd;		/* log_command (not in --once) */
	struct poller_env env;
	struct event *ev_term, *ev_int, *ev_hup, *ev_once;
	bool once_polled, once_ok;
	bool once_poolers_ok;		/* --once: every pooler's attempt succeeded */
	int64_t once_deadline_ms;
	int exit_code;
	bool store_stuck;	/* the store thread did not end at the stop */
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: sslhistd [-c CONFIG] [--db PATH] [--once] [--check] [-v] [--version] [--help]\n"
		"\n"
		"Samples pg_stat_ssl on every configured PostgreSQL instance and records\n"
		"every client it sees in an SQLite history.\n"
		"\n"
		"  -c, --config CONFIG  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
		"      --db PATH        history database (overrides `database`)\n"
		"      --once           poll every instance once, run due hooks, exit\n"
		"                       (0: every poll succeeded, 1: some failed)\n"
		"      --check          validate the configuration, print what would be polled\n"
		"  -v, --verbose        log at debug level\n"
		"      --version        print the version\n"
		"  -h, --help           this text\n");
}

static int
parse_args(struct daemon *d, int argc, char **argv, bool *check)
{
	enum { OPT_DB = 256, OPT_ONCE, OPT_CHECK, OPT_VERSION };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, OPT_DB },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	d->config_path = CONFIG_DEFAULT_PATH;
	while ((ch = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			d->config_path = optarg;
			break;
		case OPT_DB:
			d->db_path = optarg;
			break;
		case OPT_ONCE:
			d->once = true;
			break;
		case OPT_CHECK:
			*check = true;
			break;
		case 'v':
			d->verbose = true;
			break;
		case OPT_VERSION:
			printf("sslhistd %s\n", SSLHIST_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sslhistd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

static void
apply_log_level(const struct daemon *d)
{
	log_set_level(d->verbose ? LVL_DEBUG : (enum log_level)d->cfg->log_level);
}

/* ---- loop callbacks ---- */

static int metrics_setup(struct daemon *d);

static void
stop(struct daemon *d, int code)
{
	d->exit_code = code;
	event_base_loopexit(d->base, NULL);
}

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	log_infox("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	notify_stopping();
	stop(d, 0);
}

static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct config *old = d->cfg, *cfg;
	char err[1024];

	(void)sig;
	(void)what;
	notify_reloading();
	cfg = config_load(d->config_path, err, sizeof(err));
	if (cfg == NULL) {
		log_errorx("reload: %s; keeping the running configuration", err);
		notify_ready();
		return;
	}
	if (d->db_path == NULL && strcmp(cfg->database, old->database) != 0)
		log_warnx("reload: database %s -> %s needs a restart; still writing %s",
			  old->database, cfg->database, old->database);
	char *own = instance_own_users(cfg);
	if (own == NULL) {
		log_errorx("reload: out of memory; keeping the running configuration");
		config_free(cfg);
		notify_ready();
		return;
	}
	free(d->own_users);
	d->own_users = own;
	d->env.own_users = own;
	d->cfg = cfg;
	d->env.cfg = cfg;
	apply_log_level(d);
	if (fleet_apply(d->fleet, old) < 0)
		log_warnx("reload: some instances could not be registered; retrying at the next reload");
	if (d->poolers && poolers_apply(d->poolers) < 0)
		log_warnx("reload: some poolers could not be registered; retrying at the next reload");
	hooks_reconfigure(d->hooks, cfg);
	janitor_reconfigure(d->janitor, cfg);
	writer_set_alerts(d->writer, hooks_alert_mask(cfg));
	if (!d->once && metrics_setup(d) < 0)
		log_warnx("reload: metrics endpoint %s", d->http ? "unchanged" : "not listening");
	config_free(old);
	log_infox("reloaded %s: %zu clusters", d->config_path, cfg->nclusters);
	notify_ready();
	janitor_status(d->janitor);
}

/*
 * metrics_listen: the registry is made (and its client gauges read from
 * the store, on the store thread: metricsload.h) the first time the key is
 * set, and kept from then on; the endpoint follows the configuration
 * (metrics_http_apply). -1 when it cannot listen where the configuration
 * says (at a reload whose registry is still being read: said in the log
 * when it is).
 */
static int
metrics_endpoint(struct daemon *d)
{
	char err[256];

	if (metrics_http_apply(&d->http, d->base, d->cfg, d->metrics, d->writer, err,
			       sizeof(err)) < 0) {
		log_errorx("%s", err);
		return -1;
	}
	return 0;
}

static void
metrics_ready(void *arg, struct metrics *m)
{
	struct daemon *d = arg;

	d->metrics_loading = false;
	d->metrics = m;
	if (d->tearing_down)
		return;		/* a reply of writer_stop's drain: freed soon */
	d->env.metrics = m;
	hooks_set_metrics(d->hooks, m);
	d->metrics_rc = metrics_endpoint(d);
}

static int
metrics_setup(struct daemon *d)
{
	if (d->metrics_loading)
		return 0;	/* metrics_ready applies the endpoint */
	if (d->cfg->metrics_on && d->metrics == NULL) {
		d->metrics_loading = true;
		d->metrics_rc = 0;
		if (metricsload_start(d->writer, metrics_ready, d) < 0) {
			d->metrics_loading = false;
			log_errorx("metrics: out of memory");
			return -1;
		}
		return d->metrics_rc;	/* before the thread: ready has run */
	}
	return metrics_endpoint(d);
}

/* The watchdog's progress check: liveness.h. */
static bool
loop_healthy(void *arg, int64_t now, int64_t grace, char *why, size_t len)
{
	struct daemon *d = arg;

	int64_t late;

	if (!liveness_check(d->fleet, d->writer, now, grace, why, len))
		return false;
	if ((late = poolers_overdue_ms(d->poolers, now)) > grace) {
		snprintf(why, len, "a pooler is stuck, %lld ms past its deadline", (long long)late);
		return false;
	}
	return true;
}

static void
on_stored(void *arg, int new_clients)
{
	struct daemon *d = arg;

	/* Alerts are decided only when clients are first stored: a poll
	 * that stored none has nothing for the hooks (each pass costs
	 * several queries). */
	if (d->hooks && new_clients > 0)
		hooks_kick(d->hooks);
}

/*
 * --once: every attempt made; exit when the results are stored and the
 * hooks are done. Each hook is bounded by hook_timeout (then SIGTERM, 5 s
 * later SIGKILL), so waiting for them ends; retries are not due yet and
 * wait for the next run. Only a store that stays unavailable needs a
 * deadline of its own.
 */
static void
on_once_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	bool stored = writer_flush(d->writer) == 0;

	(void)fd;
	(void)what;
	if (stored && hooks_idle(d->hooks)) {
		stop(d, d->once_ok ? 0 : 1);
		return;
	}
	if (!stored && mono_ms() > d->once_deadline_ms) {
		log_errorx("--once: results could not be stored within %d s; exiting",
			   ONCE_STORE_WAIT_MS / 1000);
		stop(d, 1);
		return;
	}
	timer_add_ms(d->ev_once, ONCE_TICK_MS);
}

static void
on_once_polled(void *arg, bool all_ok)
{
	struct daemon *d = arg;

	d->once_polled = true;
	d->once_ok = all_ok && d->once_poolers_ok;
	d->once_deadline_ms = mono_ms() + ONCE_STORE_WAIT_MS;
	timer_add_ms(d->ev_once, 0);
}

/* --once: nothing to poll at all. */
static void
once_check_done(struct daemon *d)
{
	struct fleet_status st;

	fleet_status(d->fleet, &st);
	if (st.pending == 0)
		on_once_polled(d, true);
}

/* --once: every pooler made its attempt; now the instances. */
static void
on_once_poolers(void *arg, bool all_ok)
{
	struct daemon *d = arg;

	d->once_poolers_ok = all_ok;
	if (fleet_apply(d->fleet, NULL) < 0) {
		log_errorx("could not start polling the instances");
		d->exit_code = 1;
		event_base_loopbreak(d->base);
		return;
	}
	once_check_done(d);
}

/* ---- set-up and tear-down ---- */

/*
 * From the first line of main() until the loop's handlers exist, SIGTERM,
 * SIGINT and SIGHUP wait, blocked: their default action would end the
 * daemon without STOPPING=1 (or, for SIGHUP, end it instead of
 * reloading) while it reads its configuration or opens the database.
 * Unblocked, a waiting one reaches the loop's handler.
 */
static void
hold_stop_signals(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(how, &set, NULL);
}

static int
setup_loop(struct daemon *d)
{
	d->base = event_base_new();
	if (d->base == NULL)
		return -1;
	/* resolv.conf and /etc/hosts; no socket is opened until a lookup. */
	d->dns = evdns_base_new(d->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
				EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (d->dns == NULL)
		return -1;
	if (spawn_init(d->base) < 0 || notify_init(d->base, loop_healthy, d) < 0)
		return -1;
	d->ev_term = evsignal_new(d->base, SIGTERM, on_stop_signal, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_stop_signal, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, on_reload, d);
	d->ev_once = evtimer_new(d->base, on_once_tick, d);
	if (!d->ev_term || !d->ev_int || !d->ev_hup || !d->ev_once)
		return -1;
	event_add(d->ev_term, NULL);
	event_add(d->ev_int, NULL);
	if (!d->once)
		event_add(d->ev_hup, NULL);
	return 0;
}

static void
teardown(struct daemon *d)
{
	bool store_free = true;

	d->tearing_down = true;
	/* First, so no housekeeping or scrape runs on what goes next. */
	metrics_http_free(d->http);
	d->http = NULL;
	janitor_free(d->janitor);
	logcmd_free(d->logcmd);
	/* In-flight polls are abandoned; what was polled is stored now. */
	fleet_free(d->fleet);
	d->fleet = NULL;	/* a watchdog tick in the last loop pass reads it */
	poolers_free(d->poolers);
	d->poolers = NULL;
	poolmatch_free(d->poolmatch);
	d->poolmatch = NULL;
	d->env.pooled = NULL;
	/* Running hooks' ends are requests the drain commits. */
	hooks_stop(d->hooks);
	if (d->writer && writer_stop(d->writer, STOP_STORE_WAIT_MS) < 0) {
		store_free = false;	/* the thread is still inside SQLite */
		d->store_stuck = true;
	}
	hooks_free(d->hooks);
	writer_free(d->writer);
	metrics_free(d->metrics);
	/* Cancelled DNS lookups call back from deferred callbacks: let them
	 * run (their attempts are detached) before the resolver goes. */
	if (d->base)
		event_base_loop(d->base, EVLOOP_NONBLOCK);
	struct event *evs[] = { d->ev_term, d->ev_int, d->ev_hup, d->ev_once };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		if (evs[i])
			event_free(evs[i]);
	}
	notify_shutdown();
	trustpin_shutdown();
	spawn_shutdown();
	if (d->dns)
		evdns_base_free(d->dns, 1);
	if (d->base)
		event_base_free(d->base);
	if (store_free)
		store_close(d->store);
	config_free(d->cfg);
	free(d->own_users);
	libevent_global_shutdown();
}

int
main(int argc, char **argv)
{
	struct daemon d = { 0 };
	bool check = false, once_waits;
	char err[1024];
	const char *db;

	d.once_poolers_ok = true;
	log_init("sslhistd", LVL_INFO);
	hold_stop_signals(SIG_BLOCK);
	if (parse_args(&d, argc, argv, &check) < 0)
		return EXIT_USAGE;
	d.cfg = config_load(d.config_path, err, sizeof(err));
	if (d.cfg == NULL) {
		log_errorx("%s", err);
		return EXIT_CONFIG;
	}
	apply_log_level(&d);
	if (check) {
		config_print(d.cfg, stdout);
		config_free(d.cfg);
		return 0;
	}
	/* A hook that never reads its stdin must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	fdlimit_raise();
	db = d.db_path ? d.db_path : d.cfg->database;
	d.store = store_open(db, err, sizeof(err));
	if (d.store == NULL) {
		log_errorx("%s", err);
		config_free(d.cfg);
		return 1;
	}
	store_set_alerts(d.store, hooks_alert_mask(d.cfg));
	if (setup_loop(&d) < 0) {
		log_errorx("could not set up the event loop");
		d.exit_code = 1;
		goto out;
	}
	hold_stop_signals(SIG_UNBLOCK);
	(void)trustpin_init();	/* off when it fails: said in the log */
	d.writer = writer_new(d.base, d.store, on_stored, &d);
	d.hooks = d.writer ? hooks_new(d.base, d.writer, d.cfg) : NULL;
	d.own_users = instance_own_users(d.cfg);
	d.env = (struct poller_env){ .base = d.base, .dns = d.dns,
		.writer = d.writer, .cfg = d.cfg, .own_users = d.own_users, .once = d.once };
	d.poolmatch = poolmatch_new();
	d.env.pooled = d.poolmatch;
	if (d.once && d.poolmatch)
		poolmatch_no_hold(d.poolmatch);
	/* --once: the poolers' attempts first (on_once_poolers), so that
	 * the instances' polls know their server connections. */
	once_waits = d.once && d.cfg->npoolers > 0;
	if (d.poolmatch)
		d.poolers = poolers_new(&d.env, d.poolmatch, d.once ? on_once_poolers : NULL, &d);
	d.fleet = fleet_new(&d.env, d.once ? on_once_polled : NULL, &d);
	if (d.fleet)
		d.janitor = janitor_new(d.base, d.writer, d.fleet, d.cfg);
	/* Before the thread starts, writer_call() runs each request at once on
	 * this thread: the metrics' client gauges, the poolers' and instances'
	 * registration are synchronous here, and a registry that cannot be
	 * written fails the start. Then the store is the thread's. */
	if (!d.once && d.writer && d.hooks && metrics_setup(&d) < 0) {
		d.exit_code = 1;
		goto out;
	}
	if (!d.writer || !d.hooks || !d.own_users || !d.fleet || !d.janitor || !d.poolmatch ||
	    !d.poolers || poolers_apply(d.poolers) < 0 ||
	    (!once_waits && fleet_apply(d.fleet, NULL) < 0) || writer_start(d.writer) < 0) {
		log_errorx("could not start polling (store %s: %s)", db, store_errmsg(d.store));
		d.exit_code = 1;
		goto out;
	}
	log_infox("started: %zu clusters, database %s", d.cfg->nclusters, db);
	if (!d.once) {
		janitor_start(d.janitor);
		if ((d.logcmd = logcmd_new(&d.env, d.fleet)) == NULL)
			log_warnx("log_command: out of memory; no server log is imported");
	}
	notify_ready();
	janitor_status(d.janitor);
	if (d.once && !once_waits)
		once_check_done(&d);
	event_base_dispatch(d.base);
out:
	teardown(&d);
	if (d.store_stuck) {
		/* No exit handlers (OpenSSL's, libc's): the store thread would
		 * run on into freed state when its write returns. The kernel ends
		 * it when the write returns (a frozen file system: at the thaw). */
		fflush(NULL);
		_exit(d.exit_code);
	}
	return d.exit_code;
}
