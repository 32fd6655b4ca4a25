/*
 * findings.c: the report's rules, one row each in `rules` below, and the
 * two passes over them (findings.h): evaluate, then write.
 *
 * A rule's subjects follow from its scope: the cluster, each instance, or
 * each driver that verifies by default. Consecutive rules of one scope are
 * one pass over their subjects, so a run of instance rules reads instance
 * by instance (every rule for the first instance, then for the second),
 * which is how the report has always listed them. The order of the table
 * is the order of the report: most severe first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "findings.h"
#include "parse.h"
#include "rdsca.h"

enum fscope {
	FS_CLUSTER,	/* one subject: the cluster */
	FS_INSTANCE,	/* each of c->inst */
	FS_CLIENTS,	/* each of c->inst; the texts are its clients', streamed */
	FS_VERIFYING,	/* each of c->verifying */
};

/* What a rule looks at: subject i of its scope in cluster c, at `now`. */
struct fview {
	const struct rcluster *c;
	int64_t now;
	size_t i;
};

struct frule {
	const char *name;
	const char *severity;
	enum fscope scope;
	bool (*fires)(const struct fview *v);
	/* The fact (FS_CLIENTS: about one client, `label` naming its kind, NULL
	 * for its TLS version); the advice, if any, follows after ": ". */
	void (*say)(FILE *f, const struct fview *v);
	const char *advice;
	enum rclients kind;	/* FS_CLIENTS */
	const char *label;	/* FS_CLIENTS */
};

#define INST(v) (&(v)->c->inst[(v)->i])

/* ---- conditions ---- */

static bool
non_ssl_clients(const struct fview *v)
{
	return INST(v)->pooler == NULL && INST(v)->non_ssl > 0;
}

/* A pooler's client leg: rds.force_ssl does not reach it. */
static bool
pooler_plain_clients(const struct fview *v)
{
	return INST(v)->pooler != NULL && INST(v)->non_ssl > 0;
}

static bool
pooler_servers(const struct fview *v)
{
	return !INST(v)->retired && INST(v)->pooler != NULL && INST(v)->pooler_servers > 0;
}

static bool
pooler_client_tls(const struct fview *v)
{
	const char *m = INST(v)->pooler_client_tls;

	return !INST(v)->retired && INST(v)->pooler != NULL && m != NULL &&
	       (strcmp(m, "disable") == 0 || strcmp(m, "allow") == 0 || strcmp(m, "prefer") == 0);
}

static bool
weak_tls_clients(const struct fview *v)
{
	return INST(v)->weak_tls > 0;
}

static bool
old_ca(const struct fview *v)
{
	const struct rinst *in = INST(v);
	char ca[256];

	return !in->retired && in->issuer != NULL &&
	       rdsca_is_old(rdsca_name(in->issuer, ca, sizeof(ca)));
}

static bool
cert_soon(const struct fview *v)
{
	const struct rinst *in = INST(v);

	return !in->retired && in->has_not_after && in->not_after < v->now + CERT_SOON_S;
}

static bool
hidden_sessions(const struct fview *v)
{
	return !INST(v)->retired && INST(v)->can_see_all == 0;
}

static bool
always(const struct fview *v)
{
	(void)v;
	return true;
}

static bool
libpq_clients(const struct fview *v)
{
	return v->c->nlibpq > 0;
}

static bool
discovery_failing(const struct fview *v)
{
	return v->c->disc.failures > 0;
}

static bool
poll_gap(const struct fview *v)
{
	return v->c->interval_ms > 0 && INST(v)->gap_ms > GAP_INTERVALS * v->c->interval_ms;
}

static bool
missed_sessions(const struct fview *v)
{
	return INST(v)->missed > 0;
}

static bool
instance_failing(const struct fview *v)
{
	return !INST(v)->retired && INST(v)->failures > 0;
}

static bool
all_ssl(const struct fview *v)
{
	return v->c->non_ssl == 0 && v->c->clients > 0;
}

