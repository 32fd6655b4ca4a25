/*
 * cmd_alerts.c: `sslhist alerts`, every attempt of every alert hook.
 *
 * One row per attempt recorded in alert_attempt, plus one `pending` row
 * for an alert that waits for its next attempt or runs one that has no
 * row yet. Read in ranges of BATCH_ROWS alert ids, so each read
 * transaction is short and memory is bounded by one range (at most
 * len(hook_retry) + 2 rows per alert).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cli.h"

static const char usage_text[] =
	"usage: sslhist alerts [--since WHEN] [--format table|json|csv]\n"
	"\n"
	"Lists every attempt of every alert hook: event (non-ssl, weak-tls,\n"
	"new-client), the client it is about, attempt number, start, exit status\n"
	"and outcome (ok, failed, timeout, or pending: waiting or running).\n"
	"\n"
	"  --since WHEN     only attempts started since WHEN (pending ones always):\n"
	"                   a duration back from now (7d) or a date or time\n"
	"  --format F       table (default), json or csv\n";

static const char range_sql[] =
	"SELECT max(id) FROM (SELECT id FROM alert WHERE id > ?1 ORDER BY id LIMIT ?2)";

enum {
	Q_EVENT, Q_CLUSTER, Q_HOST, Q_PORT, Q_DATABASE, Q_USER, Q_APPLICATION, Q_ADDR,
	Q_ATTEMPT, Q_STARTED, Q_STATUS, Q_OUTCOME,
};

static const char rows_sql[] =
	"WITH r AS ("
	"  SELECT t.alert_id AS aid, t.attempt AS att, t.started_at AS started,"
	"   t.exit_status AS status, t.outcome AS outcome"
	"  FROM alert_attempt t WHERE t.alert_id > ?1 AND t.alert_id <= ?2"
	"  UNION ALL"
	"  SELECT a.id, (SELECT coalesce(max(attempt), 0) + 1 FROM alert_attempt"
	"    WHERE alert_id = a.id), NULL, NULL, 'pending'"
	"  FROM alert a WHERE a.id > ?1 AND a.id <= ?2 AND a.state IN ('pending', 'running')"
	"   AND NOT EXISTS (SELECT 1 FROM alert_attempt t"
	"    WHERE t.alert_id = a.id AND t.outcome = 'pending'))"
	" SELECT a.event, i.cluster, i.host, i.port, c.database, c.user, c.application,"
	"  c.client_addr, r.att, r.started, r.status, r.outcome"
	" FROM r JOIN alert a ON a.id = r.aid JOIN client c ON c.id = a.client_id"
	"  JOIN instance i ON i.id = c.instance_id"
	" WHERE ?3 IS NULL OR r.started IS NULL OR r.started >= ?3"
	" ORDER BY r.aid, r.att";

static const struct col cols[] = {
	{ "event", "EVENT", COL_STR, 0, 0 },
	{ "cluster", "CLUSTER", COL_STR, 0, 20 },
	{ "instance", "INSTANCE", COL_STR, 0, 64 },
	{ "database", "DATABASE", COL_STR, 0, 32 },
	{ "user", "USER", COL_STR, 0, 32 },
	{ "application", "APPLICATION", COL_STR, 0, 24 },
	{ "client_addr", "ADDRESS", COL_STR, 0, 39 },
	{ "attempt", "ATTEMPT", COL_INT, 0, 0 },
	{ "started_at", "STARTED", COL_TIME, 0, 0 },
	{ "exit_status", "EXIT", COL_INT, 0, 0 },
	{ "outcome", "OUTCOME", COL_STR, 0, 0 },
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

struct alerts_src {
	sqlite3 *db;
	sqlite3_stmt *range, *rows;
	bool since_set;
	int64_t since;
	struct batch b;
	size_t row;
	bool done;
	int64_t cursor;		/* last alert id read */
	char name[1100];
};

