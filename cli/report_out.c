/*
 * report_out.c: writes the report as the JSON document of docs/CONTRACT.md section 4 or as a table
 * for people. Values from servers go through jsonw (JSON) or textesc
 * (table) and are never printed raw.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parse.h"
#include "rdsca.h"
#include "report.h"
#include "textesc.h"
#include "verdict.h"

/* Flush JSON once this much is buffered: memory stays flat. */
#define FLUSH_AT 65536

static void
jflush(struct rout *o, bool force)
{
	if ((force || o->w.len >= FLUSH_AT) && jsonw_flush(&o->w, o->out) != 0)
		o->failed = true;
}

static void
put_esc(struct rout *o, const char *s)
{
	if (textesc_print(o->out, s, 0) == (size_t)-1)
		o->failed = true;
}

void
rout_begin(struct rout *o, int64_t generated_at, bool since_set, int64_t since)
{
	char t[32];

	o->failed = false;
	if (o->fmt == FMT_JSON) {
		jsonw_init(&o->w);
		jsonw_object_begin(&o->w);
		jsonw_key(&o->w, "generated_at");
		jsonw_time(&o->w, generated_at);
		jsonw_key(&o->w, "since");
		if (since_set)
			jsonw_time(&o->w, since);
		else
			jsonw_null(&o->w);
		jsonw_key(&o->w, "clusters");
		jsonw_array_begin(&o->w);
		return;
	}
	format_time(generated_at, t);
	fprintf(o->out, "sslhist report, generated %s, ", t);
	if (since_set) {
		format_time(since, t);
		fprintf(o->out, "clients seen since %s\n", t);
	} else {
		fprintf(o->out, "whole history\n");
	}
}

/* Distinct CA names (or issuers) of the active instances, in order seen. */
static size_t
distinct_cas(const struct rcluster *c, char (*cas)[256], size_t max)
{
	size_t i, j, n = 0;
	char name[256];

	for (i = 0; i < c->ninst && n < max; i++) {
		if (c->inst[i].retired || c->inst[i].issuer == NULL)
			continue;
		rdsca_name(c->inst[i].issuer, name, sizeof(name));
		for (j = 0; j < n && strcmp(cas[j], name) != 0; j++)
			;
		if (j == n)
			memcpy(cas[n++], name, sizeof(name));
	}
	return n;
}

/* Whether active instance i is the first with its force_ssl value. */
static bool
first_force_ssl(const struct rcluster *c, size_t i)
{
	size_t j;
	const char *v = c->inst[i].force_ssl;

	for (j = 0; j < i; j++) {
		const char *w = c->inst[j].force_ssl;

		if (!c->inst[j].retired && ((v == NULL && w == NULL) ||
					    (v != NULL && w != NULL && strcmp(v, w) == 0)))
			return false;
	}
	return true;
}

struct cov {
	int64_t polls, failed, gap_ms, sessions, single, missed, fast;
	bool missed_known;
	int64_t logged, unnamed;
	int64_t earliest_expiry;
	bool has_expiry;
};

static struct cov
sum_coverage(const struct rcluster *c)
{
	struct cov v;
	size_t i;

	memset(&v, 0, sizeof(v));
	for (i = 0; i < c->ninst; i++) {
		const struct rinst *in = &c->inst[i];

		v.polls += in->polls;
		v.failed += in->failed;
		if (in->gap_ms > v.gap_ms)
			v.gap_ms = in->gap_ms;
		v.sessions += in->sessions;
		v.single += in->single;
		v.missed += in->missed;
		v.fast += in->fast_polls;
		v.missed_known |= in->missed_known;
		v.logged += in->logged;
		v.unnamed += in->unnamed;
		if (!in->retired && in->has_not_after &&
		    (!v.has_expiry || in->not_after < v.earliest_expiry)) {
			v.earliest_expiry = in->not_after;
			v.has_expiry = true;
		}
	}
	return v;
}

static void
json_coverage(struct jsonw *w, const struct rcluster *c, const struct cov *v)
{
	jsonw_key(w, "coverage");
	jsonw_object_begin(w);
	jsonw_key(w, "polls");
	jsonw_int(w, v->polls);
	jsonw_key(w, "failed_polls");
	jsonw_int(w, v->failed);
	jsonw_key(w, "largest_gap_s");
	jsonw_double(w, (double)v->gap_ms / 1000.0);
	jsonw_key(w, "sessions");
	jsonw_int(w, v->sessions);
	jsonw_key(w, "single_poll_sessions");
	jsonw_int(w, v->single);
	jsonw_key(w, "missed_sessions");
	if (v->missed_known)
		jsonw_int(w, v->missed);
	else
		jsonw_null(w);
	jsonw_key(w, "fast_polls");
	jsonw_int(w, v->fast);
	jsonw_key(w, "logged_sessions");
	jsonw_int(w, v->logged);
	jsonw_key(w, "unnamed_missed_sessions");
	if (v->missed_known)
		jsonw_int(w, v->unnamed);
	else
		jsonw_null(w);
	jsonw_key(w, "unseen_client_estimate");
	if (c->client_sessions > 0)
		jsonw_double(w, (double)c->one_session / (double)c->client_sessions);
	else
		jsonw_null(w);
	jsonw_object_end(w);
}

