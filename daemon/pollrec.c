/*
 * pollrec.c: poll records (pollrec.h): freeing and sizing them, and
 * building one from the poll query's rows.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ident.h"
#include "parse.h"
#include "pollrec.h"
#include "poolmatch.h"
#include "statquery.h"
#include "statrow.h"
#include "tracker.h"

void
client_key_free(struct client_key *k)
{
	free(k->database);
	free(k->user);
	free(k->application);
	free(k->client_addr);
	free(k->tls_version);
	free(k->cipher);
	free(k->client_dn);
	free(k->issuer_dn);
	free(k->pooler_server);
}

void
pooler_facts_free(struct pooler_facts *f)
{
	if (f == NULL)
		return;
	free(f->client_tls_sslmode);
	free(f->server_tls_sslmode);
	free(f->server_tls_ca_file);
	free(f);
}

void
instance_facts_free(struct instance_facts *f)
{
	if (f == NULL)
		return;
	free(f->server_version);
	free(f->force_ssl);
	free(f->cert.subject);
	free(f->cert.issuer);
	free(f->cert.sha256);
	free(f);
}

void
poll_record_free(struct poll_record *r)
{
	if (r == NULL)
		return;
	free(r->error);
	instance_facts_free(r->facts);
	pooler_facts_free(r->pooler);
	for (size_t i = 0; i < r->nclients; i++) {
		client_key_free(&r->clients[i].key);
		free(r->clients[i].client_hostname);
	}
	free(r->clients);
	free(r->new_sessions);
	free(r->ended_sessions);
	for (size_t i = 0; i < r->ncounters; i++) {
		free(r->counters[i].database);
		free(r->counters[i].stats_reset);
	}
	free(r->counters);
	free(r->dropped);
	free(r);
}

static size_t
slen(const char *v)
{
	return v ? strlen(v) + 1 : 0;
}

size_t
poll_record_size(const struct poll_record *r)
{
	const struct client_key *k;
	size_t n;

	if (r == NULL)
		return 0;
	n = sizeof *r + slen(r->error);
	if (r->facts != NULL)
		n += sizeof *r->facts + slen(r->facts->server_version) + slen(r->facts->force_ssl) +
		     slen(r->facts->cert.subject) + slen(r->facts->cert.issuer) +
		     slen(r->facts->cert.sha256);
	n += r->nclients * sizeof *r->clients;
	for (size_t i = 0; i < r->nclients; i++) {
		k = &r->clients[i].key;
		n += slen(k->database) + slen(k->user) + slen(k->application) +
		     slen(k->client_addr) + slen(k->tls_version) + slen(k->cipher) +
		     slen(k->client_dn) + slen(k->issuer_dn) + slen(k->pooler_server) +
		     slen(r->clients[i].client_hostname);
	}
	n += (r->n_new + r->n_ended) * sizeof(struct session_ref);
	n += r->ncounters * sizeof *r->counters + r->ndropped * sizeof *r->dropped;
	for (size_t i = 0; i < r->ncounters; i++)
		n += slen(r->counters[i].database) + slen(r->counters[i].stats_reset);
	return n;
}

int64_t
poll_record_missed(const struct poll_record *r)
{
	bool counted = r->counters_known && r->baseline_known;
	int64_t missed = 0;

	for (size_t i = 0; r->counters_known && i < r->ncounters; i++) {
		if (r->counters[i].missed >= 0) {
			missed += r->counters[i].missed;
			counted = true;
		}
	}
	return counted ? missed : -1;
}

/* ---- building: client keys ---- */

struct obs_index {		/* client key -> index into record->clients */
	size_t *slot;		/* index + 1; 0 empty */
	size_t cap;
};

static uint64_t
hash_str(uint64_t h, const char *s)
{
	if (s == NULL)
		return h * 1099511628211ULL ^ 0xff;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (h ^ 0x1f) * 1099511628211ULL;
}

static uint64_t
hash_key(const struct client_key *k)
{
	uint64_t h = 14695981039346656037ULL;

	h = hash_str(h, k->database);
	h = hash_str(h, k->user);
	h = hash_str(h, k->application);
	h = hash_str(h, k->client_addr);
	h = hash_str(h, k->tls_version);
	h = hash_str(h, k->cipher);
	h = hash_str(h, k->client_dn);
	h = hash_str(h, k->issuer_dn);
	h = hash_str(h, k->pooler_server);
	return (h ^ (uint64_t)k->ssl ^ ((uint64_t)(unsigned)k->bits << 1)) * 1099511628211ULL;
}