static int
fetch(struct alerts_src *s, char *err, size_t errlen)
{
	int64_t hi;
	int rc;

	sqlite3_bind_int64(s->range, 1, s->cursor);
	sqlite3_bind_int(s->range, 2, BATCH_ROWS);
	rc = sqlite3_step(s->range);
	if (rc != SQLITE_ROW) {
		snprintf(err, errlen, "reading alerts: %s", sqlite3_errmsg(s->db));
		sqlite3_reset(s->range);
		return -1;
	}
	if (sqlite3_column_type(s->range, 0) == SQLITE_NULL) {
		sqlite3_reset(s->range);
		s->done = true;
		s->b.nrows = s->row = 0;
		return 0;
	}
	hi = sqlite3_column_int64(s->range, 0);
	sqlite3_reset(s->range);
	sqlite3_bind_int64(s->rows, 1, s->cursor);
	sqlite3_bind_int64(s->rows, 2, hi);
	if (s->since_set)
		sqlite3_bind_int64(s->rows, 3, s->since);
	else
		sqlite3_bind_null(s->rows, 3);
	if (batch_fill(&s->b, s->rows, (size_t)-1) < 0) {
		snprintf(err, errlen, "reading alerts: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	s->row = 0;
	s->cursor = hi;
	return 0;
}

static void
fill_cells(struct alerts_src *s, struct cell *c)
{
	const struct batch *b = &s->b;
	size_t r = s->row;

	cell_str(&c[0], batch_text(b, r, Q_EVENT));
	cell_str(&c[1], batch_text(b, r, Q_CLUSTER));
	cell_str(&c[2], instance_name(batch_text(b, r, Q_HOST), batch_int(b, r, Q_PORT),
				      s->name, sizeof(s->name)));
	cell_str(&c[3], batch_text(b, r, Q_DATABASE));
	cell_str(&c[4], batch_text(b, r, Q_USER));
	cell_str(&c[5], batch_text(b, r, Q_APPLICATION));
	cell_str(&c[6], batch_text(b, r, Q_ADDR));
	cell_opt_int(&c[7], batch_val(b, r, Q_ATTEMPT));
	cell_opt_int(&c[8], batch_val(b, r, Q_STARTED));
	cell_opt_int(&c[9], batch_val(b, r, Q_STATUS));
	cell_str(&c[10], batch_text(b, r, Q_OUTCOME));
}

static int
src_next(void *arg, struct cell *cells, char *err, size_t errlen)
{
	struct alerts_src *s = arg;

	for (;;) {
		if (s->row < s->b.nrows) {
			fill_cells(s, cells);
			s->row++;
			return 1;
		}
		if (s->done)
			return 0;
		if (fetch(s, err, errlen) < 0)
			return -1;
	}
}

static int
src_rewind(void *arg, char *err, size_t errlen)
{
	struct alerts_src *s = arg;

	(void)err;
	(void)errlen;
	s->cursor = 0;
	s->done = false;
	s->b.nrows = s->row = 0;
	return 0;
}

static int
list_alerts(struct cli *c, bool since_set, int64_t since, enum out_format fmt)
{
	struct alerts_src s;
	struct rowsrc src = { src_next, src_rewind, &s };
	char err[512];
	int rc = EXIT_ERROR;

	memset(&s, 0, sizeof(s));
	s.since_set = since_set;
	s.since = since;
	batch_init(&s.b);
	if ((s.db = cli_open_ro(c)) == NULL)
		return EXIT_ERROR;
	if (sqlite3_prepare_v2(s.db, range_sql, -1, &s.range, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s.db, rows_sql, -1, &s.rows, NULL) != SQLITE_OK) {
		cli_error("reading alerts: %s", sqlite3_errmsg(s.db));
		goto done;
	}
	if (out_rows(stdout, fmt, cols, NCOLS, &src, err, sizeof(err)) < 0)
		cli_error("%s", err);
	else
		rc = EXIT_DONE;
done:
	sqlite3_finalize(s.range);
	sqlite3_finalize(s.rows);
	batch_free(&s.b);
	sqlite3_close(s.db);
	return rc;
}

int
cmd_alerts(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum out_format fmt = FMT_TABLE;
	bool since_set = false;
	int64_t since = 0;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (!cli_parse_since("alerts", optarg, c->now, &since))
				return EXIT_USAGE;
			since_set = true;
			break;
		case 'f':
			if (!cli_parse_format("alerts", optarg, true, &fmt))
				return EXIT_USAGE;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_DONE;
		default:
			return cli_bad_option("alerts", ch, argc, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("alerts", "unexpected argument '%s'", argv[optind]);
	return list_alerts(c, since_set, since, fmt);
}
