/*
 * test_spawn.c: real child processes through a real libevent loop.
 *
 * The test binary doubles as a hook program: with "--dump" it writes its
 * argv and environment, with "--fds" the fds it was given.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "check.h"
#include "evspawn.h"

extern char **environ;

static struct event_base *base;
static char self[PATH_MAX];

struct got {
	bool called;
	bool called_inside_start;
	struct child_result r;
	char *out, *err, *spawn_error;
};

static bool in_start;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
dupmem(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void
on_exit_cb(const struct child_result *r, void *arg)
{
	struct got *g = arg;

	g->called = true;
	g->called_inside_start = in_start;
	g->r = *r;
	g->out = dupmem(r->out, r->out_len);
	g->err = dupmem(r->err, r->err_len);
	g->spawn_error = r->spawn_error ? strdup(r->spawn_error) : NULL;
	g->r.out = g->r.err = g->r.spawn_error = NULL;
}

static void
got_free(struct got *g)
{
	free(g->out);
	free(g->err);
	free(g->spawn_error);
	memset(g, 0, sizeof(*g));
}

static const char *const clean_env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", NULL };

static struct child *
start(struct got *g, const char *const *argv, const char *const *envp, const char *in,
      size_t inlen, size_t max_output, int64_t timeout_ms)
{
	struct child_spec spec = {
		.argv = argv, .envp = envp ? envp : clean_env, .stdin_buf = in,
		.stdin_len = inlen, .max_output = max_output, .timeout_ms = timeout_ms,
		.on_exit = on_exit_cb, .arg = g,
	};
	struct child *c;

	memset(g, 0, sizeof(*g));
	in_start = true;
	c = spawn_start(base, &spec);
	in_start = false;
	return c;
}

/* Runs the loop until every g[i] was reported or the deadline passed. */
static bool
wait_all(struct got *g, size_t n, int64_t deadline_ms)
{
	int64_t end = now_ms() + deadline_ms;
	size_t i;

	for (;;) {
		for (i = 0; i < n && g[i].called; i++)
			;
		if (i == n)
			return true;
		if (now_ms() > end)
			return false;
		event_base_loop(base, EVLOOP_ONCE);
	}
}

/* A timer that ticks while the loop waits for a child. */
static int ticks;
static struct event *tick_ev;

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 0, 20000 };

	(void)fd;
	(void)what;
	(void)arg;
	ticks++;
	evtimer_add(tick_ev, &tv);
}

static void
test_argv_env(void)
{
	const char *argv[] = { self, "--dump", "a b", "", "$(touch /tmp/x)", "\x1b[31m;`id`|\n", NULL };
	const char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "SSLHIST_X=\x1b\n;$(x)\xff",
			       "SSLHIST_EMPTY=", NULL };
	static const char want[] = "argv\0--dump\0a b\0\0$(touch /tmp/x)\0\x1b[31m;`id`|\n\0"
	    "env\0PATH=/usr/local/bin:/usr/bin:/bin\0SSLHIST_X=\x1b\n;$(x)\xff\0SSLHIST_EMPTY=\0";
	struct got g;

	CHECK(start(&g, argv, envp, NULL, 0, 4096, 5000) != NULL);
	CHECK(wait_all(&g, 1, 10000));
	CHECK(g.r.spawned && g.r.exited);
	CHECK_INT(g.r.exit_code, 0);
	CHECK_INT(g.r.out_len, sizeof(want) - 1);
	CHECK(g.r.out_len == sizeof(want) - 1 && memcmp(g.out, want, sizeof(want) - 1) == 0);
	CHECK_STR(g.err, "");
	got_free(&g);
}

static unsigned long long
status_hex(const char *status, const char *key)
{
	const char *p = strstr(status, key);

	return p ? strtoull(p + strlen(key), NULL, 16) : ~0ULL;
}

/* The daemon blocks and ignores signals; the child must see neither. */
static void
test_signals_and_group(void)
{
	const char *argv[] = { "/bin/cat", "/proc/self/status", "/proc/self/stat", NULL };
	sigset_t block, old;
	struct got g;
	const char *rp;
	long pid = -1, pgrp = -1;

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	signal(SIGUSR2, SIG_IGN);
	CHECK(start(&g, argv, NULL, NULL, 0, 65536, 5000) != NULL);
	CHECK(wait_all(&g, 1, 10000));
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGUSR2, SIG_DFL);
	CHECK(g.r.exited && g.r.exit_code == 0);
	CHECK_INT(status_hex(g.out, "SigBlk:"), 0);
	CHECK_INT(status_hex(g.out, "SigIgn:"), 0);
	/* /proc/self/stat: "PID (comm) STATE PPID PGRP ..." */
	rp = strrchr(g.out, ')');
	if (rp != NULL) {
		const char *nl = rp;

		while (nl > g.out && nl[-1] != '\n')
			nl--;
		pid = strtol(nl, NULL, 10);
		sscanf(rp + 2, "%*c %*d %ld", &pgrp);
	}
	CHECK(pid > 0);
	CHECK_INT(pgrp, pid);
	CHECK(pgrp != (long)getpgrp());
	got_free(&g);
}

