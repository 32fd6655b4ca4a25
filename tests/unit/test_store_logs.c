/*
 * test_store_logs.c: daemon/logimport.c and daemon/store_logs.c over a real
 * SQLite file: a session both polled and logged counts once whichever
 * comes first, a re-import adds nothing, the batch's sums land, a session
 * without an address and excluded users are counted and not stored.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "logimport.h"
#include "store.h"
#include "store_logs.h"

#define T0_S	INT64_C(1796281200)	/* 2026-12-03 07:00:00 UTC, an hour boundary */

static char dir[64] = "/tmp/test_store_logs.XXXXXX";
static char path[128];

static int64_t
q_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* A poll that sees one new session of alice (psql, TLSv1.3) at bs_us. */
static int
poll_sees(struct store *s, int64_t id, int32_t pid, int64_t bs_us, const char *app)
{
	struct poll_record r;
	struct client_obs c;
	struct session_ref ref;

	memset(&r, 0, sizeof r);
	memset(&c, 0, sizeof c);
	c.key.database = (char *)(uintptr_t)"appdb";
	c.key.user = (char *)(uintptr_t)"alice";
	c.key.application = (char *)(uintptr_t)app;
	c.key.client_addr = (char *)(uintptr_t)"10.0.0.1";
	c.key.ssl = true;
	c.key.tls_version = (char *)(uintptr_t)"TLSv1.3";
	c.key.cipher = (char *)(uintptr_t)"TLS_AES_256_GCM_SHA384";
	c.key.bits = 256;
	c.samples = 1;
	c.new_sessions = 1;
	ref = (struct session_ref){ .pid = pid, .backend_start_us = bs_us, .client = 0 };
	r.instance_id = id;
	r.at_ms = bs_us / 1000 + 500;
	r.ok = true;
	r.clients = &c;
	r.nclients = 1;
	r.new_sessions = &ref;
	r.n_new = 1;
	return store_apply(s, &r, NULL);
}

/* Imports text (stderr, prefix "%m %r [%p] " unless given). */
static struct logimport_stats
import(struct store *s, int64_t id, const char *prefix, const char *text)
{
	static char rdsadmin[] = "rdsadmin";
	static char *ex[] = { rdsadmin, NULL };
	struct strlist users = { ex, 1 };
	struct logimport_opts o = { .format = LOGFMT_STDERR, .prefix = prefix,
				    .exclude_users = &users };
	struct logimport_stats st;
	char err[256];
	struct logimport *li = logimport_new(s, id, &o, err, sizeof err);

	memset(&st, 0, sizeof st);
	if (li == NULL) {
		fprintf(stderr, "logimport_new: %s\n", err);
		CHECK(!"logimport_new");
		return st;
	}
	CHECK_INT(logimport_feed(li, text, strlen(text)), 0);
	CHECK_INT(logimport_end(li), 0);
	st = *logimport_stats(li);
	logimport_free(li);
	return st;
}

#define PREFIX "%m %r [%p] "
#define RECV(t, pid) "2026-12-03 " t " UTC 10.0.0.1(5000) [" pid "] LOG:  connection " \
	"received: host=10.0.0.1 port=5000\n"
#define AUTH(t, pid, app) "2026-12-03 " t " UTC 10.0.0.1(5000) [" pid "] LOG:  connection " \
	"authorized: user=alice database=appdb application_name=" app " SSL enabled " \
	"(protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)\n"

static void
test_poll_then_log(struct store *s, int64_t id)
{
	struct logimport_stats st;

	/* Polled at 07:00:01.000; the log's received line 2 ms later. */
	CHECK_INT(poll_sees(s, id, 100, (T0_S + 1) * 1000000, "psql"), 0);
	st = import(s, id, PREFIX, RECV("07:00:01.002", "100") AUTH("07:00:01.010", "100", "psql"));
	CHECK_INT(st.sessions, 1);
	CHECK_INT(st.named_polled, 1);
	CHECK_INT(st.stored, 0);
	CHECK_INT(st.new_clients, 0);
	CHECK_INT(q_int("SELECT sessions FROM client WHERE application = 'psql'"), 1);
	CHECK_INT(q_int("SELECT logged_sessions FROM client WHERE application = 'psql'"), 1);
	CHECK_INT(q_int("SELECT coalesce(sum(logged_sessions), 0) FROM log_coverage"), 0);
}

