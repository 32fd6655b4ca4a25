"""Network faults between the daemon and its servers, in network namespaces
of the test's own: the daemon runs in `faults-<pid>d`, the PostgreSQL
servers and the fault proxies in `faults-<pid>s`, joined by two veth pairs
(10.231.0.0/24 for most instances, 10.231.1.0/24 for the one whose link is
cut). Nothing touches the host's interfaces; the namespaces (with their nft
tables and veths) are deleted at exit, and a run finds and deletes those of
an earlier run that was killed.

All faults hit at once, each on its own instance, beside three healthy
instances on a server of their own:
  latency   500 ms each way (netfault.DelayProxy): slow but never failing
  loss      30 % of the packets dropped both ways (nft numgen)
  cut       `ip link set down` of its veth while a poll is in flight
  silent    a peer that accepts and stays silent (a stalled DelayProxy)
  stall     the server process of its session stopped (SIGSTOP)
Then every fault is healed, and each faulty instance must recover on its
own. Throughout, the healthy instances keep their schedule: the daemon logs
(debug) the end time of every stored poll, and no gap between two polls of a
healthy instance exceeds interval * (1 + jitter) + SLACK.
"""
import os
import re
import signal
import time

import harness as h
import netfault

PREFIX = "faults"
INTERVAL = 1.0
JITTER = 0.1
SLACK = 0.4         # a loaded 2-core machine; one missed poll is >= 1.8 s
MAIN_D, MAIN_S = "10.231.0.1", "10.231.0.2"
CUT_D, CUT_S = "10.231.1.1", "10.231.1.2"
STORED_RE = re.compile(r"stored the poll of instance (\d+) at (\d+) ms \((ok|failed)\)")
HEALTHY = ("good1", "good2", "good3")
FAULTY = ("latency", "loss", "cut", "silent", "stall")


class NsDaemon(h.Daemon):
    def __init__(self, cfg, ns, **kw):
        self.ns = ns
        super().__init__(cfg, **kw)

    def argv(self, *extra, db=True):
        return self.ns.exec_prefix() + super().argv(*extra, db=db)


