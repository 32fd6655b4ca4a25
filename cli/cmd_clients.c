/*
 * cmd_clients.c: `sslhist clients`, every distinct client seen.
 *
 * Rows are read instance by instance, each in batches of BATCH_ROWS along
 * the index client_instance (instance_id, last_seen) of client_data with a
 * (last_seen, id) cursor: no sort, short read transactions, and memory bounded by one
 * batch whatever the number of clients. Order: cluster, instance, then
 * last seen. JSON is written by lib/clientjson, the writer of a hook's
 * stdin too; the table and CSV by cli/output from the same values.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cli.h"
#include "clientjson.h"
#include "driver.h"
#include "livecounts.h"

static const char usage_text[] =
	"usage: sslhist clients [--since WHEN] [--cluster NAME] [--user U] [--database D]\n"
	"                       [--ssl | --non-ssl] [--format table|json|csv]\n"
	"\n"
	"Lists every distinct client seen: cluster, instance, database, user,\n"
	"application, address, SSL, TLS version, cipher, certificate DNs, the driver\n"
	"guessed from the application name, first and last seen, sessions, samples,\n"
	"logged sessions (those a server log showed) and seen by (poll, log, poll+log).\n"
	"\n"
	"  --since WHEN     only clients seen since WHEN: a duration back from now\n"
	"                   (7d, 12h) or a date or time (2026-11-01, RFC 3339)\n"
	"  --cluster NAME   only this cluster\n"
	"  --user U         only this user name\n"
	"  --database D     only this database name\n"
	"  --ssl, --non-ssl only clients with, or without, SSL\n"
	"  --format F       table (default), json or csv\n";

enum {
	Q_ID, Q_STORED_SEEN, Q_DATABASE, Q_USER, Q_APPLICATION, Q_ADDR, Q_HOSTNAME, Q_SSL,
	Q_TLS, Q_CIPHER, Q_BITS, Q_CLIENT_DN, Q_ISSUER_DN, Q_FIRST_SEEN, Q_SESSIONS, Q_SAMPLES,
	Q_LAST_SEEN, Q_VIA, Q_POOLER_SERVER, Q_LOGGED,
};

/*
 * client_data, not the view `client`, so the cursor walks the index: a
 * client with live sessions has the stored last_seen LIVE (sorted last, as
 * it is seen at the instance's last poll) and its samples grow with the
 * instance's polls (sql/002_live_counts.sql). The cursor is the stored
 * value; the output the derived one.
 */
static const char batch_sql[] =
	"SELECT c.id, c.last_seen, c.database, c.user, c.application, c.client_addr,"
	" c.client_hostname, c.ssl, c.tls_version, c.cipher, c.bits, c.client_dn, c.issuer_dn,"
	" c.first_seen, c.sessions, " LIVE_SAMPLES("c", "i") ", " LIVE_DERIVED_SEEN("c", "i")
	", i.pooler, c.pooler_server, c.logged_sessions"
	" FROM client_data c JOIN instance i ON i.id = c.instance_id"
	" WHERE c.instance_id = ?1 AND (c.last_seen, c.id) > (?2, ?3)"
	" AND " LIVE_SEEN_SINCE("c", "i", "?4")
	" AND (?5 IS NULL OR c.user = ?5) AND (?6 IS NULL OR c.database = ?6)"
	" AND (?7 IS NULL OR c.ssl = ?7)"
	" ORDER BY c.last_seen, c.id LIMIT ?8";

