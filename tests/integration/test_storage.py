"""Storage faults: a full disk, a database locked by another writer and a
read-only database file never stop the polling. Results wait in bounded
memory, are retried, and land once the store works again: every poll the
server answered during the fault is stored afterwards, PRAGMA
integrity_check is ok, nothing stored before is lost, and the daemon logs
each change of state once, not once per poll.

The server logs every statement (harness.LOG_STATEMENTS), so the test knows
how many polls the daemon received while nothing could be stored.

The full disk is a 16 MiB tmpfs mounted in a private mount namespace (a
holder process made by `unshare --mount`; the daemon joins it with
`nsenter`), so no mount is ever left on the host: the namespace goes with
its last process. The test reaches the files through /proc/HOLDER/root.

Read-only: the database file made immutable (chattr +i) under the running
daemon (ext4 then refuses every write, even through descriptors opened
before), then writable again; and a daemon started on an immutable file,
which refuses to start (exit 1, the message names the path) and changes
nothing. (A read-only remount is not possible under a writer: EBUSY; an
ext4 turned read-only by an error cannot be made writable again without
unmounting it, see docs/RELIABILITY.md.)
"""
import json
import os
import signal
import sqlite3
import subprocess
import time

import harness as h
import pgwire

MANY = 10000


class PrivateTmpfs:
    """A tmpfs of `size` at a fresh directory, visible only in a private
    mount namespace held open by a small process (it exits when this
    process does: its stdin is our pipe)."""

    def __init__(self, size):
        self.dir = h.subdir("ns-tmpfs-%d" % id(self))
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
             'mount -t tmpfs -o size=%s,mode=0755 tmpfs "$1" && echo ready && exec cat'
             % size, "sh", self.dir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("could not mount the private tmpfs")
        h.on_cleanup(self.close)

    def host_path(self, inner):
        """The path, as this process sees it, of `inner` in the namespace."""
        return "/proc/%d/root%s" % (self.proc.pid, inner)

    def nsenter(self):
        return ["nsenter", "--mount=/proc/%d/ns/mnt" % self.proc.pid, "--"]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)


# Reads the store inside the namespace: SQLite resolves symbolic links in
# the path it is given, and /proc/PID/root reads back as "/" (the host's).
_QUERY_PY = r"""
import json, sqlite3, sys
con = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
con.row_factory = sqlite3.Row
con.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
print(json.dumps([dict(r) for r in con.execute(sys.argv[2], json.loads(sys.argv[3]))],
                 default=lambda b: b.hex()))
"""


class NsDaemon(h.Daemon):
    """h.Daemon whose database lives in a PrivateTmpfs."""

    def __init__(self, cfg, fs, **kw):
        self.fs = fs
        super().__init__(cfg, db=os.path.join(fs.dir, "history.db"), **kw)

    def argv(self, *extra, db=True):
        return self.fs.nsenter() + super().argv(*extra, db=db)

    def query(self, sql, args=()):
        r = h.run(self.fs.nsenter() + ["python3", "-c", _QUERY_PY, self.db, sql,
                                       json.dumps(list(args))], check=False)
        if r.returncode != 0:
            raise sqlite3.OperationalError(r.stderr.strip().splitlines()[-1])
        return json.loads(r.stdout)


def ok_polls(d):
    """Successful polls stored, of every instance (the server's log counts
    the polls of every connection)."""
    return d.query1("SELECT coalesce(sum(polls - failed_polls), 0) FROM coverage")


