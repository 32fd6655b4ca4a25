/*
 * cli.h: what the commands of sslhist share (docs/CONTRACT.md section 4).
 */
#ifndef SSLHIST_CLI_H
#define SSLHIST_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "histdb.h"
#include "output.h"

/* Exit codes of docs/CONTRACT.md section 4. */
#define EXIT_DONE	0
#define EXIT_ERROR	1
#define EXIT_USAGE	2
#define EXIT_NON_SSL	3

struct bval;
struct config;

struct cli {
	const char *db_opt;		/* the first --db */
	const char **dbs;		/* every --db, in order */
	size_t ndbs;
	const char *config_path;	/* -c, else the default */
	bool config_given;		/* -c was written */
	struct config *cfg;		/* loaded on demand; may stay NULL */
	bool cfg_tried;
	int64_t now;			/* Unix s, fixed at start */
};

/* cli/main.c */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage error for `cmd` and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The usage error for what getopt_long returned (':' or '?'). */
int cli_bad_option(const char *cmd, int ch, int argc, char **argv);

/* cli/common.c */
/* Loads CONFIG if readable (docs/CONTRACT.md section 4); false after an error was printed. */
bool cli_load_config(struct cli *c);
/* Resolves and opens the database in `mode`; NULL after an error was
 * printed. With several --db (HISTDB_RO only) the connection reads them as
 * one history (lib/histmerge.h). *path (path may be NULL) gets the path opened, to be freed. */
sqlite3 *cli_open(struct cli *c, enum histdb_mode mode, char **path);
/* What most commands want: the database for reading. */
static inline sqlite3 *
cli_open_ro(struct cli *c)
{
	return cli_open(c, HISTDB_RO, NULL);
}
/* --since WHEN; false after a usage error was printed. */
bool cli_parse_since(const char *cmd, const char *s, int64_t now, int64_t *t);
/* --format; false after a usage error was printed. */
bool cli_parse_format(const char *cmd, const char *s, bool csv_ok, enum out_format *f);
/* "host:port", IPv6 hosts in brackets, into buf. */
const char *instance_name(const char *host, int64_t port, char *buf, size_t len);
/* The polling interval of a cluster from CONFIG; 0 when unknown. */
int64_t cli_interval_ms(const struct cli *c, const char *cluster);
/* An integer cell from a batch value (batch.h); null when the value is. */
void cell_opt_int(struct cell *c, const struct bval *v);

/* One instance of the fleet, as the commands list them. */
struct inst {
	int64_t id;
	char *cluster;
	char *name;	/* "host:port" */
};
struct inst_list {
	struct inst *v;
	size_t n;
};
/* The instances (of `cluster`, or all when NULL) ordered by cluster, host,
 * port. 0, or -1 after an error was printed. */
int inst_list_load(sqlite3 *db, const char *cluster, struct inst_list *l);
void inst_list_free(struct inst_list *l);

/* "s" unless n is one: "%lld client%s". */
static inline const char *
plural(long long n)
{
	return n == 1 ? "" : "s";
}

/* One file per command. */
int cmd_clients(struct cli *c, int argc, char **argv);
int cmd_instances(struct cli *c, int argc, char **argv);
int cmd_report(struct cli *c, int argc, char **argv);
int cmd_alerts(struct cli *c, int argc, char **argv);
int cmd_prune(struct cli *c, int argc, char **argv);
int cmd_snapshot(struct cli *c, int argc, char **argv);
int cmd_import_log(struct cli *c, int argc, char **argv);

#endif
