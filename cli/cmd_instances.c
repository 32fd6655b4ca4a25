/*
 * cmd_instances.c: `sslhist instances`, every instance ever polled.
 *
 * Read in batches along the (cluster, host, port) key; each batch sums the
 * hourly coverage rows of its own instances only (primary key range), so
 * the work stays linear in the size of the history.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cli.h"
#include "rdsca.h"

static const char usage_text[] =
	"usage: sslhist instances [--cluster NAME] [--format table|json|csv]\n"
	"\n"
	"Lists every instance ever polled: role, state (ok, failing, unknown, or\n"
	"retired: no longer polled, history kept), last success and error, server\n"
	"version, ssl and rds.force_ssl settings, whether the monitoring role sees\n"
	"every session, the server certificate with its CA, and the poll coverage.\n"
	"\n"
	"  --cluster NAME   only this cluster\n"
	"  --format F       table (default), json or csv\n";

enum {
	Q_CLUSTER, Q_HOST, Q_PORT, Q_ROLE, Q_STATE, Q_LAST_SUCCESS, Q_LAST_ERROR,
	Q_LAST_ERROR_AT, Q_FAILURES, Q_VERSION, Q_SSL, Q_FORCE_SSL, Q_ALL_SESSIONS,
	Q_SUBJECT, Q_ISSUER, Q_NOT_BEFORE, Q_NOT_AFTER, Q_SHA256, Q_COV_SINCE, Q_POLLS,
	Q_FAILED, Q_GAP_MS, Q_POOLER,
};

static const char batch_sql[] =
	"WITH b AS (SELECT id FROM instance"
	"  WHERE (?1 IS NULL OR cluster = ?1) AND (?5 OR (cluster, host, port) > (?2, ?3, ?4))"
	"  ORDER BY cluster, host, port LIMIT ?6)"
	" SELECT i.cluster, i.host, i.port, i.role,"
	"  CASE WHEN i.retired_at IS NOT NULL THEN 'retired'"
	"   WHEN i.consecutive_failures > 0 THEN 'failing'"
	"   WHEN i.last_success IS NOT NULL THEN 'ok' ELSE 'unknown' END,"
	"  i.last_success, i.last_error, i.last_error_at, i.consecutive_failures,"
	"  i.server_version, i.ssl_enabled, i.force_ssl, i.can_see_all_sessions,"
	"  i.cert_subject, i.cert_issuer, i.cert_not_before, i.cert_not_after, i.cert_sha256,"
	"  min(v.hour), coalesce(sum(v.polls), 0), coalesce(sum(v.failed_polls), 0),"
	"  coalesce(max(v.largest_gap_ms), 0), i.pooler"
	" FROM b JOIN instance i ON i.id = b.id"
	" LEFT JOIN coverage v ON v.instance_id = i.id"
	" GROUP BY i.id ORDER BY i.cluster, i.host, i.port";

static const struct col cols[] = {
	{ "cluster", "CLUSTER", COL_STR, 0, 20 },
	{ "instance", "INSTANCE", COL_STR, 0, 64 },
	{ "host", "HOST", COL_STR, COL_NO_TABLE, 0 },
	{ "port", "PORT", COL_INT, COL_NO_TABLE, 0 },
	{ "role", "ROLE", COL_STR, 0, 0 },
	{ "state", "STATE", COL_STR, 0, 0 },
	{ "last_success", "LAST SUCCESS", COL_TIME, 0, 0 },
	{ "last_error", "LAST ERROR", COL_STR, 0, 30 },
	{ "last_error_at", "LAST ERROR AT", COL_TIME, COL_NO_TABLE, 0 },
	{ "consecutive_failures", "FAILS", COL_INT, 0, 0 },
	{ "server_version", "VERSION", COL_STR, 0, 20 },
	{ "ssl_enabled", "SSL", COL_BOOL, 0, 0 },
	{ "force_ssl", "FORCE_SSL", COL_STR, 0, 0 },
	{ "can_see_all_sessions", "SEES ALL", COL_BOOL, 0, 0 },
	{ "server_cert.subject", "CERT SUBJECT", COL_STR, COL_NO_TABLE | COL_GROUP_NULL, 0 },
	{ "server_cert.issuer", "CERT ISSUER", COL_STR, COL_NO_TABLE, 0 },
	{ "server_cert.not_before", "CERT FROM", COL_TIME, COL_NO_TABLE, 0 },
	{ "server_cert.not_after", "CERT EXPIRES", COL_TIME, 0, 0 },
	{ "server_cert.sha256", "CERT SHA256", COL_STR, COL_NO_TABLE, 0 },
	{ "ca", "CA", COL_STR, COL_TABLE_ONLY, 24 },
	{ "coverage.since", "COVERED SINCE", COL_TIME, COL_NO_TABLE, 0 },
	{ "coverage.polls", "POLLS", COL_INT, 0, 0 },
	{ "coverage.failed_polls", "FAILED", COL_INT, 0, 0 },
	{ "coverage.largest_gap_s", "MAX GAP S", COL_SECONDS, 0, 0 },
	/* A [pooler]'s row (sql/006_pooler.sql): its name; null for an instance. */
	{ "pooler", "POOLER", COL_STR, COL_NO_TABLE, 0 },
	/* only with several --db: the files that recorded the instance; last,
	 * so that one --db leaves it out (NCOLS - 1) */
	{ "sources", "SOURCES", COL_LIST, COL_NO_TABLE, 0 },
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

