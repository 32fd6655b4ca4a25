/*
 * config.c: see config.h and SPEC section 2.
 *
 * Loading runs in three steps. libinih splits the file into (section, key,
 * value, line) entries; our reader beside it counts lines, tracks sections
 * itself (inih truncates section names at 49 bytes and does not report
 * empty sections) and refuses lines inih would silently cut. Then every
 * entry is validated in file order, so the first bad line is the one
 * reported. Last, each cluster is assembled from [defaults] and its own
 * section, and the checks that need both run.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>
#include <libpq-fe.h>

#include "ident.h"
#include "aurora.h"
#include "config.h"
#include "log.h"

enum sect_kind { SECT_DAEMON, SECT_DEFAULTS, SECT_CLUSTER };

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
	const struct entry *exclude_users;
	const struct entry *password_command;
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
	PQconninfoOption *pqopts;
};

static void fail(struct loader *ld, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error only: later ones are often its consequences. */
static void
fail(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->failed)
		return;
	ld->failed = true;
	ld->fail_line = line;
	n = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->path, line);
	if (n < 0 || (size_t)n >= ld->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* ---- reading: lines, sections, entries ---- */

static bool
valid_cluster_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' &&
		    s[i] != '-')
			return false;
	return true;
}

static int
add_section(struct loader *ld, enum sect_kind kind, const char *name)
{
	struct section *s;
	size_t i;

	for (i = 0; i < ld->nsects; i++) {
		s = &ld->sects[i];
		if (s->kind != kind || (kind == SECT_CLUSTER && strcmp(s->name, name) != 0))
			continue;
		if (kind == SECT_CLUSTER)
			fail(ld, ld->lineno, "duplicate cluster '%s' (first at line %d)",
			    name, s->line);
		else
			fail(ld, ld->lineno, "section [%s] repeated (first at line %d)",
			    kind == SECT_DAEMON ? "sslhistd" : "defaults", s->line);
		return -1;
	}
	s = realloc(ld->sects, (ld->nsects + 1) * sizeof(*s));
	if (s == NULL)
		goto nomem;
	ld->sects = s;
	s = &ld->sects[ld->nsects];
	s->kind = kind;
	s->line = ld->lineno;
	s->name = NULL;
	if (name != NULL && (s->name = strdup(name)) == NULL)
		goto nomem;
	ld->nsects++;
	return 0;
nomem:
	fail(ld, ld->lineno, "out of memory");
	return -1;
}

/* A "[...]" line, cut as inih cuts it: at ']' or at an inline comment. */
static void
section_line(struct loader *ld, const char *start)
{
	const char *p = start + 1;
	bool was_space = false;
	char *name;
	size_t len;

	while (*p && *p != ']' && !(was_space && *p == ';')) {
		was_space = isspace((unsigned char)*p);
		p++;
	}
	if (*p != ']')
		return;		/* inih reports the syntax error */
	while (start + 1 < p && isspace((unsigned char)start[1]))
		start++;
	while (p > start + 1 && isspace((unsigned char)p[-1]))
		p--;
	len = (size_t)(p - start - 1);
	if ((name = strndup(start + 1, len)) == NULL) {
		fail(ld, ld->lineno, "out of memory");
		return;
	}
	ld->have_prev_key = false;
	if (strcmp(name, "sslhistd") == 0)
		(void)add_section(ld, SECT_DAEMON, NULL);
	else if (strcmp(name, "defaults") == 0)
		(void)add_section(ld, SECT_DEFAULTS, NULL);
	else if (strncmp(name, "cluster", 7) == 0 && (name[7] == '\0' ||
	    isspace((unsigned char)name[7]))) {
		const char *cn = name + 7;
		while (isspace((unsigned char)*cn))
			cn++;
		if (!valid_cluster_name(cn))
			fail(ld, ld->lineno, "section [%s]: a cluster needs a name of "
			    "1 to 63 letters, digits, '.', '_' or '-'", name);
		else
			(void)add_section(ld, SECT_CLUSTER, cn);
	} else {
		fail(ld, ld->lineno, "unknown section [%s] (expected [sslhistd], "
		    "[defaults] or [cluster NAME])", name);
	}
	free(name);
}

/*
 * The ini_reader. It hands inih one line at a time, as fgets would, after
 * noting what inih is about to make of it.
 */
