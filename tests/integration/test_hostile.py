"""Hostile servers and odd input: the daemon keeps polling everything else,
records a clear error, never crashes and never stores what the server did
not say.

One daemon polls, all at once:
  good      a healthy TLS server (every other case must leave it alone)
  direct    a real server: 63-byte names, an application_name changed
            mid-session
  nulls     through pgwire.RowProxy, each column NULL in turn, and a row of
            NULL only
  allnull   through RowProxy, every column of every row NULL
  many      through RowProxy, one session multiplied into 10,000 sessions
  garbage   a listener that answers with bytes that are no protocol
  garbage-tls  the same, under sslmode=require
  endless   a listener that answers the startup with a never-ending message
  endless-row  through RowProxy, a poll row that never ends
(Hostile role and database names, invalid UTF-8 from a SQL_ASCII database
and control bytes are covered, in every output format, by test_cli.py.)

Results are read through `sslhist ... --format json`, as an operator would.
"""
import os
import time

import harness as h
import pgwire

MANY = 10000
BASE = {"interval": "500ms", "jitter": "0%", "connect_timeout": "2s",
        "query_timeout": "2s", "max_backoff": "1s"}
DB63 = "x" + "\u00e9" * 31                  # 63 bytes of UTF-8
APP_LONG = "A" * 80                         # the server keeps 63 bytes
APP_KEPT = "A" * 63
ROLE63 = "R" * 63


