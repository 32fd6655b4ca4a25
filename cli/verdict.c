/*
 * verdict.c: the per-cluster verdict of verdict.h: two decisions from the
 * client counts, and a table of doubts (what leaves room for a client the
 * history has not seen), each said as a reason.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parse.h"
#include "verdict.h"

#define DAY_S 86400

/*
 * Fed by coverage.unnamed_missed_sessions (cli/report_logs.c): a missed
 * session is named only by an imported server log, so what the logs left
 * unnamed is what keeps the verdict open. -1 when no instance of the
 * cluster could count any.
 */
int64_t
verdict_unnamed_missed(const struct rcluster *c)
{
	int64_t n = 0;
	bool known = false;

	for (size_t i = 0; i < c->ninst; i++) {
		if (c->inst[i].missed_known) {
			known = true;
			n += c->inst[i].unnamed;
		}
	}
	return known ? n : -1;
}

const char *
verdict_force_name(enum verdict_force f)
{
	return f == VF_SAFE ? "safe" : f == VF_UNSAFE ? "unsafe" : "unknown";
}

const char *
verdict_rotation_name(enum verdict_rotation r)
{
	return r == VROT_READY ? "ready" : r == VROT_ACTION ? "action" : "unknown";
}

/* ---- doubts ---- */

/* Subject i of a doubt: an active instance, or (cluster doubts) none. */
struct dview {
	const struct verdict_input *in;
	const struct rinst *i;
};

static int64_t
window_start(const struct dview *v)
{
	return v->i->added_at > v->in->since ? v->i->added_at : v->in->since;
}

static bool
unnamed_missed(const struct dview *v)
{
	return v->in->unnamed_missed > 0;
}

static bool
never_polled(const struct dview *v)
{
	return v->i->polls - v->i->failed <= 0 && v->i->failures == 0;
}

static bool
uncounted(const struct dview *v)
{
	return !v->i->missed_known && v->i->polls - v->i->failed > 0;
}

static bool
failing(const struct dview *v)
{
	return v->i->failures > 0;
}

static bool
blind(const struct dview *v)
{
	return v->i->can_see_all == 0;
}

static bool
discovery_failing(const struct dview *v)
{
	return v->in->c->disc.failures > 0;
}

static int64_t
min_history(const struct verdict_input *in)
{
	return in->min_history_s > 0 ? in->min_history_s : DAY_S;
}

static bool
short_history(const struct dview *v)
{
	return v->in->now - window_start(v) < min_history(v->in);
}

static void
say_unnamed(FILE *f, const struct dview *v)
{
	int64_t n = v->in->unnamed_missed;

	fprintf(f, "%lld missed session%s, begun and ended between two polls, no log named",
		(long long)n, plural(n));
}

static void
say_never_polled(FILE *f, const struct dview *v)
{
	fprintf(f, "%s: no successful poll in the history", v->i->name);
}

static void
say_uncounted(FILE *f, const struct dview *v)
{
	int ver = v->i->server_version_num;

	if (ver > 0 && ver < 140000)
		fprintf(f, "%s: PostgreSQL %d cannot count missed sessions", v->i->name,
			ver / 10000);
	else
		fprintf(f, "%s: missed sessions not counted yet, fewer than two polls",
			v->i->name);
}

static void
say_failing(FILE *f, const struct dview *v)
{
	fprintf(f, "%s: failing, %lld polls in a row", v->i->name, (long long)v->i->failures);
}

static void
say_blind(FILE *f, const struct dview *v)
{
	fprintf(f, "%s: the monitoring role cannot see other users' sessions", v->i->name);
}

static void
say_discovery(FILE *f, const struct dview *v)
{
	int64_t n = v->in->c->disc.failures;

	fprintf(f, "instance discovery failing, %lld attempt%s in a row: new instances are "
		"not polled", (long long)n, plural(n));
}

static void
say_short(FILE *f, const struct dview *v)
{
	char t[32];

	format_time(window_start(v), t);
	if (min_history(v->in) == DAY_S) {
		fprintf(f, "%s: history only since %s, less than a day", v->i->name, t);
	} else {
		char d[32];

		format_duration(min_history(v->in) * 1000, d, sizeof(d));
		fprintf(f, "%s: history only since %s, less than --min-history %s",
			v->i->name, t, d);
	}
}

/* The doubts, in the order said: cluster-wide first, then per instance. */
static const struct doubt {
	bool per_instance;	/* each active (not retired) instance; else once */
	bool (*holds)(const struct dview *v);
	void (*say)(FILE *f, const struct dview *v);
} doubts[] = {
	{ false, unnamed_missed, say_unnamed },
	{ false, discovery_failing, say_discovery },
	{ true, never_polled, say_never_polled },
	{ true, failing, say_failing },
	{ true, blind, say_blind },
	{ true, uncounted, say_uncounted },
	{ true, short_history, say_short },
};

/* ---- the verdict ---- */

static int
add_reason(struct verdict *v, unsigned applies, char *text)
{
	struct verdict_reason *nr;

	if (text == NULL)
		return -1;
	nr = realloc(v->reasons, (v->nreasons + 1) * sizeof(*nr));
	if (nr == NULL) {
		free(text);
		return -1;
	}
	v->reasons = nr;
	nr[v->nreasons++] = (struct verdict_reason){ applies, text };
	return 0;
}

