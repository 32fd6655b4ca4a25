/*
 * test_store.c: the store (daemon/store*.c) against a real SQLite file in
 * a temporary directory: creation modes, migrations, every table
 * store_apply writes, client identity, alerts, failures that must change
 * nothing (locked, read-only, full), expiry, the hooks' queue
 * (store_hooks.h), a read-only reader in the file's group after the writer
 * stopped, and a fleet that polls 2000 times without growing the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "migrations.h"
#include "store.h"
#include "store_hooks.h"
/* White-box: the store's own connection, for its per-connection pragmas
 * (busy_timeout, query_only, max_page_count) and its change counter. */
#include "store_int.h"

#define T0_S		INT64_C(1764316800)	/* an hour boundary */
#define T0_MS		(T0_S * 1000)
#define NOBODY		65534			/* uid nobody, gid nogroup */

/* A client identity written with string literals. */
struct tkey {
	const char *db, *user, *app, *addr;
	bool ssl;
	const char *ver, *cipher;
	int bits;
	const char *cdn, *idn;
};

static const struct tkey K_A = { "app", "alice", "psql", "10.0.0.1", true, "TLSv1.3",
				 "TLS_AES_256_GCM_SHA384", 256, NULL, NULL };
static const struct tkey K_B = { "app", "bob", "pgjdbc", "10.0.0.2", false, NULL, NULL, -1,
				 NULL, NULL };
static const struct tkey K_C = { "app", "carol", "legacy", "10.0.0.3", true, "TLSv1.1",
				 "ECDHE-RSA-AES256-SHA", 256, "CN=carol", "CN=Client CA" };
static const struct tkey K_D = { "other", "dave", "node", NULL, true, "TLSv1.2",
				 "ECDHE-RSA-AES128-GCM-SHA256", 128, NULL, NULL };

/* ---- building records -------------------------------------------------- */

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		abort();
	return p;
}

static char *
xstrdup(const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		abort();
	return d;
}

static struct poll_record *
rec_new(int64_t instance_id, int64_t at_ms, bool ok, int64_t gap_ms)
{
	struct poll_record *r = calloc(1, sizeof *r);

	if (r == NULL)
		abort();
	r->instance_id = instance_id;
	r->at_ms = at_ms;
	r->ok = ok;
	r->gap_ms = gap_ms;
	return r;
}

static size_t
rec_client(struct poll_record *r, const struct tkey *k, const char *hostname, int samples,
	   int new_sessions)
{
	struct client_obs *c;

	r->clients = xrealloc(r->clients, (r->nclients + 1) * sizeof *r->clients);
	c = &r->clients[r->nclients];
	memset(c, 0, sizeof *c);
	c->key.database = xstrdup(k->db);
	c->key.user = xstrdup(k->user);
	c->key.application = xstrdup(k->app);
	c->key.client_addr = xstrdup(k->addr);
	c->key.ssl = k->ssl;
	c->key.tls_version = xstrdup(k->ver);
	c->key.cipher = xstrdup(k->cipher);
	c->key.bits = k->bits;
	c->key.client_dn = xstrdup(k->cdn);
	c->key.issuer_dn = xstrdup(k->idn);
	c->client_hostname = xstrdup(hostname);
	c->samples = samples;
	c->new_sessions = new_sessions;
	return r->nclients++;
}

static void
rec_new_session(struct poll_record *r, int32_t pid, size_t client)
{
	r->new_sessions = xrealloc(r->new_sessions, (r->n_new + 1) * sizeof *r->new_sessions);
	r->new_sessions[r->n_new++] = (struct session_ref){ .pid = pid,
		.backend_start_us = T0_MS * 1000 + pid, .client = client };
}

static void
rec_ended(struct poll_record *r, int32_t pid, bool single_poll)
{
	r->ended_sessions = xrealloc(r->ended_sessions,
				     (r->n_ended + 1) * sizeof *r->ended_sessions);
	r->ended_sessions[r->n_ended++] = (struct session_ref){ .pid = pid,
		.backend_start_us = T0_MS * 1000 + pid, .single_poll = single_poll };
}

static void
rec_counter(struct poll_record *r, uint32_t datid, const char *db, int64_t sessions,
	    const char *reset, int64_t missed)
{
	r->counters_known = true;
	r->counters = xrealloc(r->counters, (r->ncounters + 1) * sizeof *r->counters);
	r->counters[r->ncounters++] = (struct db_counter){ .datid = datid,
		.database = xstrdup(db), .sessions = sessions, .stats_reset = xstrdup(reset),
		.missed = missed };
}

static void
rec_facts(struct poll_record *r)
{
	struct instance_facts *f = calloc(1, sizeof *f);

	if (f == NULL)
		abort();
	f->server_version = xstrdup("15.4");
	f->server_version_num = 150004;
	f->ssl_enabled = 1;
	f->force_ssl = xstrdup("1");
	f->can_see_all_sessions = 1;
	f->cert.subject = xstrdup("CN=db1.example");
	f->cert.issuer = xstrdup("CN=Amazon RDS eu-west-1 Root CA RSA2048 G1");
	f->cert.not_before = T0_S - 86400;
	f->cert.not_after = T0_S + 86400 * 365;
	f->cert.sha256 = xstrdup("AB:CD:EF");
	r->facts = f;
}

/* ---- reading the database ---------------------------------------------- */

#define NULL_INT INT64_MIN

/* The first column of the first row of sql with an optional text ?1. */
static int64_t
q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = NULL_INT;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "prepare %s: %s\n", sql, sqlite3_errmsg(db));
		return NULL_INT + 1;
	}
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The text result of sql, in one of a few static buffers; NULL for NULL. */
static const char *
q_text(sqlite3 *db, const char *sql)
{
	static char buf[4][1024];
	static int next;
	sqlite3_stmt *st;
	const char *v = NULL;
	char *out = buf[next++ % 4];

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "prepare %s: %s\n", sql, sqlite3_errmsg(db));
		return "(prepare failed)";
	}
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		snprintf(out, sizeof buf[0], "%s", (const char *)sqlite3_column_text(st, 0));
		v = out;
	}
	sqlite3_finalize(st);
	return v;
}

/* Every row of every table, as text: equal dumps mean nothing changed. */
static char *
dump(sqlite3 *db)
{
	static const char *const tables[] = { "instance", "client", "live_session", "coverage",
		"missed_session", "session_counter", "alert", "alert_attempt" };
	sqlite3_str *out = sqlite3_str_new(db);
	sqlite3_stmt *st;
	char sql[128];

	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
		sqlite3_str_appendf(out, "[%s]\n", tables[t]);
		snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1, 2, 3", tables[t]);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
			sqlite3_str_appendf(out, "error %s\n", sqlite3_errmsg(db));
			continue;
		}
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				const unsigned char *b = sqlite3_column_blob(st, c);
				int n = sqlite3_column_bytes(st, c);

				if (sqlite3_column_type(st, c) == SQLITE_NULL)
					sqlite3_str_appendall(out, "NULL");
				for (int i = 0; b && i < n; i++)
					sqlite3_str_appendf(out, "%02x", b[i]);
				sqlite3_str_appendchar(out, 1, '|');
			}
			sqlite3_str_appendchar(out, 1, '\n');
		}
		sqlite3_finalize(st);
	}
	return sqlite3_str_finish(out);
}

