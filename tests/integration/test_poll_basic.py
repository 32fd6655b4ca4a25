"""sslhistd against three real PostgreSQL 15 servers: what one poll stores.

Servers: A (TLS, certificate from CA1), B (TLS, certificate from CA2),
C (ssl=off). Clusters: alpha -> A (by name `localhost`, verify-full with CA1),
beta -> B (verify-full with CA2), gamma -> C (sslmode=disable), all as
`monitor` (pg_monitor); blind -> C as `nomon` (not in pg_monitor).
"""
import os
import time

import harness as h

EXCLUDED_USERS = ("rdsadmin", "hiddenuser")


class PollBasic(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca1 = h.CA("ca1")
        cls.ca2 = h.CA("ca2")
        cls.a = h.PgServer(ssl=True, ca=cls.ca1, name="a")
        cls.b = h.PgServer(ssl=True, ca=cls.ca2, name="b")
        cls.c = h.PgServer(ssl=False, name="c")
        S = h.Session
        cls.expected = {       # cluster -> [(session, tls_version)]
            "alpha": [(S(cls.a, "app1", "appdb", "require", "a-ssl"), "TLSv1.3"),
                      (S(cls.a, "app2", "postgres", "disable", "a-plain"), None),
                      (S(cls.a, "app3", "appdb", "verify-full", "a-verified",
                         sslrootcert=cls.ca1.cert), "TLSv1.3")],
            "beta": [(S(cls.b, "app1", "appdb", "require", "b-ssl"), "TLSv1.3"),
                     (S(cls.b, "app3", "appdb", "disable", "b-plain"), None)],
            "gamma": [(S(cls.c, "app1", "appdb", "disable", "c-plain"), None),
                      (S(cls.c, "app2", "appdb", "disable", "c-plain2"), None)],
        }
        # Sessions that must never be recorded: excluded users and database.
        cls.hidden = [
            S(cls.a, "rdsadmin", "rdsadmin", "require", "a-rdsadmin"),
            S(cls.a, "rdsadmin", "appdb", "disable", "a-rdsadmin-appdb"),
            S(cls.a, "app1", "rdsadmin", "require", "a-app-in-rdsadmin-db"),
            S(cls.a, "hiddenuser", "appdb", "require", "a-hiddenuser"),
            S(cls.b, "rdsadmin", "rdsadmin", "require", "b-rdsadmin"),
            S(cls.c, "rdsadmin", "rdsadmin", "disable", "c-rdsadmin"),
        ]
        h.wait_all_visible([s for v in cls.expected.values() for s, _ in v] + cls.hidden)
        cls.cfg = {
            "sslhistd": {"interval": "500ms", "connect_timeout": "5s",
                         "query_timeout": "5s", "max_backoff": "1s",
                         "exclude_users": ", ".join(EXCLUDED_USERS)},
            "cluster alpha": h.cluster_for(cls.a, host="localhost"),
            "cluster beta": h.cluster_for(cls.b),
            "cluster gamma": h.cluster_for(cls.c),
            "cluster blind": h.cluster_for(cls.c, user="nomon"),
        }

    # -- helpers

    def assert_clients(self, d):
        for cluster, sessions in self.expected.items():
            for s, tls in sessions:
                row = self.assertClient(d, cluster, s, tls_version=tls)
                self.assertIn("127.0.0.1", row["client_addr"] or "", row)
                self.assertGreaterEqual(row["sessions"], 1, row)
                self.assertGreaterEqual(row["samples"], 1, row)
                self.assertLessEqual(row["first_seen"], row["last_seen"], row)
                self.assertLess(abs(row["last_seen"] - time.time()), 600, row)
                if s.ssl:
                    self.assertTrue(row["cipher"], row)
                    self.assertIsInstance(row["bits"], int, row)
                else:
                    self.assertIsNone(row["cipher"], row)
                    self.assertIsNone(row["bits"], row)

    def assert_nothing_hidden(self, d, also=()):
        everyone = d.clients()
        for c in everyone:
            self.assertNotIn(c["user"], EXCLUDED_USERS, "excluded user stored: %r" % c)
            self.assertNotEqual(c["database"], "rdsadmin", "excluded database stored: %r" % c)
            self.assertNotEqual(c["application"], "sslhistd", "own session stored: %r" % c)
        names = {s.application_name for v in self.expected.values() for s, _ in v}
        names.add(h.ADMIN_APP)
        names.update(also)
        for c in everyone:
            self.assertIn(c["application"], names, "unexpected client stored: %r" % c)
        # A role outside pg_read_all_stats sees no other session's details
        # (PostgreSQL hides backend_type and the pg_stat_ssl row): nothing
        # is recorded for it, and the instance says it is blind.
        self.assertEqual(d.clients("blind"), [])

    def assert_instances(self, d):
        inst = {r["cluster"]: r for r in d.query("SELECT * FROM instance")}
        self.assertEqual(set(inst), {"alpha", "beta", "gamma", "blind"}, inst)
        self.assertEqual((inst["alpha"]["host"], inst["alpha"]["port"]),
                         ("localhost", self.a.port))
        self.assertEqual((inst["beta"]["host"], inst["beta"]["port"]),
                         ("127.0.0.1", self.b.port))
        for name, r in inst.items():
            self.assertTrue(r["last_success"], r)
            self.assertEqual(r["consecutive_failures"], 0, r)
            self.assertTrue((r["server_version"] or "").startswith("15"), r)
            self.assertEqual((r["server_version_num"] or 0) // 10000, 15, r)
            self.assertIsNone(r["role"], r)
            self.assertIsNone(r["retired_at"], r)
        for name, srv, ca, other in (("alpha", self.a, self.ca1, self.ca2),
                                     ("beta", self.b, self.ca2, self.ca1)):
            r = inst[name]
            self.assertEqual(r["ssl_enabled"], 1, r)
            self.assertIn(ca.subject_cn, r["cert_issuer"] or "", r)
            self.assertNotIn(other.subject_cn, r["cert_issuer"] or "", r)
            self.assertIn("CN=localhost", (r["cert_subject"] or "").replace(" = ", "="), r)
            want = h.cert_field(srv.cert, "fingerprint").replace(":", "").upper()
            self.assertEqual((r["cert_sha256"] or "").replace(":", "").upper(), want, r)
            self.assertEqual(r["cert_not_before"], h.cert_time(srv.cert, "start"), r)
            self.assertEqual(r["cert_not_after"], h.cert_time(srv.cert, "end"), r)
        for name in ("gamma", "blind"):
            r = inst[name]
            self.assertEqual(r["ssl_enabled"], 0, r)
            self.assertIsNone(r["cert_issuer"], r)
            self.assertIsNone(r["cert_sha256"], r)
        for name in ("alpha", "beta", "gamma"):
            self.assertEqual(inst[name]["can_see_all_sessions"], 1, inst[name])
        self.assertEqual(inst["blind"]["can_see_all_sessions"], 0, inst["blind"])

    # -- tests

    def test_1_once_stores_clients_and_facts(self):
        d = h.Daemon(self.cfg)
        r = d.run_once()
        self.assertEqual(r.returncode, 0, "sslhistd --once: %s" % r.stderr)
        self.assert_instances(d)
        self.assert_clients(d)
        self.assert_nothing_hidden(d)
        p, f = d.polls("alpha")
        self.assertEqual((p, f), (1, 0), d.dump("coverage"))

    def test_2_once_exits_1_when_one_instance_fails(self):
        cfg = dict(self.cfg)
        dead_port = h.free_port()       # locked by us, nothing listens on it
        cfg["cluster dead"] = {"host": "127.0.0.1", "port": dead_port, "user": "monitor",
                               "dbname": "postgres", "sslmode": "disable"}
        d = h.Daemon(cfg)
        t0 = time.monotonic()
        r = d.run_once()
        self.assertEqual(r.returncode, 1, "sslhistd --once with a dead instance: %s"
                         % r.stderr)
        self.assertLess(time.monotonic() - t0, 10)
        dead = d.instance("dead")
        self.assertIsNotNone(dead, d.dump("instance"))
        self.assertGreaterEqual(dead["consecutive_failures"], 1, dead)
        self.assertIsNone(dead["last_success"], dead)
        self.assertTrue(dead["last_error"], dead)
        # The others were polled and stored all the same.
        self.assert_clients(d)
        self.assertTrue(d.instance("alpha")["last_success"])

    def test_3_daemon_keeps_polling(self):
        d = h.Daemon(self.cfg).start()
        d.wait_ok("alpha")
        d.wait_polls("beta", 3)
        # A session that starts while the daemon runs is picked up.
        late = h.Session(self.b, "app2", "appdb", "require", "b-late")
        late.wait_visible()
        d.wait(lambda: [c for c in d.clients("beta") if c["application"] == "b-late"],
               10, "late client stored")
        d.wait_polls("alpha", 3)
        self.assertClient(d, "beta", late, tls_version="TLSv1.3")
        self.assert_clients(d)
        self.assert_nothing_hidden(d, also=["b-late"])
        self.assert_instances(d)
        # A session that stays open is one session seen in many samples.
        row = [c for c in d.clients("alpha") if c["application"] == "a-ssl"][0]
        self.assertEqual(row["sessions"], 1, row)
        self.assertGreaterEqual(row["samples"], 3, row)
        cpu = _cpu_seconds(d.proc.pid)
        polls = sum(d.polls(c)[0] for c in ("alpha", "beta", "gamma", "blind"))
        elapsed = time.monotonic() - d.started_at
        rc, took = d.stop()
        self.assertEqual(rc, 0, d.log_text())
        for c in ("alpha", "beta", "gamma", "blind"):
            self.assertEqual(d.polls(c)[1], 0, d.dump("coverage"))
        h.log("daemon: %d polls in %.1fs (%.1f/s), CPU %.3fs (%.2f ms/poll), stop in %.2fs"
              % (polls, elapsed, polls / elapsed, cpu, 1000 * cpu / max(polls, 1), took))

    def test_4_missed_sessions_counted(self):
        # Sessions that begin and end between two polls are never listed,
        # yet pg_stat_database.sessions counts them: each session of a
        # burst is either seen by a poll (a session of client "burst") or
        # counted missed, and only once. Which of the two is timing; the
        # sum is not, so the test waits for the sum, not for a window. The
        # counter can trail the sessions a little (a backend flushes its
        # statistics as it exits), hence a wait rather than one poll.
        n = 50
        cfg = {"sslhistd": {"interval": "1s", "jitter": "0%"},
               "cluster burst": h.cluster_for(self.a)}
        d = h.Daemon(cfg).start()

        def missed(where=""):
            return d.query1("SELECT coalesce(sum(missed), 0) FROM missed_session m "
                            "JOIN instance i ON i.id = m.instance_id "
                            "WHERE cluster = 'burst'" + where)

        def seen():
            return sum(c["sessions"] for c in d.clients("burst")
                       if c["application"] == "burst")

        d.wait_polls("burst", 2, timeout=15)    # the counters have a baseline
        missed0 = missed(" AND database = 'appdb'")
        took = h.burst(self.a, n=n, user="app2", dbname="appdb", sslmode="require",
                       application_name="burst", hold_ms=20)
        got = d.wait(lambda: (lambda m, s: (m, s) if m + s >= n else None)(
            missed(" AND database = 'appdb'") - missed0, seen()), 30,
            "every burst session seen or counted missed")
        d.wait_polls("burst", 2)                # and none counted twice since
        per_db, sessions = missed(" AND database = 'appdb'") - missed0, seen()
        coverage = d.query1("SELECT coalesce(sum(missed_sessions), 0) FROM coverage v "
                            "JOIN instance i ON i.id = v.instance_id WHERE cluster = 'burst'")
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.log_text())
        h.log("burst of %d took %.2fs; missed in appdb %d (%d when all were accounted "
              "for), seen %d; coverage.missed_sessions %d"
              % (n, took, per_db, got[0], sessions, coverage))
        # Other clients may come and go in appdb meanwhile: a small margin.
        self.assertLessEqual(per_db + sessions, n + 5, d.dump("missed_session"))
        # The sessions lived ~20 ms each, polls are 1 s apart: most were
        # between polls (half is a wide margin for a loaded machine).
        self.assertGreaterEqual(per_db, n // 2, d.dump("missed_session"))
        # The hourly coverage counts the same missed sessions.
        self.assertGreaterEqual(coverage, per_db, d.dump("coverage"))
        self.assertLessEqual(coverage, per_db + missed0 + 5, d.dump("coverage"))

    def test_5_steady_fleet_does_not_grow(self):
        # docs/CONTRACT.md section 6: a fleet where nothing changes must not grow the
        # file per poll. page_count read through the WAL is the database's
        # logical size, whether or not a checkpoint has run.
        cfg = dict(self.cfg)
        cfg["sslhistd"] = dict(self.cfg["sslhistd"], interval="100ms")
        d = h.Daemon(cfg).start()
        d.wait_polls("alpha", 10, timeout=20)
        pages0 = d.query1("PRAGMA page_count")
        polls0 = sum(d.polls(c)[0] for c in ("alpha", "beta", "gamma", "blind"))
        d.wait_polls("alpha", 60, timeout=60)
        pages1 = d.query1("PRAGMA page_count")
        polls1 = sum(d.polls(c)[0] for c in ("alpha", "beta", "gamma", "blind"))
        page_size = d.query1("PRAGMA page_size")
        wal = os.path.getsize(d.db + "-wal") if os.path.exists(d.db + "-wal") else 0
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.log_text())
        h.log("steady fleet: %d polls; database %d -> %d pages of %d bytes; -wal %d bytes"
              % (polls1 - polls0, pages0, pages1, page_size, wal))
        # An hour boundary may add one coverage row per instance.
        self.assertLessEqual(pages1, pages0 + 2,
                             "database grew from %d to %d pages over %d polls"
                             % (pages0, pages1, polls1 - polls0))
        self.assertLess(wal, 64 * 1024 * 1024, "-wal grows without bound")


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    h.main()
