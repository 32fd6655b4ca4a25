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
 * query (lib/statquery.c) the way the daemon sends it, prepared with binary
 * results, to tell the query's cost on the server from the daemon's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "statquery.h"

enum mode { M_EXEC, M_PREPARED, M_OURS };
static const char *const own_params[3] = { "{}", NULL, "11 seconds" };

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

static int
poll_one(PGconn *c, enum mode m)
{
	PGresult *r = m == M_EXEC ? PQexec(c, spec_query) :
		      m == M_PREPARED ? PQexecPrepared(c, "q", 0, NULL, NULL, NULL, 0) :
		      PQexecPrepared(c, "q", 3, own_params, NULL, NULL, 1);
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "floor: poll: %s", PQresultErrorMessage(r));
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
			PGresult *r = PQprepare(conns[i], "q", q, m == M_OURS ? 3 : 0, NULL);
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
			if (poll_one(conns[i], m) < 0)
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
