/*
 * cmd_report.c: `sslhist report`, per cluster, what an operator needs to
 * know before a CA rotation or before setting rds.force_ssl=1.
 *
 * Per cluster: its instances (with their coverage in the window) are read
 * into memory; clients are counted per instance with one GROUP BY along
 * the index client_instance; the clients a finding names (non-SSL, TLS
 * below 1.2) are streamed in bounded batches. Every read is a short
 * statement, reset before anything is written.
 *
 * The polling interval (for "gaps over three intervals") is not in the
 * database: it comes from CONFIG when readable and naming the cluster,
 * else it is estimated as 3600 s / the most polls any one instance of the
 * cluster made in one hour. With jitter, failures and backoff an hour
 * rarely holds more polls than the interval allows, so the estimate errs
 * long, and the gap finding errs towards silence, never towards noise.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cli.h"
#include "driver.h"
#include "parse.h"
#include "rdsca.h"
#include "report.h"

static const char usage_text[] =
	"usage: sslhist report [--since WHEN] [--cluster NAME] [--format table|json]\n"
	"                      [--fail-on-non-ssl]\n"
	"\n"
	"Per cluster: instances, clients by SSL and TLS version, the server CAs and\n"
	"certificate expiry, rds.force_ssl, the coverage of the history, and findings,\n"
	"most severe first: what breaks on a CA rotation or with rds.force_ssl=1.\n"
	"\n"
	"  --since WHEN       only clients seen since WHEN: a duration back from now\n"
	"                     (7d) or a date or time (2026-11-01, RFC 3339)\n"
	"  --cluster NAME     only this cluster\n"
	"  --format F         table (default) or json\n"
	"  --fail-on-non-ssl  exit 3 when a non-SSL client was seen (in the window)\n";

struct ropts {
	bool since_set;
	int64_t since;		/* INT64_MIN without --since */
	const char *cluster;
	enum out_format fmt;
	bool fail_on_non_ssl;
};

struct rctx {
	struct cli *cli;
	sqlite3 *db;
	const struct ropts *o;
	struct rout out;
	sqlite3_stmt *inst_st, *cov_st, *agg_st, *list_st;
};

static const char inst_sql[] =
	"SELECT id, host, port, retired_at IS NOT NULL, cert_issuer, cert_not_after, force_ssl,"
	" can_see_all_sessions, consecutive_failures, last_error"
	" FROM instance WHERE cluster = ?1 ORDER BY host, port";

/* Hours that overlap the window: hour + 3600 > since. */
static const char cov_sql[] =
	"SELECT coalesce(sum(polls), 0), coalesce(sum(failed_polls), 0),"
	" coalesce(max(largest_gap_ms), 0), coalesce(sum(sessions), 0),"
	" coalesce(sum(single_poll_sessions), 0), coalesce(sum(missed_sessions), 0),"
	" count(missed_sessions), coalesce(max(polls), 0)"
	" FROM coverage WHERE instance_id = ?1 AND hour > ?2 - 3600";

static const char agg_sql[] =
	"SELECT ssl, tls_version, application, count(*), sum(sessions = 1), sum(sessions)"
	" FROM client WHERE instance_id = ?1 AND last_seen >= ?2"
	" GROUP BY ssl, tls_version, application";

/* The clients a finding names: ?4 = 0 non-SSL, 1 TLS below 1.2. */
static const char list_sql[] =
	"SELECT id, last_seen, user, database, client_addr, application, tls_version"
	" FROM client WHERE instance_id = ?1 AND (last_seen, id) > (?2, ?3)"
	" AND last_seen >= ?5"
	" AND CASE ?4 WHEN 0 THEN ssl = 0"
	"  ELSE ssl <> 0 AND tls_version IN ('SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1') END"
	" ORDER BY last_seen, id LIMIT ?6";