/* The CAs, force_ssl values, expiry and interval of a cluster. */
static void
json_servers(struct jsonw *w, const struct rcluster *c, const struct cov *v)
{
	char cas[64][256];
	size_t i, n = distinct_cas(c, cas, 64);

	jsonw_key(w, "server_cas");
	jsonw_array_begin(w);
	for (i = 0; i < n; i++)
		jsonw_str(w, cas[i]);
	jsonw_array_end(w);
	jsonw_key(w, "force_ssl");
	jsonw_array_begin(w);
	for (i = 0; i < c->ninst; i++)
		if (!c->inst[i].retired && first_force_ssl(c, i))
			jsonw_str(w, c->inst[i].force_ssl);
	jsonw_array_end(w);
	jsonw_key(w, "earliest_cert_expiry");
	if (v->has_expiry)
		jsonw_time(w, v->earliest_expiry);
	else
		jsonw_null(w);
	jsonw_key(w, "interval_s");
	if (c->interval_ms > 0)
		jsonw_double(w, (double)c->interval_ms / 1000.0);
	else
		jsonw_null(w);
	jsonw_key(w, "interval_source");
	jsonw_str(w, c->interval_source);
}

static void
json_time_or_null(struct jsonw *w, const char *key, int64_t t)
{
	jsonw_key(w, key);
	if (t > 0)
		jsonw_time(w, t);
	else
		jsonw_null(w);
}

/* null unless the cluster's instances are discovered. */
static void
json_discovery(struct jsonw *w, const struct rcluster *c)
{
	jsonw_key(w, "discovery");
	if (!c->disc.known) {
		jsonw_null(w);
		return;
	}
	jsonw_object_begin(w);
	json_time_or_null(w, "last_attempt", c->disc.last_attempt);
	json_time_or_null(w, "last_success", c->disc.last_success);
	jsonw_key(w, "last_error");
	jsonw_str(w, c->disc.last_error);
	json_time_or_null(w, "last_error_at", c->disc.last_error_at);
	jsonw_key(w, "consecutive_failures");
	jsonw_int(w, c->disc.failures);
	jsonw_object_end(w);
}

static void
json_verdict(struct jsonw *w, const struct verdict *vd)
{
	jsonw_key(w, "verdict");
	jsonw_object_begin(w);
	jsonw_key(w, "force_ssl");
	jsonw_str(w, verdict_force_name(vd->force_ssl));
	jsonw_key(w, "rotation");
	jsonw_str(w, verdict_rotation_name(vd->rotation));
	jsonw_key(w, "reasons");
	jsonw_array_begin(w);
	for (size_t i = 0; i < vd->nreasons; i++)
		jsonw_str(w, vd->reasons[i].text);
	jsonw_array_end(w);
	jsonw_object_end(w);
}

static void
json_cluster(struct rout *o, const struct rcluster *c, const struct cov *v,
	     const struct verdict *vd)
{
	struct jsonw *w = &o->w;
	size_t i;

	jsonw_object_begin(w);
	jsonw_key(w, "name");
	jsonw_str(w, c->name);
	jsonw_key(w, "instances");
	jsonw_int(w, (int64_t)c->active);
	jsonw_key(w, "clients");
	jsonw_int(w, c->clients);
	jsonw_key(w, "ssl_clients");
	jsonw_int(w, c->ssl);
	jsonw_key(w, "non_ssl_clients");
	jsonw_int(w, c->non_ssl);
	jsonw_key(w, "tls_versions");
	jsonw_object_begin(w);
	for (i = 0; i < c->ntls; i++) {
		jsonw_key(w, c->tls[i].key);
		jsonw_int(w, c->tls[i].n);
	}
	jsonw_object_end(w);
	json_servers(w, c, v);
	json_coverage(w, c, v);
	json_discovery(w, c);
	json_verdict(w, vd);
	jsonw_key(w, "findings");
	jsonw_array_begin(w);
}

static void
table_counts(struct rout *o, const struct count *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		fputs(i ? ", " : "", o->out);
		put_esc(o, v[i].key);
		fprintf(o->out, " %lld", (long long)v[i].n);
	}
	if (n == 0)
		fputs("-", o->out);
}

/* The reasons of verdict vd that explain `which`, as " (a; b)". */
static void
table_reasons(struct rout *o, const struct verdict *vd, unsigned which)
{
	size_t n = 0;

	for (size_t i = 0; i < vd->nreasons; i++) {
		if ((vd->reasons[i].applies & which) != which)
			continue;
		fputs(n++ ? "; " : " (", o->out);
		put_esc(o, vd->reasons[i].text);
	}
	if (n > 0)
		fputc(')', o->out);
}

/* "verdict: force_ssl=X (why), rotation=Y (why)"; reasons that explain
 * both (the doubts when both are unknown) are said once, at the end. */