static bool
interval_known(const struct fview *v)
{
	return v->c->interval_ms > 0;
}

static bool
interval_unknown(const struct fview *v)
{
	return !interval_known(v);
}

static bool
missed_uncounted(const struct fview *v)
{
	for (size_t k = 0; k < v->c->ninst; k++)
		if (v->c->inst[k].missed_known)
			return false;
	return true;
}

static bool
sessions_counted(const struct fview *v)
{
	return v->c->client_sessions > 0;
}

static size_t
retired_count(const struct rcluster *c)
{
	size_t k, n = 0;

	for (k = 0; k < c->ninst; k++)
		n += c->inst[k].retired;
	return n;
}

static bool
any_retired(const struct fview *v)
{
	return retired_count(v->c) > 0;
}

/* ---- texts ---- */

static void
say_old_ca(FILE *f, const struct fview *v)
{
	char ca[256];

	fprintf(f, "%s presents a certificate of the old CA %s", INST(v)->name,
		rdsca_name(INST(v)->issuer, ca, sizeof(ca)));
}

static void
say_cert_soon(FILE *f, const struct fview *v)
{
	const struct rinst *in = INST(v);
	char t[32];

	format_time(in->not_after, t);
	fprintf(f, "%s: its server certificate %s %s", in->name,
		in->not_after < v->now ? "expired" : "expires", t);
}

static void
say_hidden_sessions(FILE *f, const struct fview *v)
{
	fprintf(f, "%s: the monitoring role cannot see other users' sessions, so the history "
		"misses their clients", INST(v)->name);
}

static void
say_verifying(FILE *f, const struct fview *v)
{
	const struct count *d = &v->c->verifying[v->i];

	fprintf(f, "%lld SSL client%s %s, which verifies the server certificate by default "
		"when TLS is on (pgjdbc with ssl=true, node-postgres)", (long long)d->n,
		d->n == 1 ? " uses" : "s use", d->key);
}

static void
say_libpq(FILE *f, const struct fview *v)
{
	const struct rcluster *c = v->c;
	int64_t total = 0;

	for (size_t k = 0; k < c->nlibpq; k++)
		total += c->libpq[k].n;
	fprintf(f, "%lld SSL client%s libpq-based (", (long long)total,
		total == 1 ? " is" : "s are");
	for (size_t k = 0; k < c->nlibpq; k++)
		fprintf(f, "%s%s %lld", k ? ", " : "", c->libpq[k].key, (long long)c->libpq[k].n);
	fputc(')', f);
}

static void
say_discovery(FILE *f, const struct fview *v)
{
	const struct rcluster *c = v->c;
	char at[32], ok[32];

	format_time(c->disc.last_error_at, at);
	if (c->disc.last_success > 0)
		format_time(c->disc.last_success, ok);
	fprintf(f, "instance discovery failing (%lld attempt%s in a row, last %s, last success "
		"%s): %s; the %zu instance%s found before %s still polled, new ones are not",
		(long long)c->disc.failures, plural(c->disc.failures), at,
		c->disc.last_success > 0 ? ok : "never",
		c->disc.last_error ? c->disc.last_error : "(no error recorded)",
		c->active, plural((long long)c->active), c->active == 1 ? "is" : "are");
}

static void
say_poll_gap(FILE *f, const struct fview *v)
{
	fprintf(f, "%s: successful polls were up to %.1f s apart, over %d intervals of %.1f s",
		INST(v)->name, (double)INST(v)->gap_ms / 1000.0, GAP_INTERVALS,
		(double)v->c->interval_ms / 1000.0);
}

static void
say_missed(FILE *f, const struct fview *v)
{
	fprintf(f, "%s: %lld session%s began and ended between two polls unseen",
		INST(v)->name, (long long)INST(v)->missed, plural(INST(v)->missed));
}