static bool
same_dump(const char *before, sqlite3 *db)
{
	char *now = dump(db);
	bool same = before && now && strcmp(before, now) == 0;

	sqlite3_free(now);
	return same;
}

static int
mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static long long
size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static char *
join(const char *dir, const char *name)
{
	size_t nd = strlen(dir), nn = strlen(name);
	char *p = malloc(nd + nn + 2);

	if (p == NULL)
		abort();
	memcpy(p, dir, nd);
	p[nd] = '/';
	memcpy(p + nd + 1, name, nn + 1);
	return p;
}

/* Runs fn in a child as nobody:nogroup; returns the child's exit status. */
static int
as_nobody(int (*fn)(const char *), const char *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(99);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* ---- tests ------------------------------------------------------------- */

struct seen {
	int n;
	int32_t pids[16];
	uint32_t datids[16];
	int64_t sessions[16];
	char reset[16][32];
};

static void
on_live(void *arg, int32_t pid, int64_t backend_start_us)
{
	struct seen *s = arg;

	CHECK_INT(backend_start_us, T0_MS * 1000 + pid);
	if (s->n < 16)
		s->pids[s->n] = pid;
	s->n++;
}

static void
on_counter(void *arg, uint32_t datid, const char *database, int64_t sessions,
	   const char *stats_reset)
{
	struct seen *s = arg;

	(void)database;
	if (s->n < 16) {
		s->datids[s->n] = datid;
		s->sessions[s->n] = sessions;
		snprintf(s->reset[s->n], sizeof s->reset[0], "%s", stats_reset ? stats_reset : "NULL");
	}
	s->n++;
}

static bool
has_pid(const struct seen *s, int32_t pid)
{
	for (int i = 0; i < s->n && i < 16; i++)
		if (s->pids[i] == pid)
			return true;
	return false;
}

static void
test_open(const char *base, const char *path)
{
	char err[512], *dir = join(base, "state"), *p;
	struct store *s;
	sqlite3 *db;

	/* A restrictive umask must not change the modes the contract names. */
	mode_t old = umask(077);
	s = store_open(path, err, sizeof err);
	umask(old);
	CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		exit(1);
	}
	db = s->db;
	CHECK_INT(mode_of(dir), 0750);
	CHECK_INT(mode_of(path), 0640);
	CHECK_INT(q_int(db, "PRAGMA user_version"), migration_count);
	CHECK_STR(q_text(db, "PRAGMA journal_mode"), "wal");
	CHECK_INT(q_int(db, "PRAGMA synchronous"), 1);	/* NORMAL */
	CHECK_INT(q_int(db, "PRAGMA foreign_keys"), 1);
	CHECK(q_int(db, "PRAGMA journal_size_limit") > 0);
	CHECK(q_int(db, "PRAGMA busy_timeout") > 0 && q_int(db, "PRAGMA busy_timeout") <= 100);
	/* -wal and -shm exist (the reads above opened the WAL) with the file's mode. */
	p = join(dir, "history.db-wal");
	CHECK_INT(mode_of(p), 0640);
	free(p);
	p = join(dir, "history.db-shm");
	CHECK_INT(mode_of(p), 0640);
	free(p);
	store_close(s);

	/* Reopening applies nothing twice. */
	s = store_open(path, err, sizeof err);
	CHECK(s != NULL);
	if (s != NULL) {
		CHECK_INT(q_int(s->db, "PRAGMA user_version"), migration_count);
		CHECK_INT(q_int(s->db, "SELECT count(*) FROM sqlite_schema "
			  "WHERE type = 'table' AND name = 'client_data'"), 1);
		/* Schema 1's table is a view of the same name and columns. */
		CHECK_INT(q_int(s->db, "SELECT count(*) FROM sqlite_schema "
			  "WHERE type = 'view' AND name = 'client'"), 1);
		store_close(s);
	}
	free(dir);
}

