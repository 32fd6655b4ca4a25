#!/usr/bin/env python3
"""Benchmark of the query tool (sslhist) over generated histories.

Generates (gen_history.py) a database of 2,000 instances with 200,000
clients and one with 20,000 clients, then times `sslhist report` (table,
json) and `sslhist clients` (table, json, csv) on each, printing the wall
time and the maximum RSS of every run (from wait4), and the RSS ratio
200k/20k per command: memory must not grow with the number of clients.
The goal for `report` on 200k clients is under one second.

usage: bench/cli_bench.py [--bin BUILD_DIR] [--dir WORKDIR] [--runs 3]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

COMMANDS = [
    ("report table", ["report"]),
    ("report json", ["report", "--format", "json"]),
    ("clients table", ["clients"]),
    ("clients json", ["clients", "--format", "json"]),
    ("clients csv", ["clients", "--format", "csv"]),
    ("instances json", ["instances", "--format", "json"]),
    ("alerts json", ["alerts", "--format", "json"]),
]


def generate(path, clients, instances):
    if os.path.exists(path):
        return
    t0 = time.monotonic()
    subprocess.run([sys.executable, os.path.join(HERE, "gen_history.py"), path,
                    "--instances", str(instances), "--clients", str(clients)], check=True)
    print("generated %s (%d instances, %d clients) in %.1f s, %.1f MB"
          % (path, instances, clients, time.monotonic() - t0,
             os.path.getsize(path) / 1e6), flush=True)


def run_once(argv):
    """Wall seconds, max RSS (KiB) and output bytes of one run.

    The RSS comes from GNU time: a child forked by Python would report
    Python's own high-water mark (ru_maxrss survives exec)."""
    with tempfile.NamedTemporaryFile("r") as tf:
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", tf.name] + argv,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        size = 0
        while True:
            chunk = p.stdout.read(1 << 16)
            if not chunk:
                break
            size += len(chunk)
        err = p.stderr.read()
        p.wait()
        wall = time.monotonic() - t0
        if p.returncode not in (0, 3):
            raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode,
                                                    err.decode()))
        rss = int(tf.read().split()[-1])
    return wall, rss, size


def bench(binary, db, runs):
    results = {}
    for name, args in COMMANDS:
        best = None
        for _ in range(runs):
            r = run_once([binary, "--db", db] + args)
            if best is None or r[0] < best[0]:
                best = (r[0], max(r[1], best[1] if best else 0), r[2])
        results[name] = best
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--dir", default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--instances", type=int, default=2000)
    a = ap.parse_args()
    binary = os.path.join(os.path.abspath(a.bin), "sslhist")
    work = a.dir or tempfile.mkdtemp(prefix="sslhist-bench-")
    os.makedirs(work, exist_ok=True)
    sizes = [20000, 200000]
    res = {}
    for n in sizes:
        db = os.path.join(work, "history-%d.db" % n)
        generate(db, n, a.instances)
        res[n] = bench(binary, db, a.runs)
    print("\n%-16s %10s %10s %12s %10s %10s %12s %9s"
          % ("command", "20k s", "20k RSS", "20k out", "200k s", "200k RSS", "200k out",
             "RSS ratio"))
    for name, _ in COMMANDS:
        s, l = res[sizes[0]][name], res[sizes[1]][name]
        print("%-16s %10.3f %8d K %10.1f M %10.3f %8d K %10.1f M %9.2f"
              % (name, s[0], s[1], s[2] / 1e6, l[0], l[1], l[2] / 1e6, l[1] / s[1]))
    # prune on a copy: half of the clients were last seen over 30 days ago.
    for n in sizes:
        src = os.path.join(work, "history-%d.db" % n)
        dst = os.path.join(work, "prune-%d.db" % n)
        shutil.copy(src, dst)
        wall, rss, _ = run_once([binary, "--db", dst, "prune", "--older-than", "30d"])
        out = subprocess.run([binary, "--db", dst, "clients", "--format", "csv"],
                             stdout=subprocess.PIPE, check=True).stdout.count(b"\n") - 1
        print("prune --older-than 30d over %d clients: %.3f s, %d K RSS, %d clients left"
              % (n, wall, rss, out))
        os.unlink(dst)
    rep = res[sizes[1]]["report table"][0]
    print("\nreport over %d clients: %.3f s (goal < 1 s): %s"
          % (sizes[1], rep, "ok" if rep < 1.0 else "SLOW"))
    print("databases kept in %s" % work)


if __name__ == "__main__":
    main()
