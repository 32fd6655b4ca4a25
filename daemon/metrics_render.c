/*
 * metrics_render.c: the registry (metrics_int.h) as Prometheus text
 * exposition format 0.0.4: one `# HELP` and `# TYPE` line per family, its
 * samples right after, label values escaped once when an instance or a
 * count is first named (metrics.c) and copied from then on, so a scrape
 * of a large fleet is mostly memcpy (bench/metrics_bench.py).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"
#include "utf8.h"

size_t
metrics_escape_label(const char *s, char *dst, size_t cap)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), i = 0, o = 0;
	uint32_t cp;

	while (i < n && o + 4 <= cap) {
		size_t l;

		if (p[i] == '\\' || p[i] == '"') {
			dst[o++] = '\\';
			dst[o++] = (char)p[i++];
		} else if (p[i] == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
			i++;
		} else if (p[i] < 0x80) {
			dst[o++] = (char)p[i++];
		} else if ((l = utf8_decode(p + i, n - i, &cp)) > 0) {
			if (o + l + 1 > cap)
				break;
			memcpy(dst + o, p + i, l);
			o += l;
			i += l;
		} else {	/* U+FFFD for a byte that starts no character */
			memcpy(dst + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	if (cap > 0)
		dst[o < cap ? o : cap - 1] = '\0';
	return o;
}

/* ---- the output buffer ------------------------------------------------ */

static void
reserve(struct metrics *m, size_t more)
{
	size_t cap;
	char *p;

	if (m->oom || m->outlen + more <= m->outcap)
		return;
	cap = m->outcap ? m->outcap : 4096;
	while (cap < m->outlen + more)
		cap *= 2;
	if ((p = realloc(m->out, cap)) == NULL) {
		m->oom = true;
		return;
	}
	m->out = p;
	m->outcap = cap;
}

static void
put(struct metrics *m, const char *s, size_t n)
{
	reserve(m, n);
	if (m->oom)
		return;
	memcpy(m->out + m->outlen, s, n);
	m->outlen += n;
}

#define PUTS(m, lit) put((m), (lit), sizeof(lit) - 1)

static void
put_str(struct metrics *m, const char *s)
{
	put(m, s, strlen(s));
}

static void
put_u64(struct metrics *m, uint64_t v)
{
	char b[24];
	size_t i = sizeof(b);

	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(m, b + i, sizeof(b) - i);
}

