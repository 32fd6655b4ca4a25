"""`instances = discover`: the daemon asks aurora_replica_status() on the
cluster endpoint and polls every live instance at its own endpoint.

Aurora is played by real PostgreSQL servers on 127.0.0.2 (the writer) and
127.0.0.3 (a reader), same port, with an SQL function named
aurora_replica_status() on the writer that returns what Aurora's does. The
Aurora host names resolve through a private /etc/hosts (names.py), and the
servers' certificates carry those names, so verify-full checks them.
"""
import re

import names
import harness as h
import sdsock

DOMAIN = "abc123.test-1.rds.amazonaws.com"
ENDPOINT = "app.cluster-" + DOMAIN
READER_ENDPOINT = "app.cluster-ro-" + DOMAIN
WRITER = "inst-w." + DOMAIN
READER = "inst-r." + DOMAIN
READER2 = "inst-r2." + DOMAIN       # a reader added later, on the reader's server

FUNC = """
CREATE TABLE replicas (server_id text, session_id text, last_update_timestamp timestamptz);
GRANT SELECT ON replicas TO PUBLIC;
CREATE FUNCTION aurora_replica_status()
RETURNS TABLE (server_id text, session_id text, last_update_timestamp timestamptz)
LANGUAGE sql AS $$ SELECT * FROM replicas $$;
INSERT INTO replicas VALUES
  ('inst-w', 'MASTER_SESSION_ID', now() - interval '1 hour'),
  ('inst-r', '7d3c0d2e-0000-4000-8000-000000000001', now()),
  ('inst-gone', '7d3c0d2e-0000-4000-8000-000000000002', now() - interval '10 minutes');
"""


