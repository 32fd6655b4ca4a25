/*
 * metrics.c: the /metrics registry (metrics.h): instances by store id,
 * clusters, the set of client digests, hook outcomes. Updated from the
 * poll path and the hooks; rendered by metrics_render.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "metrics_int.h"
#include "pollrec.h"
#include "store.h"
#include "store_metrics.h"

const char *const metrics_events[METRICS_N_EVENTS] = { "non-ssl", "weak-tls", "new-client" };
const char *const metrics_outcomes[METRICS_N_OUTCOMES] = { "ok", "failed", "timeout" };

#define SET_MIN 1024

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->set = calloc(SET_MIN, sizeof(*m->set));
	m->setcap = SET_MIN;
	m->md = EVP_MD_CTX_new();
	if (m->set == NULL || m->md == NULL) {
		metrics_free(m);
		return NULL;
	}
	return m;
}

static void
inst_free(struct minst *in)
{
	for (size_t i = 0; i < in->ncounts; i++) {
		free(in->counts[i].tls);
		free(in->counts[i].label);
	}
	free(in->label);
	free(in);
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->ninst; i++)
		inst_free(m->inst[i]);
	free(m->inst);
	for (size_t i = 0; i < m->nclusters; i++) {
		free(m->clusters[i].name);
		free(m->clusters[i].label);
	}
	free(m->clusters);
	free(m->set);
	EVP_MD_CTX_free(m->md);
	free(m->out);
	free(m);
}

/* ---- instances and clusters ----------------------------------------- */

/* The instance with store id `id`, created (unnamed, not present) when
 * `create`; NULL when absent or out of memory. */