static void
test_open_errors(const char *base)
{
	char err[512], *path = join(base, "no/such/history.db"), *newer = join(base, "newer.db");
	struct store *s;
	sqlite3 *db;

	/* Only the last directory component is created. */
	err[0] = '\0';
	s = store_open(path, err, sizeof err);
	CHECK(s == NULL);
	CHECK(strstr(err, path) != NULL);
	store_close(s);

	/* A schema from a newer sslhist is refused, untouched. */
	CHECK_INT(sqlite3_open(newer, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	err[0] = '\0';
	s = store_open(newer, err, sizeof err);
	CHECK(s == NULL);
	CHECK(strstr(err, newer) != NULL);
	CHECK(strstr(err, "newer") != NULL);
	store_close(s);
	CHECK_INT(sqlite3_open(newer, &db), SQLITE_OK);
	CHECK_INT(q_int(db, "PRAGMA user_version"), 99);
	CHECK_INT(q_int(db, "SELECT count(*) FROM sqlite_schema"), 0);
	sqlite3_close(db);
	free(path);
	free(newer);
}

static void
test_instances(struct store *s, int64_t *id1, int64_t *id2)
{
	sqlite3 *db = s->db;
	int64_t keep[1];

	*id1 = store_instance(s, "prod", "db1.example", 5432, "writer");
	CHECK(*id1 > 0);
	CHECK_INT(store_instance(s, "prod", "db1.example", 5432, "writer"), *id1);
	*id2 = store_instance(s, "prod", "db2.example", 5432, NULL);
	CHECK(*id2 > 0 && *id2 != *id1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM instance"), 2);
	CHECK(q_int(db, "SELECT added_at FROM instance WHERE host = 'db1.example'") > T0_S);

	keep[0] = *id1;
	CHECK_INT(store_retire_others(s, keep, 1, T0_S), 0);
	CHECK_INT(q_int(db, "SELECT retired_at FROM instance WHERE host = 'db2.example'"), T0_S);
	CHECK_INT(q_int(db, "SELECT retired_at FROM instance WHERE host = 'db1.example'"),
		  NULL_INT);
	/* Seen again: no longer retired, role updated. */
	CHECK_INT(store_instance(s, "prod", "db2.example", 5432, "reader"), *id2);
	CHECK_INT(q_int(db, "SELECT retired_at FROM instance WHERE host = 'db2.example'"),
		  NULL_INT);
	CHECK_STR(q_text(db, "SELECT role FROM instance WHERE host = 'db2.example'"), "reader");
	/* A role the schema does not allow is an error, not a silent write. */
	CHECK_INT(store_instance(s, "prod", "db3.example", 5432, "primary"), -1);
	CHECK(strstr(store_errmsg(s), "CHECK") != NULL);
	CHECK_INT(q_int(db, "SELECT count(*) FROM instance"), 2);
}

#define CLIENT_COL(col, user) \
	"SELECT " col " FROM client WHERE user = '" user "'"

/* Poll 1: three new clients, with facts. */
static void
apply_first(struct store *s, int64_t inst)
{
	sqlite3 *db = s->db;
	struct poll_record *r;
	int newc = 0;
	size_t a, b, c;

	/* Poll 1: three new clients, with facts; hooks for non-ssl and weak-tls only. */
	store_set_alerts(s, ALERT_NON_SSL | ALERT_WEAK_TLS);
	r = rec_new(inst, T0_MS + 60000, true, 0);
	rec_facts(r);
	a = rec_client(r, &K_A, NULL, 1, 1);
	b = rec_client(r, &K_B, "b.example", 1, 1);
	c = rec_client(r, &K_C, NULL, 1, 1);
	rec_new_session(r, 100, a);
	rec_new_session(r, 101, b);
	rec_new_session(r, 102, c);
	rec_counter(r, 16384, "app", 10, NULL, -1);
	rec_counter(r, 16385, "other", 5, "2026-01-01 00:00:00+00", -1);
	CHECK(poll_record_size(r) > sizeof *r + 3 * sizeof(struct client_obs));
	CHECK_INT(store_apply(s, r, &newc), 0);
	poll_record_free(r);
	CHECK_INT(newc, 3);

	CHECK_INT(q_int(db, "SELECT last_attempt FROM instance WHERE id = 1"), T0_S + 60);
	CHECK_INT(q_int(db, "SELECT last_success FROM instance WHERE id = 1"), T0_S + 60);
	CHECK_INT(q_int(db, "SELECT consecutive_failures FROM instance WHERE id = 1"), 0);
	CHECK_INT(q_int(db, "SELECT last_error_at FROM instance WHERE id = 1"), NULL_INT);
	CHECK_INT(q_int(db, "SELECT facts_at FROM instance WHERE id = 1"), T0_S + 60);
	CHECK_STR(q_text(db, "SELECT server_version FROM instance WHERE id = 1"), "15.4");
	CHECK_INT(q_int(db, "SELECT server_version_num FROM instance WHERE id = 1"), 150004);
	CHECK_INT(q_int(db, "SELECT ssl_enabled FROM instance WHERE id = 1"), 1);
	CHECK_STR(q_text(db, "SELECT force_ssl FROM instance WHERE id = 1"), "1");
	CHECK_INT(q_int(db, "SELECT can_see_all_sessions FROM instance WHERE id = 1"), 1);
	CHECK_STR(q_text(db, "SELECT cert_subject FROM instance WHERE id = 1"), "CN=db1.example");
	CHECK_STR(q_text(db, "SELECT cert_issuer FROM instance WHERE id = 1"),
		  "CN=Amazon RDS eu-west-1 Root CA RSA2048 G1");
	CHECK_INT(q_int(db, "SELECT cert_not_before FROM instance WHERE id = 1"), T0_S - 86400);
	CHECK_INT(q_int(db, "SELECT cert_not_after FROM instance WHERE id = 1"),
		  T0_S + 86400 * 365);
	CHECK_STR(q_text(db, "SELECT cert_sha256 FROM instance WHERE id = 1"), "AB:CD:EF");

	CHECK_INT(q_int(db, "SELECT count(*) FROM client"), 3);
	CHECK_INT(q_int(db, "SELECT count(DISTINCT ident) FROM client WHERE length(ident) = 16"), 3);
	CHECK_INT(q_int(db, CLIENT_COL("ssl", "alice")), 1);
	CHECK_STR(q_text(db, CLIENT_COL("tls_version", "alice")), "TLSv1.3");
	CHECK_STR(q_text(db, CLIENT_COL("cipher", "alice")), "TLS_AES_256_GCM_SHA384");
	CHECK_INT(q_int(db, CLIENT_COL("bits", "alice")), 256);
	CHECK_INT(q_int(db, CLIENT_COL("first_seen", "alice")), T0_S + 60);
	CHECK_INT(q_int(db, CLIENT_COL("last_seen", "alice")), T0_S + 60);
	CHECK_INT(q_int(db, CLIENT_COL("sessions", "alice")), 1);
	CHECK_INT(q_int(db, CLIENT_COL("samples", "alice")), 1);
	CHECK_INT(q_int(db, CLIENT_COL("instance_id", "alice")), inst);
	CHECK_INT(q_int(db, CLIENT_COL("ssl", "bob")), 0);
	CHECK_STR(q_text(db, CLIENT_COL("tls_version", "bob")), NULL);
	CHECK_INT(q_int(db, CLIENT_COL("bits", "bob")), NULL_INT);
	CHECK_STR(q_text(db, CLIENT_COL("client_hostname", "bob")), "b.example");
	CHECK_STR(q_text(db, CLIENT_COL("client_addr", "bob")), "10.0.0.2");
	CHECK_STR(q_text(db, CLIENT_COL("client_dn", "carol")), "CN=carol");
	CHECK_STR(q_text(db, CLIENT_COL("issuer_dn", "carol")), "CN=Client CA");

	CHECK_INT(q_int(db, "SELECT count(*) FROM alert"), 2);
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert JOIN client ON client.id = client_id "
		  "WHERE user = 'bob' AND event = 'non-ssl'"), 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert JOIN client ON client.id = client_id "
		  "WHERE user = 'carol' AND event = 'weak-tls'"), 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert WHERE state = 'pending' AND attempts = 0 "
		  "AND next_attempt_ms = 1764316860000 AND created_at = 1764316860"), 2);

	CHECK_INT(q_int(db, "SELECT count(*) FROM live_session"), 3);
	CHECK_INT(q_int(db, "SELECT count(*) FROM live_session JOIN client ON client.id = client_id "
		  "WHERE pid = 101 AND user = 'bob' AND live_session.first_seen = 1764316860"), 1);
	CHECK_INT(q_int(db, "SELECT hour FROM coverage"), T0_S);
	CHECK_INT(q_int(db, "SELECT polls FROM coverage"), 1);
	CHECK_INT(q_int(db, "SELECT failed_polls FROM coverage"), 0);
	CHECK_INT(q_int(db, "SELECT largest_gap_ms FROM coverage"), 0);
	CHECK_INT(q_int(db, "SELECT sessions FROM coverage"), 3);
	CHECK_INT(q_int(db, "SELECT single_poll_sessions FROM coverage"), 0);
	CHECK_INT(q_int(db, "SELECT missed_sessions FROM coverage"), NULL_INT);
	CHECK_INT(q_int(db, "SELECT fast_polls FROM coverage"), 0);
	CHECK_INT(q_int(db, "SELECT count(*) FROM missed_session"), 0);
	CHECK_INT(q_int(db, "SELECT count(*) FROM session_counter"), 2);
	CHECK_STR(q_text(db, "SELECT stats_reset FROM session_counter WHERE datid = 16385"),
		  "2026-01-01 00:00:00+00");
}

