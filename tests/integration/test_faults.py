"""Faults of monitored servers: each one is stored as the instance's error and
none of them stops or delays the polling of the other instances.

Every test runs its own daemon with a healthy cluster `good` beside the
faulty one and checks that `good` keeps being polled at its interval.
"""
import os
import signal
import time

import harness as h
import names

INTERVAL = 0.5
BASE = {"interval": "500ms", "jitter": "0%", "connect_timeout": "2s",
        "query_timeout": "1s", "max_backoff": "1s"}


class Faults(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca1 = h.CA("ca1")
        cls.ca2 = h.CA("ca2")
        cls.good = h.PgServer(ssl=True, ca=cls.ca1, name="good")
        cls.other = h.PgServer(ssl=True, ca=cls.ca2, name="other")
        cls.sess = h.Session(cls.good, "app1", "appdb", "require", "good-client")
        cls.sess.wait_visible()

    def daemon(self, faulty, dns=None, resolv_options="timeout:1 attempts:1", **daemon_kv):
        """The daemon with clusters good and faulty. With `dns` (a DnsStub) it
        runs with a private resolv.conf naming only that stub: no test query
        leaves loopback."""
        cfg = {"sslhistd": dict(BASE, **daemon_kv),
               "cluster good": h.cluster_for(self.good),
               "cluster faulty": faulty}
        name = self.id().rsplit(".", 1)[1]
        if dns is not None:
            d = names.NamedDaemon(cfg, dns=dns, name=name,
                                  resolv_options=resolv_options).start()
        else:
            d = h.Daemon(cfg, name=name).start()
        self.addCleanup(lambda: d.alive() and d.stop())
        d.wait_ok("good")
        return d

    def assert_good_keeps_polling(self, d, seconds=2.0):
        """Over `seconds`, `good` gets about seconds/INTERVAL polls."""
        p0 = d.ok_polls("good")
        t0 = time.monotonic()
        want = int(seconds / INTERVAL * 0.6)
        d.wait(lambda: d.ok_polls("good") >= p0 + want, seconds + 2.0,
               "%d polls of good in %.1fs" % (want, seconds))
        self.assertLess(time.monotonic() - t0, seconds + 2.0)

    def stop_clean(self, d):
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.log_text())

    # -- tests

    def test_server_restart(self):
        victim = h.PgServer(ssl=True, ca=self.ca2, name="victim")
        d = self.daemon(h.cluster_for(victim))
        d.wait_ok("faulty")
        victim.stop("immediate")
        t_down = time.time()
        good_before = d.instance("good")["last_success"]
        row = d.wait_failing("faulty", timeout=10)
        h.log("while down: %s" % row["last_error"])
        self.assert_good_keeps_polling(d, 2.5)
        self.assertGreater(d.instance("good")["last_success"], good_before,
                           "good's last_success did not advance while faulty was down")
        self.assertIsNotNone(row["last_error_at"], row)
        self.assertGreaterEqual(row["last_error_at"], int(t_down) - 1, row)
        victim.start()
        t_up = time.time()
        row = d.wait_ok("faulty", timeout=15)
        self.assertGreaterEqual(row["last_success"], int(t_up) - 1, row)
        self.assertEqual(row["consecutive_failures"], 0, row)
        self.assertTrue((row["server_version"] or "").startswith("15"), row)
        _, failed = d.polls("faulty")
        self.assertGreaterEqual(failed, 1, d.dump("coverage"))
        self.assertEqual(d.polls("good")[1], 0, d.dump("coverage"))
        self.stop_clean(d)

    def test_name_does_not_resolve(self):
        dns = names.DnsStub()
        d = self.daemon({"host": "nosuch.sslhist.invalid", "port": 5432,
                         "user": "monitor", "dbname": "postgres", "sslmode": "disable"},
                        dns=dns)
        row = d.wait_failing("faulty", timeout=10)
        self.assertMatches(r"could not resolve host name \"nosuch\.sslhist\.invalid\"",
                           row["last_error"], "error of an unresolvable name")
        self.assertIn("nosuch.sslhist.invalid", dns.queries, "the name was not asked of DNS")
        self.assertEqual(row["host"], "nosuch.sslhist.invalid")
        self.assertIsNone(row["last_success"], row)
        self.assert_good_keeps_polling(d)
        self.stop_clean(d)

    def test_dns_never_answers(self):
        # A lookup that hangs is bounded by connect_timeout and blocks nothing.
        dns = names.DnsStub(silent=["slow.sslhist.test"])
        d = self.daemon({"host": "slow.sslhist.test", "port": 5432,
                         "user": "monitor", "dbname": "postgres", "sslmode": "disable"},
                        dns=dns, resolv_options="timeout:30 attempts:1",
                        connect_timeout="1500ms")
        row = d.wait_failing("faulty", timeout=10)
        self.assertMatches(r"timeout: resolving the host name", row["last_error"])
        self.assert_good_keeps_polling(d)
        self.stop_clean(d)

    def test_nothing_listens(self):
        port = h.free_port()            # held locked: nobody else will listen
        d = self.daemon({"host": "127.0.0.1", "port": port, "user": "monitor",
                         "dbname": "postgres", "sslmode": "disable"})
        row = d.wait_failing("faulty", timeout=10)
        self.assertMatches(r"refused", row["last_error"], "error of a closed port")
        self.assert_good_keeps_polling(d)
        # It retries, with the backoff capped at max_backoff (1s, plus jitter).
        d.wait(lambda: d.instance("faulty")["consecutive_failures"] >= 4, 8,
               "four failed attempts within 8s (max_backoff = 1s)")
        self.assertIsNone(d.instance("faulty")["last_success"])
        self.stop_clean(d)

    def test_listener_never_answers(self):
        hole = h.Blackhole()
        t0 = time.monotonic()
        d = self.daemon({"host": "127.0.0.1", "port": hole.port, "user": "monitor",
                         "dbname": "postgres", "sslmode": "require"})
        self.assert_good_keeps_polling(d, 1.0)
        row = d.wait_failing("faulty", timeout=8)
        elapsed = time.monotonic() - t0
        self.assertMatches(r"time.?out|timed out", row["last_error"],
                           "error of a listener that never answers")
        self.assertGreaterEqual(elapsed, 1.8, "failed before connect_timeout (2s)")
        # The daemon itself hangs up at connect_timeout.
        first = h.wait_until(lambda: hole.accepted and hole.accepted[0][1] and
                             hole.accepted[0], 5, "daemon closes the first connection")
        held = first[1] - first[0]
        self.assertGreater(held, 1.7, "closed after %.2fs, connect_timeout is 2s" % held)
        self.assertLess(held, 3.0, "closed after %.2fs, connect_timeout is 2s" % held)
        self.assert_good_keeps_polling(d)
        self.stop_clean(d)

    def test_untrusted_certificate(self):
        # `other` presents a CA2 certificate; the bundle holds CA1 only.
        d = self.daemon(h.cluster_for(self.other, sslmode="verify-full", ca=self.ca1))
        row = d.wait_failing("faulty", timeout=10)
        self.assertMatches(r"certificate verify failed", row["last_error"],
                           "error of an untrusted certificate")
        self.assertIsNone(row["last_success"], row)
        self.assert_good_keeps_polling(d)
        self.stop_clean(d)

    def test_server_stalls_mid_poll(self):
        stall = h.PgServer(ssl=True, ca=self.ca1, name="stall")
        d = self.daemon(h.cluster_for(stall))
        d.wait_ok("faulty")
        d.wait_polls("faulty", 1)
        pids = h.wait_until(lambda: stall.backend_pids("sslhistd"), 5,
                            "the daemon's backend on the stalling server")
        self.assertEqual(len(pids), 1, pids)
        pid = pids[0]
        p_good = d.ok_polls("good")
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            row = d.wait_failing("faulty", timeout=6)
            dropped_after = time.monotonic() - t0
            good_polls = d.ok_polls("good") - p_good
        finally:
            os.kill(pid, signal.SIGCONT)
        h.log("stalled poll dropped after %.2fs; good polled %d times meanwhile: %s"
              % (dropped_after, good_polls, row["last_error"]))
        self.assertMatches(r"time.?out|timed out", row["last_error"],
                           "error of a stalled poll")
        # Next poll within interval, then query_timeout (1 s), plus slack.
        self.assertLess(dropped_after, INTERVAL + 1.0 + 1.5)
        self.assertGreaterEqual(good_polls, int(dropped_after / INTERVAL) - 1,
                                "good was not polled at its interval during the stall")
        # It reconnects (a new backend) and succeeds again.
        row = d.wait_ok("faulty", timeout=10)
        self.assertNotIn(pid, stall.backend_pids("sslhistd"))
        self.stop_clean(d)


if __name__ == "__main__":
    h.main()