static bool
key_eq(const struct client_key *a, const struct client_key *b)
{
	return a->ssl == b->ssl && a->bits == b->bits && ident_str_eq(a->database, b->database) &&
	       ident_str_eq(a->user, b->user) && ident_str_eq(a->application, b->application) &&
	       ident_str_eq(a->client_addr, b->client_addr) && ident_str_eq(a->tls_version, b->tls_version) &&
	       ident_str_eq(a->cipher, b->cipher) && ident_str_eq(a->client_dn, b->client_dn) &&
	       ident_str_eq(a->issuer_dn, b->issuer_dn) &&
	       ident_str_eq(a->pooler_server, b->pooler_server);
}

/* The client identity of a decoded session row (pointers into it). */
static void
row_key(const struct stat_row *row, struct client_key *k)
{
	k->database = row->datname;
	k->user = row->usename;
	k->application = row->application;
	k->client_addr = row->client_addr;
	k->ssl = row->ssl;
	k->tls_version = k->ssl ? row->tls_version : NULL;
	k->cipher = k->ssl ? row->cipher : NULL;
	k->bits = k->ssl ? row->bits : -1;
	k->client_dn = k->ssl ? row->client_dn : NULL;
	k->issuer_dn = k->ssl ? row->issuer_dn : NULL;
	k->pooler_server = NULL;
	/* An empty DN is "no client certificate". */
	if (k->client_dn && !*k->client_dn)
		k->client_dn = NULL;
	if (k->issuer_dn && !*k->issuer_dn)
		k->issuer_dn = NULL;
}

static int
copy_str(char **dst, const char *src)
{
	*dst = NULL;
	return src && (*dst = strdup(src)) == NULL ? -1 : 0;
}

static int
copy_key(struct client_key *d, const struct client_key *s)
{
	*d = *s;
	return copy_str(&d->database, s->database) | copy_str(&d->user, s->user) |
	       copy_str(&d->application, s->application) |
	       copy_str(&d->client_addr, s->client_addr) |
	       copy_str(&d->tls_version, s->tls_version) | copy_str(&d->cipher, s->cipher) |
	       copy_str(&d->client_dn, s->client_dn) | copy_str(&d->issuer_dn, s->issuer_dn) |
	       copy_str(&d->pooler_server, s->pooler_server);
}

/* ---- building: one poll's work ---- */

/* New sessions seen in one database (for the missed-session count). */
struct db_new {
	const char *datname;	/* into the result */
	int64_t n;
};

/*
 * Everything but the record is allocated only when the poll finds
 * something new: a poll of known sessions allocates nothing here.
 */
struct build {
	const struct pollrec_ctx *ctx;
	const PGresult *res;
	int rows;
	struct poll_record *r;
	struct pollrec_out *out;
	struct obs_index ix;
	struct db_new *dbs;
	size_t ndbs;
	bool oom;
};

/* One row's values, filled column by column as the decoding needs them. */
struct row_buf {
	char *v[STATQ_COL_COUNT];
	int len[STATQ_COL_COUNT];
	bool null[STATQ_COL_COUNT];
	struct stat_cells cells;
};

static void
cell(struct row_buf *b, const PGresult *res, int row, int col)
{
	b->null[col] = PQgetisnull(res, row, col);
	b->v[col] = PQgetvalue(res, row, col);
	b->len[col] = PQgetlength(res, row, col);
}

static void
cells_all(struct row_buf *b, const PGresult *res, int row)
{
	for (int col = 0; col < STATQ_COL_COUNT; col++)
		cell(b, res, row, col);
}

/* The row's kind cell holds exactly 'd': a database row. */
static bool
is_db_row(const struct row_buf *b)
{
	return !b->null[STATQ_COL_KIND] && b->len[STATQ_COL_KIND] == 1 &&
	       b->v[STATQ_COL_KIND][0] == 'd';
}

