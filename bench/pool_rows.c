/*
 * pool_rows.c: what a pooler poll costs the daemon per SHOW CLIENTS row,
 * against a floor measured in the same run.
 *
 * A text PGresult of N client rows (PgBouncer 1.18's columns) is built
 * once. The floor reads every cell the record step reads (PQgetvalue and
 * PQgetlength of 10 columns per row); the measured step is poolrec_build
 * over the same result in the steady state (every session known: the
 * common poll), and once with every session new (a first poll).
 * Prints ns per row and the ratio to the floor.
 *
 *   cc -O2 -D_GNU_SOURCE -I daemon -I lib -I /usr/include/postgresql \
 *      bench/pool_rows.c build/libsslhistd_core.a build/libsslhist_lib.a \
 *      -lpq -levent -lsqlite3 -lsystemd -lssl -lcrypto -linih -o build/bench-pool-rows
 *   ./build/bench-pool-rows [ROWS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "parse.h"
#include "pollrec.h"
#include "poolrows.h"
#include "tracker.h"

static const char *const cols[] = { "type", "user", "database", "state", "addr", "port",
	"local_addr", "local_port", "connect_time", "request_time", "wait", "wait_us",
	"close_needed", "ptr", "link", "remote_pid", "tls", "application_name", NULL };

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static PGresult *
build(int n)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc att[32];
	int nc = 0;
	char v[64];

	memset(att, 0, sizeof(att));
	for (; cols[nc]; nc++)
		att[nc].name = (char *)(uintptr_t)cols[nc];
	PQsetResultAttrs(res, nc, att);
	for (int r = 0; r < n; r++) {
		for (int c = 0; c < nc; c++) {
			const char *s = "";

			switch (c) {
			case 0: s = "C"; break;
			case 1: snprintf(v, sizeof(v), "app%d", r % 20); s = v; break;
			case 2: s = "orders"; break;
			case 3: s = "active"; break;
			case 4: snprintf(v, sizeof(v), "10.1.%d.%d", r / 250 % 250, r % 250); s = v; break;
			case 5: snprintf(v, sizeof(v), "%d", 30000 + r % 30000); s = v; break;
			case 6: s = "10.0.0.9"; break;
			case 7: s = "6432"; break;
			case 8: case 9: s = "2026-12-03 12:33:48 UTC"; break;
			case 16: s = r % 2 ? "TLSv1.3/TLS_AES_256_GCM_SHA384" : ""; break;
			case 17: snprintf(v, sizeof(v), "service-%d", r % 50); s = v; break;
			default: s = "0"; break;
			}
			PQsetvalue(res, r, c, (char *)(uintptr_t)s, (int)strlen(s));
		}
	}
	return res;
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10000, reps = 50;
	PGresult *res = build(n);
	struct tracker *t = tracker_new();
	struct strlist ex = { NULL, 0 };
	const struct poolrec_ctx ctx = { .tracker = t, .exclude_users = &ex };
	struct poolrec_out out;
	volatile size_t sink = 0;
	double t0, floor_ns, first_ns, steady_ns;

	t0 = now_ns();
	for (int k = 0; k < reps; k++)
		for (int r = 0; r < n; r++)
			for (int c = 0; c < 18; c += 2)
				sink += (size_t)PQgetlength(res, r, c) + (size_t)*PQgetvalue(res, r, c);
	floor_ns = (now_ns() - t0) / reps / n;

	struct poll_record *rec = calloc(1, sizeof(*rec));
	t0 = now_ns();
	poolrec_build(&ctx, res, rec, &out);
	first_ns = (now_ns() - t0) / n;
	printf("rows %d: first poll %zu new sessions, %zu clients\n", n, rec->n_new, rec->nclients);
	poll_record_free(rec);

	t0 = now_ns();
	for (int k = 0; k < reps; k++) {
		rec = calloc(1, sizeof(*rec));
		poolrec_build(&ctx, res, rec, &out);
		sink += rec->n_new;
		poll_record_free(rec);
	}
	steady_ns = (now_ns() - t0) / reps / n;
	printf("floor (read the cells)   %8.1f ns/row\n", floor_ns);
	printf("steady poll (all known)  %8.1f ns/row  %.1fx the floor\n", steady_ns,
	       steady_ns / floor_ns);
	printf("first poll (all new)     %8.1f ns/row  %.1fx the floor\n", first_ns,
	       first_ns / floor_ns);
	tracker_free(t);
	PQclear(res);
	return sink == 0xdeadbeef;
}
