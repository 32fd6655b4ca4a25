#!/usr/bin/env python3
"""Benchmark of a large configuration: how long sslhistd takes to load and
check it, and to start (READY=1 on a real NOTIFY_SOCKET, then the first
sweep: its first connection, and every instance's first connection). Prints
figures; asserts nothing.

The configuration has N clusters (default 500): a third each with the host
itself, with two listed instances, and with `instances = discover`, every
one at 127.0.0.1 on a listener that accepts and never answers (harness
Blackhole), so connections count without any server work. The baseline,
measured in the same run, is a one-cluster configuration: the ratios say
what the N clusters cost over the fixed cost of a start.

usage: SSLHIST_BIN=build python3 bench/config_bench.py [clusters] [runs]
"""
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
import harness as h  # noqa: E402
import sdsock  # noqa: E402


def config(n, port):
    cfg = {"sslhistd": {"interval": "30s", "connect_timeout": "30s"},
           "defaults": {"host": "127.0.0.1", "port": port, "user": "monitor",
                        "sslmode": "disable"}}
    for i in range(n):
        kind = i % 3
        c = {}
        if kind == 1:
            c["instances"] = "127.0.0.1:%d, localhost:%d" % (port, port)
        elif kind == 2:
            c["instances"] = "discover"
        cfg["cluster c%04d" % i] = c
    return cfg


def instances_of(n):
    """Connections one sweep makes: 1 + 2 + 1 (the discovery) per 3 clusters."""
    return sum((1, 2, 1)[i % 3] for i in range(n))


def timed(argv, env):
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (argv, r.returncode, r.stderr))
    return time.monotonic() - t0


def start_once(d, hole, expect, fresh):
    """One start: seconds to READY=1, to the first accepted connection and
    to `expect` connections; then SIGTERM."""
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(d.db + suffix)
            except FileNotFoundError:
                pass
    n = sdsock.NotifySocket()
    base = len(hole.accepted)
    t0 = time.monotonic()
    d.start(env=n.env())
    ready = d.wait(lambda: n.times("READY=1"), 30, "READY=1")[0] - t0
    d.wait(lambda: len(hole.accepted) >= base + expect, 60, "%d connections" % expect)
    times = sorted(a[0] for a in hole.accepted[base:])
    d.stop(within=5)
    return ready, times[0] - t0, times[expect - 1] - t0


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    h.require_root()
    hole = h.Blackhole()
    env = h._clean_env()
    rows = []
    for label, clusters in (("baseline: 1 cluster", 1), ("%d clusters" % n, n)):
        d = h.Daemon(config(clusters, hole.port))
        check = statistics.median(timed(d.argv("--check"), env) for _ in range(runs))
        expect = instances_of(clusters)
        fresh = [start_once(d, hole, expect, True) for _ in range(runs)]
        again = [start_once(d, hole, expect, False) for _ in range(runs)]
        rows.append((label, expect, check, [statistics.median(x) for x in zip(*fresh)],
                     [statistics.median(x) for x in zip(*again)]))
    print("sslhistd start-up, median of %d runs (seconds, wall clock, process start "
          "included)" % runs)
    print("%-22s %9s %8s | %-29s | %-29s" % ("", "", "", "fresh database", "existing database"))
    print("%-22s %9s %8s | %9s %9s %9s | %9s %9s %9s" % (
        "configuration", "instances", "--check", "READY=1", "1st conn", "all conn",
        "READY=1", "1st conn", "all conn"))
    for label, inst, check, f, a in rows:
        print("%-22s %9d %8.3f | %9.3f %9.3f %9.3f | %9.3f %9.3f %9.3f"
              % (label, inst, check, f[0], f[1], f[2], a[0], a[1], a[2]))
    b, big = rows[0], rows[1]
    print("ratio %d clusters / baseline: --check %.2f, READY=1 %.2f (fresh) %.2f (existing)"
          % (n, big[2] / b[2], big[3][0] / b[3][0], big[4][0] / b[4][0]))
    print("(\"all conn\" includes the deliberate start-up spread: each instance's first "
          "attempt waits a random 0-1 s)")
    h.cleanup()


if __name__ == "__main__":
    main()
