/*
 * report_load.c: reads what `sslhist report` needs from the history into
 * the model of report.h, and streams back the clients a finding names.
 *
 * The instances of the fleet are read into memory first (bounded by the
 * fleet, not by the clients). Then one pass over the coverage table and one
 * sequential pass over the client table count everything per cluster and
 * instance in C (a scan is several times cheaper than walking the
 * client_instance index instance by instance, which costs a b-tree seek per
 * row). Only the clients a finding names (non-SSL, TLS below 1.2) are then
 * read again, per instance that has any, in bounded batches, and streamed
 * out. Every statement is reset before anything is written, so no read
 * transaction waits on a slow stdout.
 *
 * The polling interval (for "gaps over three intervals") is not in the
 * database: it comes from CONFIG when readable and naming the cluster,
 * else it is estimated per instance, as the smaller of 3600 s / the most
 * polls in one hour and the time from its first poll in the window to its
 * last attempt divided by the polls in between. Pauses of the daemon,
 * failures with backoff and partial hours only lengthen both, so the
 * estimate errs long, and the gap finding errs towards silence, never
 * towards noise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cli.h"
#include "driver.h"
#include "ident.h"
#include "livecounts.h"
#include "report.h"

/* Where instance `id` is: clusters[c].inst[i]. */
struct iref {
	int64_t id;
	size_t c, i;
};

static const char fleet_sql[] =
	"SELECT cluster, id, host, port, retired_at IS NOT NULL, cert_issuer, cert_not_after,"
	" force_ssl, can_see_all_sessions, consecutive_failures, last_error, added_at,"
	" last_attempt, server_version_num, pooler, pooler_client_tls_sslmode, pooler_server_tls_sslmode,"
	" pooler_server_tls_ca_file"
	" FROM instance WHERE ?1 IS NULL OR cluster = ?1 ORDER BY cluster, host, port";

static const char disc_sql[] =
	"SELECT cluster, last_attempt, last_success, last_error, last_error_at,"
	" consecutive_failures FROM discovery";

/* Hours that overlap the window: hour + 3600 > since. The primary key
 * (instance_id, hour) delivers the groups in order, without a sort. */
static const char cov_sql[] =
	"SELECT instance_id, sum(polls), sum(failed_polls), max(largest_gap_ms), sum(sessions),"
	" sum(single_poll_sessions), coalesce(sum(missed_sessions), 0), count(missed_sessions),"
	" max(polls), sum(fast_polls)"
	" FROM coverage WHERE hour > ?1 - 3600 GROUP BY instance_id";

/*
 * The client pass; the WHERE parts are appended as needed. client_data,
 * not the view `client`: no join per client. A client with live sessions
 * has the stored last_seen LIVE and is seen at its instance's last
 * successful poll (sql/002_live_counts.sql).
 */
static const char count_sql[] =
	"SELECT instance_id, ssl, tls_version, application, sessions, pooler_server FROM client_data";
static const char count_since[] =
	" last_seen >= ?1 AND (last_seen < " LIVE_LAST_SEEN " OR coalesce((SELECT last_success FROM"
	" instance WHERE id = instance_id), first_seen) >= ?1)";
static const char count_cluster[] =
	" instance_id IN (SELECT id FROM instance WHERE cluster = ?2)";

/* The clients a finding names: ?4 = 0 non-SSL, 1 TLS below 1.2. Column 1
 * is the last seen time, column 7 the stored one (the cursor). */
static const char list_sql[] =
	"SELECT c.id, " LIVE_DERIVED_SEEN("c", "i") ","
	" c.user, c.database, c.client_addr, c.application, c.tls_version, c.last_seen"
	" FROM client_data c JOIN instance i ON i.id = c.instance_id"
	" WHERE c.instance_id = ?1 AND (c.last_seen, c.id) > (?2, ?3)"
	" AND " LIVE_SEEN_SINCE("c", "i", "?5")
	" AND CASE ?4 WHEN 0 THEN c.ssl = 0"
	"  ELSE c.ssl <> 0 AND c.tls_version IN " IDENT_TLS_WEAK_SQL " END"
	" ORDER BY c.last_seen, c.id LIMIT ?6";

