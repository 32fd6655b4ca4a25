/*
 * pgloop.h: what the pg_*.c test programs share. They run a real libevent
 * loop against real PostgreSQL servers that tests/integration/
 * test_units_pg.py starts; it hands them a configuration file naming those
 * servers (PG_CONF) and a hosts file for evdns (PG_HOSTS).
 *
 * The loop runs in slices: a 20 ms tick keeps event_base_loop(EVLOOP_ONCE)
 * returning, so a test waits for a condition with a bounded deadline.
 */
#ifndef SSLHIST_PGLOOP_H
#define SSLHIST_PGLOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "config.h"

static struct event_base *base;
static struct event *tick;

static inline int64_t
pgloop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static inline void
pgloop_init(void)
{
	struct timeval tv = { 0, 20 * 1000 };

	base = event_base_new();
	tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	if (base == NULL || tick == NULL || event_add(tick, &tv) < 0) {
		fprintf(stderr, "no event loop\n");
		exit(2);
	}
}

static inline void
pgloop_done(void)
{
	event_free(tick);
	event_base_free(base);
	libevent_global_shutdown();
}

/* Runs the loop until pred(arg) or ms passed; returns pred's last value. */
static inline bool
pgloop_until(bool (*pred)(void *arg), void *arg, int64_t ms)
{
	int64_t end = pgloop_now() + ms;

	while (!pred(arg)) {
		if (pgloop_now() >= end)
			return false;
		event_base_loop(base, EVLOOP_ONCE);
	}
	return true;
}

static inline bool
pgloop_never(void *arg)
{
	(void)arg;
	return false;
}

/* Runs the loop for ms (to see that nothing happens meanwhile). */
static inline void
pgloop_run_ms(int64_t ms)
{
	(void)pgloop_until(pgloop_never, NULL, ms);
}

static inline const char *
pgloop_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0') {
		fprintf(stderr, "%s is not set: run through test_units_pg.py\n", name);
		exit(2);
	}
	return v;
}

static inline struct config *
pgloop_config(const char *env_name)
{
	char err[1024];
	struct config *cfg = config_load(pgloop_env(env_name), err, sizeof(err));

	if (cfg == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(2);
	}
	return cfg;
}

static inline const struct cluster_cfg *
pgloop_cluster(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nclusters; i++) {
		if (strcmp(cfg->clusters[i].name, name) == 0)
			return &cfg->clusters[i];
	}
	fprintf(stderr, "no [cluster %s] in the configuration\n", name);
	exit(2);
}

/* A resolver that knows the names of PG_HOSTS and asks `nameserver`
 * ("127.0.0.1:PORT", may be NULL) for every other one. */
static inline struct evdns_base *
pgloop_dns(const char *nameserver)
{
	struct evdns_base *dns = evdns_base_new(base, 0);

	if (dns == NULL || evdns_base_load_hosts(dns, pgloop_env("PG_HOSTS")) != 0 ||
	    (nameserver && evdns_base_nameserver_ip_add(dns, nameserver) != 0)) {
		fprintf(stderr, "no resolver\n");
		exit(2);
	}
	evdns_base_set_option(dns, "timeout:", "30");
	evdns_base_set_option(dns, "attempts:", "1");
	return dns;
}

#endif