static struct minst *
inst_get(struct metrics *m, int64_t id, bool create)
{
	size_t lo = 0, hi = m->ninst;
	struct minst *in;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->inst[mid]->id == id)
			return m->inst[mid];
		if (m->inst[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!create)
		return NULL;
	if (m->ninst == m->capinst) {
		size_t cap = m->capinst ? 2 * m->capinst : 64;
		struct minst **v = realloc(m->inst, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		m->inst = v;
		m->capinst = cap;
	}
	if ((in = calloc(1, sizeof(*in))) == NULL)
		return NULL;
	in->id = id;
	memmove(&m->inst[lo + 1], &m->inst[lo], (m->ninst - lo) * sizeof(*m->inst));
	m->inst[lo] = in;
	m->ninst++;
	return in;
}

/* `key="value"` pairs, escaped, joined by commas; malloc'd or NULL. */
static char *
label_pairs(const char *k1, const char *v1, const char *k2, const char *v2)
{
	size_t l1 = v1 ? strlen(v1) : 0, l2 = v2 ? strlen(v2) : 0;
	size_t cap = strlen(k1) + strlen(k2) + 3 * (l1 + l2) + 8;
	char *s = malloc(cap);
	size_t n;

	if (s == NULL)
		return NULL;
	n = (size_t)snprintf(s, cap, "%s=\"", k1);
	n += metrics_escape_label(v1, s + n, cap - n);
	n += (size_t)snprintf(s + n, cap - n, "\",%s=\"", k2);
	n += metrics_escape_label(v2, s + n, cap - n);
	snprintf(s + n, cap - n, "\"");
	return s;
}

/* The index of cluster `name`, added when new; (size_t)-1 when out of
 * memory. Clusters stay listed for the daemon's life (a handful of names);
 * only those with present instances are rendered. */
static size_t
cluster_index(struct metrics *m, const char *name)
{
	struct mcluster *c;
	size_t i;

	for (i = 0; i < m->nclusters; i++)
		if (strcmp(m->clusters[i].name, name) == 0)
			return i;
	if (m->nclusters == m->capclusters) {
		size_t cap = m->capclusters ? 2 * m->capclusters : 16;
		struct mcluster *v = realloc(m->clusters, cap * sizeof(*v));

		if (v == NULL)
			return (size_t)-1;
		m->clusters = v;
		m->capclusters = cap;
	}
	c = &m->clusters[m->nclusters];
	memset(c, 0, sizeof(*c));
	c->name = strdup(name);
	c->label = malloc(3 * strlen(name) + 12);
	if (c->name == NULL || c->label == NULL) {
		free(c->name);
		free(c->label);
		return (size_t)-1;
	}
	memcpy(c->label, "cluster=\"", 9);
	size_t n = 9 + metrics_escape_label(name, c->label + 9, 3 * strlen(name) + 1);
	memcpy(c->label + n, "\"", 2);
	return m->nclusters++;
}

static bool
inst_name(struct metrics *m, struct minst *in, const char *cluster, const char *instance)
{
	size_t ci;

	if (in->named)
		return true;
	if ((ci = cluster_index(m, cluster)) == (size_t)-1 ||
	    (in->label = label_pairs("cluster", cluster, "instance", instance)) == NULL)
		return false;
	in->cluster = ci;
	in->named = true;
	return true;
}

/* ---- clients ---------------------------------------------------------- */

static void
md_field(EVP_MD_CTX *md, const char *s)
{
	/* NULL and "" digest alike: the store may hold either for "none". */
	uint32_t len = s ? (uint32_t)strlen(s) : 0;

	EVP_DigestUpdate(md, &len, sizeof(len));
	if (len)
		EVP_DigestUpdate(md, s, len);
}

/* A 64-bit digest of (instance, client identity); 0 when the digest
 * failed (never otherwise: 0 marks an empty slot). */
static uint64_t
client_digest(struct metrics *m, int64_t instance_id, const struct client_key *k)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	int32_t bits = k->bits;
	uint8_t ssl = k->ssl;
	uint64_t h;

	if (!EVP_DigestInit_ex(m->md, EVP_sha256(), NULL))
		return 0;
	EVP_DigestUpdate(m->md, &instance_id, sizeof(instance_id));
	md_field(m->md, k->database);
	md_field(m->md, k->user);
	md_field(m->md, k->application);
	md_field(m->md, k->client_addr);
	EVP_DigestUpdate(m->md, &ssl, 1);
	md_field(m->md, k->tls_version);
	md_field(m->md, k->cipher);
	EVP_DigestUpdate(m->md, &bits, sizeof(bits));
	md_field(m->md, k->client_dn);
	md_field(m->md, k->issuer_dn);
	if (!EVP_DigestFinal_ex(m->md, d, &dlen) || dlen < sizeof(h))
		return 0;
	memcpy(&h, d, sizeof(h));
	return h ? h : 1;
}

static bool
set_grow(struct metrics *m)
{
	size_t cap = m->setcap * 2;
	uint64_t *v = calloc(cap, sizeof(*v));

	if (v == NULL)
		return false;
	for (size_t i = 0; i < m->setcap; i++) {
		size_t j;

		if (m->set[i] == 0)
			continue;
		for (j = m->set[i] & (cap - 1); v[j] != 0; j = (j + 1) & (cap - 1))
			;
		v[j] = m->set[i];
	}
	free(m->set);
	m->set = v;
	m->setcap = cap;
	return true;
}

/* Adds h; true when it was not in the set yet. */
static bool
set_add(struct metrics *m, uint64_t h)
{
	size_t j;

	if (2 * (m->setn + 1) > m->setcap && !set_grow(m)) {
		m->oom = true;
		return false;
	}
	for (j = h & (m->setcap - 1); m->set[j] != 0; j = (j + 1) & (m->setcap - 1))
		if (m->set[j] == h)
			return false;
	m->set[j] = h;
	m->setn++;
	return true;
}

static bool
same_tls(const char *a, const char *b)
{
	return (a == NULL || *a == '\0') ? (b == NULL || *b == '\0') :
	       (b != NULL && strcmp(a, b) == 0);
}

/* The count of (ssl, tls) in `in`, added when new; NULL out of memory.
 * Past METRICS_MAX_TLS_LABELS versions an SSL client goes to the "other"
 * count; the non-SSL count always has its own. */