static char *
dup_col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? strdup(s) : NULL;
}

static void
free_cluster(struct rcluster *c)
{
	size_t i;

	for (i = 0; i < c->ninst; i++) {
		free(c->inst[i].name);
		free(c->inst[i].issuer);
		free(c->inst[i].force_ssl);
		free(c->inst[i].last_error);
		free(c->inst[i].pooler);
		free(c->inst[i].pooler_client_tls);
		free(c->inst[i].pooler_server_tls);
		free(c->inst[i].pooler_ca_file);
	}
	free(c->inst);
	free(c->disc.last_error);
	for (i = 0; i < c->ntls; i++)
		free((char *)(uintptr_t)c->tls[i].key);
	free(c->tls);
	free(c->verifying);
	free(c->libpq);
	memset(c, 0, sizeof(*c));
}

/* Adds n to key's count (key copied when `own`). false: out of memory. */
static bool
count_add(struct count **v, size_t *len, const char *key, int64_t n, bool own)
{
	struct count *nv;
	size_t i;

	for (i = 0; i < *len; i++) {
		if (strcmp((*v)[i].key, key) == 0) {
			(*v)[i].n += n;
			return true;
		}
	}
	nv = realloc(*v, (*len + 1) * sizeof(**v));
	if (nv == NULL)
		return false;
	*v = nv;
	nv[*len].key = own ? strdup(key) : key;
	nv[*len].n = n;
	if (nv[*len].key == NULL)
		return false;
	(*len)++;
	return true;
}

static bool
read_instance(sqlite3_stmt *st, struct rinst *in)
{
	char name[1100];

	memset(in, 0, sizeof(*in));
	in->id = sqlite3_column_int64(st, 1);
	in->name = strdup(instance_name((const char *)sqlite3_column_text(st, 2),
					sqlite3_column_int64(st, 3), name, sizeof(name)));
	in->retired = sqlite3_column_int(st, 4) != 0;
	in->issuer = dup_col(st, 5);
	in->has_not_after = sqlite3_column_type(st, 6) != SQLITE_NULL;
	in->not_after = sqlite3_column_int64(st, 6);
	in->force_ssl = dup_col(st, 7);
	in->can_see_all = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1 :
			  sqlite3_column_int(st, 8) != 0;
	in->failures = sqlite3_column_int64(st, 9);
	in->last_error = dup_col(st, 10);
	in->added_at = sqlite3_column_int64(st, 11);
	in->has_last_attempt = sqlite3_column_type(st, 12) != SQLITE_NULL;
	in->last_attempt = sqlite3_column_int64(st, 12);
	in->server_version_num = sqlite3_column_int(st, 13);
	in->pooler = dup_col(st, 14);
	in->pooler_client_tls = dup_col(st, 15);
	in->pooler_server_tls = dup_col(st, 16);
	in->pooler_ca_file = dup_col(st, 17);
	if (in->pooler != NULL && in->name != NULL) {
		/* Findings name it as what it is. */
		char *n = NULL;

		if (asprintf(&n, "pooler %s at %s", in->pooler, in->name) < 0)
			n = NULL;
		free(in->name);
		in->name = n;
	}
	return in->name != NULL;
}

/* Appends the instance at st's row to its cluster (a new one when the
 * cluster name changes: rows come ordered by cluster). */
static bool
add_fleet_row(struct report *x, sqlite3_stmt *st)
{
	const char *cluster = (const char *)sqlite3_column_text(st, 0);
	struct rcluster *c, *ncl;
	struct rinst *ni;

	if (x->ncl == 0 || strcmp(x->cl[x->ncl - 1].name, cluster) != 0) {
		ncl = realloc(x->cl, (x->ncl + 1) * sizeof(*ncl));
		if (ncl == NULL)
			return false;
		x->cl = ncl;
		memset(&ncl[x->ncl], 0, sizeof(*ncl));
		if ((ncl[x->ncl].name = strdup(cluster)) == NULL)
			return false;
		x->ncl++;
	}
	c = &x->cl[x->ncl - 1];
	ni = realloc(c->inst, (c->ninst + 1) * sizeof(*ni));
	if (ni == NULL)
		return false;
	c->inst = ni;
	if (!read_instance(st, &c->inst[c->ninst++]))
		return false;
	/* A [pooler] is in inst[] for its findings, not an instance. */
	if (!c->inst[c->ninst - 1].retired && c->inst[c->ninst - 1].pooler == NULL)
		c->active++;
	return true;
}