static char *
reader(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	const char *start;
	ssize_t n;
	size_t len;

	if (ld->failed)
		return NULL;
	n = getline(&ld->linebuf, &ld->linecap, ld->fp);
	if (n <= 0)
		return NULL;
	ld->lineno++;
	len = (size_t)n;
	if (strlen(ld->linebuf) != len) {
		fail(ld, ld->lineno, "NUL byte in line");
		return NULL;
	}
	while (len > 0 && (ld->linebuf[len - 1] == '\n' || ld->linebuf[len - 1] == '\r'))
		len--;
	/* inih needs room for the text, "\r\n" and NUL; a longer line it
	 * would cut and parse the rest as a new line. */
	if (num < 4 || len > (size_t)num - 3 || (size_t)n >= (size_t)num) {
		fail(ld, ld->lineno, "line longer than %d characters; continue a "
		    "long value on indented lines", num - 3);
		return NULL;
	}
	memcpy(str, ld->linebuf, (size_t)n + 1);

	start = str;
	if (ld->lineno == 1 && strncmp(start, "\xef\xbb\xbf", 3) == 0)
		start += 3;
	while (*start && isspace((unsigned char)*start))
		start++;
	ld->line_continues = false;
	if (*start == '\0' || *start == ';' || *start == '#')
		return str;
	if (start > str && ld->have_prev_key)
		ld->line_continues = true;
	else if (*start == '[')
		section_line(ld, start);
	else
		ld->have_prev_key = true;
	return str;
}

/* "name =" at the start of an indented line: inih would take it as more of
 * the previous value, which is never what the writer meant. */
static bool
looks_like_key(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	while (isalnum((unsigned char)*s) || *s == '_')
		s++;
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '=';
}

/* "[sslhistd]", "[defaults]" or "[cluster ...": an indented section
 * header. An IPv6 instance such as "[::1]:5433" is not one. */
static bool
looks_like_section(const char *s)
{
	return strncmp(s, "[sslhistd]", 10) == 0 || strncmp(s, "[defaults]", 10) == 0 ||
	    strncmp(s, "[cluster", 8) == 0;
}

/* Length of a continuation piece without an inline "; comment", which
 * libinih 55 leaves in (later versions strip it). */
static size_t
piece_len(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 1; i < n; i++) {
		if (s[i] == ';' && isspace((unsigned char)s[i - 1])) {
			n = i;
			break;
		}
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return n;
}

static int
continue_entry(struct loader *ld, const char *name, const char *value)
{
	struct entry *e = ld->nentries ? &ld->entries[ld->nentries - 1] : NULL;
	char *joined;
	int len = (int)piece_len(value);

	if (e == NULL || e->sect != ld->nsects - 1) {
		fail(ld, ld->lineno, "indented line continues no key");
		return 0;
	}
	if (looks_like_key(value) || looks_like_section(value)) {
		fail(ld, ld->lineno, "key '%s': indented line continues its value; "
		    "write a new key or section at the start of the line", name);
		return 0;
	}
	/* One blank joins the pieces; see config.h. */
	if (asprintf(&joined, "%s%s%.*s", e->value, e->value[0] ? " " : "", len,
	    value) < 0) {
		fail(ld, ld->lineno, "out of memory");
		return 0;
	}
	free(e->value);
	e->value = joined;
	return 1;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	struct entry *e;
	size_t i;

	(void)section;	/* ours is in ld->sects, whole */
	if (ld->failed)
		return 0;
	if (ld->nsects == 0) {
		fail(ld, ld->lineno, "key '%s' before any section", name);
		return 0;
	}
	if (ld->line_continues)
		return continue_entry(ld, name, value);
	for (i = 0; i < ld->nentries; i++) {
		e = &ld->entries[i];
		if (e->sect == ld->nsects - 1 && strcmp(e->key, name) == 0) {
			fail(ld, ld->lineno, "key '%s': duplicate (first at line %d)",
			    name, e->line);
			return 0;
		}
	}
	e = realloc(ld->entries, (ld->nentries + 1) * sizeof(*e));
	if (e == NULL) {
		fail(ld, ld->lineno, "out of memory");
		return 0;
	}
	ld->entries = e;
	e = &ld->entries[ld->nentries];
	e->sect = ld->nsects - 1;
	e->line = ld->lineno;
	e->key = strdup(name);
	e->value = strdup(value);
	ld->nentries++;
	if (e->key == NULL || e->value == NULL) {
		fail(ld, ld->lineno, "out of memory");
		return 0;
	}
	return 1;
}

/* ---- validating values ---- */

#define BAD(ld, e, what, why) \
	fail((ld), (e)->line, "key '%s': bad %s '%s' (%s)", (e)->key, (what), (e)->value, (why))

static int
get_duration(struct loader *ld, const struct entry *e, int64_t min_ms,
	     const char *min_text, int64_t *out)
{
	const char *why = parse_duration_ms(e->value, out);

	if (why != NULL) {
		BAD(ld, e, "duration", why);
		return -1;
	}
	if (*out < min_ms && min_ms == 1) {
		fail(ld, e->line, "key '%s': %s must be above 0", e->key, e->value);
		return -1;
	}
	if (*out < min_ms) {
		fail(ld, e->line, "key '%s': %s must be at least %s", e->key,
		    e->value, min_text);
		return -1;
	}
	return 0;
}

