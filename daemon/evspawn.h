/*
 * evspawn.h: run a child process from the event loop, never through a shell.
 *
 * The child gets exactly the argv and envp given, an empty signal mask,
 * default dispositions (SIGPIPE included), its own process group, and no
 * file descriptor of the daemon but its three pipes. Its stdin is written
 * from the loop (a child that never reads blocks nothing) and then closed;
 * stdout and stderr are read from the loop, each kept up to max_output
 * bytes (the rest read and dropped). At timeout_ms the process group gets
 * SIGTERM, 5 s later SIGKILL. Children are reaped from a SIGCHLD event.
 * on_exit runs once, from the loop, after the child was reaped and both
 * output pipes reached EOF (or were given up at the kill).
 *
 * The daemon ignores SIGPIPE (main does signal(SIGPIPE, SIG_IGN); spawn_init
 * also sets it if still default), so a child that closes its stdin early
 * gives EPIPE on our side, which just ends the writing. A process of the
 * group that outlives the child while holding a pipe open is bounded by the
 * same timeout; one that detached from the pipes is left alone.
 */
#ifndef SSLHIST_EVSPAWN_H
#define SSLHIST_EVSPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct child;

struct child_result {
	bool spawned;		/* false: spawn_error says why */
	const char *spawn_error;
	bool exited;		/* exit_code valid */
	int exit_code;
	bool signaled;		/* signo valid */
	int signo;
	bool timed_out;		/* killed at timeout_ms */
	const char *out;	/* stdout, NUL-terminated, len out_len */
	size_t out_len;
	const char *err;	/* stderr, NUL-terminated */
	size_t err_len;
	bool out_truncated, err_truncated;
};

struct child_spec {
	const char *const *argv;	/* argv[0]: absolute path */
	const char *const *envp;	/* the whole environment */
	const char *stdin_buf;		/* may be NULL: stdin is /dev/null */
	size_t stdin_len;
	size_t max_output;
	int64_t timeout_ms;
	void (*on_exit)(const struct child_result *res, void *arg);
	void *arg;
};

/* An environment entry that belongs to the service manager (NOTIFY_SOCKET,
 * WATCHDOG_*, LISTEN_*) or is sslhist's own (SSLHIST_*): a child of the
 * daemon gets none of them from the daemon's environment. */
bool spawn_service_var(const char *entry);

/* Once per loop, before the first child: installs the SIGCHLD event. */
int spawn_init(struct event_base *base);
/*
 * At exit, before event_base_free: children not finished get SIGKILL to
 * their group and their on_exit runs from inside this call (neither exited
 * nor signaled: not reaped); then the SIGCHLD event is freed.
 */
void spawn_shutdown(void);

/*
 * Starts a child. Returns NULL only when out of memory; a child that could
 * not be spawned (missing path, not executable) still reports through
 * on_exit with spawned=false, from the loop, never from inside this call.
 */
struct child *spawn_start(struct event_base *base, const struct child_spec *spec);
/* Sends SIGTERM to the child's group now, SIGKILL 5 s later. Only valid
 * before the child's on_exit ran (the child is freed after it). */
void spawn_terminate(struct child *c);
/* Children started whose on_exit has not run yet. */
size_t spawn_running(void);

#endif