static void
apply_second(struct store *s, int64_t inst)
{
	sqlite3 *db = s->db;
	struct poll_record *r;
	int newc = 0;
	size_t d;

	/* Poll 2: alice's session goes on (nothing to send: its samples and
	 * last_seen follow from the poll), dave new; two sessions end. */
	store_set_alerts(s, ALERT_NEW_CLIENT);
	r = rec_new(inst, T0_MS + 90000, true, 30000);
	d = rec_client(r, &K_D, NULL, 2, 2);
	rec_new_session(r, 103, d);
	rec_new_session(r, 104, d);
	rec_ended(r, 101, true);
	rec_ended(r, 102, false);
	rec_counter(r, 16384, "app", 13, NULL, 2);
	rec_counter(r, 16385, "other", 5, "2026-01-01 00:00:00+00", 0);
	r->fast = true;		/* made at fast_interval */
	CHECK_INT(store_apply(s, r, &newc), 0);
	poll_record_free(r);
	CHECK_INT(newc, 1);

	CHECK_INT(q_int(db, "SELECT count(*) FROM client"), 4);
	CHECK_INT(q_int(db, CLIENT_COL("first_seen", "alice")), T0_S + 60);
	CHECK_INT(q_int(db, CLIENT_COL("last_seen", "alice")), T0_S + 90);
	CHECK_INT(q_int(db, CLIENT_COL("samples", "alice")), 2);
	CHECK_INT(q_int(db, CLIENT_COL("sessions", "alice")), 1);
	CHECK_STR(q_text(db, CLIENT_COL("client_hostname", "alice")), NULL);
	/* bob's one session ended: last seen at the poll before, 1 sample. */
	CHECK_INT(q_int(db, CLIENT_COL("last_seen", "bob")), T0_S + 60);
	CHECK_INT(q_int(db, CLIENT_COL("samples", "bob")), 1);
	CHECK_INT(q_int(db, "SELECT live FROM client_data WHERE user = 'bob'"), 0);
	CHECK_INT(q_int(db, "SELECT live FROM client_data WHERE user = 'alice'"), 1);
	CHECK_INT(q_int(db, CLIENT_COL("sessions", "dave")), 2);
	CHECK_INT(q_int(db, CLIENT_COL("samples", "dave")), 2);
	CHECK_STR(q_text(db, CLIENT_COL("client_addr", "dave")), NULL);
	/* Alerts only for the inserted client, only of the current mask. */
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert"), 3);
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert JOIN client ON client.id = client_id "
		  "WHERE user = 'dave' AND event = 'new-client'"), 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM live_session"), 3);
	CHECK_INT(q_int(db, "SELECT count(*) FROM live_session WHERE pid IN (100, 103, 104)"), 3);
	CHECK_INT(q_int(db, "SELECT polls FROM coverage"), 2);
	CHECK_INT(q_int(db, "SELECT largest_gap_ms FROM coverage"), 30000);
	CHECK_INT(q_int(db, "SELECT sessions FROM coverage"), 5);
	CHECK_INT(q_int(db, "SELECT single_poll_sessions FROM coverage"), 1);
	CHECK_INT(q_int(db, "SELECT missed_sessions FROM coverage"), 2);
	CHECK_INT(q_int(db, "SELECT fast_polls FROM coverage"), 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM missed_session"), 1);
	CHECK_INT(q_int(db, "SELECT missed FROM missed_session WHERE database = 'app' "
		  "AND hour = 1764316800"), 2);
	CHECK_INT(q_int(db, "SELECT sessions FROM session_counter WHERE datid = 16384"), 13);
}

static void
apply_failed(struct store *s, int64_t inst)
{
	sqlite3 *db = s->db;
	struct poll_record *r;

	/* Poll 3 fails. */
	r = rec_new(inst, T0_MS + 120000, false, 999999);	/* no gap: failed */
	r->error = xstrdup("connection refused");
	r->fast = true;		/* a fast poll that failed is a fast poll too */
	CHECK_INT(store_apply(s, r, NULL), 0);
	poll_record_free(r);
	CHECK_INT(q_int(db, "SELECT last_attempt FROM instance WHERE id = 1"), T0_S + 120);
	CHECK_INT(q_int(db, "SELECT last_success FROM instance WHERE id = 1"), T0_S + 90);
	CHECK_STR(q_text(db, "SELECT last_error FROM instance WHERE id = 1"), "connection refused");
	CHECK_INT(q_int(db, "SELECT last_error_at FROM instance WHERE id = 1"), T0_S + 120);
	CHECK_INT(q_int(db, "SELECT consecutive_failures FROM instance WHERE id = 1"), 1);
	CHECK_INT(q_int(db, "SELECT polls FROM coverage"), 3);
	CHECK_INT(q_int(db, "SELECT failed_polls FROM coverage"), 1);
	CHECK_INT(q_int(db, "SELECT missed_sessions FROM coverage"), 2);
	CHECK_INT(q_int(db, "SELECT fast_polls FROM coverage"), 2);
	CHECK_INT(q_int(db, "SELECT count(*) FROM session_counter"), 2);
	CHECK_STR(q_text(db, "SELECT server_version FROM instance WHERE id = 1"), "15.4");
}

static void
apply_resets(struct store *s, int64_t inst)
{
	sqlite3 *db = s->db;
	struct poll_record *r;

	/* Poll 4: back, counters reset on the server (no baseline: -1), and
	 * database 16385 is gone. */
	r = rec_new(inst, T0_MS + 180000, true, 90000);
	rec_counter(r, 16384, "app", 0, "2026-02-02 00:00:00+00", -1);
	r->dropped = xrealloc(NULL, sizeof *r->dropped);
	r->dropped[r->ndropped++] = 16385;
	CHECK_INT(store_apply(s, r, NULL), 0);
	poll_record_free(r);
	CHECK_INT(q_int(db, "SELECT consecutive_failures FROM instance WHERE id = 1"), 0);
	CHECK_INT(q_int(db, "SELECT last_success FROM instance WHERE id = 1"), T0_S + 180);
	/* Polls 1, 2 and 4 saw alice's session (3 failed). */
	CHECK_INT(q_int(db, CLIENT_COL("samples", "alice")), 3);
	CHECK_INT(q_int(db, CLIENT_COL("last_seen", "alice")), T0_S + 180);
	CHECK_INT(q_int(db, "SELECT polls FROM coverage"), 4);
	CHECK_INT(q_int(db, "SELECT largest_gap_ms FROM coverage"), 90000);
	CHECK_INT(q_int(db, "SELECT missed_sessions FROM coverage"), 2);
	CHECK_INT(q_int(db, "SELECT count(*) FROM session_counter"), 1);
	CHECK_INT(q_int(db, "SELECT sessions FROM session_counter WHERE datid = 16384"), 0);

	/* Poll 4b: counted again, added to what the hour had. */
	r = rec_new(inst, T0_MS + 210000, true, 30000);
	rec_counter(r, 16384, "app", 4, "2026-02-02 00:00:00+00", 1);
	CHECK_INT(store_apply(s, r, NULL), 0);
	poll_record_free(r);
	CHECK_INT(q_int(db, "SELECT missed_sessions FROM coverage"), 3);
	CHECK_INT(q_int(db, "SELECT missed FROM missed_session WHERE database = 'app' "
		  "AND hour = 1764316800"), 3);
	CHECK_INT(q_int(db, "SELECT polls FROM coverage"), 5);
	CHECK_INT(q_int(db, "SELECT fast_polls FROM coverage"), 2);
	CHECK_INT(q_int(db, "SELECT largest_gap_ms FROM coverage"), 90000);
	CHECK_INT(q_int(db, "SELECT sessions FROM session_counter WHERE datid = 16384"), 4);
}

