"""A store that blocks delays no poll: the store runs on its own thread
(daemon/writer.h), so a frozen file system (fsfreeze) or a write lock held
by another process stops only the commits. Polls go on (the server's log
counts them: harness.LOG_STATEMENTS), the watchdog keeps its pings
(NOTIFY_SOCKET with WATCHDOG_USEC, sdsock.py), and after the thaw, or when
the lock goes, everything polled meanwhile lands, including a client that
only existed during the fault.

The file system is an ext4 image on a loop device, mounted in a private
mount namespace (a holder process made by `unshare --mount`; the daemon
joins it with nsenter), so no mount is left on the host. Nothing reads the
database while it is frozen: a write to a frozen ext4 blocks in the kernel,
and SQLite's readers write the -shm file.

SIGTERM during a freeze (docs/RELIABILITY.md, "Known limits"): the loop
stops within 2 s (STOPPING=1, the log says how many results were not
stored), but the store thread is inside a write the kernel holds until the
thaw, so the process ends only then; nothing stored before is lost.
"""
import os
import signal
import subprocess
import time

import harness as h
import sdsock
from test_storage import NsDaemon, ok_polls

WATCHDOG_USEC = 2000000


class PrivateExt4:
    """An ext4 image of `size` mounted on a fresh directory, visible only
    in a private mount namespace held open by a small process (it exits
    when this process does: its stdin is our pipe)."""

    def __init__(self, size="64M"):
        self.dir = h.subdir("ns-ext4-%d" % id(self))
        self.image = os.path.join(h.subdir("ext4-img-%d" % id(self)), "fs.img")
        h.run(["truncate", "-s", size, self.image])
        h.run(["mkfs.ext4", "-q", "-F", self.image])
        self.frozen = False
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
             'mount -o loop "$2" "$1" && chmod 0755 "$1" && echo ready && exec cat',
             "sh", self.dir, self.image],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("could not mount the private ext4")
        h.on_cleanup(self.close)

    def nsenter(self):
        return ["nsenter", "--mount=/proc/%d/ns/mnt" % self.proc.pid, "--"]

    def freeze(self):
        h.run(self.nsenter() + ["fsfreeze", "-f", self.dir])
        self.frozen = True

    def thaw(self):
        if self.frozen:
            h.run(self.nsenter() + ["fsfreeze", "-u", self.dir])
            self.frozen = False

    def close(self):
        if self.proc.poll() is None:
            self.thaw()     # else the namespace's last process hangs
            self.proc.stdin.close()
            self.proc.wait(10)


