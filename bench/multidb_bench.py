#!/usr/bin/env python3
"""What reading several histories as one costs, and what a snapshot costs.

1. A synthetic history (gen_history.py) and a copy of it: two bastions that
   saw the same fleet (full overlap, the merge's worst case: every client
   is grouped with its twin). `sslhist report`, `clients --format json` and
   `instances --format json` on one file, then on both (`--db A --db B`):
   CPU time, median of --runs, and the ratio merged / one.
2. `sslhist snapshot` of the history while a writer commits every 5 ms:
   wall time, and the same copy made with SQLite's backup API in 64-page
   steps from Python with and without the read transaction that sslhist
   holds across the steps: how often the backup restarted.

usage: multidb_bench.py [--build DIR] [--instances N] [--clients N] [--hours N] [--runs N]
"""
import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(argv, runs):
    """Median CPU seconds (user + system) of the child: wall time on a
    shared machine measures the neighbours."""
    times = []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        if r.returncode not in (0, 3):
            sys.exit("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.decode()))
    return statistics.median(times)


class Writer:
    """Commits a small update every 5 ms until stopped (as the daemon does)."""

    def __init__(self, path):
        self.path, self.stop, self.commits = path, False, 0
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        w = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        w.execute("PRAGMA journal_mode = WAL")
        while not self.stop:
            w.execute("BEGIN IMMEDIATE")
            w.execute("UPDATE instance SET polls_ok = polls_ok + 1 WHERE id = 1")
            w.execute("COMMIT")
            self.commits += 1
            time.sleep(0.005)
        w.close()

    def end(self):
        self.stop = True
        self.t.join()


def restarts(path, out, pin):
    """Steps and restarts of a 64-page backup of path while a writer runs."""
    w = Writer(path)
    time.sleep(0.2)
    src = sqlite3.connect("file:%s?mode=ro" % path, uri=True, isolation_level=None)
    if pin:
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchall()
    if os.path.exists(out):
        os.unlink(out)
    dst = sqlite3.connect(out)
    rem = []
    src.backup(dst, pages=64, progress=lambda s, r, t: rem.append(r), sleep=0.001)
    w.end()
    src.close()
    dst.close()
    return len(rem), sum(1 for a, b in zip(rem, rem[1:]) if b > a)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--instances", type=int, default=200)
    ap.add_argument("--clients", type=int, default=60000)
    ap.add_argument("--hours", type=int, default=48)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    tool = os.path.join(os.path.abspath(a.build), "sslhist")
    d = tempfile.mkdtemp(prefix="sslhist-multidb-bench-")
    try:
        one = os.path.join(d, "a.db")
        two = os.path.join(d, "b.db")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_history.py"), one,
                        "--instances", str(a.instances), "--clients", str(a.clients),
                        "--hours", str(a.hours)], check=True)
        shutil.copyfile(one, two)
        print("history: %d instances, %d clients, %d hours, %.1f MiB per file"
              % (a.instances, a.clients, a.hours, os.path.getsize(one) / 2**20))
        for cmd in (["report"], ["clients", "--format", "json"],
                    ["instances", "--format", "json"]):
            t1 = timed([tool, "--db", one] + cmd, a.runs)
            t2 = timed([tool, "--db", one, "--db", two] + cmd, a.runs)
            print("%-26s CPU: one %.3f s   two merged %.3f s   ratio %.2f"
                  % (" ".join(cmd), t1, t2, t2 / t1))
        w = Writer(one)
        t = timed([tool, "--db", one, "snapshot", "--to", os.path.join(d, "snap.db"),
                   "--force"], a.runs)
        w.end()
        print("snapshot while a writer commits every 5 ms: %.3f s CPU (%d commits meanwhile)"
              % (t, w.commits))
        for pin in (True, False):
            steps, n = restarts(one, os.path.join(d, "py.db"), pin)
            print("backup in 64-page steps, %-28s %4d steps, %3d restarts"
                  % ("read transaction held:" if pin else "no read transaction:", steps, n))
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