static void
apply_next_hour(struct store *s, int64_t inst)
{
	sqlite3 *db = s->db;
	struct poll_record *r;

	/* Poll 5, the next hour, PostgreSQL < 14: missed stays NULL there. */
	r = rec_new(inst, T0_MS + 3600000, true, 30000);
	CHECK_INT(store_apply(s, r, NULL), 0);
	poll_record_free(r);
	CHECK_INT(q_int(db, "SELECT count(*) FROM coverage"), 2);
	CHECK_INT(q_int(db, "SELECT missed_sessions FROM coverage WHERE hour = 1764320400"),
		  NULL_INT);
	CHECK_INT(q_int(db, "SELECT polls FROM coverage WHERE hour = 1764320400"), 1);
}

static void
check_read_back(struct store *s, int64_t inst)
{
	struct seen seen;

	memset(&seen, 0, sizeof seen);
	CHECK_INT(store_live_sessions(s, inst, on_live, &seen), 0);
	CHECK_INT(seen.n, 3);
	CHECK(has_pid(&seen, 100) && has_pid(&seen, 103) && has_pid(&seen, 104));
	memset(&seen, 0, sizeof seen);
	CHECK_INT(store_counters(s, inst, on_counter, &seen), 0);
	CHECK_INT(seen.n, 1);
	CHECK_INT(seen.datids[0], 16384);
	CHECK_INT(seen.sessions[0], 4);
	CHECK_STR(seen.reset[0], "2026-02-02 00:00:00+00");
}

/* Four polls of one instance in one hour and one in the next. */
static void
test_apply(struct store *s, int64_t inst)
{
	apply_first(s, inst);
	apply_second(s, inst);
	apply_failed(s, inst);
	apply_resets(s, inst);
	apply_next_hour(s, inst);
	check_read_back(s, inst);
}

/* NULL and '' are different identities; so are shifted field boundaries. */
static void
test_identity(struct store *s, int64_t inst)
{
	static const struct tkey k_null = { NULL, "ident", NULL, "10.0.0.9", false, NULL, NULL, -1,
					    NULL, NULL };
	static const struct tkey k_empty = { "", "ident", "", "10.0.0.9", false, NULL, NULL, -1,
					     NULL, NULL };
	static const struct tkey k_ab = { "x", "ident", "ab", "c", false, NULL, NULL, -1, NULL, NULL };
	static const struct tkey k_a = { "x", "ident", "a", "bc", false, NULL, NULL, -1, NULL, NULL };
	sqlite3 *db = s->db;
	struct poll_record *r;
	int newc = 0;

	store_set_alerts(s, 0);
	for (int round = 0; round < 3; round++) {
		r = rec_new(inst, T0_MS + 3660000 + round * 1000, true, 1000);
		rec_client(r, &k_null, NULL, 1, round == 0);
		rec_client(r, &k_empty, NULL, 1, round == 0);
		rec_client(r, &k_ab, NULL, 1, round == 0);
		rec_client(r, &k_a, round == 1 ? "now.example" : NULL, 1, round == 0);
		CHECK_INT(store_apply(s, r, &newc), 0);
		poll_record_free(r);
	}
	CHECK_INT(newc, 4);
	CHECK_INT(q_int(db, "SELECT count(*) FROM client WHERE user = 'ident'"), 4);
	CHECK_INT(q_int(db, "SELECT count(*) FROM client WHERE user = 'ident' "
		  "AND application IS NULL AND database IS NULL"), 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM client WHERE user = 'ident' "
		  "AND application = '' AND database = ''"), 1);
	CHECK_INT(q_int(db, "SELECT sum(samples) FROM client WHERE user = 'ident'"), 12);
	CHECK_INT(q_int(db, "SELECT sum(sessions) FROM client WHERE user = 'ident'"), 4);
	/* The host name is not part of the identity: updated, not split; an
	 * unresolved name (NULL) keeps the last one known. */
	CHECK_STR(q_text(db, "SELECT client_hostname FROM client WHERE client_addr = 'bc'"),
		  "now.example");
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert"), 3);
}

static bool
column_is(sqlite3 *db, const char *col, const char *want)
{
	char sql[128];
	sqlite3_stmt *st;
	bool same = false;

	snprintf(sql, sizeof sql, "SELECT %s FROM client WHERE cipher = 'hostile'", col);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return false;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		same = sqlite3_column_type(st, 0) == SQLITE_TEXT && n == strlen(want) &&
		       memcmp(b, want, n) == 0;
	}
	sqlite3_finalize(st);
	return same;
}

static void
test_hostile(struct store *s, int64_t inst)
{
	static const struct tkey k = { "d\x1b[2Jb", "u\xff\xfe\n", "line1\nline2\x1b]0;x\x07",
		"10.0.0.66", true, "TLSv1.3", "hostile", 256, "CN=\x1b[31mred", "CN=\xc3" };
	sqlite3 *db = s->db;
	struct poll_record *r;

	for (int round = 0; round < 2; round++) {
		r = rec_new(inst, T0_MS + 3700000 + round * 1000, true, 1000);
		rec_client(r, &k, "h\x1b\n", 1, 1 - round);
		CHECK_INT(store_apply(s, r, NULL), 0);
		poll_record_free(r);
	}
	CHECK_INT(q_int(db, "SELECT count(*) FROM client WHERE cipher = 'hostile'"), 1);
	CHECK_INT(q_int(db, "SELECT samples FROM client WHERE cipher = 'hostile'"), 2);
	CHECK(column_is(db, "database", k.db));
	CHECK(column_is(db, "user", k.user));
	CHECK(column_is(db, "application", k.app));
	CHECK(column_is(db, "client_dn", k.cdn));
	CHECK(column_is(db, "issuer_dn", k.idn));
	CHECK(column_is(db, "client_hostname", "h\x1b\n"));
}

