/*
 * metrics_bench.c: the CPU one GET /metrics costs the daemon for a large
 * fleet, at unit level: a registry (daemon/metrics.c) filled through the
 * poll path's own entry point, metrics_poll_done(), with N instances'
 * records, then rendered R times (daemon/metrics_render.c, what the
 * endpoint sends). Process CPU time, not wall time. The baseline, in the
 * same run: copying the same number of bytes (what any server must at
 * least do with them). bench/metrics_bench.py builds and runs it.
 *
 * usage: metrics_bench [instances] [renders]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "pollrec.h"

static double
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static char *
dup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		abort();
	return d;
}

/* A successful poll of instance i: 6 clients over 3 (ssl, tls_version)
 * pairs (non-SSL, TLSv1.2, TLSv1.3), its certificate, missed sessions. */
static struct poll_record *
record(int i)
{
	static const char *const ver[] = { NULL, "TLSv1.2", "TLSv1.3" };
	struct poll_record *r = calloc(1, sizeof(*r));
	char app[32];

	r->instance_id = i + 1;
	r->ok = true;
	r->nclients = 6;
	r->clients = calloc(r->nclients, sizeof(*r->clients));
	for (size_t c = 0; c < r->nclients; c++) {
		struct client_key *k = &r->clients[c].key;

		snprintf(app, sizeof app, "app-%zu", c);
		k->database = dup("appdb");
		k->user = dup("svc");
		k->application = dup(app);
		k->client_addr = dup("10.1.2.3");
		k->ssl = ver[c % 3] != NULL;
		k->tls_version = dup(ver[c % 3]);
		k->bits = k->ssl ? 256 : -1;
	}
	r->facts = calloc(1, sizeof(*r->facts));
	r->facts->cert.not_after = 1900000000 + i;
	r->ncounters = 1;
	r->counters = calloc(1, sizeof(*r->counters));
	r->counters[0].missed = i % 7;
	return r;
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	int renders = argc > 2 ? atoi(argv[2]) : 200;
	struct metrics *m = metrics_new();
	char cluster[32], inst[96];
	const char *text = NULL;
	size_t len = 0, lines = 0;
	double t0, t_render, t_copy, t_fill;
	char *copy;

	log_init("metrics_bench", LVL_WARNING);
	t0 = cpu_ms();
	for (int i = 0; i < n; i++) {
		struct poll_record *r = record(i);

		/* Aurora-like names: 10 instances per cluster. */
		snprintf(cluster, sizeof cluster, "orders-%04d", i / 10);
		snprintf(inst, sizeof inst,
			 "orders-%04d-instance-%d.c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com:5432",
			 i / 10, i % 10);
		metrics_poll_done(m, cluster, inst, r);
		poll_record_free(r);
	}
	t_fill = cpu_ms() - t0;

	t0 = cpu_ms();
	for (int k = 0; k < renders; k++)
		text = metrics_render(m, 0, &len);
	t_render = (cpu_ms() - t0) / renders;
	if (text == NULL)
		return 1;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';

	copy = malloc(len);
	t0 = cpu_ms();
	for (int k = 0; k < renders; k++) {
		memcpy(copy, text, len);
		__asm__ volatile("" : : "r"(copy) : "memory");
	}
	t_copy = (cpu_ms() - t0) / renders;
	free(copy);

	printf("unit-level (bench/metrics_bench.c: registry filled through metrics_poll_done, "
	       "no HTTP)\n");
	printf("instances %d, exposition %zu bytes, %zu lines\n", n, len, lines);
	printf("fill (%d poll records): %.2f ms CPU\n", n, t_fill);
	printf("render: %.3f ms CPU per scrape (mean of %d)\n", t_render, renders);
	printf("baseline memcpy of the same bytes: %.3f ms; render / memcpy = %.1fx\n",
	       t_copy, t_copy > 0 ? t_render / t_copy : 0.0);
	metrics_free(m);
	return 0;
}
