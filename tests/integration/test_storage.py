"""Storage faults: a locked or full database never stops the
polling. Results wait in memory, are retried, and land once the store works
again; nothing stored before is lost.

The database lives on a small tmpfs of the test's own (mounted under the
test's work directory, unmounted at the end), so "disk full" is the real
error of a real file system. (A file system turned read-only under a running
writer cannot be made here: remounting read-only fails with EBUSY while the
database is open for writing; SQLITE_READONLY takes the same path in the
daemon as SQLITE_FULL and SQLITE_BUSY.)
"""
import os
import sqlite3
import subprocess

import harness as h


class Storage(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = h.PgServer(ssl=True, name="store")
        cls.first = h.Session(cls.srv, "app1", "appdb", "require", "st-first")
        cls.first.wait_visible()

    def mount_tmpfs(self, size):
        d = h.subdir("tmpfs-%d" % id(self))
        h.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", d])
        self.addCleanup(lambda: subprocess.run(["umount", "-l", d]))
        return d

    def start(self, db):
        cfg = {"sslhistd": {"interval": "200ms", "jitter": "0%"},
               "cluster main": h.cluster_for(self.srv)}
        d = h.Daemon(cfg, db=db).start()
        self.addCleanup(lambda: d.alive() and d.stop())
        d.wait_ok("main")
        d.wait(lambda: any(c["application"] == "st-first" for c in d.clients()), 10,
               "first client stored")
        return d

    def recovers(self, d, fault, heal, name):
        """Applies the fault, adds a client while it lasts, heals, and checks
        that the daemon polled throughout and stored everything after."""
        polls_before = d.ok_polls("main")
        fault()
        try:
            late = h.Session(self.srv, "app2", "appdb", "disable", "st-" + name)
            late.wait_visible()
            h.wait_until(lambda: "storing poll results failed" in d.log_text(), 10,
                         "the daemon to report the storage error")
            # The daemon goes on polling: the server sees five more poll
            # statements start while nothing can be stored.
            seen = set()

            def polled():
                d.assert_alive()
                for r in self.srv.sql("SELECT query_start::text FROM pg_stat_activity "
                                      "WHERE application_name = 'sslhistd'"):
                    seen.add(r[0] if isinstance(r, (list, tuple)) else r)
                return len(seen) >= 6
            h.wait_until(polled, 10, "five polls while the store fails", interval=0.02)
            held_since = len(d.log_text())
        finally:
            heal()
        d.wait(lambda: any(c["application"] == "st-" + name for c in d.clients()), 15,
               "client added during the fault stored after it")
        h.wait_until(lambda: "storing poll results works again" in d.log_text()[held_since:]
                     or "storing poll results works again" in d.log_text(), 10,
                     "the daemon to report recovery")
        # Every poll made during the fault was held and stored afterwards.
        self.assertGreaterEqual(d.ok_polls("main"), polls_before + 5,
                           "polls during the fault were not stored")
        self.assertTrue(any(c["application"] == "st-first" for c in d.clients()),
                        "a client stored before the fault was lost")
        late.close()

    def test_locked(self):
        d = self.start(os.path.join(h.subdir("locked"), "history.db"))
        holder = {}

        def lock():
            con = sqlite3.connect(d.db, timeout=5, isolation_level=None)
            con.execute("BEGIN IMMEDIATE")
            holder["con"] = con

        def unlock():
            holder["con"].execute("ROLLBACK")
            holder["con"].close()
        self.recovers(d, lock, unlock, "locked")

    def test_disk_full(self):
        mnt = self.mount_tmpfs("4m")
        d = self.start(os.path.join(mnt, "history.db"))
        filler = os.path.join(mnt, "filler")

        def fill():
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
        self.recovers(d, fill, lambda: os.unlink(filler), "full")


if __name__ == "__main__":
    h.main()
