/*
 * fdlimit.h: room for one socket per instance.
 *
 * Every instance holds a connection open, and a fleet of 2,000 needs more
 * descriptors than the usual soft limit of 1024 (systemd's default for
 * services, which select() once needed). The daemon uses libevent's epoll
 * backend, so it raises its soft RLIMIT_NOFILE to the hard limit at start.
 * Under a seccomp filter that denies setrlimit (the unit's
 * SystemCallFilter=~@resources) it cannot: the unit sets LimitNOFILE= and
 * this logs a warning naming the limit it keeps.
 */
#ifndef SSLHIST_FDLIMIT_H
#define SSLHIST_FDLIMIT_H

/* Raises the soft limit to the hard one; logs what it could not do. */
void fdlimit_raise(void);

#endif
