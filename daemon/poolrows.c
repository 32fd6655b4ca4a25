/*
 * poolrows.c: PgBouncer console rows -> values and poll records
 * (poolrows.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"
#include "pollrec.h"
#include "poolrows.h"
#include "statrow.h"
#include "tracker.h"

/* ---- columns ---- */

static int
col(const PGresult *res, const char *name)
{
	return PQfnumber(res, name);
}

const char *
poolrows_columns(const PGresult *res, const char *what, struct poolrows_cols *c, char *buf,
		 size_t len)
{
	static const char *const need[] = { "type", "user", "database", "addr", "port",
		"local_addr", "local_port", "connect_time", "tls", "application_name" };

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(buf, len, "%s failed: %s", what, PQresultErrorMessage(res));
		buf[strcspn(buf, "\n")] = '\0';
		return buf;
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (col(res, need[i]) < 0) {
			snprintf(buf, len, "%s returned no column '%s' (not a PgBouncer admin "
				 "console, or a version whose columns sslhist does not know)",
				 what, need[i]);
			return buf;
		}
	}
	*c = (struct poolrows_cols){ .type = col(res, "type"), .user = col(res, "user"),
		.database = col(res, "database"), .state = col(res, "state"),
		.addr = col(res, "addr"), .port = col(res, "port"),
		.local_addr = col(res, "local_addr"), .local_port = col(res, "local_port"),
		.connect_time = col(res, "connect_time"), .tls = col(res, "tls"),
		.application_name = col(res, "application_name"), .id = col(res, "id") };
	return NULL;
}

/* ---- values ---- */

const char *
poolrow_error_name(enum poolrow_error e)
{
	switch (e) {
	case POOLROW_OK: return "ok";
	case POOLROW_BAD_TYPE: return "bad type";
	case POOLROW_BAD_PORT: return "bad port";
	case POOLROW_BAD_TIME: return "bad connect_time";
	case POOLROW_BAD_TEXT: return "bad text";
	case POOLROW_NERRORS: break;
	}
	return "?";
}

/* Text of column c (NULL for SQL NULL or no such column); false: too long. */
static bool
text(const PGresult *res, int row, int c, const char **out)
{
	*out = NULL;
	if (c < 0 || PQgetisnull(res, row, c))
		return true;
	if (PQgetlength(res, row, c) > STATROW_MAX_TEXT)
		return false;
	*out = PQgetvalue(res, row, c);
	return true;
}

static bool
port(const char *s, int *out)
{
	long v;

	*out = 0;
	if (s == NULL || *s == '\0')
		return true;
	if (parse_int_range(s, 0, 65535, &v) != NULL)
		return false;
	*out = (int)v;
	return true;
}

/* n digits at s as a number; -1 if one is not a digit. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}


/* By hand, not strptime/timegm: it runs for every row of every poll. */
bool
poolrows_time(const char *s, int64_t *us)
{
	int y, mo, d, h, mi, se;

	if (s == NULL || strlen(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' ||
	    s[13] != ':' || s[16] != ':' || (s[19] != '\0' && s[19] != ' '))
		return false;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || se < 0 || se > 60)
		return false;
	*us = ((parse_days_from_civil(y, mo, d) * 86400) + h * 3600 + mi * 60 + se) * 1000000;
	return true;
}

enum poolrow_error
poolrows_decode(const PGresult *res, int row, const struct poolrows_cols *c, struct pool_sock *o)
{
	const char *type, *p, *lp, *ct, *id;
	long v;

	memset(o, 0, sizeof(*o));
	o->id = -1;
	if (!text(res, row, c->type, &type) || type == NULL || strlen(type) != 1 ||
	    (type[0] != 'C' && type[0] != 'S'))
		return POOLROW_BAD_TYPE;
	o->type = type[0];
	if (!text(res, row, c->user, &o->user) || !text(res, row, c->database, &o->database) ||
	    !text(res, row, c->state, &o->state) || !text(res, row, c->addr, &o->addr) ||
	    !text(res, row, c->local_addr, &o->local_addr) || !text(res, row, c->tls, &o->tls) ||
	    !text(res, row, c->application_name, &o->application) ||
	    !text(res, row, c->port, &p) || !text(res, row, c->local_port, &lp) ||
	    !text(res, row, c->connect_time, &ct) || !text(res, row, c->id, &id))
		return POOLROW_BAD_TEXT;
	if (!port(p, &o->port) || !port(lp, &o->local_port))
		return POOLROW_BAD_PORT;
	if (!poolrows_time(ct, &o->connect_us))
		return POOLROW_BAD_TIME;
	if (id != NULL && parse_int_range(id, 0, INT64_MAX / 2, &v) == NULL)
		o->id = v;
	return POOLROW_OK;
}