static int
cmp_iref(const void *a, const void *b)
{
	int64_t x = ((const struct iref *)a)->id, y = ((const struct iref *)b)->id;

	return x < y ? -1 : x > y;
}

static bool
index_fleet(struct report *x)
{
	size_t c, i, n = 0;

	for (c = 0; c < x->ncl; c++)
		n += x->cl[c].ninst;
	if ((x->refs = calloc(n ? n : 1, sizeof(*x->refs))) == NULL)
		return false;
	for (c = 0; c < x->ncl; c++)
		for (i = 0; i < x->cl[c].ninst; i++)
			x->refs[x->nrefs++] = (struct iref){ x->cl[c].inst[i].id, c, i };
	qsort(x->refs, x->nrefs, sizeof(*x->refs), cmp_iref);
	return true;
}

static int
load_fleet(struct report *x)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(x->db, fleet_sql, -1, &st, NULL) != SQLITE_OK) {
		cli_error("reading instances: %s", sqlite3_errmsg(x->db));
		return -1;
	}
	sqlite3_bind_text(st, 1, x->q->cluster, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (!add_fleet_row(x, st))
			break;
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || !index_fleet(x)) {
		cli_error("reading instances: %s",
			  rc == SQLITE_DONE || rc == SQLITE_ROW ? "out of memory" :
			  sqlite3_errmsg(x->db));
		return -1;
	}
	if (x->q->cluster != NULL && x->ncl == 0) {
		cli_error("no cluster '%s' in the history", x->q->cluster);
		return -1;
	}
	return 0;
}

static struct rinst *
find_instance(struct report *x, int64_t id, struct rcluster **c)
{
	struct iref key = { id, 0, 0 }, *r;

	r = bsearch(&key, x->refs, x->nrefs, sizeof(*x->refs), cmp_iref);
	if (r == NULL)
		return NULL;
	*c = &x->cl[r->c];
	return &x->cl[r->c].inst[r->i];
}

struct rinst *
report_instance(struct report *r, int64_t id, struct rcluster **c)
{
	return find_instance(r, id, c);
}

