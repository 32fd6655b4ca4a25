/*
 * findings.h: the rules that turn one cluster of the report's model
 * (report.h) into findings: critical (something breaks on a CA rotation or
 * with rds.force_ssl=1, or the history cannot tell), warning, info. Each
 * rule is written once, as a row of findings.c's table: its severity, its
 * condition, its text and its advice.
 *
 * Two steps, so that more than the list of findings can be read off one
 * evaluation (a per-cluster verdict is one more reader of the outcomes):
 *   findings_eval()   which rules fire, and for which subject (the cluster,
 *                     one of its instances, one driver count), in the order
 *                     the report prints them; pure: no I/O, no clock;
 *   findings_write()  the text of each outcome, to a sink. The two rules
 *                     that name clients (non-SSL, TLS below 1.2) ask the
 *                     sink to stream them from the history: they can be many.
 */
#ifndef SSLHIST_FINDINGS_H
#define SSLHIST_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

/* The rules, in the order the report prints their findings. */
enum frule_id {
	/* critical */
	FR_NON_SSL_CLIENT,	/* per instance: each non-SSL client, named */
	FR_POOLER_PLAIN_CLIENT,	/* per pooler: each client whose leg to it is plain */
	FR_OLD_CA,		/* per active instance: certificate of an old RDS CA */
	FR_CERT_EXPIRY,		/* per active instance: expired or within CERT_SOON_S */
	FR_HIDDEN_SESSIONS,	/* per active instance: the role cannot see all sessions */
	/* warning */
	FR_WEAK_TLS_CLIENT,	/* per instance: each client below TLS 1.2, named */
	FR_POOLER_TRUST_STORE,	/* per pooler: its server connections verify the server */
	FR_POOLER_CLIENT_TLS,	/* per pooler: client_tls_sslmode lets clients in plain text */
	FR_VERIFYING_DRIVER,	/* per driver that verifies by default */
	FR_LIBPQ_DRIVERS,	/* the libpq-based clients, all drivers in one */
	FR_DISCOVERY_FAILING,	/* instance discovery fails */
	FR_POLL_GAP,		/* per instance: a gap over GAP_INTERVALS intervals */
	FR_MISSED_SESSIONS,	/* per instance: sessions no poll saw */
	FR_INSTANCE_FAILING,	/* per active instance: its polls fail */
	/* info */
	FR_ALL_SSL,		/* clients seen, none without SSL */
	FR_INTERVAL,		/* the polling interval, and where it comes from */
	FR_INTERVAL_UNKNOWN,	/* no interval: gaps are not judged */
	FR_MISSED_UNCOUNTED,	/* no instance can count missed sessions */
	FR_UNSEEN_ESTIMATE,	/* Good-Turing chance of a client not yet recorded */
	FR_RETIRED,		/* instances retired */
	FR_COUNT
};

/* One rule that fired, for one subject. */
struct foutcome {
	enum frule_id rule;
	size_t subject;		/* index in c->inst or c->verifying; 0 for the cluster */
};

/* The outcomes of one cluster, in the report's order. */
struct fresult {
	struct foutcome *v;
	size_t n, cap;
};

/* The rule's stable name ("non_ssl_client") and severity (SEV_*). */
const char *findings_rule_name(enum frule_id rule);
const char *findings_severity(enum frule_id rule);

/*
 * Evaluates every rule over cluster c at time `now` (Unix s; certificate
 * expiry is judged against it) into r, which starts empty (zeroed) or is
 * emptied. 0, or -1 out of memory.
 */
int findings_eval(const struct rcluster *c, int64_t now, struct fresult *r);
/* How many subjects `rule` fired for. */
size_t findings_fired(const struct fresult *r, enum frule_id rule);
void fresult_free(struct fresult *r);

/* Where findings_write() puts the findings. */
struct fsink {
	void *arg;
	/* One finding; text is complete and unescaped (values from servers). */
	void (*finding)(void *arg, const char *severity, const char *text);
	/* Streams the clients of `kind` on `in` to cb (report_list_clients);
	 * want is how many the model counted. 0, or -1 after an error was
	 * printed. */
	int (*clients)(void *arg, const struct rcluster *c, const struct rinst *in,
		       enum rclients kind, int64_t want, const struct rclient_cb *cb);
	bool failed;	/* set when a text could not be made (out of memory) */
};

/*
 * Writes the findings of r (findings_eval over c and now) to s, in order.
 * 0, or -1 when s->clients failed (the findings after it are not written).
 */
int findings_write(struct fsink *s, const struct rcluster *c, int64_t now,
		   const struct fresult *r);

#endif
