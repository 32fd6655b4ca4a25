"""Clients behind PgBouncer (issue 15; docs/CONTRACT.md sections 2 and 4).

A real PgBouncer 1.18 (Debian's package, run by the test in the foreground
with its own ini and auth file) in front of a real TLS PostgreSQL 15, with
server_tls_sslmode = verify-full against the test CA and client_tls_sslmode
= allow with a certificate. One application connects to the pooler without
TLS, one with TLS, one (with a hostile application name) without TLS, and
one connects directly. The history must show each with its own leg and
`via`, the pooler's server connections once each as the pooler (driver
pgbouncer, via null) and never as the applications they carry, hooks for the
plain leg, and the report's advice for each leg. Stopping and restarting the
pooler mid-run must change nothing for the direct instance.
"""
import glob
import json
import os
import signal
import stat

import harness as h
from pgbouncer import PgBouncer

HOSTILE = "evil\x1b[31m$(id)"


def hook_script():
    path = os.path.join(h.subdir("hook"), "record")
    with open(path, "w") as f:
        f.write('#!/bin/sh\ncat > "$1/$SSLHIST_EVENT.$$.json"\n')
    os.chmod(path, stat.S_IRWXU)
    return path


class Pooler(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = h.PgServer(ssl=True, name="pooled")
        ca = h.CA("pgbouncer")
        cls.pb = PgBouncer(cls.srv, client_tls_sslmode="allow", client_cert=ca.issue_server())
        cls.plain = h.Session(cls.pb, "app1", "appdb", "disable", "lambda-orders")
        cls.tls = h.Session(cls.pb, "app2", "appdb", "require", "tls-app")
        cls.evil = h.Session(cls.pb, "app1", "appdb", "disable", HOSTILE)
        cls.direct = h.Session(cls.srv, "app3", "appdb", "require", "direct-app")
        cls.direct.wait_visible()
        h.wait_until(lambda: {r["application_name"] for r in cls.pb.admin("SHOW CLIENTS")}
                     >= {"lambda-orders", "tls-app", HOSTILE}, 15, "clients on the pooler")
        h.wait_until(lambda: len(cls.pb.admin("SHOW SERVERS")) >= 2, 15, "server connections")
        cls.alerts = h.subdir("alerts")
        # Two poolers that are not: one never answers, one is PostgreSQL.
        cls.stuck = h.Blackhole()
        cls.d = h.Daemon({
            "sslhistd": {"interval": "500ms", "connect_timeout": "2s",
                         "on_non_ssl": "%s %s" % (hook_script(), cls.alerts)},
            "cluster main": h.cluster_for(cls.srv),
            "pooler pb1": {"host": cls.pb.host, "port": cls.pb.port, "user": "monitor",
                           "sslmode": "disable", "cluster": "main"},
            "pooler stuck": {"host": "127.0.0.1", "port": cls.stuck.port, "user": "monitor",
                             "sslmode": "disable", "cluster": "main"},
            "pooler notapooler": {"host": "localhost", "port": cls.srv.port, "user": "monitor",
                                  "dbname": "postgres", "sslmode": "require",
                                  "cluster": "main"},
        })
        cls.d.start()
        cls.d.wait(lambda: cls.polled() >= 2, 30, "the instance and the pooler polled")
        cls.d.wait(lambda: cls.clients_by_app().keys() >= {
            "lambda-orders", "tls-app", HOSTILE, "direct-app"}, 30, "every application")
        # The pooler's two server connections (users app1, app2).
        cls.d.wait(lambda: len(cls.pooler_server_clients()) >= 2, 30,
                   "the pooler's server connections")

    @classmethod
    def polled(cls):
        """Rows of instance that polled once; 0 while the schema is not there."""
        try:
            return cls.d.query1("SELECT count(*) FROM instance WHERE last_success IS NOT NULL")
        except (FileNotFoundError, h.sqlite3.Error):
            return 0

    @classmethod
    def clients(cls):
        return h.sslhist_json(cls.d.db, "clients")

    @classmethod
    def clients_by_app(cls):
        return {c["application"]: c for c in cls.clients() if c["application"] is not None}

    @classmethod
    def pooler_server_clients(cls):
        return [c for c in cls.clients() if c["driver"] == "pgbouncer"]

    def test_a_once_polls_the_pooler_first(self):
        d = h.Daemon({"cluster main": h.cluster_for(self.srv),
                      "pooler pb1": {"host": self.pb.host, "port": self.pb.port,
                                     "user": "monitor", "sslmode": "disable",
                                     "cluster": "main"}}, name="once")
        r = d.run_once()
        self.assertEqual(r.returncode, 0, r.stderr)
        got = sorted(((c["user"], c["application"], c["via"], c["driver"])
                      for c in h.sslhist_json(d.db, "clients")), key=repr)
        self.assertEqual(got, sorted([
            ("app1", "lambda-orders", "pb1", None), ("app1", HOSTILE, "pb1", None),
            ("app2", "tls-app", "pb1", None), ("app3", "direct-app", None, None),
            ("app1", None, None, "pgbouncer"), ("app2", None, None, "pgbouncer")], key=repr))

    def test_each_leg_with_its_via(self):
        apps = self.clients_by_app()
        pooler = "127.0.0.1:%d" % self.pb.port
        plain, tls, direct = apps["lambda-orders"], apps["tls-app"], apps["direct-app"]
        self.assertEqual((plain["via"], plain["ssl"], plain["tls_version"], plain["instance"],
                          plain["cluster"], plain["client_addr"]),
                         ("pb1", False, None, pooler, "main", "127.0.0.1"))
        self.assertEqual((tls["via"], tls["ssl"], tls["tls_version"], tls["cipher"]),
                         ("pb1", True, "TLSv1.3", "TLS_AES_256_GCM_SHA384"))
        self.assertEqual((direct["via"], direct["ssl"], direct["instance"]),
                         (None, True, "127.0.0.1:%d" % self.srv.port))

    def test_instances_name_the_pooler(self):
        rows = {i["instance"]: i for i in h.sslhist_json(self.d.db, "instances")}
        pooler = rows["127.0.0.1:%d" % self.pb.port]
        self.assertEqual((pooler["pooler"], pooler["cluster"], pooler["server_version"]),
                         ("pb1", "main", "PgBouncer 1.18.0"))
        self.assertIsNone(rows["127.0.0.1:%d" % self.srv.port]["pooler"])

    def test_server_connections_once_as_the_pooler(self):
        srv = "127.0.0.1:%d" % self.srv.port
        got = sorted((c["user"], c["instance"], c["via"], c["application"], c["ssl"])
                     for c in self.pooler_server_clients())
        self.assertEqual(got, [("app1", srv, None, None, True), ("app2", srv, None, None, True)])
        # No client of the database instance under the pooled users but the pooler's.
        others = [c for c in self.clients() if c["instance"] == srv and
                  c["user"] in ("app1", "app2") and c["driver"] != "pgbouncer"]
        self.assertEqual(others, [])

    def test_hook_fires_for_the_plain_leg(self):
        def events():
            out = []
            for p in glob.glob(os.path.join(self.alerts, "non-ssl.*.json")):
                with open(p) as f:
                    out.append(json.load(f))
            return out
        got = self.d.wait(lambda: (lambda e: e if len(e) >= 2 else None)(events()), 20,
                          "non-ssl hooks for the plain leg")
        self.assertEqual(sorted((e["application"], e["via"], e["ssl"]) for e in got),
                         sorted([("lambda-orders", "pb1", False), (HOSTILE, "pb1", False)]))

    def test_hostile_name_escaped(self):
        rc, out, _ = h.sslhist("clients", "--format", "table", db=self.d.db, check_rc=0)
        self.assertNotIn(b"\x1b", out)
        self.assertIn(b"evil\\x1b[31m$(id)", out)
        rc, out, _ = h.sslhist("clients", "--format", "csv", db=self.d.db, check_rc=0)
        self.assertIn(b"via", out.splitlines()[0])
        rc, out, _ = h.sslhist("clients", "--format", "json", db=self.d.db, check_rc=0)
        self.assertIn(b"evil\\u001b[31m$(id)", out)

    def test_report_legs(self):
        rc, out, _ = h.sslhist("report", "--format", "json", db=self.d.db)
        doc = json.loads(out)
        texts = [f["text"] for c in doc["clusters"] if c["name"] == "main"
                 for f in c["findings"]]
        joined = "\n".join(texts)
        main = [c for c in doc["clusters"] if c["name"] == "main"][0]
        self.assertEqual(main["instances"], 1)      # a pooler is not an instance
        # The plain leg is the pooler's client_tls_sslmode, not rds.force_ssl.
        self.assertMatches(r"pooler pb1.*lambda-orders.*client_tls_sslmode", joined)
        self.assertNoMatch(r"lambda-orders[^\n]*breaks when rds\.force_ssl", joined)
        # The server leg's trust store is the pooler's server_tls_ca_file.
        self.assertMatches(r"pooler pb1.*server_tls_ca_file.*%s" % self.srv.ca.cert, joined)
        # The verdict: every client that reaches the server uses TLS (the plain
        # legs end at the pooler), so force_ssl is not unsafe (a history of
        # minutes leaves it unknown); the pooler's own TLS server connection
        # and the direct client verify the server: the rotation needs action.
        v = main["verdict"]
        self.assertEqual(v["force_ssl"], "unknown", v)
        self.assertEqual(v["rotation"], "action", v)
        self.assertNoMatch(r"non-SSL", "\n".join(v["reasons"]))
        self.assertMatches(r"less than a day", "\n".join(v["reasons"]))

    def test_odd_poolers_fail_alone(self):
        rows = lambda: {r["pooler"]: r for r in self.d.query(
            "SELECT pooler, consecutive_failures, last_error, last_success FROM instance "
            "WHERE pooler IS NOT NULL")}
        got = self.d.wait(lambda: (lambda r: r if r["stuck"]["consecutive_failures"] > 0 and
                                   r["notapooler"]["consecutive_failures"] > 0 else None)(
                                       rows()), 30, "the odd poolers failing")
        self.assertIsNone(got["stuck"]["last_success"])
        self.assertMatches(r"timeout|timed out", got["stuck"]["last_error"])
        self.assertMatches(r"SHOW VERSION failed", got["notapooler"]["last_error"])
        self.assertEqual(got["pb1"]["consecutive_failures"], 0)
        self.assertEqual(self.d.query1(
            "SELECT consecutive_failures FROM instance WHERE port = ? AND pooler IS NULL", (self.srv.port,)), 0)

    def test_zz_pooler_down_changes_nothing_for_the_direct_instance(self):
        srv_row = lambda: self.d.query1(
            "SELECT consecutive_failures FROM instance WHERE port = ? AND pooler IS NULL", (self.srv.port,))
        pooler_row = lambda: self.d.query(
            "SELECT * FROM instance WHERE pooler = 'pb1'")[0]
        before = self.d.ok_polls("main")
        self.pb.stop()
        self.d.wait(lambda: pooler_row()["consecutive_failures"] > 0, 20, "pooler failing")
        late = h.Session(self.srv, "app3", "appdb", "require", "direct-late")
        late.wait_visible()
        self.d.wait(lambda: "direct-late" in self.clients_by_app(), 20, "direct client seen")
        self.assertEqual(srv_row(), 0)
        self.pb.start()
        self.d.wait(lambda: pooler_row()["consecutive_failures"] == 0, 30, "pooler ok again")
        self.assertEqual(srv_row(), 0)
        self.assertGreater(self.d.ok_polls("main"), before)
        self.d.assert_alive()

    def test_zzz_reload_keeps_the_pooler_and_retires_a_removed_one(self):
        polls = lambda: self.d.query1("SELECT polls_ok FROM instance WHERE pooler = 'pb1'")
        before = self.d.query1("SELECT id FROM instance WHERE pooler = 'pb1'")
        del self.d.cfg["pooler stuck"]
        h.write_config(self.d.conf, self.d.cfg)
        log_len = len(self.d.log_text())
        self.d.proc.send_signal(signal.SIGHUP)
        self.d.wait(lambda: "reloaded" in self.d.log_text()[log_len:], 10, "the reload")
        self.d.wait(lambda: self.d.query1(
            "SELECT retired_at IS NOT NULL FROM instance WHERE pooler = 'stuck'") == 1, 10,
            "the removed pooler retired")
        n = polls()
        self.d.wait(lambda: polls() > n + 1, 15, "pb1 polled after the reload")
        self.assertEqual(self.d.query1("SELECT id FROM instance WHERE pooler = 'pb1'"), before)
        self.assertEqual(self.d.query1(
            "SELECT retired_at FROM instance WHERE pooler = 'pb1'"), None)


if __name__ == "__main__":
    h.main()