static bool
is_weak_tls(const char *v)
{
	return v != NULL && (strcmp(v, "SSLv2") == 0 || strcmp(v, "SSLv3") == 0 ||
			     strcmp(v, "TLSv1") == 0 || strcmp(v, "TLSv1.1") == 0);
}

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
	}
	free(c->inst);
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
read_instance(struct rctx *x, struct rinst *in)
{
	sqlite3_stmt *st = x->inst_st;
	char name[1100];

	memset(in, 0, sizeof(*in));
	in->id = sqlite3_column_int64(st, 0);
	in->name = strdup(instance_name((const char *)sqlite3_column_text(st, 1),
					sqlite3_column_int64(st, 2), name, sizeof(name)));
	in->retired = sqlite3_column_int(st, 3) != 0;
	in->issuer = dup_col(st, 4);
	in->has_not_after = sqlite3_column_type(st, 5) != SQLITE_NULL;
	in->not_after = sqlite3_column_int64(st, 5);
	in->force_ssl = dup_col(st, 6);
	in->can_see_all = sqlite3_column_type(st, 7) == SQLITE_NULL ? -1 :
			  sqlite3_column_int(st, 7) != 0;
	in->failures = sqlite3_column_int64(st, 8);
	in->last_error = dup_col(st, 9);
	return in->name != NULL;
}

static int
load_instances(struct rctx *x, struct rcluster *c)
{
	struct rinst *nv;
	int rc;

	sqlite3_bind_text(x->inst_st, 1, c->name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(x->inst_st)) == SQLITE_ROW) {
		nv = realloc(c->inst, (c->ninst + 1) * sizeof(*nv));
		if (nv == NULL)
			break;
		c->inst = nv;
		if (!read_instance(x, &c->inst[c->ninst++]))
			break;
		if (!c->inst[c->ninst - 1].retired)
			c->active++;
	}
	sqlite3_reset(x->inst_st);
	if (rc != SQLITE_DONE) {
		cli_error("cluster %s: reading instances: %s", c->name,
			  rc == SQLITE_ROW ? "out of memory" : sqlite3_errmsg(x->db));
		return -1;
	}
	return 0;
}

static int
load_coverage(struct rctx *x, struct rcluster *c, struct rinst *in)
{
	sqlite3_stmt *st = x->cov_st;
	int rc;

	sqlite3_bind_int64(st, 1, in->id);
	sqlite3_bind_int64(st, 2, x->o->since < INT64_MIN + 3600 ? INT64_MIN + 3600 : x->o->since);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		in->polls = sqlite3_column_int64(st, 0);
		in->failed = sqlite3_column_int64(st, 1);
		in->gap_ms = sqlite3_column_int64(st, 2);
		in->sessions = sqlite3_column_int64(st, 3);
		in->single = sqlite3_column_int64(st, 4);
		in->missed = sqlite3_column_int64(st, 5);
		in->missed_known = sqlite3_column_int64(st, 6) > 0;
		in->max_hour_polls = sqlite3_column_int64(st, 7);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		cli_error("%s/%s: reading coverage: %s", c->name, in->name, sqlite3_errmsg(x->db));
		return -1;
	}
	return 0;
}

/* One (ssl, tls_version, application) group of an instance's clients. */
static bool
add_group(struct rcluster *c, sqlite3_stmt *st)
{
	bool ssl = sqlite3_column_int(st, 0) != 0;
	const char *tls = (const char *)sqlite3_column_text(st, 1);
	const char *driver = driver_guess((const char *)sqlite3_column_text(st, 2));
	int64_t n = sqlite3_column_int64(st, 3);

	c->clients += n;
	c->one_session += sqlite3_column_int64(st, 4);
	c->client_sessions += sqlite3_column_int64(st, 5);
	if (!ssl) {
		c->non_ssl += n;
		return true;
	}
	c->ssl += n;
	if (is_weak_tls(tls))
		c->weak_tls += n;
	if (!count_add(&c->tls, &c->ntls, tls ? tls : "unknown", n, true))
		return false;
	if (driver_verifies_by_default(driver) &&
	    !count_add(&c->verifying, &c->nverifying, driver, n, false))
		return false;
	if (driver_is_libpq(driver) && !count_add(&c->libpq, &c->nlibpq, driver, n, false))
		return false;
	return true;
}

static int
count_clients(struct rctx *x, struct rcluster *c, const struct rinst *in)
{
	sqlite3_stmt *st = x->agg_st;
	int rc;

	sqlite3_bind_int64(st, 1, in->id);
	sqlite3_bind_int64(st, 2, x->o->since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (!add_group(c, st))
			break;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		cli_error("%s/%s: counting clients: %s", c->name, in->name,
			  rc == SQLITE_ROW ? "out of memory" : sqlite3_errmsg(x->db));
		return -1;
	}
	return 0;
}

