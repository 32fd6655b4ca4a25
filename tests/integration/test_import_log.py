"""sslhist import-log against real PostgreSQL 15 servers that log connections.

Three servers with log_connections = on and TLS: S logs to stderr with RDS's
prefix (%t:%r:%u@%d:[%p]:), C to csvlog and J to jsonlog (logging_collector
on, files found under the data directory). Each has a role and a database
whose names hold ESC, quotes, $(...) and a newline. A running sslhistd polls
them every 5 s (so real psql bursts of sub-second sessions come and go
unseen, counted as missed on PostgreSQL 15) and runs an on_new_client hook.

Checked: after import-log every burst session is named (clients shows them,
unnamed_missed_sessions 0) and counts exactly once; a held session both
sampled and logged counts once (seen_by poll+log); importing again adds
nothing; hostile names arrive byte for byte; the hook fires once for a client
only a log showed; bad input (another format, truncated lines, invalid
UTF-8, a 1 MB line) is counted as skipped, stores nothing, loses nothing.
"""
import glob
import json
import os
import re
import subprocess

import harness as h

EVIL_USER = "ev\x1bil'\"$(id)"
EVIL_DB = "d\nb;$(x)"
EVIL_APP = "x $(y)"
BURST = 5
LOGGING = {"log_connections": "on"}
FORMATS = {
    "s": dict(LOGGING, log_line_prefix="%t:%r:%u@%d:[%p]:"),
    "c": dict(LOGGING, log_destination="csvlog", logging_collector="on",
              log_directory="log"),
    "j": dict(LOGGING, log_destination="jsonlog", logging_collector="on",
              log_directory="log"),
}


def ident(s):
    return '"%s"' % s.replace('"', '""')


def psql_once(server, user, db, app, sslmode="require"):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t",
                        server.conninfo(user=user, dbname=db, sslmode=sslmode,
                                        application_name=app), "-c", "select 1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       env=h._clean_env(), timeout=30)
    if r.returncode != 0:
        raise AssertionError("psql %s@%s: %s" % (user, db, r.stderr))


def log_files(server, name):
    if name == "s":
        return [server.logfile]
    ext = "csv" if name == "c" else "json"
    return sorted(glob.glob(os.path.join(server.datadir, "log", "*." + ext)))


