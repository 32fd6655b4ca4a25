/*
 * store_poll.c: store_apply, one poll record in one transaction (contract
 * in store.h): ended sessions settle, the instance row and its facts,
 * clients upserted by their identity digest (new ones get their alert
 * rows), new live sessions, the hour's coverage, missed sessions and the
 * session counters.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "ident.h"
#include "livecounts.h"
#include "store_int.h"
#include "store_logs.h"


const char *const store_poll_sql[ST_COUNT] = {
	[ST_INSTANCE_POLL] =
	    "UPDATE instance SET last_attempt = ?2, "
	    "last_success = CASE WHEN ?3 THEN ?2 ELSE last_success END, "
	    "consecutive_failures = CASE WHEN ?3 THEN 0 ELSE consecutive_failures + 1 END, "
	    "polls_ok = polls_ok + CASE WHEN ?3 THEN 1 ELSE 0 END, "
	    "last_error = CASE WHEN ?3 THEN last_error ELSE ?4 END, "
	    "last_error_at = CASE WHEN ?3 THEN last_error_at ELSE ?2 END "
	    "WHERE id = ?1",
	[ST_INSTANCE_FACTS] =
	    "UPDATE instance SET facts_at = ?2, server_version = ?3, "
	    "server_version_num = ?4, ssl_enabled = ?5, force_ssl = ?6, "
	    "can_see_all_sessions = ?7, cert_subject = ?8, cert_issuer = ?9, "
	    "cert_not_before = ?10, cert_not_after = ?11, cert_sha256 = ?12 "
	    "WHERE id = ?1",
	/* A live client stays LIVE: see sql/002_live_counts.sql. */
	[ST_CLIENT_SEEN] =
	    "UPDATE client_data SET last_seen = CASE WHEN live > 0 THEN last_seen ELSE ?2 END, "
	    "samples = samples + ?3, "
	    "sessions = sessions + ?4, client_hostname = coalesce(?5, client_hostname) "
	    "WHERE ident = ?1 RETURNING id",
	[ST_CLIENT_INSERT] =
	    "INSERT INTO client_data (instance_id, ident, database, user, application, "
	    "client_addr, client_hostname, ssl, tls_version, cipher, bits, client_dn, "
	    "issuer_dn, first_seen, last_seen, sessions, samples, pooler_server) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15, ?16, ?17)",
	[ST_ALERT_INSERT] =
	    "INSERT INTO alert (client_id, event, state, next_attempt_ms, created_at) "
	    "VALUES (?1, ?2, 'pending', ?3, ?4)",
	/* After the poll's instance update: from_poll is the next poll. */
	[ST_LIVE_INSERT] =
	    "INSERT OR IGNORE INTO live_session (instance_id, pid, backend_start_us, "
	    "client_id, first_seen, from_poll) VALUES (?1, ?2, ?3, ?4, ?5, "
	    "(SELECT polls_ok + 1 FROM instance WHERE id = ?1))",
	[ST_CLIENT_LIVE_ADD] =
	    "UPDATE client_data SET live = live + 1, last_seen = " LIVE_LAST_SEEN ", "
	    "live_from = live_from + (SELECT polls_ok + 1 FROM instance WHERE id = ?2) "
	    "WHERE id = ?1",
	/* Before the poll's instance update: polls_ok and last_success are
	 * still those of the last poll that saw the session. */
	[ST_LIVE_DELETE] =
	    "DELETE FROM live_session "
	    "WHERE instance_id = ?1 AND pid = ?2 AND backend_start_us = ?3 "
	    "RETURNING client_id, from_poll",
	[ST_CLIENT_LIVE_END] =
	    "UPDATE client_data SET live = live - 1, live_from = live_from - ?2, "
	    "samples = samples + max(0, (SELECT polls_ok FROM instance WHERE id = ?3) + 1 - ?2), "
	    "last_seen = CASE WHEN live = 1 THEN coalesce((SELECT last_success FROM instance "
	    "WHERE id = ?3), first_seen) ELSE last_seen END "
	    "WHERE id = ?1 AND live > 0",
	[ST_COVERAGE] =
	    "INSERT INTO coverage (instance_id, hour, polls, failed_polls, largest_gap_ms, "
	    "sessions, single_poll_sessions, missed_sessions, fast_polls) "
	    "VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8) "
	    "ON CONFLICT (instance_id, hour) DO UPDATE SET "
	    "polls = polls + 1, failed_polls = failed_polls + excluded.failed_polls, "
	    "fast_polls = fast_polls + excluded.fast_polls, "
	    "largest_gap_ms = max(largest_gap_ms, excluded.largest_gap_ms), "
	    "sessions = sessions + excluded.sessions, "
	    "single_poll_sessions = single_poll_sessions + excluded.single_poll_sessions, "
	    "missed_sessions = CASE WHEN excluded.missed_sessions IS NULL THEN missed_sessions "
	    "ELSE coalesce(missed_sessions, 0) + excluded.missed_sessions END",
	[ST_MISSED] =
	    "INSERT INTO missed_session (instance_id, hour, database, missed) "
	    "VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT (instance_id, hour, database) DO UPDATE "
	    "SET missed = missed + excluded.missed",
	[ST_COUNTER_DROP] = "DELETE FROM session_counter WHERE instance_id = ?1 AND datid = ?2",
	[ST_COUNTER_INSERT] =
	    "INSERT OR REPLACE INTO session_counter (instance_id, datid, database, sessions, "
	    "stats_reset) VALUES (?1, ?2, ?3, ?4, ?5)",
};

