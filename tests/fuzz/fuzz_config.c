/*
 * fuzz_config.c: config_load() of lib/config*.c, validation included, on the
 * input as a configuration file (a memfd opened by its /proc path, so the
 * real reader, line checks and fstat() run), then config_print().
 *
 * Checked beyond "no crash":
 * - a failure names FILE:LINE with a line of the file; a file with a NUL
 *   byte or a line longer than config.h allows never loads (libinih
 *   would cut it and read the rest as a new line);
 * - a loaded configuration keeps every promise of config.h and docs/CONTRACT.md
 *   section 2 (interval >= 100ms, jitter <= 50%, ports 1..65535, one
 *   endpoint for discover, sslmode always set and valid, only libpq
 *   keywords, no application_name/hostaddr, absolute commands, unique
 *   cluster names);
 * - no secret is ever printed: with every password-like libpq value and
 *   every command argument replaced by a marker, config_print() never
 *   shows the marker; and when the text "PWSECRET" occurs only in
 *   `password = ...` lines, neither the error, nor the warnings, nor the
 *   printout contain it;
 * - the warning about a readable file with a password: given whenever a
 *   cluster has a password and the file (mode 0644 for inputs of odd
 *   length, else 0600) is readable by others, never for a private file.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config.h"
#include "fuzzutil.h"
#include "log.h"

#define SECRET "PWSECRET"
#define MARKER "\x01MARK\x01"

static int conf_fd = -1;
static char conf_path[64];
static PQconninfoOption *pq_keywords;

static void
setup(void)
{
	if (conf_fd >= 0)
		return;
	unsetenv("STATE_DIRECTORY");
	unsetenv("JOURNAL_STREAM");
	log_init("fuzz_config", LVL_INFO);
	conf_fd = memfd_create("fuzz_config", 0);
	pq_keywords = PQconninfoParse("", NULL);
	if (conf_fd < 0 || pq_keywords == NULL)
		abort();
	snprintf(conf_path, sizeof(conf_path), "/proc/self/fd/%d", conf_fd);
}

static void
write_fd(int fd, const uint8_t *data, size_t size)
{
	if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
}

/* Does every "PWSECRET" of the input sit in a `password = ...` line? */
static bool
secret_only_in_password_lines(const char *s, size_t n)
{
	const char *line = s, *end = s + n, *nl, *p;
	bool any = false;

	while (line < end) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			nl = end;
		if (fuzz_contains(line, (size_t)(nl - line), SECRET)) {
			any = true;
			p = line;
			if ((size_t)(nl - p) < 8 || memcmp(p, "password", 8) != 0)
				return false;
			for (p += 8; p < nl && (*p == ' ' || *p == '\t'); p++)
				;
			if (p == nl || *p != '=')
				return false;
		}
		line = nl + 1;
	}
	return any;
}

static int
lines_of(const uint8_t *data, size_t size)
{
	int n = 0;
	size_t i;

	for (i = 0; i < size; i++)
		n += data[i] == '\n';
	return n + (size > 0 && data[size - 1] != '\n');
}

/* What config.h promises a loaded file never had. */
static void
check_loadable(const uint8_t *data, size_t size)
{
	size_t i, start = 0, len;

	FUZZ_ASSERT(memchr(data, 0, size) == NULL, "a file with a NUL byte loaded");
	for (i = 0; i <= size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		len = i - start;
		while (len > 0 && (data[start + len - 1] == '\r' || data[start + len - 1] == '\n'))
			len--;
		FUZZ_ASSERT(len <= 197, "a line of %zu characters loaded", len);
		start = i + 1;
	}
}