class NetFaults(h.TestCase):
    @classmethod
    def setUpClass(cls):
        netfault.sweep(PREFIX)
        cls.nsd = netfault.NetNs(PREFIX, "d")
        cls.nss = netfault.NetNs(PREFIX, "s")
        base = "%s-%d" % (PREFIX, os.getpid())
        netfault.veth(cls.nsd, base + "a", MAIN_D + "/24", cls.nss, base + "b", MAIN_S + "/24")
        netfault.veth(cls.nsd, base + "c", CUT_D + "/24", cls.nss, base + "e", CUT_S + "/24")
        cls.cut_link = base + "c"
        listen = "%s,%s,127.0.0.1" % (MAIN_S, CUT_S)
        cls.good = h.PgServer(ssl=True, name="net-good", netns=cls.nss, listen=listen)
        cls.bad = h.PgServer(ssl=True, name="net-bad", netns=cls.nss, listen=listen)
        cls.good.host = cls.bad.host = MAIN_S
        with cls.nss.enter():
            cls.lat = netfault.DelayProxy(MAIN_S, cls.bad.port, 500, listen=MAIN_S)
            cls.lossy = netfault.DelayProxy(MAIN_S, cls.bad.port, 0, listen=MAIN_S)
            cls.cutp = netfault.DelayProxy(CUT_S, cls.bad.port, 150, listen=CUT_S)
            cls.quiet = netfault.DelayProxy(MAIN_S, cls.bad.port, 0, listen=MAIN_S)

    def config(self):
        via = lambda host, port, **kw: dict({"host": host, "port": port, "user": "monitor",
                                             "dbname": "postgres", "sslmode": "disable"}, **kw)
        cfg = {"sslhistd": {"interval": "%dms" % (INTERVAL * 1000), "jitter": "10%",
                            "connect_timeout": "6s", "query_timeout": "3s",
                            "max_backoff": "1s"}}
        for g in HEALTHY:
            cfg["cluster " + g] = h.cluster_for(self.good, sslmode="require")
        cfg["cluster latency"] = via(MAIN_S, self.lat.port)
        cfg["cluster loss"] = via(MAIN_S, self.lossy.port)
        cfg["cluster cut"] = via(CUT_S, self.cutp.port)
        cfg["cluster silent"] = via(MAIN_S, self.quiet.port)
        cfg["cluster stall"] = h.cluster_for(self.bad, sslmode="require")
        return cfg

    def poll_times(self, d):
        """{cluster: [end of each stored successful poll, s]} from the log."""
        ids = {r["id"]: r["cluster"] for r in d.query("SELECT id, cluster FROM instance")}
        out = {}
        for inst, at, outcome in STORED_RE.findall(d.log_text()):
            if outcome == "ok":
                out.setdefault(ids.get(int(inst)), []).append(int(at) / 1000.0)
        return out

    def test_faults_heal_and_healthy_keep_schedule(self):
        d = NsDaemon(self.config(), self.nsd, name="net").start("-v")
        self.addCleanup(lambda: d.alive() and d.stop())
        for c in HEALTHY + FAULTY:
            d.wait_ok(c, timeout=30)
        # The latency instance polls, slowly, without failing.
        d.wait_polls("latency", 2, timeout=15)
        t_fault = time.time()
        heal = []
        # loss: 30 % both ways on the proxy's port.
        heal.append(self.nss.loss(self.lossy.port, 30))
        # cut: the link goes down while a poll is on its way (150 ms each
        # way through the proxy: the answer cannot have left yet).
        sent = self.cutp.relayed[0]
        h.wait_until(lambda: self.cutp.relayed[0] > sent, 5, "a poll sent over the cut link",
                     interval=0.005)
        self.nsd.ip("link", "set", self.cut_link, "down")
        heal.append(lambda: self.nsd.ip("link", "set", self.cut_link, "up"))
        # silent: the peer accepts and never answers again.
        self.quiet.stall()
        heal.append(self.quiet.resume)
        # stall: the server's process of the daemon's session stops.
        pid = h.wait_until(lambda: self.bad.backend_pids("sslhistd") and [
            p for p in self.bad.backend_pids("sslhistd") if self.is_stall_backend(p)], 10,
            "the stall instance's backend")[0]
        os.kill(pid, signal.SIGSTOP)
        heal.append(lambda: os.kill(pid, signal.SIGCONT))
        try:
            for c in ("cut", "silent", "stall"):
                d.wait(lambda: d.polls(c)[1] > 0, 15, "a failed poll of %s" % c)
                h.log("%s failed: %s" % (c, d.instance(c)["last_error"]))
            t_end = time.monotonic() + 4.0
            while time.monotonic() < t_end:
                d.assert_alive()
                time.sleep(0.2)     # the faults last a few more polls
        finally:
            for fn in heal:
                fn()
        t_heal = time.time()
        for c in FAULTY:
            d.wait(lambda: (lambda r: r["consecutive_failures"] == 0 and
                            r["last_success"] >= int(t_heal))(d.instance(c)), 30,
                   "%s polled again after the faults healed" % c)
        d.wait_polls("good1", 2)
        lat = d.instance("latency")
        self.assertEqual(d.polls("latency")[1], 0, "the latency instance failed: %s" % lat)
        loss_polls, loss_failed = d.polls("loss")
        h.log("loss: %d polls, %d failed; latency: %d polls" % (
            loss_polls, loss_failed, d.polls("latency")[0]))
        # The healthy instances' schedule, from before the faults to now.
        times = self.poll_times(d)
        bound = INTERVAL * (1 + JITTER) + SLACK
        for g in HEALTHY:
            ts = [t for t in times.get(g, []) if t >= t_fault - 2 * INTERVAL]
            gaps = [b - a for a, b in zip(ts, ts[1:])]
            self.assertGreater(len(gaps), 5, "too few polls of %s: %s" % (g, ts))
            h.log("%s: %d polls during the faults, largest gap %.3f s (bound %.2f)"
                  % (g, len(ts), max(gaps), bound))
            self.assertLessEqual(max(gaps), bound, "%s missed its schedule: gaps %s"
                                 % (g, ["%.2f" % x for x in gaps]))
            self.assertEqual(d.polls(g)[1], 0, "healthy %s failed a poll" % g)
        rc, _ = d.stop()
        self.assertEqual(rc, 0)

    def is_stall_backend(self, pid):
        """The backend of cluster `stall`: the only daemon session with TLS
        on the faulty server (the proxied ones are in clear)."""
        rows = self.bad.sql("SELECT s.ssl FROM pg_stat_ssl s WHERE s.pid = %d" % pid)
        return bool(rows) and rows[0][0] == "t"


if __name__ == "__main__":
    h.main()