static void
test_log_then_poll(struct store *s, int64_t id)
{
	struct logimport_stats st;

	/* Same identity: the log's client is the poll's; counted once. */
	st = import(s, id, PREFIX, RECV("07:10:00.003", "200") AUTH("07:10:00.020", "200", "psql"));
	CHECK_INT(st.stored, 1);
	CHECK_INT(q_int("SELECT sessions FROM client WHERE application = 'psql'"), 2);
	CHECK_INT(q_int("SELECT sum(logged_sessions) FROM log_coverage"), 1);
	CHECK_INT(poll_sees(s, id, 200, (T0_S + 600) * 1000000 + 1000, "psql"), 0);
	CHECK_INT(q_int("SELECT sessions FROM client WHERE application = 'psql'"), 2);
	CHECK_INT(q_int("SELECT logged_sessions FROM client WHERE application = 'psql'"), 2);
	CHECK_INT(q_int("SELECT sum(logged_sessions) FROM log_coverage"), 0);
	CHECK_INT(q_int("SELECT count(*) FROM session_seen WHERE pid = 200"), 1);

	/* Another identity (the application changed after the start): the
	 * session moves to the polled client. */
	st = import(s, id, PREFIX, RECV("07:20:00.003", "300") AUTH("07:20:00.020", "300", "boot"));
	CHECK_INT(st.new_clients, 1);
	CHECK_INT(q_int("SELECT sessions FROM client WHERE application = 'boot'"), 1);
	CHECK_INT(q_int("SELECT samples FROM client WHERE application = 'boot'"), 0);
	CHECK_INT(poll_sees(s, id, 300, (T0_S + 1200) * 1000000, "late-name"), 0);
	CHECK_INT(q_int("SELECT sessions FROM client WHERE application = 'boot'"), 0);
	CHECK_INT(q_int("SELECT sessions FROM client WHERE application = 'late-name'"), 1);
	CHECK_INT(q_int("SELECT logged_sessions FROM client WHERE application = 'late-name'"), 1);
}

static void
test_reimport_and_rest(struct store *s, int64_t id)
{
	static const char log[] =
	    RECV("07:30:00.001", "400") AUTH("07:30:00.009", "400", "burst")
	    RECV("07:30:00.101", "401") AUTH("07:30:00.109", "401", "burst")
	    "2026-12-03 07:30:02.000 UTC 10.0.0.9(1) [403] LOG:  connection authorized: "
	    "user=rdsadmin database=rdsadmin\n";
	struct logimport_stats st;
	int64_t since;

	st = import(s, id, PREFIX, log);
	CHECK_INT(st.sessions, 3);
	CHECK_INT(st.stored, 2);
	CHECK_INT(st.excluded, 1);
	CHECK_INT(st.skipped, 0);
	CHECK_INT(q_int("SELECT sessions FROM client WHERE application = 'burst'"), 2);
	/* The authorized line alone, and no %r in the prefix (found: PostgreSQL's
	 * default): no address, not stored. */
	st = import(s, id, NULL, "2026-12-03 07:30:01.000 UTC [402] LOG:  connection "
		    "authorized: user=bob database=appdb\n");
	CHECK_INT(st.no_address, 1);
	CHECK_INT(st.stored, 0);
	CHECK_INT(st.skipped, 0);
	st = import(s, id, PREFIX, log);
	CHECK_INT(st.known, 2);
	CHECK_INT(st.stored, 0);
	CHECK_INT(q_int("SELECT sessions FROM client WHERE application = 'burst'"), 2);
	/* Only the authorized lines of the same sessions: still known. */
	st = import(s, id, PREFIX, AUTH("07:30:00.009", "400", "burst"));
	CHECK_INT(st.known, 1);
	CHECK_INT(store_log_since(s, id, &since), 0);
	CHECK_INT(since, (T0_S + 1802) * 1000000);
	CHECK_INT(q_int("SELECT sessions FROM client WHERE application = 'burst'"), 2);
}

int
main(void)
{
	char err[512];
	struct store *s;
	int64_t id;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/history.db", dir);
	if ((s = store_open(path, err, sizeof err)) == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		return 1;
	}
	store_set_alerts(s, ALERT_NEW_CLIENT);
	id = store_instance(s, "prod", "db1", 5432, NULL);
	CHECK(id > 0);
	test_poll_then_log(s, id);
	test_log_then_poll(s, id);
	test_reimport_and_rest(s, id);
	/* New clients found by a log have their alert rows. */
	CHECK_INT(q_int("SELECT count(*) FROM alert a JOIN client c ON c.id = a.client_id "
			"WHERE c.application = 'burst' AND a.event = 'new-client'"), 1);
	store_close(s);
	unlink(path);
	snprintf(err, sizeof err, "%s-wal", path);
	unlink(err);
	snprintf(err, sizeof err, "%s-shm", path);
	unlink(err);
	rmdir(dir);
	return check_done();
}