static void
say_failing(FILE *f, const struct fview *v)
{
	const struct rinst *in = INST(v);

	fprintf(f, "%s: failing, %lld consecutive failed polls, last error: %s", in->name,
		(long long)in->failures, in->last_error ? in->last_error : "(none recorded)");
}

static void
say_all_ssl(FILE *f, const struct fview *v)
{
	(void)v;
	fputs("every client seen uses SSL", f);
}

static void
say_interval(FILE *f, const struct fview *v)
{
	fprintf(f, "polling interval %.1f s (%s)", (double)v->c->interval_ms / 1000.0,
		strcmp(v->c->interval_source, "config") == 0 ? "from the configuration" :
		"estimated from the polls recorded");
}

static void
say_interval_unknown(FILE *f, const struct fview *v)
{
	(void)v;
	fputs("polling interval unknown (no configuration names the cluster and too few polls "
	      "to estimate it)", f);
}

static void
say_missed_uncounted(FILE *f, const struct fview *v)
{
	(void)v;
	fputs("missed sessions cannot be counted here (PostgreSQL 13 or older, or not yet two "
	      "polls of one instance)", f);
}

static void
say_unseen(FILE *f, const struct fview *v)
{
	const struct rcluster *c = v->c;

	fprintf(f, "the next session comes from a client not yet recorded with a chance of "
		"about %.2f%% (%lld client%s seen in one session only, of %lld session%s)",
		100.0 * (double)c->one_session / (double)c->client_sessions,
		(long long)c->one_session, plural(c->one_session),
		(long long)c->client_sessions, plural(c->client_sessions));
}

static void
say_retired(FILE *f, const struct fview *v)
{
	size_t n = retired_count(v->c);

	fprintf(f, "%zu instance%s retired (no longer polled, history kept)", n,
		n == 1 ? " is" : "s are");
}

static void
say_pooler_trust_store(FILE *f, const struct fview *v)
{
	const struct rinst *in = INST(v);
	const char *mode = in->pooler_server_tls ? in->pooler_server_tls : "unknown";

	fprintf(f, "%s: %lld server connection%s to the cluster (recorded as the pooler, "
		"driver pgbouncer), server_tls_sslmode %s", in->name,
		(long long)in->pooler_servers, plural(in->pooler_servers), mode);
	if (strcmp(mode, "verify-ca") == 0 || strcmp(mode, "verify-full") == 0)
		fprintf(f, ": they verify the server with the pooler's trust store: put the new CA "
			"in its server_tls_ca_file (%s) before the rotation; the applications "
			"behind it verify only the pooler", in->pooler_ca_file && *in->pooler_ca_file ?
			in->pooler_ca_file : "not set: the system's CAs");
	else
		fprintf(f, ": they do not verify the server certificate, so a CA rotation does not "
			"break them (set verify-full and server_tls_ca_file to be safe from a "
			"man in the middle)");
}

static void
say_pooler_client_tls(FILE *f, const struct fview *v)
{
	fprintf(f, "%s: client_tls_sslmode = %s lets applications connect to it in plain "
		"text, whatever rds.force_ssl says", INST(v)->name, INST(v)->pooler_client_tls);
}

/* ---- the rules ---- */

