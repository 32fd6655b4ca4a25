"""Fast polling where misses appear (docs/CONTRACT.md section 2: fast_interval,
fast_for) against two real PostgreSQL 15 servers.

Server A gets a burst of short psql sessions that begin and end between two
polls; server B stays quiet. With interval 10s, fast_interval 200ms and
fast_for 2s: the poll of A that counts the burst as missed switches A to
fast polling (a log line says so), A's polls come every 200 ms, recorded as
fast polls in the hour's coverage, while B keeps its 10 s; 2 s after the
last miss A is back to its interval (another log line), and `sslhist report
--format json` shows coverage.fast_polls > 0 for A's cluster, 0 for B's. A
SIGHUP that leaves A's cluster as it was keeps its fast mode; one that turns
fast_interval off ends it at once.

Nothing here connects to A while the daemon watches it but the burst: any
other session would be one more missed session.
"""
import signal
import time

import harness as h

INTERVAL_S = 10


def fast_polls(d, cluster):
    return d.query1("SELECT coalesce(sum(fast_polls), 0) FROM coverage v "
                    "JOIN instance i ON i.id = v.instance_id WHERE i.cluster = ?",
                    (cluster,)) or 0


def missed(d, cluster):
    return d.query1("SELECT coalesce(sum(missed_sessions), 0) FROM coverage v "
                    "JOIN instance i ON i.id = v.instance_id WHERE i.cluster = ?",
                    (cluster,)) or 0


