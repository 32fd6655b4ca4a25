/*
 * evspawn.c: see evspawn.h.
 *
 * The process itself is started by procspawn() (lib/procspawn.c: signal
 * mask, dispositions, process group, fds). Pipes are O_CLOEXEC on both
 * ends; the child's ends are moved above 2 so that its dup2 onto 0..2
 * always changes the number (dup2 onto itself would keep FD_CLOEXEC).
 *
 * One child moves through: running (pid alive, pipes open) -> reaped and
 * pipes at EOF -> finished (on_exit, freed). The timeout timer stays armed
 * until the end, so a grandchild that keeps a pipe open after its parent
 * exited is bounded by the same deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "procspawn.h"
#include "evspawn.h"
#include "timer.h"

#define KILL_GRACE_MS 5000
#define READ_CHUNK 16384
#define WRITE_CHUNK 65536

struct outbuf {
	int fd;			/* -1 once at EOF or given up */
	struct event *ev;
	char *buf;		/* max_output + 1 bytes, NUL-terminated */
	size_t len;
	bool truncated;
};

struct child {
	struct child *prev, *next;
	pid_t pid;		/* 0: spawn failed */
	bool reaped;
	int status;
	bool timed_out, term_sent, kill_sent;
	int in_fd;		/* -1 when closed (or /dev/null) */
	struct event *in_ev;
	char *in_buf;
	size_t in_len, in_off;
	struct outbuf out, err;
	size_t max_output;
	struct event *timer;	/* spawn error report, timeout, kill */
	char spawn_error[512];
	void (*on_exit)(const struct child_result *, void *);
	void *arg;
};

static struct event *sigchld_ev;
static struct child *children;
static size_t nchildren;

static void finish(struct child *c);

static void
close_fd(int *fd, struct event **ev)
{
	if (*ev != NULL) {
		event_free(*ev);
		*ev = NULL;
	}
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static void
close_stdin(struct child *c)
{
	close_fd(&c->in_fd, &c->in_ev);
	free(c->in_buf);
	c->in_buf = NULL;
}

/* Only while something of the group may still exist: after the child was
 * reaped and its pipes closed, the pgid could in principle be reused. */
static void
kill_group(struct child *c, int sig)
{
	if (c->pid <= 0)
		return;
	if (c->reaped && c->out.fd < 0 && c->err.fd < 0)
		return;
	if (kill(-c->pid, sig) == -1 && errno != ESRCH)
		log_warn_errno("kill(-%ld, %d)", (long)c->pid, sig);
}

static bool
done(const struct child *c)
{
	return c->pid == 0 || (c->reaped && c->out.fd < 0 && c->err.fd < 0);
}

static void
maybe_finish(struct child *c)
{
	if (done(c))
		finish(c);
}

static void
unlink_child(struct child *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		children = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	nchildren--;
}

static void
free_child(struct child *c)
{
	close_stdin(c);
	close_fd(&c->out.fd, &c->out.ev);
	close_fd(&c->err.fd, &c->err.ev);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->out.buf);
	free(c->err.buf);
	free(c);
}

static void
fill_result(const struct child *c, struct child_result *r)
{
	static char empty[1];

	memset(r, 0, sizeof(*r));
	r->spawned = c->pid != 0;
	r->spawn_error = r->spawned ? NULL : c->spawn_error;
	if (c->reaped && WIFEXITED(c->status)) {
		r->exited = true;
		r->exit_code = WEXITSTATUS(c->status);
	} else if (c->reaped && WIFSIGNALED(c->status)) {
		r->signaled = true;
		r->signo = WTERMSIG(c->status);
	}
	r->timed_out = c->timed_out;
	r->out = c->out.buf ? c->out.buf : empty;
	r->out_len = c->out.len;
	r->out_truncated = c->out.truncated;
	r->err = c->err.buf ? c->err.buf : empty;
	r->err_len = c->err.len;
	r->err_truncated = c->err.truncated;
}

/* Unlinks first, so on_exit may start or terminate other children. */
static void
finish(struct child *c)
{
	struct child_result r;

	unlink_child(c);
	fill_result(c, &r);
	if (c->on_exit != NULL)
		c->on_exit(&r, c->arg);
	free_child(c);
}