/* While another child holds its pipes open, a second child gets exactly
 * 0, 1 and 2 (as pipes), even with a daemon fd opened without O_CLOEXEC. */
static void
test_no_fd_leak(void)
{
	const char *sleeper[] = { "/bin/sleep", "0.5", NULL };
	const char *lister[] = { self, "--fds", NULL };
	struct got g[2];
	int leaky = open("/dev/null", O_RDONLY);

	CHECK(leaky > 2);
	CHECK(start(&g[0], sleeper, NULL, "x", 1, 100, 5000) != NULL);
	CHECK(start(&g[1], lister, NULL, "y", 1, 4096, 5000) != NULL);
	CHECK(wait_all(g, 2, 10000));
	CHECK(g[1].r.exited && g[1].r.exit_code == 0);
	CHECK(strncmp(g[1].out, "0 pipe:", 7) == 0);
	CHECK(strstr(g[1].out, "\n1 pipe:") != NULL);
	CHECK(strstr(g[1].out, "\n2 pipe:") != NULL);
	CHECK(strstr(g[1].out, "\n3 ") == NULL);
	if (strstr(g[1].out, "\n3 ") != NULL)
		fprintf(stderr, "child fds:\n%s", g[1].out);
	close(leaky);
	got_free(&g[0]);
	got_free(&g[1]);
}

static char *
pattern(size_t n)
{
	char *p = malloc(n);
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	return p;
}

static void
test_stdin_delivered(void)
{
	const char *argv[] = { "/bin/cat", NULL };
	size_t n = 1 << 20;
	char *in = pattern(n);
	struct got g;

	CHECK(start(&g, argv, NULL, in, n, 2 * n, 10000) != NULL);
	CHECK(wait_all(&g, 1, 20000));
	CHECK(g.r.exited && g.r.exit_code == 0);
	CHECK_INT(g.r.out_len, n);
	CHECK(!g.r.out_truncated);
	CHECK(g.r.out_len == n && memcmp(g.out, in, n) == 0);
	got_free(&g);

	/* No stdin buffer: /dev/null, immediate EOF. */
	CHECK(start(&g, argv, NULL, NULL, 0, 100, 5000) != NULL);
	CHECK(wait_all(&g, 1, 10000));
	CHECK(g.r.exited && g.r.exit_code == 0 && g.r.out_len == 0);
	got_free(&g);
	free(in);
}

/* A child that never reads 1 MiB of stdin blocks nothing; one that exits
 * at once makes the write fail with EPIPE, which is no crash. */
static void
test_unread_stdin(void)
{
	const char *sleeper[] = { "/bin/sleep", "1", NULL };
	const char *quitter[] = { "/bin/true", NULL };
	size_t n = 1 << 20;
	char *in = pattern(n);
	struct timeval tv = { 0, 20000 };
	struct got g[2];
	int64_t t0;

	tick_ev = evtimer_new(base, tick_cb, NULL);
	ticks = 0;
	evtimer_add(tick_ev, &tv);
	t0 = now_ms();
	CHECK(start(&g[0], sleeper, NULL, in, n, 100, 10000) != NULL);
	CHECK(start(&g[1], quitter, NULL, in, n, 100, 10000) != NULL);
	CHECK(wait_all(g, 2, 10000));
	/* 50 ticks in 1 s unloaded; a stalled loop would give ~0. */
	CHECK(ticks >= 20);
	CHECK(now_ms() - t0 < 5000);
	CHECK(g[0].r.exited && g[0].r.exit_code == 0);
	CHECK(g[1].r.exited && g[1].r.exit_code == 0);
	event_free(tick_ev);
	got_free(&g[0]);
	got_free(&g[1]);
	free(in);
}

static void
test_output_bounded(void)
{
	const char *argv[] = { "/bin/sh", "-c", "cat; cat /proc/self/status >&2; exit 3", NULL };
	size_t n = 1 << 20;
	char *in = pattern(n);
	struct got g;

	CHECK(start(&g, argv, NULL, in, n, 1000, 10000) != NULL);
	CHECK(wait_all(&g, 1, 20000));
	/* The rest was read and dropped: cat was not blocked, exit 3 ran. */
	CHECK(g.r.exited);
	CHECK_INT(g.r.exit_code, 3);
	CHECK_INT(g.r.out_len, 1000);
	CHECK(g.r.out_truncated);
	CHECK(memcmp(g.out, in, 1000) == 0);
	CHECK_INT(strlen(g.out), 1000);
	CHECK_INT(g.r.err_len, 1000);
	CHECK(g.r.err_truncated);
	CHECK(strncmp(g.err, "Name:", 5) == 0);
	got_free(&g);
	free(in);
}