static int
get_list(struct loader *ld, const struct entry *e, struct strlist *out)
{
	struct strlist l = { NULL, 0 };
	const char *why = parse_list(e->value, &l);

	if (why != NULL) {
		BAD(ld, e, "list", why);
		return -1;
	}
	strlist_free(out);
	*out = l;
	return 0;
}

/* An empty value means no command (so a cluster can drop a default). The
 * value is not echoed: a command line may carry a token. */
static int
get_command(struct loader *ld, const struct entry *e, struct strlist *out)
{
	struct strlist argv = { NULL, 0 };
	const char *why;
	const char *p = e->value;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0' && (why = parse_command(e->value, &argv)) != NULL) {
		fail(ld, e->line, "key '%s': bad command (%s)", e->key, why);
		return -1;
	}
	strlist_free(out);
	*out = argv;
	return 0;
}

/* ---- [sslhistd] ---- */

enum vtype { V_PATH, V_DURATION, V_PERCENT, V_LIST, V_COMMAND, V_INT, V_DURLIST,
	     V_LOGLEVEL };

/* The [sslhistd] keys with their SPEC defaults, parsed like written values. */
static const struct daemon_key {
	const char *name;
	enum vtype type;
	size_t off;
	const char *def;
	int64_t min;		/* V_DURATION: ms; V_INT: lowest */
	int64_t max;		/* V_INT: highest; V_PERCENT: in percent */
	const char *min_text;
} daemon_keys[] = {
	{ "database", V_PATH, offsetof(struct config, database), NULL, 0, 0, NULL },
	{ "interval", V_DURATION, offsetof(struct config, interval_ms), "30s", 100, 0, "100ms" },
	{ "jitter", V_PERCENT, offsetof(struct config, jitter), "10%", 0, 50, NULL },
	{ "connect_timeout", V_DURATION, offsetof(struct config, connect_timeout_ms), "10s", 1, 0, "1ms" },
	{ "query_timeout", V_DURATION, offsetof(struct config, query_timeout_ms), "10s", 1, 0, "1ms" },
	{ "max_backoff", V_DURATION, offsetof(struct config, max_backoff_ms), "5m", 1, 0, "1ms" },
	{ "exclude_users", V_LIST, offsetof(struct config, exclude_users), "rdsadmin", 0, 0, NULL },
	{ "exclude_databases", V_LIST, offsetof(struct config, exclude_databases), "rdsadmin", 0, 0, NULL },
	{ "retention", V_DURATION, offsetof(struct config, retention_ms), "400d", 1, 0, "1ms" },
	{ "on_non_ssl", V_COMMAND, offsetof(struct config, on_non_ssl), "", 0, 0, NULL },
	{ "on_weak_tls", V_COMMAND, offsetof(struct config, on_weak_tls), "", 0, 0, NULL },
	{ "on_new_client", V_COMMAND, offsetof(struct config, on_new_client), "", 0, 0, NULL },
	{ "hook_timeout", V_DURATION, offsetof(struct config, hook_timeout_ms), "30s", 1, 0, "1ms" },
	{ "hook_max_running", V_INT, offsetof(struct config, hook_max_running), "4", 1, 64, NULL },
	{ "hook_retry", V_DURLIST, offsetof(struct config, hook_retry_ms), "30s, 2m, 10m, 1h, 6h", 1, 0, NULL },
	{ "log_level", V_LOGLEVEL, offsetof(struct config, log_level), "info", 0, 0, NULL },
};

static int
set_daemon_value(struct loader *ld, struct config *cfg, const struct daemon_key *k,
		 const struct entry *e)
{
	char *base = (char *)cfg;
	const char *why;
	double pct;
	long lv;
	int lvl;
	int64_t *ms;
	size_t n, i;

	switch (k->type) {
	case V_PATH:
		if (e->value[0] == '\0') {
			fail(ld, e->line, "key '%s': empty path", e->key);
			return -1;
		}
		free(cfg->database);
		if ((cfg->database = strdup(e->value)) == NULL) {
			fail(ld, e->line, "out of memory");
			return -1;
		}
		return 0;
	case V_DURATION:
		return get_duration(ld, e, k->min, k->min_text, (int64_t *)(void *)(base + k->off));
	case V_PERCENT:
		if ((why = parse_percent(e->value, &pct)) != NULL) {
			BAD(ld, e, "percentage", why);
			return -1;
		}
		if (pct * 100 > (double)k->max + 1e-9) {
			fail(ld, e->line, "key '%s': %s is above %d%%", e->key, e->value,
			    (int)k->max);
			return -1;
		}
		cfg->jitter = pct;
		return 0;
	case V_LIST:
		return get_list(ld, e, (struct strlist *)(void *)(base + k->off));
	case V_COMMAND:
		return get_command(ld, e, (struct strlist *)(void *)(base + k->off));
	case V_INT:
		if ((why = parse_int_range(e->value, (long)k->min, (long)k->max, &lv)) != NULL) {
			fail(ld, e->line, "key '%s': bad number '%s' (%s; %ld..%ld)",
			    e->key, e->value, why, (long)k->min, (long)k->max);
			return -1;
		}
		cfg->hook_max_running = lv;
		return 0;
	case V_DURLIST:
		if ((why = parse_duration_list(e->value, &ms, &n)) != NULL) {
			BAD(ld, e, "duration list", why);
			return -1;
		}
		for (i = 0; i < n; i++) {
			if (ms[i] <= 0) {
				free(ms);
				fail(ld, e->line, "key '%s': a retry delay must be above 0",
				    e->key);
				return -1;
			}
		}
		free(cfg->hook_retry_ms);
		cfg->hook_retry_ms = ms;
		cfg->n_hook_retry = n;
		return 0;
	case V_LOGLEVEL:
		if ((lvl = log_level_parse(e->value)) < 0) {
			fail(ld, e->line, "key '%s': bad level '%s' (error, warning, "
			    "info or debug)", e->key, e->value);
			return -1;
		}
		cfg->log_level = lvl;
		return 0;
	}
	return -1;
}