/* The files of the merged history (lib/histmerge.h) with bit k of
 * temp.instance.source_mask set for file k. */
static const char sources_sql[] =
	"SELECT source_mask FROM temp.instance WHERE cluster = ?1 AND host = ?2 AND port = ?3";

struct instances_src {
	sqlite3 *db;
	sqlite3_stmt *st;
	const char *cluster;
	struct batch b;
	size_t row;
	bool loaded, more;
	/* cursor: the key of the last row read */
	char *cur_cluster, *cur_host;
	int64_t cur_port;
	char name[1100], ca[1024];
	const struct cli *cli;
	sqlite3_stmt *sources;	/* several --db only */
	char *list;
};

/* The '\n'-joined paths of the files that recorded the current row. */
static const char *
row_sources(struct instances_src *s)
{
	const struct batch *b = &s->b;
	int64_t mask = 0;
	size_t len = 0;

	sqlite3_bind_text(s->sources, 1, batch_text(b, s->row, Q_CLUSTER), -1, SQLITE_STATIC);
	sqlite3_bind_text(s->sources, 2, batch_text(b, s->row, Q_HOST), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->sources, 3, batch_int(b, s->row, Q_PORT));
	if (sqlite3_step(s->sources) == SQLITE_ROW)
		mask = sqlite3_column_int64(s->sources, 0);
	sqlite3_reset(s->sources);
	free(s->list);
	for (size_t k = 0; k < s->cli->ndbs; k++)
		len += strlen(s->cli->dbs[k]) + 1;
	if ((s->list = malloc(len + 1)) == NULL)
		return NULL;
	s->list[0] = '\0';
	for (size_t k = 0; k < s->cli->ndbs && k < 63; k++) {
		if (!(mask & ((int64_t)1 << k)))
			continue;
		if (s->list[0] != '\0')
			strcat(s->list, "\n");
		strcat(s->list, s->cli->dbs[k]);
	}
	return s->list;
}