static void
check_error(const char *err, const uint8_t *data, size_t size)
{
	size_t plen = strlen(conf_path);
	const char *p = err + plen + 1;
	long line;
	char *end;

	FUZZ_ASSERT(strncmp(err, conf_path, plen) == 0 && err[plen] == ':',
	    "error does not name the file: %s", err);
	line = strtol(p, &end, 10);
	FUZZ_ASSERT(end > p && end[0] == ':' && end[1] == ' ', "error does not name a line: %s", err);
	FUZZ_ASSERT(line >= 1 && line <= lines_of(data, size), "line %ld of %d: %s", line,
	    lines_of(data, size), err);
}

static bool
is_pq_keyword(const char *k, bool *secret)
{
	const PQconninfoOption *o;

	for (o = pq_keywords; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, k) == 0) {
			*secret = strcmp(k, "password") == 0 || o->dispchar[0] == '*';
			return true;
		}
	}
	return false;
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return n >= 1 && n <= 63;
}

static void
check_command(const struct strlist *argv, const char *what)
{
	size_t i;

	if (argv->n == 0)
		return;
	FUZZ_ASSERT(argv->v[0][0] == '/' && argv->v[argv->n] == NULL, "%s not absolute", what);
	/* Arguments may carry a token: the printout must not show them. */
	for (i = 1; i < argv->n; i++) {
		free(argv->v[i]);
		if ((argv->v[i] = strdup(MARKER)) == NULL)
			abort();
	}
}

static void
check_cluster(struct cluster_cfg *c, const struct config *cfg, size_t idx)
{
	static const char *const modes[] = { "disable", "allow", "prefer", "require",
		"verify-ca", "verify-full", NULL };
	const char *mode = cluster_conn_get(c, "sslmode");
	size_t i, m;
	bool secret;

	FUZZ_ASSERT(valid_name(c->name), "cluster name \"%s\"", c->name);
	for (i = 0; i < idx; i++)
		FUZZ_ASSERT(strcmp(cfg->clusters[i].name, c->name) != 0, "cluster %s twice", c->name);
	FUZZ_ASSERT(c->ninstances >= 1 && (!c->discover || c->ninstances == 1),
	    "cluster %s: %zu instances", c->name, c->ninstances);
	for (i = 0; i < c->ninstances; i++)
		FUZZ_ASSERT(c->instances[i].host[0] != '\0' && c->instances[i].port >= 1 &&
		    c->instances[i].port <= 65535, "cluster %s: instance %zu", c->name, i);
	FUZZ_ASSERT(c->interval_ms >= 100 && c->discover_interval_ms >= 1000,
	    "cluster %s: interval %lld", c->name, (long long)c->interval_ms);
	FUZZ_ASSERT(mode != NULL, "cluster %s: no sslmode", c->name);
	for (m = 0; modes[m] != NULL && strcmp(modes[m], mode) != 0; m++)
		;
	FUZZ_ASSERT(modes[m] != NULL, "cluster %s: sslmode %s", c->name, mode);
	for (i = 0; i < c->nconn; i++) {
		const char *k = c->conn[i].key;
		FUZZ_ASSERT(is_pq_keyword(k, &secret), "cluster %s: key %s is no libpq keyword",
		    c->name, k);
		FUZZ_ASSERT(strcmp(k, "application_name") != 0 &&
		    strcmp(k, "fallback_application_name") != 0 && strcmp(k, "hostaddr") != 0,
		    "cluster %s: %s passed to libpq", c->name, k);
		if (secret) {
			free(c->conn[i].value);
			if ((c->conn[i].value = strdup(MARKER)) == NULL)
				abort();
		}
	}
	check_command(&c->password_command, "password_command");
}

/*
 * The secrets are replaced by MARKER before the printout; an input that
 * holds MARKER itself in a value that may be printed (a host, say) would
 * look like a leak: for such an input this check is skipped (the SECRET
 * check of the printout, in LLVMFuzzerTestOneInput, still runs).
 */