/* ---- store_apply ----------------------------------------------------- */

static void
md_u64(EVP_MD_CTX *md, uint64_t v, int *ok)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (56 - 8 * i));
	*ok &= EVP_DigestUpdate(md, b, sizeof b);
}

/* A tag byte (0 NULL, 1 value), then the length and the bytes. */
static void
md_str(EVP_MD_CTX *md, const char *v, int *ok)
{
	unsigned char tag = v != NULL;
	size_t n;

	*ok &= EVP_DigestUpdate(md, &tag, 1);
	if (v == NULL)
		return;
	n = strlen(v);
	md_u64(md, n, ok);
	*ok &= EVP_DigestUpdate(md, v, n);
}

static void
md_int(EVP_MD_CTX *md, bool present, int64_t v, int *ok)
{
	unsigned char tag = present;

	*ok &= EVP_DigestUpdate(md, &tag, 1);
	if (present)
		md_u64(md, (uint64_t)v, ok);
}

/*
 * The client identity (docs/CONTRACT.md section 3) as a digest. The encoding is unambiguous (every
 * field tagged and length-prefixed), so NULL and '' and shifted field
 * boundaries give different digests. Changing it splits every client.
 */
int
st_client_ident(struct store *s, int64_t instance_id, const struct client_key *k,
		unsigned char out[IDENT_LEN])
{
	static const char version[] = "sslhist client v1";
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int ok = EVP_DigestInit_ex(s->md, EVP_sha256(), NULL);

	ok &= EVP_DigestUpdate(s->md, version, sizeof version);
	md_int(s->md, true, instance_id, &ok);
	md_str(s->md, k->database, &ok);
	md_str(s->md, k->user, &ok);
	md_str(s->md, k->application, &ok);
	md_str(s->md, k->client_addr, &ok);
	md_int(s->md, true, k->ssl, &ok);
	md_str(s->md, k->tls_version, &ok);
	md_str(s->md, k->cipher, &ok);
	md_int(s->md, k->bits >= 0, k->bits, &ok);
	md_str(s->md, k->client_dn, &ok);
	md_str(s->md, k->issuer_dn, &ok);
	/* Only a pooler's server connection has one: every other digest
	 * stays what it was before schema 6. */
	if (k->pooler_server != NULL)
		md_str(s->md, k->pooler_server, &ok);
	ok &= EVP_DigestFinal_ex(s->md, full, &len);
	if (!ok || len < IDENT_LEN) {
		st_err(s, "client identity", "SHA-256 failed");
		return -1;
	}
	memcpy(out, full, IDENT_LEN);
	return 0;
}

static int64_t
at_s(const struct poll_record *r)
{
	return r->at_ms / 1000;
}

/* Start of the hour of at_ms, in Unix seconds (floor, also before 1970). */
static int64_t
hour_of(const struct poll_record *r)
{
	int64_t t = r->at_ms / 1000;

	if (r->at_ms % 1000 < 0)
		t--;
	return t - ((t % 3600) + 3600) % 3600;
}