static int
fetch(struct instances_src *s, char *err, size_t errlen)
{
	size_t last;
	int n;

	sqlite3_bind_text(s->st, 1, s->cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->st, 2, s->cur_cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->st, 3, s->cur_host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->st, 4, s->cur_port);
	sqlite3_bind_int(s->st, 5, !s->loaded);
	sqlite3_bind_int(s->st, 6, BATCH_ROWS);
	n = batch_fill(&s->b, s->st, BATCH_ROWS);
	if (n < 0) {
		snprintf(err, errlen, "reading instances: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	s->loaded = true;
	s->row = 0;
	s->more = n == BATCH_ROWS;
	if (n > 0) {
		last = (size_t)n - 1;
		free(s->cur_cluster);
		free(s->cur_host);
		s->cur_cluster = strdup(batch_text(&s->b, last, Q_CLUSTER));
		s->cur_host = strdup(batch_text(&s->b, last, Q_HOST));
		s->cur_port = batch_int(&s->b, last, Q_PORT);
		if (s->cur_cluster == NULL || s->cur_host == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static void
fill_cells(struct instances_src *s, struct cell *c)
{
	const struct batch *b = &s->b;
	size_t r = s->row;
	const char *issuer = batch_text(b, r, Q_ISSUER);

	cell_str(&c[0], batch_text(b, r, Q_CLUSTER));
	cell_str(&c[1], instance_name(batch_text(b, r, Q_HOST), batch_int(b, r, Q_PORT),
				      s->name, sizeof(s->name)));
	cell_str(&c[2], batch_text(b, r, Q_HOST));
	cell_int(&c[3], batch_int(b, r, Q_PORT));
	cell_str(&c[4], batch_text(b, r, Q_ROLE));
	cell_str(&c[5], batch_text(b, r, Q_STATE));
	cell_opt_int(&c[6], batch_val(b, r, Q_LAST_SUCCESS));
	cell_str(&c[7], batch_text(b, r, Q_LAST_ERROR));
	cell_opt_int(&c[8], batch_val(b, r, Q_LAST_ERROR_AT));
	cell_int(&c[9], batch_int(b, r, Q_FAILURES));
	cell_str(&c[10], batch_text(b, r, Q_VERSION));
	cell_opt_int(&c[11], batch_val(b, r, Q_SSL));
	cell_str(&c[12], batch_text(b, r, Q_FORCE_SSL));
	cell_opt_int(&c[13], batch_val(b, r, Q_ALL_SESSIONS));
	cell_str(&c[14], batch_text(b, r, Q_SUBJECT));
	cell_str(&c[15], issuer);
	cell_opt_int(&c[16], batch_val(b, r, Q_NOT_BEFORE));
	cell_opt_int(&c[17], batch_val(b, r, Q_NOT_AFTER));
	cell_str(&c[18], batch_text(b, r, Q_SHA256));
	cell_str(&c[19], issuer ? rdsca_name(issuer, s->ca, sizeof(s->ca)) : NULL);
	cell_opt_int(&c[20], batch_val(b, r, Q_COV_SINCE));
	cell_int(&c[21], batch_int(b, r, Q_POLLS));
	cell_int(&c[22], batch_int(b, r, Q_FAILED));
	c[23].null = false;
	c[23].d = (double)batch_int(b, r, Q_GAP_MS) / 1000.0;
	cell_str(&c[24], batch_text(b, r, Q_POOLER));
	if (s->sources != NULL)
		cell_str(&c[25], row_sources(s));
}

static int
src_next(void *arg, struct cell *cells, char *err, size_t errlen)
{
	struct instances_src *s = arg;

	for (;;) {
		if (s->row < s->b.nrows) {
			fill_cells(s, cells);
			s->row++;
			return 1;
		}
		if (s->loaded && !s->more)
			return 0;
		if (fetch(s, err, errlen) < 0)
			return -1;
	}
}

static int
src_rewind(void *arg, char *err, size_t errlen)
{
	struct instances_src *s = arg;

	(void)err;
	(void)errlen;
	s->loaded = s->more = false;
	s->b.nrows = s->row = 0;
	return 0;
}

static int
list_instances(struct cli *c, const char *cluster, enum out_format fmt)
{
	struct instances_src s;
	struct rowsrc src = { src_next, src_rewind, &s };
	char err[512];
	int rc = EXIT_ERROR;

	memset(&s, 0, sizeof(s));
	s.cluster = cluster;
	s.cli = c;
	batch_init(&s.b);
	if ((s.db = cli_open_ro(c)) == NULL)
		return EXIT_ERROR;
	if (sqlite3_prepare_v2(s.db, batch_sql, -1, &s.st, NULL) != SQLITE_OK ||
	    (c->ndbs > 1 &&
	     sqlite3_prepare_v2(s.db, sources_sql, -1, &s.sources, NULL) != SQLITE_OK)) {
		cli_error("reading instances: %s", sqlite3_errmsg(s.db));
		goto done;
	}
	if (out_rows(stdout, fmt, cols, c->ndbs > 1 ? NCOLS : NCOLS - 1, &src, err,
		     sizeof(err)) < 0)
		cli_error("%s", err);
	else
		rc = EXIT_DONE;
done:
	sqlite3_finalize(s.st);
	sqlite3_finalize(s.sources);
	free(s.list);
	batch_free(&s.b);
	free(s.cur_cluster);
	free(s.cur_host);
	sqlite3_close(s.db);
	return rc;
}

int
cmd_instances(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cluster", required_argument, NULL, 'C' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cluster = NULL;
	enum out_format fmt = FMT_TABLE;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			cluster = optarg;
			break;
		case 'f':
			if (!cli_parse_format("instances", optarg, true, &fmt))
				return EXIT_USAGE;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_DONE;
		default:
			return cli_bad_option("instances", ch, argc, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("instances", "unexpected argument '%s'", argv[optind]);
	return list_instances(c, cluster, fmt);
}