static void
table_verdict(struct rout *o, const struct verdict *vd)
{
	unsigned both = VERDICT_FORCE_SSL | VERDICT_ROTATION;
	bool shared = vd->force_ssl == VF_UNKNOWN && vd->rotation == VROT_UNKNOWN;

	fprintf(o->out, "  verdict: force_ssl=%s", verdict_force_name(vd->force_ssl));
	if (!shared)
		table_reasons(o, vd, VERDICT_FORCE_SSL);
	fprintf(o->out, ", rotation=%s", verdict_rotation_name(vd->rotation));
	table_reasons(o, vd, shared ? both : VERDICT_ROTATION);
	fputc('\n', o->out);
}

static void
table_cluster(struct rout *o, const struct rcluster *c, const struct cov *v,
	      const struct verdict *vd)
{
	char cas[64][256], t[32];
	size_t i, n = distinct_cas(c, cas, 64);

	fputs("\ncluster ", o->out);
	put_esc(o, c->name);
	fprintf(o->out, ": %zu instance%s, %lld client%s (%lld SSL, %lld non-SSL)\n", c->active,
		plural(c->active), (long long)c->clients, plural(c->clients), (long long)c->ssl,
		(long long)c->non_ssl);
	table_verdict(o, vd);
	fputs("  TLS versions    ", o->out);
	table_counts(o, c->tls, c->ntls);
	fputs("\n  server CAs      ", o->out);
	for (i = 0; i < n; i++) {
		fputs(i ? ", " : "", o->out);
		put_esc(o, cas[i]);
	}
	if (v->has_expiry) {
		format_time(v->earliest_expiry, t);
		fprintf(o->out, "%searliest expiry %s", n ? "; " : "", t);
	} else if (n == 0) {
		fputs("-", o->out);
	}
	fputs("\n  rds.force_ssl   ", o->out);
	for (i = 0, n = 0; i < c->ninst; i++) {
		if (c->inst[i].retired || !first_force_ssl(c, i))
			continue;
		fputs(n++ ? ", " : "", o->out);
		put_esc(o, c->inst[i].force_ssl ? c->inst[i].force_ssl : "(not set)");
	}
	fprintf(o->out, "\n  coverage        %lld poll%s (%lld failed", (long long)v->polls,
		plural(v->polls), (long long)v->failed);
	if (v->fast > 0)
		fprintf(o->out, ", %lld at fast_interval", (long long)v->fast);
	fprintf(o->out, "), largest gap %.1f s, %lld session%s (%lld seen in one poll only), "
		"missed ", (double)v->gap_ms / 1000.0, (long long)v->sessions, plural(v->sessions),
		(long long)v->single);
	if (v->missed_known)
		fprintf(o->out, "%lld", (long long)v->missed);
	else
		fputs("unknown", o->out);
	if (v->logged > 0 && v->missed_known)
		fprintf(o->out, " (%lld not named by a server log)", (long long)v->unnamed);
	if (v->logged > 0)
		fprintf(o->out, ", %lld session%s seen in server logs only", (long long)v->logged,
			plural(v->logged));
	if (c->client_sessions > 0)
		fprintf(o->out, ", unseen-client estimate %.4f",
			(double)c->one_session / (double)c->client_sessions);
	fputs("\n  findings\n", o->out);
}

void
rout_cluster(struct rout *o, const struct rcluster *c, const struct verdict *vd)
{
	struct cov v = sum_coverage(c);

	if (o->fmt == FMT_JSON) {
		json_cluster(o, c, &v, vd);
		jflush(o, false);
	} else {
		table_cluster(o, c, &v, vd);
	}
}

void
rout_finding(struct rout *o, const char *severity, const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->failed = true;
		return;
	}
	if (o->fmt == FMT_JSON) {
		jsonw_object_begin(&o->w);
		jsonw_key(&o->w, "severity");
		jsonw_str(&o->w, severity);
		jsonw_key(&o->w, "text");
		jsonw_str(&o->w, text);
		jsonw_object_end(&o->w);
		jflush(o, false);
	} else {
		fprintf(o->out, "    %-9s ", strcmp(severity, SEV_CRITICAL) == 0 ? "CRITICAL" :
			strcmp(severity, SEV_WARNING) == 0 ? "WARNING" : "INFO");
		put_esc(o, text);
		fputc('\n', o->out);
	}
	free(text);
}

void
rout_cluster_end(struct rout *o)
{
	if (o->fmt == FMT_JSON) {
		jsonw_array_end(&o->w);
		jsonw_object_end(&o->w);
		jflush(o, false);
	}
}

int
rout_end(struct rout *o)
{
	if (o->fmt == FMT_JSON) {
		jsonw_array_end(&o->w);
		jsonw_object_end(&o->w);
		jflush(o, true);
		if (fputc('\n', o->out) == EOF)
			o->failed = true;
		jsonw_free(&o->w);
	}
	if (fflush(o->out) != 0 || ferror(o->out))
		o->failed = true;
	return o->failed ? -1 : 0;
}
