/*
 * test_writer.c: the writer and its store thread over a real store file
 * and a real libevent loop. Records are stored in the order submitted,
 * records submitted together in one transaction (group commit); while a
 * second connection holds the write lock (BEGIN IMMEDIATE) they wait in
 * memory, within WRITER_MAX_BYTES with the oldest dropped, and once the
 * lock is gone the thread's retry stores what is left, in order. A request
 * sees the records submitted before it; a stop drains what is queued.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "check.h"
#include "clock.h"
#include "log.h"
#include "store.h"
#include "store_hooks.h"
#include "writer.h"

#define T0_MS	INT64_C(1764316800000)	/* an hour boundary */
#define BIG	(1u << 20)		/* bytes of error text in a big record */

static char dir[] = "/tmp/test_writer_XXXXXX";
static char path[300];
static sqlite3 *db;		/* the test's own connection, for checks */
static int stored_calls, stored_clients;

static void
on_stored(void *arg, int new_clients)
{
	(void)arg;
	stored_calls++;
	stored_clients += new_clients;
}

static int64_t
q_int(const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
		return -2;
	}
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* A successful poll at T0 + seq s that saw one new client, user "u<seq>". */
static struct poll_record *
ok_record(int64_t inst, int seq)
{
	struct poll_record *r = calloc(1, sizeof *r);
	char user[32];

	if (r == NULL || (r->clients = calloc(1, sizeof *r->clients)) == NULL)
		abort();
	snprintf(user, sizeof user, "u%d", seq);
	r->instance_id = inst;
	r->at_ms = T0_MS + seq * INT64_C(1000);
	r->ok = true;
	r->nclients = 1;
	r->clients[0].key.database = strdup("app");
	r->clients[0].key.user = strdup(user);
	r->clients[0].key.application = strdup("psql");
	r->clients[0].key.bits = -1;
	r->clients[0].samples = 1;
	r->clients[0].new_sessions = 1;
	return r;
}

/* A failed attempt whose error is BIG bytes starting "e<seq> ". */
static struct poll_record *
big_record(int64_t inst, int seq)
{
	struct poll_record *r = calloc(1, sizeof *r);
	int n;

	if (r == NULL || (r->error = malloc(BIG)) == NULL)
		abort();
	n = snprintf(r->error, BIG, "e%d ", seq);
	memset(r->error + n, 'x', BIG - 1 - (size_t)n);
	r->error[BIG - 1] = '\0';
	r->instance_id = inst;
	r->at_ms = T0_MS + seq * INT64_C(1000);
	r->ok = false;
	return r;
}

