"""Connection paths: password_command (prints a password, hangs, fails in
each way), `password`, `passfile` and a
[defaults] password, a socket that changes during the connection
(sslmode=allow retried with TLS), and no password anywhere: not in the
log, the database (raw bytes, -wal, -shm), any output of `sslhist` or
`sslhistd --check` (harness.assert_secret_absent).

The server asks `pwuser` for a SCRAM password and accepts `monitor` only
over TLS, by its own pg_hba.conf.
"""
import os
import stat

import harness as h

SECRET = "s3cret-Pa55-for-test"


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


class Connect(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = h.PgServer(ssl=True, name="auth")
        cls.srv.sql("CREATE ROLE pwuser LOGIN PASSWORD '%s' IN ROLE pg_monitor" % SECRET)
        hba = os.path.join(cls.srv.datadir, "pg_hba.conf")
        with open(hba, "w") as f:
            f.write("local all all trust\n"
                    "host all pwuser 127.0.0.1/32 scram-sha-256\n"
                    "hostnossl all monitor 127.0.0.1/32 reject\n"
                    "host all all 127.0.0.1/32 trust\n")
        cls.srv.sql("SELECT pg_reload_conf()")
        cls.client = h.Session(cls.srv, "app1", "appdb", "require", "c-client")
        cls.client.wait_visible()
        cls.scripts = h.subdir("scripts")

    def script(self, name, body):
        path = os.path.join(self.scripts, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, stat.S_IRWXU)
        return path

    def run_pwuser(self, name, **conn):
        """A daemon polling the server as pwuser with `conn` until it has
        seen the client, then stopped; returns it."""
        cfg = {"sslhistd": {"interval": "300ms"},
               "cluster " + name: h.cluster_for(self.srv, user="pwuser", **conn)}
        d = h.Daemon(cfg).start()
        self.addCleanup(lambda: d.alive() and d.stop())
        d.wait_ok(name)
        d.wait(lambda: any(c["application"] == "c-client" for c in d.clients()), 10,
               "client seen through an authenticated connection")
        d.stop()
        return d

    def test_password_command(self):
        # The command sees the instance it is asked for. A second cluster
        # carries the secret in its command's arguments: --check must not
        # print it either.
        pw = self.script("pw.sh", 'echo "$SSLHIST_HOST:$SSLHIST_PORT:$SSLHIST_USER" > "$0.args"\n'
                         'printf "%s\\nignored second line\\n"\n' % SECRET)
        cfg = {"sslhistd": {"interval": "300ms"},
               "cluster pw": h.cluster_for(self.srv, user="pwuser", password_command=pw),
               "cluster argv": h.cluster_for(self.srv, user="pwuser", dbname="appdb",
                                             password_command="/bin/echo " + SECRET)}
        d = h.Daemon(cfg)
        r = d.check()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("password_command /bin/echo (and 1 arguments)", r.stdout)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        d.start()
        self.addCleanup(lambda: d.alive() and d.stop())
        d.wait_ok("pw")
        d.wait_ok("argv")
        d.wait(lambda: any(c["application"] == "c-client" for c in d.clients()), 10,
               "client seen through a password_command connection")
        with open(pw + ".args") as f:
            self.assertEqual(f.read().strip(), "127.0.0.1:%d:pwuser" % self.srv.port)
        d.stop()
        h.assert_secret_absent(SECRET, d)

    def test_password_key(self):
        d = self.run_pwuser("pwkey", password=SECRET)
        h.assert_secret_absent(SECRET, d)

    def test_defaults_password(self):
        cfg = {"sslhistd": {"interval": "300ms"}, "defaults": {"password": SECRET},
               "cluster dpw": h.cluster_for(self.srv, user="pwuser")}
        d = h.Daemon(cfg).start()
        self.addCleanup(lambda: d.alive() and d.stop())
        d.wait_ok("dpw")
        d.stop()
        h.assert_secret_absent(SECRET, d)

    def test_passfile(self):
        path = os.path.join(self.scripts, "pgpass")
        with open(path, "w") as f:
            f.write("127.0.0.1:%d:*:pwuser:%s\n" % (self.srv.port, SECRET))
        os.chmod(path, 0o600)
        d = self.run_pwuser("pwfile", passfile=path)
        h.assert_secret_absent(SECRET, d)

    def test_secret_search_finds_what_is_there(self):
        # The search itself can fail: a value the daemon did store and print
        # is found in every place it should be.
        d = self.run_pwuser("canary", password=SECRET)
        places = h.secret_places("c-client", d)
        for want in (d.db, "sslhist clients --format table", "sslhist clients --format json",
                     "sslhist clients --format csv"):
            self.assertTrue(any(p == want or p.startswith(want) for p in places),
                            "%s not among %s" % (want, places))
        self.assertIn("sslhistd --check", h.secret_places("cluster canary", d))
        self.assertEqual(h.secret_places("x-secret", texts=["a x-secret b"]), ["text 0"])

    def test_wrong_password_is_not_shown(self):
        wrong = "Wr0ng-Pa55-never-shown"
        cfg = {"sslhistd": {"interval": "300ms", "connect_timeout": "3s"},
               "cluster wrong": h.cluster_for(self.srv, user="pwuser", password=wrong)}
        d = h.Daemon(cfg)
        r = d.run_once()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertMatches(r"password authentication failed", d.instance("wrong")["last_error"])
        h.assert_secret_absent(wrong, d, texts={"--once stdout": r.stdout,
                                                "--once stderr": r.stderr})

    def test_password_command_hangs(self):
        # A command that never answers is killed at connect_timeout: its
        # instance fails, the other one polls on, and no process is left.
        marker = "3600.%d" % (os.getpid() % 1000)
        hang = self.script("hang.sh", "exec sleep %s\n" % marker)
        good = self.script("good.sh", "echo '%s'\n" % SECRET)
        cfg = {"sslhistd": {"interval": "300ms", "connect_timeout": "1s",
                            "max_backoff": "1s"},
               "cluster hang": h.cluster_for(self.srv, user="pwuser", password_command=hang),
               "cluster good": h.cluster_for(self.srv, user="pwuser", password_command=good)}
        d = h.Daemon(cfg).start()
        self.addCleanup(lambda: d.alive() and d.stop())
        row = d.wait_failing("hang")
        self.assertMatches(r"timeout.*password_command.*connect_timeout|"
                           r"password_command killed by signal \d+ \(timeout\)", row["last_error"])
        d.wait_ok("good")
        d.wait(lambda: d.instance("hang")["consecutive_failures"] >= 2, 15,
               "hang failing again and again")
        d.wait_polls("good", 3)
        self.assertEqual(d.instance("good")["consecutive_failures"], 0)
        sleepers = lambda: [p for p in h._children(d.proc.pid) if marker in _cmdline(p)]
        self.assertLessEqual(len(sleepers()), 1, "hung password_commands pile up")
        d.stop()
        h.wait_until(lambda: not [p for p in _all_pids() if marker in _cmdline(p)], 10,
                     "the hung password_command killed")
        h.assert_secret_absent(SECRET, d)

    def test_password_command_failures(self):
        cases = {
            "wrong": (self.script("wrong.sh", "echo not-the-password\n"),
                      r"password authentication failed"),
            "fails": (self.script("fails.sh", "echo no token >&2; exit 3\n"),
                      r"password_command exited with status 3: no token"),
            "missing": ("/nonexistent/token-cmd", r"password_command.*No such file"),
            "silent": (self.script("silent.sh", "true\n"),
                       r"password_command printed no password"),
        }
        cfg = {"sslhistd": {"interval": "300ms", "connect_timeout": "3s"}}
        for name, (cmd, _) in cases.items():
            cfg["cluster " + name] = h.cluster_for(self.srv, user="pwuser",
                                                    password_command=cmd)
        d = h.Daemon(cfg)
        r = d.run_once()
        self.assertEqual(r.returncode, 1, r.stderr)
        for name, (_, err) in cases.items():
            self.assertMatches(err, d.instance(name)["last_error"], name)
        # What a failing command printed on stdout is never shown.
        h.assert_secret_absent("not-the-password", d, texts=[r.stdout, r.stderr])

    def test_socket_changes_during_connect(self):
        # sslmode=allow tries without TLS first; the server rejects that, and
        # libpq retries with TLS on a new socket, which the loop must follow.
        cfg = {"sslhistd": {"interval": "300ms", "connect_timeout": "5s"},
               "cluster allow": h.cluster_for(self.srv, sslmode="allow")}
        d = h.Daemon(cfg)
        r = d.run_once()
        self.assertEqual(r.returncode, 0, r.stderr + d.dump("instance"))
        row = d.instance("allow")
        self.assertIsNotNone(row["cert_sha256"], "connected without TLS?")


if __name__ == "__main__":
    h.main()