static void
put_i64(struct metrics *m, int64_t v)
{
	if (v < 0) {
		PUTS(m, "-");
		put_u64(m, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(m, (uint64_t)v);
	}
}

static void
family(struct metrics *m, const char *name, const char *type, const char *help)
{
	PUTS(m, "# HELP ");
	put_str(m, name);
	PUTS(m, " ");
	put_str(m, help);
	PUTS(m, "\n# TYPE ");
	put_str(m, name);
	PUTS(m, " ");
	put_str(m, type);
	PUTS(m, "\n");
}

/* name{l1,l2} (labels already escaped; l2 may be NULL) and the value's
 * separator: the caller puts the value and "\n". */
static void
sample(struct metrics *m, const char *name, const char *l1, const char *l2)
{
	put_str(m, name);
	PUTS(m, "{");
	put_str(m, l1);
	if (l2 != NULL) {
		PUTS(m, ",");
		put_str(m, l2);
	}
	PUTS(m, "} ");
}

/* ---- the families ----------------------------------------------------- */

static bool
shown(const struct minst *in)
{
	return in->named && in->present;
}

static void
per_instance(struct metrics *m, const char *name, const char *type, const char *help,
	     int which)
{
	family(m, name, type, help);
	for (size_t i = 0; i < m->ninst; i++) {
		const struct minst *in = m->inst[i];
		uint64_t v;

		if (!shown(in) || (which == 4 && !in->cert_known))
			continue;
		sample(m, name, in->label, NULL);
		switch (which) {
		case 0: v = in->up; break;
		case 1: v = in->polls; break;
		case 2: v = in->failures; break;
		case 3: v = in->missed; break;
		default:
			put_i64(m, in->cert_not_after);
			PUTS(m, "\n");
			continue;
		}
		put_u64(m, v);
		PUTS(m, "\n");
	}
}

static void
clients(struct metrics *m)
{
	family(m, "sslhist_clients", "gauge",
	       "Clients recorded (distinct client identities, as sslhist clients lists them), "
	       "by instance, ssl and TLS version.");
	for (size_t i = 0; i < m->ninst; i++) {
		const struct minst *in = m->inst[i];

		if (!shown(in))
			continue;
		for (size_t j = 0; j < in->ncounts; j++) {
			sample(m, "sslhist_clients", in->label, in->counts[j].label);
			put_u64(m, in->counts[j].n);
			PUTS(m, "\n");
		}
	}
}

static void
non_ssl(struct metrics *m)
{
	for (size_t c = 0; c < m->nclusters; c++) {
		m->clusters[c].non_ssl = 0;
		m->clusters[c].shown = false;
	}
	for (size_t i = 0; i < m->ninst; i++) {
		const struct minst *in = m->inst[i];
		struct mcluster *c;

		if (!shown(in))
			continue;
		c = &m->clusters[in->cluster];
		c->shown = true;
		for (size_t j = 0; j < in->ncounts; j++)
			if (!in->counts[j].ssl)
				c->non_ssl += in->counts[j].n;
	}
	family(m, "sslhist_non_ssl_clients", "gauge",
	       "Clients recorded that connected without SSL, per cluster.");
	for (size_t c = 0; c < m->nclusters; c++) {
		if (!m->clusters[c].shown)
			continue;
		put_str(m, "sslhist_non_ssl_clients{");
		put_str(m, m->clusters[c].label);
		PUTS(m, "} ");
		put_u64(m, m->clusters[c].non_ssl);
		PUTS(m, "\n");
	}
}

static void
hooks(struct metrics *m)
{
	family(m, "sslhist_hooks_total", "counter",
	       "Alert hook attempts that ended, by event and outcome.");
	for (size_t e = 0; e < METRICS_N_EVENTS; e++) {
		for (size_t o = 0; o < METRICS_N_OUTCOMES; o++) {
			PUTS(m, "sslhist_hooks_total{event=\"");
			put_str(m, metrics_events[e]);
			PUTS(m, "\",outcome=\"");
			put_str(m, metrics_outcomes[o]);
			PUTS(m, "\"} ");
			put_u64(m, m->hooks[e][o]);
			PUTS(m, "\n");
		}
	}
}

const char *
metrics_render(struct metrics *m, size_t store_queue, size_t *len)
{
	m->outlen = 0;
	m->oom = false;
	clients(m);
	non_ssl(m);
	per_instance(m, "sslhist_instance_up", "gauge",
		     "1 when the last poll of the instance succeeded, else 0.", 0);
	per_instance(m, "sslhist_polls_total", "counter",
		     "Polls attempted since the daemon started, failed ones included.", 1);
	per_instance(m, "sslhist_poll_failures_total", "counter",
		     "Polls that failed since the daemon started.", 2);
	per_instance(m, "sslhist_missed_sessions_total", "counter",
		     "Sessions that began and ended between two polls, unseen "
		     "(pg_stat_database.sessions, PostgreSQL 14 and later).", 3);
	per_instance(m, "sslhist_server_cert_expiry_timestamp_seconds", "gauge",
		     "notAfter of the certificate the server presented to the daemon, Unix time.",
		     4);
	hooks(m);
	family(m, "sslhist_store_queue", "gauge",
	       "Poll results waiting for the store (held while it fails).");
	PUTS(m, "sslhist_store_queue ");
	put_u64(m, store_queue);
	PUTS(m, "\n");
	reserve(m, 1);
	if (m->oom)
		return NULL;
	m->out[m->outlen] = '\0';	/* not part of *len: for C callers */
	*len = m->outlen;
	return m->out;
}
