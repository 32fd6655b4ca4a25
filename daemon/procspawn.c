/*
 * procspawn.c: see procspawn.h.
 *
 * posix_spawn rather than fork/exec: glibc runs it as clone(CLONE_VFORK),
 * so a daemon with a large heap does not copy its page tables per hook,
 * and a failed exec (ENOENT, EACCES) comes back as the return value
 * instead of as an exit status 127 that a real hook might also use.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <unistd.h>

#include "procspawn.h"

/*
 * Every signal, including the two that glibc keeps for itself (SIGCANCEL
 * and SIGSETXID, 32 and 33): sigfillset leaves them out, and glibc's
 * posix_spawn then sets them to SIG_IGN in the child, which exec keeps.
 * sigaddset refuses them, so their bits are set directly (glibc's
 * sigset_t is an array of unsigned long, bit sig - 1).
 */
static void
fill_all_signals(sigset_t *set)
{
	sigfillset(set);
#if defined(__GLIBC__) && defined(__linux__)
	{
		unsigned long *w = (unsigned long *)(void *)set;
		const unsigned bits = 8 * sizeof(unsigned long);
		int sig;

		for (sig = 32; sig <= 33 && sig < SIGRTMIN; sig++)
			w[(sig - 1) / bits] |= 1UL << ((unsigned)(sig - 1) % bits);
	}
#endif
}

static int
spawn_attrs(posix_spawnattr_t *attr)
{
	sigset_t none, all;
	int r;

	sigemptyset(&none);
	fill_all_signals(&all);
	if ((r = posix_spawnattr_init(attr)) != 0)
		return r;
	if ((r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)) != 0 ||
	    (r = posix_spawnattr_setsigmask(attr, &none)) != 0 ||
	    (r = posix_spawnattr_setsigdefault(attr, &all)) != 0 ||
	    (r = posix_spawnattr_setpgroup(attr, 0)) != 0)
		posix_spawnattr_destroy(attr);
	return r;
}

/* The fds are above 2, so each dup2 changes the number and the copy loses
 * FD_CLOEXEC (dup2 onto itself would keep it). */
static int
spawn_actions(posix_spawn_file_actions_t *fa, int in_fd, int out_fd, int err_fd)
{
	int r;

	if ((r = posix_spawn_file_actions_init(fa)) != 0)
		return r;
	if (in_fd >= 0)
		r = posix_spawn_file_actions_adddup2(fa, in_fd, STDIN_FILENO);
	else
		r = posix_spawn_file_actions_addopen(fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(fa, out_fd, STDOUT_FILENO);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(fa, err_fd, STDERR_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* A library that forgot O_CLOEXEC still leaks nothing. */
	if (r == 0)
		r = posix_spawn_file_actions_addclosefrom_np(fa, STDERR_FILENO + 1);
#endif
	if (r != 0)
		posix_spawn_file_actions_destroy(fa);
	return r;
}

int
procspawn(pid_t *pid, const char *const *argv, const char *const *envp,
	  int in_fd, int out_fd, int err_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int r;

	if (in_fd == STDIN_FILENO || in_fd == STDOUT_FILENO || in_fd == STDERR_FILENO ||
	    out_fd <= STDERR_FILENO || err_fd <= STDERR_FILENO)
		return EINVAL;
	if ((r = spawn_attrs(&attr)) != 0)
		return r;
	if ((r = spawn_actions(&fa, in_fd, out_fd, err_fd)) != 0) {
		posix_spawnattr_destroy(&attr);
		return r;
	}
	/* posix_spawn takes char *const[] for historical reasons; it does not
	 * write to them. */
	r = posix_spawn(pid, argv[0], &fa, &attr, (char *const *)(uintptr_t)argv,
	    (char *const *)(uintptr_t)envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return r;
}