static int
load_coverage(struct report *x)
{
	struct rcluster *c;
	struct rinst *in;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(x->db, cov_sql, -1, &st, NULL) != SQLITE_OK) {
		cli_error("reading coverage: %s", sqlite3_errmsg(x->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, x->q->since < INT64_MIN + 3600 ? INT64_MIN + 3600 : x->q->since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((in = find_instance(x, sqlite3_column_int64(st, 0), &c)) == NULL)
			continue;	/* another cluster (--cluster) */
		in->polls = sqlite3_column_int64(st, 1);
		in->failed = sqlite3_column_int64(st, 2);
		in->gap_ms = sqlite3_column_int64(st, 3);
		in->sessions = sqlite3_column_int64(st, 4);
		in->single = sqlite3_column_int64(st, 5);
		in->missed = sqlite3_column_int64(st, 6);
		in->missed_known = sqlite3_column_int64(st, 7) > 0;
		in->max_hour_polls = sqlite3_column_int64(st, 8);
		in->fast_polls = sqlite3_column_int64(st, 9);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		cli_error("reading coverage: %s", sqlite3_errmsg(x->db));
		return -1;
	}
	return 0;
}

/* One server connection of pooler `name` (a client of an instance). */
static void
count_pooler_server(struct rcluster *c, const char *name)
{
	for (size_t i = 0; i < c->ninst; i++)
		if (c->inst[i].pooler != NULL && strcmp(c->inst[i].pooler, name) == 0)
			c->inst[i].pooler_servers++;
}

/* One client (the row of st) counted into its cluster and instance. */
static bool
add_client(struct rcluster *c, struct rinst *in, sqlite3_stmt *st)
{
	bool ssl = sqlite3_column_int(st, 1) != 0;
	const char *tls = (const char *)sqlite3_column_text(st, 2);
	const char *driver = driver_guess((const char *)sqlite3_column_text(st, 3));
	int64_t sessions = sqlite3_column_int64(st, 4);
	const char *pooler_server = (const char *)sqlite3_column_text(st, 5);

	c->clients++;
	c->one_session += sessions == 1;
	c->client_sessions += sessions;
	if (!ssl) {
		c->non_ssl++;
		in->non_ssl++;
		c->pooler_plain += in->pooler != NULL;
		return true;
	}
	c->ssl++;
	c->pooler_tls += in->pooler != NULL;
	if (ident_tls_weak(tls)) {
		c->weak_tls++;
		in->weak_tls++;
	}
	if (!count_add(&c->tls, &c->ntls, tls ? tls : "unknown", 1, true))
		return false;
	/* The rotation concerns who verifies the server: a pooler's server
	 * connections verify it with the pooler's trust store, and a client
	 * of the pooler verifies the pooler's certificate, not the server's. */
	if (pooler_server != NULL) {
		count_pooler_server(c, pooler_server);
		return true;
	}
	if (in->pooler != NULL)
		return true;
	if (driver_verifies_by_default(driver) &&
	    !count_add(&c->verifying, &c->nverifying, driver, 1, false))
		return false;
	if (driver_is_libpq(driver) && !count_add(&c->libpq, &c->nlibpq, driver, 1, false))
		return false;
	return true;
}

static int
count_clients(struct report *x)
{
	char sql[512];
	struct rcluster *c;
	struct rinst *in;
	sqlite3_stmt *st;
	int rc;

	/* Without --since, no WHERE: a plain table scan, no index walk. */
	snprintf(sql, sizeof(sql), "%s%s%s%s%s", count_sql,
		 x->q->since_set || x->q->cluster ? " WHERE" : "",
		 x->q->since_set ? count_since : "",
		 x->q->since_set && x->q->cluster ? " AND" : "",
		 x->q->cluster ? count_cluster : "");
	if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK) {
		cli_error("counting clients: %s", sqlite3_errmsg(x->db));
		return -1;
	}
	if (x->q->since_set)
		sqlite3_bind_int64(st, 1, x->q->since);
	if (x->q->cluster)
		sqlite3_bind_text(st, 2, x->q->cluster, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((in = find_instance(x, sqlite3_column_int64(st, 0), &c)) != NULL &&
		    !add_client(c, in, st))
			break;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		cli_error("counting clients: %s",
			  rc == SQLITE_ROW ? "out of memory" : sqlite3_errmsg(x->db));
		return -1;
	}
	return 0;
}

/* The interval estimate of one instance (see the top); 0 when unknown. */
static int64_t
estimate_interval(const struct rinst *in, int64_t since)
{
	int64_t best = 0, span;

	/* Fewer than two polls in an hour says little about the interval. */
	if (in->max_hour_polls >= 2)
		best = 3600000 / in->max_hour_polls;
	if (in->has_last_attempt && in->polls >= 3) {
		/* Both ends are whole seconds: +1 s makes the truncation err
		 * long, as the rest of the estimate does. */
		span = in->last_attempt + 1 - (in->added_at > since ? in->added_at : since);
		if (span > 0 && (best == 0 || span * 1000 / (in->polls - 1) < best))
			best = span * 1000 / (in->polls - 1);
	}
	return best;
}

static void
pick_interval(struct report *x, const struct cli *cli, struct rcluster *c)
{
	int64_t est;
	size_t i;

	c->interval_ms = cli_interval_ms(cli, c->name);
	if (c->interval_ms > 0) {
		c->interval_source = "config";
		return;
	}
	for (i = 0; i < c->ninst; i++) {
		est = estimate_interval(&c->inst[i], x->q->since);
		if (est > 0 && (c->interval_ms == 0 || est < c->interval_ms))
			c->interval_ms = est;
	}
	if (c->interval_ms > 0)
		c->interval_source = "estimate";
}

