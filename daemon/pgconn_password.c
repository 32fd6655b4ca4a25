/*
 * pgconn_password.c: the cluster's password_command, run once per
 * connection attempt (an IAM token lives 15 minutes; a fresh one per attempt
 * is never stale). It is spawned through evspawn.h, never a shell, with the
 * daemon's environment less what belongs to the service manager, plus
 * SSLHIST_HOST, SSLHIST_PORT and SSLHIST_USER. Its first line of output is
 * the password; what it prints is never logged (only its stderr's first
 * line, on failure). It runs under the attempt's connect_timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evspawn.h"
#include "pgconn.h"
#include "pgconn_int.h"

/* The token generators we know print a few hundred bytes to a few KB. */
#define PASSWORD_MAX_OUTPUT 8192

/* The command exited non-zero, was killed or timed out. */
static void
fail_exit(struct pgconn *pc, const struct child_result *r)
{
	const char *e = r->err_len ? r->err : "";
	int elen = (int)strcspn(e, "\n");

	if (r->exited)
		pgc_fail(pc, "password_command exited with status %d%s%.*s", r->exit_code,
			 elen ? ": " : "", elen, e);
	else
		pgc_fail(pc, "password_command killed by signal %d%s", r->signo,
			 r->timed_out ? " (timeout)" : "");
}

static void
on_password(const struct child_result *r, void *arg)
{
	struct pgconn *pc = pgc_waiter_done(arg);
	size_t len;

	if (pc == NULL)		/* the attempt is gone */
		return;
	pc->child = NULL;
	if (!pgc_expect(pc, PGC_PASSWORD, "password_command exit"))
		return;
	if (!r->spawned) {
		pgc_fail(pc, "password_command: %s", r->spawn_error);
		return;
	}
	if (r->timed_out || !r->exited || r->exit_code != 0) {
		fail_exit(pc, r);
		return;
	}
	len = strcspn(r->out, "\r\n");
	if (len == 0) {
		pgc_fail(pc, "password_command printed no password");
		return;
	}
	pc->password = strndup(r->out, len);
	if (pc->password == NULL) {
		pgc_fail(pc, "out of memory");
		return;
	}
	pgc_start_libpq(pc);
}

/* Adds "NAME=value" at env[*k] when it can be allocated. */
static void
add_var(char **env, size_t *k, const char *name, const char *value)
{
	if (value != NULL && asprintf(&env[*k], "%s=%s", name, value) >= 0)
		(*k)++;
}

/*
 * The command's environment: the entries from environ are borrowed, the
 * SSLHIST_ ones allocated (free_env frees just those).
 */
static char **
password_env(const struct pgconn *pc, const char *user)
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **env;
	char port[16];

	while (environ[n])
		n++;
	env = calloc(n + 4, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!spawn_service_var(environ[i]))
			env[k++] = environ[i];
	}
	snprintf(port, sizeof(port), "%d", pc->port);
	add_var(env, &k, "SSLHIST_HOST", pc->host);
	add_var(env, &k, "SSLHIST_PORT", port);
	add_var(env, &k, "SSLHIST_USER", user);
	env[k] = NULL;
	return env;
}

static void
free_env(char **env)
{
	for (size_t i = 0; env[i]; i++) {
		if (strncmp(env[i], "SSLHIST_", 8) == 0)
			free(env[i]);
	}
	free(env);
}

void
pgc_start_password(struct pgconn *pc)
{
	char **env;
	struct waiter *w;
	struct child_spec spec = {
		.argv = (const char *const *)pc->password_command.v,
		.max_output = PASSWORD_MAX_OUTPUT,
		.timeout_ms = pc->connect_timeout_ms,
		.on_exit = on_password,
	};

	if (!pgc_set_state(pc, PGC_PASSWORD, "start of password_command"))
		return;
	env = password_env(pc, pgc_kv_get(pc, "user"));
	w = env ? pgc_waiter_new(pc) : NULL;
	if (w == NULL) {
		free(env);
		pgc_fail(pc, "out of memory");
		return;
	}
	spec.envp = (const char *const *)env;
	spec.arg = w;
	pc->child = spawn_start(pc->base, &spec);
	free_env(env);
	if (pc->child == NULL) {
		(void)pgc_waiter_done(w);
		pgc_fail(pc, "password_command: out of memory");
	}
}