/* Runs say(f, ...) into a new string; NULL out of memory. */
static char *
said(void (*say)(FILE *f, const struct dview *v), const struct dview *v)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	say(f, v);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* The clients whose own connection reaches the server: a leg from an
 * application to a [pooler] ends at the pooler, so rds.force_ssl never sees
 * it and the server's CA never verifies it (findings name those legs). */
static int64_t
server_non_ssl(const struct rcluster *c)
{
	return c->non_ssl - c->pooler_plain;
}

static int64_t
server_ssl(const struct rcluster *c)
{
	return c->ssl - c->pooler_tls;
}

static void
say_unsafe(FILE *f, const struct dview *v)
{
	const struct rcluster *c = v->in->c;
	int64_t nonssl = server_non_ssl(c);
	size_t k, n = 0;

	fprintf(f, "%lld non-SSL client%s", (long long)nonssl, plural(nonssl));
	for (k = 0; k < c->ninst; k++)
		if (c->inst[k].non_ssl > 0 && c->inst[k].pooler == NULL)
			fprintf(f, "%s%s", n++ ? ", " : " on ", c->inst[k].name);
	fprintf(f, ": rds.force_ssl=1 would refuse %s", nonssl == 1 ? "it" : "them");
}

static void
say_safe(FILE *f, const struct dview *v)
{
	const struct rcluster *c = v->in->c;

	if (c->clients == 0)
		fputs("no client seen", f);
	else if (c->pooler_plain > 0)
		fprintf(f, "every client that reaches the server uses SSL; %lld plain leg%s to a "
			"pooler end%s there (see findings)", (long long)c->pooler_plain,
			plural(c->pooler_plain), c->pooler_plain == 1 ? "s" : "");
	else
		fprintf(f, "%s %lld client%s seen use%s SSL", c->clients == 1 ? "the" : "all",
			(long long)c->clients, plural(c->clients), c->clients == 1 ? "s" : "");
}

static void
say_action(FILE *f, const struct dview *v)
{
	const struct rcluster *c = v->in->c;
	int64_t verifying = 0;

	for (size_t k = 0; k < c->nverifying; k++)
		verifying += c->verifying[k].n;
	/* "may": a server never sees the client's sslmode. */
	fprintf(f, "%lld SSL client%s may verify the server certificate",
		(long long)server_ssl(c), plural(server_ssl(c)));
	if (verifying > 0)
		fprintf(f, ", %lld with a driver that does by default", (long long)verifying);
	fputs(": put the new CA in their trust store before the rotation", f);
}

static void
say_ready(FILE *f, const struct dview *v)
{
	(void)v;
	fputs("no SSL client seen: a new server certificate breaks none", f);
}

/* Adds every doubt that holds as a reason applying to `applies`; counts
 * them in *n. */
static int
add_doubts(const struct verdict_input *in, struct verdict *v, unsigned applies, size_t *n)
{
	const struct rcluster *c = in->c;
	struct dview dv = { in, NULL };

	*n = 0;
	for (size_t d = 0; d < sizeof(doubts) / sizeof(doubts[0]); d++) {
		for (size_t k = 0; k < (doubts[d].per_instance ? c->ninst : 1); k++) {
			dv.i = doubts[d].per_instance ? &c->inst[k] : NULL;
			if (dv.i != NULL && dv.i->retired)
				continue;
			if (!doubts[d].holds(&dv))
				continue;
			(*n)++;
			if (applies != 0 && add_reason(v, applies, said(doubts[d].say, &dv)) < 0)
				return -1;
		}
	}
	return 0;
}

int
verdict_eval(const struct verdict_input *in, struct verdict *v)
{
	const struct rcluster *c = in->c;
	struct dview dv = { in, NULL };
	unsigned undecided = 0;
	size_t ndoubts;

	memset(v, 0, sizeof(*v));
	if (add_doubts(in, v, 0, &ndoubts) < 0)
		return -1;
	if (server_non_ssl(c) > 0) {
		v->force_ssl = VF_UNSAFE;
		if (add_reason(v, VERDICT_FORCE_SSL, said(say_unsafe, &dv)) < 0)
			goto nomem;
	} else if (ndoubts > 0) {
		undecided |= VERDICT_FORCE_SSL;
	} else {
		v->force_ssl = VF_SAFE;
		if (add_reason(v, VERDICT_FORCE_SSL, said(say_safe, &dv)) < 0)
			goto nomem;
	}
	if (server_ssl(c) > 0) {
		v->rotation = VROT_ACTION;
		if (add_reason(v, VERDICT_ROTATION, said(say_action, &dv)) < 0)
			goto nomem;
	} else if (ndoubts > 0) {
		undecided |= VERDICT_ROTATION;
	} else {
		v->rotation = VROT_READY;
		if (add_reason(v, VERDICT_ROTATION, said(say_ready, &dv)) < 0)
			goto nomem;
	}
	if (undecided != 0 && add_doubts(in, v, undecided, &ndoubts) < 0)
		goto nomem;
	return 0;
nomem:
	verdict_free(v);
	return -1;
}

void
verdict_free(struct verdict *v)
{
	for (size_t i = 0; i < v->nreasons; i++)
		free(v->reasons[i].text);
	free(v->reasons);
	memset(v, 0, sizeof(*v));
}