static void
stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	size_t n = c->in_len - c->in_off;
	ssize_t w;

	(void)what;
	if (n > WRITE_CHUNK)
		n = WRITE_CHUNK;
	w = write(fd, c->in_buf + c->in_off, n);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		/* EPIPE: the child closed its stdin; that is its choice. */
		close_stdin(c);
		return;
	}
	c->in_off += (size_t)w;
	if (c->in_off == c->in_len)
		close_stdin(c);
}

static void
output_cb(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	struct outbuf *o = fd == c->out.fd ? &c->out : &c->err;
	char chunk[READ_CHUNK];
	ssize_t n;
	size_t keep;

	(void)what;
	n = read(fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close_fd(&o->fd, &o->ev);
		maybe_finish(c);
		return;
	}
	keep = c->max_output - o->len;
	if (keep > (size_t)n)
		keep = (size_t)n;
	if (keep < (size_t)n)
		o->truncated = true;
	memcpy(o->buf + o->len, chunk, keep);
	o->len += keep;
	o->buf[o->len] = '\0';
}

static void
arm_timer(struct child *c, int64_t ms)
{
	timer_add_ms(c->timer, ms);
}

static void
terminate(struct child *c)
{
	if (c->term_sent)
		return;
	c->term_sent = true;
	kill_group(c, SIGTERM);
	arm_timer(c, KILL_GRACE_MS);
}

/* After SIGKILL, pipes still open belong to processes outside the group:
 * give them up so that on_exit is not held hostage. */
static void
kill_now(struct child *c)
{
	c->kill_sent = true;
	kill_group(c, SIGKILL);
	close_stdin(c);
	close_fd(&c->out.fd, &c->out.ev);
	close_fd(&c->err.fd, &c->err.ev);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;

	(void)fd;
	(void)what;
	if (c->pid == 0) {
		finish(c);
		return;
	}
	if (!c->term_sent) {
		if (!c->reaped)
			c->timed_out = true;
		terminate(c);
		return;
	}
	kill_now(c);
	maybe_finish(c);
}

static struct child *
find_child(pid_t pid)
{
	struct child *c;

	for (c = children; c != NULL; c = c->next)
		if (c->pid == pid)
			return c;
	return NULL;
}

static void
sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct child *c;
	pid_t pid;
	int status;

	(void)sig;
	(void)what;
	(void)arg;
	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		c = find_child(pid);
		if (c == NULL)
			continue;	/* a grandchild we were made subreaper of */
		c->reaped = true;
		c->status = status;
		/* Nobody reads the rest of stdin any more. */
		close_stdin(c);
		maybe_finish(c);
	}
}

int
spawn_init(struct event_base *base)
{
	struct sigaction sa;

	if (sigchld_ev != NULL)
		return 0;
	/*
	 * Writing into a pipe whose child is gone must give EPIPE, not kill
	 * the daemon. main() ignores SIGPIPE too; this keeps the module safe
	 * on its own (tests, other programs).
	 */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	sigchld_ev = evsignal_new(base, SIGCHLD, sigchld_cb, NULL);
	if (sigchld_ev == NULL || evsignal_add(sigchld_ev, NULL) == -1) {
		log_errorx("cannot install the SIGCHLD event");
		if (sigchld_ev != NULL)
			event_free(sigchld_ev);
		sigchld_ev = NULL;
		return -1;
	}
	return 0;
}

void
spawn_shutdown(void)
{
	struct child *c;

	while ((c = children) != NULL) {
		kill_group(c, SIGKILL);
		close_stdin(c);
		close_fd(&c->out.fd, &c->out.ev);
		close_fd(&c->err.fd, &c->err.ev);
		finish(c);
	}
	if (sigchld_ev != NULL)
		event_free(sigchld_ev);
	sigchld_ev = NULL;
}

size_t
spawn_running(void)
{
	return nchildren;
}

/* A pipe with O_CLOEXEC on both ends; the child's end (index `child`) is
 * moved above 2 so that dup2 onto 0..2 never keeps FD_CLOEXEC. */