static int
daemon_entry(struct loader *ld, struct config *cfg, const struct entry *e)
{
	size_t i;

	for (i = 0; i < sizeof(daemon_keys) / sizeof(daemon_keys[0]); i++)
		if (strcmp(daemon_keys[i].name, e->key) == 0)
			return set_daemon_value(ld, cfg, &daemon_keys[i], e);
	fail(ld, e->line, "key '%s': unknown in [sslhistd]", e->key);
	return -1;
}

static int
daemon_defaults(struct loader *ld, struct config *cfg)
{
	const char *sd = getenv("STATE_DIRECTORY");
	struct entry e;
	size_t i, len;

	for (i = 0; i < sizeof(daemon_keys) / sizeof(daemon_keys[0]); i++) {
		if (daemon_keys[i].def == NULL)
			continue;
		e.key = (char *)(uintptr_t)daemon_keys[i].name;
		e.value = (char *)(uintptr_t)daemon_keys[i].def;
		e.line = 0;
		e.sect = 0;
		if (set_daemon_value(ld, cfg, &daemon_keys[i], &e) == -1)
			return -1;
	}
	/* systemd passes a colon list when StateDirectory= names several. */
	if (sd != NULL && sd[0] != '\0' && sd[0] != ':') {
		len = strcspn(sd, ":");
		if (asprintf(&cfg->database, "%.*s/history.db", (int)len, sd) < 0)
			cfg->database = NULL;
	} else {
		cfg->database = strdup(CONFIG_DEFAULT_DB);
	}
	if (cfg->database == NULL) {
		fail(ld, 0, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- [defaults] and [cluster NAME] ---- */

static const PQconninfoOption *
pq_option(const struct loader *ld, const char *key)
{
	const PQconninfoOption *o;

	for (o = ld->pqopts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, key) == 0)
			return o;
	return NULL;
}

static int
conn_set(struct conn_kv **kv, size_t *n, const char *key, const char *value)
{
	struct conn_kv *v;
	char *nv;
	size_t i;

	if ((nv = strdup(value)) == NULL)
		return -1;
	for (i = 0; i < *n; i++) {
		if (strcmp((*kv)[i].key, key) == 0) {
			free((*kv)[i].value);
			(*kv)[i].value = nv;
			return 0;
		}
	}
	v = realloc(*kv, (*n + 1) * sizeof(*v));
	if (v == NULL) {
		free(nv);
		return -1;
	}
	*kv = v;
	v[*n].value = nv;
	if ((v[*n].key = strdup(key)) == NULL) {
		free(nv);
		return -1;
	}
	(*n)++;
	return 0;
}

static void
conn_free(struct conn_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/* Checks the libpq keywords whose values sslhist itself relies on. */
static int
check_libpq_value(struct loader *ld, const struct entry *e)
{
	static const char *const modes[] = { "disable", "allow", "prefer", "require",
		"verify-ca", "verify-full" };
	const char *why;
	size_t i;
	long port;

	if (strcmp(e->key, "host") == 0) {
		if (e->value[0] == '\0' || strchr(e->value, ',') != NULL) {
			fail(ld, e->line, "key 'host': write one host name; list "
			    "several in 'instances' (each is polled)");
			return -1;
		}
	} else if (strcmp(e->key, "port") == 0) {
		if ((why = parse_int_range(e->value, 1, 65535, &port)) != NULL) {
			fail(ld, e->line, "key 'port': bad port '%s' (%s; one port "
			    "1..65535, several go in 'instances')", e->value, why);
			return -1;
		}
	} else if (strcmp(e->key, "sslmode") == 0) {
		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			if (strcmp(e->value, modes[i]) == 0)
				return 0;
		fail(ld, e->line, "key 'sslmode': bad mode '%s' (disable, allow, "
		    "prefer, require, verify-ca or verify-full)", e->value);
		return -1;
	} else if (strcmp(e->key, "options") == 0 && strstr(e->value, "application_name")) {
		fail(ld, e->line, "key 'options': must not set application_name "
		    "(sslhistd uses it to recognise its own sessions)");
		return -1;
	}
	return 0;
}

static int
check_instances(struct loader *ld, const struct entry *e)
{
	struct strlist l = { NULL, 0 };
	const char *why;
	char *host;
	int port = DEFAULT_PGPORT;
	size_t i;

	if (strcmp(e->value, "discover") == 0)
		return 0;
	if ((why = parse_list(e->value, &l)) != NULL || l.n == 0) {
		fail(ld, e->line, "key 'instances': bad list '%s' (%s)", e->value,
		    why ? why : "empty; write 'discover' or host[:port], ...");
		strlist_free(&l);
		return -1;
	}
	for (i = 0; i < l.n; i++) {
		if ((why = parse_hostport(l.v[i], &host, &port)) != NULL) {
			fail(ld, e->line, "key 'instances': bad instance '%s' (%s)",
			    l.v[i], why);
			strlist_free(&l);
			return -1;
		}
		free(host);
	}
	strlist_free(&l);
	return 0;
}

static int
cluster_entry(struct loader *ld, struct sect_vals *sv, const struct entry *e)
{
	struct strlist tmp = { NULL, 0 };
	int64_t ms;
	const PQconninfoOption *o;

	if (strcmp(e->key, "instances") == 0) {
		sv->instances = e;
		return check_instances(ld, e);
	} else if (strcmp(e->key, "discover_interval") == 0) {
		sv->discover_interval = e;
		return get_duration(ld, e, 1000, "1s", &ms);
	} else if (strcmp(e->key, "interval") == 0) {
		sv->interval = e;
		return get_duration(ld, e, 100, "100ms", &ms);
	} else if (strcmp(e->key, "exclude_users") == 0) {
		sv->exclude_users = e;
		if (get_list(ld, e, &tmp) == -1)
			return -1;
	} else if (strcmp(e->key, "password_command") == 0) {
		sv->password_command = e;
		if (get_command(ld, e, &tmp) == -1)
			return -1;
	} else if (strcmp(e->key, "application_name") == 0 ||
	    strcmp(e->key, "fallback_application_name") == 0) {
		fail(ld, e->line, "key '%s': not allowed (sslhistd sets "
		    "application_name=sslhistd to recognise its own sessions)", e->key);
		return -1;
	} else if (strcmp(e->key, "hostaddr") == 0) {
		fail(ld, e->line, "key 'hostaddr': not allowed (sslhistd resolves "
		    "'host' itself without blocking and sets hostaddr; write an "
		    "address in 'host' or 'instances')");
		return -1;
	} else if ((o = pq_option(ld, e->key)) != NULL) {
		if (check_libpq_value(ld, e) == -1)
			return -1;
		if (strcmp(e->key, "password") == 0)
			ld->saw_password = true;
		if (conn_set(&sv->conn, &sv->nconn, e->key, e->value) == -1) {
			fail(ld, e->line, "out of memory");
			return -1;
		}
	} else {
		fail(ld, e->line, "key '%s': unknown (neither a libpq connection "
		    "keyword nor an sslhist key)", e->key);
		return -1;
	}
	strlist_free(&tmp);
	return 0;
}

static int
endpoint_add(struct cluster_cfg *c, const char *host, int port)
{
	struct endpoint *v;
	size_t i;

	for (i = 0; i < c->ninstances; i++)
		if (c->instances[i].port == port && strcmp(c->instances[i].host, host) == 0)
			return 1;
	v = realloc(c->instances, (c->ninstances + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	c->instances = v;
	if ((v[c->ninstances].host = strdup(host)) == NULL)
		return -1;
	v[c->ninstances++].port = port;
	return 0;
}

static int
resolve_instances(struct loader *ld, struct cluster_cfg *c, const struct entry *inst)
{
	const char *host = cluster_conn_get(c, "host");
	const char *ps = cluster_conn_get(c, "port");
	int port = ps ? atoi(ps) : DEFAULT_PGPORT;	/* checked already */
	struct strlist l = { NULL, 0 };
	char *h;
	int p, r = 0;
	size_t i;

	if (inst == NULL || strcmp(inst->value, "discover") == 0) {
		if (host == NULL && inst == NULL) {
			fail(ld, c->line, "cluster '%s': no 'host' and no 'instances'",
			    c->name);
			return -1;
		}
		if (host == NULL) {
			fail(ld, inst->line, "key 'instances': 'discover' needs the "
			    "cluster endpoint in 'host' (cluster '%s')", c->name);
			return -1;
		}
		c->discover = inst != NULL;
		r = endpoint_add(c, host, port);
	} else {
		(void)parse_list(inst->value, &l);	/* checked already */
		for (i = 0; i < l.n && r == 0; i++) {
			h = NULL;
			p = port;
			if (parse_hostport(l.v[i], &h, &p) != NULL)
				r = -1;
			else
				r = endpoint_add(c, h, p);
			if (r == 1)
				fail(ld, inst->line, "key 'instances': '%s' listed twice",
				    l.v[i]);
			free(h);
		}
		strlist_free(&l);
	}
	if (r == -1)
		fail(ld, inst ? inst->line : c->line, "out of memory");
	return r == 0 ? 0 : -1;
}

/* A value from the cluster, else from [defaults]. */
#define PICK(own, def, field) ((own)->field ? (own)->field : (def)->field)

static int
build_cluster(struct loader *ld, struct config *cfg, struct cluster_cfg *c,
	      const struct sect_vals *def, const struct sect_vals *own)
{
	const struct entry *e;
	size_t i;

	for (i = 0; i < def->nconn; i++)
		if (conn_set(&c->conn, &c->nconn, def->conn[i].key, def->conn[i].value) == -1)
			goto nomem;
	for (i = 0; i < own->nconn; i++)
		if (conn_set(&c->conn, &c->nconn, own->conn[i].key, own->conn[i].value) == -1)
			goto nomem;
	/* libpq would default to "prefer", which silently accepts plain text. */
	if (cluster_conn_get(c, "sslmode") == NULL &&
	    conn_set(&c->conn, &c->nconn, "sslmode", "verify-full") == -1)
		goto nomem;
	if (resolve_instances(ld, c, PICK(own, def, instances)) == -1)
		return -1;

	c->discover_interval_ms = 5 * 60 * 1000;
	if ((e = PICK(own, def, discover_interval)) != NULL)
		(void)parse_duration_ms(e->value, &c->discover_interval_ms);
	c->interval_ms = cfg->interval_ms;
	if ((e = PICK(own, def, interval)) != NULL)
		(void)parse_duration_ms(e->value, &c->interval_ms);
	if ((e = PICK(own, def, exclude_users)) != NULL) {
		if (get_list(ld, e, &c->exclude_users) == -1)
			return -1;
	} else {
		for (i = 0; i < cfg->exclude_users.n; i++)
			if (strlist_add(&c->exclude_users, cfg->exclude_users.v[i]) == -1)
				goto nomem;
	}
	if ((e = PICK(own, def, password_command)) != NULL &&
	    get_command(ld, e, &c->password_command) == -1)
		return -1;
	return 0;
nomem:
	fail(ld, c->line, "out of memory");
	return -1;
}

/* ---- the whole file ---- */

static int
validate_entries(struct loader *ld, struct config *cfg, struct sect_vals *vals)
{
	size_t i;
	const struct entry *e;
	int r;

	for (i = 0; i < ld->nentries; i++) {
		e = &ld->entries[i];
		if (ld->sects[e->sect].kind == SECT_DAEMON)
			r = daemon_entry(ld, cfg, e);
		else
			r = cluster_entry(ld, &vals[e->sect], e);
		if (r == -1)
			return -1;
	}
	return 0;
}

static int
build_clusters(struct loader *ld, struct config *cfg, struct sect_vals *vals)
{
	static const struct sect_vals none;
	const struct sect_vals *def = &none;
	struct cluster_cfg *c;
	size_t i;

	for (i = 0; i < ld->nsects; i++)
		if (ld->sects[i].kind == SECT_DEFAULTS)
			def = &vals[i];
	for (i = 0; i < ld->nsects; i++) {
		if (ld->sects[i].kind != SECT_CLUSTER)
			continue;
		c = realloc(cfg->clusters, (cfg->nclusters + 1) * sizeof(*c));
		if (c == NULL) {
			fail(ld, ld->sects[i].line, "out of memory");
			return -1;
		}
		cfg->clusters = c;
		c = &cfg->clusters[cfg->nclusters++];
		memset(c, 0, sizeof(*c));
		c->line = ld->sects[i].line;
		if ((c->name = strdup(ld->sects[i].name)) == NULL) {
			fail(ld, c->line, "out of memory");
			return -1;
		}
		if (build_cluster(ld, cfg, c, def, &vals[i]) == -1)
			return -1;
	}
	return 0;
}

static void
warn_password(const struct loader *ld)
{
	struct stat st;

	if (!ld->saw_password || fstat(fileno(ld->fp), &st) == -1)
		return;
	if (st.st_mode & (S_IRGRP | S_IROTH))
		log_warnx("%s: holds a 'password' and is readable by group or "
		    "others; make it readable by its owner only, or use "
		    "password_command or a passfile", ld->path);
}

static void
loader_free(struct loader *ld)
{
	size_t i;

	for (i = 0; i < ld->nsects; i++)
		free(ld->sects[i].name);
	free(ld->sects);
	for (i = 0; i < ld->nentries; i++) {
		free(ld->entries[i].key);
		free(ld->entries[i].value);
	}
	free(ld->entries);
	free(ld->linebuf);
	if (ld->pqopts != NULL)
		PQconninfoFree(ld->pqopts);
	if (ld->fp != NULL)
		fclose(ld->fp);
}

static int
parse_file(struct loader *ld, struct config *cfg)
{
	struct sect_vals *vals;
	int r;

	r = ini_parse_stream(reader, ld, handler, ld);
	if (r > 0 && (!ld->failed || r < ld->fail_line)) {
		ld->failed = false;	/* an earlier line is the one to report */
		fail(ld, r, "syntax error (expected 'key = value', '[section]' or a comment)");
	}
	if (!ld->failed && ferror(ld->fp))
		fail(ld, ld->lineno, "read error: %s", strerror(errno));
	if (ld->failed || daemon_defaults(ld, cfg) == -1)
		return -1;
	vals = calloc(ld->nsects ? ld->nsects : 1, sizeof(*vals));
	if (vals == NULL) {
		fail(ld, 0, "out of memory");
		return -1;
	}
	r = validate_entries(ld, cfg, vals);
	if (r == 0)
		r = build_clusters(ld, cfg, vals);
	for (size_t i = 0; i < ld->nsects; i++)
		conn_free(vals[i].conn, vals[i].nconn);
	free(vals);
	if (r == 0)
		warn_password(ld);
	return r;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct loader ld;
	struct config *cfg;
	char *pqerr = NULL;

	memset(&ld, 0, sizeof(ld));
	ld.path = path;
	ld.err = err;
	ld.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL || (cfg->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		free(cfg);
		return NULL;
	}
	/* The keywords PQconndefaults() lists, without its reading of the
	 * environment and service files. */
	if ((ld.pqopts = PQconninfoParse("", &pqerr)) == NULL) {
		snprintf(err, errlen, "%s: cannot list libpq keywords: %s", path,
		    pqerr ? pqerr : "out of memory");
		PQfreemem(pqerr);
		config_free(cfg);
		return NULL;
	}
	if ((ld.fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		loader_free(&ld);
		config_free(cfg);
		return NULL;
	}
	if (parse_file(&ld, cfg) == -1) {
		config_free(cfg);
		cfg = NULL;
	}
	loader_free(&ld);
	return cfg;
}

void
config_free(struct config *cfg)
{
	size_t i;
	struct cluster_cfg *c;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nclusters; i++) {
		c = &cfg->clusters[i];
		free(c->name);
		conn_free(c->conn, c->nconn);
		for (size_t j = 0; j < c->ninstances; j++)
			free(c->instances[j].host);
		free(c->instances);
		strlist_free(&c->exclude_users);
		strlist_free(&c->password_command);
	}
	free(cfg->clusters);
	free(cfg->path);
	free(cfg->database);
	strlist_free(&cfg->exclude_users);
	strlist_free(&cfg->exclude_databases);
	strlist_free(&cfg->on_non_ssl);
	strlist_free(&cfg->on_weak_tls);
	strlist_free(&cfg->on_new_client);
	free(cfg->hook_retry_ms);
	free(cfg);
}

const char *
cluster_conn_get(const struct cluster_cfg *c, const char *key)
{
	size_t i;

	for (i = 0; i < c->nconn; i++)
		if (strcmp(c->conn[i].key, key) == 0)
			return c->conn[i].value;
	return NULL;
}

/* ---- --check ---- */

/* The largest unit that states ms exactly: 90000 -> "90s", 300000 -> "5m". */
static void
format_duration(int64_t ms, char *buf, size_t len)
{
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(buf, len, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%lldms", (long long)ms);
}

static void
print_endpoint(FILE *out, const struct endpoint *ep)
{
	char name[IDENT_INSTANCE_NAME_MAX];

	fputs(ident_instance_name(name, sizeof name, ep->host, ep->port), out);
}

static void
print_list(FILE *out, const char *label, const struct strlist *l)
{
	size_t i;

	fprintf(out, "%s", label);
	if (l->n == 0)
		fprintf(out, " (none)");
	for (i = 0; i < l->n; i++)
		fprintf(out, "%s%s", i ? ", " : " ", l->v[i]);
	fputc('\n', out);
}

/* Only the program: arguments may carry a token. */
static void
print_command(FILE *out, const char *indent, const char *label, const struct strlist *argv)
{
	if (argv->n == 0)
		fprintf(out, "%s%s (none)\n", indent, label);
	else if (argv->n == 1)
		fprintf(out, "%s%s %s\n", indent, label, argv->v[0]);
	else
		fprintf(out, "%s%s %s (and %zu arguments)\n", indent, label,
		    argv->v[0], argv->n - 1);
}

/* How the cluster's instances are found: discovered, listed, or the host. */
static void
print_instances(const struct cluster_cfg *c, FILE *out)
{
	const char *host = cluster_conn_get(c, "host");
	const char *port = cluster_conn_get(c, "port");
	char d[32], *pattern;
	size_t i;

	if (c->discover) {
		format_duration(c->discover_interval_ms, d, sizeof(d));
		pattern = aurora_instance_host(c->instances[0].host, "SERVER_ID");
		fprintf(out, "  instances: discover via ");
		print_endpoint(out, &c->instances[0]);
		fprintf(out, " every %s: each live instance that aurora_replica_status() names, "
		    "polled at %s:%d (not the endpoint itself; the endpoint alone where the "
		    "function does not exist)\n", d, pattern ? pattern : "SERVER_ID",
		    c->instances[0].port);
		free(pattern);
		return;
	}
	if (c->ninstances == 1 && host != NULL && strcmp(c->instances[0].host, host) == 0 &&
	    c->instances[0].port == (port ? atoi(port) : DEFAULT_PGPORT)) {
		fprintf(out, "  instances: the host itself, ");
		print_endpoint(out, &c->instances[0]);
		fputc('\n', out);
		return;
	}
	fprintf(out, "  instances: listed,");
	for (i = 0; i < c->ninstances; i++) {
		fputs(i ? ", " : " ", out);
		print_endpoint(out, &c->instances[i]);
	}
	fputc('\n', out);
}

static void
print_cluster(const struct cluster_cfg *c, FILE *out)
{
	PQconninfoOption *opts = PQconninfoParse("", NULL), *o;
	char d2[32];
	bool secret;
	size_t i;

	fprintf(out, "cluster %s\n", c->name);
	print_instances(c, out);
	format_duration(c->interval_ms, d2, sizeof(d2));
	fprintf(out, "  interval %s\n", d2);
	print_list(out, "  exclude_users", &c->exclude_users);
	for (i = 0; i < c->nconn; i++) {
		secret = strcmp(c->conn[i].key, "password") == 0;
		for (o = opts; o != NULL && o->keyword != NULL; o++)
			if (strcmp(o->keyword, c->conn[i].key) == 0 && o->dispchar[0] == '*')
				secret = true;
		if (secret)
			fprintf(out, "  %s (set)\n", c->conn[i].key);
		else
			fprintf(out, "  %s %s\n", c->conn[i].key, c->conn[i].value);
	}
	if (c->password_command.n > 0)
		print_command(out, "  ", "password_command", &c->password_command);
	if (opts != NULL)
		PQconninfoFree(opts);
}

void
config_print(const struct config *cfg, FILE *out)
{
	char a[32], b[32], c[32], d[32], e[32];
	size_t i;

	fprintf(out, "configuration %s\n", cfg->path);
	fprintf(out, "database %s\n", cfg->database);
	format_duration(cfg->interval_ms, a, sizeof(a));
	format_duration(cfg->connect_timeout_ms, b, sizeof(b));
	format_duration(cfg->query_timeout_ms, c, sizeof(c));
	format_duration(cfg->max_backoff_ms, d, sizeof(d));
	format_duration(cfg->retention_ms, e, sizeof(e));
	fprintf(out, "interval %s, jitter %g%%, connect_timeout %s, query_timeout %s, "
	    "max_backoff %s, retention %s\n", a, cfg->jitter * 100, b, c, d, e);
	print_list(out, "exclude_users", &cfg->exclude_users);
	print_list(out, "exclude_databases", &cfg->exclude_databases);
	print_command(out, "", "on_non_ssl", &cfg->on_non_ssl);
	print_command(out, "", "on_weak_tls", &cfg->on_weak_tls);
	print_command(out, "", "on_new_client", &cfg->on_new_client);
	format_duration(cfg->hook_timeout_ms, a, sizeof(a));
	fprintf(out, "hook_timeout %s, hook_max_running %ld, hook_retry", a,
	    cfg->hook_max_running);
	if (cfg->n_hook_retry == 0)
		fprintf(out, " (none)");
	for (i = 0; i < cfg->n_hook_retry; i++) {
		format_duration(cfg->hook_retry_ms[i], a, sizeof(a));
		fprintf(out, "%s%s", i ? ", " : " ", a);
	}
	fprintf(out, "\nlog_level %s\n", cfg->log_level == LVL_ERROR ? "error" :
	    cfg->log_level == LVL_WARNING ? "warning" :
	    cfg->log_level == LVL_INFO ? "info" : "debug");
	fprintf(out, "%zu cluster%s\n", cfg->nclusters, cfg->nclusters == 1 ? "" : "s");
	for (i = 0; i < cfg->nclusters; i++)
		print_cluster(&cfg->clusters[i], out);
}