class Hostile(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.good = h.PgServer(ssl=True, name="good")
        # TLS for the observed sessions; the daemon reaches it in clear
        # through the proxies (the harness's pg_hba allows both).
        cls.plain = h.PgServer(ssl=True, name="real")
        cls.plain.sql('CREATE DATABASE "%s"' % DB63)
        cls.plain.sql('CREATE ROLE "%s" LOGIN' % ROLE63)
        cls.nulls = pgwire.NullEach("hostile-null")
        cls.many = pgwire.Multiply("hostile-many", MANY)
        cls.endless = pgwire.Endless(rate=4 << 20)
        proxy = lambda m: pgwire.RowProxy(cls.plain.port, m)
        cls.p_nulls, cls.p_allnull = proxy(cls.nulls), proxy(pgwire.null_everything)
        cls.p_many, cls.p_endless = proxy(cls.many), proxy(cls.endless)
        cls.garbage, cls.garbage_tls = pgwire.GarbageServer(), pgwire.GarbageServer()
        cls.endless_srv = pgwire.EndlessServer(rate=4 << 20)
        cls.sessions = {a: h.Session(cls.plain, "app1", "appdb", "require", a) for a in (
            "hostile-null", "hostile-many", "hostile-before")}
        h.wait_all_visible(cls.sessions.values())
        cls.long = h.Session(cls.plain, ROLE63, DB63, "disable", APP_LONG)
        h.wait_until(lambda: APP_KEPT in {r["application_name"] for r in cls.plain.activity()},
                     15, "the long application name, cut to 63 bytes, visible")
        cls.gsess = h.Session(cls.good, "app2", "appdb", "require", "good-client")
        cls.gsess.wait_visible()
        not_pg = lambda srv, mode: {"host": "127.0.0.1", "port": srv.port, "user": "monitor",
                                    "dbname": "postgres", "sslmode": mode}
        cfg = {"sslhistd": dict(BASE),
               "cluster good": h.cluster_for(cls.good),
               "cluster direct": h.cluster_for(cls.plain, sslmode="disable"),
               "cluster nulls": cls.p_nulls.cluster(),
               "cluster allnull": cls.p_allnull.cluster(),
               "cluster many": cls.p_many.cluster(),
               "cluster endless-row": cls.p_endless.cluster(),
               "cluster garbage": not_pg(cls.garbage, "disable"),
               "cluster garbage-tls": not_pg(cls.garbage_tls, "require"),
               "cluster endless": not_pg(cls.endless_srv, "disable")}
        cls.d = h.Daemon(cfg, name="hostile").start(env=h.measured_memory_env())
        cls.d.wait_ok("good", timeout=20)
        cls.d.wait_ok("direct", timeout=20)

    @classmethod
    def tearDownClass(cls):
        if cls.d.alive():
            rc, _ = cls.d.stop()
            assert rc == 0, cls.d.log_text()

    # -- helpers

    def clients(self, cluster):
        return [c for c in h.sslhist_json(self.d.db, "clients", "--cluster", cluster)]

    def instance(self, cluster):
        rows = h.sslhist_json(self.d.db, "instances", "--cluster", cluster)
        self.assertEqual(len(rows), 1, rows)
        return rows[0]

    def wait_client(self, cluster, pred, what, timeout=20):
        return self.d.wait(lambda: [c for c in self.clients(cluster) if pred(c)], timeout, what)

    def original(self, cluster, app):
        return self.wait_client(cluster, lambda c: c["application"] == app,
                                "client %s of %s" % (app, cluster))[0]

    def assert_good_polled(self):
        """`good` is polled at its interval whatever the others do."""
        n = self.d.ok_polls("good")
        self.d.wait_polls("good", 3, timeout=3 * 0.5 + 3)
        self.assertEqual(self.d.polls("good")[1], 0, self.d.dump("coverage"))
        self.assertGreater(self.d.ok_polls("good"), n)

    # -- rows the proxy rewrote

    IDENTITY = ("database", "user", "application", "client_addr", "ssl", "tls_version",
                "cipher", "bits", "client_dn", "issuer_dn")

    def test_null_in_each_column(self):
        orig = self.original("nulls", "hostile-null")
        self.d.wait(lambda: self.nulls.copies, 10, "the proxy rewrote a poll")
        self.d.wait_polls("nulls", 2)
        got = {c["application"]: c for c in self.clients("nulls")}
        h.log("proxy made %d copies; clients of nulls: %s"
              % (len(self.nulls.copies), sorted(a for a in got if a)))
        for app, colname in self.nulls.copies:
            if app is None:
                continue        # application_name itself or every column NULL
            c = got.get(app)
            if c is None:
                continue        # skipped: fine, nothing stored
            # Stored: what the server sent, that column NULL, nothing else.
            self.assertNotEqual(colname, "pid", "a row without pid was stored: %r" % c)
            for k in self.IDENTITY:
                if k == "application":
                    continue
                if c[k] != orig[k]:
                    self.assertIsNone(c[k], "column %s NULL changed %s from %r to %r"
                                      % (colname, k, orig[k], c[k]))
            self.assertEqual(c["sessions"], 1, c)
        # A row of NULL only (and one whose application_name is NULL) is no
        # client that looks like the original, and no client of nothing.
        for c in got.values():
            self.assertFalse(all(c[k] is None for k in ("database", "user", "application",
                                                        "client_addr")), c)
        self.assertEqual(got["hostile-null"]["sessions"], 1, got["hostile-null"])
        self.assertEqual(self.d.polls("nulls")[1], 0, self.d.dump("instance"))
        self.assert_good_polled()

    def test_null_everything(self):
        self.d.wait(lambda: self.p_allnull.polls >= 3, 10, "three polls through the proxy")
        self.assertEqual(self.clients("allnull"), [])
        inst = self.instance("allnull")
        h.log("allnull: state %s, last_error %r" % (inst["state"], inst["last_error"]))
        self.d.assert_alive()
        self.assert_good_polled()

    def test_ten_thousand_sessions(self):
        c = self.wait_client("many", lambda c: c["application"] == "hostile-many" and
                             c["sessions"] == MANY, "%d sessions of one client" % MANY)[0]
        self.assertGreaterEqual(c["samples"], MANY)
        # Counted from here: a first poll that fell behind while a loaded CI
        # machine started nine servers and proxies (seen once: a query_timeout
        # 5 s after start) is not what this test is about; every poll of the
        # 10,000 sessions from now on must succeed.
        f0 = self.d.polls("many")[1]
        if f0:
            h.log("many: %d failed poll(s) before the steady state: %s"
                  % (f0, self.instance("many")["last_error"]))
        t0 = self.d.ok_polls("many")
        self.d.wait_polls("many", 2)
        c = self.original("many", "hostile-many")
        self.assertEqual(c["sessions"], MANY, "the same sessions counted again")
        self.assertGreaterEqual(c["samples"], MANY * (self.d.ok_polls("many") - t0 + 1) - MANY)
        rep = [r for r in h.sslhist_json(self.d.db, "report")["clusters"]
               if r["name"] == "many"][0]
        self.assertGreaterEqual(rep["coverage"]["sessions"], MANY, rep["coverage"])
        self.assertEqual(self.d.polls("many")[1], f0, self.d.dump("instance"))
        self.assert_good_polled()

    # -- a real server with odd but legal input

    def test_63_byte_names(self):
        c = self.original("direct", APP_KEPT)
        self.assertEqual(len(c["database"].encode()), 63)
        self.assertEqual(c["database"], DB63)
        self.assertEqual(c["user"], ROLE63)
        self.assertEqual(len(c["application"].encode()), 63)

    def test_application_name_changes_mid_session(self):
        s = self.sessions["hostile-before"]
        before = self.original("direct", "hostile-before")
        sessions0 = self.report_sessions("direct")
        s.send("SET application_name = 'hostile-after';")
        after = self.original("direct", "hostile-after")
        self.d.wait_polls("direct", 2)
        before = self.original("direct", "hostile-before")
        after = self.original("direct", "hostile-after")
        h.log("before: %s; after: %s" % (before, after))
        self.assertEqual(before["sessions"], 1, before)
        self.assertEqual(after["sessions"], 1, "the session seen under its new name: %r" % after)
        for k in ("database", "user", "client_addr", "ssl"):
            self.assertEqual(before[k], after[k], k)
        # Still one session of the instance, not two.
        self.assertEqual(self.report_sessions("direct"), sessions0)
        # The old client has let go of the session: its samples and
        # last_seen stand still while the new one's grow.
        self.d.wait_polls("direct", 2)
        before2 = self.original("direct", "hostile-before")
        after2 = self.original("direct", "hostile-after")
        self.assertEqual((before2["samples"], before2["last_seen"]),
                         (before["samples"], before["last_seen"]), (before, before2))
        self.assertGreater(after2["samples"], after["samples"], (after, after2))

    def report_sessions(self, cluster):
        return [r for r in h.sslhist_json(self.d.db, "report")["clusters"]
                if r["name"] == cluster][0]["coverage"]["sessions"]

    # -- not PostgreSQL

    def assert_clean_error(self, cluster, regex):
        inst = self.d.wait(lambda: (lambda i: i if i["last_error"] else None)(
            self.instance(cluster)), 15, "an error recorded for %s" % cluster)
        self.assertEqual(inst["state"], "failing", inst)
        self.assertMatches(regex, inst["last_error"], "error of %s" % cluster)
        self.assertIsNone(inst["last_success"], inst)
        _rc, out, _err = h.sslhist("instances", "--cluster", cluster, db=self.d.db,
                                   check_rc=0)
        text = out.decode("utf-8")
        for ch in text:
            self.assertFalse(ch != "\n" and (ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f),
                             "raw control character %r in: %s" % (ch, text))
        return inst

    def test_garbage_listener(self):
        for cluster in ("garbage", "garbage-tls"):
            inst = self.assert_clean_error(
                cluster, r"invalid|expected|unexpected|not support|received")
            h.log("%s: %s" % (cluster, inst["last_error"]))
        self.d.wait(lambda: self.instance("garbage")["consecutive_failures"] >= 2, 10,
                    "garbage retried")
        self.assertGreaterEqual(self.garbage.accepted, 2)
        self.assertNoMatch("\x1b", self.d.log_text(), "a raw ESC in the daemon's log")
        self.assert_good_polled()

    def test_endless_message_at_startup(self):
        inst = self.assert_clean_error("endless", r"time.?out.*connect_timeout")
        h.log("endless: %s" % inst["last_error"])
        self.d.wait(lambda: self.endless_srv.accepted >= 2, 10, "endless retried")
        self.assert_good_polled()

    def test_endless_row(self):
        self.d.wait(lambda: self.endless.started.is_set(), 15, "the endless row began")
        rss0 = h.rss_kib(self.d.proc.pid)
        peak = rss0
        # query_timeout (2 s) ends it; the daemon reconnects and it starts over.
        conns = self.p_endless.connections
        t0 = time.monotonic()
        while self.p_endless.connections < conns + 2:
            self.d.assert_alive()
            peak = max(peak, h.rss_kib(self.d.proc.pid))
            self.assertLess(time.monotonic() - t0, 15, "no reconnect after the endless row")
            time.sleep(0.05)    # sampling RSS while the row streams
        inst = self.instance("endless-row")
        h.log("endless-row: RSS %d KiB -> peak %d KiB; %s"
              % (rss0, peak, inst["last_error"]))
        self.assertMatches(r"time.?out|timed out", inst["last_error"])
        # libpq reserves a message's declared length (256 MiB here) and
        # buffers what arrives; what bounds the memory is query_timeout
        # times the rate (2 s x 4 MiB/s). Under ASan the allocator's own
        # memory for the huge buffer varies from run to run (21-70 MB seen):
        # the bound holds for the real build only.
        if not h.asan_process(self.d.proc.pid):
            self.assertLess(peak - rss0, 64 << 10, "RSS grew by %d KiB" % (peak - rss0))
        self.assert_good_polled()


if __name__ == "__main__":
    h.main()
