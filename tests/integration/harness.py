"""Integration-test harness for sslhist: real PostgreSQL 15, real TLS, real psql.

Every integration test (tests/integration/test_*.py) and the demo import this
module. It uses the Python 3 standard library only and needs root: PostgreSQL
refuses to run as root, so servers run as the `postgres` OS user through
`runuser`, and their data directories are chowned to it.

What it provides
----------------
* ``workdir()``: one temporary directory per process, removed at exit together
  with every server, session and daemon started here (kept when the
  environment has SSLHIST_KEEP=1, to look at logs after a failure).
* ``CA``: a private certificate authority made with the ``openssl`` CLI, which
  issues server certificates (SAN: localhost, 127.0.0.1, ::1, extra names).
* ``PgServer``: a throwaway PostgreSQL 15 server on a free loopback port, with
  or without TLS, the standard roles (``monitor`` in pg_monitor, ``nomon`` not,
  ``rdsadmin``, ``app1``..``app3``, ``hiddenuser``) and databases (``appdb``,
  ``rdsadmin``); ``start()``, ``stop(mode)``, ``sql()``, SIGSTOP helpers.
* ``Session``: a real ``psql`` client held open in the background;
  ``burst()``: many short-lived connections.
* ``Daemon``: writes an INI configuration from a dict and runs ``sslhistd``
  (``--once``, ``--check`` or long-running), reads its SQLite database
  read-only, stops it with a signal and checks that it exits in time.
* ``Blackhole``: a TCP listener that accepts and never answers.
* ``wait_until()`` and ``TestCase`` (unittest with context-printing asserts),
  ``main()`` which runs a test file and prints a summary.
* ``assert_secret_absent()``: a password is nowhere in logs, the database or
  any output of either program.

Ports are picked so that concurrent test processes never collide: a port is
used only after its lock file under /tmp/sslhist-ports is locked (flock, held
for the life of the process) and a bind on 127.0.0.1 succeeded.
"""

import atexit
import errno
import fcntl
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

import pgversion