static void
pick_interval(struct rctx *x, struct rcluster *c)
{
	int64_t most = 0;
	size_t i;

	c->interval_ms = cli_interval_ms(x->cli, c->name);
	if (c->interval_ms > 0) {
		c->interval_source = "config";
		return;
	}
	for (i = 0; i < c->ninst; i++)
		if (c->inst[i].max_hour_polls > most)
			most = c->inst[i].max_hour_polls;
	/* Fewer than two polls in an hour says little about the interval. */
	if (most >= 2) {
		c->interval_ms = 3600000 / most;
		c->interval_source = "estimate";
	}
}

static int
gather(struct rctx *x, struct rcluster *c)
{
	size_t i;

	if (load_instances(x, c) < 0)
		return -1;
	for (i = 0; i < c->ninst; i++)
		if (load_coverage(x, c, &c->inst[i]) < 0 || count_clients(x, c, &c->inst[i]) < 0)
			return -1;
	pick_interval(x, c);
	return 0;
}

/* Names each client of kind (0 non-SSL, 1 weak TLS) of one instance. */
static int
name_clients(struct rctx *x, const struct rcluster *c, const struct rinst *in, int kind)
{
	sqlite3_stmt *st = x->list_st;
	struct batch b;
	int64_t cur_seen = x->o->since, cur_id = 0;
	char seen[32];
	size_t r;
	int n;

	batch_init(&b);
	do {
		sqlite3_bind_int64(st, 1, in->id);
		sqlite3_bind_int64(st, 2, cur_seen);
		sqlite3_bind_int64(st, 3, cur_id);
		sqlite3_bind_int(st, 4, kind);
		sqlite3_bind_int64(st, 5, x->o->since);
		sqlite3_bind_int(st, 6, BATCH_ROWS);
		if ((n = batch_fill(&b, st, BATCH_ROWS)) < 0) {
			cli_error("%s/%s: listing clients: %s", c->name, in->name,
				  sqlite3_errmsg(x->db));
			batch_free(&b);
			return -1;
		}
		for (r = 0; r < b.nrows; r++) {
			const char *addr = batch_text(&b, r, 4);

			format_time(batch_int(&b, r, 1), seen);
			rout_finding(&x->out, kind == 0 ? SEV_CRITICAL : SEV_WARNING,
				     "%s client on %s: user \"%s\", database \"%s\", address %s, "
				     "application \"%s\", last seen %s: %s",
				     kind == 0 ? "non-SSL" : batch_text(&b, r, 6), in->name,
				     batch_text(&b, r, 2) ? batch_text(&b, r, 2) : "",
				     batch_text(&b, r, 3) ? batch_text(&b, r, 3) : "",
				     addr ? addr : "local socket",
				     batch_text(&b, r, 5) ? batch_text(&b, r, 5) : "", seen,
				     kind == 0 ? "it breaks when rds.force_ssl=1" :
				     "it breaks once TLS 1.2 is the minimum");
		}
		if (n > 0) {
			cur_seen = batch_int(&b, (size_t)n - 1, 1);
			cur_id = batch_int(&b, (size_t)n - 1, 0);
		}
	} while (n == BATCH_ROWS);
	batch_free(&b);
	return 0;
}

static int
findings_critical(struct rctx *x, const struct rcluster *c)
{
	char ca[256], t[32];
	size_t i;

	for (i = 0; c->non_ssl > 0 && i < c->ninst; i++)
		if (name_clients(x, c, &c->inst[i], 0) < 0)
			return -1;
	for (i = 0; i < c->ninst; i++) {
		const struct rinst *in = &c->inst[i];

		if (in->retired)
			continue;
		if (in->issuer != NULL && rdsca_is_old(rdsca_name(in->issuer, ca, sizeof(ca))))
			rout_finding(&x->out, SEV_CRITICAL, "%s presents a certificate of the old "
				     "CA %s: rotate it to rds-ca-rsa2048-g1 (or another G1 CA)",
				     in->name, ca);
		if (in->has_not_after && in->not_after < x->cli->now + CERT_SOON_S) {
			format_time(in->not_after, t);
			rout_finding(&x->out, SEV_CRITICAL, "%s: its server certificate %s %s",
				     in->name, in->not_after < x->cli->now ? "expired" : "expires",
				     t);
		}
		if (in->can_see_all == 0)
			rout_finding(&x->out, SEV_CRITICAL, "%s: the monitoring role cannot see "
				     "other users' sessions, so the history misses their clients: "
				     "grant it pg_monitor (or pg_read_all_stats)", in->name);
	}
	return 0;
}