static struct mcount *
count_of(struct minst *in, bool ssl, const char *tls)
{
	struct mcount *c;
	size_t i, nversions = 0;
	bool other;

	for (i = 0; i < in->ncounts; i++) {
		c = &in->counts[i];
		if (!c->other && c->ssl == ssl && same_tls(c->tls, tls))
			return c;
		nversions += c->ssl && !c->other;
	}
	other = ssl && nversions >= METRICS_MAX_TLS_LABELS;
	if (other) {
		for (i = 0; i < in->ncounts; i++)
			if (in->counts[i].other)
				return &in->counts[i];
	}
	c = &in->counts[in->ncounts];
	memset(c, 0, sizeof(*c));
	c->ssl = ssl;
	c->other = other;
	if (!other && tls != NULL && *tls != '\0' && (c->tls = strdup(tls)) == NULL)
		return NULL;
	c->label = label_pairs("ssl", ssl ? "true" : "false", "tls_version",
			       other ? "other" : c->tls);
	if (c->label == NULL) {
		free(c->tls);
		return NULL;
	}
	in->ncounts++;
	return c;
}

static void
count_client(struct metrics *m, struct minst *in, const struct client_key *k)
{
	struct mcount *c;
	uint64_t h = client_digest(m, in->id, k);

	if (h == 0 || !set_add(m, h))
		return;
	if ((c = count_of(in, k->ssl, k->ssl ? k->tls_version : NULL)) == NULL) {
		m->oom = true;
		return;
	}
	c->n++;
}

static void
seed_client(void *arg, int64_t instance_id, const struct client_key *k)
{
	struct metrics *m = arg;
	struct minst *in = inst_get(m, instance_id, true);

	if (in == NULL) {
		m->oom = true;
		return;
	}
	count_client(m, in, k);
}

int
metrics_load(struct metrics *m, struct store *s)
{
	if (m == NULL)
		return 0;
	if (store_metrics_clients(s, seed_client, m) < 0)
		return -1;
	if (m->oom)
		log_errorx("metrics: out of memory counting the stored clients; "
			   "the client gauges are low");
	m->oom = false;
	return 0;
}

/* ---- the poll path and the hooks -------------------------------------- */

void
metrics_poll_done(struct metrics *m, const char *cluster, const char *instance,
		  const struct poll_record *r)
{
	struct minst *in;

	if (m == NULL)
		return;
	if ((in = inst_get(m, r->instance_id, true)) == NULL || !inst_name(m, in, cluster, instance)) {
		log_errorx("metrics: out of memory; %s/%s not counted", cluster, instance);
		return;
	}
	in->present = true;
	in->polls++;
	in->up = r->ok;
	if (!r->ok) {
		in->failures++;
		return;
	}
	if (r->facts != NULL) {
		in->cert_known = r->facts->cert.not_after > 0;
		in->cert_not_after = r->facts->cert.not_after;
	}
	for (size_t i = 0; i < r->ncounters; i++)
		if (r->counters[i].missed > 0)
			in->missed += (uint64_t)r->counters[i].missed;
	for (size_t i = 0; i < r->nclients; i++)
		count_client(m, in, &r->clients[i].key);
	if (m->oom) {
		log_errorx("metrics: out of memory; new clients of %s/%s not counted",
			   cluster, instance);
		m->oom = false;
	}
}

void
metrics_instance_gone(struct metrics *m, int64_t instance_id)
{
	struct minst *in;

	if (m != NULL && (in = inst_get(m, instance_id, false)) != NULL)
		in->present = false;
}

void
metrics_hook_done(struct metrics *m, const char *event, const char *outcome)
{
	size_t e, o;

	if (m == NULL || event == NULL || outcome == NULL)
		return;
	for (e = 0; e < METRICS_N_EVENTS && strcmp(metrics_events[e], event) != 0; e++)
		;
	for (o = 0; o < METRICS_N_OUTCOMES && strcmp(metrics_outcomes[o], outcome) != 0; o++)
		;
	if (e < METRICS_N_EVENTS && o < METRICS_N_OUTCOMES)
		m->hooks[e][o]++;
}