PG_BIN = os.environ.get("SSLHIST_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
PORT_LOCK_DIR = "/tmp/sslhist-ports"
PORT_RANGE = (21000, 39000)
KEEP = os.environ.get("SSLHIST_KEEP") == "1"
VERBOSE = os.environ.get("SSLHIST_TEST_VERBOSE") == "1"
# Application name of the harness's own administrative psql calls, so tests
# can tell them apart from the clients they create.
ADMIN_APP = "sslhist-harness"


def log(*args):
    """Progress output of the harness (stderr, flushed, time-stamped)."""
    print("[%s] %s" % (time.strftime("%H:%M:%S"), " ".join(str(a) for a in args)),
          file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Waiting

class Timeout(AssertionError):
    """wait_until() gave up; the message says what it waited for."""


def wait_until(pred, timeout=10.0, what="condition", interval=0.05):
    """Polls pred() until it returns a true value; returns that value.

    Raises Timeout after `timeout` seconds, naming `what` and the last value
    or exception pred() gave. Exceptions from pred() count as "not yet" (so a
    predicate may read a database that does not exist yet), except
    AssertionError, which pred() raises to give up at once (e.g. the daemon
    or a psql process exited).
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
            last = v
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - reported if we time out
            last = "%s: %s" % (type(e).__name__, e)
        if time.monotonic() >= deadline:
            raise Timeout("timed out after %.1fs waiting for %s (last: %r)"
                          % (timeout, what, last))
        time.sleep(interval)


# --------------------------------------------------------------------------
# Per-process working directory and cleanup

WORKDIR_PREFIX = "sslhist-test-"
_workdir = None
_owner_lock = None
_cleanups = []          # callables run at exit, last registered first
_cleanup_lock = threading.Lock()


def require_root():
    if os.geteuid() != 0:
        sys.exit("sslhist integration tests need root (they run PostgreSQL "
                 "as the postgres user through runuser); run them with sudo")


def workdir():
    """The per-process temporary directory (created on first use).

    It is traversable by the postgres user; removed at exit unless
    SSLHIST_KEEP=1.
    """
    global _workdir, _owner_lock
    if _workdir is None:
        require_root()
        _workdir = tempfile.mkdtemp(prefix=WORKDIR_PREFIX)
        os.chmod(_workdir, 0o755)
        # Held while this process lives: a later run that can take it knows
        # the owner died (e.g. SIGKILL) and removes what it left behind.
        _owner_lock = open(os.path.join(_workdir, ".owner"), "w")
        fcntl.flock(_owner_lock, fcntl.LOCK_EX)
        atexit.register(_cleanup_all)
        _install_signal_cleanup()
        _sweep_stale()
    return _workdir


def _sweep_stale():
    """Stops the servers and removes the work directories of harness runs
    whose process died without cleaning up (kept ones excepted)."""
    import glob
    for d in glob.glob(os.path.join(tempfile.gettempdir(), WORKDIR_PREFIX + "*")):
        if d == _workdir or os.path.exists(os.path.join(d, ".kept")):
            continue
        try:
            f = open(os.path.join(d, ".owner"), "r")
        except OSError:
            continue                    # not ours, or too old to tell
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue                    # its owner is alive
        try:
            log("removing stale", d)
            for pidfile in glob.glob(os.path.join(d, "srv-*", "data", "postmaster.pid")):
                datadir = os.path.dirname(pidfile)
                try:
                    ctl = pg_command(_datadir_version(datadir), "pg_ctl", [
                        "-D", datadir, "-m", "immediate", "-w", "-t", "20", "stop"])
                except (OSError, ValueError, pgversion.Unavailable):
                    continue
                run(ctl, check=False)
            with open("/proc/mounts") as m:
                mounts = [line.split()[1] for line in m]
            for mp in sorted(mounts, reverse=True):
                if mp.startswith(d + "/"):
                    run(["umount", "-l", mp], check=False)
            shutil.rmtree(d, ignore_errors=True)
        finally:
            f.close()


def subdir(name, owner=None, mode=0o755):
    """A fresh directory inside workdir(), optionally chowned to `owner`."""
    path = os.path.join(workdir(), name)
    os.makedirs(path, exist_ok=False)
    os.chmod(path, mode)
    if owner:
        pw = pwd.getpwnam(owner)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def on_cleanup(fn):
    """Registers fn() to run at exit (in reverse order of registration)."""
    with _cleanup_lock:
        _cleanups.append(fn)


def _cleanup_all():
    while True:
        with _cleanup_lock:
            if not _cleanups:
                break
            fn = _cleanups.pop()
        try:
            fn()
        except Exception:  # noqa: BLE001 - keep cleaning up
            traceback.print_exc()
    if _workdir and os.path.isdir(_workdir):
        if KEEP:
            open(os.path.join(_workdir, ".kept"), "w").close()
            log("SSLHIST_KEEP=1: kept", _workdir)
        else:
            shutil.rmtree(_workdir, ignore_errors=True)


def cleanup():
    """Stops everything started here and removes workdir() now (also run at
    exit; safe to call twice)."""
    _cleanup_all()


def _install_signal_cleanup():
    # ctest's timeout and ^C must not leave servers behind: turn them into
    # SystemExit so that atexit handlers run.
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


def run(cmd, check=True, timeout=60, **kw):
    """subprocess.run with text output captured and a useful error."""
    if VERBOSE:
        log("run:", " ".join(cmd))
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("command failed (exit %d): %s\nstdout:\n%s\nstderr:\n%s"
                           % (r.returncode, " ".join(cmd), r.stdout, r.stderr))
    return r


def as_postgres(cmd):
    return ["runuser", "-u", PG_USER, "--"] + cmd


def pg_command(version, prog, args):
    """argv running PostgreSQL program `prog` (initdb, pg_ctl, postgres) of
    major `version` as its postgres user: the host's 15, or 13 and 17 in
    their chroots (pgversion.py; raises pgversion.Unavailable without one)."""
    if version == pgversion.HOST_VERSION:
        return as_postgres([os.path.join(PG_BIN, prog)] + list(args))
    return pgversion.command(version, prog, args, os.path.dirname(workdir()))


def pg_chown(path, version):
    """chown to the postgres user of `version` (a chroot's has other ids)."""
    if version == pgversion.HOST_VERSION:
        pw = pwd.getpwnam(PG_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    else:
        os.chown(path, *pgversion.ids(version))


def _datadir_version(datadir):
    with open(os.path.join(datadir, "PG_VERSION")) as f:
        return int(f.read().strip())


# --------------------------------------------------------------------------
# Ports

_held_ports = {}        # port -> open lock file


def free_port():
    """A loopback TCP port no other sslhist test process will pick.

    The port's lock file stays locked until this process exits (or
    release_port()), so a server stopped and started again keeps its port.
    """
    os.makedirs(PORT_LOCK_DIR, exist_ok=True)
    try:
        os.chmod(PORT_LOCK_DIR, 0o1777)
    except OSError:
        pass
    rnd = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(500):
        port = rnd.randrange(*PORT_RANGE)
        if port in _held_ports:
            continue
        f = open(os.path.join(PORT_LOCK_DIR, "%d.lock" % port), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        if _port_bindable(port):
            _held_ports[port] = f
            return port
        f.close()
    raise RuntimeError("no free port found in %r" % (PORT_RANGE,))


def release_port(port):
    f = _held_ports.pop(port, None)
    if f:
        f.close()


def _port_bindable(port):
    for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.bind((addr, port))
        except OSError as e:
            if fam == socket.AF_INET6 and e.errno == errno.EADDRNOTAVAIL:
                continue            # no IPv6 loopback here: fine
            return False
        finally:
            s.close()
    return True


# --------------------------------------------------------------------------
# Certificates

class CA:
    """A private CA (openssl CLI). `subject_cn` is its Common Name.

    Attributes: cert (PEM path), key, dir, subject_cn.
    """
    _n = 0

    def __init__(self, name="ca1", subject_cn=None):
        CA._n += 1
        self.name = name
        self.subject_cn = subject_cn or ("sslhist test %s" % name)
        self.dir = subdir("ca-%s-%d" % (name, CA._n))
        self.cert = os.path.join(self.dir, "ca.crt")
        self.key = os.path.join(self.dir, "ca.key")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
             "-subj", "/O=sslhist tests/CN=%s" % self.subject_cn,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", self.key, "-out", self.cert])
        os.chmod(self.key, 0o600)
        self._serial = 0

    def issue_server(self, cn="localhost", dns=(), ips=("127.0.0.1", "::1"),
                     owner=PG_USER, days=397):
        """Issues a server certificate; returns (cert_path, key_path).

        SAN: DNS:localhost plus `dns`, IP entries from `ips`. The key is
        mode 0600 and owned by `owner` (PostgreSQL insists on that).
        """
        self._serial += 1
        base = os.path.join(self.dir, "server%d" % self._serial)
        key, csr, crt, ext = base + ".key", base + ".csr", base + ".crt", base + ".ext"
        names = ["DNS:localhost"] + ["DNS:%s" % d for d in dns] + ["IP:%s" % i for i in ips]
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=%s\n" % ",".join(names))
        run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", "/O=sslhist tests/CN=%s" % cn, "-keyout", key, "-out", csr])
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
             "-set_serial", str(1000 + self._serial + CA._n * 100), "-days", str(days),
             "-extfile", ext, "-out", crt])
        os.chmod(key, 0o600)
        if owner:
            pw = pwd.getpwnam(owner)
            for p in (key, crt):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        return crt, key


def cert_time(cert_path, which):
    """notBefore (`start`) or notAfter (`end`) of a PEM certificate, as Unix
    seconds."""
    import calendar
    out = run(["openssl", "x509", "-noout", "-%sdate" % which, "-in", cert_path]).stdout
    text = out.strip().split("=", 1)[1]
    return calendar.timegm(time.strptime(text, "%b %d %H:%M:%S %Y %Z"))


def cert_field(cert_path, field):
    """`subject`, `issuer` or `fingerprint` (SHA-256) of a PEM certificate,
    as the openssl CLI prints it (RFC 2253 for names)."""
    opt = {"subject": "-subject", "issuer": "-issuer",
           "fingerprint": "-fingerprint"}[field]
    args = ["openssl", "x509", "-noout", opt, "-in", cert_path]
    if field == "fingerprint":
        args.insert(3, "-sha256")
    else:
        args += ["-nameopt", "RFC2253"]
    out = run(args).stdout.strip()
    return out.split("=", 1)[1] if field == "fingerprint" else out.split("=", 1)[1].strip()


# --------------------------------------------------------------------------
# PostgreSQL servers

_templates = {}         # version -> a data directory made by initdb once per process
_template_lock = threading.Lock()

APP_USERS = ("app1", "app2", "app3", "hiddenuser")

_SETUP_SQL = [
    "CREATE ROLE monitor LOGIN IN ROLE pg_monitor",
    "CREATE ROLE nomon LOGIN",
    "CREATE ROLE rdsadmin LOGIN SUPERUSER",
] + ["CREATE ROLE %s LOGIN" % u for u in APP_USERS] + [
    "CREATE DATABASE appdb",
    "CREATE DATABASE rdsadmin",
]


def _pg_template(version=pgversion.HOST_VERSION):
    """initdb once per process and version (roles and databases included);
    servers copy it."""
    with _template_lock:
        if version in _templates:
            return _templates[version]
        d = subdir("pg-template" if version == pgversion.HOST_VERSION
                   else "pg%d-template" % version, mode=0o700)
        pg_chown(d, version)
        run(pg_command(version, "initdb", [
            "-D", d, "--nosync", "-A", "trust", "-U", PG_USER, "-E", "UTF8",
            "--locale=C.UTF-8"] + (["--no-instructions"] if version >= 14 else [])),
            timeout=120)
        # Create roles and databases once, in single-user mode, so every
        # server starts with them and no server pays for it again.
        r = subprocess.run(pg_command(version, "postgres", ["--single", "-D", d, "-F",
                                                            "-c", "fsync=off", "-j",
                                                            "postgres"]),
                           input="".join(q + ";\n\n" for q in _SETUP_SQL),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        if r.returncode != 0 or "ERROR" in r.stdout:
            raise RuntimeError("template setup failed:\n" + r.stdout)
        _templates[version] = d
        return d


# Server settings that log every statement with its duration, so a test can
# count the polls the server answered (poll_statements()).
LOG_STATEMENTS_PREFIX = "@@@ "
LOG_STATEMENTS = {"log_min_duration_statement": 0,
                  "log_line_prefix": LOG_STATEMENTS_PREFIX + "%m [%p] %a@%d "}
_POLL_RE = re.compile(r"duration: [0-9.]+ ms\s+(statement|execute [^:]*): .*"
                      r"(pg_stat_ssl|pg_stat_get_activity)", re.S)


def poll_statements(server, since=0):
    """Completed poll statements of sslhistd in the log of `server` (started
    with conf=LOG_STATEMENTS) after byte offset `since`, one entry each."""
    text = server.log_text()[since:]
    entries = text.split("\n" + LOG_STATEMENTS_PREFIX)
    return [e for e in entries if " sslhistd@" in e.split("\n", 1)[0] and _POLL_RE.search(e)]


class PgServer:
    """A throwaway PostgreSQL 15 server on 127.0.0.1.

    ssl: serve TLS (ssl=on) with a certificate issued by `ca` (a CA; made on
    demand when None). listen: listen_addresses. netns: a netfault.NetNs
    to run in, reached at `listen` (then `host`). conf: extra postgresql.conf
    settings (dict). Attributes: port, host ('127.0.0.1'), datadir, sockdir,
    logfile, ca, cert, key. Started by the constructor unless start=False.
    version: the major version, 15 (the host's) or 13 or 17 (from a chroot,
    pgversion.py; raises pgversion.Unavailable when it is not built; no netns).
    """
    _n = 0

    def __init__(self, ssl=True, ca=None, port=None, conf=None, name=None,
                 listen="127.0.0.1", cert_dns=(), start=True, netns=None,
                 version=pgversion.HOST_VERSION):
        PgServer._n += 1
        self.name = name or "pg%d" % PgServer._n
        self.version = version
        if version != pgversion.HOST_VERSION and netns:
            raise ValueError("a PostgreSQL %d server runs in no netns" % version)
        self.ssl = ssl
        self.ca = ca
        self.netns = netns      # a netfault.NetNs to run in (host: listen)
        self.host = listen if netns else "127.0.0.1"
        self.port = port or free_port()
        self.base = subdir("srv-%s" % self.name, owner=PG_USER, mode=0o755)
        pg_chown(self.base, version)
        self.datadir = os.path.join(self.base, "data")
        self.sockdir = os.path.join(self.base, "sock")
        self.logfile = os.path.join(self.base, "server.log")
        self.cert = self.key = None
        run(["cp", "-a", _pg_template(version), self.datadir])
        os.makedirs(self.sockdir)
        pg_chown(self.sockdir, version)
        settings = {
            "port": self.port,
            "listen_addresses": listen,
            "unix_socket_directories": self.sockdir,
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "max_connections": 200, "shared_buffers": "16MB",
            "max_wal_size": "64MB", "dynamic_shared_memory_type": "posix",
            "log_line_prefix": "%m [%p] %a@%d ", "log_connections": "off",
            "ssl": "off",
        }
        if version != pgversion.HOST_VERSION:
            settings["dynamic_shared_memory_type"] = "mmap"    # a chroot has no /dev/shm
        if ssl:
            if self.ca is None:
                self.ca = CA("ca-" + self.name)
            self.cert, self.key = self.ca.issue_server(dns=cert_dns)
            for p in (self.cert, self.key):
                pg_chown(p, version)
            settings.update({"ssl": "on", "ssl_cert_file": self.cert,
                             "ssl_key_file": self.key})
        settings.update(conf or {})
        with open(os.path.join(self.datadir, "postgresql.auto.conf"), "a") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, _pg_quote(v)))
        with open(os.path.join(self.datadir, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n")
            # In a namespace of its own, clients come over a veth.
            for net in ("127.0.0.1/32", "::1/128") + (("0.0.0.0/0",) if netns else ()):
                f.write("hostssl all all %s trust\n" % net)
                f.write("hostnossl all all %s trust\n" % net)
        on_cleanup(self.cleanup)
        if start:
            self.start()

    # -- lifecycle

    def start(self, timeout=60):
        """pg_ctl -w start (same port, same data)."""
        run((self.netns.exec_prefix() if self.netns else []) +
            pg_command(self.version, "pg_ctl", ["-D", self.datadir, "-l", self.logfile,
                                                "-w", "-t", str(timeout), "start"]),
            timeout=timeout + 10)

    def stop(self, mode="fast", timeout=60):
        """pg_ctl -m MODE -w stop (mode: smart, fast or immediate)."""
        run(pg_command(self.version, "pg_ctl", ["-D", self.datadir, "-m", mode,
                                                "-w", "-t", str(timeout), "stop"]),
            timeout=timeout + 10)

    def running(self):
        r = run(pg_command(self.version, "pg_ctl", ["-D", self.datadir, "status"]),
                check=False)
        return r.returncode == 0

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def cleanup(self):
        """Stops the server whatever state it is in (also stopped backends)
        and waits until its processes are gone."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        procs = [pid] + _children(pid)
        _cont_children(pid)
        for mode in ("fast", "immediate"):
            try:
                self.stop(mode, timeout=15)
                break
            except Exception:  # noqa: BLE001 - escalate
                pass
        else:
            for p in procs:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # pg_ctl returns once postmaster.pid is gone, a moment before the
        # postmaster itself exits.
        try:
            wait_until(lambda: not any(pid_alive(p) for p in procs), 10,
                       "processes of %s gone" % self.name)
        except Timeout as e:
            log("warning:", e)

    # -- SQL as superuser

    def sql(self, query, db="postgres", user=PG_USER):
        """Runs `query` through psql (Unix socket) and returns the rows as
        lists of strings (NULL is '')."""
        r = run(["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e",
                 "-v", "ON_ERROR_STOP=1",
                 "host=%s port=%d user=%s dbname=%s application_name=%s"
                 % (self.sockdir, self.port, user, db, ADMIN_APP),
                 "-c", query])
        out = r.stdout.rstrip("\n")
        return [row.split("\x1f") for row in out.split("\x1e") if row != ""]

    def sql1(self, query, **kw):
        """The single value of a one-row, one-column query (None if no row)."""
        rows = self.sql(query, **kw)
        return rows[0][0] if rows else None

    def activity(self):
        """pg_stat_activity joined with pg_stat_ssl for client backends, as
        dicts: pid, usename, datname, application_name, client_addr, ssl,
        version."""
        cols = ["pid", "usename", "datname", "application_name", "client_addr",
                "ssl", "version"]
        rows = self.sql("SELECT a.pid, a.usename, a.datname, a.application_name, "
                        "a.client_addr, s.ssl, s.version FROM pg_stat_activity a "
                        "JOIN pg_stat_ssl s USING (pid) "
                        "WHERE a.backend_type = 'client backend'")
        return [dict(zip(cols, r)) for r in rows]

    def backend_pids(self, application_name):
        return [int(r[0]) for r in self.sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = '%s'"
            % application_name.replace("'", "''"))]

    def log_text(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- connection strings

    def conninfo(self, user="app1", dbname="appdb", sslmode="disable", **extra):
        kv = {"host": self.host, "port": self.port, "user": user, "dbname": dbname,
              "sslmode": sslmode}
        kv.update(extra)
        return " ".join("%s=%s" % (k, _conn_quote(v)) for k, v in kv.items())

    def __repr__(self):
        return "PgServer(%s, port=%d, ssl=%s, version=%d)" % (self.name, self.port, self.ssl,
                                                              self.version)


def _pg_quote(v):
    if isinstance(v, (int, float)):
        return str(v)
    return "'%s'" % str(v).replace("'", "''")


def _conn_quote(v):
    s = str(v)
    if s and re.fullmatch(r"[A-Za-z0-9_.:/@+-]+", s):
        return s
    return "'%s'" % s.replace("\\", "\\\\").replace("'", "\\'")


def _children(pid):
    """All descendants' pids of `pid` (from /proc)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def pid_alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _cont_children(pid):
    for p in [pid] + _children(pid):
        try:
            os.kill(p, signal.SIGCONT)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------
# Clients

class Session:
    """A real psql client held open until close().

    psql connects, then waits on its standard input (a pipe we hold), so the
    session stays idle in pg_stat_activity. Connection failures show up in
    wait_visible() with psql's stderr.
    """

    def __init__(self, server, user="app1", dbname="appdb", sslmode="disable",
                 application_name=None, env=None, **extra):
        self.server = server
        self.user, self.dbname, self.sslmode = user, dbname, sslmode
        self.application_name = application_name or "sess-%s-%d" % (user, id(self) % 100000)
        self.conninfo = server.conninfo(user=user, dbname=dbname, sslmode=sslmode,
                                        application_name=self.application_name, **extra)
        self.errfile = tempfile.TemporaryFile(mode="w+", dir=workdir())
        e = _clean_env()
        e.update(env or {})
        self.proc = subprocess.Popen(["psql", "-X", "-q", self.conninfo],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=self.errfile, env=e)
        on_cleanup(self.close)

    @property
    def ssl(self):
        return self.sslmode not in ("disable", "allow")

    def stderr(self):
        self.errfile.seek(0)
        return self.errfile.read()

    def pid(self):
        """The backend pid serving this session, or None."""
        rows = self.server.backend_pids(self.application_name)
        return rows[0] if rows else None

    def wait_visible(self, timeout=10):
        """Waits until the session is in pg_stat_activity; returns its row."""
        def seen():
            if self.proc.poll() is not None:
                raise AssertionError("psql exited %s: %s"
                                     % (self.proc.returncode, self.stderr()))
            for r in self.server.activity():
                if r["application_name"] == self.application_name:
                    return r
            return None
        return wait_until(seen, timeout, "session %s visible on %s"
                          % (self.application_name, self.server.name))

    def send(self, sql):
        """Runs `sql` in the held session (psql reads it from its stdin; the
        session stays open). Returns at once."""
        self.proc.stdin.write(sql.encode("utf-8", "surrogateescape") + b"\n")
        self.proc.stdin.flush()

    def close(self, timeout=5):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout)
            except (subprocess.TimeoutExpired, OSError):
                self.proc.kill()
                self.proc.wait()

    def __repr__(self):
        return "Session(%s %s@%s %s)" % (self.application_name, self.user, self.dbname,
                                         self.sslmode)


def wait_all_visible(sessions, timeout=15):
    return [s.wait_visible(timeout) for s in sessions]


def burst(server, n=50, user="app2", dbname="appdb", sslmode="disable",
          application_name="burst", hold_ms=20, parallel=5):
    """Makes n short-lived psql connections (each ~hold_ms long, at most
    `parallel` at once); returns the seconds it took. Every one must succeed."""
    from concurrent.futures import ThreadPoolExecutor
    conninfo = server.conninfo(user=user, dbname=dbname, sslmode=sslmode,
                               application_name=application_name)
    cmd = ["psql", "-X", "-q", "-A", "-t", conninfo,
           "-c", "SELECT pg_sleep(%f)" % (hold_ms / 1000.0)]
    env = _clean_env()

    def one(_):
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, env=env, timeout=30)
    t0 = time.monotonic()
    with ThreadPoolExecutor(parallel) as ex:
        results = list(ex.map(one, range(n)))
    bad = [r for r in results if r.returncode != 0]
    if bad:
        raise RuntimeError("%d of %d burst connections failed: %s"
                           % (len(bad), n, bad[0].stderr))
    return time.monotonic() - t0


def _clean_env():
    """The environment for clients and the daemon: no PG* variables, a HOME
    without ~/.pgpass or ~/.postgresql, C locale."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    e["HOME"] = workdir()
    e.setdefault("LANG", "C.UTF-8")
    return e


# --------------------------------------------------------------------------
# A listener that never answers

class Listener:
    """Base of the tests' TCP servers: listens on (listen, free_port()) and
    hands every accepted connection to self.handle(conn), in its accept
    thread; closed at exit. Subclasses set their own state before calling
    this __init__ (the thread starts in it)."""

    def __init__(self, listen="127.0.0.1", backlog=64):
        self.port = free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((listen, self.port))
        self.sock.listen(backlog)
        self._stop = False
        threading.Thread(target=self._accept_loop, daemon=True).start()
        on_cleanup(self.close)

    def _accept_loop(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.handle(c)

    def handle(self, conn):
        raise NotImplementedError

    def close(self):
        self._stop = True
        close_quietly(self.sock)


def close_quietly(*socks):
    """Closes sockets that may be closed already."""
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


class Blackhole(Listener):
    """Accepts TCP connections on 127.0.0.1 and never sends a byte.

    `accepted` holds (accept_time, close_time or None) per connection, in
    time.monotonic() seconds; close_time is when the peer closed.
    """

    def __init__(self):
        self.accepted = []
        self._lock = threading.Lock()
        self._conns = []
        super().__init__()

    def handle(self, c):
        with self._lock:
            idx = len(self.accepted)
            self.accepted.append([time.monotonic(), None])
            self._conns.append(c)
        threading.Thread(target=self._hold, args=(c, idx), daemon=True).start()

    def _hold(self, c, idx):
        try:
            while c.recv(4096):
                pass            # swallow whatever the client sends
        except OSError:
            pass
        with self._lock:
            self.accepted[idx][1] = time.monotonic()

    def close(self):
        super().close()
        close_quietly(*self._conns)


# --------------------------------------------------------------------------
# The daemon

def bin_path(name):
    """Path of a built program (sslhistd, sslhist) under $SSLHIST_BIN."""
    d = os.environ.get("SSLHIST_BIN")
    if not d:
        here = os.path.dirname(os.path.abspath(__file__))
        d = os.path.join(here, "..", "..", "build")
    return os.path.join(os.path.abspath(d), name)


def sslhist(*args, db=None, user=None, check_rc=None, env=None):
    """Runs the query tool; returns (rc, stdout bytes, stderr text). `user`
    runs it through runuser; check_rc raises unless it exits so."""
    argv = [bin_path("sslhist")]
    if db:
        argv += ["--db", db]
    argv += [os.fsencode(a) if isinstance(a, str) else a for a in args]
    if user:
        argv = ["runuser", "-u", user, "--"] + argv
    e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    e.update(env or {})
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                       timeout=60)
    err = r.stderr.decode("utf-8", "replace")
    if check_rc is not None and r.returncode != check_rc:
        raise AssertionError("sslhist %s: exit %d, want %d\nstderr: %s\nstdout: %r"
                             % (" ".join(map(str, args)), r.returncode, check_rc, err,
                                r.stdout[:2000]))
    return r.returncode, r.stdout, err


def sslhist_json(db, *args):
    """`sslhist ARGS --format json` on `db`, parsed (strict UTF-8)."""
    _rc, out, _err = sslhist(*args, "--format", "json", db=db, check_rc=0)
    return json.loads(out.decode("utf-8"))


def write_config(path, cfg, mode=0o600):
    """Writes an INI file from {section: {key: value}} (values str/int/list;
    lists are joined with ', '; a value None omits the key). Sections keep
    their order. Returns the path."""
    lines = []
    for section, kv in cfg.items():
        lines.append("[%s]" % section)
        for k, v in kv.items():
            if v is None:
                continue
            if isinstance(v, (list, tuple)):
                v = ", ".join(str(x) for x in v)
            lines.append("%s = %s" % (k, v))
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    os.chmod(path, mode)
    return path


def cluster_for(server, user="monitor", dbname="postgres", sslmode=None, ca=None,
                **extra):
    """A [cluster NAME] section polling `server`: verify-full against its CA
    when it serves TLS, else sslmode=disable (written out, as docs/CONTRACT.md section 2 wants)."""
    kv = {"host": server.host, "port": server.port, "user": user, "dbname": dbname}
    if sslmode is None:
        sslmode = "verify-full" if server.ssl else "disable"
    kv["sslmode"] = sslmode
    ca = ca or server.ca
    if sslmode.startswith("verify") and ca is not None:
        kv["sslrootcert"] = ca.cert
    kv.update(extra)
    return kv


def measured_memory_env():
    """Environment for a daemon whose memory a test measures: ASan keeps
    freed memory in a quarantine (256 MiB by default) that would hide what
    the daemon itself holds; a small one shows it. Other builds ignore it."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=4"}


def asan_process(pid):
    """True if the process is an AddressSanitizer build (its shadow memory
    reserves terabytes of address space)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) > (1 << 32)     # KiB: > 4 TiB
    return False


def rss_kib(pid):
    """Resident memory of a process, KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Daemon:
    """sslhistd with a configuration written from a dict.

    cfg: {"sslhistd": {...}, "cluster NAME": {...}, ...}. The database is
    <dir>/history.db unless cfg sets it or db= is given. Use run_once(),
    check() or start() / stop().
    """
    _n = 0

    def __init__(self, cfg, db=None, name=None):
        Daemon._n += 1
        self.name = name or "d%d" % Daemon._n
        self.dir = subdir("daemon-%s" % self.name)
        self.db = db or os.path.join(self.dir, "history.db")
        self.conf = os.path.join(self.dir, "sslhist.conf")
        self.logfile = os.path.join(self.dir, "sslhistd.log")
        self.cfg = cfg
        self.proc = None
        self.started_at = None
        write_config(self.conf, cfg)
        on_cleanup(self._kill)

    def argv(self, *extra, db=True):
        a = [bin_path("sslhistd"), "-c", self.conf]
        if db:
            a += ["--db", self.db]
        return a + list(extra)

    def run_once(self, *extra, timeout=60):
        """sslhistd --once; returns CompletedProcess (stdout, stderr text)."""
        return run(self.argv("--once", *extra), check=False, timeout=timeout,
                   env=_clean_env())

    def check(self, *extra, timeout=30):
        return run(self.argv("--check", *extra), check=False, timeout=timeout,
                   env=_clean_env())

    def start(self, *extra, env=None):
        """Starts the long-running daemon; stderr goes to self.logfile.
        `env` adds to (or overrides) its environment (e.g. NOTIFY_SOCKET)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if getattr(self, "_log", None):
            self._log.close()
        self._log = open(self.logfile, "ab")
        e = _clean_env()
        e.update(env or {})
        self.proc = subprocess.Popen(self.argv(*extra), stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=e)
        self.started_at = time.monotonic()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.alive():
            raise AssertionError("sslhistd exited with %s; log:\n%s"
                                 % (self.proc.returncode if self.proc else None,
                                    self.log_text()))

    def stop(self, sig=signal.SIGTERM, within=2.0):
        """Sends `sig` and waits up to `within` seconds; returns (exit code,
        seconds taken). Raises AssertionError (and kills it) if it is late."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("sslhistd did not exit within %.1fs of %s; log:\n%s"
                                 % (within, signal.Signals(sig).name, self.log_text()))
        return rc, time.monotonic() - t0

    def _kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def log_text(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- reading the store (read-only, a fresh connection per call so that no
    #    read snapshot is held across polls)

    def query(self, sql, args=()):
        """Rows of `sql` as dicts. Opens the database read-only; once the
        daemon has stopped and removed its WAL files, falls back to a normal
        open (still only reading)."""
        if not os.path.exists(self.db):
            raise FileNotFoundError(self.db)
        try:
            con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
            return self._rows(con, sql, args)
        except sqlite3.OperationalError as e:
            if "unable to open" not in str(e) and "readonly" not in str(e):
                raise
        con = sqlite3.connect(self.db, timeout=5)
        return self._rows(con, sql, args)

    @staticmethod
    def _rows(con, sql, args):
        try:
            con.row_factory = sqlite3.Row
            con.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
            return [dict(r) for r in con.execute(sql, args)]
        finally:
            con.close()

    def query1(self, sql, args=()):
        rows = self.query(sql, args)
        return next(iter(rows[0].values())) if rows else None

    def instances(self):
        """{(cluster, host, port): row} of the instance table."""
        return {(r["cluster"], r["host"], r["port"]): r
                for r in self.query("SELECT * FROM instance")}

    def instance(self, cluster):
        """The one instance row of `cluster` (None if not there yet)."""
        rows = self.query("SELECT * FROM instance WHERE cluster = ?", (cluster,))
        if len(rows) > 1:
            raise AssertionError("cluster %s has %d instances" % (cluster, len(rows)))
        return rows[0] if rows else None

    def clients(self, cluster=None):
        """Client rows joined with their instance (cluster, host, port)."""
        q = ("SELECT c.*, i.cluster, i.host, i.port FROM client c "
             "JOIN instance i ON i.id = c.instance_id")
        if cluster is None:
            return self.query(q)
        return self.query(q + " WHERE i.cluster = ?", (cluster,))

    def polls(self, cluster):
        """Poll attempts and failed polls stored for the cluster's instances."""
        r = self.query("SELECT coalesce(sum(polls), 0) AS p, "
                       "coalesce(sum(failed_polls), 0) AS f FROM coverage v "
                       "JOIN instance i ON i.id = v.instance_id WHERE i.cluster = ?",
                       (cluster,))
        return r[0]["p"], r[0]["f"]

    def ok_polls(self, cluster):
        p, f = self.polls(cluster)
        return p - f

    def wait_polls(self, cluster, n, timeout=15):
        """Waits until `n` more successful polls of `cluster` are stored than
        now; returns the new count."""
        try:
            base = self.ok_polls(cluster)
        except (sqlite3.Error, FileNotFoundError):
            base = 0
        return self.wait(lambda: self.ok_polls(cluster) >= base + n and
                         self.ok_polls(cluster), timeout,
                         "%d more successful polls of %s" % (n, cluster))

    def wait_ok(self, cluster, timeout=15):
        """Waits until the cluster's instance has succeeded and is not failing."""
        return self.wait(lambda: (lambda r: r if r and r["last_success"] and
                                  r["consecutive_failures"] == 0 else None)(
                                      self.instance(cluster)),
                         timeout, "instance of %s ok" % cluster)

    def wait_failing(self, cluster, timeout=15):
        """Waits until the cluster's instance records a failure; returns the row."""
        return self.wait(lambda: (lambda r: r if r and r["consecutive_failures"] > 0
                                  and r["last_error"] else None)(self.instance(cluster)),
                         timeout, "instance of %s failing" % cluster)

    def wait(self, pred, timeout, what):
        """wait_until() that also fails at once if the daemon has exited."""
        def p():
            if self.proc is not None:
                self.assert_alive()
            return pred()
        try:
            return wait_until(p, timeout, what)
        except Timeout as e:
            raise Timeout("%s\n--- sslhistd log (tail) ---\n%s\n--- instance table ---\n%s"
                          % (e, self.log_text()[-4000:], self.dump("instance")))

    def dump(self, table):
        """A table's rows as text, for failure messages."""
        try:
            return "\n".join(json.dumps(r, default=str) for r in self.query(
                "SELECT * FROM %s" % table))
        except Exception as e:  # noqa: BLE001
            return "(cannot read %s: %s)" % (table, e)


# --------------------------------------------------------------------------
# Secrets (docs/CONTRACT.md section 7: no password in a log line, the database or any
# output)

# Every command and format of the query tool, as assert_secret_absent()
# runs them.
SSLHIST_OUTPUTS = [(cmd, fmt) for cmd, fmts in (
    ("clients", ("table", "json", "csv")), ("instances", ("table", "json", "csv")),
    ("report", ("table", "json")), ("alerts", ("table", "json", "csv")))
    for fmt in fmts]


def secret_places(secret, daemon=None, texts=(), files=()):
    """Where `secret` (str) occurs in what the programs wrote; [] if nowhere.

    Looked at: the given texts ({name: str} or a list of str) and files; and
    for a Daemon: its log, the raw bytes of its database with -wal and -shm,
    the output (stdout and stderr) of `sslhist clients/instances/report/
    alerts` in every format over that database with its configuration, and
    of `sslhistd --check` on its configuration.
    """
    needle = secret.encode("utf-8", "surrogateescape")
    found = []
    if not isinstance(texts, dict):
        texts = {"text %d" % i: t for i, t in enumerate(texts)}
    blobs = [(k, (v or "").encode("utf-8", "surrogateescape")) for k, v in texts.items()]
    paths = list(files)
    if daemon is not None:
        paths += [daemon.logfile, daemon.db, daemon.db + "-wal", daemon.db + "-shm"]
        env = _clean_env()
        for cmd, fmt in SSLHIST_OUTPUTS:
            r = subprocess.run([bin_path("sslhist"), "-c", daemon.conf, "--db", daemon.db,
                                cmd, "--format", fmt], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, timeout=60)
            if r.returncode not in (0, 3):
                raise AssertionError("sslhist %s --format %s exited %d: %s"
                                     % (cmd, fmt, r.returncode, r.stderr.decode(errors="replace")))
            blobs.append(("sslhist %s --format %s" % (cmd, fmt), r.stdout + r.stderr))
        r = daemon.check()
        blobs.append(("sslhistd --check", (r.stdout + r.stderr).encode("utf-8", "surrogateescape")))
    for path in paths:
        try:
            with open(path, "rb") as f:
                blobs.append((path, f.read()))
        except FileNotFoundError:
            pass
    for name, blob in blobs:
        if needle in blob:
            found.append(name)
    return found


def assert_secret_absent(secret, daemon=None, texts=(), files=()):
    """Fails, naming where, if `secret` occurs anywhere secret_places()
    looks. The daemon should have stopped, so that its WAL is final."""
    places = secret_places(secret, daemon, texts, files)
    if places:
        raise AssertionError("the secret %r was found in: %s" % (secret, ", ".join(places)))


# --------------------------------------------------------------------------
# unittest glue

class TestCase(unittest.TestCase):
    """unittest.TestCase with asserts that print what the store held."""
    maxDiff = None

    def assertMatches(self, regex, text, msg=""):
        if not re.search(regex, text or "", re.I | re.S):
            self.fail("%s: /%s/ not found in:\n%s" % (msg or "no match", regex, text))

    def assertNoMatch(self, regex, text, msg=""):
        m = re.search(regex, text or "", re.I | re.S)
        if m:
            self.fail("%s: /%s/ unexpectedly found (%r) in:\n%s"
                      % (msg or "unexpected match", regex, m.group(0), text))

    def assertClient(self, daemon, cluster, session, **expect):
        """Asserts that `session` is stored as a client of `cluster` with the
        given column values; returns the row."""
        rows = [c for c in daemon.clients(cluster)
                if c["application"] == session.application_name]
        if not rows:
            self.fail("client %r not stored for cluster %s; clients:\n%s"
                      % (session, cluster, "\n".join(
                          json.dumps(c, default=str) for c in daemon.clients())))
        if len(rows) != 1:
            self.fail("client %r stored %d times: %s" % (session, len(rows), rows))
        row = rows[0]
        want = {"user": session.user, "database": session.dbname,
                "ssl": 1 if session.ssl else 0}
        want.update(expect)
        got = {k: row.get(k) for k in want}
        if got != want:
            self.fail("client %r of %s: stored %r, expected %r\nrow: %s"
                      % (session, cluster, got, want, json.dumps(row, default=str)))
        return row


def main(need_daemon=True):
    """Runs the calling test file's tests verbosely, prints a summary and
    exits non-zero on any failure or error (skips are listed, never silent)."""
    require_root()
    if need_daemon and not os.access(bin_path("sslhistd"), os.X_OK):
        print("FATAL: %s not built (set SSLHIST_BIN to the build directory)"
              % bin_path("sslhistd"), file=sys.stderr)
        sys.exit(1)
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    r = prog.result
    name = os.path.basename(sys.argv[0])
    print("\n== %s: %d run, %d failed, %d errors, %d skipped =="
          % (name, r.testsRun, len(r.failures), len(r.errors), len(r.skipped)))
    for t, why in r.skipped:
        print("   skipped: %s: %s" % (t.id(), why))
    ok = r.wasSuccessful() and r.testsRun > 0
    sys.stdout.flush()
    cleanup()
    sys.exit(0 if ok else 1)
