"""SIGHUP reload and the systemd notify protocol.

A reload keeps the connection and schedule of every instance whose settings
did not change (the same backend serves it before and after), reconnects a
changed one, stops a removed one (retired in the store, history kept), and
an invalid file leaves the running configuration in place.

The notify protocol is checked against a real AF_UNIX datagram socket in
NOTIFY_SOCKET, as systemd provides it: READY=1, STATUS=, WATCHDOG=1 (with
WATCHDOG_USEC), RELOADING=1 + MONOTONIC_USEC + READY=1, STOPPING=1.
"""
import os
import signal
import socket
import subprocess
import threading

import harness as h


class NotifySocket:
    def __init__(self):
        self.path = os.path.join(h.subdir("notify"), "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        h.on_cleanup(self.sock.close)

    def _read(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            with self._lock:
                self.messages.append(data.decode())

    def all(self):
        with self._lock:
            return list(self.messages)

    def lines(self):
        return [l for m in self.all() for l in m.split("\n")]


class NotifyDaemon(h.Daemon):
    def __init__(self, cfg, notify, watchdog_usec=None, **kw):
        super().__init__(cfg, **kw)
        self.notify = notify
        self.watchdog_usec = watchdog_usec

    def start(self, *extra):
        env = h._clean_env()
        env["NOTIFY_SOCKET"] = self.notify.path
        if self.watchdog_usec:
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        self._log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(self.argv(*extra), stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env)
        if self.watchdog_usec:
            env["WATCHDOG_PID"] = str(self.proc.pid)
        return self


def daemon_pid(server):
    rows = server.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'sslhistd'")
    return sorted(int(r[0]) for r in rows)


class Reload(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = h.CA("ca1")
        cls.a = h.PgServer(ssl=True, ca=cls.ca, name="a")
        cls.b = h.PgServer(ssl=True, ca=cls.ca, name="b")
        cls.c = h.PgServer(ssl=False, name="c")

    def test_reload(self):
        n = NotifySocket()
        cfg = {"sslhistd": {"interval": "300ms"},
               "cluster keep": h.cluster_for(self.a),
               "cluster change": h.cluster_for(self.b),
               "cluster drop": h.cluster_for(self.c)}
        d = NotifyDaemon(cfg, n, watchdog_usec=400000).start()
        self.addCleanup(lambda: d.alive() and d.stop())
        for c in ("keep", "change", "drop"):
            d.wait_ok(c)
        h.wait_until(lambda: "READY=1" in n.lines(), 5, "READY=1")
        h.wait_until(lambda: n.lines().count("WATCHDOG=1") >= 3, 5, "WATCHDOG=1 pings")
        h.wait_until(lambda: any(l.startswith("STATUS=3 instances: 3 ok") for l in n.lines()),
                     10, "a STATUS= summary")
        keep_pid, change_pid = daemon_pid(self.a), daemon_pid(self.b)

        # An invalid file: the old configuration goes on.
        with open(d.conf, "a") as f:
            f.write("\n[cluster broken]\nnosuchkey = 1\n")
        ready_before = n.lines().count("READY=1")
        d.proc.send_signal(signal.SIGHUP)
        h.wait_until(lambda: "keeping the running configuration" in d.log_text(), 5,
                     "the reload error logged")
        self.assertMatches(r"sslhist\.conf:\d+.*nosuchkey", d.log_text())
        h.wait_until(lambda: n.lines().count("READY=1") > ready_before, 5, "READY=1 again")
        polls = d.ok_polls("drop")
        d.wait_polls("drop", 2)

        # A valid change: `change` gets another user, `drop` goes.
        cfg2 = {"sslhistd": {"interval": "300ms"},
                "cluster keep": h.cluster_for(self.a),
                "cluster change": h.cluster_for(self.b, application_name=None,
                                                connect_timeout="5"),
                }
        h.write_config(d.conf, cfg2)
        ready_before = n.lines().count("READY=1")
        d.proc.send_signal(signal.SIGHUP)
        h.wait_until(lambda: "reloaded" in d.log_text(), 5, "reloaded")
        h.wait_until(lambda: n.lines().count("READY=1") > ready_before, 5, "READY=1 after reload")
        self.assertTrue(any(l.startswith("RELOADING=1") for l in n.all()), n.all())
        self.assertTrue(any("MONOTONIC_USEC=" in m for m in n.all() if "RELOADING=1" in m))
        d.wait(lambda: d.instance("drop")["retired_at"], 5, "drop retired")
        d.wait(lambda: daemon_pid(self.b) and daemon_pid(self.b) != change_pid, 10,
               "change reconnected")
        d.wait_polls("keep", 3)
        self.assertEqual(daemon_pid(self.a), keep_pid,
                         "an unchanged instance lost its connection at reload")
        self.assertEqual(daemon_pid(self.c), [], "a removed instance is still connected")
        self.assertGreater(d.ok_polls("drop"), polls)   # history kept

        rc, _ = d.stop()
        self.assertEqual(rc, 0)
        h.wait_until(lambda: "STOPPING=1" in n.lines(), 2, "STOPPING=1")


if __name__ == "__main__":
    h.main()
