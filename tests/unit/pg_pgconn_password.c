/*
 * pg_pgconn_password.c: pgconn's password_command against a real
 * PostgreSQL 15 server that asks pwuser for a SCRAM password
 * (test_units_pg.py): a command that prints the token (and what it sees
 * of the environment), fails, prints nothing, is missing, prints a wrong
 * password or hangs past connect_timeout; pgconn_free while one runs
 * (the child is killed and reaped, nobody is called back; run under ASan).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evspawn.h"
#include "log.h"
#include "pgrec.h"

/* ---- password_command ---- */

static bool
no_children(void *arg)
{
	(void)arg;
	return spawn_running() == 0;
}

static char *
slurp(const char *path)
{
	static char buf[512];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static void
expect_failure(const char *cluster, int64_t connect_ms, const char *want, const char *also)
{
	struct rec r;

	open_conn(cluster, &r, connect_ms, 5000);
	pgconn_connect(r.pc);
	CHECK(next_event(&r));
	CHECK_INT(r.failed, 1);
	if (!strstr(r.error, want) && !(also && strstr(r.error, also)))
		CHECK(contains(r.error, want));
	pgconn_free(r.pc);
}

static void
test_password_command(void)
{
	const struct cluster_cfg *c = pgloop_cluster(cfg, "pwcmd");
	char path[600], want[600];
	struct rec r;

	/* The service manager's variables are not passed on. */
	setenv("NOTIFY_SOCKET", "/run/nonexistent/notify", 1);
	CHECK(connect_ok("pwcmd", &r));
	query1(&r, "SELECT current_user", NULL);
	CHECK_STR(r.value, "pwuser");
	pgconn_free(r.pc);
	snprintf(path, sizeof(path), "%s.env", c->password_command.v[0]);
	snprintf(want, sizeof(want), "%s:%d:pwuser:unset", c->instances[0].host,
		 c->instances[0].port);
	CHECK_STR(slurp(path), want);
	unsetenv("NOTIFY_SOCKET");

	expect_failure("pwfail", 10000, "password_command exited with status 3: no token", NULL);
	expect_failure("pwempty", 10000, "password_command printed no password", NULL);
	expect_failure("pwmissing", 10000, "No such file", NULL);
	expect_failure("pwbad", 10000, "password authentication failed", NULL);
	/* The attempt's deadline and the command's own timeout are the same
	 * connect_timeout: either may come first. */
	expect_failure("pwhang", 500, "timeout: running password_command took longer than 500 ms",
		       "password_command killed by signal 15 (timeout)");
	CHECK(pgloop_until(no_children, NULL, 10000));
}

static bool
file_exists(void *arg)
{
	return access(arg, F_OK) == 0;
}

static void
test_free_pending_password(void)
{
	const struct cluster_cfg *c = pgloop_cluster(cfg, "pwslow");
	char pidfile[600];
	struct rec r;
	const char *p;
	long pid;

	snprintf(pidfile, sizeof(pidfile), "%s.pid", c->password_command.v[0]);
	unlink(pidfile);
	open_conn("pwslow", &r, 20000, 5000);
	pgconn_connect(r.pc);
	CHECK(pgloop_until(file_exists, pidfile, 10000));
	p = slurp(pidfile);
	pid = p ? strtol(p, NULL, 10) : 0;
	CHECK(pid > 0);
	pgconn_free(r.pc);
	CHECK(pgloop_until(no_children, NULL, 10000));	/* killed and reaped */
	CHECK(pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH);
	CHECK_INT(events(&r), 0);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_init("pg_pgconn_password", LVL_INFO);
	pgloop_init();
	cfg = pgloop_config("PG_CONF");
	dns = pgloop_dns(NULL);
	if (spawn_init(base) < 0)
		return 2;

	test_password_command();
	test_free_pending_password();

	spawn_shutdown();
	evdns_base_free(dns, 1);
	config_free(cfg);
	pgloop_done();
	return check_done();
}