class ImportLog(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = h.CA("ca-import")
        cls.srv = {n: h.PgServer(ssl=True, ca=cls.ca, conf=conf, name="imp" + n)
                   for n, conf in FORMATS.items()}
        for s in cls.srv.values():
            s.sql("CREATE ROLE %s LOGIN" % ident(EVIL_USER))
            s.sql("CREATE DATABASE %s" % ident(EVIL_DB))
        cls.held = {n: h.Session(s, "app1", "appdb", "require", "held")
                    for n, s in cls.srv.items()}
        h.wait_all_visible(list(cls.held.values()))
        cls.hookdir = h.subdir("import-hooks")
        hook = os.path.join(cls.hookdir, "hook.sh")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\ncat >> %s/events.jsonl\necho >> %s/events.jsonl\n"
                    % (cls.hookdir, cls.hookdir))
        os.chmod(hook, 0o755)
        cfg = {"sslhistd": {"interval": "5s", "jitter": "0%", "connect_timeout": "5s",
                            "query_timeout": "5s", "on_new_client": hook,
                            "hook_timeout": "10s"}}
        for n, s in cls.srv.items():
            cfg["cluster " + n] = h.cluster_for(s)
        cls.d = h.Daemon(cfg, name="import")
        cls.d.start()
        for n in cls.srv:
            cls.d.wait_polls(n, 1, timeout=30)

    # -- helpers

    def clients(self, cluster):
        return h.sslhist_json(self.d.db, "clients", "--cluster", cluster)

    def coverage(self, cluster):
        rep = h.sslhist_json(self.d.db, "report", "--cluster", cluster)
        return rep["clusters"][0]["coverage"]

    def import_log(self, cluster, *files, rc=0, extra=()):
        _rc, out, err = h.sslhist("-c", self.d.conf, "import-log", "--cluster", cluster,
                                  *extra, *files, db=self.d.db, check_rc=rc)
        return out.decode("utf-8", "replace"), err

    def by_app(self, cluster):
        out = {}
        for c in self.clients(cluster):
            out.setdefault(c["application"], []).append(c)
        return out

    def hook_events(self):
        """The hooks' stdin objects (hooks run at once: objects may share a line)."""
        try:
            with open(os.path.join(self.hookdir, "events.jsonl")) as f:
                text = f.read()
        except FileNotFoundError:
            return []
        dec, out, i = json.JSONDecoder(), [], 0
        while True:
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                return out
            obj, i = dec.raw_decode(text, i)
            out.append(obj)

    # -- tests (in order: unittest sorts by name)

    def test_1_burst_named(self):
        before = {n: self.d.ok_polls(n) for n in self.srv}
        for n, s in self.srv.items():
            for _ in range(BURST):
                psql_once(s, "app2", "appdb", "burst")
            psql_once(s, EVIL_USER, EVIL_DB, EVIL_APP)
        # The next poll counts what it did not see.
        for n in self.srv:
            self.d.wait_polls(n, before[n] + 2, timeout=30)
            cov = self.coverage(n)
            self.assertGreater(cov["missed_sessions"], 0, (n, cov))
            self.assertEqual(cov["unnamed_missed_sessions"], cov["missed_sessions"], (n, cov))
            self.assertEqual(cov["logged_sessions"], 0, cov)

        for n, s in self.srv.items():
            files = log_files(s, n)
            self.assertTrue(files, "no log file of %s" % n)
            out, _err = self.import_log(n, *files)
            self.assertMatches(r"0 lines skipped", out, out)
            apps = self.by_app(n)
            burst = apps["burst"]
            self.assertEqual(len(burst), 1, burst)
            b = burst[0]
            self.assertEqual(b["sessions"], BURST, b)
            self.assertEqual(b["logged_sessions"], BURST, b)
            self.assertEqual((b["user"], b["database"], b["ssl"], b["tls_version"],
                              b["client_addr"]),
                             ("app2", "appdb", True, "TLSv1.3", "127.0.0.1"), b)
            if b["samples"] == 0:       # a poll may have caught one of them
                self.assertEqual(b["seen_by"], "log", b)
            held = apps["held"]
            self.assertEqual(len(held), 1, held)
            self.assertEqual((held[0]["sessions"], held[0]["logged_sessions"],
                              held[0]["seen_by"]), (1, 1, "poll+log"), held)
            self.assertGreaterEqual(held[0]["samples"], 1, held)
            evil = apps[EVIL_APP]
            self.assertEqual((evil[0]["user"], evil[0]["database"], evil[0]["sessions"]),
                             (EVIL_USER, EVIL_DB, 1), evil)
            cov = self.coverage(n)
            self.assertEqual(cov["unnamed_missed_sessions"], 0, (n, cov))
            self.assertGreaterEqual(cov["logged_sessions"], cov["missed_sessions"], cov)

    def test_2_reimport_adds_nothing(self):
        for n, s in self.srv.items():
            snap = sorted(json.dumps(c, sort_keys=True) for c in self.clients(n)
                          if c["application"] != "held")
            cov = self.coverage(n)
            out, _ = self.import_log(n, *log_files(s, n))
            self.assertMatches(r" 0 new, ", out, out)
            again = sorted(json.dumps(c, sort_keys=True) for c in self.clients(n)
                           if c["application"] != "held")
            self.assertEqual(again, snap)
            self.assertEqual(self.coverage(n)["logged_sessions"], cov["logged_sessions"])

    def test_3_hook_fires_once_for_logged_client(self):
        def fired():
            ev = [e for e in self.hook_events() if e.get("application") == "burst"]
            return ev if len(ev) >= len(self.srv) else None
        ev = h.wait_until(fired, 20, "new-client hooks of the logged burst clients")
        self.assertEqual(sorted(e["cluster"] for e in ev), sorted(self.srv), ev)
        self.assertTrue(all(e["seen_by"] in ("log", "poll+log") and e["event"] == "new-client"
                            for e in ev), ev)
        alerts = h.sslhist_json(self.d.db, "alerts")
        self.assertEqual(len([a for a in alerts if a["application"] == "burst"]),
                         len(self.srv), alerts)

    def test_4_bad_input(self):
        n, s = "s", self.srv["s"]
        before = sorted(json.dumps(c, sort_keys=True) for c in self.clients(n)
                        if c["application"] != "held")
        bad = os.path.join(self.hookdir, "bad.log")
        with open(log_files(self.srv["c"], "c")[0], "rb") as f:
            csv_line = f.read().splitlines()[0]
        good = (b"2026-12-03 07:02:33 UTC:127.0.0.9(5):[unknown]@[unknown]:[424242]:LOG:  "
                b"connection received: host=127.0.0.9 port=5\n"
                b"2026-12-03 07:02:33 UTC:127.0.0.9(5):u@d:[424242]:LOG:  connection "
                b"authorized: user=late database=appdb application_name=good\n")
        with open(bad, "wb") as f:
            f.write(b"x" * (1 << 20) + b"\n")                    # 1 MB
            f.write(csv_line + b"\n")                            # another format
            f.write(b"2026-12-03 07:02:33 UTC:127.0.0.9(5):u@d:[4\n")   # truncated
            f.write(b"\xff\xfe 2026 \xc3(\n")                      # invalid UTF-8
            f.write(good)
        out, _ = self.import_log(n, bad, extra=("--format", "stderr"))
        self.assertMatches(r"4 lines skipped", out, out)
        self.assertMatches(r"skipped line 1: longer than 65536 bytes", out, out)
        self.assertMatches(r"skipped line 3: not a log line", out, out)
        self.assertNoMatch("\xff|\x1b", out)
        after = self.clients(n)
        self.assertEqual(sorted(json.dumps(c, sort_keys=True) for c in after
                                if c["application"] not in ("held", "good")), before)
        good_c = [c for c in after if c["application"] == "good"]
        self.assertEqual([(c["user"], c["sessions"], c["samples"], c["seen_by"])
                          for c in good_c], [("late", 1, 0, "log")], good_c)

    def test_5_usage_and_errors(self):
        rc, _o, err = h.sslhist("import-log", "--cluster", "s", "--format", "xml", "-",
                                db=self.d.db)
        self.assertEqual(rc, 2, err)
        rc, _o, err = h.sslhist("import-log", "/dev/null", db=self.d.db)
        self.assertEqual(rc, 2, err)
        rc, _o, err = h.sslhist("import-log", "--cluster", "nosuch", "/dev/null", db=self.d.db)
        self.assertEqual(rc, 1, err)
        self.assertMatches("no cluster 'nosuch'", err)
        rc, _o, err = h.sslhist("import-log", "--cluster", "s", "/no/such/file", db=self.d.db)
        self.assertEqual(rc, 1, err)
        self.assertMatches("/no/such/file", err)
        rc, _o, err = h.sslhist("import-log", "--cluster", "s", "--prefix", "%m ", "-",
                                db=self.d.db)
        self.assertEqual(rc, 2, err)
        self.d.assert_alive()

    def test_6_log_command(self):
        """A second daemon whose log_command prints J's real jsonlog files."""
        s = self.srv["j"]
        envfile = os.path.join(self.hookdir, "logcmd.env")
        cmd = os.path.join(self.hookdir, "logcmd.sh")
        with open(cmd, "w") as f:
            f.write("#!/bin/sh\nenv | grep '^SSLHIST_' | sort >> %s\necho --- >> %s\n"
                    "cat %s/log/*.json\n" % (envfile, envfile, s.datadir))
        os.chmod(cmd, 0o755)
        cfg = {"sslhistd": {"interval": "5s", "connect_timeout": "5s", "query_timeout": "5s"},
               "cluster j": dict(h.cluster_for(s), log_command=cmd, log_interval="1s")}
        d2 = h.Daemon(cfg, name="logcmd")
        d2.start()
        d2.wait_polls("j", 1, timeout=30)

        def named():
            apps = {c["application"]: c for c in
                    h.sslhist_json(d2.db, "clients", "--cluster", "j")}
            b = apps.get("burst")
            return apps if b and b["sessions"] == BURST else None
        apps = h.wait_until(named, 30, "log_command's burst sessions imported")
        self.assertEqual(apps["burst"]["logged_sessions"], BURST, apps["burst"])
        self.assertEqual(apps[EVIL_APP]["database"], EVIL_DB, apps[EVIL_APP])

        def two_runs():
            try:
                runs = open(envfile).read().split("---\n")
            except FileNotFoundError:
                return None
            return runs if len(runs) >= 3 else None
        runs = h.wait_until(two_runs, 30, "log_command run twice")
        first = dict(l.split("=", 1) for l in runs[0].splitlines())
        second = dict(l.split("=", 1) for l in runs[1].splitlines())
        self.assertEqual(first["SSLHIST_INSTANCE"], "127.0.0.1:%d" % s.port, first)
        self.assertEqual((first["SSLHIST_CLUSTER"], first["SSLHIST_HOST"],
                          first["SSLHIST_PORT"], first["SSLHIST_USER"]),
                         ("j", "127.0.0.1", str(s.port), "monitor"), first)
        self.assertEqual(first.get("SSLHIST_LOG_SINCE"), "", first)
        self.assertRegex(second["SSLHIST_LOG_SINCE"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # Every later run printed the same lines: nothing added.
        self.assertEqual(h.sslhist_json(d2.db, "clients", "--cluster", "j")
                         and named()["burst"]["sessions"], BURST)
        self.assertMatches(r"log_command: \d+ lines", d2.log_text())
        d2.stop()
        self.d.assert_alive()


if __name__ == "__main__":
    h.main()