static int
apply_facts(struct store *s, const struct poll_record *r)
{
	const struct instance_facts *f = r->facts;
	const struct server_cert *c = &f->cert;
	bool cert = c->subject || c->issuer || c->sha256;
	sqlite3_stmt *st = st_get(s, ST_INSTANCE_FACTS);

	st_int(s, st, 1, r->instance_id);
	st_int(s, st, 2, at_s(r));
	st_text(s, st, 3, f->server_version);
	st_int_or_null(s, st, 4, f->server_version_num > 0, f->server_version_num);
	st_int_or_null(s, st, 5, f->ssl_enabled >= 0, f->ssl_enabled);
	st_text(s, st, 6, f->force_ssl);
	st_int_or_null(s, st, 7, f->can_see_all_sessions >= 0, f->can_see_all_sessions);
	st_text(s, st, 8, c->subject);
	st_text(s, st, 9, c->issuer);
	st_int_or_null(s, st, 10, cert, c->not_before);
	st_int_or_null(s, st, 11, cert, c->not_after);
	st_text(s, st, 12, c->sha256);
	return st_run(s, st, "update instance facts");
}

static int
apply_instance(struct store *s, const struct poll_record *r)
{
	sqlite3_stmt *st = st_get(s, ST_INSTANCE_POLL);

	st_int(s, st, 1, r->instance_id);
	st_int(s, st, 2, at_s(r));
	st_int(s, st, 3, r->ok);
	st_text(s, st, 4, r->error ? r->error : "unknown error");
	if (st_run(s, st, "update instance") < 0)
		return -1;
	if (sqlite3_changes(s->db) != 1) {
		st_err(s, "update instance", "no such instance");
		return -1;
	}
	if (r->pooler != NULL && store_pooler_facts(s, r) < 0)
		return -1;
	return r->facts ? apply_facts(s, r) : 0;
}

static int
insert_alert(struct store *s, int64_t at_ms, int64_t client_id, const char *event)
{
	sqlite3_stmt *st = st_get(s, ST_ALERT_INSERT);

	st_int(s, st, 1, client_id);
	st_text(s, st, 2, event);
	st_int(s, st, 3, at_ms);
	st_int(s, st, 4, at_ms / 1000);
	return st_run(s, st, "insert alert");
}

/* The alert rows of a newly stored client, decided once, ever. */
int
st_client_alerts(struct store *s, int64_t at_ms, const struct client_key *k, int64_t id)
{
	if ((s->alerts & ALERT_NON_SSL) && !k->ssl && insert_alert(s, at_ms, id, "non-ssl") < 0)
		return -1;
	if ((s->alerts & ALERT_WEAK_TLS) && k->ssl && ident_tls_weak(k->tls_version) &&
	    insert_alert(s, at_ms, id, "weak-tls") < 0)
		return -1;
	if ((s->alerts & ALERT_NEW_CLIENT) && insert_alert(s, at_ms, id, "new-client") < 0)
		return -1;
	return 0;
}

static int
insert_client(struct store *s, const struct poll_record *r, const struct client_obs *c,
	      const unsigned char *ident, int64_t *id)
{
	const struct client_key *k = &c->key;
	sqlite3_stmt *st = st_get(s, ST_CLIENT_INSERT);

	st_int(s, st, 1, r->instance_id);
	st_blob(s, st, 2, ident, IDENT_LEN);
	st_text(s, st, 3, k->database);
	st_text(s, st, 4, k->user);
	st_text(s, st, 5, k->application);
	st_text(s, st, 6, k->client_addr);
	st_text(s, st, 7, c->client_hostname);
	st_int(s, st, 8, k->ssl);
	st_text(s, st, 9, k->tls_version);
	st_text(s, st, 10, k->cipher);
	st_int_or_null(s, st, 11, k->bits >= 0, k->bits);
	st_text(s, st, 12, k->client_dn);
	st_text(s, st, 13, k->issuer_dn);
	st_int(s, st, 14, at_s(r));
	st_int(s, st, 15, c->new_sessions);
	st_int(s, st, 16, c->samples);
	st_text(s, st, 17, k->pooler_server);
	if (st_run(s, st, "insert client") < 0)
		return -1;
	*id = sqlite3_last_insert_rowid(s->db);
	return st_client_alerts(s, r->at_ms, k, *id);
}

