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

#include "clock.h"
#include "config.h"
#include "instance.h"
#include "log.h"
#include "pgconn.h"
#include "servercert.h"
#include "statquery.h"
#include "store.h"
#include "tracker.h"
#include "writer.h"
#include "timer.h"

#define BACKOFF_MIN_MS 1000

struct instance {
	const struct poller_env *env;
	const struct cluster_cfg *cluster;
	char *host;
	int port;
	int64_t id;
	char name[300];			/* "host:port" */
	struct log_obj obj;
	enum instance_state state;
	struct pgconn *pc;
	struct event *timer;
	struct tracker *tracker;
	int server_version;
	struct instance_facts *facts;	/* read at connect, stored with the next poll */
	int64_t last_success_ms;
	int64_t poll_started_mono;
	unsigned failures;
	char *last_error;
	bool ok;
	int64_t timer_due_mono;		/* when `timer` fires (WAITING, IDLE) */
	int64_t state_since_mono;
	bool warned_bad_rows;		/* malformed rows were logged */
};

static const char *const state_names[] = {
	[INST_WAITING] = "waiting", [INST_CONNECTING] = "connecting", [INST_FACTS] = "facts",
	[INST_POLLING] = "polling", [INST_IDLE] = "idle", [INST_DONE] = "done",
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
	(void)database;
	(void)tracker_count_db(arg, datid, sessions, stats_reset, 0);
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
	snprintf(in->name, sizeof(in->name), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
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

static void
free_facts(struct instance_facts *f)
{
	if (f == NULL)
		return;
	free(f->server_version);
	free(f->force_ssl);
	servercert_clear(&f->cert);
	free(f);
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
	free_facts(in->facts);
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

static void
start_poll(struct instance *in)
{
	set_state(in, INST_POLLING);
	in->poll_started_mono = mono_ms();
	tracker_begin(in->tracker);
	const char *params[1] = { in->env->own_users };

	pgconn_query(in->pc, statq_sessions(in->server_version), 1, params);
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
	free_facts(in->facts);
	in->facts = NULL;
	record_failure(in, error);
	if (in->env->once)
		finish_once(in, false);
	else
		schedule_reconnect(in);
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
	free_facts(in->facts);
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
str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool
key_eq(const struct client_key *a, const struct client_key *b)
{
	return a->ssl == b->ssl && a->bits == b->bits && str_eq(a->database, b->database) &&
	       str_eq(a->user, b->user) && str_eq(a->application, b->application) &&
	       str_eq(a->client_addr, b->client_addr) && str_eq(a->tls_version, b->tls_version) &&
	       str_eq(a->cipher, b->cipher) && str_eq(a->client_dn, b->client_dn) &&
	       str_eq(a->issuer_dn, b->issuer_dn);
}

/* Reads the key of session row `row` (pointers into res, not copies). */
static void
row_key(const PGresult *res, int row, struct client_key *k)
{
#define V(col) (PQgetisnull(res, row, (col)) ? NULL : PQgetvalue(res, row, (col)))
	k->database = V(STATQ_COL_DATNAME);
	k->user = V(STATQ_COL_USENAME);
	k->application = V(STATQ_COL_APPLICATION);
	k->client_addr = V(STATQ_COL_CLIENT_ADDR);
	k->ssl = value_true(res, row, STATQ_COL_SSL);
	k->tls_version = k->ssl ? V(STATQ_COL_VERSION) : NULL;
	k->cipher = k->ssl ? V(STATQ_COL_CIPHER) : NULL;
	k->bits = k->ssl && !PQgetisnull(res, row, STATQ_COL_BITS) ?
		  atoi(PQgetvalue(res, row, STATQ_COL_BITS)) : -1;
	k->client_dn = k->ssl ? V(STATQ_COL_CLIENT_DN) : NULL;
	k->issuer_dn = k->ssl ? V(STATQ_COL_ISSUER_DN) : NULL;
	/* An empty DN is "no client certificate". */
	if (k->client_dn && !*k->client_dn)
		k->client_dn = NULL;
	if (k->issuer_dn && !*k->issuer_dn)
		k->issuer_dn = NULL;
#undef V
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

/* The record's client for key k, added if new; -1 when out of memory. */
static ssize_t
client_index(struct poll_record *r, struct obs_index *ix, const struct client_key *k,
	     size_t maxclients, const char *hostname)
{
	size_t mask = ix->cap - 1, i = (size_t)hash_key(k) & mask;
	struct client_obs *o;

	for (; ix->slot[i]; i = (i + 1) & mask) {
		if (key_eq(&r->clients[ix->slot[i] - 1].key, k))
			return (ssize_t)(ix->slot[i] - 1);
	}
	if (r->nclients == maxclients)
		return -1;
	o = &r->clients[r->nclients];
	memset(o, 0, sizeof(*o));
	if (copy_key(&o->key, k) < 0 || copy_str(&o->client_hostname, hostname) < 0)
		return -1;
	ix->slot[i] = ++r->nclients;
	return (ssize_t)(r->nclients - 1);
}

struct poll_ctx {
	struct instance *in;
	struct poll_record *r;
	bool oom;
};

static void
on_ended(void *arg, int32_t pid, int64_t backend_start_us, bool single_poll)
{
	struct poll_ctx *ctx = arg;
	struct poll_record *r = ctx->r;
	struct session_ref *n;

	n = realloc(r->ended_sessions, (r->n_ended + 1) * sizeof(*n));
	if (n == NULL) {
		ctx->oom = true;
		return;
	}
	r->ended_sessions = n;
	n[r->n_ended++] = (struct session_ref){ .pid = pid, .backend_start_us = backend_start_us,
		.single_poll = single_poll };
}

static bool
excluded(const struct instance *in, const struct client_key *k)
{
	const struct config *cfg = in->env->cfg;

	return (k->user && strlist_contains(&in->cluster->exclude_users, k->user)) ||
	       (k->database && strlist_contains(&cfg->exclude_databases, k->database));
}

static int
fill_counters(const PGresult *res, struct poll_record *r, int64_t **new_seen)
{
	int rows = PQntuples(res);
	size_t nd = 0;

	for (int i = 0; i < rows; i++)
		nd += PQgetvalue(res, i, STATQ_COL_KIND)[0] == 'd';
	r->counters = calloc(nd ? nd : 1, sizeof(*r->counters));
	*new_seen = calloc(nd ? nd : 1, sizeof(**new_seen));
	if (r->counters == NULL || *new_seen == NULL)
		return -1;
	for (int i = 0; i < rows; i++) {
		struct db_counter *c;

		if (PQgetvalue(res, i, STATQ_COL_KIND)[0] != 'd')
			continue;
		c = &r->counters[r->ncounters++];
		c->datid = (uint32_t)strtoul(PQgetvalue(res, i, STATQ_D_DATID), NULL, 10);
		c->sessions = strtoll(PQgetvalue(res, i, STATQ_D_SESSIONS), NULL, 10);
		if (copy_str(&c->database, PQgetvalue(res, i, STATQ_D_DATNAME)) < 0 ||
		    copy_str(&c->stats_reset, PQgetisnull(res, i, STATQ_D_STATS_RESET) ? NULL :
			     PQgetvalue(res, i, STATQ_D_STATS_RESET)) < 0)
			return -1;
	}
	return 0;
}

static void
count_new(struct poll_record *r, int64_t *new_seen, const char *datname)
{
	for (size_t j = 0; datname && j < r->ncounters; j++) {
		if (strcmp(r->counters[j].database, datname) == 0) {
			new_seen[j]++;
			return;
		}
	}
}

/*
 * A session row names its session (pid, backend start) and says whether it
 * is SSL; a row without them (a hostile or broken server) would be stored
 * as a session or client that never was.
 */
static bool
session_row_ok(const PGresult *res, int row, int32_t *pid, int64_t *bs)
{
	const char *p = PQgetvalue(res, row, STATQ_COL_PID);
	const char *b = PQgetvalue(res, row, STATQ_COL_BACKEND_START_US);
	char *end1, *end2;
	long v;

	if (PQgetisnull(res, row, STATQ_COL_PID) || PQgetisnull(res, row, STATQ_COL_BACKEND_START_US) ||
	    PQgetisnull(res, row, STATQ_COL_SSL))
		return false;
	v = strtol(p, &end1, 10);
	*bs = strtoll(b, &end2, 10);
	*pid = (int32_t)v;
	return *p && !*end1 && *b && !*end2 && v > 0 && v <= INT32_MAX;
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
	int rows = PQntuples(res);
	struct obs_index ix = { NULL, 16 };
	struct poll_ctx ctx = { in, r, false };
	int64_t *new_seen = NULL;
	int bad = 0;

	if (PQnfields(res) != STATQ_COL_COUNT)
		return "poll query returned an unexpected shape";
	while (ix.cap < 2 * (size_t)rows)
		ix.cap *= 2;
	ix.slot = calloc(ix.cap, sizeof(*ix.slot));
	r->clients = calloc(rows ? (size_t)rows : 1, sizeof(*r->clients));
	r->new_sessions = calloc(rows ? (size_t)rows : 1, sizeof(*r->new_sessions));
	if (!ix.slot || !r->clients || !r->new_sessions || fill_counters(res, r, &new_seen) < 0)
		goto oom;
	for (int i = 0; i < rows; i++) {
		struct client_key k;
		int32_t pid;
		int64_t bs;
		bool recorded;
		int seen;
		ssize_t ci;

		if (PQgetvalue(res, i, STATQ_COL_KIND)[0] != 'a')
			continue;
		if (!session_row_ok(res, i, &pid, &bs)) {
			bad++;
			continue;
		}
		row_key(res, i, &k);
		recorded = !value_true(res, i, STATQ_COL_OWN) && !excluded(in, &k);
		if ((seen = tracker_see(in->tracker, pid, bs, recorded)) < 0)
			goto oom;
		if (seen)
			count_new(r, new_seen, k.database);
		if (!recorded)
			continue;
		ci = client_index(r, &ix, &k, (size_t)rows,
				  PQgetisnull(res, i, STATQ_COL_CLIENT_HOSTNAME) ? NULL :
				  PQgetvalue(res, i, STATQ_COL_CLIENT_HOSTNAME));
		if (ci < 0)
			goto oom;
		r->clients[ci].samples++;
		/* A session that changed its identity (SET application_name) is
		 * one session more of the new client, not a new session. */
		if (tracker_identity(in->tracker, pid, bs, hash_key(&k) | 1) && !seen)
			r->clients[ci].new_sessions++;
		if (seen) {
			r->clients[ci].new_sessions++;
			r->new_sessions[r->n_new++] = (struct session_ref){ .pid = pid,
				.backend_start_us = bs, .client = (size_t)ci };
		}
	}
	if (bad && !in->warned_bad_rows) {
		olog(LVL_WARNING, &in->obj, "skipped %d session rows without a valid pid, "
		     "backend_start or ssl (logged once)", bad);
		in->warned_bad_rows = true;
	}
	tracker_finish(in->tracker, on_ended, &ctx);
	r->counters_known = in->server_version >= STATQ_SESSIONS_VERSION;
	for (size_t j = 0; j < r->ncounters; j++) {
		struct db_counter *c = &r->counters[j];
		c->missed = tracker_count_db(in->tracker, c->datid, c->sessions, c->stats_reset,
					     new_seen[j]);
	}
	tracker_counters_done(in->tracker);
	free(ix.slot);
	free(new_seen);
	shrink_record(r);
	return ctx.oom ? "out of memory" : NULL;
oom:
	free(ix.slot);
	free(new_seen);
	return "out of memory";
}

static void
poll_done(struct instance *in, const PGresult *res)
{
	struct poll_record *r;
	const char *err;
	int64_t now = wall_ms();

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "poll query failed: %s", PQresultErrorMessage(res));
		msg[strcspn(msg, "\n")] = '\0';
		fail(in, msg);
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
on_result(struct pgconn *pc, const PGresult *res, void *arg)
{
	struct instance *in = arg;
	const char *err;

	(void)pc;
	switch (in->state) {
	case INST_FACTS:
		if ((err = read_facts(in, res)) != NULL) {
			char msg[1024];

			snprintf(msg, sizeof(msg), "reading instance facts failed: %s", err);
			msg[strcspn(msg, "\n")] = '\0';
			fail(in, msg);
		} else {
			log_connected(in);
			start_poll(in);
		}
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