/* The first n bytes of s into dst (cut to fit, NUL-terminated). */
static void
copy_part(char *dst, size_t len, const char *s, size_t n)
{
	if (n >= len)
		n = len - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

bool
poolrows_tls(const char *tls, char *version, size_t vlen, char *cipher, size_t clen)
{
	size_t n;

	version[0] = cipher[0] = '\0';
	if (tls == NULL || *tls == '\0')
		return false;
	n = strcspn(tls, "/");
	copy_part(version, vlen, tls, n);
	if (tls[n] == '/') {
		tls += n + 1;
		copy_part(cipher, clen, tls, strcspn(tls, "/"));
	}
	return true;
}

int32_t
poolrows_pid(const struct pool_sock *s)
{
	uint64_t h = 14695981039346656037ULL;
	char port[16];

	if (s->id >= 0)
		return (int32_t)(s->id % 0x7ffffffe) + 1;
	snprintf(port, sizeof(port), ":%d", s->port);
	for (const char *p = s->addr ? s->addr : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	for (const char *p = port; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (int32_t)((h >> 33) % 0x7ffffffe) + 1;
}

/* ---- SHOW CONFIG ---- */

static int
keep(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? strdup(v) : NULL;
	return v && *dst == NULL ? -1 : 0;
}

const char *
poolrows_config(const PGresult *res, struct pooler_facts *f)
{
	int k = col(res, "key"), v = col(res, "value");
	const char *key, *val;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || k < 0 || v < 0)
		return "SHOW CONFIG returned no key and value columns";
	for (int i = 0; i < PQntuples(res); i++) {
		if (!text(res, i, k, &key) || !text(res, i, v, &val) || key == NULL)
			continue;
		if ((strcmp(key, "client_tls_sslmode") == 0 && keep(&f->client_tls_sslmode, val)) ||
		    (strcmp(key, "server_tls_sslmode") == 0 && keep(&f->server_tls_sslmode, val)) ||
		    (strcmp(key, "server_tls_ca_file") == 0 && keep(&f->server_tls_ca_file, val)))
			return "out of memory";
	}
	return NULL;
}

/* ---- SHOW CLIENTS -> record ---- */

/* Not a client of the cluster: the console's own sessions, logins not
 * yet done, excluded names. */
static bool
not_the_clusters(const struct poolrec_ctx *ctx, const struct pool_sock *s)
{
	return s->type != 'C' || s->user == NULL || s->database == NULL ||
	       strcmp(s->database, "pgbouncer") == 0 || strcmp(s->user, "(nouser)") == 0 ||
	       strcmp(s->database, "(nodb)") == 0 ||
	       (ctx->exclude_users && strlist_contains(ctx->exclude_users, s->user)) ||
	       (ctx->exclude_databases && strlist_contains(ctx->exclude_databases, s->database));
}

static uint64_t
app_hash(const char *app)
{
	uint64_t h = 14695981039346656037ULL;

	for (const char *p = app ? app : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h | 2;
}

static int
dup(char **dst, const char *src)
{
	*dst = NULL;
	return src && (*dst = strdup(src)) == NULL ? -1 : 0;
}

static bool
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* One build: the record, and an index of its clients by key, made at the
 * first new session (a poll of known sessions allocates nothing). */
struct pbuild {
	const struct poolrec_ctx *ctx;
	struct poll_record *r;
	size_t cap;		/* rows: the most clients and new sessions */
	size_t *slot;		/* client index + 1; 0 empty */
	size_t nslot;		/* a power of two, over 2 * cap */
	bool oom;
};

static uint64_t
mix(uint64_t h, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (h ^ (s ? 0x1f : 0xff)) * 1099511628211ULL;
}

/* The key of a client row, as client_of stores it. */
struct rowkey {
	bool ssl;
	const char *addr;
	char version[64], cipher[128];
};

static void
row_key(const struct pool_sock *s, struct rowkey *k)
{
	k->ssl = poolrows_tls(s->tls, k->version, sizeof(k->version), k->cipher, sizeof(k->cipher));
	k->addr = s->addr && strcmp(s->addr, "unix") != 0 ? s->addr : NULL;
}

static uint64_t
key_hash(const struct pool_sock *s, const struct rowkey *k)
{
	uint64_t h = 14695981039346656037ULL;

	h = mix(mix(mix(mix(h, s->database), s->user), s->application), k->addr);
	if (k->ssl)
		h = mix(mix(h, k->version), k->cipher);
	return h ^ k->ssl;
}

static bool
key_eq(const struct client_key *c, const struct pool_sock *s, const struct rowkey *k)
{
	return c->ssl == k->ssl && same(c->database, s->database) && same(c->user, s->user) &&
	       same(c->application, s->application) && same(c->client_addr, k->addr) &&
	       (!k->ssl || (same(c->tls_version, k->version) && same(c->cipher, k->cipher)));
}

static int
reserve(struct pbuild *b)
{
	struct poll_record *r = b->r;

	if (b->slot != NULL)
		return 0;
	for (b->nslot = 16; b->nslot < 2 * b->cap; b->nslot *= 2)
		;
	b->slot = calloc(b->nslot, sizeof(*b->slot));
	r->clients = calloc(b->cap, sizeof(*r->clients));
	r->new_sessions = calloc(b->cap, sizeof(*r->new_sessions));
	return b->slot && r->clients && r->new_sessions ? 0 : -1;
}

/* The record's client for this row, added if new; -1 out of memory. */
static ssize_t
client_of(struct pbuild *b, const struct pool_sock *s)
{
	struct poll_record *r = b->r;
	struct rowkey rk;
	struct client_key *k;
	size_t mask, i;

	if (reserve(b) < 0)
		return -1;
	row_key(s, &rk);
	mask = b->nslot - 1;
	for (i = (size_t)key_hash(s, &rk) & mask; b->slot[i]; i = (i + 1) & mask)
		if (key_eq(&r->clients[b->slot[i] - 1].key, s, &rk))
			return (ssize_t)(b->slot[i] - 1);
	if (r->nclients == b->cap)
		return -1;
	k = &r->clients[r->nclients].key;
	memset(&r->clients[r->nclients], 0, sizeof(r->clients[0]));
	k->ssl = rk.ssl;
	k->bits = -1;
	if (dup(&k->database, s->database) || dup(&k->user, s->user) ||
	    dup(&k->application, s->application) || dup(&k->client_addr, rk.addr) ||
	    (rk.ssl && (dup(&k->tls_version, rk.version) || dup(&k->cipher, rk.cipher))))
		return -1;
	b->slot[i] = ++r->nclients;
	return (ssize_t)(r->nclients - 1);
}

static void
on_ended(void *arg, int32_t pid, int64_t start_us, bool single_poll)
{
	struct pbuild *b = arg;
	struct poll_record *r = b->r;
	struct session_ref *n = realloc(r->ended_sessions, (r->n_ended + 1) * sizeof(*n));

	if (n == NULL) {
		b->oom = true;
		return;
	}
	r->ended_sessions = n;
	n[r->n_ended++] = (struct session_ref){ .pid = pid, .backend_start_us = start_us,
		.single_poll = single_poll };
}

/* One session more of the row's client, with its first sample. */
static int
add_session(struct pbuild *b, const struct pool_sock *s, bool moved)
{
	struct poll_record *r = b->r;
	ssize_t ci = client_of(b, s);

	if (ci < 0)
		return -1;
	r->clients[ci].samples++;
	r->clients[ci].new_sessions++;
	r->new_sessions[r->n_new++] = (struct session_ref){ .pid = poolrows_pid(s),
		.backend_start_us = s->connect_us, .client = (size_t)ci, .moved = moved };
	return 0;
}

/* A known session renamed (SET application_name through the pooler)
 * leaves its old client for a new one, as in pollrec.c. */
static int
client_row(struct pbuild *b, const struct pool_sock *s)
{
	struct tracker *t = b->ctx->tracker;
	int32_t pid = poolrows_pid(s);
	uint64_t app = app_hash(s->application);

	switch (tracker_mark(t, pid, s->connect_us, app)) {
	case TRACK_KNOWN:
		return 0;
	case TRACK_RENAMED:
		on_ended(b, pid, s->connect_us, false);
		if (b->oom)
			return -1;
		b->r->ended_sessions[b->r->n_ended - 1].moved = true;
		return add_session(b, s, true);
	case TRACK_UNKNOWN:
		break;
	}
	if (tracker_see(t, pid, s->connect_us, true, app) < 0)
		return -1;
	return add_session(b, s, false);
}

const char *
poolrec_build(const struct poolrec_ctx *ctx, const PGresult *res, struct poll_record *r,
	      struct poolrec_out *out)
{
	struct pbuild b = { .ctx = ctx, .r = r, .cap = (size_t)PQntuples(res) };
	struct poolrows_cols c;
	struct pool_sock s;
	enum poolrow_error pe;
	const char *err;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if ((err = poolrows_columns(res, "SHOW CLIENTS", &c, out->error, sizeof(out->error))) != NULL)
		return err;
	tracker_begin(ctx->tracker);
	for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
		if ((pe = poolrows_decode(res, i, &c, &s)) != POOLROW_OK) {
			out->bad[pe]++;
			continue;
		}
		if (not_the_clusters(ctx, &s))
			continue;
		out->clients++;
		rc = client_row(&b, &s);
	}
	if (rc == 0)
		tracker_finish(ctx->tracker, on_ended, &b);
	r->counters_known = false;
	free(b.slot);
	return rc < 0 || b.oom ? "out of memory" : NULL;
}