/* A record that inserts a client and more, for the failure tests. */
static struct poll_record *
big_record(int64_t inst, int64_t at_ms, int nclients, size_t pad)
{
	struct poll_record *r = rec_new(inst, at_ms, true, 1000);
	char *app = malloc(pad + 32);
	struct tkey k = K_A;

	if (app == NULL)
		abort();
	for (int i = 0; i < nclients; i++) {
		memset(app, 'x', pad);
		snprintf(app + pad, 32, "-%d", i);
		k.app = app;
		k.user = "failure";
		rec_new_session(r, 1000 + i, rec_client(r, &k, NULL, 1, 1));
	}
	rec_ended(r, 100, false);
	rec_counter(r, 16384, "app", 20, NULL, 3);
	free(app);
	return r;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_failures(struct store *s, const char *path, int64_t inst)
{
	sqlite3 *db = s->db, *other;
	struct poll_record *r;
	char *before;
	double t;
	int newc = 0;

	store_set_alerts(s, ALERT_NEW_CLIENT);
	before = dump(db);

	/* Locked by another writer: fails after the short busy timeout. */
	CHECK_INT(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	r = big_record(inst, T0_MS + 3800000, 3, 10);
	t = now_s();
	CHECK_INT(store_apply(s, r, &newc), -1);
	t = now_s() - t;
	CHECK(t < 1.0);
	CHECK(strstr(store_errmsg(s), "locked") != NULL);
	CHECK(strstr(store_errmsg(s), path) != NULL);
	CHECK(same_dump(before, db));
	CHECK_INT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);

	/* Read-only (at run time; a read-only file is refused by store_open). */
	CHECK_INT(sqlite3_exec(db, "PRAGMA query_only = ON", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(store_apply(s, r, &newc), -1);
	CHECK(strstr(store_errmsg(s), "readonly") != NULL);
	CHECK(same_dump(before, db));
	CHECK_INT(sqlite3_exec(db, "PRAGMA query_only = OFF", NULL, NULL, NULL), SQLITE_OK);

	/* Disk full, half way through the transaction. */
	CHECK(sqlite3_exec(db, "PRAGMA max_page_count = 1", NULL, NULL, NULL) == SQLITE_OK);
	poll_record_free(r);
	r = big_record(inst, T0_MS + 3800000, 40, 3000);
	CHECK_INT(store_apply(s, r, &newc), -1);
	CHECK(strstr(store_errmsg(s), "full") != NULL);
	CHECK(same_dump(before, db));
	CHECK(sqlite3_exec(db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL) == SQLITE_OK);

	/* A bad reference after the clients were written: all of it undone. */
	r->new_sessions[r->n_new - 1].client = r->nclients;
	CHECK_INT(store_apply(s, r, &newc), -1);
	CHECK(strstr(store_errmsg(s), "refers to client") != NULL);
	CHECK(same_dump(before, db));
	r->new_sessions[r->n_new - 1].client = 0;

	/* An instance that does not exist. */
	r->instance_id = 999;
	CHECK_INT(store_apply(s, r, &newc), -1);
	CHECK(same_dump(before, db));
	r->instance_id = inst;
	CHECK_INT(newc, 0);

	/* The same record succeeds once the store is writable again. */
	CHECK_INT(store_apply(s, r, &newc), 0);
	CHECK_INT(newc, 40);
	CHECK_INT(q_int(db, "SELECT count(*) FROM client WHERE user = 'failure'"), 40);
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert JOIN client ON client.id = client_id "
		  "WHERE user = 'failure'"), 40);
	poll_record_free(r);
	sqlite3_free(before);
}

static void
test_expire(struct store *s, int64_t inst, int64_t retired)
{
	sqlite3 *db = s->db;
	struct poll_record *r;
	int64_t keep[1] = { inst };
	int64_t clients = q_int(db, "SELECT count(*) FROM client");

	/* A live session on the other instance, which is then retired. */
	store_set_alerts(s, 0);
	r = rec_new(retired, T0_MS + 3900000, true, 0);
	rec_new_session(r, 7, rec_client(r, &K_A, NULL, 1, 1));
	CHECK_INT(store_apply(s, r, NULL), 0);
	poll_record_free(r);
	CHECK_INT(store_retire_others(s, keep, 1, T0_S + 3900), 0);

	/* Hook attempts, as the hook runner writes them. */
	CHECK_INT(sqlite3_exec(db,
		"UPDATE alert SET state = 'ok' WHERE client_id = "
		"  (SELECT id FROM client WHERE user = 'bob');"
		"UPDATE alert SET state = 'failed' WHERE client_id = "
		"  (SELECT id FROM client WHERE user = 'dave');"
		"INSERT INTO alert_attempt (alert_id, attempt, started_at, ended_at, outcome) "
		"  SELECT alert.id, 1, 1764316900, 1764316901, 'failed' FROM alert "
		"  JOIN client ON client.id = client_id WHERE user IN ('bob', 'carol', 'dave');"
		"INSERT INTO alert_attempt (alert_id, attempt, started_at, ended_at, outcome) "
		"  SELECT alert.id, 2, 1764324000, 1764324001, 'failed' FROM alert "
		"  JOIN client ON client.id = client_id WHERE user = 'dave';",
		NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert_attempt"), 4);

	CHECK_INT(store_expire(s, T0_S + 3600), 0);
	CHECK_INT(q_int(db, "SELECT count(*) FROM coverage WHERE hour < 1764320400"), 0);
	CHECK(q_int(db, "SELECT count(*) FROM coverage WHERE hour = 1764320400") > 0);
	CHECK_INT(q_int(db, "SELECT count(*) FROM missed_session WHERE hour < 1764320400"), 0);
	CHECK_INT(q_int(db, "SELECT count(*) FROM missed_session"), 1);	/* test_failures' */
	/* bob's (ok, old) and dave's first (failed, old) go; carol's (pending) stays. */
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert_attempt"), 2);
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert_attempt JOIN alert ON alert.id = alert_id "
		  "JOIN client ON client.id = client_id WHERE user = 'carol'"), 1);
	CHECK_INT(q_int(db, "SELECT attempt FROM alert_attempt JOIN alert ON alert.id = alert_id "
		  "JOIN client ON client.id = client_id WHERE user = 'dave'"), 2);
	CHECK_INT(q_int(db, "SELECT count(*) FROM live_session WHERE instance_id = 2"), 0);
	CHECK(q_int(db, "SELECT count(*) FROM live_session WHERE instance_id = 1") > 0);
	/* The retired instance's live session ended at its last poll. */
	CHECK_INT(q_int(db, "SELECT live FROM client_data WHERE instance_id = 2"), 0);
	CHECK_INT(q_int(db, "SELECT samples FROM client WHERE instance_id = 2"), 1);
	CHECK_INT(q_int(db, "SELECT last_seen FROM client_data WHERE instance_id = 2"), T0_S + 3900);
	CHECK_INT(q_int(db, "SELECT count(*) FROM client"), clients + 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert"),
		  q_int(db, "SELECT count(*) FROM alert WHERE client_id IN (SELECT id FROM client)"));
}

/* In a child as nobody:nogroup, a member of the file's group. */
static int
read_as_group(const char *path)
{
	sqlite3 *db;
	int64_t n;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "reader: open %s: %s\n", path, sqlite3_errmsg(db));
		return 1;
	}
	n = q_int(db, "SELECT count(*) FROM client");
	sqlite3_close(db);
	if (n <= 0) {
		fprintf(stderr, "reader: %s: count %lld\n", path, (long long)n);
		return 2;
	}
	return 0;
}

static int
open_as_group(const char *path)
{
	char err[512] = "";
	struct store *s = store_open(path, err, sizeof err);

	if (s != NULL) {
		store_close(s);
		return 1;
	}
	return strstr(err, path) != NULL ? 0 : 2;
}

/* The query tool reads while the daemon runs and after it stopped. */
/* A discovery's outcome: failures counted in a row, the error kept. */
static void
test_discovery(struct store *s)
{
	sqlite3 *db = s->db;

	CHECK_INT(store_discovery(s, "aur", 100, NULL), 0);
	CHECK_INT(store_discovery(s, "aur", 200, "discovery failed: boom"), 0);
	CHECK_INT(store_discovery(s, "aur", 300, "discovery failed: again"), 0);
	CHECK_INT(q_int(db, "SELECT consecutive_failures FROM discovery WHERE cluster = 'aur'"), 2);
	CHECK_INT(q_int(db, "SELECT last_success FROM discovery WHERE cluster = 'aur'"), 100);
	CHECK_INT(q_int(db, "SELECT last_error_at FROM discovery WHERE cluster = 'aur'"), 300);
	CHECK_STR(q_text(db, "SELECT last_error FROM discovery WHERE cluster = 'aur'"),
		  "discovery failed: again");
	CHECK_INT(store_discovery(s, "aur", 400, NULL), 0);
	CHECK_INT(q_int(db, "SELECT consecutive_failures FROM discovery WHERE cluster = 'aur'"), 0);
	CHECK_INT(q_int(db, "SELECT last_attempt FROM discovery WHERE cluster = 'aur'"), 400);
	/* The last error stays for the record; the report judges by the count. */
	CHECK_INT(q_int(db, "SELECT last_error_at FROM discovery WHERE cluster = 'aur'"), 300);
	CHECK_INT(store_discovery(s, "new", 500, "discovery failed: first"), 0);
	CHECK_INT(q_int(db, "SELECT consecutive_failures FROM discovery WHERE cluster = 'new'"), 1);
	CHECK_INT(q_int(db, "SELECT last_success FROM discovery WHERE cluster = 'new'"), NULL_INT);
}