static void
driver_findings(struct rctx *x, const struct rcluster *c)
{
	size_t i;

	for (i = 0; i < c->nverifying; i++)
		rout_finding(&x->out, SEV_WARNING, "%lld SSL client%s use %s, which verifies the "
			     "server certificate by default when TLS is on (pgjdbc with "
			     "ssl=true, node-postgres): put the new CA in their trust store "
			     "before the rotation", (long long)c->verifying[i].n,
			     c->verifying[i].n == 1 ? "" : "s", c->verifying[i].key);
	if (c->nlibpq > 0) {
		char *list = NULL;
		size_t len = 0;
		int64_t total = 0;
		FILE *f = open_memstream(&list, &len);

		for (i = 0; f != NULL && i < c->nlibpq; i++) {
			total += c->libpq[i].n;
			fprintf(f, "%s%s %lld", i ? ", " : "", c->libpq[i].key,
				(long long)c->libpq[i].n);
		}
		if (f == NULL || fclose(f) != 0) {
			x->out.failed = true;
			return;
		}
		rout_finding(&x->out, SEV_WARNING, "%lld SSL client%s libpq-based (%s): they "
			     "verify the server only with sslmode=verify-ca or verify-full or a "
			     "root.crt; those that do need the new CA", (long long)total,
			     total == 1 ? " is" : "s are", list);
		free(list);
	}
}

static int
findings_warning(struct rctx *x, const struct rcluster *c)
{
	size_t i;

	for (i = 0; c->weak_tls > 0 && i < c->ninst; i++)
		if (name_clients(x, c, &c->inst[i], 1) < 0)
			return -1;
	driver_findings(x, c);
	for (i = 0; i < c->ninst; i++) {
		const struct rinst *in = &c->inst[i];

		if (c->interval_ms > 0 && in->gap_ms > GAP_INTERVALS * c->interval_ms)
			rout_finding(&x->out, SEV_WARNING, "%s: successful polls were up to %.1f s "
				     "apart, over %d intervals of %.1f s: sessions in between may "
				     "be missing", in->name, (double)in->gap_ms / 1000.0,
				     GAP_INTERVALS, (double)c->interval_ms / 1000.0);
		if (in->missed > 0)
			rout_finding(&x->out, SEV_WARNING, "%s: %lld session%s began and ended "
				     "between two polls unseen: lower the interval", in->name,
				     (long long)in->missed, in->missed == 1 ? "" : "s");
		if (!in->retired && in->failures > 0)
			rout_finding(&x->out, SEV_WARNING, "%s: failing, %lld consecutive failed "
				     "polls, last error: %s", in->name, (long long)in->failures,
				     in->last_error ? in->last_error : "(none recorded)");
	}
	return 0;
}

static void
findings_info(struct rctx *x, const struct rcluster *c)
{
	size_t i, retired = 0;
	bool missed_known = false;

	if (c->non_ssl == 0 && c->clients > 0)
		rout_finding(&x->out, SEV_INFO, "every client seen uses SSL: rds.force_ssl=1 "
			     "breaks none of them");
	if (c->interval_ms > 0)
		rout_finding(&x->out, SEV_INFO, "polling interval %.1f s (%s)",
			     (double)c->interval_ms / 1000.0,
			     strcmp(c->interval_source, "config") == 0 ? "from the configuration" :
			     "estimated from the polls per hour");
	else
		rout_finding(&x->out, SEV_INFO, "polling interval unknown (no configuration "
			     "names the cluster and too few polls to estimate it): gaps not judged");
	for (i = 0; i < c->ninst; i++) {
		retired += c->inst[i].retired;
		missed_known |= c->inst[i].missed_known;
	}
	if (!missed_known)
		rout_finding(&x->out, SEV_INFO, "missed sessions cannot be counted here "
			     "(PostgreSQL 13 or older, or no poll yet)");
	if (c->client_sessions > 0)
		rout_finding(&x->out, SEV_INFO, "the next session comes from a client not yet "
			     "recorded with a chance of about %.2f%% (%lld clients seen in one "
			     "session of %lld sessions)",
			     100.0 * (double)c->one_session / (double)c->client_sessions,
			     (long long)c->one_session, (long long)c->client_sessions);
	if (retired > 0)
		rout_finding(&x->out, SEV_INFO, "%zu instance%s retired (no longer polled, "
			     "history kept)", retired, retired == 1 ? " is" : "s are");
}

