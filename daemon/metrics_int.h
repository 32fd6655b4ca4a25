/*
 * metrics_int.h: the registry's memory, shared by metrics.c (updates) and
 * metrics_render.c (the text). No other module includes it.
 */
#ifndef SSLHIST_METRICS_INT_H
#define SSLHIST_METRICS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "metrics.h"

#define METRICS_N_EVENTS 3
#define METRICS_N_OUTCOMES 3
extern const char *const metrics_events[METRICS_N_EVENTS];
extern const char *const metrics_outcomes[METRICS_N_OUTCOMES];

/* Clients of one instance with one (ssl, tls_version). */
struct mcount {
	bool ssl;
	char *tls;		/* raw; NULL: none; "other" bucket: tls_other */
	bool other;
	char *label;		/* `ssl="true",tls_version="TLSv1.3"`, escaped */
	uint64_t n;
};

struct mcluster {
	char *name;
	char *label;		/* `cluster="..."`, escaped */
	/* render scratch */
	uint64_t non_ssl;
	bool shown;
};

struct minst {
	int64_t id;
	bool named;		/* labels known: polled since the start */
	bool present;		/* polled now (not gone) */
	size_t cluster;		/* index into metrics.clusters */
	char *label;		/* `cluster="...",instance="..."`, escaped */
	bool up;
	uint64_t polls, failures, missed;
	bool cert_known;
	int64_t cert_not_after;
	struct mcount counts[METRICS_MAX_TLS_LABELS + 2];	/* + non-SSL, "other" */
	size_t ncounts;
};

struct metrics {
	struct minst **inst;	/* sorted by id */
	size_t ninst, capinst;
	struct mcluster *clusters;
	size_t nclusters, capclusters;
	uint64_t *set;		/* client digests; 0: empty slot */
	size_t setcap, setn;
	uint64_t hooks[METRICS_N_EVENTS][METRICS_N_OUTCOMES];
	EVP_MD_CTX *md;
	/* the last rendering */
	char *out;
	size_t outlen, outcap;
	bool oom;
};

#endif
