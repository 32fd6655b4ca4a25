"""SIGTERM and SIGINT: sslhistd exits 0 within 2 s, and every poll whose
result it had received is stored.

The server logs every statement with its duration, so the test knows which
polls the server answered: a poll statement that completed before the
signal, followed by the next one, was received by the daemon and must be in
the store after the daemon exits.
"""
import os
import signal
import time

import harness as h

poll_statements = h.poll_statements


class Signals(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = h.CA("ca1")
        cls.srv = h.PgServer(ssl=True, ca=cls.ca, name="logged", conf=h.LOG_STATEMENTS)
        cls.base = h.Session(cls.srv, "app1", "appdb", "require", "sig-base")
        cls.base.wait_visible()

    def stop_after_poll(self, sig):
        cfg = {"sslhistd": {"interval": "500ms", "jitter": "0%"},
               "cluster main": h.cluster_for(self.srv)}
        start = len(self.srv.log_text())    # the log is shared by the tests
        d = h.Daemon(cfg, name=signal.Signals(sig).name).start()
        self.addCleanup(lambda: d.alive() and d.stop())
        d.wait_ok("main")
        d.wait_polls("main", 2)
        h.wait_until(lambda: poll_statements(self.srv, start), 5,
                     "sslhistd's poll statements in the server log (log_min_duration_"
                     "statement=0); does the poll query read pg_stat_ssl?")
        # A session the daemon has not seen yet; then wait until the server
        # has answered a poll that began after it appeared and the daemon has
        # sent the next one (so it received the first), and signal at once.
        late = h.Session(self.srv, "app2", "appdb", "disable",
                         "late-%s" % signal.Signals(sig).name)
        late.wait_visible()
        offset = len(self.srv.log_text())
        h.wait_until(lambda: len(poll_statements(self.srv, offset)) >= 3, 10,
                     "three more polls answered by the server", interval=0.01)
        rc, took = d.stop(sig, within=2.0)
        self.assertEqual(rc, 0, d.log_text())
        answered = len(poll_statements(self.srv, start))
        stored_ok = d.ok_polls("main")
        h.log("%s: exit 0 after %.3fs; server answered %d polls, %d stored"
              % (signal.Signals(sig).name, took, answered, stored_ok))
        rows = [c for c in d.clients("main") if c["application"] == late.application_name]
        self.assertEqual(len(rows), 1, "client seen before %s not stored:\n%s"
                         % (signal.Signals(sig).name, d.dump("client")))
        self.assertEqual(rows[0]["ssl"], 0, rows[0])
        self.assertGreaterEqual(stored_ok, answered - 1, d.dump("coverage"))
        # Nothing is left behind: the daemon's connection is gone.
        h.wait_until(lambda: not self.srv.backend_pids("sslhistd"), 5,
                     "the daemon's backend gone after it exited")
        late.close()

    def test_sigterm_stops_and_keeps_what_was_polled(self):
        self.stop_after_poll(signal.SIGTERM)

    def test_sigint_stops_and_keeps_what_was_polled(self):
        self.stop_after_poll(signal.SIGINT)

    def test_stop_while_connecting_and_stalled(self):
        # One instance in a TCP connection that never answers, one whose
        # backend is stopped mid-poll; long timeouts. The stop is still fast.
        hole = h.Blackhole()
        stall = h.PgServer(ssl=True, ca=self.ca, name="stall")
        cfg = {"sslhistd": {"interval": "500ms", "connect_timeout": "30s",
                            "query_timeout": "30s"},
               "cluster main": h.cluster_for(self.srv),
               "cluster stall": h.cluster_for(stall),
               "cluster hole": {"host": "127.0.0.1", "port": hole.port, "user": "monitor",
                                "sslmode": "require"}}
        d = h.Daemon(cfg).start()
        self.addCleanup(lambda: d.alive() and d.stop())
        d.wait_ok("stall")
        pid = h.wait_until(lambda: stall.backend_pids("sslhistd"), 5, "daemon backend")[0]
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(os.kill, pid, signal.SIGCONT)
        h.wait_until(lambda: hole.accepted, 5, "daemon connects to the blackhole")
        polls = d.polls("stall")[0]
        d.wait(lambda: _stall_query_sent(stall), 5,
               "a poll stuck on the stopped backend")
        t0 = time.monotonic()
        rc, took = d.stop(signal.SIGTERM, within=2.0)
        self.assertEqual(rc, 0, d.log_text())
        h.log("stopped in %.3fs with a connect and a query pending" % took)
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertGreaterEqual(d.polls("stall")[0], polls)


def _stall_query_sent(server):
    """True when the stopped backend has data waiting on its socket: the
    daemon's next poll was sent and cannot be answered."""
    # The backend cannot report it (it is stopped); the kernel can: a
    # client socket of the server with bytes in its receive queue.
    port_hex = ":%04X" % server.port
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, rxq = parts[1], parts[4].split(":")[1]
                    if local.endswith(port_hex) and int(rxq, 16) > 0:
                        return True
        except OSError:
            continue
    return False


if __name__ == "__main__":
    h.main()
