/*
 * fdlimit.c: see fdlimit.h.
 */
#include <errno.h>
#include <sys/resource.h>

#include "fdlimit.h"
#include "log.h"

void
fdlimit_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warn_errno("getrlimit(RLIMIT_NOFILE)");
		return;
	}
	if (rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		int e = errno;
		struct rlimit now;

		if (getrlimit(RLIMIT_NOFILE, &now) < 0)
			now.rlim_cur = 0;
		errno = e;	/* setrlimit's reason, for the message */
		log_warn_errno("could not raise the open files limit from %llu to %llu "
			       "(set LimitNOFILE= in the unit): instances past that many "
			       "open files cannot connect",
			       (unsigned long long)now.rlim_cur, (unsigned long long)rl.rlim_max);
		return;
	}
	log_debugx("open files limit raised to %llu", (unsigned long long)rl.rlim_max);
}