static void
test_readers(struct store *s, const char *base, const char *path)
{
	char *dir = join(base, "state"), *wal = join(dir, "history.db-wal"),
	     *shm = join(dir, "history.db-shm");

	CHECK_INT(chmod(base, 0711), 0);
	CHECK_INT(chown(dir, 0, NOBODY), 0);
	CHECK_INT(chown(path, 0, NOBODY), 0);
	CHECK_INT(chown(wal, 0, NOBODY), 0);
	CHECK_INT(chown(shm, 0, NOBODY), 0);
	CHECK_INT(as_nobody(read_as_group, path), 0);
	store_close(s);
	CHECK_INT(mode_of(wal), 0640);
	CHECK_INT(mode_of(shm), 0640);
	CHECK_INT(as_nobody(read_as_group, path), 0);
	/* Without write access the daemon refuses to start, naming the file. */
	CHECK_INT(as_nobody(open_as_group, path), 0);
	free(dir);
	free(wal);
	free(shm);
}

/* Identical polls every 30 s for ~17 hours: the file must not grow. */
static void
test_growth(const char *base)
{
	char err[512], *dir = join(base, "growth"), *path = join(dir, "history.db"),
	     *wal = join(dir, "history.db-wal");
	struct store *s = store_open(path, err, sizeof err);
	struct poll_record *r;
	int64_t inst, pages = 0, limit;
	long long size = 0, wal_early = 0;

	CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		return;
	}
	inst = store_instance(s, "fleet", "quiet.example", 5432, "writer");
	store_set_alerts(s, ALERT_NON_SSL | ALERT_NEW_CLIENT);
	for (int i = 0; i < 2000; i++) {
		bool first = i == 0;
		int changes = sqlite3_total_changes(s->db);

		/* As the daemon sends them: the sessions and counters once, then
		 * polls that found nothing new. */
		r = rec_new(inst, T0_MS + (int64_t)i * 30000, true, first ? 0 : 30000);
		r->counters_known = true;
		r->baseline_known = !first;
		if (first) {
			rec_client(r, &K_A, "a.example", 2, 2);
			rec_client(r, &K_B, NULL, 1, 1);
			rec_client(r, &K_D, NULL, 1, 1);
			rec_new_session(r, 1, 0);
			rec_new_session(r, 2, 0);
			rec_new_session(r, 3, 1);
			rec_new_session(r, 4, 2);
			rec_counter(r, 16384, "app", 1000, NULL, -1);
			rec_counter(r, 16385, "other", 50, NULL, -1);
		}
		if (store_apply(s, r, NULL) != 0) {
			CHECK_STR(store_errmsg(s), "");
			poll_record_free(r);
			break;
		}
		poll_record_free(r);
		/* Nothing new: the instance row and the hour's coverage, no row
		 * per client or session. */
		if (!first)
			CHECK_INT(sqlite3_total_changes(s->db) - changes, 2);
		if (i % 100 == 99)
			store_checkpoint(s);	/* as the daemon's timer does */
		if (i == 20) {
			store_checkpoint(s);
			pages = q_int(s->db, "PRAGMA page_count");
			size = size_of(path);
		}
		if (i == 250)
			wal_early = size_of(wal);
	}
	store_checkpoint(s);
	CHECK_INT(q_int(s->db, "PRAGMA page_count"), pages);
	CHECK_INT(size_of(path), size);
	CHECK_INT(size_of(path), pages * q_int(s->db, "PRAGMA page_size"));
	limit = q_int(s->db, "PRAGMA journal_size_limit");
	CHECK(size_of(wal) <= limit);
	CHECK_INT(size_of(wal), wal_early);
	CHECK_INT(q_int(s->db, "SELECT count(*) FROM client"), 3);
	CHECK_INT(q_int(s->db, "SELECT sum(samples) FROM client"), 8000);
	CHECK_INT(q_int(s->db, "SELECT count(*) FROM client WHERE last_seen = "
		  "(SELECT last_success FROM instance)"), 3);
	CHECK(q_int(s->db, "SELECT missed_sessions FROM coverage LIMIT 1 OFFSET 5") == 0);
	CHECK_INT(q_int(s->db, "SELECT sum(polls) FROM coverage"), 2000);
	CHECK_INT(q_int(s->db, "SELECT count(*) FROM coverage"), 17);
	CHECK_INT(q_int(s->db, "SELECT count(*) FROM alert"), 4);
	printf("growth: %lld pages, db %lld bytes, wal %lld bytes\n", (long long)pages, size,
	       size_of(wal));
	store_close(s);
	free(dir);
	free(path);
	free(wal);
}

