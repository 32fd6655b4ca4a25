/*
 * fuzz_metrics.c: the /metrics registry and its text (daemon/metrics*.c)
 * with hostile names: the input, split at NUL bytes, is a cluster name, an
 * instance name and the TLS versions of SSL clients (an empty one: a
 * non-SSL client), all in one poll record.
 *
 * Checked: the exposition is valid UTF-8; every line is `# HELP`, `# TYPE`
 * or `name{label="value",...} number` with every value properly escaped
 * (only \\, \" and \n after a backslash, no raw quote or line feed); the
 * cluster and instance labels unescape to the names given when those are
 * valid UTF-8; an instance has at most METRICS_MAX_TLS_LABELS + 2 client
 * series (the cardinality bound); the non-SSL count is the number of
 * non-SSL clients given (each its own application: distinct clients).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "metrics.h"
#include "pollrec.h"

#define MAX_PARTS 40

/* Parses one sample line's labels from p (after '{'); returns the char
 * after '}' and checks every value. want_cluster: the cluster label's
 * expected value (NULL: do not compare). */
static const char *
labels(const char *p, const char *end, const char *want_cluster, const char *want_inst)
{
	char *val = fuzz_xmalloc((size_t)(end - p) + 1);

	while (p < end && *p != '}') {
		const char *name = p;
		size_t n = 0;

		while (p < end && ((*p >= 'a' && *p <= 'z') || *p == '_'))
			p++;
		FUZZ_ASSERT(p + 1 < end && p[0] == '=' && p[1] == '"', "bad label at %.20s", name);
		size_t nlen = (size_t)(p - name);
		p += 2;
		while (p < end && *p != '"') {
			FUZZ_ASSERT(*p != '\n', "raw line feed in a label value");
			if (*p == '\\') {
				FUZZ_ASSERT(p + 1 < end && (p[1] == '\\' || p[1] == '"' || p[1] == 'n'),
					    "bad escape in a label value");
				val[n++] = p[1] == 'n' ? '\n' : p[1];
				p += 2;
			} else {
				val[n++] = *p++;
			}
		}
		FUZZ_ASSERT(p < end, "unterminated label value");
		val[n] = '\0';
		if (nlen == 7 && strncmp(name, "cluster", 7) == 0 && want_cluster)
			FUZZ_ASSERT(strcmp(val, want_cluster) == 0, "cluster label changed");
		if (nlen == 8 && strncmp(name, "instance", 8) == 0 && want_inst)
			FUZZ_ASSERT(strcmp(val, want_inst) == 0, "instance label changed");
		p++;
		if (p < end && *p == ',')
			p++;
	}
	free(val);
	FUZZ_ASSERT(p < end && *p == '}', "labels not closed");
	return p + 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *parts[MAX_PARTS];
	size_t nparts = 0, off = 0, len, nclients = 0, nonssl = 0;
	struct metrics *m = metrics_new();
	struct poll_record *r = calloc(1, sizeof(*r));
	const char *text, *p, *end;

	while (off <= size && nparts < MAX_PARTS) {
		const uint8_t *z = memchr(data + off, 0, size - off);
		size_t n = z ? (size_t)(z - (data + off)) : size - off;

		parts[nparts] = fuzz_xmalloc(n + 1);
		memcpy(parts[nparts], data + off, n);
		parts[nparts++][n] = '\0';
		off += n + 1;
	}
	while (nparts < 2)
		parts[nparts++] = strcpy(fuzz_xmalloc(1), "");
	r->instance_id = 1;
	r->ok = true;
	r->clients = calloc(nparts, sizeof(*r->clients));
	for (size_t i = 2; i < nparts; i++) {
		struct client_key *k = &r->clients[nclients++].key;
		char app[16];

		snprintf(app, sizeof app, "a%zu", i);
		k->application = strdup(app);
		k->ssl = parts[i][0] != '\0';
		k->tls_version = k->ssl ? strdup(parts[i]) : NULL;
		k->bits = -1;
		nonssl += !k->ssl;
	}
	r->nclients = nclients;
	metrics_poll_done(m, parts[0], parts[1], r);
	text = metrics_render(m, 0, &len);
	FUZZ_ASSERT(text != NULL, "render failed");
	FUZZ_ASSERT(ref_utf8_valid((const unsigned char *)text, len), "not UTF-8");
	const char *wc = ref_utf8_valid((const unsigned char *)parts[0], strlen(parts[0])) ?
			 parts[0] : NULL;
	const char *wi = ref_utf8_valid((const unsigned char *)parts[1], strlen(parts[1])) ?
			 parts[1] : NULL;
	size_t client_series = 0;
	long long nonssl_seen = -1;

	for (p = text, end = text + len; p < end; ) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *q = p;

		FUZZ_ASSERT(eol != NULL, "last line without a line feed");
		if (*p == '#') {
			FUZZ_ASSERT(strncmp(p, "# HELP sslhist_", 15) == 0 ||
				    strncmp(p, "# TYPE sslhist_", 15) == 0, "bad comment line");
		} else {
			while (q < eol && ((*q >= 'a' && *q <= 'z') || *q == '_'))
				q++;
			bool is_clients = (size_t)(q - p) == 15 && strncmp(p, "sslhist_clients", 15) == 0;
			bool is_nonssl = strncmp(p, "sslhist_non_ssl_clients{", 24) == 0;

			if (q < eol && *q == '{')
				q = labels(q + 1, eol, wc, wi);
			FUZZ_ASSERT(q < eol && *q == ' ', "no value");
			char *num_end;
			long long v = strtoll(q + 1, &num_end, 10);
			FUZZ_ASSERT(num_end == eol, "bad value");
			client_series += is_clients;
			if (is_nonssl)
				nonssl_seen = v;
		}
		p = eol + 1;
	}
	FUZZ_ASSERT(client_series <= METRICS_MAX_TLS_LABELS + 2, "%zu client series", client_series);
	FUZZ_ASSERT(nonssl_seen == (long long)nonssl, "non-SSL %lld, want %zu", nonssl_seen,
		    nonssl);
	poll_record_free(r);
	metrics_free(m);
	for (size_t i = 0; i < nparts; i++)
		free(parts[i]);
	return 0;
}