/* Room for every row of the poll, allocated at its first new session. */
static int
reserve(struct build *x)
{
	struct poll_record *r = x->r;
	size_t n = (size_t)x->rows;

	if (x->ix.slot != NULL)
		return 0;
	x->ix.cap = 16;
	while (x->ix.cap < 2 * n)
		x->ix.cap *= 2;
	x->ix.slot = calloc(x->ix.cap, sizeof(*x->ix.slot));
	r->clients = calloc(n, sizeof(*r->clients));
	r->new_sessions = calloc(n, sizeof(*r->new_sessions));
	return x->ix.slot && r->clients && r->new_sessions ? 0 : -1;
}

/* The record's client for key k, added if new; -1 when out of memory. */
static ssize_t
client_index(struct build *x, const struct client_key *k, const char *hostname)
{
	struct poll_record *r = x->r;
	size_t mask = x->ix.cap - 1, i = (size_t)hash_key(k) & mask;
	struct client_obs *o;

	for (; x->ix.slot[i]; i = (i + 1) & mask) {
		if (key_eq(&r->clients[x->ix.slot[i] - 1].key, k))
			return (ssize_t)(x->ix.slot[i] - 1);
	}
	if (r->nclients == (size_t)x->rows)
		return -1;
	o = &r->clients[r->nclients];
	memset(o, 0, sizeof(*o));
	if (copy_key(&o->key, k) < 0 || copy_str(&o->client_hostname, hostname) < 0)
		return -1;
	x->ix.slot[i] = ++r->nclients;
	return (ssize_t)(r->nclients - 1);
}

static int
count_new_db(struct build *x, const char *datname)
{
	if (datname == NULL)
		return 0;
	for (size_t i = 0; i < x->ndbs; i++) {
		if (strcmp(x->dbs[i].datname, datname) == 0) {
			x->dbs[i].n++;
			return 0;
		}
	}
	if (x->dbs == NULL && (x->dbs = calloc((size_t)x->rows, sizeof(*x->dbs))) == NULL)
		return -1;
	x->dbs[x->ndbs++] = (struct db_new){ datname, 1 };
	return 0;
}

static int64_t
new_in_db(const struct build *x, const char *datname)
{
	for (size_t i = 0; i < x->ndbs; i++)
		if (strcmp(x->dbs[i].datname, datname) == 0)
			return x->dbs[i].n;
	return 0;
}

static bool
excluded(const struct pollrec_ctx *ctx, const struct client_key *k)
{
	return (k->user && ctx->exclude_users && strlist_contains(ctx->exclude_users, k->user)) ||
	       (k->database && ctx->exclude_databases &&
		strlist_contains(ctx->exclude_databases, k->database));
}

/* The row's application_name as sent (NULL and '' differ); never 0. */
static uint64_t
app_hash(const struct row_buf *b)
{
	uint64_t h = 14695981039346656037ULL;

	if (b->null[STATQ_COL_APPLICATION])
		return 1;
	for (int i = 0; i < b->len[STATQ_COL_APPLICATION]; i++)
		h = (h ^ (unsigned char)b->v[STATQ_COL_APPLICATION][i]) * 1099511628211ULL;
	return h | 2;
}

static int
add_ended(struct poll_record *r, struct session_ref ref)
{
	struct session_ref *n = realloc(r->ended_sessions, (r->n_ended + 1) * sizeof(*n));

	if (n == NULL)
		return -1;
	r->ended_sessions = n;
	n[r->n_ended++] = ref;
	return 0;
}

/* The next poll lists session `pid` in full ($4). */
static void
want(struct pollrec_out *out, int32_t pid)
{
	for (size_t i = 0; i < out->nwant; i++)
		if (out->want[i] == pid)
			return;
	if (out->nwant < POLLREC_WANT_MAX)
		out->want[out->nwant++] = pid;
}

/* ---- building: session rows ---- */

/* Decodes a session row whole; 1 for a bad row (skipped, counted). */
static int
decode_session(struct build *x, struct row_buf *b, int row, struct stat_row *sr,
	       struct client_key *k)
{
	enum statrow_error e;

	cells_all(b, x->res, row);
	if ((e = statrow_decode(&b->cells, sr)) != STATROW_OK) {
		x->out->bad[e]++;
		return 1;
	}
	row_key(sr, k);
	return 0;
}

/* One session more of client k in the record, with its first sample (the
 * store derives the next ones from the instance's polls). */