/* Updates the client if known, else inserts it; its row id goes to *id. */
static int
apply_client(struct store *s, const struct poll_record *r, const struct client_obs *c,
	     int64_t *id, int *inserted)
{
	unsigned char ident[IDENT_LEN];
	sqlite3_stmt *st;
	int rc;

	if (st_client_ident(s, r->instance_id, &c->key, ident) < 0)
		return -1;
	st = st_get(s, ST_CLIENT_SEEN);
	st_blob(s, st, 1, ident, IDENT_LEN);
	st_int(s, st, 2, at_s(r));
	st_int(s, st, 3, c->samples);
	st_int(s, st, 4, c->new_sessions);
	st_text(s, st, 5, c->client_hostname);
	if ((rc = st_step(s, st, "update client")) < 0)
		return -1;
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	st_finish(st);
	if (rc == SQLITE_ROW)
		return 0;
	(*inserted)++;
	return insert_client(s, r, c, ident, id);
}

static int
bad_ref(struct store *s, const struct poll_record *r, const struct session_ref *ref)
{
	char why[96];

	snprintf(why, sizeof why, "session of pid %" PRId32 " refers to client %zu of %zu",
		 ref->pid, ref->client, r->nclients);
	st_err(s, "insert live session", why);
	return -1;
}

/* New sessions: live_session rows, counted live in their client. */
static int
apply_new_sessions(struct store *s, const struct poll_record *r, const int64_t *ids)
{
	const struct session_ref *ref;
	sqlite3_stmt *st;

	for (size_t i = 0; i < r->n_new; i++) {
		ref = &r->new_sessions[i];
		if (ref->client >= r->nclients)
			return bad_ref(s, r, ref);
		st = st_get(s, ST_LIVE_INSERT);
		st_int(s, st, 1, r->instance_id);
		st_int(s, st, 2, ref->pid);
		st_int(s, st, 3, ref->backend_start_us);
		st_int(s, st, 4, ids[ref->client]);
		st_int(s, st, 5, at_s(r));
		if (st_run(s, st, "insert live session") < 0)
			return -1;
		if (sqlite3_changes(s->db) == 0)
			continue;	/* known already: counted */
		st = st_get(s, ST_CLIENT_LIVE_ADD);
		st_int(s, st, 1, ids[ref->client]);
		st_int(s, st, 2, r->instance_id);
		if (st_run(s, st, "count live session") < 0)
			return -1;
		/* Kept for server logs (store_logs.h). */
		if (!ref->moved && st_session_polled(s, r->instance_id, ref->pid,
						     ref->backend_start_us, ids[ref->client]) < 0)
			return -1;
	}
	return 0;
}

/* One ended session: its row goes, its samples settle into its client. */
static int
end_session(struct store *s, const struct poll_record *r, const struct session_ref *ref)
{
	sqlite3_stmt *st = st_get(s, ST_LIVE_DELETE);
	int64_t client, from;
	int rc;

	st_int(s, st, 1, r->instance_id);
	st_int(s, st, 2, ref->pid);
	st_int(s, st, 3, ref->backend_start_us);
	if ((rc = st_step(s, st, "delete live session")) < 0)
		return -1;
	if (rc != SQLITE_ROW) {		/* never stored (e.g. a dropped record) */
		st_finish(st);
		return 0;
	}
	client = sqlite3_column_int64(st, 0);
	from = sqlite3_column_int64(st, 1);
	/* RETURNING: the statement must run to its end to delete. */
	while ((rc = st_step(s, st, "delete live session")) == SQLITE_ROW)
		;
	if (rc < 0)
		return -1;
	st_finish(st);
	st = st_get(s, ST_CLIENT_LIVE_END);
	st_int(s, st, 1, client);
	st_int(s, st, 2, from);
	st_int(s, st, 3, r->instance_id);
	return st_run(s, st, "settle ended session");
}

static int
apply_ended_sessions(struct store *s, const struct poll_record *r)
{
	for (size_t i = 0; i < r->n_ended; i++)
		if (end_session(s, r, &r->ended_sessions[i]) < 0)
			return -1;
	return 0;
}

