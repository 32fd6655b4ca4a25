"""Where the PostgreSQL servers of other major versions run (harness.PgServer(version=N)).

PostgreSQL 15 is the host's (harness.PG_BIN). 13 and 17 run from Debian
chroots that scripts/pgchroot.sh builds (bullseye's postgresql-13, trixie's
postgresql-17), found as $SSLHIST_PG_CHROOTS/13 and $SSLHIST_PG_CHROOTS/17.
CI builds them and sets the variable (.ci/run), so a missing chroot there
fails the version tests; unset, they skip (a developer machine without them).

A program of a chroot runs as the chroot's `postgres` user (its uid and gid
are the chroot's, not the host's: ids() reads them from its /etc/passwd)
through `unshare --mount`, `chroot` and `runuser -u postgres --`. In that
private mount namespace the host's temporary directory (where the harness
keeps data directories, sockets, logs and certificates) is bound over the
chroot's, so every path means the same file inside and outside: the host's
psql reaches the Unix socket, reads the log, and the server reads the TLS
files the test made. The bind mount exists only in the namespace, which ends
with its last process: a test can never leave a mount behind, even when
killed. The server listens on the host's loopback (no network namespace).
"""

import os

HOST_VERSION = 15
CHROOT_VERSIONS = (13, 17)
ENV = "SSLHIST_PG_CHROOTS"
MARK = ".sslhist-pgchroot"      # written by scripts/pgchroot.sh when complete

# $1 the chroot, $2 the host's temporary directory, then the command. The
# arguments are the harness's own paths, passed as positional parameters.
_ENTER = ('r=$1 t=$2; shift 2; mkdir -p "$r$t" && mount --bind "$t" "$r$t" && '
          'exec chroot "$r" runuser -u postgres -- "$@"')


class Unavailable(Exception):
    """The chroot of a version is not configured or not built."""


def configured():
    """True when the environment names the chroots' directory (CI does)."""
    return bool(os.environ.get(ENV))


def root(version):
    """The chroot directory of PostgreSQL `version`; Unavailable (saying how
    to build it) when the variable is unset or the chroot incomplete."""
    if version not in CHROOT_VERSIONS:
        raise ValueError("PostgreSQL %r: only %s run from chroots" % (version, CHROOT_VERSIONS))
    base = os.environ.get(ENV)
    if not base:
        raise Unavailable("%s is not set: build the chroots with "
                          "`sudo scripts/pgchroot.sh %d /var/cache/sslhist-pg/%d` and set "
                          "%s=/var/cache/sslhist-pg" % (ENV, version, version, ENV))
    d = os.path.join(base, str(version))
    if not os.path.isfile(os.path.join(d, MARK)):
        raise Unavailable("no complete PostgreSQL %d chroot at %s (%s=%s): build it with "
                          "`sudo scripts/pgchroot.sh %d %s`" % (version, d, ENV, base, version, d))
    return d


def server_version(version):
    """`postgres --version` of the chroot's server, as pgchroot.sh recorded it."""
    with open(os.path.join(root(version), MARK)) as f:
        return f.read().strip()


def ids(version):
    """(uid, gid) of the chroot's postgres user."""
    with open(os.path.join(root(version), "etc", "passwd")) as f:
        for line in f:
            p = line.rstrip("\n").split(":")
            if len(p) >= 4 and p[0] == "postgres":
                return int(p[2]), int(p[3])
    raise Unavailable("no postgres user in %s/etc/passwd" % root(version))


def command(version, prog, args, tmpdir):
    """argv running /usr/lib/postgresql/VERSION/bin/PROG ARGS in the chroot
    as its postgres user, with the host's `tmpdir` visible at the same path."""
    return (["unshare", "--mount", "--propagation", "private", "--",
             "sh", "-c", _ENTER, "pgchroot", root(version), tmpdir,
             "/usr/lib/postgresql/%d/bin/%s" % (version, prog)] + list(args))


def skip_reason(version):
    """Why a test of `version` may be skipped here, or None if it must run.

    The host's 15 always runs. 13 and 17 skip only while SSLHIST_PG_CHROOTS
    is unset (a developer machine without chroots); when it is set (CI sets
    it), a missing chroot is a failure, not a skip: root() raises."""
    if version == HOST_VERSION or configured():
        return None
    return ("PostgreSQL %d not tested: %s is unset (build the chroots with "
            "scripts/pgchroot.sh and set it, see README.md, \"Tests and figures\")" % (version, ENV))