static int
add_session(struct build *x, const struct stat_row *sr, const struct client_key *k, bool moved)
{
	struct poll_record *r = x->r;
	ssize_t ci;

	if (reserve(x) < 0 || (ci = client_index(x, k, sr->client_hostname)) < 0)
		return -1;
	r->clients[ci].samples++;
	r->clients[ci].new_sessions++;
	r->new_sessions[r->n_new++] = (struct session_ref){ .pid = sr->pid,
		.backend_start_us = sr->backend_start_us, .client = (size_t)ci, .moved = moved };
	return 0;
}

/*
 * A known session under another application_name (SET application_name):
 * it leaves its old client, whose samples settle as for a session that
 * ended, for the client its full row names, as one session more of that
 * client; for the instance it is neither a new nor an ended session.
 */
static int
moved_session(struct build *x, struct row_buf *b, int row)
{
	struct stat_row sr;
	struct client_key k;

	if (decode_session(x, b, row, &sr, &k) != 0 || sr.own || excluded(x->ctx, &k))
		return 0;
	/* PgBouncer sets the application_name of the client it links to a
	 * server connection: the pooler's client stays as it is. */
	if (x->ctx->pooled != NULL &&
	    poolmatch_session(x->ctx->pooled, x->ctx->cluster, &sr, &k) == PM_POOLER)
		return 0;
	if (add_ended(x->r, (struct session_ref){ .pid = sr.pid,
		      .backend_start_us = sr.backend_start_us, .moved = true }) < 0)
		return -1;
	return add_session(x, &sr, &k, true);
}

/* A session the tracker did not know: decoded whole, tracked, recorded. */
static int
new_session(struct build *x, struct row_buf *b, int row)
{
	struct stat_row sr;
	struct client_key k;
	bool recorded;

	if (decode_session(x, b, row, &sr, &k) != 0)
		return 0;
	recorded = !sr.own && !excluded(x->ctx, &k);
	if (recorded && x->ctx->pooled != NULL) {
		switch (poolmatch_session(x->ctx->pooled, x->ctx->cluster, &sr, &k)) {
		case PM_WAIT:
			/* Neither recorded nor counted as seen yet (poolmatch.h):
			 * the next poll lists it in full again. */
			want(x->out, sr.pid);
			return 0;
		case PM_POOLER:
		case PM_CLIENT:
			break;
		}
	}
	if (tracker_see(x->ctx->tracker, sr.pid, sr.backend_start_us, recorded, app_hash(b)) < 0 ||
	    count_new_db(x, sr.datname) < 0)
		return -1;
	return recorded ? add_session(x, &sr, &k, false) : 0;
}

/* One session or time row: a known session costs a hash lookup, nothing
 * else. Database rows wait for count_databases(). */
static int
session_row(struct build *x, struct row_buf *b, int row)
{
	struct tracker *t = x->ctx->tracker;
	struct stat_row sr;
	enum statrow_error e;

	cell(b, x->res, row, STATQ_COL_KIND);
	if (is_db_row(b))
		return 0;
	cell(b, x->res, row, STATQ_COL_PID);
	cell(b, x->res, row, STATQ_COL_BACKEND_START);
	cell(b, x->res, row, STATQ_COL_APPLICATION);
	if ((e = statrow_decode_id(&b->cells, &sr)) != STATROW_OK) {
		x->out->bad[e]++;
		return 0;
	}
	if (sr.kind == 't') {
		x->out->snapshot_us = sr.backend_start_us;
		return 0;
	}
	switch (tracker_mark(t, sr.pid, sr.backend_start_us, app_hash(b))) {
	case TRACK_KNOWN:
		return 0;
	case TRACK_RENAMED:
		if (sr.kind == 'a')
			return moved_session(x, b, row);
		/* Renamed, but its row is by identity only: the next poll
		 * lists it in full. */
		tracker_defer(t, sr.pid, sr.backend_start_us);
		want(x->out, sr.pid);
		return 0;
	case TRACK_UNKNOWN:
		break;
	}
	if (sr.kind == 'o') {
		/* Older than the last poll yet not known (it was not visible
		 * then, or a bad row): the next poll lists it in full. */
		want(x->out, sr.pid);
		return 0;
	}
	return new_session(x, b, row);
}