static int
apply_coverage(struct store *s, const struct poll_record *r)
{
	sqlite3_stmt *st = st_get(s, ST_COVERAGE);
	int64_t single = 0, missed = poll_record_missed(r), begun = 0;

	for (size_t i = 0; i < r->n_ended; i++)
		single += r->ended_sessions[i].single_poll && !r->ended_sessions[i].moved;
	for (size_t i = 0; i < r->n_new; i++)
		begun += !r->new_sessions[i].moved;
	st_int(s, st, 1, r->instance_id);
	st_int(s, st, 2, hour_of(r));
	st_int(s, st, 3, !r->ok);
	st_int(s, st, 4, r->ok && r->gap_ms > 0 ? r->gap_ms : 0);
	st_int(s, st, 5, begun);
	st_int(s, st, 6, single);
	st_int_or_null(s, st, 7, missed >= 0, missed);
	st_int(s, st, 8, r->fast);
	return st_run(s, st, "update coverage");
}

/* Missed sessions per database, and the counters that changed. */
static int
apply_counters(struct store *s, const struct poll_record *r)
{
	const struct db_counter *c;
	sqlite3_stmt *st;

	if (!r->counters_known)
		return 0;
	for (size_t i = 0; i < r->ncounters; i++) {
		c = &r->counters[i];
		if (c->missed <= 0)
			continue;
		st = st_get(s, ST_MISSED);
		st_int(s, st, 1, r->instance_id);
		st_int(s, st, 2, hour_of(r));
		st_text_nn(s, st, 3, c->database);
		st_int(s, st, 4, c->missed);
		if (st_run(s, st, "update missed sessions") < 0)
			return -1;
	}
	for (size_t i = 0; i < r->ndropped; i++) {
		st = st_get(s, ST_COUNTER_DROP);
		st_int(s, st, 1, r->instance_id);
		st_int(s, st, 2, r->dropped[i]);
		if (st_run(s, st, "drop session counter") < 0)
			return -1;
	}
	for (size_t i = 0; i < r->ncounters; i++) {
		c = &r->counters[i];
		st = st_get(s, ST_COUNTER_INSERT);
		st_int(s, st, 1, r->instance_id);
		st_int(s, st, 2, c->datid);
		st_text_nn(s, st, 3, c->database);
		st_int(s, st, 4, c->sessions);
		st_text(s, st, 5, c->stats_reset);
		if (st_run(s, st, "insert session counter") < 0)
			return -1;
	}
	return 0;
}

static int
apply_all(struct store *s, const struct poll_record *r, int64_t *ids, int *inserted)
{
	/* Ended sessions settle against the instance as the last poll left it. */
	if (apply_ended_sessions(s, r) < 0 || apply_instance(s, r) < 0)
		return -1;
	for (size_t i = 0; i < r->nclients; i++)
		if (apply_client(s, r, &r->clients[i], &ids[i], inserted) < 0)
			return -1;
	if (apply_new_sessions(s, r, ids) < 0 || apply_coverage(s, r) < 0 ||
	    apply_counters(s, r) < 0)
		return -1;
	return 0;
}

int
store_apply_batch(struct store *s, struct poll_record *const *r, size_t n, int *new_clients)
{
	int64_t *ids = NULL;
	size_t most = 0;
	int inserted = 0;

	for (size_t i = 0; i < n; i++)
		if (r[i]->nclients > most)
			most = r[i]->nclients;
	st_ctx(s, "store %zu poll(s)", n);
	if (most > 0 && (ids = calloc(most, sizeof *ids)) == NULL) {
		st_err(s, "apply", "out of memory");
		return -1;
	}
	if (st_begin(s) < 0) {
		free(ids);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		st_ctx(s, "store poll of instance %" PRId64, r[i]->instance_id);
		if (apply_all(s, r[i], ids, &inserted) < 0) {
			st_abort(s);
			free(ids);
			return -1;
		}
	}
	free(ids);
	if (st_commit(s) < 0)
		return -1;
	if (new_clients != NULL)
		*new_clients += inserted;
	return 0;
}

int
store_apply(struct store *s, const struct poll_record *r, int *new_clients)
{
	struct poll_record *one = (struct poll_record *)(uintptr_t)r;

	return store_apply_batch(s, &one, 1, new_clients);
}