static const struct frule rules[FR_COUNT] = {
	[FR_NON_SSL_CLIENT] = { "non_ssl_client", SEV_CRITICAL, FS_CLIENTS, non_ssl_clients,
		NULL, "it breaks when rds.force_ssl=1", RC_NON_SSL, "non-SSL" },
	[FR_POOLER_PLAIN_CLIENT] = { "pooler_plain_client", SEV_CRITICAL, FS_CLIENTS,
		pooler_plain_clients, NULL, "its leg to the pooler is plain text, which "
		"rds.force_ssl does not reach: set the pooler's client_tls_sslmode to require "
		"(with client_tls_cert_file) and the application's sslmode", RC_NON_SSL, "non-SSL" },
	[FR_OLD_CA] = { "old_ca", SEV_CRITICAL, FS_INSTANCE, old_ca, say_old_ca,
		"rotate it to rds-ca-rsa2048-g1 (or another G1 CA)", 0, NULL },
	[FR_CERT_EXPIRY] = { "cert_expiry", SEV_CRITICAL, FS_INSTANCE, cert_soon, say_cert_soon,
		NULL, 0, NULL },
	[FR_HIDDEN_SESSIONS] = { "hidden_sessions", SEV_CRITICAL, FS_INSTANCE, hidden_sessions,
		say_hidden_sessions, "grant it pg_monitor (or pg_read_all_stats)", 0, NULL },
	[FR_WEAK_TLS_CLIENT] = { "weak_tls_client", SEV_WARNING, FS_CLIENTS, weak_tls_clients,
		NULL, "it breaks once TLS 1.2 is the minimum", RC_WEAK_TLS, NULL },
	[FR_POOLER_TRUST_STORE] = { "pooler_trust_store", SEV_WARNING, FS_INSTANCE,
		pooler_servers, say_pooler_trust_store, NULL, 0, NULL },
	[FR_POOLER_CLIENT_TLS] = { "pooler_client_tls", SEV_WARNING, FS_INSTANCE,
		pooler_client_tls, say_pooler_client_tls, NULL, 0, NULL },
	[FR_VERIFYING_DRIVER] = { "verifying_driver", SEV_WARNING, FS_VERIFYING, always,
		say_verifying, "put the new CA in their trust store before the rotation", 0, NULL },
	[FR_LIBPQ_DRIVERS] = { "libpq_drivers", SEV_WARNING, FS_CLUSTER, libpq_clients, say_libpq,
		"they verify the server only with sslmode=verify-ca or verify-full or a root.crt; "
		"those that do need the new CA", 0, NULL },
	[FR_DISCOVERY_FAILING] = { "discovery_failing", SEV_WARNING, FS_CLUSTER,
		discovery_failing, say_discovery, NULL, 0, NULL },
	[FR_POLL_GAP] = { "poll_gap", SEV_WARNING, FS_INSTANCE, poll_gap, say_poll_gap,
		"sessions in between may be missing", 0, NULL },
	[FR_MISSED_SESSIONS] = { "missed_sessions", SEV_WARNING, FS_INSTANCE, missed_sessions,
		say_missed, "lower the interval", 0, NULL },
	[FR_INSTANCE_FAILING] = { "instance_failing", SEV_WARNING, FS_INSTANCE,
		instance_failing, say_failing, NULL, 0, NULL },
	[FR_ALL_SSL] = { "all_ssl", SEV_INFO, FS_CLUSTER, all_ssl, say_all_ssl,
		"rds.force_ssl=1 breaks none of them", 0, NULL },
	[FR_INTERVAL] = { "interval", SEV_INFO, FS_CLUSTER, interval_known, say_interval,
		NULL, 0, NULL },
	[FR_INTERVAL_UNKNOWN] = { "interval_unknown", SEV_INFO, FS_CLUSTER, interval_unknown,
		say_interval_unknown, "gaps not judged", 0, NULL },
	[FR_MISSED_UNCOUNTED] = { "missed_uncounted", SEV_INFO, FS_CLUSTER, missed_uncounted,
		say_missed_uncounted, NULL, 0, NULL },
	[FR_UNSEEN_ESTIMATE] = { "unseen_estimate", SEV_INFO, FS_CLUSTER, sessions_counted,
		say_unseen, NULL, 0, NULL },
	[FR_RETIRED] = { "retired", SEV_INFO, FS_CLUSTER, any_retired, say_retired, NULL, 0, NULL },
};

const char *
findings_rule_name(enum frule_id rule)
{
	return rules[rule].name;
}

const char *
findings_severity(enum frule_id rule)
{
	return rules[rule].severity;
}

/* ---- evaluating ---- */

static size_t
subjects(const struct rcluster *c, enum fscope scope)
{
	switch (scope) {
	case FS_CLUSTER:
		return 1;
	case FS_INSTANCE:
	case FS_CLIENTS:
		return c->ninst;
	case FS_VERIFYING:
		return c->nverifying;
	}
	return 0;
}