static bool
gone(long pid)
{
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

/* The timeout reaches the whole group: the shell and its background
 * child. The test is a subreaper, so the orphan is reaped by our loop. */
static void
test_timeout_group(void)
{
	const char *argv[] = { "/bin/sh", "-c", "sleep 100 & echo $!; sleep 100", NULL };
	struct got g;
	int64_t t0 = now_ms(), end;
	long gpid;

	CHECK(start(&g, argv, NULL, NULL, 0, 100, 300) != NULL);
	CHECK(wait_all(&g, 1, 10000));
	CHECK(now_ms() - t0 < 4000);
	CHECK(g.r.timed_out);
	CHECK(g.r.signaled);
	CHECK_INT(g.r.signo, SIGTERM);
	gpid = strtol(g.out, NULL, 10);
	CHECK(gpid > 0);
	end = now_ms() + 5000;
	while (gpid > 0 && !gone(gpid) && now_ms() < end) {
		struct timeval tv = { 0, 50000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	CHECK(gpid > 0 && gone(gpid));
	got_free(&g);
}

/* A group that ignores SIGTERM gets SIGKILL 5 s later. */
static void
test_timeout_kill(void)
{
	const char *argv[] = { "/bin/sh", "-c", "trap '' TERM; sleep 100; exit 0", NULL };
	struct got g;
	int64_t t0 = now_ms(), took;

	CHECK(start(&g, argv, NULL, NULL, 0, 100, 200) != NULL);
	CHECK(wait_all(&g, 1, 15000));
	took = now_ms() - t0;
	CHECK(took >= 5000 && took < 9000);
	CHECK(g.r.timed_out);
	CHECK(g.r.signaled);
	CHECK_INT(g.r.signo, SIGKILL);
	got_free(&g);
}

static void
test_terminate(void)
{
	const char *argv[] = { "/bin/sleep", "100", NULL };
	struct got g;
	struct child *c;

	c = start(&g, argv, NULL, NULL, 0, 100, 60000);
	CHECK(c != NULL);
	CHECK_INT(spawn_running(), 1);
	spawn_terminate(c);
	CHECK(wait_all(&g, 1, 5000));
	CHECK(g.r.signaled && g.r.signo == SIGTERM);
	CHECK(!g.r.timed_out);
	CHECK_INT(spawn_running(), 0);
	got_free(&g);
}

static void
test_spawn_errors(void)
{
	const char *missing[] = { "/no/such/hook", "arg", NULL };
	const char *noexec[3] = { NULL, NULL, NULL };
	char path[] = "/tmp/test_spawn_XXXXXX";
	struct got g[2];
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	chmod(path, 0644);
	noexec[0] = path;
	CHECK(start(&g[0], missing, NULL, "x", 1, 100, 5000) != NULL);
	CHECK(start(&g[1], noexec, NULL, NULL, 0, 100, 5000) != NULL);
	/* Never from inside spawn_start. */
	CHECK(!g[0].called && !g[1].called);
	CHECK_INT(spawn_running(), 2);
	CHECK(wait_all(g, 2, 5000));
	CHECK(!g[0].called_inside_start);
	CHECK(!g[0].r.spawned && !g[0].r.exited && !g[0].r.signaled);
	CHECK_STR(g[0].spawn_error, "/no/such/hook: No such file or directory");
	CHECK(!g[1].r.spawned);
	CHECK(g[1].spawn_error != NULL && strstr(g[1].spawn_error, ": Permission denied") != NULL);
	CHECK_INT(spawn_running(), 0);
	unlink(path);
	got_free(&g[0]);
	got_free(&g[1]);
}

/* spawn_shutdown reports what is left and kills it. */
static void
test_shutdown(void)
{
	const char *argv[] = { "/bin/sleep", "100", NULL };
	struct got g;

	CHECK(start(&g, argv, NULL, NULL, 0, 100, 60000) != NULL);
	spawn_shutdown();
	CHECK(g.called);
	CHECK(g.r.spawned && !g.r.exited && !g.r.signaled);
	CHECK_INT(spawn_running(), 0);
	got_free(&g);
}

static int
helper_dump(int argc, char **argv)
{
	char **e;
	int i;

	fwrite("argv", 1, 5, stdout);
	for (i = 1; i < argc; i++)
		fwrite(argv[i], 1, strlen(argv[i]) + 1, stdout);
	fwrite("env", 1, 4, stdout);
	for (e = environ; *e != NULL; e++)
		fwrite(*e, 1, strlen(*e) + 1, stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int
helper_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char path[300], target[256];
	ssize_t n;

	if (d == NULL)
		return 1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		printf("%s %s\n", de->d_name, target);
	}
	closedir(d);
	return 0;
}

int
main(int argc, char **argv)
{
	ssize_t n;

	if (argc > 1 && strcmp(argv[1], "--dump") == 0)
		return helper_dump(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--fds") == 0)
		return helper_fds();

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	base = event_base_new();
	CHECK(spawn_init(base) == 0);

	test_argv_env();
	test_signals_and_group();
	test_no_fd_leak();
	test_stdin_delivered();
	test_unread_stdin();
	test_output_bounded();
	test_timeout_group();
	test_terminate();
	test_spawn_errors();
	test_timeout_kill();
	test_shutdown();

	event_base_free(base);
	libevent_global_shutdown();
	return check_done();
}