static void
on_ended(void *arg, int32_t pid, int64_t backend_start_us, bool single_poll)
{
	struct build *x = arg;

	if (add_ended(x->r, (struct session_ref){ .pid = pid,
		      .backend_start_us = backend_start_us, .single_poll = single_poll }) < 0)
		x->oom = true;
}

/* ---- building: database rows ---- */

static void
on_dropped(void *arg, uint32_t datid)
{
	struct build *x = arg;
	struct poll_record *r = x->r;
	uint32_t *n = realloc(r->dropped, (r->ndropped + 1) * sizeof(*n));

	if (n == NULL) {
		x->oom = true;
		return;
	}
	r->dropped = n;
	n[r->ndropped++] = datid;
}

static int
add_counter(struct poll_record *r, const struct stat_row *d, int64_t missed)
{
	struct db_counter *c;

	if (r->counters == NULL && (r->counters = calloc(r->ncounters + 64, sizeof(*c))) == NULL)
		return -1;
	if (r->ncounters % 64 == 0 && r->ncounters > 0) {
		c = realloc(r->counters, (r->ncounters + 64) * sizeof(*c));
		if (c == NULL)
			return -1;
		r->counters = c;
	}
	c = &r->counters[r->ncounters++];
	*c = (struct db_counter){ .datid = d->datid, .sessions = d->sessions, .missed = missed };
	return copy_str(&c->database, d->datname) | copy_str(&c->stats_reset, d->stats_reset);
}

/* One database row: pg_stat_database.sessions, what was missed, and
 * whether it changed. After every session row: the missed count is the
 * counter's growth less the new sessions seen in the database. */
static int
db_row(struct build *x, struct row_buf *b, int row)
{
	struct poll_record *r = x->r;
	struct stat_row d;
	enum statrow_error e;
	int64_t missed;
	bool changed;

	cell(b, x->res, row, STATQ_COL_KIND);
	if (!is_db_row(b))
		return 0;
	cell(b, x->res, row, STATQ_COL_PID);
	cell(b, x->res, row, STATQ_D_DATNAME);
	cell(b, x->res, row, STATQ_COL_SESSIONS);
	cell(b, x->res, row, STATQ_COL_STATS_RESET);
	if ((e = statrow_decode_id(&b->cells, &d)) != STATROW_OK) {
		x->out->bad[e]++;
		return 0;
	}
	missed = tracker_count_db(x->ctx->tracker, d.datid, d.sessions, d.stats_reset,
				  new_in_db(x, d.datname), &changed);
	if (!changed) {
		r->baseline_known = true;
		return 0;
	}
	return add_counter(r, &d, missed);
}

/*
 * The arrays were sized for every row being a new client and session; a
 * record may wait in the writer's queue, whose bound counts what is used.
 */
static void
shrink_record(struct poll_record *r)
{
	void *p;

	if ((p = realloc(r->clients, (r->nclients ? r->nclients : 1) * sizeof(*r->clients))))
		r->clients = p;
	if ((p = realloc(r->new_sessions, (r->n_new ? r->n_new : 1) * sizeof(*r->new_sessions))))
		r->new_sessions = p;
}

const char *
pollrec_build(const struct pollrec_ctx *ctx, const PGresult *res, struct poll_record *r,
	      struct pollrec_out *out)
{
	struct build x = { .ctx = ctx, .res = res, .rows = PQntuples(res), .r = r, .out = out };
	struct row_buf b = { .cells = { NULL, NULL, NULL } };
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (PQnfields(res) != STATQ_COL_COUNT || PQbinaryTuples(res) != 1)
		return "poll query returned an unexpected shape";
	b.cells = (struct stat_cells){ b.v, b.len, b.null };
	tracker_begin(ctx->tracker);
	for (int i = 0; i < x.rows && rc == 0; i++)
		rc = session_row(&x, &b, i);
	if (rc == 0) {
		tracker_finish(ctx->tracker, on_ended, &x);
		r->counters_known = ctx->server_version >= STATQ_SESSIONS_VERSION;
		for (int i = 0; i < x.rows && rc == 0; i++)
			rc = db_row(&x, &b, i);
		if (rc == 0)
			tracker_counters_done(ctx->tracker, on_dropped, &x);
	}
	if (r->clients != NULL)
		shrink_record(r);
	free(x.ix.slot);
	free(x.dbs);
	return rc < 0 || x.oom ? "out of memory" : NULL;
}
