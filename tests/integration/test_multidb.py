"""Several bastions in one report (`sslhist --db A --db B ...`) and
`sslhist snapshot`, over histories that real sslhistd daemons recorded.

Merged: servers A (TLS), B (TLS), C (ssl=off) with real psql sessions.
Daemon 1 polls clusters alpha (A) and beta (B), daemon 2 polls beta and
gamma (C): overlapping fleets, as two bastions see them. Daemon 3 polls all
three, as one bastion would. The merged history of 1 and 2 must name the
same clients with the same session counts as 3; beta's clients once each.

Snapshot: a daemon polls every 100 ms over a history made large beforehand
(bench/gen_history.py) while a writer keeps opening sessions, and the copy
taken meanwhile must pass PRAGMA integrity_check and hold every poll
committed before it began.
"""
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading

import harness as h

OUR_APPS = {"a-ssl", "a-plain", "b-ssl", "b-plain", "b-late", "c-plain"}
IDENTITY = ("cluster", "instance", "database", "user", "application", "client_addr",
            "ssl", "tls_version", "cipher", "bits", "client_dn", "issuer_dn")


def merged(*args, dbs):
    """sslhist with one --db per path in dbs."""
    argv = []
    for d in dbs:
        argv += ["--db", d]
    return h.sslhist(*(argv + list(args)))


def merged_json(dbs, *args):
    rc, out, err = merged(*(list(args) + ["--format", "json"]), dbs=dbs)
    if rc != 0:
        raise AssertionError("sslhist %s: exit %d: %s" % (args, rc, err))
    return json.loads(out.decode("utf-8"))


def ours(clients):
    """{identity: client} of the test's own sessions (the daemons' own and
    the harness's sessions are not the subject)."""
    out = {}
    for c in clients:
        if c["application"] in OUR_APPS:
            k = tuple(c[f] for f in IDENTITY)
            assert k not in out, "client listed twice: %r" % (c,)
            out[k] = c
    return out