static struct rcluster *
cluster_named(struct report *x, const char *name)
{
	for (size_t i = 0; i < x->ncl; i++)
		if (strcmp(x->cl[i].name, name) == 0)
			return &x->cl[i];
	return NULL;
}

static int64_t
col_time(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, col);
}

/* The outcome of each cluster's instance discovery (few rows: clusters). */
static int
load_discovery(struct report *x)
{
	sqlite3_stmt *st;
	struct rcluster *c;
	const char *err;
	int rc;

	if (sqlite3_prepare_v2(x->db, disc_sql, -1, &st, NULL) != SQLITE_OK) {
		cli_error("reading discoveries: %s", sqlite3_errmsg(x->db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((c = cluster_named(x, (const char *)sqlite3_column_text(st, 0))) == NULL)
			continue;
		c->disc.known = true;
		c->disc.last_attempt = col_time(st, 1);
		c->disc.last_success = col_time(st, 2);
		c->disc.last_error_at = col_time(st, 4);
		c->disc.failures = sqlite3_column_int64(st, 5);
		err = (const char *)sqlite3_column_text(st, 3);
		if (err != NULL && (c->disc.last_error = strdup(err)) == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		cli_error("reading discoveries: %s", rc == SQLITE_NOMEM ? "out of memory" :
			  sqlite3_errmsg(x->db));
		return -1;
	}
	return 0;
}

int
report_load(struct report *r, const struct cli *cli, sqlite3 *db, const struct report_query *q)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	r->db = db;
	r->q = q;
	if (load_fleet(r) < 0 || load_discovery(r) < 0 || load_coverage(r) < 0 ||
	    report_load_logs(r) < 0 || count_clients(r) < 0)
		return -1;
	for (i = 0; i < r->ncl; i++)
		pick_interval(r, cli, &r->cl[i]);
	if (sqlite3_prepare_v2(db, list_sql, -1, &r->list_st, NULL) != SQLITE_OK) {
		cli_error("preparing the report: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static void
list_row(const struct batch *b, size_t r, const struct rclient_cb *cb)
{
	struct rclient cl = {
		.last_seen = batch_int(b, r, 1),
		.user = batch_text(b, r, 2),
		.database = batch_text(b, r, 3),
		.addr = batch_text(b, r, 4),
		.application = batch_text(b, r, 5),
		.tls_version = batch_text(b, r, 6),
	};

	cb->fn(cb->arg, &cl);
}

int
report_list_clients(struct report *x, const struct rcluster *c, const struct rinst *in,
		    enum rclients kind, int64_t want, const struct rclient_cb *cb)
{
	sqlite3_stmt *st = x->list_st;
	struct batch b;
	int64_t cur_seen = x->q->since, cur_id = 0, got = 0, limit;
	size_t r;
	int n;

	batch_init(&b);
	do {
		limit = want - got < BATCH_ROWS ? want - got : BATCH_ROWS;
		sqlite3_bind_int64(st, 1, in->id);
		sqlite3_bind_int64(st, 2, cur_seen);
		sqlite3_bind_int64(st, 3, cur_id);
		sqlite3_bind_int(st, 4, (int)kind);
		sqlite3_bind_int64(st, 5, x->q->since);
		sqlite3_bind_int64(st, 6, limit);
		if ((n = batch_fill(&b, st, BATCH_ROWS)) < 0) {
			cli_error("%s/%s: listing clients: %s", c->name, in->name,
				  sqlite3_errmsg(x->db));
			batch_free(&b);
			return -1;
		}
		for (r = 0; r < b.nrows; r++)
			list_row(&b, r, cb);
		if (n > 0) {
			cur_seen = batch_int(&b, (size_t)n - 1, 7);
			cur_id = batch_int(&b, (size_t)n - 1, 0);
		}
		got += n;
	} while (n == limit && got < want);
	batch_free(&b);
	return 0;
}

void
report_free(struct report *r)
{
	size_t i;

	for (i = 0; i < r->ncl; i++) {
		free(r->cl[i].name);
		free_cluster(&r->cl[i]);
	}
	free(r->cl);
	free(r->refs);
	sqlite3_finalize(r->list_st);
	memset(r, 0, sizeof(*r));
}
