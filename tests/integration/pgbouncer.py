"""A throwaway PgBouncer (Debian's /usr/sbin/pgbouncer) for tests.

Started on a free loopback port with its own ini, auth_file and logfile in a
private directory, as the postgres user (PgBouncer refuses to run as root),
in the foreground (never the package's systemd service). Its servers are
reached over TLS with server_tls_sslmode (verify-full against `server_ca` by
default); clients may use TLS when `client_cert` is given.
"""
import os
import pwd
import signal
import subprocess
import time

import harness as h

PGBOUNCER = "/usr/sbin/pgbouncer"


class PgBouncer:
    _n = 0

    def __init__(self, server, dbname="appdb", users=("app1", "app2", "app3"),
                 stats_user="monitor", client_tls_sslmode="disable", client_cert=None,
                 server_tls_sslmode="verify-full", server_ca=None, start=True):
        PgBouncer._n += 1
        self.server = server
        self.name = "pgb%d" % PgBouncer._n
        self.dir = h.subdir("pgbouncer-%s" % self.name, owner=h.PG_USER, mode=0o755)
        self.port = h.free_port()
        self.host = "127.0.0.1"
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        self.logfile = os.path.join(self.dir, "pgbouncer.log")
        self.pidfile = os.path.join(self.dir, "pgbouncer.pid")
        auth = os.path.join(self.dir, "userlist.txt")
        with open(auth, "w") as f:
            for u in tuple(users) + (stats_user,):
                f.write('"%s" ""\n' % u)
        ini = {
            "listen_addr": "127.0.0.1", "listen_port": self.port,
            "unix_socket_dir": "", "auth_type": "trust", "auth_file": auth,
            "logfile": self.logfile, "pidfile": self.pidfile,
            "admin_users": "", "stats_users": stats_user,
            "pool_mode": "session", "server_lifetime": 3600,
            "server_tls_sslmode": server_tls_sslmode,
            "client_tls_sslmode": client_tls_sslmode,
            "ignore_startup_parameters": "extra_float_digits",
        }
        if server_tls_sslmode != "disable":
            ini["server_tls_ca_file"] = server_ca or server.ca.cert
        if client_cert:
            ini["client_tls_cert_file"], ini["client_tls_key_file"] = client_cert
        lines = ["[databases]",
                 "%s = host=%s port=%d dbname=%s" % (dbname, server.host, server.port, dbname),
                 "", "[pgbouncer]"] + ["%s = %s" % kv for kv in ini.items()]
        with open(self.ini, "w") as f:
            f.write("\n".join(lines) + "\n")
        pw = pwd.getpwnam(h.PG_USER)
        for p in (self.ini, auth):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        self.proc = None
        h.on_cleanup(self.stop)
        if start:
            self.start()

    def start(self, timeout=15):
        """Runs it in the foreground (-q: logs go to its logfile) and waits
        until its port takes connections."""
        assert self.proc is None or self.proc.poll() is not None
        e = {"PATH": "/usr/sbin:/usr/bin:/bin", "TZ": "UTC"}
        self.proc = subprocess.Popen(h.as_postgres([PGBOUNCER, "-q", self.ini]),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=e)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("pgbouncer exited %s:\n%s"
                                     % (self.proc.returncode, self.log_text()))
            r = subprocess.run(["psql", "-X", "-q", "-At", self.conninfo(
                "monitor", "pgbouncer"), "-c", "SHOW VERSION"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=5)
            return r.returncode == 0
        h.wait_until(up, timeout, "pgbouncer %s up on port %d" % (self.name, self.port))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # SIGINT waits for clients
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def conninfo(self, user="app1", dbname="appdb", sslmode="disable", **extra):
        kv = {"host": self.host, "port": self.port, "user": user, "dbname": dbname,
              "sslmode": sslmode}
        kv.update(extra)
        return " ".join("%s=%s" % (k, h._conn_quote(v)) for k, v in kv.items())

    def admin(self, command):
        """Rows of an admin console command, as dicts (psql, simple query)."""
        r = subprocess.run(["psql", "-X", "-q", "-A", "-F", "\x1f", "-P", "footer=off",
                            self.conninfo("monitor", "pgbouncer"), "-c", command],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=10)
        if r.returncode != 0:
            raise AssertionError("%s: %s" % (command, r.stderr))
        lines = r.stdout.splitlines()
        cols = lines[0].split("\x1f")
        return [dict(zip(cols, ln.split("\x1f"))) for ln in lines[1:]]

    def log_text(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""
