/*
 * config.h: the configuration file of docs/CONTRACT.md section 2, parsed and validated.
 *
 * config_load() reads the whole file into a fresh struct config or fails
 * with one message naming file, line and key ("FILE:LINE: key 'k': why").
 * Nothing is half-applied: a reload builds a new config and swaps it in.
 *
 * File syntax (libinih): `#` or `;` at the start of a line begins a
 * comment, and so does `;` after a blank inside a line. A line may hold at
 * most 197 characters (libinih's buffer; a longer line is an error, never
 * cut). A longer value continues on indented lines: each indented line is
 * appended to the value with ONE blank between the pieces. Lists trim
 * blanks around items and commands split on blanks, so a list or command
 * may break after any comma or word; a single word (a path, a host) cannot
 * be split. An indented line that looks like "key = value" or "[section]"
 * is an error, as keys must start at the beginning of the line once a
 * section has a key.
 *
 * The code: config.c (the model, [sslhistd] keys, loading), config_read.c
 * (lines and sections through libinih), config_cluster.c ([defaults] and
 * [cluster NAME]: libpq keywords, instances), config_print.c (--check).
 */
#ifndef SSLHIST_CONFIG_H
#define SSLHIST_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "listen.h"
#include "parse.h"

#define CONFIG_DEFAULT_PATH "/etc/sslhist/sslhist.conf"
#define CONFIG_DEFAULT_DB "/var/lib/sslhist/history.db"
#define DEFAULT_PGPORT 5432

/* One libpq connection keyword and its value. */
struct conn_kv {
	char *key;
	char *value;
};

struct endpoint {
	char *host;
	int port;
};

struct cluster_cfg {
	char *name;
	int line;			/* line of its [cluster NAME] header */
	/*
	 * libpq keywords: [defaults] merged with the cluster's own (which win),
	 * plus sslmode=verify-full unless one was written. Never contains
	 * application_name (the poller forces "sslhistd"); may contain
	 * `password` (never print it).
	 */
	struct conn_kv *conn;
	size_t nconn;
	bool discover;			/* instances = discover */
	struct endpoint *instances;	/* explicit list, or the cluster's
					 * host:port when not written; for
					 * discover: the endpoint to ask */
	size_t ninstances;
	int64_t discover_interval_ms;
	int64_t interval_ms;		/* own, or the daemon-wide value */
	int64_t fast_interval_ms;	/* own, or the daemon-wide value; 0: off */
	int64_t fast_for_ms;		/* own, or the daemon-wide value */
	struct strlist exclude_users;	/* own, or the daemon-wide value */
	struct strlist password_command;	/* argv; n == 0 when none */
	char *fronts;			/* [pooler NAME]: the cluster it fronts
					 * (`cluster`); NULL for a [cluster] */
	struct strlist log_command;	/* argv; n == 0 when none: prints the server log */
	int64_t log_interval_ms;	/* how often log_command runs (5m) */
};

struct config {
	char *path;
	char *database;
	int64_t interval_ms;
	double jitter;			/* 0.10 for "10%" */
	int64_t connect_timeout_ms;
	int64_t query_timeout_ms;
	int64_t max_backoff_ms;
	struct strlist exclude_users;
	struct strlist exclude_databases;
	int64_t retention_ms;
	struct strlist on_non_ssl;	/* argv; n == 0 when not set */
	struct strlist on_weak_tls;
	struct strlist on_new_client;
	int64_t hook_timeout_ms;
	long hook_max_running;
	int64_t *hook_retry_ms;
	size_t n_hook_retry;
	int log_level;			/* enum log_level */
	int64_t fast_interval_ms;	/* 0: off (fast polling never) */
	int64_t fast_for_ms;
	bool metrics_on;		/* metrics_listen is set */
	struct listen_addr metrics_listen;
	struct cluster_cfg *clusters;
	size_t nclusters;
	/* [pooler NAME] (config_pooler.c): the pooler's admin console as one
	 * endpoint (instances[0]), `fronts` naming one of clusters[]. */
	struct cluster_cfg *poolers;
	size_t npoolers;
};

/*
 * Loads `path`. On failure returns NULL and writes one message into err.
 * Warnings (a password in a file that group or others can read) are
 * logged, not fatal. `database` defaults to $STATE_DIRECTORY/history.db,
 * else CONFIG_DEFAULT_DB.
 */
struct config *config_load(const char *path, char *err, size_t errlen);
void config_free(struct config *cfg);

/* Looks up a libpq keyword of a cluster; NULL when not set. */
const char *cluster_conn_get(const struct cluster_cfg *c, const char *key);

/* Prints what `sslhistd --check` shows: each cluster and the instances it
 * would poll, with its settings, never a password. */
void config_print(const struct config *cfg, FILE *out);

#endif