class MergedHistories(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = h.CA("ca1")
        cls.a = h.PgServer(ssl=True, ca=cls.ca, name="a")
        cls.b = h.PgServer(ssl=True, ca=cls.ca, name="b")
        cls.c = h.PgServer(ssl=False, name="c")
        S = h.Session
        cls.sessions = [
            S(cls.a, "app1", "appdb", "require", "a-ssl"),
            S(cls.a, "app2", "appdb", "disable", "a-plain"),
            S(cls.b, "app1", "appdb", "require", "b-ssl"),
            # one client, two sessions
            S(cls.b, "app2", "appdb", "disable", "b-plain"),
            S(cls.b, "app2", "appdb", "disable", "b-plain"),
            S(cls.c, "app1", "appdb", "disable", "c-plain"),
        ]
        h.wait_all_visible(cls.sessions)
        base = {"interval": "200ms", "connect_timeout": "5s", "query_timeout": "5s",
                "max_backoff": "1s"}
        alpha, beta, gamma = (h.cluster_for(cls.a), h.cluster_for(cls.b),
                              h.cluster_for(cls.c))
        cls.d1 = h.Daemon({"sslhistd": base, "cluster alpha": alpha, "cluster beta": beta},
                          name="bastion1")
        cls.d2 = h.Daemon({"sslhistd": base, "cluster beta": beta, "cluster gamma": gamma},
                          name="bastion2")
        cls.d3 = h.Daemon({"sslhistd": base, "cluster alpha": alpha, "cluster beta": beta,
                           "cluster gamma": gamma}, name="everything")
        cls.want = {"bastion1": {"a-ssl": 1, "a-plain": 1, "b-ssl": 1, "b-plain": 2},
                    "bastion2": {"b-ssl": 1, "b-plain": 2, "c-plain": 1}}
        cls.want["everything"] = dict(cls.want["bastion1"], **cls.want["bastion2"])
        daemons = (cls.d1, cls.d2, cls.d3)
        for d in daemons:
            d.start()
        for d in daemons:
            cls.wait_sessions(d, cls.want[d.name])
        # A session that begins while all three poll: each sees it once.
        cls.late = S(cls.b, "app3", "appdb", "require", "b-late")
        for d in daemons:
            cls.want[d.name] = dict(cls.want[d.name], **{"b-late": 1})
            cls.wait_sessions(d, cls.want[d.name])
        for d in daemons:
            d.stop()

    @staticmethod
    def wait_sessions(d, want):
        def seen():
            got = {}
            for c in d.clients():
                if c["application"] in OUR_APPS:
                    got[c["application"]] = got.get(c["application"], 0) + c["sessions"]
            return got == want
        d.wait(seen, 20, "%s records %r" % (d.name, want))

    def dbs(self):
        return [self.d1.db, self.d2.db]

    def test_clients_equal_one_daemon(self):
        m = ours(merged_json(self.dbs(), "clients"))
        one = ours(h.sslhist_json(self.d3.db, "clients"))
        self.assertEqual(sorted(m), sorted(one))
        for k in one:
            self.assertEqual(m[k]["sessions"], one[k]["sessions"], k)
        beta = [c for c in m.values() if c["cluster"] == "beta"]
        self.assertEqual(sorted(c["application"] for c in beta),
                         ["b-late", "b-plain", "b-ssl"])

    def test_merge_rules_for_a_client_seen_twice(self):
        m = ours(merged_json(self.dbs(), "clients"))
        c1 = ours(h.sslhist_json(self.d1.db, "clients"))
        c2 = ours(h.sslhist_json(self.d2.db, "clients"))
        for k, c in m.items():
            if c["cluster"] != "beta":
                self.assertEqual(c, (c1.get(k) or c2.get(k)), k)
                continue
            x, y = c1[k], c2[k]
            self.assertEqual(c["samples"], x["samples"] + y["samples"], k)
            self.assertEqual(c["sessions"], max(x["sessions"], y["sessions"]), k)
            self.assertEqual(c["first_seen"], min(x["first_seen"], y["first_seen"]), k)
            self.assertEqual(c["last_seen"], max(x["last_seen"], y["last_seen"]), k)

    def test_report_equal_one_daemon(self):
        m = {c["name"]: c for c in merged_json(self.dbs(), "report")["clusters"]}
        one = {c["name"]: c for c in h.sslhist_json(self.d3.db, "report")["clusters"]}
        self.assertEqual(sorted(m), ["alpha", "beta", "gamma"])
        for name in one:
            for f in ("instances", "clients", "ssl_clients", "non_ssl_clients",
                      "tls_versions", "server_cas", "force_ssl"):
                self.assertEqual(m[name][f], one[name][f], "%s %s" % (name, f))
        # The non-SSL clients of every cluster are named, each once.
        rc, out, _ = merged("report", dbs=self.dbs())
        text = out.decode()
        self.assertEqual(rc, 0)
        for app in ("a-plain", "b-plain", "c-plain"):
            self.assertEqual(text.count('application "%s"' % app), 1, text)
        rc, _, _ = merged("report", "--fail-on-non-ssl", dbs=self.dbs())
        self.assertEqual(rc, 3)

    def test_instances_polls_summed_and_sources(self):
        m = {i["cluster"]: i for i in merged_json(self.dbs(), "instances")}
        i1 = {i["cluster"]: i for i in h.sslhist_json(self.d1.db, "instances")}
        i2 = {i["cluster"]: i for i in h.sslhist_json(self.d2.db, "instances")}
        self.assertEqual(sorted(m), ["alpha", "beta", "gamma"])
        self.assertEqual(m["beta"]["sources"], self.dbs())
        self.assertEqual(m["alpha"]["sources"], [self.d1.db])
        self.assertEqual(m["gamma"]["sources"], [self.d2.db])
        self.assertNotIn("sources", i1["alpha"])
        self.assertEqual(m["beta"]["coverage"]["polls"],
                         i1["beta"]["coverage"]["polls"] + i2["beta"]["coverage"]["polls"])
        self.assertEqual(m["beta"]["state"], "ok")
        self.assertEqual(m["beta"]["server_cert"], i1["beta"]["server_cert"])
        self.assertLessEqual(m["beta"]["coverage"]["largest_gap_s"],
                             max(i1["beta"]["coverage"]["largest_gap_s"],
                                 i2["beta"]["coverage"]["largest_gap_s"]))
        self.assertEqual(m["alpha"]["coverage"], i1["alpha"]["coverage"])

    def test_filters_and_formats_over_merged(self):
        rows = merged_json(self.dbs(), "clients", "--cluster", "beta", "--non-ssl")
        self.assertEqual([c["application"] for c in rows if c["application"] in OUR_APPS],
                         ["b-plain"])
        for cmd, fmt in h.SSLHIST_OUTPUTS:
            rc, out, err = merged(cmd, "--format", fmt, dbs=self.dbs())
            self.assertEqual(rc, 0, "%s %s: %s" % (cmd, fmt, err))
        self.assertEqual(merged_json(self.dbs(), "alerts"), [])

    def test_bad_files_named(self):
        d = h.subdir("badfiles")
        text = os.path.join(d, "notes.db")
        with open(text, "w") as f:
            f.write("not a database\n" * 100)
        old = os.path.join(d, "old.db")
        new = os.path.join(d, "new.db")
        for path, version in ((old, 3), (new, 99)):
            con = sqlite3.connect(path)
            con.execute("CREATE TABLE t (x)")
            con.execute("PRAGMA user_version = %d" % version)
            con.commit()
            con.close()
        missing = os.path.join(d, "missing.db")
        for bad, why in ((missing, "does not exist"), (text, "not a database"),
                         (old, "schema version 3 is older"),
                         (new, "schema version 99 is newer")):
            for dbs in ([self.d1.db, bad], [bad, self.d1.db]):
                rc, out, err = merged("clients", dbs=dbs)
                self.assertEqual(rc, 1, err)
                self.assertIn(bad, err)
                self.assertIn(why, err)
                self.assertEqual(out, b"")
        rc, _, err = merged("clients", dbs=[self.d1.db, self.d2.db, self.d1.db])
        self.assertEqual(rc, 1)
        self.assertIn("given twice", err)

    def test_one_history_commands_refuse_several(self):
        for args in (["prune", "--older-than", "1d"], ["snapshot", "--to", "/tmp/x.db"]):
            rc, _, err = merged(*args, dbs=self.dbs())
            self.assertEqual(rc, 2, err)
            self.assertIn("one history", err)

    def test_attach_limit(self):
        d = h.subdir("many")
        paths = []
        for i in range(12):
            p = os.path.join(d, "h%02d.db" % i)
            with open(self.d1.db, "rb") as src, open(p, "wb") as dst:
                dst.write(src.read())
            paths.append(p)
        rc, _, err = merged("clients", dbs=paths[:11])
        self.assertEqual(rc, 0, err)
        rc, _, err = merged("clients", dbs=paths)
        self.assertEqual(rc, 1)
        self.assertIn("at most 11", err)
        _, out, _ = h.sslhist("--help")
        self.assertIn(b"at most 11", out)


class Snapshot(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = h.PgServer(ssl=False, name="snap")
        cls.held = [h.Session(cls.srv, "app1", "appdb", "disable", "held-%d" % i)
                    for i in range(20)]
        h.wait_all_visible(cls.held)
        cls.d = h.Daemon({"sslhistd": {"interval": "100ms", "jitter": "0%",
                                       "max_backoff": "1s"},
                          "cluster live": h.cluster_for(cls.srv)}, name="snap")
        # Large enough that the copy takes many steps of the backup.
        gen = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                           "bench", "gen_history.py")
        h.run([sys.executable, gen, cls.d.db, "--instances", "200", "--clients", "60000",
               "--hours", "48"], timeout=300)
        cls.d.start()
        cls.d.wait_ok("live", timeout=30)
        cls.stop = threading.Event()
        cls.writer = threading.Thread(target=cls.churn, daemon=True)
        cls.writer.start()

    @classmethod
    def churn(cls):
        n = 0
        while not cls.stop.is_set():
            n += 1
            h.burst(cls.srv, n=10, application_name="churn-%d" % n, hold_ms=150,
                    parallel=5)

    @classmethod
    def tearDownClass(cls):
        cls.stop.set()
        cls.writer.join(60)
        cls.d.stop()

    def polls_in(self, path):
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            return con.execute("SELECT sum(v.polls) FROM coverage v JOIN instance i"
                               " ON i.id = v.instance_id WHERE i.cluster = 'live'"
                               ).fetchone()[0] or 0, \
                con.execute("SELECT count(*) FROM client_data").fetchone()[0], \
                con.execute("PRAGMA integrity_check").fetchone()[0], \
                con.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            con.close()

    def test_snapshot_while_writing(self):
        d = h.subdir("snapout")
        out = os.path.join(d, "copy.db")
        # Wait until the churn shows: new clients are being written.
        base = self.d.query1("SELECT count(*) FROM client_data")
        self.d.wait(lambda: self.d.query1("SELECT count(*) FROM client_data") > base + 3,
                    30, "clients written by the churn")
        polls_before = self.d.query1("SELECT sum(v.polls) FROM coverage v JOIN instance i"
                                     " ON i.id = v.instance_id WHERE i.cluster = 'live'")
        clients_before = self.d.query1("SELECT count(*) FROM client_data")
        rc, _, err = h.sslhist("snapshot", "--to", out, db=self.d.db)
        self.assertEqual(rc, 0, err)
        self.d.assert_alive()
        polls, clients, check, mode = self.polls_in(out)
        self.assertEqual(check, "ok")
        self.assertEqual(mode, "delete")
        self.assertGreaterEqual(polls, polls_before)
        self.assertGreaterEqual(clients, clients_before)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o640)
        self.assertEqual(sorted(os.listdir(d)), ["copy.db"])
        # The daemon went on writing past the copy.
        self.d.wait(lambda: self.d.query1(
            "SELECT sum(v.polls) FROM coverage v JOIN instance i ON i.id = v.instance_id"
            " WHERE i.cluster = 'live'") > polls, 20, "polls after the snapshot")
        # The copy is a history like any other, also beside the live one.
        rc, _, err = h.sslhist("report", db=out)
        self.assertEqual(rc, 0, err)

    def test_refuses_to_overwrite_unless_forced(self):
        d = h.subdir("snapforce")
        out = os.path.join(d, "copy.db")
        with open(out, "wb") as f:
            f.write(b"precious\n")
        rc, _, err = h.sslhist("snapshot", "--to", out, db=self.d.db)
        self.assertEqual(rc, 1)
        self.assertIn(out, err)
        self.assertIn("exists", err)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"precious\n")
        ino = os.stat(out).st_ino
        rc, _, err = h.sslhist("snapshot", "--to", out, "--force", db=self.d.db)
        self.assertEqual(rc, 0, err)
        self.assertNotEqual(os.stat(out).st_ino, ino)     # renamed into place
        self.assertEqual(self.polls_in(out)[2], "ok")
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o640)
        self.assertEqual(sorted(os.listdir(d)), ["copy.db"])

    def test_signal_or_lock_leaves_nothing(self):
        # A history in rollback-journal mode (a snapshot is one) that another
        # process holds locked: the copy waits, its temporary file exists.
        d = h.subdir("snapsig")
        src = os.path.join(d, "src.db")
        h.sslhist("snapshot", "--to", src, db=self.d.db, check_rc=0)
        lock = sqlite3.connect(src, isolation_level=None, timeout=0)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            out_dir = h.subdir("snapsig-out")
            out = os.path.join(out_dir, "copy.db")
            p = subprocess.Popen([h.bin_path("sslhist"), "--db", src, "snapshot", "--to", out],
                                 stderr=subprocess.DEVNULL)
            h.wait_until(lambda: [f for f in os.listdir(out_dir)
                                  if f.startswith(".copy.db.tmp-")], 10, "the temporary file")
            p.send_signal(signal.SIGTERM)
            p.wait(10)
            self.assertEqual(p.returncode, -signal.SIGTERM)
            self.assertEqual(os.listdir(out_dir), [])
            # Locked past the busy timeout: an error naming the history.
            rc, _, err = h.sslhist("snapshot", "--to", out, db=src)
            self.assertEqual(rc, 1)
            self.assertIn(src, err)
            self.assertIn("locked", err)
            self.assertEqual(os.listdir(out_dir), [])
        finally:
            lock.execute("ROLLBACK")
            lock.close()

    def test_bad_targets_and_sources(self):
        d = h.subdir("snapbad")
        rc, _, err = h.sslhist("snapshot", db=self.d.db)
        self.assertEqual(rc, 2, err)
        rc, _, err = h.sslhist("snapshot", "--to", d, "--force", db=self.d.db)
        self.assertEqual(rc, 1)
        self.assertIn(d, err)
        nodir = os.path.join(d, "no", "such", "dir", "x.db")
        rc, _, err = h.sslhist("snapshot", "--to", nodir, db=self.d.db)
        self.assertEqual(rc, 1)
        self.assertIn(nodir, err)
        missing = os.path.join(d, "missing.db")
        rc, _, err = h.sslhist("snapshot", "--to", os.path.join(d, "x.db"), db=missing)
        self.assertEqual(rc, 1)
        self.assertIn(missing, err)
        self.assertEqual(os.listdir(d), [])
        rc, _, err = h.sslhist("snapshot", "--to", self.d.db, "--force", db=self.d.db)
        self.assertEqual(rc, 1)
        self.assertIn("history itself", err)
        self.d.assert_alive()


if __name__ == "__main__":
    h.main()