static int
make_pipe(int p[2], int child)
{
	int fd;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if (p[child] <= STDERR_FILENO) {
		fd = fcntl(p[child], F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		if (fd == -1) {
			close(p[0]);
			close(p[1]);
			return -1;
		}
		close(p[child]);
		p[child] = fd;
	}
	if (fcntl(p[!child], F_SETFL, O_NONBLOCK) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	return 0;
}

static void
close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	p[0] = p[1] = -1;
}

/* Returns 0 or an errno value (c->pid set on success). */
static int
do_spawn(struct child *c, const struct child_spec *spec, int in[2], int out[2], int err[2])
{
	int r;

	if (spec->stdin_buf != NULL && make_pipe(in, 0) == -1)
		return errno;
	if (make_pipe(out, 1) == -1 || make_pipe(err, 1) == -1)
		return errno;
	r = procspawn(&c->pid, spec->argv, spec->envp, in[0], out[1], err[1]);
	if (r != 0)
		c->pid = 0;
	return r;
}

static int
watch(struct event_base *base, struct child *c, const struct child_spec *spec,
      int in[2], int out[2], int err[2])
{
	c->in_fd = in[1];
	c->out.fd = out[0];
	c->err.fd = err[0];
	in[1] = out[0] = err[0] = -1;
	if (c->in_fd >= 0) {
		c->in_len = spec->stdin_len;
		c->in_buf = malloc(c->in_len ? c->in_len : 1);
		c->in_ev = event_new(base, c->in_fd, EV_WRITE | EV_PERSIST, stdin_cb, c);
		if (c->in_buf == NULL || c->in_ev == NULL)
			return -1;
		memcpy(c->in_buf, spec->stdin_buf, c->in_len);
		if (c->in_len == 0)
			close_stdin(c);
		else
			event_add(c->in_ev, NULL);
	}
	c->out.ev = event_new(base, c->out.fd, EV_READ | EV_PERSIST, output_cb, c);
	c->err.ev = event_new(base, c->err.fd, EV_READ | EV_PERSIST, output_cb, c);
	if (c->out.ev == NULL || c->err.ev == NULL)
		return -1;
	event_add(c->out.ev, NULL);
	event_add(c->err.ev, NULL);
	if (spec->timeout_ms > 0)
		arm_timer(c, spec->timeout_ms);
	return 0;
}

struct child *
spawn_start(struct event_base *base, const struct child_spec *spec)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	struct child *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->in_fd = c->out.fd = c->err.fd = -1;
	c->max_output = spec->max_output;
	c->on_exit = spec->on_exit;
	c->arg = spec->arg;
	c->out.buf = malloc(c->max_output + 1);
	c->err.buf = malloc(c->max_output + 1);
	c->timer = evtimer_new(base, timer_cb, c);
	if (c->out.buf == NULL || c->err.buf == NULL || c->timer == NULL) {
		free_child(c);
		return NULL;
	}
	c->out.buf[0] = c->err.buf[0] = '\0';

	r = do_spawn(c, spec, in, out, err);
	/* The child's ends now belong to the child (or to nobody). */
	if (in[0] >= 0)
		close(in[0]);
	if (out[1] >= 0)
		close(out[1]);
	if (err[1] >= 0)
		close(err[1]);
	in[0] = out[1] = err[1] = -1;
	if (r != 0) {
		close_pair(in);
		close_pair(out);
		close_pair(err);
		snprintf(c->spawn_error, sizeof(c->spawn_error), "%s: %s", spec->argv[0],
		    strerror(r));
		arm_timer(c, 0);	/* reported from the loop, never from here */
	} else if (watch(base, c, spec, in, out, err) == -1) {
		/* The child runs but cannot be watched: stop it and report. */
		c->timed_out = false;
		kill(-c->pid, SIGKILL);
		close_pair(in);
		close_pair(out);
		close_pair(err);
		close_stdin(c);
		close_fd(&c->out.fd, &c->out.ev);
		close_fd(&c->err.fd, &c->err.ev);
		c->term_sent = c->kill_sent = true;
	}
	c->next = children;
	if (children != NULL)
		children->prev = c;
	children = c;
	nchildren++;
	return c;
}

void
spawn_terminate(struct child *c)
{
	if (c->pid == 0)
		return;
	terminate(c);
}

bool
spawn_service_var(const char *e)
{
	return strncmp(e, "NOTIFY_SOCKET=", 14) == 0 || strncmp(e, "WATCHDOG_", 9) == 0 ||
	       strncmp(e, "LISTEN_", 7) == 0 || strncmp(e, "SSLHIST_", 8) == 0;
}