/* The hooks' queue, call by call (store_hooks.h), in a file of its own. */
static void
test_hook_queue(const char *base)
{
	char err[512], *dir = join(base, "hookq"), *path = join(dir, "history.db");
	struct store *s = store_open(path, err, sizeof err);
	const unsigned all = ALERT_NON_SSL | ALERT_NEW_CLIENT;
	const int64_t at = T0_MS + 1000;
	struct store_client c[4];
	struct store_alert a[4];
	struct store_hook_end e = { .outcome = "failed", .has_status = true, .exit_status = 1 };
	struct poll_record *r;
	int64_t inst;

	CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		return;
	}
	inst = store_instance(s, "prod", "db1.example", 5432, "writer");
	CHECK_INT(store_last_client(s), 0);
	CHECK_INT(store_hooks_next_due(s, all), -1);
	/* bob (non-SSL): non-ssl 1, new-client 2; alice: new-client 3. */
	store_set_alerts(s, all);
	r = rec_new(inst, at, true, 0);
	rec_client(r, &K_B, "b.example", 1, 1);
	rec_client(r, &K_A, NULL, 1, 1);
	CHECK_INT(store_apply(s, r, NULL), 0);
	poll_record_free(r);

	/* The clients, as stored, in the order stored. */
	CHECK_INT(store_last_client(s), 2);
	CHECK_INT(store_clients_after(s, 0, c, 4), 2);
	CHECK_STR(c[0].cluster, "prod");
	CHECK_STR(c[0].instance, "db1.example:5432");
	CHECK_STR(c[0].key.user, "bob");
	CHECK_STR(c[0].client_hostname, "b.example");
	CHECK(!c[0].key.ssl && c[0].key.tls_version == NULL && c[0].key.bits == -1);
	CHECK_STR(c[1].key.user, "alice");
	CHECK_STR(c[1].key.cipher, "TLS_AES_256_GCM_SHA384");
	CHECK_INT(c[1].key.bits, 256);
	CHECK_INT(c[1].first_seen, at / 1000);
	CHECK_INT(c[1].sessions, 1);
	store_client_clear(&c[0]);
	store_client_clear(&c[1]);
	CHECK_INT(store_clients_after(s, 1, c, 4), 1);
	CHECK_INT(c[0].id, 2);
	store_client_clear(&c[0]);

	/* Due: by time, by mask, oldest first, at most max. */
	CHECK_INT(store_hooks_next_due(s, all), at);
	CHECK_INT(store_hooks_due(s, all, at - 1, a, 4), 0);
	CHECK_INT(store_hooks_due(s, ALERT_NON_SSL, at, a, 4), 1);
	CHECK_STR(a[0].event, "non-ssl");
	CHECK_STR(a[0].client.key.user, "bob");
	store_alert_clear(&a[0]);
	CHECK_INT(store_hooks_due(s, all, at, a, 2), 2);
	CHECK(a[0].id == 1 && a[1].id == 2);
	CHECK_STR(a[1].event, "new-client");
	store_alert_clear(&a[0]);
	store_alert_clear(&a[1]);

	/* A claim opens attempt 1, once; its end makes a retry due later. */
	CHECK_INT(store_hooks_claim(s, 1, T0_S + 2), 1);
	CHECK_INT(store_hooks_claim(s, 1, T0_S + 2), -1);
	CHECK(strstr(store_errmsg(s), "no longer pending") != NULL);
	CHECK_INT(q_int(s->db, "SELECT count(*) FROM alert_attempt"), 1);
	e.alert_id = 1;
	e.attempt = 1;
	e.ended_at = T0_S + 3;
	e.state = "pending";
	e.next_attempt_ms = at + 5000;
	CHECK_INT(store_hooks_end(s, &e), 0);
	CHECK_STR(q_text(s->db, "SELECT outcome || ' ' || exit_status || ' ' || ended_at "
		  "FROM alert_attempt"), "failed 1 1764316803");
	CHECK_INT(store_hooks_due(s, ALERT_NON_SSL, at + 4999, a, 4), 0);
	CHECK_INT(store_hooks_next_due(s, ALERT_NON_SSL), at + 5000);

	/* A crash while alert 2 ran: its attempt is closed, it is due again. */
	CHECK_INT(store_hooks_claim(s, 2, T0_S + 4), 1);
	CHECK_INT(store_hooks_recover(s, at + 9000), 1);
	CHECK_STR(q_text(s->db, "SELECT a.state || ' ' || t.outcome || ' ' || t.error FROM alert a "
		  "JOIN alert_attempt t ON t.alert_id = a.id WHERE a.id = 2"),
		  "pending failed interrupted by daemon restart");
	CHECK_INT(store_hooks_recover(s, at + 9000), 0);

	/* non-ssl loses its command: its pending alert fails, with a reason. */
	CHECK_INT(store_hooks_sweep(s, ALERT_NEW_CLIENT, T0_S + 10), 1);
	CHECK_STR(q_text(s->db, "SELECT a.state || ' ' || a.attempts || ' ' || t.error FROM alert a "
		  "JOIN alert_attempt t ON t.alert_id = a.id AND t.attempt = 2 WHERE a.id = 1"),
		  "failed 2 hook no longer configured");
	CHECK_INT(store_hooks_sweep(s, ALERT_NEW_CLIENT, T0_S + 10), 0);
	CHECK_INT(store_hooks_due(s, all, at + 9000, a, 4), 2);
	store_alert_clear(&a[0]);
	store_alert_clear(&a[1]);
	store_close(s);
	free(dir);
	free(path);
}

/*
 * A schema-1 database with a live session migrates: the live client keeps
 * its samples and last_seen, and counts on from the next poll.
 */
static void
test_migrate_v1(const char *base)
{
	char err[512], *dir = join(base, "v1"), *path = join(dir, "history.db");
	sqlite3 *db;
	struct store *s;
	struct poll_record *r;

	CHECK_INT(mkdir(dir, 0750), 0);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, migrations[0].sql, NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA user_version = 1;"
		"INSERT INTO instance (id, cluster, host, port, added_at, last_success) "
		"VALUES (1, 'c', 'h', 5432, 100, 200);"
		"INSERT INTO client (id, instance_id, ident, ssl, first_seen, last_seen, sessions, "
		"samples) VALUES (1, 1, x'01', 1, 100, 200, 2, 7), (2, 1, x'02', 0, 50, 60, 1, 3);"
		"INSERT INTO live_session VALUES (1, 42, 1000, 1, 150);",
		NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	s = store_open(path, err, sizeof err);
	CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		return;
	}
	db = s->db;
	CHECK_INT(q_int(db, "SELECT samples FROM client WHERE id = 1"), 7);
	CHECK_INT(q_int(db, "SELECT last_seen FROM client WHERE id = 1"), 200);
	CHECK_INT(q_int(db, "SELECT samples FROM client WHERE id = 2"), 3);
	CHECK_INT(q_int(db, "SELECT last_seen FROM client WHERE id = 2"), 60);
	CHECK_INT(q_int(db, "SELECT live FROM client_data WHERE id = 1"), 1);
	CHECK_INT(q_int(db, "SELECT count(*) FROM alert WHERE client_id = 1"), 0);
	/* A poll that sees the session again: one more sample, seen now. */
	r = rec_new(1, 300000, true, 100000);
	CHECK_INT(store_apply(s, r, NULL), 0);
	poll_record_free(r);
	CHECK_INT(q_int(db, "SELECT samples FROM client WHERE id = 1"), 8);
	CHECK_INT(q_int(db, "SELECT last_seen FROM client WHERE id = 1"), 300);
	/* The next one does not see it: it ended at 300, with 8 samples. */
	r = rec_new(1, 400000, true, 100000);
	rec_ended(r, 42, false);
	r->ended_sessions[0].backend_start_us = 1000;
	CHECK_INT(store_apply(s, r, NULL), 0);
	poll_record_free(r);
	CHECK_INT(q_int(db, "SELECT samples FROM client WHERE id = 1"), 8);
	CHECK_INT(q_int(db, "SELECT last_seen FROM client WHERE id = 1"), 300);
	CHECK_INT(q_int(db, "SELECT count(*) FROM live_session"), 0);
	store_close(s);
	free(dir);
	free(path);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	char base[] = "/tmp/test_store.XXXXXX";
	char err[512], *path;
	struct store *s;
	int64_t inst, other;

	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	path = join(base, "state/history.db");
	test_open(base, path);
	test_open_errors(base);

	s = store_open(path, err, sizeof err);
	CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		return check_done();
	}
	test_instances(s, &inst, &other);
	test_apply(s, inst);
	test_identity(s, inst);
	test_hostile(s, inst);
	test_failures(s, path, inst);
	test_expire(s, inst, other);
	test_discovery(s);
	if (geteuid() == 0)
		test_readers(s, base, path);	/* closes s */
	else
		store_close(s);
	test_growth(base);
	test_hook_queue(base);
	test_migrate_v1(base);
	poll_record_free(NULL);
	free(path);
	if (check_failed == 0)
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "left %s for inspection\n", base);
	return check_done();
}