/* Runs the loop until the writer holds nothing, or the deadline. */
static bool
drain(struct event_base *base, struct writer *w, int64_t deadline_ms)
{
	int64_t end = mono_ms() + deadline_ms;

	while (writer_queued(w) > 0 && mono_ms() < end) {
		struct timeval tv = { 0, 50000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return writer_queued(w) == 0;
}

static struct writer_stats
stats(struct writer *w)
{
	struct writer_stats st;

	writer_stats(w, &st);
	return st;
}

/* Stored in the order submitted; submitted together, one transaction. */
static void
test_in_order(struct event_base *base, struct writer *w, int64_t inst)
{
	CHECK_INT(writer_last_stored(w), 0);
	for (int seq = 1; seq <= 3; seq++)
		writer_submit(w, ok_record(inst, seq));
	CHECK_INT(writer_queued(w), 3);
	CHECK(drain(base, w, 5000));
	CHECK_INT(stored_clients, 3);
	CHECK_INT(stats(w).records, 3);
	CHECK_INT(stats(w).transactions, 1);
	CHECK(writer_last_stored(w) > 0);
	CHECK_INT(q_int("SELECT polls_ok FROM instance"), 3);
	CHECK_INT(q_int("SELECT last_success FROM instance"), T0_MS / 1000 + 3);
	CHECK_INT(q_int("SELECT count(*) FROM client"), 3);
	/* In order: each client first seen at its own poll. */
	CHECK_INT(q_int("SELECT count(*) FROM client WHERE first_seen = "
			"1764316800 + CAST(substr(user, 2) AS INTEGER)"), 3);
}

/* Runs the loop until the thread has failed `n` times, or the deadline. */
static bool
until_failures(struct event_base *base, struct writer *w, uint64_t n, int64_t deadline_ms)
{
	int64_t end = mono_ms() + deadline_ms;

	while (stats(w).failures < n && mono_ms() < end) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return stats(w).failures >= n;
}

/*
 * Locked: everything waits, the oldest go once WRITER_MAX_BYTES is held,
 * and the thread's retry stores the rest in order when the lock is gone.
 */
static void
test_locked(struct event_base *base, struct writer *w, int64_t inst)
{
	struct poll_record *probe = big_record(inst, 0);
	size_t big = poll_record_size(probe);
	size_t keep = WRITER_MAX_BYTES / big;	/* big records the bound holds */
	int nbig = (int)keep + 5, last = 100 + nbig - 1;
	int calls = stored_calls;
	sqlite3 *other;
	char want[80];

	poll_record_free(probe);
	CHECK(keep >= 2);
	CHECK_INT(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	/* The first fails after the store's short busy timeout, and waits. */
	writer_submit(w, ok_record(inst, 10));
	writer_submit(w, ok_record(inst, 11));
	CHECK(until_failures(base, w, 1, 5000));
	CHECK_INT(writer_queued(w), 2);
	CHECK_INT(stored_calls, calls);
	/* A flush while locked stores nothing and loses nothing. */
	CHECK_INT(writer_flush(w), 2);

	/* Past the bound: the oldest go (the two small ones, then big ones).
	 * The thread waits for its retry (500 ms) meanwhile: nothing is in
	 * its hands, so the loop drops from the head. */
	for (int seq = 100; seq <= last; seq++)
		writer_submit(w, big_record(inst, seq));
	CHECK_INT(writer_queued(w), keep);

	CHECK_INT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	CHECK(drain(base, w, 10000));
	CHECK(stored_calls > calls);

	/* The dropped ones never reach the file; the kept ones all do. */
	CHECK_INT(q_int("SELECT count(*) FROM client WHERE user IN ('u10', 'u11')"), 0);
	CHECK_INT(q_int("SELECT sum(failed_polls) FROM coverage"), keep);
	CHECK_INT(q_int("SELECT consecutive_failures FROM instance"), keep);
	/* In order: the last stored is the last submitted. */
	CHECK_INT(q_int("SELECT last_attempt FROM instance"), T0_MS / 1000 + last);
	snprintf(want, sizeof want, "SELECT last_error LIKE 'e%d x%%' FROM instance", last);
	CHECK_INT(q_int(want), 1);
}

/* A request runs on the thread after the records submitted before it. */
struct last_req {
	struct sq_req base;
	int64_t last;
	int *done;
};

static void
last_run(struct store *s, struct sq_req *r)
{
	((struct last_req *)r)->last = store_last_client(s);
}

static void
last_done(struct sq_req *r)
{
	struct last_req *q = (struct last_req *)r;

	*q->done = 1;
	CHECK_INT(q->last, q_int("SELECT id FROM client WHERE user = 'u1000'"));
	free(q);
}

static void
test_request(struct event_base *base, struct writer *w, int64_t inst)
{
	struct last_req *q = calloc(1, sizeof(*q));
	int done = 0;
	int64_t end = mono_ms() + 5000;

	if (q == NULL)
		abort();
	q->base.run = last_run;
	q->base.done = last_done;
	q->done = &done;
	writer_submit(w, ok_record(inst, 1000));
	writer_call(w, &q->base);
	while (!done && mono_ms() < end) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	CHECK(done);
	CHECK_INT(q_int("SELECT consecutive_failures FROM instance"), 0);
}

/* A stop commits what is queued before the thread ends. */
static void
test_stop(struct writer *w, int64_t inst)
{
	writer_submit(w, ok_record(inst, 2000));
	CHECK_INT(writer_stop(w, 2000), 0);
	CHECK_INT(writer_queued(w), 0);
	CHECK_INT(q_int("SELECT count(*) FROM client WHERE user = 'u2000'"), 1);
}

static void
remove_files(void)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[320];

	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		snprintf(p, sizeof p, "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
}

int
main(void)
{
	char err[512];
	struct event_base *base;
	struct store *s;
	struct writer *w;
	int64_t inst;

	if (mkdtemp(dir) == NULL)
		return 2;
	snprintf(path, sizeof path, "%s/history.db", dir);
	log_init("test_writer", LVL_INFO);
	if ((s = store_open(path, err, sizeof err)) == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		return 2;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return 2;
	inst = store_instance(s, "prod", "db1.example", 5432, "writer");
	CHECK(inst > 0);
	base = event_base_new();
	w = writer_new(base, s, on_stored, NULL);
	CHECK(w != NULL);
	if (base == NULL || w == NULL || writer_start(w) != 0)
		return check_done();

	test_in_order(base, w, inst);
	test_locked(base, w, inst);
	test_request(base, w, inst);
	test_stop(w, inst);

	writer_free(w);
	event_base_free(base);
	sqlite3_close(db);
	store_close(s);
	libevent_global_shutdown();
	if (check_failed == 0)
		remove_files();
	else
		fprintf(stderr, "kept %s\n", dir);
	return check_done();
}
