"""SIGHUP reload (docs/CONTRACT.md section 3).

Clusters added get connections, removed ones are closed (retired in the
store, history kept), unchanged ones keep their connection and schedule,
and a changed one reconnects. The proof that a connection was kept is the
daemon's own backend on that server: same pid and same backend_start in the
server's pg_stat_activity before and after. An invalid file leaves the
running configuration in place: every old cluster goes on being polled,
and the error names file:line:key.
"""
import signal

import harness as h


def own_backends(server):
    """(pid, backend_start) of the daemon's sessions on `server`."""
    return sorted((int(p), bs) for p, bs in server.sql(
        "SELECT pid, backend_start FROM pg_stat_activity "
        "WHERE application_name = 'sslhistd'"))


class Reload(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = h.CA("ca1")
        cls.a = h.PgServer(ssl=True, ca=cls.ca, name="a")
        cls.b = h.PgServer(ssl=False, name="b")

    def reload(self, d, what):
        log_len = len(d.log_text())
        d.proc.send_signal(signal.SIGHUP)
        d.wait(lambda: (lambda t: t if what in t else None)(d.log_text()[log_len:]), 5,
               "%r in the log after SIGHUP" % what)

    def test_reload(self):
        # keep: unchanged throughout. change: another database in the second
        # file. drop: removed. b hosts change and drop; a hosts keep and add.
        cfg = {"sslhistd": {"interval": "300ms"},
               "cluster keep": h.cluster_for(self.a),
               "cluster change": h.cluster_for(self.b),
               "cluster drop": h.cluster_for(self.b, dbname="appdb")}
        d = h.Daemon(cfg).start()
        self.addCleanup(lambda: d.alive() and d.stop())
        for c in ("keep", "change", "drop"):
            d.wait_ok(c)
        keep_backend = own_backends(self.a)
        self.assertEqual(len(keep_backend), 1, keep_backend)
        self.assertEqual(len(own_backends(self.b)), 2)

        # An invalid file: the old configuration goes on, all of it.
        with open(d.conf, "a") as f:
            f.write("\n[cluster broken]\nhost = x\nnosuchkey = 1\n")
        self.reload(d, "keeping the running configuration")
        self.assertMatches(r"sslhist\.conf:\d+: key 'nosuchkey'", d.log_text())
        for c in ("keep", "change", "drop"):
            d.wait_polls(c, 2)
        self.assertIsNone(d.instance("broken"))
        self.assertEqual(own_backends(self.a), keep_backend)

        # A valid change: `change` gets another database, `drop` goes, `add`
        # comes.
        cfg2 = {"sslhistd": {"interval": "300ms"},
                "cluster keep": h.cluster_for(self.a),
                "cluster change": h.cluster_for(self.b, dbname="rdsadmin"),
                "cluster add": h.cluster_for(self.a, dbname="appdb")}
        h.write_config(d.conf, cfg2)
        self.reload(d, "reloaded")
        d.wait(lambda: d.instance("drop")["retired_at"], 5, "drop retired")
        drop_polls = d.ok_polls("drop")
        d.wait_ok("add")
        d.wait(lambda: self.b.sql("SELECT datname FROM pg_stat_activity "
                                  "WHERE application_name = 'sslhistd'") == [["rdsadmin"]],
               10, "change reconnected to its new database and drop's connection closed")
        d.wait_polls("change", 2)
        d.wait_polls("keep", 3)
        now_a = own_backends(self.a)
        self.assertIn(keep_backend[0], now_a,
                      "the unchanged instance lost its connection at reload")
        self.assertEqual(len(now_a), 2, "keep and add on server a: %r" % now_a)
        self.assertEqual(d.ok_polls("drop"), drop_polls, "a removed cluster is still polled")
        self.assertGreater(drop_polls, 0)       # its history stays

        rc, _ = d.stop()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    h.main()