class Storage(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = h.PgServer(ssl=True, name="store", conf=h.LOG_STATEMENTS)
        cls.first = h.Session(cls.srv, "app1", "appdb", "require", "st-first")
        cls.first.wait_visible()

    def config(self, **clusters):
        # A hook that is still running when the fault begins: its end must
        # wait for the store too, without a log line per retry.
        cfg = {"sslhistd": {"interval": "200ms", "jitter": "0%",
                            "on_new_client": "/bin/sleep 1"},
               "cluster main": h.cluster_for(self.srv)}
        cfg.update({"cluster %s" % k: v for k, v in clusters.items()})
        return cfg

    def start(self, d, env=None):
        d.start(env=env)
        self.addCleanup(lambda: d.alive() and d.stop())
        d.wait_ok("main")
        d.wait(lambda: any(c["application"] == "st-first" for c in d.clients()), 10,
               "first client stored")
        return d

    def recovers(self, d, fault, heal, name, hold=0.0, during=None):
        """Applies the fault, adds a client while it lasts (at least `hold`
        seconds and five polls; `during` runs meanwhile), heals, and checks
        that every poll the server answered meanwhile is stored after."""
        stored0 = ok_polls(d)
        offset = len(self.srv.log_text())
        log0 = len(d.log_text())
        fault()
        t0 = time.monotonic()
        try:
            late = h.Session(self.srv, "app2", "appdb", "disable", "st-" + name)
            late.wait_visible()
            d.wait(lambda: "storing poll results failed" in d.log_text()[log0:], 10,
                   "the daemon to report the storage error")
            d.wait(lambda: len(h.poll_statements(self.srv, offset)) >= 5, 10,
                   "five polls answered while the store fails")
            if during:
                during()
            while time.monotonic() - t0 < hold:
                d.assert_alive()
                time.sleep(0.1)     # the fault's prescribed duration
            answered = len(h.poll_statements(self.srv, offset))
            log_fault = d.log_text()[log0:]
        finally:
            heal()
        h.log("%s: %d polls answered in %.1f s while the store failed"
              % (name, answered, time.monotonic() - t0))
        d.wait(lambda: ok_polls(d) >= stored0 + answered, 20,
               "every poll answered during the fault stored (%d + %d)" % (stored0, answered))
        d.wait(lambda: "storing poll results works again" in d.log_text()[log0:], 10,
               "the daemon to report recovery")
        # One line when the store began to fail (from the poll writer, and
        # from the hooks if one ended meanwhile), none per poll or retry.
        lines = [l for l in log_fault.splitlines() if ": error: " in l or ": warning: " in l]
        self.assertEqual(len([l for l in lines if "storing poll results failed" in l]), 1,
                         "\n".join(lines))
        self.assertLessEqual(len([l for l in lines if "hooks: " in l]), 1, "\n".join(lines))
        self.assertLessEqual(len(lines), 2, "log lines during %d polls of the fault:\n%s"
                             % (answered, "\n".join(lines)))
        after = d.log_text()[log0:]
        self.assertEqual(after.count("storing poll results works again"), 1)
        if any("hooks: " in l for l in lines):
            d.wait(lambda: "hooks: storing hook state works again" in d.log_text()[log0:], 10,
                   "the hooks to report recovery")
        self.assertEqual(d.query1("PRAGMA integrity_check"), "ok")
        apps = {c["application"] for c in d.clients()}
        self.assertIn("st-" + name, apps, "client added during the fault not stored")
        self.assertIn("st-first", apps, "a client stored before the fault was lost")
        late.close()
        return answered

    def test_locked_by_another_writer(self):
        # Ten seconds of BEGIN EXCLUSIVE, while an instance with 10,000
        # sessions is polled too: what waits in memory stays small.
        self.proxy = pgwire.RowProxy(self.srv.port, pgwire.Multiply("st-first", MANY))
        d = self.start(h.Daemon(self.config(many=self.proxy.cluster()), name="locked"),
                       env=h.measured_memory_env())
        d.wait(lambda: d.ok_polls("many") >= 2, 20, "the 10,000 sessions polled twice")
        holder = {}
        rss = {}

        def lock():
            con = sqlite3.connect(d.db, timeout=5, isolation_level=None)
            con.execute("BEGIN EXCLUSIVE")
            holder["con"] = con
            rss["before"] = rss["peak"] = h.rss_kib(d.proc.pid)

        def unlock():
            holder["con"].execute("ROLLBACK")
            holder["con"].close()

        def watch():
            while time.monotonic() - t_lock[0] < 10:
                rss["peak"] = max(rss["peak"], h.rss_kib(d.proc.pid))
                time.sleep(0.2)     # sampling RSS during the 10 s lock
        t_lock = [time.monotonic()]
        many0 = d.ok_polls("many")
        self.recovers(d, lock, unlock, "locked", hold=10.0, during=watch)
        held = d.ok_polls("many") - many0
        h.log("locked: RSS %d KiB before, peak %d KiB; %d polls of 10,000 sessions held"
              % (rss["before"], rss["peak"], held))
        self.assertGreaterEqual(held, 10, "the 10,000-session instance was not polled")
        # Each held poll is a few hundred bytes; arrays sized for 10,000
        # rows were 1.2 MB each (RSS +14 MB over 76 polls before the fix).
        self.assertLess(rss["peak"] - rss["before"], 6 << 10,
                        "memory held for %d polls grew by %d KiB"
                        % (held, rss["peak"] - rss["before"]))
        c = [c for c in h.sslhist_json(d.db, "clients", "--cluster", "many")
             if c["application"] == "st-first"]
        self.assertEqual(c[0]["sessions"], MANY, c)

    def test_disk_full(self):
        # Room for the database and a WAL of 1,000 pages (SQLite's
        # automatic checkpoint), which a slow (ASan) run reaches.
        fs = PrivateTmpfs("16m")
        d = self.start(NsDaemon(self.config(), fs, name="full"))
        filler = fs.host_path(os.path.join(fs.dir, "filler"))

        def fill():
            inner = fs.host_path(fs.dir)
            st = os.statvfs(inner)
            h.log("tmpfs before the fill: %d KiB free; %s" % (
                st.f_bavail * st.f_frsize // 1024,
                {n: os.path.getsize(os.path.join(inner, n)) for n in os.listdir(inner)}))
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
        self.recovers(d, fill, lambda: os.unlink(filler), "full", hold=2.0)

    def test_read_only_file(self):
        d = self.start(h.Daemon(self.config(), name="readonly"))
        files = [d.db + s for s in ("", "-wal", "-shm")]
        self.addCleanup(lambda: subprocess.run(["chattr", "-i"] + files,
                                               stderr=subprocess.DEVNULL))

        def chattr(flag):
            h.run(["chattr", flag] + [f for f in files if os.path.exists(f)])
        # Under the running daemon: ext4 refuses writes to an immutable file
        # even through descriptors opened before.
        self.recovers(d, lambda: chattr("+i"), lambda: chattr("-i"), "readonly", hold=2.0)
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.log_text())
        # A start on a read-only file: refused, nothing changed.
        polls = d.ok_polls("main")
        chattr("+i")
        log0 = len(d.log_text())
        d.start()
        rc = d.proc.wait(10)
        msg = d.log_text()[log0:]
        h.log("start on an immutable file: exit %d: %s" % (rc, msg.strip()))
        self.assertEqual(rc, 1, msg)
        self.assertIn(d.db, msg, "the error does not name the file")
        self.assertMatches(r"read-only|readonly|permission|not permitted", msg)
        chattr("-i")
        self.assertEqual(d.ok_polls("main"), polls, "the refused start changed the file")
        self.assertEqual(d.query1("PRAGMA integrity_check"), "ok")
        self.start(d)
        d.wait_polls("main", 2)
        self.assertGreaterEqual(d.ok_polls("main"), polls + 2)


if __name__ == "__main__":
    h.main()