static void
check_config(struct config *cfg, bool input_has_marker)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *out;

	FUZZ_ASSERT(cfg->database != NULL && cfg->database[0] != '\0', "no database");
	FUZZ_ASSERT(cfg->interval_ms >= 100 && cfg->jitter >= 0 && cfg->jitter <= 0.5 + 1e-9,
	    "interval %lld, jitter %g", (long long)cfg->interval_ms, cfg->jitter);
	FUZZ_ASSERT(cfg->connect_timeout_ms >= 1 && cfg->query_timeout_ms >= 1 &&
	    cfg->max_backoff_ms >= 1 && cfg->retention_ms >= 1 && cfg->hook_timeout_ms >= 1,
	    "a timeout below 1 ms");
	FUZZ_ASSERT(cfg->hook_max_running >= 1 && cfg->hook_max_running <= 64,
	    "hook_max_running %ld", cfg->hook_max_running);
	for (i = 0; i < cfg->n_hook_retry; i++)
		FUZZ_ASSERT(cfg->hook_retry_ms[i] > 0, "retry delay %zu", i);
	FUZZ_ASSERT(cfg->log_level >= LVL_ERROR && cfg->log_level <= LVL_DEBUG, "log level");
	check_command(&cfg->on_non_ssl, "on_non_ssl");
	check_command(&cfg->on_weak_tls, "on_weak_tls");
	check_command(&cfg->on_new_client, "on_new_client");
	for (i = 0; i < cfg->nclusters; i++)
		check_cluster(&cfg->clusters[i], cfg, i);

	if ((out = open_memstream(&buf, &len)) == NULL)
		abort();
	config_print(cfg, out);
	fclose(out);
	FUZZ_ASSERT(input_has_marker || !fuzz_contains(buf, len, MARKER),
	    "--check printed a secret:\n%s", buf);
	for (i = 0; i < cfg->nclusters; i++)
		FUZZ_ASSERT(fuzz_contains(buf, len, cfg->clusters[i].name), "cluster %s not printed",
		    cfg->clusters[i].name);
	free(buf);
}

static bool
has_password(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nclusters; i++)
		if (cluster_conn_get(&cfg->clusters[i], "password") != NULL)
			return true;
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	char err[2048], *logged, *printed = NULL;
	size_t plen = 0, loglen;
	bool readable = size & 1, guard;
	FILE *out;

	setup();
	write_fd(conf_fd, data, size);
	if (fchmod(conf_fd, readable ? 0644 : 0600) != 0)
		abort();
	guard = secret_only_in_password_lines((const char *)data, size);
	fuzz_capture_begin();
	cfg = config_load(conf_path, err, sizeof(err));
	logged = fuzz_capture_end(&loglen);
	if (cfg == NULL) {
		check_error(err, data, size);
		FUZZ_ASSERT(logged[0] == '\0', "a failed load logged: %s", logged);
	} else {
		bool warned = strstr(logged, conf_path) != NULL;
		/* [defaults] may hold a password that no cluster uses: it
		 * still warns, so only one direction is exact. */
		FUZZ_ASSERT(!(readable && has_password(cfg)) || warned,
		    "no password warning for a readable file (logged: \"%s\")", logged);
		FUZZ_ASSERT(!warned || readable, "password warning for a private file: %s",
		    logged);
		FUZZ_ASSERT(warned || logged[0] == '\0', "unexpected log: %s", logged);
		check_loadable(data, size);
		if ((out = open_memstream(&printed, &plen)) == NULL)
			abort();
		config_print(cfg, out);
		fclose(out);
		check_config(cfg, fuzz_contains((const char *)data, size, MARKER));
	}
	if (guard) {
		FUZZ_ASSERT(cfg != NULL || strstr(err, SECRET) == NULL, "error shows the password");
		FUZZ_ASSERT(strstr(logged, SECRET) == NULL, "log shows the password");
		FUZZ_ASSERT(printed == NULL || !fuzz_contains(printed, plen, SECRET),
		    "--check shows the password");
	}
	free(printed);
	free(logged);
	config_free(cfg);
	return 0;
}
