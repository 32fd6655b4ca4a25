/*
 * instance.c: one instance's state machine over pgconn (see instance.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

#include <event2/event.h>

#include "ident.h"
#include "clock.h"
#include "config.h"
#include "instance.h"
#include "log.h"
#include "pgconn.h"
#include "servercert.h"
#include "statquery.h"
#include "statrow.h"
#include "store.h"
#include "tracker.h"
#include "writer.h"
#include "timer.h"

#define BACKOFF_MIN_MS 1000
/*
 * An own session is listed if it began at most this long before the last
 * poll's snapshot: it shows in pg_stat_activity only once authenticated,
 * which takes milliseconds; one slower than this counts as a missed
 * session once. (A margin as long as connect_timeout would list every
 * connection of a fleet that is starting, in every poll.)
 */
#define OWN_MARGIN_MS 2000
/* Sessions asked for in full per poll, at most (the rest the poll after). */
#define WANT_MAX 64

struct instance {
	const struct poller_env *env;
	const struct cluster_cfg *cluster;
	char *host;
	int port;
	int64_t id;
	char name[IDENT_INSTANCE_NAME_MAX];
	struct log_obj obj;
	enum instance_state state;
	struct pgconn *pc;
	struct event *timer;
	struct tracker *tracker;
	struct stat_row *dbrows;	/* a poll's database rows (reused) */
	size_t dbcap;
	int64_t snapshot_us;		/* the last successful poll's statement
					 * time (server clock, Unix us); 0: none
					 * yet, so no counter baseline either */
	char cutoff[48];		/* the poll's $2 */
	int32_t want[WANT_MAX];		/* pids met as 'o' but not known: the
					 * next poll lists them in full ($4) */
	size_t nwant;
	char want_text[WANT_MAX * 12 + 3];
	uint64_t bad_rows;		/* rows skipped, ever */
	unsigned bad_logged;		/* kinds of bad rows logged (1 << kind) */
	int server_version;
	struct instance_facts *facts;	/* read at connect, stored with the next poll */
	int64_t last_success_ms;
	int64_t poll_started_mono;
	unsigned failures;
	char *last_error;
	bool ok;
	int64_t timer_due_mono;		/* when `timer` fires (WAITING, IDLE) */
	int64_t state_since_mono;
};

static const char *const state_names[] = {
	[INST_WAITING] = "waiting", [INST_CONNECTING] = "connecting", [INST_FACTS] = "facts",
	[INST_PREPARING] = "preparing", [INST_POLLING] = "polling", [INST_IDLE] = "idle",
	[INST_DONE] = "done",
};

static void on_connected(struct pgconn *pc, void *arg);
static void on_result(struct pgconn *pc, const PGresult *res, void *arg);
static void on_failed(struct pgconn *pc, const char *error, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);

static const struct pgconn_ops ops = { on_connected, on_result, on_failed };