class Freeze(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = h.PgServer(ssl=True, name="freeze", conf=h.LOG_STATEMENTS)
        cls.first = h.Session(cls.srv, "app1", "appdb", "require", "fz-first")
        cls.first.wait_visible()

    def daemon(self, name):
        fs = PrivateExt4()
        self.addCleanup(fs.thaw)
        cfg = {"sslhistd": {"interval": "200ms", "jitter": "0%"},
               "cluster main": h.cluster_for(self.srv)}
        d = NsDaemon(cfg, fs, name=name)
        n = sdsock.NotifySocket()
        d.start(env=n.env(WATCHDOG_USEC))
        self.addCleanup(lambda: d.alive() and d.stop(within=30))
        d.wait_ok("main")
        d.wait(lambda: any(c["application"] == "fz-first" for c in d.clients()), 10,
               "first client stored")
        return d, fs, n

    def polls_go_on(self, d, n, fault, heal, name, hold=3.0):
        """Applies the fault for `hold` seconds, adds a client meanwhile,
        and checks that polls and watchdog pings went on during it and that
        every answered poll is stored after `heal`."""
        stored0 = ok_polls(d)
        offset = len(self.srv.log_text())
        fault()
        t0 = time.monotonic()
        try:
            late = h.Session(self.srv, "app2", "appdb", "disable", "fz-" + name)
            late.wait_visible()
            h.wait_until(lambda: len(h.poll_statements(self.srv, offset)) >= 10, 10,
                         "ten polls answered while the store is blocked")
            while time.monotonic() - t0 < hold:
                d.assert_alive()
                time.sleep(0.1)     # the fault's prescribed duration
            answered = len(h.poll_statements(self.srv, offset))
            t1 = time.monotonic()
        finally:
            heal()
        pings = [t for t in n.times("WATCHDOG=1") if t0 <= t <= t1]
        h.log("%s: %d polls answered and %d watchdog pings in %.1f s while the store was "
              "blocked" % (name, answered, len(pings), t1 - t0))
        # A ping every WATCHDOG_USEC / 2: the loop never stalled.
        self.assertGreaterEqual(len(pings), int((t1 - t0) / (WATCHDOG_USEC / 2e6)) - 1,
                                "watchdog pings stopped while the store was blocked")
        # At 200 ms, a loop waiting on the store would answer almost none.
        self.assertGreaterEqual(answered, 10)
        d.wait(lambda: ok_polls(d) >= stored0 + answered, 30,
               "every poll answered during the fault stored (%d + %d)" % (stored0, answered))
        self.assertEqual(d.query1("PRAGMA integrity_check"), "ok")
        apps = {c["application"] for c in d.clients()}
        self.assertIn("fz-" + name, apps, "client seen during the fault not stored")
        self.assertIn("fz-first", apps, "a client stored before the fault was lost")
        late.close()

    def test_frozen_file_system(self):
        d, fs, n = self.daemon("frozen")
        self.polls_go_on(d, n, fs.freeze, fs.thaw, "frozen")
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.log_text())

    def test_held_write_lock(self):
        d, fs, n = self.daemon("lock")
        holder = {}

        def lock():
            # Another process, as an operator's sqlite3 shell would be.
            holder["p"] = subprocess.Popen(
                fs.nsenter() + ["python3", "-c",
                                "import sqlite3, sys\n"
                                "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                                "c.execute('BEGIN IMMEDIATE')\n"
                                "print('locked', flush=True)\n"
                                "sys.stdin.read()\n", d.db],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.assertEqual(holder["p"].stdout.readline().strip(), "locked")

        def unlock():
            holder["p"].stdin.close()
            holder["p"].wait(10)
            holder["p"].stdout.close()
        self.polls_go_on(d, n, lock, unlock, "lock")
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.log_text())

    def test_sigterm_while_frozen(self):
        d, fs, n = self.daemon("term")
        stored0 = ok_polls(d)
        offset = len(self.srv.log_text())
        log0 = len(d.log_text())
        fs.freeze()
        # Polls while frozen, so the store thread is inside a commit.
        h.wait_until(lambda: len(h.poll_statements(self.srv, offset)) >= 5, 10,
                     "five polls answered while frozen")
        time.sleep(1.0)     # past the group commit's 500 ms: a commit is blocked now
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        h.wait_until(lambda: "exiting without it" in d.log_text()[log0:], 3,
                     "the loop to give up on the frozen store")
        gave_up = time.monotonic() - t0
        stopping = [t for t in n.times("STOPPING=1") if t >= t0]
        h.log("SIGTERM while frozen: STOPPING=1 after %.2f s, gave up on the store after "
              "%.2f s, process alive until the thaw: %s" % (
                  stopping[0] - t0 if stopping else -1, gave_up, d.alive()))
        self.assertTrue(stopping and stopping[0] - t0 < 2.0, "no STOPPING=1 within 2 s")
        self.assertLess(gave_up, 2.0)
        self.assertRegex(d.log_text()[log0:], r"\d+ poll results not stored")
        fs.thaw()
        rc = d.proc.wait(10)
        self.assertEqual(rc, 0, d.log_text()[log0:])
        # Nothing stored before the freeze is lost; the file is sound.
        self.assertEqual(d.query1("PRAGMA integrity_check"), "ok")
        self.assertGreaterEqual(ok_polls(d), stored0)
        self.assertIn("fz-first", {c["application"] for c in d.clients()})


if __name__ == "__main__":
    h.main()