class FastPoll(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = h.PgServer(ssl=False, name="a")
        cls.b = h.PgServer(ssl=False, name="b")

    def config(self, **fast):
        daemon = {"interval": "%ds" % INTERVAL_S, "fast_interval": "200ms",
                  "fast_for": "2s", "connect_timeout": "5s", "query_timeout": "5s"}
        daemon.update(fast)
        return {"sslhistd": daemon,
                "cluster bursty": h.cluster_for(self.a),
                "cluster quiet": h.cluster_for(self.b)}

    def log_after(self, d, start, what, timeout):
        """Waits until `what` is in the daemon's log after offset `start`;
        returns the offset just past it."""
        def seen():
            i = d.log_text().find(what, start)
            return i + len(what) if i >= 0 else None
        return d.wait(seen, timeout, "%r in the log" % what)

    def wait_poll_after(self, d, cluster, wall):
        """Waits for a successful poll of `cluster` that ended at or after
        Unix time `wall` (whole seconds, as the store keeps it)."""
        d.wait(lambda: (d.instance(cluster)["last_success"] or 0) >= int(wall) + 1,
               INTERVAL_S * 1.1 + 8, "a poll of %s after %d" % (cluster, wall))

    def start_and_burst(self, cfg):
        d = h.Daemon(cfg).start()
        self.addCleanup(lambda: d.alive() and d.stop())
        # One poll each: A's session counters have their baseline.
        d.wait_polls("bursty", 1, timeout=15)
        d.wait_polls("quiet", 1, timeout=15)
        self.assertEqual(fast_polls(d, "bursty"), 0, d.dump("coverage"))
        log0 = len(d.log_text())
        h.burst(self.a, n=20, user="app2", dbname="appdb", sslmode="disable",
                application_name="burst", hold_ms=20, parallel=5)
        # The next poll of A counts the burst missed and enters fast mode.
        entered = self.log_after(d, log0, "bursty/127.0.0.1:%d: fast polling: " % self.a.port,
                                 INTERVAL_S * 1.1 + 10)
        return d, log0, entered

    def test_1_misses_speed_up_only_their_instance(self):
        d, log0, entered = self.start_and_burst(self.config())
        t_in = time.monotonic()
        quiet0 = d.polls("quiet")[0]
        bursty0 = d.polls("bursty")[0]
        # The store thread commits the poll that logged this within 1 s
        # (group commit: docs/CONTRACT.md), not at once.
        d.wait(lambda: missed(d, "bursty") > 0, 5, "the missed sessions stored")
        # fast_for (2 s) after the last miss A goes back to its interval.
        left = self.log_after(d, entered, "bursty/127.0.0.1:%d: fast polling ends"
                              % self.a.port, 30)
        # The store thread commits in groups (up to 500 ms): a poll of A
        # that began after fast mode ended is stored after every fast one
        # (records are stored in order), so the count is complete then.
        self.wait_poll_after(d, "bursty", time.time() + 1)
        window = time.monotonic() - t_in
        fast = fast_polls(d, "bursty")
        bursty_polls = d.polls("bursty")[0] - bursty0
        quiet_polls = d.polls("quiet")[0] - quiet0
        h.log("fast mode: %.1fs, %d fast polls of A (%d polls), %d polls of B"
              % (window, fast, bursty_polls, quiet_polls))
        # 2 s at 200 ms: about 10 fast polls (jitter 10%, each poll's own
        # time; a miss counted late by a fast poll extends it).
        self.assertGreaterEqual(fast, 5, d.dump("coverage"))
        self.assertGreaterEqual(bursty_polls, fast - 1, d.dump("coverage"))
        # B kept its interval throughout: at most one poll per 9 s, plus one.
        self.assertLessEqual(quiet_polls, window / (INTERVAL_S * 0.9) + 1, d.dump("coverage"))
        self.assertEqual(fast_polls(d, "quiet"), 0, d.dump("coverage"))
        self.assertNotIn("quiet/127.0.0.1:%d: fast polling" % self.b.port, d.log_text())

        # Back at interval: A's next poll is no fast one either.
        self.wait_poll_after(d, "bursty", time.time() + 1)
        self.assertEqual(fast_polls(d, "bursty"), fast, d.dump("coverage"))
        self.assertNotIn("fast polling: ", d.log_text()[left:])

        rep = h.sslhist_json(d.db, "report")
        cov = {c["name"]: c["coverage"] for c in rep["clusters"]}
        self.assertEqual(cov["bursty"]["fast_polls"], fast, rep)
        self.assertEqual(cov["quiet"]["fast_polls"], 0, rep)
        verdict = {c["name"]: c["verdict"] for c in rep["clusters"]}
        # The burst is unnamed and A's history young: nothing can be said,
        # unless a fast poll caught one of the burst's plain sessions (a
        # loaded machine stretches 20 ms ones): then force_ssl is unsafe.
        caught = [c for c in h.sslhist_json(d.db, "clients", "--cluster", "bursty")
                  if not c["ssl"]]
        self.assertEqual(verdict["bursty"]["force_ssl"], "unsafe" if caught else "unknown",
                         (verdict, caught))
        self.assertTrue(any("missed session" in r and "no log named" in r
                            for r in verdict["bursty"]["reasons"]), verdict)
        _rc, out, _err = h.sslhist("report", "--cluster", "bursty", db=d.db, check_rc=0)
        table = out.decode("utf-8")
        self.assertMatches(r"\(\d+ failed, %d at fast_interval\)" % fast, table)
        self.assertMatches(r"\n  verdict: force_ssl=unknown, rotation=unknown \(\d+ missed", table)
        rc, _ = d.stop()
        self.assertEqual(rc, 0)

    def test_2_reload_keeps_fast_mode_and_off_ends_it(self):
        # fast_for long enough that only a reload can end it in this test.
        cfg = self.config(fast_for="10m")
        d, log0, entered = self.start_and_burst(cfg)
        d.wait(lambda: fast_polls(d, "bursty") >= 3, 10, "fast polls stored")
        # The same file again: A is unchanged, so it stays fast.
        mark = len(d.log_text())
        d.proc.send_signal(signal.SIGHUP)
        mark = self.log_after(d, mark, "reloaded ", 5)
        n = fast_polls(d, "bursty")
        d.wait(lambda: fast_polls(d, "bursty") >= n + 3, 10, "fast polls after the reload")
        self.assertNotIn("fast polling ends", d.log_text()[entered:])
        # fast_interval off: fast mode ends at the reload.
        cfg["sslhistd"]["fast_interval"] = "off"
        h.write_config(d.conf, cfg)
        d.proc.send_signal(signal.SIGHUP)
        self.log_after(d, mark, "bursty/127.0.0.1:%d: fast polling ends" % self.a.port, 5)
        self.log_after(d, mark, "reloaded ", 5)
        n = fast_polls(d, "bursty")
        # The poll timer armed before the reload still fires at 200 ms (one
        # more fast poll, perhaps); the next ones come at interval.
        self.wait_poll_after(d, "bursty", time.time() + 5)
        self.assertLessEqual(fast_polls(d, "bursty"), n + 1, d.dump("coverage"))
        rc, _ = d.stop()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    h.main()
