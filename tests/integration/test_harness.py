"""The harness itself, without the daemon: servers start with TLS from the
right CA, psql clients show up in pg_stat_ssl with the expected ssl flag and
TLS version, bursts, the listener that never answers, port locks, and a
clean-up that leaves no PostgreSQL process behind. When these fail, the
other integration tests' failures say nothing about sslhistd."""
import fcntl
import os
import signal
import subprocess
import sys
import textwrap

import harness as h
import netfault


class Harness(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca1 = h.CA("ca1")
        cls.ca2 = h.CA("ca2")
        cls.a = h.PgServer(ssl=True, ca=cls.ca1, name="a")
        cls.b = h.PgServer(ssl=True, ca=cls.ca2, name="b")
        cls.c = h.PgServer(ssl=False, name="c")

    def test_certificates(self):
        self.assertIn("CN=sslhist test ca1", h.cert_field(self.a.cert, "issuer"))
        self.assertIn("CN=sslhist test ca2", h.cert_field(self.b.cert, "issuer"))
        r = h.run(["openssl", "verify", "-CAfile", self.ca1.cert, self.a.cert], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = h.run(["openssl", "verify", "-CAfile", self.ca1.cert, self.b.cert], check=False)
        self.assertNotEqual(r.returncode, 0, "CA1 must not verify CA2's certificate")
        st = os.stat(self.a.key)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(st.st_uid, h.pwd.getpwnam("postgres").pw_uid)

    def test_server_settings(self):
        self.assertEqual(self.a.sql1("SHOW ssl"), "on")
        self.assertEqual(self.c.sql1("SHOW ssl"), "off")
        self.assertTrue(self.a.sql1("SHOW server_version").startswith("15"))
        self.assertEqual(self.a.sql1("SELECT pg_has_role('monitor', 'pg_read_all_stats', "
                                     "'member')"), "t")
        self.assertEqual(self.a.sql1("SELECT pg_has_role('nomon', 'pg_read_all_stats', "
                                     "'member')"), "f")
        self.assertEqual(self.a.sql1("SELECT count(*) FROM pg_database WHERE datname IN "
                                     "('appdb', 'rdsadmin')"), "2")

    def test_sessions_visible_with_ssl_and_version(self):
        cases = [(self.a, "require", "t", "TLSv1.3"), (self.a, "disable", "f", ""),
                 (self.b, "verify-full", "t", "TLSv1.3"), (self.c, "disable", "f", "")]
        sessions = []
        for i, (srv, mode, ssl, _) in enumerate(cases):
            extra = {"sslrootcert": srv.ca.cert} if mode == "verify-full" else {}
            sessions.append(h.Session(srv, "app1", "appdb", mode, "hs-%d" % i, **extra))
        for s, (srv, mode, ssl, version) in zip(sessions, cases):
            row = s.wait_visible()
            self.assertEqual((row["ssl"], row["version"], row["usename"], row["datname"]),
                             (ssl, version, "app1", "appdb"), row)
            self.assertEqual(row["client_addr"], "127.0.0.1")
            self.assertEqual(s.pid(), int(row["pid"]))
        for s in sessions:
            s.close()
        h.wait_until(lambda: not any(r["application_name"].startswith("hs-")
                                     for r in self.a.activity() + self.b.activity()),
                     5, "closed sessions gone")

    def test_session_failure_is_reported_at_once(self):
        s = h.Session(self.c, "app1", "appdb", "require", "no-ssl-here")
        with self.assertRaises(AssertionError) as cm:
            s.wait_visible(timeout=20)
        self.assertIn("does not support SSL", str(cm.exception))

    def test_untrusted_ca_fails_verify_full(self):
        s = h.Session(self.b, "app1", "appdb", "verify-full", "wrong-ca",
                      sslrootcert=self.ca1.cert)
        with self.assertRaises(AssertionError) as cm:
            s.wait_visible(timeout=20)
        self.assertIn("certificate verify failed", str(cm.exception))

    def test_burst(self):
        q = "SELECT sessions FROM pg_stat_database WHERE datname = 'appdb'"
        before = int(self.a.sql1(q))
        took = h.burst(self.a, n=50, sslmode="require", hold_ms=20)
        after = h.wait_until(lambda: int(self.a.sql1(q)) >= before + 50 and
                             int(self.a.sql1(q)), 5, "pg_stat_database.sessions +50")
        h.log("burst of 50 took %.2fs" % took)
        self.assertEqual(after - before, 50)
        self.assertLess(took, 10)

    def test_restart_same_port(self):
        s = h.PgServer(ssl=True, ca=self.ca1, name="restart")
        port = s.port
        s.stop("immediate")
        self.assertFalse(s.running())
        s.start()
        self.assertEqual(s.port, port)
        self.assertEqual(s.sql1("SELECT current_setting('port')"), str(port))

    def test_port_locks(self):
        port = h.free_port()
        with open(os.path.join(h.PORT_LOCK_DIR, "%d.lock" % port)) as f:
            with self.assertRaises(OSError):
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        ports = {h.free_port() for _ in range(20)}
        self.assertEqual(len(ports), 20)
        self.assertNotIn(self.a.port, ports)

    def test_blackhole(self):
        hole = h.Blackhole()
        sock = h.socket.create_connection(("127.0.0.1", hole.port), timeout=2)
        sock.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")      # an SSLRequest
        sock.settimeout(0.5)
        with self.assertRaises(h.socket.timeout):
            sock.recv(1)
        sock.close()
        h.wait_until(lambda: hole.accepted and hole.accepted[0][1], 2, "close seen")

    def test_delay_proxy(self):
        # A real psql through the proxy: a round trip pays the delay both ways.
        px = netfault.DelayProxy("127.0.0.1", self.a.port, 150)
        t0 = h.time.monotonic()
        out = h.run(["psql", "-X", "-Atc", "SELECT 1",
                     "host=127.0.0.1 port=%d user=app1 dbname=appdb sslmode=disable"
                     % px.port]).stdout
        self.assertEqual(out.strip(), "1")
        # Startup (trust: one answer) and the query: two round trips of 300 ms.
        self.assertGreaterEqual(h.time.monotonic() - t0, 0.6)
        self.assertEqual(px.connections, 1)
        # stall(): bytes wait; resume(): they arrive; cut(): the peer sees a reset.
        sock = h.socket.create_connection(("127.0.0.1", px.port), timeout=5)
        px.stall()
        sock.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")      # an SSLRequest
        sock.settimeout(0.6)
        with self.assertRaises(h.socket.timeout):
            sock.recv(1)
        px.resume()
        sock.settimeout(5)
        self.assertIn(sock.recv(1), (b"S", b"N"))
        px.cut()
        sock.settimeout(5)
        with self.assertRaises((ConnectionResetError, BrokenPipeError)):
            sock.sendall(b"x" * 100)
            sock.recv(1)
        sock.close()

    def test_cleanup_leaves_nothing(self):
        # A child process starts a server, stops a backend with SIGSTOP and
        # exits without stopping anything itself.
        code = textwrap.dedent("""
            import os, signal, sys
            sys.path.insert(0, %r)
            import harness as h
            s = h.PgServer(ssl=True)
            x = h.Session(s, "app1", "appdb", "require", "stopped")
            x.wait_visible()
            os.kill(x.pid(), signal.SIGSTOP)
            print(h.workdir(), s.postmaster_pid(), flush=True)
        """ % os.path.dirname(os.path.abspath(h.__file__)))
        env = dict(os.environ)
        env.pop("SSLHIST_KEEP", None)
        r = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        wd, pid = r.stdout.split()
        self.assertFalse(os.path.exists(wd), "work dir %s left behind" % wd)
        self.assertFalse(h.pid_alive(int(pid)), "postmaster %s still running" % pid)
        leftovers = [p for p in os.listdir("/proc") if p.isdigit()
                     and wd.encode() in _cmdline(p)]
        self.assertEqual(leftovers, [])

    def test_signal_runs_cleanup(self):
        code = textwrap.dedent("""
            import sys, time
            sys.path.insert(0, %r)
            import harness as h
            s = h.PgServer(ssl=False)
            print(h.workdir(), s.postmaster_pid(), flush=True)
            time.sleep(60)
        """ % os.path.dirname(os.path.abspath(h.__file__)))
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        wd, pid = p.stdout.readline().split()
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        p.stdout.close()
        self.assertFalse(os.path.exists(wd))
        self.assertFalse(h.pid_alive(int(pid)), "postmaster %s still running" % pid)

    def test_next_run_sweeps_after_sigkill(self):
        # A run killed with SIGKILL cleans nothing; the next run does.
        code = textwrap.dedent("""
            import os, signal, sys
            sys.path.insert(0, %r)
            import harness as h
            s = h.PgServer(ssl=False)
            print(h.workdir(), s.postmaster_pid(), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """ % os.path.dirname(os.path.abspath(h.__file__)))
        r = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, -signal.SIGKILL)
        wd, pid = r.stdout.split()
        self.assertTrue(os.path.exists(wd))
        self.assertTrue(h.pid_alive(int(pid)))
        h._sweep_stale()
        self.assertFalse(os.path.exists(wd), "stale work dir not removed")
        self.assertFalse(h.pid_alive(int(pid)), "stale postmaster still running")


def _cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


if __name__ == "__main__":
    h.main(need_daemon=False)
