/*
 * procspawn.h: posix_spawn with the child set-up that hooks and
 * password_command need (see evspawn.h for the event-loop side).
 *
 * The child gets an empty signal mask, every signal at its default
 * disposition (SIGPIPE included, which the daemon ignores), its own
 * process group (pgid = pid), in_fd/out_fd/err_fd as 0/1/2 (in_fd -1:
 * /dev/null), and no other fd: every fd from 3 up is closed in the child
 * (glibc >= 2.34), on top of O_CLOEXEC everywhere in the daemon.
 */
#ifndef SSLHIST_PROCSPAWN_H
#define SSLHIST_PROCSPAWN_H

#include <sys/types.h>

/*
 * Starts argv[0] (an absolute path; no PATH search) with exactly argv and
 * envp. The three fds must be above 2. Returns 0 with *pid set, or an
 * errno value (ENOENT, EACCES, ENOMEM, ...) when nothing was started.
 */
int procspawn(pid_t *pid, const char *const *argv, const char *const *envp,
	      int in_fd, int out_fd, int err_fd);

#endif
