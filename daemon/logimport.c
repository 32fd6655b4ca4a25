/*
 * logimport.c: a server log's sessions into the store (contract in
 * logimport.h).
 *
 * Received lines wait for their authorized line in a direct-mapped table
 * by pid: the two lines of one session are a few milliseconds apart, so
 * only sessions that overlap and whose pids collide modulo the table's
 * size (65536) can evict each other; the evicted one is then joined by its
 * own line's address (%r, csvlog, jsonlog) or counted as having none.
 * Memory stays bounded whatever the log holds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logimport.h"
#include "logread.h"
#include "store_logs.h"
#include "textesc.h"

#define PENDING_SLOTS	65536
#define HOST_INLINE	48
#define JOIN_WINDOW_US	(60 * 1000000LL)	/* received -> authorized at most */

struct pending {
	int32_t pid;		/* 0: empty */
	bool local;		/* [local] */
	int64_t t_us, prec_us, session_start;
	char host[HOST_INLINE];
	char *host_long;	/* when longer */
};

struct logimport {
	struct store *store;
	int64_t instance_id;
	struct logimport_opts o;
	struct logread *reader;
	struct pending *pend;
	struct logimport_stats st;
	bool in_batch;
	uint64_t batch_from;	/* first line of the batch */
	int64_t batch_started_ms;
	int failed;		/* the store failed: stop */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
pending_host(const struct pending *p)
{
	if (p->local)
		return NULL;
	return p->host_long ? p->host_long : p->host;
}

static void
pending_clear(struct pending *p)
{
	free(p->host_long);
	memset(p, 0, sizeof *p);
}

static void
remember(struct logimport *li, const struct logline *l)
{
	struct pending *p = &li->pend[(uint32_t)l->pid % PENDING_SLOTS];
	size_t n;

	pending_clear(p);
	p->pid = l->pid;
	p->t_us = l->time_us;
	p->prec_us = l->prec_us;
	p->session_start = l->session_start;
	p->local = l->host == NULL;
	if (l->host == NULL)
		return;
	n = strlen(l->host);
	if (n < HOST_INLINE)
		memcpy(p->host, l->host, n + 1);
	else if ((p->host_long = strdup(l->host)) == NULL)
		p->pid = 0;	/* no memory: as if evicted */
}

/* The pending received line of this authorized one, or NULL. */
static struct pending *
joined(struct logimport *li, const struct logline *l)
{
	struct pending *p = &li->pend[(uint32_t)l->pid % PENDING_SLOTS];

	if (p->pid != l->pid)
		return NULL;
	if (p->session_start >= 0 && l->session_start >= 0 && p->session_start != l->session_start)
		return NULL;
	if (p->t_us != INT64_MIN && l->time_us != INT64_MIN &&
	    (p->t_us > l->time_us + p->prec_us || p->t_us < l->time_us - JOIN_WINDOW_US))
		return NULL;
	return p;
}

static bool
excluded(const struct logimport *li, const struct logline *l)
{
	return (l->application && strcmp(l->application, "sslhistd") == 0) ||
	       (li->o.exclude_users && strlist_contains(li->o.exclude_users, l->user)) ||
	       (li->o.exclude_databases && strlist_contains(li->o.exclude_databases, l->database));
}

static int
batch_end(struct logimport *li)
{
	if (!li->in_batch)
		return 0;
	li->in_batch = false;
	return store_log_end(li->store, li->instance_id, li->st.newest_us, wall_now_ms() / 1000);
}

static int
store_session(struct logimport *li, const struct log_session *ls, uint64_t lineno)
{
	enum log_outcome out;

	if (li->in_batch && (lineno - li->batch_from >= (uint64_t)li->o.batch_lines ||
			     mono_ms() - li->batch_started_ms >= li->o.batch_ms)) {
		if (batch_end(li) < 0)
			return -1;
	}
	if (!li->in_batch) {
		if (store_log_begin(li->store) < 0)
			return -1;
		li->in_batch = true;
		li->batch_from = lineno;
		li->batch_started_ms = mono_ms();
	}
	if (store_log_session(li->store, li->instance_id, ls, wall_now_ms(), &out,
			      &li->st.new_clients) < 0) {
		store_log_abort(li->store);
		li->in_batch = false;
		return -1;
	}
	if (out == LOG_NEW)
		li->st.stored++;
	else if (out == LOG_NAMED_POLLED)
		li->st.named_polled++;
	else
		li->st.known++;
	return 0;
}

/* An authorized line: its session, with the address of its received line. */
static int
authorized(struct logimport *li, const struct logline *l, uint64_t lineno)
{
	struct pending *p = joined(li, l);
	struct log_session ls;
	int64_t t, prec, slack, ss;
	int rc;

	li->st.sessions++;
	if (excluded(li, l)) {
		li->st.excluded++;
		if (p)
			pending_clear(p);
		return 0;
	}
	memset(&ls, 0, sizeof ls);
	if (p != NULL && p->t_us != INT64_MIN) {
		ls.client_addr = pending_host(p);
		t = p->t_us;
		prec = p->prec_us;
		slack = LOG_SLACK_RECEIVED_US;
	} else if (l->has_host && l->time_us != INT64_MIN) {
		ls.client_addr = l->host;
		t = l->time_us;
		prec = l->prec_us;
		slack = LOG_SLACK_AUTHORIZED_US;
	} else {
		li->st.no_address++;
		return 0;
	}
	ss = l->session_start >= 0 ? l->session_start : p ? p->session_start : -1;
	ls.pid = l->pid;
	ls.start_us = t;
	if (ss >= 0) {
		ls.lo_us = ss * 1000000 < t ? ss * 1000000 : t;
		ls.hi_us = ss * 1000000 + 999999 > t ? ss * 1000000 + 999999 : t;
	} else {
		ls.lo_us = t - slack;
		ls.hi_us = t + prec - 1;
	}
	ls.database = l->database;
	ls.user = l->user;
	/* pg_stat_activity shows '' for a client that sent none. */
	ls.application = l->application ? l->application : "";
	ls.ssl = l->ssl;
	ls.tls_version = l->protocol;
	ls.cipher = l->cipher;
	ls.bits = l->bits;
	rc = store_session(li, &ls, lineno);
	if (p)
		pending_clear(p);
	return rc;
}

static int
on_line(void *arg, const struct logline *l, uint64_t lineno)
{
	struct logimport *li = arg;

	if (l->time_us != INT64_MIN && l->time_us > li->st.newest_us)
		li->st.newest_us = l->time_us;
	if (l->kind == LOGLINE_RECEIVED)
		remember(li, l);
	else if (l->kind == LOGLINE_AUTHORIZED && authorized(li, l, lineno) < 0)
		return li->failed = 1;
	return 0;
}

static void
on_skip(void *arg, uint64_t lineno, const char *why, const char *rec, size_t len)
{
	struct logimport *li = arg;
	size_t k = li->st.skipped < LOGIMPORT_SKIPPED_QUOTED ? (size_t)li->st.skipped : SIZE_MAX;
	char raw[128], *esc;

	li->st.skipped++;
	if (k == SIZE_MAX)
		return;
	li->st.skipped_line[k] = lineno;
	snprintf(li->st.skipped_why[k], sizeof li->st.skipped_why[k], "%s", why);
	if (len > 60)
		len = 60;
	memcpy(raw, rec, len);
	raw[len] = '\0';
	esc = textesc_dup(raw, 60);
	snprintf(li->st.skipped_text[k], sizeof li->st.skipped_text[k], "%s", esc ? esc : "");
	free(esc);
}

struct logimport *
logimport_new(struct store *s, int64_t instance_id, const struct logimport_opts *o, char *err,
	      size_t errlen)
{
	struct logimport *li = calloc(1, sizeof *li);

	if (li == NULL || (li->pend = calloc(PENDING_SLOTS, sizeof *li->pend)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(li);
		return NULL;
	}
	li->store = s;
	li->instance_id = instance_id;
	li->o = *o;
	if (li->o.batch_lines <= 0)
		li->o.batch_lines = 10000;
	if (li->o.batch_ms <= 0)
		li->o.batch_ms = 1000;
	li->st.newest_us = INT64_MIN;
	li->reader = logread_new(o->format, o->prefix, on_line, on_skip, li, err, errlen);
	if (li->reader == NULL) {
		logimport_free(li);
		return NULL;
	}
	return li;
}

static void
sync_stats(struct logimport *li)
{
	const struct logread_stats *r = logread_stats(li->reader);

	li->st.lines = r->lines;
	li->st.records = r->records;
}

int
logimport_feed(struct logimport *li, const char *buf, size_t n)
{
	int rc;

	if (li->failed)
		return -1;
	rc = logread_feed(li->reader, buf, n);
	sync_stats(li);
	if (rc == 0 && !li->failed && li->o.commit_each_feed && batch_end(li) < 0)
		return -1;
	return rc == 0 && !li->failed ? 0 : -1;
}

int
logimport_end(struct logimport *li)
{
	if (li->failed || logread_end(li->reader) != 0 || li->failed)
		return -1;
	sync_stats(li);
	/* The newest line is recorded even when the log named no session. */
	if (!li->in_batch && li->st.newest_us != INT64_MIN) {
		if (store_log_begin(li->store) < 0)
			return -1;
		li->in_batch = true;
	}
	return batch_end(li);
}

const struct logimport_stats *
logimport_stats(const struct logimport *li)
{
	return &li->st;
}

enum logline_format
logimport_format(const struct logimport *li)
{
	return logread_format(li->reader);
}

void
logimport_free(struct logimport *li)
{
	if (li == NULL)
		return;
	if (li->in_batch)
		store_log_abort(li->store);
	for (size_t i = 0; li->pend && i < PENDING_SLOTS; i++)
		free(li->pend[i].host_long);
	free(li->pend);
	logread_free(li->reader);
	free(li);
}
