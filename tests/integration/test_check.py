"""sslhistd's command line: --check, configuration errors, usage errors,
start-up failures and their exit codes (docs/CONTRACT.md section 3: 0, 64, 78, 1)."""
import os
import re
import stat

import harness as h

PASSWORD = "Pa55w0rd-never-printed-7f3a"


def run(args, timeout=30):
    return h.run([h.bin_path("sslhistd")] + args, check=False, timeout=timeout,
                 env=h._clean_env())


class Check(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = h.subdir("check")

    def conf(self, name, text, mode=0o600):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    GOOD = """# sslhist test configuration
[sslhistd]
interval = 30s
exclude_users = rdsadmin, batch

[defaults]
user = monitor
dbname = postgres
sslmode = verify-full
sslrootcert = /etc/ssl/certs/ca-certificates.crt

[cluster orders]
host = orders.cluster-abc123.eu-west-1.rds.amazonaws.com
port = 5433
instances = orders-1.abc123.eu-west-1.rds.amazonaws.com, orders-2.abc123.eu-west-1.rds.amazonaws.com:6543
password = %s

[cluster billing]
host = billing.example.internal
""" % PASSWORD

    def test_check_prints_clusters_and_no_password(self):
        path = self.conf("good.conf", self.GOOD)
        r = run(["-c", path, "--check"])
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        for want in ("orders", "billing",
                     "orders-1.abc123.eu-west-1.rds.amazonaws.com:5433",
                     "orders-2.abc123.eu-west-1.rds.amazonaws.com:6543",
                     "billing.example.internal:5432"):
            self.assertIn(want, r.stdout, "--check output lacks %r:\n%s" % (want, out))
        h.assert_secret_absent(PASSWORD, texts=[r.stdout, r.stderr])
        h.assert_secret_absent(PASSWORD[:12], texts=[r.stdout, r.stderr])
        # --check neither opens nor creates the database.
        self.assertFalse(os.path.exists(os.path.join(self.dir, "history.db")))

    def test_password_in_readable_file_warns(self):
        path = self.conf("readable.conf", self.GOOD, mode=0o644)
        r = run(["-c", path, "--check"])
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertIn(path, r.stderr, "no warning naming the readable file:\n" + out)
        self.assertMatches(r"password", r.stderr, "warning about the password")
        h.assert_secret_absent(PASSWORD, texts=[r.stdout, r.stderr])

    def test_password_warning_by_mode(self):
        # docs/CONTRACT.md section 2: a password in a file that group OR others can
        # read warns and names the file; an owner-only file does not. The
        # same for a password in [defaults] only.
        defaults_only = ("[defaults]\npassword = %s\n\n[cluster a]\nhost = a.example\n"
                         % PASSWORD)
        for text, what in ((self.GOOD, "cluster"), (defaults_only, "defaults")):
            for mode, warns in ((0o600, False), (0o640, True), (0o604, True), (0o644, True),
                                (0o400, False)):
                with self.subTest(what=what, mode=oct(mode)):
                    path = self.conf("mode-%s-%o.conf" % (what, mode), text, mode=mode)
                    r = run(["-c", path, "--check"])
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    if warns:
                        self.assertMatches(r"warning: %s: .*password.*readable by group or "
                                           r"others" % re.escape(path), r.stderr)
                    else:
                        self.assertNotIn("password", r.stderr)
                    h.assert_secret_absent(PASSWORD, texts=[r.stdout, r.stderr])

    def test_query_tool_never_shows_the_password(self):
        # sslhist reads the same file for `database`; its errors and its
        # output must not show the password either.
        missing = os.path.join(self.dir, "no-such.db")
        good = self.conf("cli.conf", self.GOOD.replace(
            "[sslhistd]\n", "[sslhistd]\ndatabase = %s\n" % missing), mode=0o644)
        # Broken after the password line: the error must not quote it.
        bad = self.conf("cli-bad.conf", self.GOOD.replace(
            "password = %s\n" % PASSWORD, "password = %s\npassword = %s\n"
            % (PASSWORD, PASSWORD)), mode=0o644)
        outs = []
        for path in (good, bad):
            for args in (["clients"], ["report", "--format", "json"], ["instances"],
                         ["alerts", "--format", "csv"]):
                r = h.run([h.bin_path("sslhist"), "-c", path] + args, check=False,
                          env=h._clean_env())
                self.assertNotEqual(r.returncode, 0, "%s: %s" % (args, r.stdout))
                self.assertIn(missing if path == good else path, r.stderr)
                outs += [r.stdout, r.stderr]
        h.assert_secret_absent(PASSWORD, texts=outs)

    BAD = [
        # (name, text, line, key)
        ("unknown_key", "[sslhistd]\ninterval = 1s\nbogus_key = 1\n", 3, "bogus_key"),
        ("bad_duration", "[sslhistd]\n\n# comment\ninterval = 5 parsecs\n", 4, "interval"),
        ("too_short", "[sslhistd]\ninterval = 50ms\n", 2, "interval"),
        ("unknown_section", "[sslhistd]\n[nonsense]\nhost = x\n", 2, "nonsense"),
        ("duplicate_cluster", "[cluster a]\nhost = x\n\n[cluster a]\nhost = y\n", 4, "a"),
        ("bad_libpq_key", "[cluster a]\nhost = x\nsslmoed = require\n", 3, "sslmoed"),
        ("bad_jitter", "[sslhistd]\njitter = lots\n", 2, "jitter"),
        ("bad_log_level", "[sslhistd]\nlog_level = chatty\n", 2, "log_level"),
    ]

    def test_bad_config_exits_78_with_file_line(self):
        for name, text, line, key in self.BAD:
            with self.subTest(name):
                path = self.conf(name + ".conf", text)
                for mode in (["--check"], ["--once"]):
                    r = run(["-c", path, "--db", os.path.join(self.dir, name + ".db")] + mode)
                    out = r.stdout + r.stderr
                    self.assertEqual(r.returncode, 78, "%s %s: %s" % (name, mode, out))
                    self.assertIn("%s:%d" % (path, line), r.stderr,
                                  "%s: message does not name FILE:LINE" % name)
                    self.assertIn(key, r.stderr, "%s: message does not name the key" % name)
                    self.assertFalse(os.path.exists(os.path.join(self.dir, name + ".db")),
                                     "a bad configuration created the database")

    def test_long_line_is_not_silently_split(self):
        # Debian's inih cuts lines at 199 characters and parses the rest as a
        # new key; a 300-character value must be read whole or rejected.
        value = "-c statement_timeout=5000 " + "-c search_path=" + "x" * 280
        path = self.conf("long.conf", "[cluster a]\nhost = x\noptions = %s\n" % value)
        r = run(["-c", path, "--check"])
        if r.returncode == 78:
            self.assertIn("%s:3" % path, r.stderr)
        else:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_missing_config_file(self):
        path = os.path.join(self.dir, "does-not-exist.conf")
        r = run(["-c", path, "--check"])
        self.assertIn(r.returncode, (78, 1), r.stderr)
        self.assertIn(path, r.stderr)

    def test_usage_errors_exit_64(self):
        good = self.conf("usage.conf", self.GOOD)
        for args in (["--no-such-option"], ["-c"], ["-c", good, "extra-argument"],
                     ["-x"], ["--db"]):
            with self.subTest(args=args):
                r = run(args)
                self.assertEqual(r.returncode, 64, "%s: %s" % (args, r.stderr))
                self.assertTrue(r.stderr.strip(), "usage error without a message")

    def test_help_and_version(self):
        r = run(["--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        for opt in ("--once", "--check", "--db", "-c"):
            self.assertIn(opt, r.stdout)
        r = run(["--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(re.search(r"\d+\.\d+", r.stdout), r.stdout)

    def test_database_that_cannot_be_created_exits_1(self):
        blocker = os.path.join(self.dir, "a-regular-file")
        open(blocker, "w").close()
        db = os.path.join(blocker, "sub", "history.db")
        path = self.conf("db.conf", "[sslhistd]\ninterval = 1s\n\n"
                         "[cluster a]\nhost = 127.0.0.1\nport = 1\nsslmode = disable\n")
        for mode in (["--once"], []):
            with self.subTest(mode=mode):
                r = run(["-c", path, "--db", db] + mode, timeout=15)
                self.assertEqual(r.returncode, 1, "%s: %s" % (mode, r.stderr))
                self.assertIn(db, r.stderr, "the message does not name the path")
        # The database named in the configuration file counts the same.
        path2 = self.conf("db2.conf", "[sslhistd]\ndatabase = %s\n\n"
                          "[cluster a]\nhost = 127.0.0.1\nport = 1\nsslmode = disable\n" % db)
        r = run(["-c", path2, "--once"], timeout=15)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(db, r.stderr)

    def test_database_created_0640(self):
        # docs/CONTRACT.md section 6: the file is created 0640.
        dbdir = h.subdir("dbmode", mode=0o750)
        db = os.path.join(dbdir, "history.db")
        path = self.conf("mode.conf", "[sslhistd]\nconnect_timeout = 1s\n\n"
                         "[cluster a]\nhost = 127.0.0.1\nport = 1\nsslmode = disable\n")
        r = run(["-c", path, "--db", db, "--once"], timeout=15)
        self.assertEqual(r.returncode, 1, r.stderr)       # the poll failed
        self.assertTrue(os.path.exists(db), r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(db).st_mode), 0o640)


if __name__ == "__main__":
    h.main()
