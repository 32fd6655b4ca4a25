/*
 * floor.c: the baseline pollers of bench/perf_bench.py. Polls the SPEC
 * query on persistent libpq connections and discards the results: the
 * least any poller can do per poll, so sslhistd's cost is quoted as a ratio
 * of it.
 *
 * usage: floor exec|prepared|ours POLLS INTERVAL_MS CONNINFO...
 *
 * Connects every CONNINFO, prints "ready", waits for a line on stdin, then
 * polls every connection POLLS times, one round every INTERVAL_MS, prints
 * "done" and waits for stdin to close. The bench reads this process's CPU
 * from /proc between "ready" and "done", so set-up costs are not counted.
 * `exec` is PQexec of the query text each time; `prepared` is PQprepare
 * once per connection, then PQexecPrepared; `ours` is sslhistd's own poll
 * query (daemon/statquery.c) the way the daemon sends it, prepared with binary
 * results and the previous poll's time as $2, to tell the query's cost on
 * the server from the daemon's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "statquery.h"

enum mode { M_EXEC, M_PREPARED, M_OURS };
/* $2 per connection: the previous poll's time, as the daemon passes it. */
#define MAX_CONNS 4096
static char since[MAX_CONNS][40];

static const char spec_query[] =
	"SELECT a.pid, a.backend_start, a.datname, a.usename, a.application_name, "
	"a.client_addr, a.client_hostname, s.ssl, s.version, s.cipher, s.bits, s.client_dn, "
	"s.client_serial, s.issuer_dn "
	"FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
	"WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()";

static int
fail(const char *what, PGconn *c)
{
	fprintf(stderr, "floor: %s: %s", what, c ? PQerrorMessage(c) : "out of memory\n");
	return 1;
}

static void
sleep_until(const struct timespec *t)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) != 0)
		;
}

/* The 't' row of our query's result (the statement's time) as $2 text. */
static void
keep_since(const PGresult *r, char *out, size_t len)
{
	int n = PQntuples(r);
	const unsigned char *v;
	long long us = 0;
	time_t s;
	struct tm tm;
	size_t k;

	if (n == 0 || PQgetvalue(r, n - 1, 0)[0] != 't' || PQgetlength(r, n - 1, 2) != 8)
		return;
	v = (const unsigned char *)PQgetvalue(r, n - 1, 2);
	for (int i = 0; i < 8; i++)
		us = (long long)((unsigned long long)us << 8 | v[i]);
	us += 946684800000000LL;	/* 2000-01-01 in Unix microseconds */
	s = (time_t)(us / 1000000);
	gmtime_r(&s, &tm);
	k = strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out + k, len - k, ".%06lld+00", us % 1000000);
}

static int
poll_one(PGconn *c, enum mode m, char *since_text)
{
	const char *params[4] = { "{}", since_text[0] ? since_text : NULL, "2 seconds", "{}" };
	PGresult *r = m == M_EXEC ? PQexec(c, spec_query) :
		      m == M_PREPARED ? PQexecPrepared(c, "q", 0, NULL, NULL, NULL, 0) :
		      PQexecPrepared(c, "q", 4, params, NULL, NULL, 1);
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "floor: poll: %s", PQresultErrorMessage(r));
	else if (m == M_OURS)
		keep_since(r, since_text, 40);
	PQclear(r);
	return ok ? 0 : -1;
}

int
main(int argc, char **argv)
{
	enum mode m;
	int polls, n;
	long interval_ms;
	PGconn **conns;
	char line[64];
	struct timespec next;

	if (argc < 5 || (strcmp(argv[1], "exec") != 0 && strcmp(argv[1], "prepared") != 0 &&
			  strcmp(argv[1], "ours") != 0)) {
		fprintf(stderr, "usage: floor exec|prepared|ours POLLS INTERVAL_MS CONNINFO...\n");
		return 2;
	}
	m = !strcmp(argv[1], "exec") ? M_EXEC : !strcmp(argv[1], "prepared") ? M_PREPARED : M_OURS;
	polls = atoi(argv[2]);
	interval_ms = atol(argv[3]);
	n = argc - 4;
	if (n > MAX_CONNS)
		return fail("too many connections", NULL);
	if ((conns = calloc((size_t)n, sizeof(*conns))) == NULL)
		return fail("calloc", NULL);
	for (int i = 0; i < n; i++) {
		conns[i] = PQconnectdb(argv[4 + i]);
		if (PQstatus(conns[i]) != CONNECTION_OK)
			return fail("connect", conns[i]);
		if (m != M_EXEC) {
			/* FLOOR_QUERY: try another text in place of ours (3 parameters). */
			const char *q = m != M_OURS ? spec_query : getenv("FLOOR_QUERY") ?
					getenv("FLOOR_QUERY") :
					statq_sessions(PQserverVersion(conns[i]));
			PGresult *r = PQprepare(conns[i], "q", q, m == M_OURS ? 4 : 0, NULL);
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				return fail("prepare", conns[i]);
			PQclear(r);
		}
	}
	printf("ready\n");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (int k = 0; k < polls; k++) {
		for (int i = 0; i < n; i++)
			if (poll_one(conns[i], m, since[i]) < 0)
				return 1;
		next.tv_nsec += interval_ms * 1000000L;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		sleep_until(&next);
	}
	printf("done\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL)
		;
	for (int i = 0; i < n; i++)
		PQfinish(conns[i]);
	free(conns);
	return 0;
}
