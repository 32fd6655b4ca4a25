/*
 * cmd_report.c: `sslhist report`, per cluster, what an operator needs to
 * know before a CA rotation or before setting rds.force_ssl=1: its options,
 * and the run that loads the model (report_load.c), writes each cluster
 * (report_out.c) with its findings (findings.c) and picks the exit code.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "findings.h"
#include "parse.h"
#include "report.h"
#include "verdict.h"

static const char usage_text[] =
	"usage: sslhist report [--since WHEN] [--cluster NAME] [--format table|json]\n"
	"                      [--fail-on-non-ssl] [--min-history DURATION]\n"
	"\n"
	"Per cluster: a verdict (force_ssl=safe|unsafe|unknown, rotation=ready|action|\n"
	"unknown, with the reasons), instances, clients by SSL and TLS version, the\n"
	"server CAs and certificate expiry, rds.force_ssl, the coverage of the history,\n"
	"and findings, most severe first: what breaks on a CA rotation or with\n"
	"rds.force_ssl=1.\n"
	"\n"
	"  --since WHEN       only clients seen since WHEN: a duration back from now\n"
	"                     (7d) or a date or time (2026-11-01, RFC 3339)\n"
	"  --cluster NAME     only this cluster\n"
	"  --format F         table (default) or json\n"
	"  --fail-on-non-ssl  exit 3 when a non-SSL client was seen (in the window)\n"
	"  --min-history D    the verdict stays unknown for an instance with less\n"
	"                     history than D (default 1d): a weekly job needs 7d\n";

struct ropts {
	struct report_query q;
	enum out_format fmt;
	bool fail_on_non_ssl;
};

struct rctx {
	struct report rep;
	struct rout out;
};

static void
sink_finding(void *arg, const char *severity, const char *text)
{
	struct rctx *x = arg;

	rout_finding(&x->out, severity, "%s", text);
}

static int
sink_clients(void *arg, const struct rcluster *c, const struct rinst *in, enum rclients kind,
	     int64_t want, const struct rclient_cb *cb)
{
	struct rctx *x = arg;

	return report_list_clients(&x->rep, c, in, kind, want, cb);
}

static int
report_cluster(struct rctx *x, const struct rcluster *c, int64_t now)
{
	struct fsink sink = { x, sink_finding, sink_clients, false };
	struct fresult r = { NULL, 0, 0 };
	struct verdict_input vi = { c, now, x->rep.q->since, verdict_unnamed_missed(c),
				    x->rep.q->min_history_s };
	struct verdict vd;
	int rc;

	if (verdict_eval(&vi, &vd) < 0) {
		cli_error("%s: out of memory", c->name);
		return -1;
	}
	rout_cluster(&x->out, c, &vd);
	verdict_free(&vd);
	if (findings_eval(c, now, &r) < 0) {
		cli_error("%s: out of memory", c->name);
		return -1;
	}
	rc = findings_write(&sink, c, now, &r);
	fresult_free(&r);
	if (sink.failed)
		x->out.failed = true;
	if (rc < 0)
		return -1;
	rout_cluster_end(&x->out);
	return 0;
}

static int
run_report(struct cli *cli, const struct ropts *o)
{
	struct rctx x;
	bool non_ssl = false;
	sqlite3 *db;
	size_t i;
	int rc = EXIT_ERROR;

	memset(&x, 0, sizeof(x));
	x.out.fmt = o->fmt;
	x.out.out = stdout;
	if ((db = cli_open_ro(cli)) == NULL)
		return EXIT_ERROR;
	if (report_load(&x.rep, cli, db, &o->q) < 0)
		goto done;
	rout_begin(&x.out, cli->now, o->q.since_set, o->q.since);
	for (i = 0; i < x.rep.ncl; i++) {
		non_ssl |= x.rep.cl[i].non_ssl > 0;
		if (report_cluster(&x, &x.rep.cl[i], cli->now) < 0)
			break;
	}
	if (rout_end(&x.out) < 0) {
		cli_error("writing output failed");
		goto done;
	}
	if (i < x.rep.ncl)
		goto done;
	rc = o->fail_on_non_ssl && non_ssl ? EXIT_NON_SSL : EXIT_DONE;
done:
	report_free(&x.rep);
	sqlite3_close(db);
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
		{ "min-history", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ropts o = { .q.since = INT64_MIN, .fmt = FMT_TABLE };
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (!cli_parse_since("report", optarg, c->now, &o.q.since))
				return EXIT_USAGE;
			o.q.since_set = true;
			break;
		case 'C':
			o.q.cluster = optarg;
			break;
		case 'f':
			if (!cli_parse_format("report", optarg, false, &o.fmt))
				return EXIT_USAGE;
			break;
		case 'F':
			o.fail_on_non_ssl = true;
			break;
		case 'm': {
			int64_t ms;
			const char *e = parse_duration_ms(optarg, &ms);

			if (e != NULL || ms < 1000)
				return cli_usage_error("report", "--min-history '%s': %s", optarg,
						       e ? e : "at least 1s");
			o.q.min_history_s = ms / 1000;
			break;
		}
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_DONE;
		default:
			return cli_bad_option("report", ch, argc, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("report", "unexpected argument '%s'", argv[optind]);
	return run_report(c, &o);
}