static int
report_cluster(struct rctx *x, const char *name, bool *non_ssl)
{
	struct rcluster c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if ((c.name = strdup(name)) == NULL) {
		cli_error("out of memory");
		return -1;
	}
	if (gather(x, &c) < 0)
		goto done;
	*non_ssl |= c.non_ssl > 0;
	rout_cluster(&x->out, &c);
	if (findings_critical(x, &c) < 0 || findings_warning(x, &c) < 0)
		goto done;
	findings_info(x, &c);
	rout_cluster_end(&x->out);
	rc = 0;
done:
	free(c.name);
	free_cluster(&c);
	return rc;
}

static int
prepare_all(struct rctx *x)
{
	if (sqlite3_prepare_v2(x->db, inst_sql, -1, &x->inst_st, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(x->db, cov_sql, -1, &x->cov_st, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(x->db, agg_sql, -1, &x->agg_st, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(x->db, list_sql, -1, &x->list_st, NULL) == SQLITE_OK)
		return 0;
	cli_error("preparing the report: %s", sqlite3_errmsg(x->db));
	return -1;
}

static void
finalize_all(struct rctx *x)
{
	sqlite3_finalize(x->inst_st);
	sqlite3_finalize(x->cov_st);
	sqlite3_finalize(x->agg_st);
	sqlite3_finalize(x->list_st);
}

/* The cluster names (bounded by the fleet, not by the clients). */
static int
cluster_names(struct rctx *x, struct strlist *names)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(x->db, "SELECT DISTINCT cluster FROM instance"
			       " WHERE ?1 IS NULL OR cluster = ?1 ORDER BY cluster",
			       -1, &st, NULL) != SQLITE_OK) {
		cli_error("reading clusters: %s", sqlite3_errmsg(x->db));
		return -1;
	}
	sqlite3_bind_text(st, 1, x->o->cluster, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (strlist_add(names, (const char *)sqlite3_column_text(st, 0)) < 0)
			break;
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		cli_error("reading clusters: %s",
			  rc == SQLITE_ROW ? "out of memory" : sqlite3_errmsg(x->db));
		return -1;
	}
	if (x->o->cluster != NULL && names->n == 0) {
		cli_error("no cluster '%s' in the history", x->o->cluster);
		return -1;
	}
	return 0;
}

static int
run_report(struct cli *cli, const struct ropts *o)
{
	struct rctx x;
	struct strlist names = { NULL, 0 };
	bool non_ssl = false;
	size_t i;
	int rc = EXIT_ERROR;

	memset(&x, 0, sizeof(x));
	x.cli = cli;
	x.o = o;
	x.out.fmt = o->fmt;
	x.out.out = stdout;
	if ((x.db = cli_open_ro(cli)) == NULL)
		return EXIT_ERROR;
	if (prepare_all(&x) < 0 || cluster_names(&x, &names) < 0)
		goto done;
	rout_begin(&x.out, cli->now, o->since_set, o->since);
	for (i = 0; i < names.n; i++)
		if (report_cluster(&x, names.v[i], &non_ssl) < 0)
			break;
	if (rout_end(&x.out) < 0) {
		cli_error("writing output failed");
		goto done;
	}
	if (i < names.n)
		goto done;
	rc = o->fail_on_non_ssl && non_ssl ? EXIT_NON_SSL : EXIT_DONE;
done:
	strlist_free(&names);
	finalize_all(&x);
	sqlite3_close(x.db);
	return rc;
}

int
cmd_report(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "cluster", required_argument, NULL, 'C' },
		{ "format", required_argument, NULL, 'f' },
		{ "fail-on-non-ssl", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ropts o = { .since = INT64_MIN, .fmt = FMT_TABLE };
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (!cli_parse_since("report", optarg, c->now, &o.since))
				return EXIT_USAGE;
			o.since_set = true;
			break;
		case 'C':
			o.cluster = optarg;
			break;
		case 'f':
			if (!cli_parse_format("report", optarg, false, &o.fmt))
				return EXIT_USAGE;
			break;
		case 'F':
			o.fail_on_non_ssl = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_DONE;
		case ':':
			return cli_usage_error("report", "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error("report", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("report", "unexpected argument '%s'", argv[optind]);
	return run_report(c, &o);
}