double
jitter_uniform(void)
{
	static uint64_t s;

	if (s == 0 && (getrandom(&s, sizeof(s), 0) != sizeof(s) || s == 0))
		s = (uint64_t)mono_ms() | 1;
	/* xorshift64*: plenty for spreading timers. */
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return (double)((s * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static void
set_state(struct instance *in, enum instance_state st)
{
	if (in->state != st)
		olog(LVL_DEBUG, &in->obj, "%s -> %s", state_names[in->state], state_names[st]);
	in->state = st;
	in->state_since_mono = mono_ms();
}

static void
arm(struct instance *in, int64_t ms)
{
	in->timer_due_mono = mono_ms() + (ms > 0 ? ms : 0);
	timer_add_ms(in->timer, ms);
}

static void
preload(void *arg, int32_t pid, int64_t backend_start_us)
{
	tracker_preload(arg, pid, backend_start_us);
}

/* The stored pg_stat_database baseline: the sessions that began and ended
 * while the daemon was not running are missed sessions too. */
static void
preload_counter(void *arg, uint32_t datid, const char *database, int64_t sessions,
		const char *stats_reset)
{
	bool changed;

	(void)database;
	(void)tracker_count_db(arg, datid, sessions, stats_reset, 0, &changed);
}

struct instance *
instance_new(const struct poller_env *env, const struct cluster_cfg *c, const char *host,
	     int port, int64_t id)
{
	struct instance *in = calloc(1, sizeof(*in));
	struct pgconn_params p;

	if (in == NULL)
		return NULL;
	in->env = env;
	in->cluster = c;
	in->port = port;
	in->id = id;
	in->host = strdup(host);
	ident_instance_name(in->name, sizeof(in->name), host, port);
	in->obj.cluster = c->name;
	in->obj.instance = in->name;
	in->timer = evtimer_new(env->base, on_timer, in);
	in->tracker = tracker_new();
	p = (struct pgconn_params){ .cluster = c, .host = host, .port = port,
		.connect_timeout_ms = env->cfg->connect_timeout_ms,
		.query_timeout_ms = env->cfg->query_timeout_ms };
	in->pc = pgconn_new(env->base, env->dns, &p, &ops, in);
	if (!in->host || !in->timer || !in->tracker || !in->pc) {
		instance_free(in);
		return NULL;
	}
	if (store_live_sessions(env->store, id, preload, in->tracker) < 0)
		olog(LVL_WARNING, &in->obj, "could not load live sessions: %s",
		     store_errmsg(env->store));
	if (store_counters(env->store, id, preload_counter, in->tracker) < 0)
		olog(LVL_WARNING, &in->obj, "could not load session counters: %s",
		     store_errmsg(env->store));
	in->state = INST_WAITING;
	/* Spread a fleet's first connections over a little time. */
	arm(in, env->once ? 0 : (int64_t)(jitter_uniform() * 1000));
	return in;
}

void
instance_free(struct instance *in)
{
	if (in == NULL)
		return;
	pgconn_free(in->pc);
	if (in->timer)
		event_free(in->timer);
	tracker_free(in->tracker);
	free(in->dbrows);
	instance_facts_free(in->facts);
	free(in->last_error);
	free(in->host);
	free(in);
}

void
instance_reconfigure(struct instance *in, const struct cluster_cfg *c)
{
	in->cluster = c;
	in->obj.cluster = c->name;
	pgconn_set_timeouts(in->pc, in->env->cfg->connect_timeout_ms,
			    in->env->cfg->query_timeout_ms);
}

enum instance_state instance_state(const struct instance *in) { return in->state; }
bool instance_ok(const struct instance *in) { return in->ok; }
bool instance_failing(const struct instance *in) { return in->failures > 0; }
int64_t instance_id(const struct instance *in) { return in->id; }
const char *instance_host(const struct instance *in) { return in->host; }
int instance_port(const struct instance *in) { return in->port; }
const char *instance_cluster(const struct instance *in) { return in->cluster->name; }
const char *instance_state_name(const struct instance *in) { return state_names[in->state]; }

int64_t
instance_overdue_ms(const struct instance *in, int64_t now_ms)
{
	int64_t due;

	switch (in->state) {
	case INST_WAITING:
	case INST_IDLE:
		due = in->timer_due_mono;
		break;
	case INST_CONNECTING:
	case INST_FACTS:
	case INST_POLLING:
		/* Without a deadline these states have nothing to end them. */
		due = pgconn_deadline_ms(in->pc);
		if (due == 0)
			due = in->state_since_mono;
		break;
	case INST_DONE:
	default:
		return 0;
	}
	return now_ms > due ? now_ms - due : 0;
}

/* ---- scheduling ---- */

static void
finish_once(struct instance *in, bool ok)
{
	pgconn_close(in->pc);
	set_state(in, INST_DONE);
	in->env->done(in->env->done_arg, in, ok);
}

/* The next poll: interval after the last one started, +- jitter. */
static void
schedule_poll(struct instance *in)
{
	double j = in->env->cfg->jitter * (2 * jitter_uniform() - 1);
	int64_t delay = (int64_t)((double)in->cluster->interval_ms * (1 + j));

	set_state(in, INST_IDLE);
	arm(in, in->poll_started_mono + delay - mono_ms());
}

static void
schedule_reconnect(struct instance *in)
{
	int64_t max = in->env->cfg->max_backoff_ms, d = BACKOFF_MIN_MS;

	for (unsigned i = 1; i < in->failures && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	/* "Equal jitter": between half and all of the delay. */
	d = d / 2 + (int64_t)(jitter_uniform() * (double)(d / 2));
	set_state(in, INST_WAITING);
	arm(in, d);
}

/*
 * $2 of the poll query: the last successful poll's time, kept across
 * reconnections so that own sessions begun in between count as seen
 * (NULL before the first). Own sessions that began before it less $3 are
 * not listed (statquery.h).
 */
static const char *
own_since(struct instance *in)
{
	int64_t us = in->snapshot_us;
	time_t s = (time_t)(us / 1000000);
	int64_t frac = us % 1000000;
	struct tm tm;
	size_t n;

	if (in->snapshot_us == 0)
		return NULL;
	if (frac < 0) {
		frac += 1000000;
		s--;
	}
	if (gmtime_r(&s, &tm) == NULL)
		return NULL;
	n = strftime(in->cutoff, sizeof(in->cutoff), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(in->cutoff + n, sizeof(in->cutoff) - n, ".%06lld+00", (long long)frac);
	return in->cutoff;
}

/* $4: the pids to list in full (an int4[] literal); the list starts over. */
static const char *
want_list(struct instance *in)
{
	size_t n = 0;

	in->want_text[n++] = '{';
	for (size_t i = 0; i < in->nwant; i++)
		n += (size_t)snprintf(in->want_text + n, sizeof(in->want_text) - n, "%s%d",
				      i ? "," : "", (int)in->want[i]);
	in->want_text[n++] = '}';
	in->want_text[n] = '\0';
	in->nwant = 0;
	return in->want_text;
}

static void
start_poll(struct instance *in)
{
	set_state(in, INST_POLLING);
	in->poll_started_mono = mono_ms();
	tracker_begin(in->tracker);
	char margin[48];
	const char *params[4] = { in->env->own_users, own_since(in), margin, want_list(in) };

	snprintf(margin, sizeof(margin), "%d milliseconds", OWN_MARGIN_MS);
	pgconn_query_prepared(in->pc, STATQ_POLL_NAME, 4, params, 1);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct instance *in = arg;

	(void)fd;
	(void)what;
	switch (in->state) {
	case INST_WAITING:
		set_state(in, INST_CONNECTING);
		in->poll_started_mono = mono_ms();
		pgconn_connect(in->pc);
		break;
	case INST_IDLE:
		if (pgconn_ready(in->pc))
			start_poll(in);
		break;
	case INST_CONNECTING:
	case INST_FACTS:
	case INST_PREPARING:
	case INST_POLLING:
	case INST_DONE:
		break;
	}
}

/* ---- failures ---- */

static void
record_failure(struct instance *in, const char *error)
{
	struct poll_record *r = calloc(1, sizeof(*r));

	in->ok = false;
	in->failures++;
	/* The first failure and each new kind of error are worth a warning;
	 * the same error again, at every backoff step, is not. */
	if (in->last_error == NULL || strcmp(in->last_error, error) != 0) {
		log_event(LVL_WARNING, &in->obj, MSGID_POLL_FAILED, NULL, "%s: %s",
			  state_names[in->state], error);
		free(in->last_error);
		in->last_error = strdup(error);
	} else {
		olog(LVL_DEBUG, &in->obj, "failed again (%u): %s", in->failures, error);
	}
	if (r == NULL || (r->error = strdup(error)) == NULL) {
		free(r);
		olog(LVL_ERROR, &in->obj, "out of memory recording a failure");
		return;
	}
	r->instance_id = in->id;
	r->at_ms = wall_ms();
	writer_submit(in->env->writer, r);
}

static void
fail(struct instance *in, const char *error)
{
	pgconn_close(in->pc);
	instance_facts_free(in->facts);
	in->facts = NULL;
	record_failure(in, error);
	if (in->env->once)
		finish_once(in, false);
	else
		schedule_reconnect(in);
}

/* Fails with "what: detail", detail cut at its first line (libpq's
 * messages end in a newline and may go on with hints). */
static void
fail_with(struct instance *in, const char *what, const char *detail)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s: %s", what, detail);
	msg[strcspn(msg, "\n")] = '\0';
	fail(in, msg);
}

static void
on_failed(struct pgconn *pc, const char *error, void *arg)
{
	(void)pc;
	fail(arg, error);
}

/* ---- connection and facts ---- */

static void
on_connected(struct pgconn *pc, void *arg)
{
	struct instance *in = arg;

	in->server_version = PQserverVersion(pgconn_pg(pc));
	if (statq_sessions(in->server_version) == NULL) {
		char msg[128];

		snprintf(msg, sizeof(msg), "unsupported server version %d (PostgreSQL 11 or later needed)",
			 in->server_version);
		fail(in, msg);
		return;
	}
	set_state(in, INST_FACTS);
	pgconn_query(pc, statq_facts(), 0, NULL);
}

static char *
dup_value(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

static bool
value_true(const PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

/* Reads the facts row into in->facts. NULL, or what went wrong. */
static const char *
read_facts(struct instance *in, const PGresult *res)
{
	struct instance_facts *f;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return PQresultErrorMessage(res);
	if (PQntuples(res) != 1 || PQnfields(res) != STATQ_FACT_COUNT)
		return "unexpected result shape";
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return "out of memory";
	f->server_version = dup_value(res, 0, STATQ_FACT_SERVER_VERSION);
	f->server_version_num = in->server_version;
	f->ssl_enabled = strcmp(PQgetvalue(res, 0, STATQ_FACT_SSL), "on") == 0;
	f->force_ssl = dup_value(res, 0, STATQ_FACT_FORCE_SSL);
	f->can_see_all_sessions = value_true(res, 0, STATQ_FACT_CAN_SEE_ALL);
	if (servercert_read(pgconn_pg(in->pc), &f->cert) < 0)
		olog(LVL_WARNING, &in->obj, "could not read the server certificate");
	instance_facts_free(in->facts);
	in->facts = f;
	return NULL;
}

static void
log_connected(struct instance *in)
{
	const struct instance_facts *f = in->facts;
	PGconn *conn = pgconn_pg(in->pc);
	const char *proto = PQsslAttribute(conn, "protocol");

	olog(LVL_INFO, &in->obj, "connected: PostgreSQL %s, %s%s%s",
	     f->server_version ? f->server_version : "?",
	     proto ? proto : "no TLS", f->cert.issuer ? ", server certificate issued by " : "",
	     f->cert.issuer ? f->cert.issuer : "");
	if (!f->can_see_all_sessions)
		olog(LVL_WARNING, &in->obj,
		     "role \"%s\" is not a member of pg_read_all_stats: sessions of other "
		     "users are invisible and will not be recorded (grant pg_monitor)",
		     PQuser(conn));
}

/* ---- one poll ---- */

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
	return (h ^ (uint64_t)k->ssl ^ ((uint64_t)(unsigned)k->bits << 1)) * 1099511628211ULL;
}

static bool
key_eq(const struct client_key *a, const struct client_key *b)
{
	return a->ssl == b->ssl && a->bits == b->bits && ident_str_eq(a->database, b->database) &&
	       ident_str_eq(a->user, b->user) && ident_str_eq(a->application, b->application) &&
	       ident_str_eq(a->client_addr, b->client_addr) && ident_str_eq(a->tls_version, b->tls_version) &&
	       ident_str_eq(a->cipher, b->cipher) && ident_str_eq(a->client_dn, b->client_dn) &&
	       ident_str_eq(a->issuer_dn, b->issuer_dn);
}

/* SPEC's client identity of a decoded session row (pointers into it). */
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
	       copy_str(&d->client_dn, s->client_dn) | copy_str(&d->issuer_dn, s->issuer_dn);
}

/* New sessions seen in one database (for the missed-session count). */
struct db_new {
	const char *datname;	/* into the result */
	int64_t n;
};

/*
 * One poll's work. Everything but the record is allocated only when the
 * poll finds something new: a poll of known sessions allocates the record.
 */
struct poll_ctx {
	struct instance *in;
	const PGresult *res;
	int rows;
	struct poll_record *r;
	struct obs_index ix;
	struct db_new *dbs;
	size_t ndbs;
	size_t ndbrows;
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

static void
bad_row(struct instance *in, enum statrow_error e)
{
	in->bad_rows++;
	if (in->bad_logged & (1u << e))
		return;
	in->bad_logged |= 1u << e;
	olog(LVL_WARNING, &in->obj,
	     "skipped a row of the poll query: %s (%llu bad rows so far; each kind is "
	     "logged once)", statrow_error_name(e), (unsigned long long)in->bad_rows);
}

/* Room for every row of the poll, allocated at its first new session. */
static int
reserve(struct poll_ctx *x)
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
client_index(struct poll_ctx *x, const struct client_key *k, const char *hostname)
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
count_new_db(struct poll_ctx *x, const char *datname)
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
new_in_db(const struct poll_ctx *x, const char *datname)
{
	for (size_t i = 0; i < x->ndbs; i++)
		if (strcmp(x->dbs[i].datname, datname) == 0)
			return x->dbs[i].n;
	return 0;
}

static bool
excluded(const struct instance *in, const struct client_key *k)
{
	const struct config *cfg = in->env->cfg;

	return (k->user && strlist_contains(&in->cluster->exclude_users, k->user)) ||
	       (k->database && strlist_contains(&cfg->exclude_databases, k->database));
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

/* Decodes a session row whole; 1 for a bad row (skipped and logged). */
static int
decode_session(struct poll_ctx *x, struct row_buf *b, int row, struct stat_row *sr,
	       struct client_key *k)
{
	enum statrow_error e;

	cells_all(b, x->res, row);
	if ((e = statrow_decode(&b->cells, sr)) != STATROW_OK) {
		bad_row(x->in, e);
		return 1;
	}
	row_key(sr, k);
	return 0;
}

/* One session more of client k in the record, with its first sample (the
 * store derives the next ones from the instance's polls). */
static int
add_session(struct poll_ctx *x, const struct stat_row *sr, const struct client_key *k,
	    bool moved)
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
moved_session(struct poll_ctx *x, struct row_buf *b, int row)
{
	struct stat_row sr;
	struct client_key k;

	if (decode_session(x, b, row, &sr, &k) != 0 || sr.own || excluded(x->in, &k))
		return 0;
	if (add_ended(x->r, (struct session_ref){ .pid = sr.pid,
		      .backend_start_us = sr.backend_start_us, .moved = true }) < 0)
		return -1;
	return add_session(x, &sr, &k, true);
}

/* A session the tracker did not know: decoded whole, tracked, recorded. */
static int
new_session(struct poll_ctx *x, struct row_buf *b, int row)
{
	struct stat_row sr;
	struct client_key k;
	bool recorded;

	if (decode_session(x, b, row, &sr, &k) != 0)
		return 0;
	recorded = !sr.own && !excluded(x->in, &k);
	if (tracker_see(x->in->tracker, sr.pid, sr.backend_start_us, recorded, app_hash(b)) < 0 ||
	    count_new_db(x, sr.datname) < 0)
		return -1;
	return recorded ? add_session(x, &sr, &k, false) : 0;
}

/* A database row, kept for the counters (after every session is seen). */
static int
keep_db_row(struct poll_ctx *x, const struct stat_row *sr)
{
	struct instance *in = x->in;

	if (x->ndbrows == in->dbcap) {
		size_t cap = in->dbcap ? 2 * in->dbcap : 8;
		struct stat_row *n = realloc(in->dbrows, cap * sizeof(*n));
		if (n == NULL)
			return -1;
		in->dbrows = n;
		in->dbcap = cap;
	}
	in->dbrows[x->ndbrows++] = *sr;
	return 0;
}

static void
on_ended(void *arg, int32_t pid, int64_t backend_start_us, bool single_poll)
{
	struct poll_ctx *x = arg;

	if (add_ended(x->r, (struct session_ref){ .pid = pid,
		      .backend_start_us = backend_start_us, .single_poll = single_poll }) < 0)
		x->oom = true;
}

static void
on_dropped(void *arg, uint32_t datid)
{
	struct poll_ctx *x = arg;
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

/* pg_stat_database.sessions: what was missed, and what changed. */
static int
count_databases(struct poll_ctx *x)
{
	struct instance *in = x->in;
	struct poll_record *r = x->r;

	r->counters_known = in->server_version >= STATQ_SESSIONS_VERSION;
	for (size_t i = 0; i < x->ndbrows; i++) {
		const struct stat_row *d = &in->dbrows[i];
		bool changed;
		int64_t missed = tracker_count_db(in->tracker, d->datid, d->sessions,
						  d->stats_reset, new_in_db(x, d->datname),
						  &changed);

		if (!changed) {
			r->baseline_known = true;
			continue;
		}
		if (add_counter(r, d, missed) < 0)
			return -1;
	}
	tracker_counters_done(in->tracker, on_dropped, x);
	return 0;
}

/* The next poll lists session `pid` in full ($4). */
static void
want(struct instance *in, int32_t pid)
{
	for (size_t i = 0; i < in->nwant; i++)
		if (in->want[i] == pid)
			return;
	if (in->nwant < WANT_MAX)
		in->want[in->nwant++] = pid;
}

/* One row: a known session costs a hash lookup, nothing else. */
static int
poll_row(struct poll_ctx *x, struct row_buf *b, int row)
{
	struct stat_row sr;
	enum statrow_error e;

	cell(b, x->res, row, STATQ_COL_KIND);
	cell(b, x->res, row, STATQ_COL_PID);
	if (!b->null[STATQ_COL_KIND] && b->len[STATQ_COL_KIND] == 1 &&
	    b->v[STATQ_COL_KIND][0] == 'd') {
		cell(b, x->res, row, STATQ_D_DATNAME);
		cell(b, x->res, row, STATQ_COL_SESSIONS);
		cell(b, x->res, row, STATQ_COL_STATS_RESET);
	} else {
		cell(b, x->res, row, STATQ_COL_BACKEND_START);
		cell(b, x->res, row, STATQ_COL_APPLICATION);
	}
	if ((e = statrow_decode_id(&b->cells, &sr)) != STATROW_OK) {
		bad_row(x->in, e);
		return 0;
	}
	if (sr.kind == 'd')
		return keep_db_row(x, &sr);
	if (sr.kind == 't') {
		x->in->snapshot_us = sr.backend_start_us;
		return 0;
	}
	switch (tracker_mark(x->in->tracker, sr.pid, sr.backend_start_us, app_hash(b))) {
	case TRACK_KNOWN:
		return 0;
	case TRACK_RENAMED:
		if (sr.kind == 'a')
			return moved_session(x, b, row);
		/* Renamed, but its row is by identity only: the next poll
		 * lists it in full. */
		tracker_defer(x->in->tracker, sr.pid, sr.backend_start_us);
		want(x->in, sr.pid);
		return 0;
	case TRACK_UNKNOWN:
		break;
	}
	if (sr.kind == 'o') {
		/* Older than the last poll yet not known (it was not visible
		 * then, or a bad row): the next poll lists it in full. */
		want(x->in, sr.pid);
		return 0;
	}
	return new_session(x, b, row);
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

/* Turns the poll's rows into r. Returns NULL, or what went wrong. */
static const char *
build_record(struct instance *in, const PGresult *res, struct poll_record *r)
{
	struct poll_ctx x = { .in = in, .res = res, .rows = PQntuples(res), .r = r };
	struct row_buf b = { .cells = { NULL, NULL, NULL } };
	int rc = 0;

	if (PQnfields(res) != STATQ_COL_COUNT || PQbinaryTuples(res) != 1)
		return "poll query returned an unexpected shape";
	b.cells = (struct stat_cells){ b.v, b.len, b.null };
	for (int i = 0; i < x.rows && rc == 0; i++)
		rc = poll_row(&x, &b, i);
	if (rc == 0) {
		tracker_finish(in->tracker, on_ended, &x);
		rc = count_databases(&x);
	}
	if (r->clients != NULL)
		shrink_record(r);
	free(x.ix.slot);
	free(x.dbs);
	return rc < 0 || x.oom ? "out of memory" : NULL;
}

static void
poll_done(struct instance *in, const PGresult *res)
{
	struct poll_record *r;
	const char *err;
	int64_t now = wall_ms();

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail_with(in, "poll query failed", PQresultErrorMessage(res));
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL || (err = build_record(in, res, r)) != NULL) {
		poll_record_free(r);
		fail(in, r ? err : "out of memory");
		return;
	}
	r->instance_id = in->id;
	r->at_ms = now;
	r->ok = true;
	r->gap_ms = in->last_success_ms ? now - in->last_success_ms : 0;
	r->facts = in->facts;
	in->facts = NULL;
	if (!in->ok && in->failures)
		olog(LVL_INFO, &in->obj, "polling again after %u failed attempts", in->failures);
	in->ok = true;
	in->failures = 0;
	free(in->last_error);
	in->last_error = NULL;
	in->last_success_ms = now;
	olog(LVL_DEBUG, &in->obj, "poll: %zu clients, %zu new and %zu ended sessions, %zu tracked",
	     r->nclients, r->n_new, r->n_ended, tracker_count(in->tracker));
	writer_submit(in->env->writer, r);
	if (in->env->once)
		finish_once(in, true);
	else
		schedule_poll(in);
}

static void
facts_done(struct instance *in, const PGresult *res)
{
	const char *err = read_facts(in, res);

	if (err != NULL) {
		fail_with(in, "reading instance facts failed", err);
		return;
	}
	log_connected(in);
	set_state(in, INST_PREPARING);
	pgconn_prepare(in->pc, STATQ_POLL_NAME, statq_sessions(in->server_version), 4);
}

static void
prepare_done(struct instance *in, const PGresult *res)
{
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fail_with(in, "preparing the poll query failed", PQresultErrorMessage(res));
		return;
	}
	start_poll(in);
}

static void
on_result(struct pgconn *pc, const PGresult *res, void *arg)
{
	struct instance *in = arg;

	(void)pc;
	switch (in->state) {
	case INST_FACTS:
		facts_done(in, res);
		break;
	case INST_PREPARING:
		prepare_done(in, res);
		break;
	case INST_POLLING:
		poll_done(in, res);
		break;
	case INST_WAITING:
	case INST_CONNECTING:
	case INST_IDLE:
	case INST_DONE:
		break;
	}
}

char *
instance_own_users(const struct config *cfg)
{
	size_t cap = 3, len = 0;
	char *out;

	for (size_t i = 0; i < cfg->nclusters; i++) {
		const char *u = cluster_conn_get(&cfg->clusters[i], "user");
		cap += u ? 2 * strlen(u) + 3 : 0;
	}
	out = malloc(cap);
	if (out == NULL)
		return NULL;
	out[len++] = '{';
	for (size_t i = 0; i < cfg->nclusters; i++) {
		const char *u = cluster_conn_get(&cfg->clusters[i], "user");
		if (u == NULL)
			continue;
		if (len > 1)
			out[len++] = ',';
		/* An array element in double quotes: escape '"' and '\'. */
		out[len++] = '"';
		for (; *u; u++) {
			if (*u == '"' || *u == '\\')
				out[len++] = '\\';
			out[len++] = *u;
		}
		out[len++] = '"';
	}
	out[len++] = '}';
	out[len] = '\0';
	return out;
}