static bool
push(struct fresult *r, enum frule_id rule, size_t subject)
{
	struct foutcome *nv;
	size_t cap;

	if (r->n == r->cap) {
		cap = r->cap ? 2 * r->cap : 16;
		if ((nv = realloc(r->v, cap * sizeof(*nv))) == NULL)
			return false;
		r->v = nv;
		r->cap = cap;
	}
	r->v[r->n++] = (struct foutcome){ rule, subject };
	return true;
}

int
findings_eval(const struct rcluster *c, int64_t now, struct fresult *r)
{
	struct fview v = { c, now, 0 };
	size_t first, end, k, n;

	r->n = 0;
	for (first = 0; first < FR_COUNT; first = end) {
		for (end = first + 1; end < FR_COUNT && rules[end].scope == rules[first].scope; end++)
			;
		n = subjects(c, rules[first].scope);
		for (v.i = 0; v.i < n; v.i++)
			for (k = first; k < end; k++)
				if (rules[k].fires(&v) && !push(r, (enum frule_id)k, v.i))
					return -1;
	}
	return 0;
}

size_t
findings_fired(const struct fresult *r, enum frule_id rule)
{
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		n += r->v[i].rule == rule;
	return n;
}

void
fresult_free(struct fresult *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* ---- writing ---- */

/* Hands the text collected in f (open_memstream on *text), with the
 * rule's advice, to the sink. */
static void
emit(struct fsink *s, const struct frule *rule, FILE *f, char **text)
{
	if (rule->advice != NULL)
		fprintf(f, ": %s", rule->advice);
	if (fclose(f) != 0)
		s->failed = true;
	else
		s->finding(s->arg, rule->severity, *text);
	free(*text);
}

/* The finding of one client of an FS_CLIENTS rule. */
struct client_say {
	struct fsink *s;
	const struct frule *rule;
	const struct rinst *in;
};

static void
say_client(void *arg, const struct rclient *cl)
{
	const struct client_say *cs = arg;
	char seen[32], *text = NULL;
	size_t len;
	FILE *f;

	if ((f = open_memstream(&text, &len)) == NULL) {
		cs->s->failed = true;
		return;
	}
	format_time(cl->last_seen, seen);
	fprintf(f, "%s client on %s: user \"%s\", database \"%s\", address %s, application "
		"\"%s\", last seen %s", cs->rule->label ? cs->rule->label : cl->tls_version,
		cs->in->name, cl->user ? cl->user : "", cl->database ? cl->database : "",
		cl->addr ? cl->addr : "local socket", cl->application ? cl->application : "",
		seen);
	emit(cs->s, cs->rule, f, &text);
}

static int
write_clients(struct fsink *s, const struct rcluster *c, const struct frule *rule,
	      const struct rinst *in)
{
	struct client_say cs = { s, rule, in };
	struct rclient_cb cb = { say_client, &cs };

	return s->clients(s->arg, c, in, rule->kind,
			  rule->kind == RC_NON_SSL ? in->non_ssl : in->weak_tls, &cb);
}

int
findings_write(struct fsink *s, const struct rcluster *c, int64_t now,
	       const struct fresult *r)
{
	struct fview v = { c, now, 0 };
	const struct frule *rule;
	char *text;
	size_t i, len;
	FILE *f;

	for (i = 0; i < r->n; i++) {
		rule = &rules[r->v[i].rule];
		if (rule->scope == FS_CLIENTS) {
			if (write_clients(s, c, rule, &c->inst[r->v[i].subject]) < 0)
				return -1;
			continue;
		}
		text = NULL;
		if ((f = open_memstream(&text, &len)) == NULL) {
			s->failed = true;
			continue;
		}
		v.i = r->v[i].subject;
		rule->say(f, &v);
		emit(s, rule, f, &text);
	}
	return 0;
}