class Discover(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = h.CA("aurora")
        port = h.free_port()
        cls.w = h.PgServer(ssl=True, ca=cls.ca, port=port, listen="127.0.0.2",
                           name="writer", cert_dns=[WRITER, ENDPOINT, READER_ENDPOINT])
        cls.r = h.PgServer(ssl=True, ca=cls.ca, port=port, listen="127.0.0.3",
                           name="reader", cert_dns=[READER, READER2])
        cls.w.host, cls.r.host = "127.0.0.2", "127.0.0.3"
        cls.w.sql(FUNC)
        cls.plain = h.PgServer(ssl=True, ca=cls.ca, name="plain")
        cls.sessions = [h.Session(cls.w, "app1", "appdb", "require", "on-writer"),
                        h.Session(cls.r, "app2", "appdb", "disable", "on-reader"),
                        h.Session(cls.plain, "app3", "appdb", "require", "on-plain")]
        h.wait_all_visible(cls.sessions)
        cls.hosts = {ENDPOINT: "127.0.0.2", READER_ENDPOINT: "127.0.0.3",
                     WRITER: "127.0.0.2", READER: "127.0.0.3", READER2: "127.0.0.3"}

    def setUp(self):
        # Every test starts from the writer, a live reader and a stale row.
        self.w.sql("ALTER TABLE IF EXISTS replicas_x RENAME TO replicas")
        self.w.sql("DELETE FROM replicas")
        self.w.sql("INSERT INTO replicas VALUES "
                   "('inst-w', 'MASTER_SESSION_ID', now() - interval '1 hour'), "
                   "('inst-r', '7d3c0d2e-0000-4000-8000-000000000001', now()), "
                   "('inst-gone', '7d3c0d2e-0000-4000-8000-000000000002', "
                   "now() - interval '10 minutes')")

    def config(self, endpoint=ENDPOINT, **sslhistd):
        kv = {"host": endpoint, "port": self.w.port, "user": "monitor", "dbname": "postgres",
              "sslmode": "verify-full", "sslrootcert": self.ca.cert,
              "instances": "discover", "discover_interval": "1s"}
        plain = h.cluster_for(self.plain)
        plain["instances"] = "discover"
        cfg = {"sslhistd": dict({"interval": "300ms"}, **sslhistd),
               "cluster aurora": kv, "cluster plain": plain}
        return cfg

    def test_once_polls_each_live_instance(self):
        d = names.NamedDaemon(self.config(), hosts=self.hosts)
        r = d.run_once()
        self.assertEqual(r.returncode, 0, r.stderr)
        inst = d.instances()
        got = {(c, host): row["role"] for (c, host, _p), row in inst.items()}
        self.assertEqual(got, {("aurora", WRITER): "writer", ("aurora", READER): "reader",
                               ("plain", "127.0.0.1"): None},
                         "instances: the endpoint is not one; the stale one is skipped")
        by_app = {c["application"]: c for c in d.clients()}
        self.assertEqual(by_app["on-writer"]["host"], WRITER)
        self.assertEqual(by_app["on-reader"]["host"], READER)
        self.assertEqual(by_app["on-reader"]["ssl"], 0)
        self.assertEqual(by_app["on-plain"]["cluster"], "plain")
        # verify-full checked the instance names against the certificates.
        for (c, host, _p), row in inst.items():
            self.assertIsNotNone(row["cert_issuer"], host)
        # Nothing was asked of DNS but through the stub, and only names that
        # are not in the hosts file (none here).
        self.assertEqual(d.dns.queries, [])

    def test_reader_endpoint_finds_the_same_instances(self):
        # On Aurora every instance answers aurora_replica_status(); here only
        # the writer has it, so the reader endpoint resolves to the writer.
        d = names.NamedDaemon(self.config(endpoint=READER_ENDPOINT),
                              hosts=dict(self.hosts, **{READER_ENDPOINT: "127.0.0.2"}))
        r = d.run_once()
        self.assertEqual(r.returncode, 0, r.stderr)
        hosts = sorted(host for (c, host, _p) in d.instances() if c == "aurora")
        self.assertEqual(hosts, sorted([WRITER, READER]))

    def test_instances_added_and_removed_between_discoveries(self):
        d = names.NamedDaemon(self.config(), hosts=self.hosts).start()
        self.addCleanup(lambda: d.alive() and d.stop())
        inst = lambda: {k[1]: r for k, r in d.instances().items() if k[0] == "aurora"}
        d.wait(lambda: set(inst()) == {WRITER, READER}, 15, "writer and reader")
        d.wait(lambda: any(c["application"] == "on-reader" and c["host"] == READER
                           for c in d.clients()), 10, "the reader's client recorded")
        # One discovery later: inst-r gone, inst-r2 new, and a NULL
        # last_update_timestamp (Aurora 13.9+ for the instance connected to)
        # is live, not stale.
        self.w.sql("UPDATE replicas SET server_id = 'inst-r2', last_update_timestamp = NULL "
                   "WHERE server_id = 'inst-r'")
        d.wait(lambda: READER2 in inst() and inst()[READER]["retired_at"], 15,
               "inst-r2 added and inst-r retired by the same discovery")
        self.assertEqual(inst()[READER2]["role"], "reader")
        self.assertIsNone(inst()[WRITER]["retired_at"])
        self.assertNotIn("inst-gone." + DOMAIN, inst(), "a stale row was polled")
        d.wait(lambda: inst()[READER2]["last_success"], 10, "inst-r2 polled")
        # Its history stays.
        self.assertTrue(any(c["application"] == "on-reader" and c["host"] == READER
                            for c in d.clients()), "the retired reader's clients are gone")
        # A reader that stops updating goes stale and is dropped too.
        self.w.sql("UPDATE replicas SET last_update_timestamp = now() - interval '6 minutes' "
                   "WHERE server_id = 'inst-r2'")
        d.wait(lambda: inst()[READER2]["retired_at"], 15, "the stale inst-r2 retired")
        self.w.sql("UPDATE replicas SET server_id = 'inst-r', last_update_timestamp = now() "
                   "WHERE server_id = 'inst-r2'")
        d.wait(lambda: inst()[READER]["retired_at"] is None, 15, "inst-r back")
        self.assertIsNone(inst()[WRITER]["retired_at"])

    def test_check_says_how_instances_are_found(self):
        r = names.NamedDaemon(self.config(), hosts=self.hosts).check()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("instances: discover via %s:%d every 1s: each live instance that "
                      "aurora_replica_status() names, polled at SERVER_ID.%s:%d"
                      % (ENDPOINT, self.w.port, DOMAIN, self.w.port), r.stdout)

    def test_discovery_failure_keeps_instances(self):
        n = sdsock.NotifySocket()
        d = names.NamedDaemon(self.config(), hosts=self.hosts).start(env=n.env())
        self.addCleanup(lambda: d.alive() and d.stop())
        d.wait(lambda: len([k for k in d.instances() if k[0] == "aurora"]) == 2, 15,
               "two aurora instances")
        self.w.sql("ALTER TABLE replicas RENAME TO replicas_x")
        self.addCleanup(lambda: self.w.sql("ALTER TABLE IF EXISTS replicas_x RENAME TO replicas"))
        h.wait_until(lambda: "discovery failed" in d.log_text(), 10, "a failed discovery")
        polls = d.ok_polls("aurora")
        d.wait_polls("aurora", 4)
        self.assertGreater(d.ok_polls("aurora"), polls)
        self.assertTrue(all(r["retired_at"] is None for k, r in d.instances().items()
                            if k[0] == "aurora"))
        self.assertMatches(r"aurora/%s:%d: discovery failed: .*replicas.*; polling the "
                           r"instances found before" % (re.escape(ENDPOINT), self.w.port),
                           d.log_text())
        d.wait(lambda: any(l.startswith("STATUS=") and
                           l.endswith("; discovery failing for 1 cluster") for l in n.lines()),
               5, "STATUS= naming the failing discovery")
        # The error is stored: the report says the instance list may be stale.
        disc = d.wait(lambda: (lambda c: c if c and c["consecutive_failures"] >= 1 else None)(
            self.report_cluster(d, "aurora")["discovery"]), 10, "the failure stored")
        self.assertMatches(r"discovery failed: .*replicas", disc["last_error"])
        self.assertRegex(disc["last_success"], r"Z$")
        self.assertRegex(disc["last_error_at"], r"Z$")
        texts = [f["text"] for f in self.report_cluster(d, "aurora")["findings"]
                 if f["severity"] == "warning"]
        self.assertTrue(any(t.startswith("instance discovery failing (") and
                            "the 2 instances found before are still polled" in t
                            for t in texts), texts)
        self.assertIsNone(self.report_cluster(d, "plain")["discovery"]["last_error"])
        # Discovery works again: a change is seen.
        self.w.sql("ALTER TABLE replicas_x RENAME TO replicas")
        self.w.sql("DELETE FROM replicas WHERE server_id = 'inst-r'")
        d.wait(lambda: d.instances()[("aurora", READER, self.w.port)]["retired_at"], 15,
               "discovery recovered")
        d.wait(lambda: self.report_cluster(d, "aurora")["discovery"]["consecutive_failures"]
               == 0, 10, "the recovery stored")
        self.assertFalse(any(f["text"].startswith("instance discovery failing")
                             for f in self.report_cluster(d, "aurora")["findings"]))

    def report_cluster(self, d, name):
        return [c for c in h.sslhist_json(d.db, "report")["clusters"] if c["name"] == name][0]


if __name__ == "__main__":
    h.main()
