/*
 * report.h: the model of `sslhist report`: what it gathers per cluster
 * from the history (report_load.c) and how that is written (report_out.c);
 * the findings drawn from the model are findings.h's. Everything here is
 * bounded by the number of instances of one cluster and of distinct
 * drivers and TLS versions, never by the number of clients: clients are
 * counted in C over one pass and the ones a finding names are streamed
 * (report_list_clients).
 */
#ifndef SSLHIST_REPORT_H
#define SSLHIST_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "jsonw.h"
#include "output.h"

struct cli;
struct verdict;

#define SEV_CRITICAL "critical"
#define SEV_WARNING "warning"
#define SEV_INFO "info"

/* Certificates expiring within this are a critical finding. */
#define CERT_SOON_S (30 * 86400)
/* A gap between successful polls over this many intervals is a warning. */
#define GAP_INTERVALS 3

struct rinst {
	int64_t id;
	char *name;		/* host:port */
	bool retired;
	char *issuer;		/* server certificate issuer; NULL without TLS */
	bool has_not_after;
	int64_t not_after;
	char *force_ssl;
	int can_see_all;	/* 0, 1, -1 unknown */
	int64_t failures;
	char *last_error;
	int64_t non_ssl, weak_tls;	/* its clients in the window */
	int64_t added_at;		/* first polled */
	bool has_last_attempt;
	int64_t last_attempt;
	/* coverage within the window */
	int64_t polls, failed, gap_ms, sessions, single, missed, max_hour_polls;
	bool missed_known;
	int64_t fast_polls;		/* polls at fast_interval, in the window */
	int server_version_num;		/* 0: not known */
	/* A [pooler] (sql/006_pooler.sql): its name, else NULL; its TLS
	 * settings (SHOW CONFIG); its server connections that the cluster's
	 * instances recorded (clients with pooler_server = its name). */
	char *pooler;
	char *pooler_client_tls, *pooler_server_tls, *pooler_ca_file;
	int64_t pooler_servers;
	int64_t logged;		/* sessions only a server log showed (report_logs.c) */
	int64_t unnamed;	/* missed sessions no log named; with missed_known */
};

struct count {
	const char *key;	/* static (driver) or owned (TLS version) */
	int64_t n;
};

struct rcluster {
	char *name;
	struct rinst *inst;
	size_t ninst;
	size_t active;		/* not retired */
	int64_t clients, ssl, non_ssl, weak_tls;
	int64_t pooler_plain;	/* of non_ssl: plain legs to a [pooler], which
				 * rds.force_ssl does not reach (the verdict's
				 * force_ssl counts non_ssl - pooler_plain) */
	int64_t pooler_tls;	/* of ssl: TLS legs to a [pooler], verified
				 * against the pooler's certificate, not the
				 * server's (the rotation counts ssl - pooler_tls) */
	int64_t one_session, client_sessions;	/* Good-Turing N1 and N */
	struct count *tls;	/* TLS version -> SSL clients */
	size_t ntls;
	struct count *verifying;	/* driver -> SSL clients (verifies by default) */
	size_t nverifying;
	struct count *libpq;	/* driver -> SSL clients (libpq-based) */
	size_t nlibpq;
	int64_t interval_ms;	/* 0: unknown */
	const char *interval_source;	/* "config", "estimate" or NULL */
	struct {		/* instances = discover (sql/003_discovery.sql) */
		bool known;	/* the cluster has discovered */
		int64_t last_attempt, last_success, last_error_at;	/* 0: never */
		int64_t failures;	/* consecutive */
		char *last_error;
	} disc;
};

/* What the loader reads: the window (--since) and the cluster (--cluster). */
struct report_query {
	bool since_set;
	int64_t since;		/* INT64_MIN without --since */
	const char *cluster;	/* NULL: every cluster */
	int64_t min_history_s;	/* --min-history; 0: a day */
};

struct iref;

/* The loaded report: the clusters, ordered by name, their instances by
 * host and port. */
struct report {
	sqlite3 *db;
	const struct report_query *q;
	struct rcluster *cl;
	size_t ncl;
	struct iref *refs;	/* instance id -> cluster and instance, sorted */
	size_t nrefs;
	sqlite3_stmt *list_st;	/* report_list_clients */
};

/* The clients a finding names, one kind at a time. */
enum rclients {
	RC_NON_SSL = 0,		/* not over SSL */
	RC_WEAK_TLS = 1,	/* TLS below 1.2 (ident_tls_weak) */
};

/* One client a finding names; the strings live until the callback returns. */
struct rclient {
	int64_t last_seen;
	const char *user, *database, *application, *tls_version;
	const char *addr;	/* NULL: the local socket */
};

/* Receives the clients report_list_clients reads. */
struct rclient_cb {
	void (*fn)(void *arg, const struct rclient *cl);
	void *arg;
};

/* report_logs.c */
/* Each instance's logged and unnamed missed sessions in the window. 0, or
 * -1 after an error was printed. */
int report_load_logs(struct report *r);

/* report_load.c */
/* The instance of row id, with its cluster; NULL when not loaded. */
struct rinst *report_instance(struct report *r, int64_t id, struct rcluster **c);
/*
 * Reads the fleet, the discoveries, the coverage and the client counts of
 * the history open in db into r, and picks each cluster's polling interval
 * (from cli's configuration, else estimated). 0, or -1 after an error was
 * printed; report_free() in both cases.
 */
int report_load(struct report *r, const struct cli *cli, sqlite3 *db, const struct report_query *q);
/*
 * Streams the clients of `kind` that instance `in` of cluster c saw in the
 * window to cb, oldest first, in bounded batches: no read transaction
 * stays open while cb writes. `want` is how many the count found; the walk
 * stops there. 0, or -1 after an error was printed.
 */
int report_list_clients(struct report *r, const struct rcluster *c, const struct rinst *in,
			enum rclients kind, int64_t want, const struct rclient_cb *cb);
void report_free(struct report *r);

/* The report's writer: JSON through jsonw, or a table for people. */
struct rout {
	enum out_format fmt;
	FILE *out;
	struct jsonw w;
	bool failed;
};

/* report_out.c */
void rout_begin(struct rout *o, int64_t generated_at, bool since_set, int64_t since);
/* The cluster's counts and its verdict (verdict.h), up to its findings. */
void rout_cluster(struct rout *o, const struct rcluster *c, const struct verdict *v);
void rout_finding(struct rout *o, const char *severity, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void rout_cluster_end(struct rout *o);
/* 0, or -1 when writing failed. */
int rout_end(struct rout *o);

#endif
