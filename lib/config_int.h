/*
 * config_int.h: what the parts of config_load() share; not for use outside
 * lib/config*.c (config.h is the contract).
 *
 * One load is one struct loader, filled in three steps, each in its file:
 * - config_read.c: libinih splits the file into sections and entries
 *   (section, key, value, line), with the traps of libinih 55 caught;
 * - config.c: every entry is validated in file order, so the first bad
 *   line is the one reported; [sslhistd] keys are applied to the config;
 * - config_cluster.c: [defaults] and [cluster NAME] entries (libpq
 *   keywords, instances) are checked, then each cluster is assembled.
 * The first error wins: cfg_fail() records it as "FILE:LINE: message" and
 * ignores later ones, which are often its consequences.
 */
#ifndef SSLHIST_CONFIG_INT_H
#define SSLHIST_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "config.h"
#include "parse.h"

enum sect_kind { SECT_DAEMON, SECT_DEFAULTS, SECT_CLUSTER, SECT_POOLER };

struct section {
	enum sect_kind kind;
	char *name;		/* cluster name, or NULL */
	int line;
};

struct entry {
	size_t sect;
	char *key;
	char *value;
	int line;
};

/* What one [defaults] or [cluster] section wrote, validated. */
struct sect_vals {
	struct conn_kv *conn;
	size_t nconn;
	const struct entry *instances;
	const struct entry *discover_interval;
	const struct entry *interval;
	const struct entry *fast_interval;
	const struct entry *fast_for;
	const struct entry *exclude_users;
	const struct entry *password_command;
	const struct entry *pooler_cluster;	/* [pooler NAME]: `cluster` */
	const struct entry *log_command;
	const struct entry *log_interval;
};

struct loader {
	const char *path;
	FILE *fp;
	char *err;
	size_t errlen;
	bool failed;
	int fail_line;
	int lineno;
	bool line_continues;	/* this line continues the previous value */
	bool have_prev_key;	/* inih's prev_name is set */
	char *linebuf;
	size_t linecap;
	struct section *sects;
	size_t nsects;
	struct entry *entries;
	size_t nentries;
	bool saw_password;
	PQconninfoOption *pqopts;	/* the keywords libpq knows */
};

/* config_read.c */

/* Records the first error only, as "PATH:LINE: " and the message. */
void cfg_fail(struct loader *ld, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Reads ld->fp into ld->sects and ld->entries: 0, or -1 after cfg_fail(). */
int cfg_read(struct loader *ld);

/* config.c: values as both kinds of section write them. 0, or -1 after
 * cfg_fail() naming the entry's line and key. */

/* At least min_ms (min_text says it in the message). */
int cfg_get_duration(struct loader *ld, const struct entry *e, int64_t min_ms,
		     const char *min_text, int64_t *out);
/* "off" is 0; else as cfg_get_duration. */
int cfg_get_duration_off(struct loader *ld, const struct entry *e, int64_t min_ms,
			 const char *min_text, int64_t *out);
/* Replaces *out. */
int cfg_get_list(struct loader *ld, const struct entry *e, struct strlist *out);
/* Replaces *out; an empty value is no command (n == 0). */
int cfg_get_command(struct loader *ld, const struct entry *e, struct strlist *out);

/* config_cluster.c */

/* Validates one entry of [defaults] or [cluster NAME] into sv. */
int cfg_cluster_entry(struct loader *ld, struct sect_vals *sv, const struct entry *e);
/* Builds cfg->clusters from the validated sections (vals[i] for sects[i]). */
int cfg_build_clusters(struct loader *ld, struct config *cfg, struct sect_vals *vals);
void cfg_conn_free(struct conn_kv *kv, size_t n);
/* One [cluster] or [pooler] from [defaults] and its own section. */
int cfg_build_cluster(struct loader *ld, struct config *cfg, struct cluster_cfg *c,
		      const struct sect_vals *def, const struct sect_vals *own);

/* config_pooler.c */
/* Validates one entry of [pooler NAME] into sv. */
int cfg_pooler_entry(struct loader *ld, struct sect_vals *sv, const struct entry *e);
/* Builds cfg->poolers (after the clusters, which they name). */
int cfg_build_poolers(struct loader *ld, struct config *cfg, struct sect_vals *vals);

#endif
