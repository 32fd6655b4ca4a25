"""sslhist (the query tool) over a history that the real sslhistd recorded.

Servers: A (TLS, also accepting TLS 1.0/1.1) and B (ssl=off). Clients on A:
SSL and non-SSL psql sessions, one forced to TLS 1.1, sessions whose role
and database names are hostile (ESC and OSC sequences, newline, quotes,
$(...), backticks, 63 bytes, invalid UTF-8 through a SQL_ASCII database),
and application names that map to drivers. Clients on B: non-SSL only.

Every command and format runs while the daemon polls, and again after it
stopped, as root and as a user who is only in the database file's group,
with and without the -wal/-shm files. JSON is parsed strictly (valid UTF-8
first), CSV is read back with the csv module and compared byte for byte
with the store, tables must never carry a raw control byte.
"""
import csv
import grp
import io
import json
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import time

import harness as h

ESC_ROLE = "esc\x1b[31mred\x1b[0m"
NL_ROLE = "nl\nsecond line"
QUOTE_ROLE = "q\"uo'te"
SHELL_ROLE = "$(touch /tmp/sslhist-pwned)`id`"
LONG_ROLE = "L" * 61 + "\u00e9"                      # 63 bytes in UTF-8
OSC_DB = "db\x1b]0;owned\x07\x7f"
BAD_ROLE = "bad\udcff\udcfeuser"                        # bytes ff fe (surrogateescape)
BAD_DB = "bad\udcffdb"
HOSTILE_ROLES = [ESC_ROLE, NL_ROLE, QUOTE_ROLE, SHELL_ROLE, LONG_ROLE, BAD_ROLE]
HOSTILE_APP = "app'\"$(id)`id`"
GROUP = "sslhistcli"
READER = "sslhistcli"

# OpenSSL 3 refuses TLS below 1.2 unless told otherwise (STYLE.md).
OPENSSL_LEGACY = """openssl_conf = init
[init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = sysdef
[sysdef]
MinProtocol = TLSv1
CipherString = DEFAULT@SECLEVEL=0
"""


def b(s):
    """A str with surrogate-escaped bytes as the bytes it stands for."""
    return s.encode("utf-8", "surrogateescape")


def ident(s):
    return '"%s"' % s.replace('"', '""')


sslhist = h.sslhist


def decode_strict(data):
    return data.decode("utf-8")     # raises on any invalid byte


def parse_csv(data):
    text = data.decode("utf-8", "surrogateescape")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    return [dict(zip(header, r)) for r in body], header