static const struct col cols[] = {
	{ "cluster", "CLUSTER", COL_STR, 0, 20 },
	{ "instance", "INSTANCE", COL_STR, 0, 64 },
	{ "database", "DATABASE", COL_STR, 0, 32 },
	{ "user", "USER", COL_STR, 0, 32 },
	{ "application", "APPLICATION", COL_STR, 0, 28 },
	{ "client_addr", "ADDRESS", COL_STR, 0, 39 },
	{ "client_hostname", "HOSTNAME", COL_STR, COL_NO_TABLE, 0 },
	{ "ssl", "SSL", COL_BOOL, 0, 0 },
	{ "tls_version", "TLS", COL_STR, 0, 8 },
	{ "cipher", "CIPHER", COL_STR, COL_NO_TABLE, 0 },
	{ "bits", "BITS", COL_INT, COL_NO_TABLE, 0 },
	{ "client_dn", "CLIENT DN", COL_STR, COL_NO_TABLE, 0 },
	{ "issuer_dn", "ISSUER DN", COL_STR, COL_NO_TABLE, 0 },
	{ "driver", "DRIVER", COL_STR, 0, 14 },
	{ "first_seen", "FIRST SEEN", COL_TIME, COL_NO_TABLE, 0 },
	{ "last_seen", "LAST SEEN", COL_TIME, 0, 0 },
	{ "sessions", "SESSIONS", COL_INT, 0, 0 },
	{ "samples", "SAMPLES", COL_INT, COL_NO_TABLE, 0 },
	{ "logged_sessions", "LOGGED", COL_INT, COL_NO_TABLE, 0 },
	{ "seen_by", "SEEN BY", COL_STR, 0, 8 },
	{ "via", "VIA", COL_STR, 0, 16 },
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

struct filter {
	int64_t since;		/* INT64_MIN: whole history */
	const char *cluster, *user, *database;
	int ssl;		/* -1 any, 0 non-SSL, 1 SSL */
};

struct clients_src {
	sqlite3 *db;
	sqlite3_stmt *st;
	const struct filter *f;
	struct inst_list insts;
	size_t inst;		/* current instance */
	bool loaded;		/* its first batch was read */
	struct batch b;
	size_t row;		/* next row of b */
	bool more;		/* b was full: the instance may have more */
	int64_t cur_seen, cur_id;	/* cursor after b's last row */
};

static int
fetch(struct clients_src *s, char *err, size_t errlen)
{
	const struct filter *f = s->f;
	int n;

	sqlite3_bind_int64(s->st, 1, s->insts.v[s->inst].id);
	sqlite3_bind_int64(s->st, 2, s->cur_seen);
	sqlite3_bind_int64(s->st, 3, s->cur_id);
	sqlite3_bind_int64(s->st, 4, f->since);
	sqlite3_bind_text(s->st, 5, f->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->st, 6, f->database, -1, SQLITE_STATIC);
	if (f->ssl < 0)
		sqlite3_bind_null(s->st, 7);
	else
		sqlite3_bind_int(s->st, 7, f->ssl);
	sqlite3_bind_int(s->st, 8, BATCH_ROWS);
	n = batch_fill(&s->b, s->st, BATCH_ROWS);
	if (n < 0) {
		snprintf(err, errlen, "reading clients: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	s->row = 0;
	s->more = n == BATCH_ROWS;
	if (n > 0) {
		s->cur_seen = batch_int(&s->b, (size_t)n - 1, Q_STORED_SEEN);
		s->cur_id = batch_int(&s->b, (size_t)n - 1, Q_ID);
	}
	return 0;
}

static void
start_instance(struct clients_src *s)
{
	/* (since, 0) < (since, any id): the cursor includes last_seen == since. */
	s->cur_seen = s->f->since;
	s->cur_id = 0;
}

/* The current row of the batch, borrowed from it. */
static void
fill_client(const struct clients_src *s, struct clientjson *c)
{
	const struct batch *b = &s->b;
	const struct inst *in = &s->insts.v[s->inst];
	size_t r = s->row;
	const struct bval *bits = batch_val(b, r, Q_BITS);

	c->cluster = in->cluster;
	c->instance = in->name;
	c->database = batch_text(b, r, Q_DATABASE);
	c->user = batch_text(b, r, Q_USER);
	c->application = batch_text(b, r, Q_APPLICATION);
	c->client_addr = batch_text(b, r, Q_ADDR);
	c->client_hostname = batch_text(b, r, Q_HOSTNAME);
	c->ssl = batch_int(b, r, Q_SSL) != 0;
	c->tls_version = batch_text(b, r, Q_TLS);
	c->cipher = batch_text(b, r, Q_CIPHER);
	c->bits = bits->null ? -1 : bits->i;
	c->client_dn = batch_text(b, r, Q_CLIENT_DN);
	c->issuer_dn = batch_text(b, r, Q_ISSUER_DN);
	c->first_seen = batch_int(b, r, Q_FIRST_SEEN);
	c->last_seen = batch_int(b, r, Q_LAST_SEEN);
	c->sessions = batch_int(b, r, Q_SESSIONS);
	c->samples = batch_int(b, r, Q_SAMPLES);
	c->via = batch_text(b, r, Q_VIA);
	c->pooler_server = batch_text(b, r, Q_POOLER_SERVER);
	c->logged_sessions = batch_int(b, r, Q_LOGGED);
}

/* The table's and CSV's cells (cols[]) of a client. */
static void
client_cells(const struct clientjson *c, struct cell *cell)
{
	cell_str(&cell[0], c->cluster);
	cell_str(&cell[1], c->instance);
	cell_str(&cell[2], c->database);
	cell_str(&cell[3], c->user);
	cell_str(&cell[4], c->application);
	cell_str(&cell[5], c->client_addr);
	cell_str(&cell[6], c->client_hostname);
	cell_int(&cell[7], c->ssl);
	cell_str(&cell[8], c->tls_version);
	cell_str(&cell[9], c->cipher);
	if (c->bits < 0)
		cell_null(&cell[10]);
	else
		cell_int(&cell[10], c->bits);
	cell_str(&cell[11], c->client_dn);
	cell_str(&cell[12], c->issuer_dn);
	cell_str(&cell[13], c->pooler_server ? "pgbouncer" : driver_guess(c->application));
	cell_int(&cell[14], c->first_seen);
	cell_int(&cell[15], c->last_seen);
	cell_int(&cell[16], c->sessions);
	cell_int(&cell[17], c->samples);
	cell_int(&cell[18], c->logged_sessions);
	cell_str(&cell[19], clientjson_seen_by(c->samples, c->logged_sessions));
	cell_str(&cell[20], c->via);
}

/* The next client: 1 (in *c, valid until the next call), 0 no more, -1
 * an error (in err). */
static int
next_client(struct clients_src *s, struct clientjson *c, char *err, size_t errlen)
{
	for (;;) {
		if (s->row < s->b.nrows) {
			fill_client(s, c);
			s->row++;
			return 1;
		}
		if (s->loaded && s->more) {
			if (fetch(s, err, errlen) < 0)
				return -1;
			continue;
		}
		if (s->loaded)
			s->inst++;
		if (s->inst >= s->insts.n)
			return 0;
		start_instance(s);
		if (fetch(s, err, errlen) < 0)
			return -1;
		s->loaded = true;
	}
}

static int
src_next(void *arg, struct cell *cells, char *err, size_t errlen)
{
	struct clientjson c;
	int rc = next_client(arg, &c, err, errlen);

	if (rc == 1)
		client_cells(&c, cells);
	return rc;
}

/* JSON through the one writer of a client's object (a hook's stdin is
 * the same object). */
static int
json_next(void *arg, struct jsonw *w, char *err, size_t errlen)
{
	struct clientjson c;
	int rc = next_client(arg, &c, err, errlen);

	if (rc == 1)
		clientjson_write(w, &c, NULL);
	return rc;
}

static int
src_rewind(void *arg, char *err, size_t errlen)
{
	struct clients_src *s = arg;

	(void)err;
	(void)errlen;
	s->inst = 0;
	s->loaded = false;
	s->b.nrows = 0;
	s->row = 0;
	s->more = false;
	return 0;
}

static int
list_clients(struct cli *c, const struct filter *f, enum out_format fmt)
{
	struct clients_src s;
	struct rowsrc src = { src_next, src_rewind, &s };
	char err[512];
	int rc = EXIT_ERROR;

	memset(&s, 0, sizeof(s));
	s.f = f;
	batch_init(&s.b);
	if ((s.db = cli_open_ro(c)) == NULL)
		return EXIT_ERROR;
	if (inst_list_load(s.db, f->cluster, &s.insts) < 0)
		goto done;
	if (sqlite3_prepare_v2(s.db, batch_sql, -1, &s.st, NULL) != SQLITE_OK) {
		cli_error("reading clients: %s", sqlite3_errmsg(s.db));
		goto done;
	}
	if ((fmt == FMT_JSON ? out_json_array(stdout, json_next, &s, err, sizeof(err))
			     : out_rows(stdout, fmt, cols, NCOLS, &src, err, sizeof(err))) < 0)
		cli_error("%s", err);
	else
		rc = EXIT_DONE;
done:
	sqlite3_finalize(s.st);
	batch_free(&s.b);
	inst_list_free(&s.insts);
	sqlite3_close(s.db);
	return rc;
}

int
cmd_clients(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "cluster", required_argument, NULL, 'C' },
		{ "user", required_argument, NULL, 'u' },
		{ "database", required_argument, NULL, 'd' },
		{ "ssl", no_argument, NULL, 'S' },
		{ "non-ssl", no_argument, NULL, 'N' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct filter f = { .since = INT64_MIN, .ssl = -1 };
	enum out_format fmt = FMT_TABLE;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (!cli_parse_since("clients", optarg, c->now, &f.since))
				return EXIT_USAGE;
			break;
		case 'C':
			f.cluster = optarg;
			break;
		case 'u':
			f.user = optarg;
			break;
		case 'd':
			f.database = optarg;
			break;
		case 'S':
		case 'N':
			if (f.ssl >= 0 && f.ssl != (ch == 'S'))
				return cli_usage_error("clients", "--ssl and --non-ssl exclude "
						       "each other");
			f.ssl = ch == 'S';
			break;
		case 'f':
			if (!cli_parse_format("clients", optarg, true, &fmt))
				return EXIT_USAGE;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_DONE;
		default:
			return cli_bad_option("clients", ch, argc, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("clients", "unexpected argument '%s'", argv[optind]);
	return list_clients(c, &f, fmt);
}