class Cli(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = h.PgServer(ssl=True, name="a", conf={
            "ssl_min_protocol_version": "TLSv1", "ssl_ciphers": "DEFAULT:@SECLEVEL=0"})
        cls.b = h.PgServer(ssl=False, name="b")
        cls.make_hostile_names()
        cls.sessions = cls.start_sessions()
        h.wait_all_visible(cls.sessions)
        hook_dir = h.subdir("hooks")
        cls.hook = os.path.join(hook_dir, "hook.sh")
        with open(cls.hook, "w") as f:
            f.write("#!/bin/sh\ncat >/dev/null\nexit 0\n")
        os.chmod(cls.hook, 0o755)
        cls.dbdir = h.subdir("histdir", mode=0o750)
        cls.db = os.path.join(cls.dbdir, "history.db")
        cfg = {"sslhistd": {"interval": "300ms", "jitter": "0%", "max_backoff": "1s",
                            "on_non_ssl": cls.hook},
               "cluster alpha": h.cluster_for(cls.a, host="localhost"),
               "cluster beta": h.cluster_for(cls.b)}
        cls.d = h.Daemon(cfg, db=cls.db).start()
        cls.d.wait_ok("alpha", timeout=20)
        cls.d.wait_ok("beta", timeout=20)
        want = {s.application_name for s in cls.sessions}
        cls.d.wait(lambda: want <= {c["application"] for c in cls.d.clients()}, 20,
                   "every session stored")
        # Sessions that begin and end between two polls: counted as missed.
        h.burst(cls.a, n=40, hold_ms=5, application_name="cli-burst")
        cls.d.wait(lambda: cls.d.query1(
            "SELECT sum(v.missed_sessions) FROM coverage v JOIN instance i "
            "ON i.id = v.instance_id WHERE i.cluster = 'alpha'"), 20,
            "missed sessions of the burst counted")
        cls.d.wait_polls("alpha", 2, timeout=20)
        # PostgreSQL 15 lets the daemon count missed sessions from its
        # second poll on.
        cls.d.wait(lambda: cls.d.query1(
            "SELECT count(DISTINCT i.cluster) FROM coverage v JOIN instance i "
            "ON i.id = v.instance_id WHERE v.missed_sessions IS NOT NULL") == 2, 20,
            "missed sessions counted")
        cls.make_reader()

    @classmethod
    def make_hostile_names(cls):
        a = cls.a
        for r in HOSTILE_ROLES[:-1]:
            a.sql("CREATE ROLE %s LOGIN" % ident(r))
        a.sql("CREATE DATABASE %s" % ident(OSC_DB))
        # Invalid UTF-8 reaches the catalogs only through a SQL_ASCII database.
        a.sql("CREATE DATABASE asciidb TEMPLATE template0 ENCODING 'SQL_ASCII' "
              "LC_COLLATE 'C' LC_CTYPE 'C'")
        conn = ("host=%s port=%d dbname=asciidb user=postgres application_name=%s"
                % (a.sockdir, a.port, h.ADMIN_APP))
        for q in ("CREATE ROLE %s LOGIN" % ident(BAD_ROLE),
                  "CREATE DATABASE %s" % ident(BAD_DB)):
            h.run(h.as_postgres(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", conn,
                                 "-c", q]))

    @classmethod
    def start_sessions(cls):
        S = h.Session
        legacy = os.path.join(h.workdir(), "openssl-legacy.cnf")
        with open(legacy, "w") as f:
            f.write(OPENSSL_LEGACY)
        cls.tls11 = S(cls.a, "app1", "appdb", "require", "cli-tls11",
                      env={"OPENSSL_CONF": legacy}, ssl_min_protocol_version="TLSv1",
                      ssl_max_protocol_version="TLSv1.1")
        cls.plain_a = S(cls.a, "app2", "appdb", "disable", "cli-plain-a")
        cls.plain_b = S(cls.b, "app3", "appdb", "disable", "cli-plain-b")
        cls.jdbc = S(cls.a, "app1", "postgres", "require", "PostgreSQL JDBC Driver")
        cls.psql = S(cls.a, "app3", "appdb", "require", "psql")
        cls.hostile = [S(cls.a, r, "appdb", "require", "cli-role-%d" % i)
                       for i, r in enumerate(HOSTILE_ROLES)]
        cls.osc = S(cls.a, "app1", OSC_DB, "require", "cli-osc-db")
        cls.bad = S(cls.a, BAD_ROLE, BAD_DB, "disable", "cli-bad-db")
        cls.app = S(cls.a, "app2", "appdb", "require", HOSTILE_APP)
        return [cls.tls11, cls.plain_a, cls.plain_b, cls.jdbc, cls.psql, cls.osc,
                cls.bad, cls.app] + cls.hostile

    @classmethod
    def make_reader(cls):
        """A user in the database's group only (no other right on it)."""
        try:
            grp.getgrnam(GROUP)
        except KeyError:
            h.run(["groupadd", "--system", GROUP])
            h.on_cleanup(lambda: subprocess.run(["groupdel", GROUP]))
        try:
            pwd.getpwnam(READER)
        except KeyError:
            h.run(["useradd", "--system", "--no-create-home", "-g", GROUP,
                   "-s", "/usr/sbin/nologin", READER])
            h.on_cleanup(lambda: subprocess.run(["userdel", READER]))
        cls.gid = grp.getgrnam(GROUP).gr_gid
        cls.set_group()

    @classmethod
    def set_group(cls):
        os.chown(cls.dbdir, 0, cls.gid)
        os.chmod(cls.dbdir, 0o750)
        for suffix in ("", "-wal", "-shm"):
            p = cls.db + suffix
            if os.path.exists(p):
                os.chown(p, 0, cls.gid)
                os.chmod(p, 0o640)
        # The reader must reach the directory through the work directory.
        os.chmod(os.path.dirname(cls.dbdir), 0o755)

    @classmethod
    def tearDownClass(cls):
        if cls.d.alive():
            cls.d.stop()

    # -- the store, as the truth to compare with

    def store(self, sql, args=()):
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        con.text_factory = lambda x: x.decode("utf-8", "surrogateescape")
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute(sql, args)]
        finally:
            con.close()

    def stored_clients(self):
        return self.store("SELECT c.*, i.cluster, i.host, i.port FROM client c "
                          "JOIN instance i ON i.id = c.instance_id")

    # -- checks shared by the phases

    def check_table(self, out, what):
        """No raw control byte (but the newlines ending lines), valid UTF-8,
        columns aligned under the header."""
        text = decode_strict(out)
        for ch in text:
            if ch != "\n" and (ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f):
                self.fail("%s: raw control character %r in table:\n%s" % (what, ch, text))
        return text

    def check_aligned(self, text, what):
        lines = text.rstrip("\n").split("\n")
        header = lines[0]
        starts = [m.start() for m in re.finditer(r"(?<=  )\S", header)]
        for line in lines[1:]:
            for k in starts:
                if len(line) > k:
                    self.assertEqual(line[k - 2:k], "  ", "%s: column at %d not aligned:"
                                     "\n%s\n%s" % (what, k, header, line))

    def clients_json(self, **kw):
        rc, out, err = sslhist("clients", "--format", "json", db=self.db, check_rc=0, **kw)
        return json.loads(decode_strict(out))

    def check_clients_all_formats(self, user=None):
        stored = self.stored_clients()
        self.assertGreaterEqual(len(stored), len(self.sessions))
        # JSON: every stored client, every field, the exact server strings
        # (invalid bytes as U+FFFD).
        got = self.clients_json(user=user)
        self.assertEqual(len(got), len(stored), got)
        by_app = {(c["cluster"], c["application"], c["user"]): c for c in got}
        for s in stored:
            fix = lambda v: v.encode("utf-8", "surrogateescape").decode("utf-8", "replace") \
                if isinstance(v, str) else v
            key = (s["cluster"], fix(s["application"]), fix(s["user"]))
            self.assertIn(key, by_app, "stored client missing from JSON: %r" % s)
            c = by_app[key]
            inst = ("[%s]:%d" if ":" in s["host"] else "%s:%d") % (s["host"], s["port"])
            self.assertEqual(c["instance"], inst)
            for k in ("database", "client_addr", "client_hostname", "tls_version", "cipher",
                      "client_dn", "issuer_dn"):
                self.assertEqual(c[k], fix(s[k]), (k, c, s))
            self.assertIs(c["ssl"], bool(s["ssl"]))
            self.assertEqual(c["bits"], s["bits"])
            for k in ("sessions", "samples"):
                self.assertEqual(type(c[k]), int)
                self.assertGreaterEqual(c[k], 1)
            for k in ("first_seen", "last_seen"):
                self.assertRegex(c[k], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            self.assertEqual(sorted(c), sorted([
                "cluster", "instance", "database", "user", "application", "client_addr",
                "client_hostname", "ssl", "tls_version", "cipher", "bits", "client_dn",
                "issuer_dn", "driver", "first_seen", "last_seen", "sessions", "samples",
                "logged_sessions", "seen_by", "via"]))
        self.assertEqual(by_app[("alpha", "PostgreSQL JDBC Driver", "app1")]["driver"], "pgjdbc")
        self.assertEqual(by_app[("alpha", "psql", "app3")]["driver"], "psql")
        self.assertIsNone(by_app[("alpha", "cli-plain-a", "app2")]["driver"])
        plain = by_app[("alpha", "cli-plain-a", "app2")]
        self.assertIsNone(plain["tls_version"])
        self.assertIsNone(plain["bits"])
        self.assertEqual(by_app[("alpha", "cli-tls11", "app1")]["tls_version"], "TLSv1.1")
        self.assertEqual(by_app[("alpha", "cli-role-0", ESC_ROLE)]["user"], ESC_ROLE)
        bad = by_app[("alpha", "cli-bad-db", "bad\ufffd\ufffduser")]
        self.assertEqual(bad["database"], "bad\ufffddb")
        self.assertEqual(by_app[("alpha", "cli-osc-db", "app1")]["database"], OSC_DB)
        self.assertIn(("alpha", HOSTILE_APP, "app2"), by_app)
        # CSV: read back byte for byte.
        rc, out, err = sslhist("clients", "--format", "csv", db=self.db, check_rc=0)
        rows, header = parse_csv(out)
        self.assertEqual(header[:3], ["cluster", "instance", "database"])
        self.assertEqual(len(rows), len(stored))
        csv_keys = {(r["cluster"], r["application"], r["user"]): r for r in rows}
        for s in stored:
            r = csv_keys[(s["cluster"], s["application"], s["user"])]
            self.assertEqual(r["database"], s["database"] or "")
            self.assertEqual(r["ssl"], "true" if s["ssl"] else "false")
            self.assertEqual(r["bits"], "" if s["bits"] is None else str(s["bits"]))
        for role in HOSTILE_ROLES:
            self.assertIn(role, {r["user"] for r in rows})
        # Table: escaped, aligned, cut visibly.
        rc, out, err = sslhist("clients", db=self.db, check_rc=0)
        text = self.check_table(out, "clients table")
        self.check_aligned(text, "clients table")
        self.assertIn("esc\\x1b[31mred\\x1b[0m", text)
        self.assertIn("nl\\x0asecond line", text)
        self.assertIn("bad\\xff\\xfeuser", text)
        self.assertIn("db\\x1b]0;owned\\x07\\x7f", text)
        self.assertIn("$(touch /tmp/sslhist-pwned)`id`", text)
        self.assertIn("...", text)          # the 63-byte name is cut visibly
        self.assertEqual(len(text.rstrip("\n").split("\n")), len(stored) + 1)

    # -- tests, in order (unittest sorts by name)

    def test_1_running_daemon_clients(self):
        self.d.assert_alive()
        self.check_clients_all_formats()
        # Filters combine.
        got = self.clients_json()
        n_alpha = len([c for c in got if c["cluster"] == "alpha"])
        rc, out, _ = sslhist("clients", "--cluster", "alpha", "--format", "json",
                             db=self.db, check_rc=0)
        self.assertEqual(len(json.loads(out)), n_alpha)
        rc, out, _ = sslhist("clients", "--non-ssl", "--format", "json", db=self.db,
                             check_rc=0)
        non = json.loads(out)
        self.assertTrue(non and all(c["ssl"] is False for c in non), non)
        rc, out, _ = sslhist("clients", "--ssl", "--cluster", "beta", "--format", "json",
                             db=self.db, check_rc=0)
        self.assertEqual(json.loads(out), [])
        rc, out, _ = sslhist("clients", "--user", BAD_ROLE, "--database", BAD_DB,
                             "--format", "csv", db=self.db, check_rc=0)
        rows, _ = parse_csv(out)
        self.assertEqual([(r["user"], r["database"]) for r in rows], [(BAD_ROLE, BAD_DB)])
        rc, out, _ = sslhist("clients", "--since", "1h", "--format", "json", db=self.db,
                             check_rc=0)
        self.assertEqual(len(json.loads(out)), len(got))
        rc, out, _ = sslhist("clients", "--since", "2999-01-01", "--format", "json",
                             db=self.db, check_rc=0)
        self.assertEqual(json.loads(out), [])
        self.assertFalse(os.path.exists("/tmp/sslhist-pwned"))

    def test_2_running_daemon_instances(self):
        rc, out, _ = sslhist("instances", "--format", "json", db=self.db, check_rc=0)
        inst = {i["cluster"]: i for i in json.loads(decode_strict(out))}
        self.assertEqual(set(inst), {"alpha", "beta"})
        a, bb = inst["alpha"], inst["beta"]
        self.assertEqual(a["instance"], "localhost:%d" % self.a.port)
        self.assertEqual((a["host"], a["port"]), ("localhost", self.a.port))
        self.assertEqual(a["state"], "ok")
        self.assertIs(a["ssl_enabled"], True)
        self.assertIs(bb["ssl_enabled"], False)
        self.assertIs(a["can_see_all_sessions"], True)
        self.assertIn(self.a.ca.subject_cn, a["server_cert"]["issuer"])
        self.assertRegex(a["server_cert"]["not_after"], r"Z$")
        self.assertIsNone(bb["server_cert"])
        self.assertGreater(a["coverage"]["polls"], 0)
        self.assertIsInstance(a["coverage"]["largest_gap_s"], (int, float))
        self.assertIsNone(a["force_ssl"])
        rc, out, _ = sslhist("instances", "--format", "csv", db=self.db, check_rc=0)
        rows, header = parse_csv(out)
        self.assertIn("server_cert.issuer", header)
        self.assertEqual(sorted(r["cluster"] for r in rows), ["alpha", "beta"])
        rc, out, _ = sslhist("instances", "--cluster", "beta", db=self.db, check_rc=0)
        text = self.check_table(out, "instances table")
        self.check_aligned(text, "instances table")
        self.assertEqual(len(text.strip().split("\n")), 2)

    def test_3_running_daemon_report(self):
        rc, out, _ = sslhist("report", "--format", "json", db=self.db, check_rc=0)
        rep = json.loads(decode_strict(out))
        self.assertRegex(rep["generated_at"], r"Z$")
        self.assertIsNone(rep["since"])
        cl = {c["name"]: c for c in rep["clusters"]}
        self.assertEqual(set(cl), {"alpha", "beta"})
        a = cl["alpha"]
        stored = [c for c in self.stored_clients() if c["cluster"] == "alpha"]
        self.assertEqual(a["clients"], len(stored))
        self.assertEqual(a["non_ssl_clients"], len([c for c in stored if not c["ssl"]]))
        self.assertEqual(a["ssl_clients"] + a["non_ssl_clients"], a["clients"])
        self.assertEqual(a["tls_versions"].get("TLSv1.1"), 1, a["tls_versions"])
        self.assertEqual(sum(a["tls_versions"].values()), a["ssl_clients"])
        self.assertEqual(a["server_cas"], [self.a_issuer()])
        self.assertEqual(a["force_ssl"], [None])
        cov = a["coverage"]
        for k in ("polls", "failed_polls", "sessions", "single_poll_sessions"):
            self.assertIsInstance(cov[k], int, k)
        self.assertIsInstance(cov["missed_sessions"], int)   # PostgreSQL 15 counts
        n1 = len([c for c in stored if c["sessions"] == 1])
        n = sum(c["sessions"] for c in stored)
        self.assertAlmostEqual(cov["unseen_client_estimate"], n1 / n)
        sev = [f["severity"] for f in a["findings"]]
        order = {"critical": 0, "warning": 1, "info": 2}
        self.assertEqual(sev, sorted(sev, key=order.get), sev)
        texts = "\n".join(f["text"] for f in a["findings"])
        self.assertIn('non-SSL client on localhost:%d: user "app2"' % self.a.port, texts)
        self.assertIn("application \"cli-plain-a\"", texts)
        self.assertIn("TLSv1.1 client", texts)
        self.assertIn("pgjdbc", texts)
        self.assertIn("libpq-based (psql 1)", texts)
        self.assertGreater(cov["missed_sessions"], 0)
        self.assertRegex(texts, r"localhost:%d: \d+ sessions? began and ended between two "
                         r"polls unseen: lower the interval" % self.a.port)
        self.assertEqual(a["interval_source"], "estimate")
        self.assertGreater(a["interval_s"], 0.2)
        self.assertNotIn("intervals of", texts)     # polls every 300 ms: no gap
        self.assertIn('user "%s"' % BAD_ROLE.replace("\udcff", "\ufffd")
                      .replace("\udcfe", "\ufffd"), texts)
        # A certificate expiring within 30 days is critical too.
        not_after = self.store("SELECT cert_not_after FROM instance "
                               "WHERE cluster = 'alpha'")[0]["cert_not_after"]
        expiring = not_after < time.time() + 30 * 86400
        crit = [f["text"] for f in a["findings"] if f["severity"] == "critical"]
        self.assertEqual(len(crit), a["non_ssl_clients"] + expiring, crit)
        self.assertEqual(expiring, "its server certificate expires" in texts, texts)
        self.assertEqual(cl["beta"]["non_ssl_clients"], 1)
        self.assertEqual(cl["beta"]["server_cas"], [])
        # Table: escaped, sections present.
        rc, out, _ = sslhist("report", db=self.db, check_rc=0)
        text = self.check_table(out, "report table")
        self.assertIn("cluster alpha:", text)
        self.assertIn("CRITICAL  non-SSL client", text)
        self.assertIn("bad\\xff\\xfeuser", text)
        # --fail-on-non-ssl, alone and with filters.
        sslhist("report", "--fail-on-non-ssl", db=self.db, check_rc=3)
        sslhist("report", "--cluster", "beta", "--fail-on-non-ssl", "--format", "json",
                db=self.db, check_rc=3)
        sslhist("report", "--since", "2999-01-01", "--fail-on-non-ssl", db=self.db,
                check_rc=0)
        rc, out, err = sslhist("report", "--cluster", "nosuch", db=self.db, check_rc=1)
        self.assertIn("nosuch", err)

    def test_3b_report_interval_from_config(self):
        # CONFIG names the clusters with an interval of 100 ms: the real
        # gaps of about 300 ms are then over three intervals.
        conf = os.path.join(h.workdir(), "fast.conf")
        h.write_config(conf, {"sslhistd": {"interval": "100ms", "database": self.db},
                              "cluster alpha": h.cluster_for(self.a, host="localhost"),
                              "cluster beta": h.cluster_for(self.b)})
        rc, out, err = sslhist("-c", conf, "report", "--cluster", "alpha", "--format", "json",
                               check_rc=0)
        rep = json.loads(decode_strict(out))
        a = rep["clusters"][0]
        self.assertEqual((a["name"], a["interval_source"], a["interval_s"]),
                         ("alpha", "config", 0.1))
        gaps = [f for f in a["findings"] if "over 3 intervals of 0.1 s" in f["text"]]
        self.assertEqual([f["severity"] for f in gaps], ["warning"], a["findings"])

    def a_issuer(self):
        return self.store("SELECT cert_issuer FROM instance WHERE cluster = 'alpha'")[0][
            "cert_issuer"]

    def test_4_alerts(self):
        # The non-SSL hook fires for each non-SSL client; wait until every
        # alert has finished, then compare with the store.
        def settled():
            rows = self.store("SELECT state FROM alert")
            return rows and all(r["state"] in ("ok", "failed") for r in rows) and rows
        self.d.wait(settled, 20, "non-SSL alerts run")
        rc, out, _ = sslhist("alerts", "--format", "json", db=self.db, check_rc=0)
        alerts = json.loads(decode_strict(out))
        attempts = self.store("SELECT t.*, a.event FROM alert_attempt t "
                              "JOIN alert a ON a.id = t.alert_id")
        self.assertEqual(len(alerts), len(attempts), alerts)
        self.assertTrue(alerts)
        for al in alerts:
            self.assertEqual(al["event"], "non-ssl")
            self.assertEqual(al["outcome"], "ok", al)
            self.assertEqual(al["exit_status"], 0)
            self.assertEqual(al["attempt"], 1)
            self.assertEqual(sorted(al), sorted([
                "event", "cluster", "instance", "database", "user", "application",
                "client_addr", "attempt", "started_at", "exit_status", "outcome"]))
        self.assertIn(BAD_ROLE.replace("\udcff", "\ufffd").replace("\udcfe", "\ufffd"),
                      {a["user"] for a in alerts})
        rc, out, _ = sslhist("alerts", "--format", "csv", db=self.db, check_rc=0)
        rows, header = parse_csv(out)
        self.assertEqual(len(rows), len(alerts))
        self.assertIn(BAD_ROLE, {r["user"] for r in rows})
        rc, out, _ = sslhist("alerts", db=self.db, check_rc=0)
        self.check_aligned(self.check_table(out, "alerts table"), "alerts table")
        rc, out, _ = sslhist("alerts", "--since", "2999-01-01", "--format", "json",
                             db=self.db, check_rc=0)
        self.assertEqual(json.loads(out), [])

    def test_5_group_reader_while_running(self):
        self.set_group()
        for fmt in ("table", "json"):
            rc, out, err = sslhist("report", "--format", fmt, db=self.db, user=READER)
            self.assertIn(rc, (0,), err)
        rc, out, err = sslhist("clients", "--format", "json", db=self.db, user=READER,
                               check_rc=0)
        self.assertEqual(len(json.loads(out)), len(self.stored_clients()))
        # The reader cannot write: prune fails and says so.
        rc, out, err = sslhist("prune", "--older-than", "1d", db=self.db, user=READER,
                               check_rc=1)
        self.assertIn(self.db, err)

    def test_6_prune_while_running(self):
        n = len(self.stored_clients())
        rc, out, err = sslhist("prune", "--older-than", "1d", db=self.db, check_rc=0)
        self.assertIn(b"pruned 0 clients", out)
        self.assertEqual(len(self.stored_clients()), n)
        self.d.assert_alive()

    def test_7_after_stop(self):
        self.d.stop()
        self.set_group()
        before = self.clients_json()
        for user in (None, READER):
            rc, out, err = sslhist("clients", "--format", "json", db=self.db, user=user,
                                   check_rc=0)
            self.assertEqual(json.loads(out), before)
        # Without -wal and -shm (as after a copy, or a daemon that removed
        # them), the group reader, who cannot create them, still reads.
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.unlink(self.db + suffix)
        for user in (READER, None):
            for cmd in (["clients", "--format", "json"], ["report", "--format", "json"],
                        ["instances", "--format", "json"], ["alerts", "--format", "json"]):
                rc, out, err = sslhist(*cmd, db=self.db, user=user, check_rc=0)
                json.loads(decode_strict(out))
            rc, out, err = sslhist("clients", "--format", "json", db=self.db, user=user,
                                   check_rc=0)
            self.assertEqual(json.loads(out), before)
        rc, out, err = sslhist("report", "--fail-on-non-ssl", db=self.db, user=READER,
                               check_rc=3)
        self.check_table(out, "report as reader")

    def test_8_prune(self):
        copy = os.path.join(h.workdir(), "prune.db")
        shutil.copy(self.db, copy)
        con = sqlite3.connect(copy)
        total = con.execute("SELECT count(*) FROM client").fetchone()[0]
        alerts = con.execute("SELECT count(*) FROM alert").fetchone()[0]
        con.close()
        self.assertGreater(alerts, 0)
        rc, out, err = sslhist("prune", "--older-than", "1h", db=copy, check_rc=0)
        self.assertIn(b"pruned 0 clients", out)
        # A table that references client and that prune does not know:
        # prune refuses and changes nothing.
        con = sqlite3.connect(copy)
        con.execute("CREATE TABLE extra (client_id INTEGER REFERENCES client (id))")
        con.execute("INSERT INTO extra SELECT id FROM client LIMIT 1")
        con.commit()
        con.close()
        time.sleep(1.1)     # last_seen has a resolution of one second
        rc, out, err = sslhist("prune", "--older-than", "0s", db=copy, check_rc=1)
        self.assertIn("extra", err)
        self.assertIn("nothing deleted", err)
        con = sqlite3.connect(copy)
        self.assertEqual(con.execute("SELECT count(*) FROM client").fetchone()[0], total)
        con.execute("DROP TABLE extra")
        con.commit()
        con.close()
        rc, out, err = sslhist("prune", "--older-than", "0s", db=copy, check_rc=0)
        self.assertIn(("pruned %d clients" % total).encode(), out)
        con = sqlite3.connect(copy)
        for t in ("client", "live_session", "alert", "alert_attempt"):
            self.assertEqual(con.execute("SELECT count(*) FROM %s" % t).fetchone()[0], 0, t)
        self.assertGreater(con.execute("SELECT count(*) FROM instance").fetchone()[0], 0)
        con.close()

    def test_9_usage_and_errors(self):
        sslhist("--help", check_rc=0)
        for cmd in ("clients", "instances", "report", "alerts", "prune"):
            rc, out, _ = sslhist(cmd, "--help", check_rc=0)
            self.assertIn(b"usage: sslhist " + cmd.encode(), out)
        for args in (["nosuch"], [], ["clients", "--bogus"], ["clients", "--format", "xml"],
                     ["report", "--format", "csv"], ["clients", "--since", "yesterday"],
                     ["prune"], ["prune", "--older-than", "soon"],
                     ["clients", "--ssl", "--non-ssl"], ["clients", "extra"]):
            rc, out, err = sslhist(*args, db=self.db)
            self.assertEqual(rc, 2, (args, err))
            self.assertIn("--help", err)
        missing = os.path.join(h.workdir(), "nothing", "history.db")
        rc, out, err = sslhist("clients", db=missing, check_rc=1)
        self.assertIn(missing, err)
        rc, out, err = sslhist("clients", check_rc=1, env={"SSLHIST_DB": missing})
        self.assertIn(missing, err)
        # CONFIG's `database` is used when neither --db nor $SSLHIST_DB is set.
        conf = os.path.join(h.workdir(), "cli.conf")
        h.write_config(conf, {"sslhistd": {"database": missing},
                              "cluster x": {"host": "127.0.0.1", "sslmode": "disable"}})
        rc, out, err = sslhist("-c", conf, "clients", check_rc=1)
        self.assertIn(missing, err)
        rc, out, err = sslhist("-c", conf, "--db", self.db, "clients", check_rc=0)


if __name__ == "__main__":
    h.main()
