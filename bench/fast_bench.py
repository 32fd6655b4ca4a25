#!/usr/bin/env python3
"""What fast polling costs the monitored server (issue 12). Prints figures,
asserts nothing.

One PostgreSQL 15 server with TLS from a private CA and SESSIONS idle psql
sessions (the harness of the integration tests), polled by sslhistd over
verify-full with interval 30s, fast_interval 1s, fast_for 10m. Two windows of
SECONDS each, one after the other:
  baseline  no miss yet: the instance is polled every 30 s (at most one poll
            in the window); the server's CPU is its background
  fast      after a burst of 5 short psql sessions the polls counted missed:
            the instance is polled every second
CPU per fast poll = (server CPU in the fast window - the baseline's CPU over
the same time) / fast polls stored in the window. Server CPU is that of every
process of the server (postmaster, children, reaped children), read from
/proc as bench/perf_bench.py does; the background processes make it noisy,
so the CPU of the daemon's own backend (the process that answers the polls)
per fast poll is printed too: the direct cost. What fast_interval=1s costs
per hour is 3600 x either; the daemon's own CPU per fast poll is printed too.

usage: SSLHIST_BIN=build python3 bench/fast_bench.py [--sessions 20] [--seconds 30]
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness as h  # noqa: E402
from perf_bench import cpu_ns, servers_cpu_ns  # noqa: E402


def fast_polls(d):
    return d.query1("SELECT coalesce(sum(fast_polls), 0) FROM coverage") or 0


def polls(d):
    return d.query1("SELECT coalesce(sum(polls), 0) FROM coverage") or 0


def own_backends(srv):
    """The server processes of the daemon's sessions (role `monitor`, which
    only the daemon uses here), found from their process titles: asking the
    server would be one more session, counted missed."""
    pids = []
    for p in h._children(srv.postmaster_pid()):
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                if f.read().startswith(b"postgres: monitor "):
                    pids.append(p)
        except OSError:
            pass
    return pids


def window(d, srv, seconds):
    """(server CPU ns, daemon CPU ns, polls, fast polls, seconds, CPU ns of
    the daemon's backend) over one window."""
    own = own_backends(srv)
    s0, c0, p0, f0, t0, b0 = (servers_cpu_ns([srv]), cpu_ns(d.proc.pid), polls(d),
                              fast_polls(d), time.monotonic(), sum(map(cpu_ns, own)))
    time.sleep(seconds)     # the benchmark's window, not a wait for a condition
    # Let the last poll of the window reach the store (visible within 1 s).
    time.sleep(1.2)
    return (servers_cpu_ns([srv]) - s0, cpu_ns(d.proc.pid) - c0, polls(d) - p0,
            fast_polls(d) - f0, time.monotonic() - t0, sum(map(cpu_ns, own)) - b0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()
    ca = h.CA("ca1")
    srv = h.PgServer(ssl=True, ca=ca, name="fast")
    sessions = [h.Session(srv, "app%d" % (1 + i % 3), "appdb",
                          "require" if i % 2 else "disable", "bench-%d" % (i % 10))
                for i in range(a.sessions)]
    h.wait_all_visible(sessions, 60)
    cfg = {"sslhistd": {"interval": "30s", "fast_interval": "1s", "fast_for": "10m",
                        "log_level": "info"},
           "cluster fast": h.cluster_for(srv)}
    d = h.Daemon(cfg).start()
    try:
        d.wait_polls("fast", 1, timeout=30)
        base = window(d, srv, a.seconds)
        log0 = len(d.log_text())
        h.burst(srv, n=5, user="app2", dbname="appdb", sslmode="disable",
                application_name="burst", hold_ms=30, parallel=1)
        d.wait(lambda: "fast polling: " in d.log_text()[log0:], 40, "fast mode")
        fast = window(d, srv, a.seconds)
        d.stop()
    finally:
        if d.alive():
            d.stop()
    base_rate = base[0] / base[4]                   # ns of server CPU per second
    extra = fast[0] - base_rate * fast[4]
    per_poll_us = extra / max(fast[3], 1) / 1000
    print("server: PostgreSQL 15, TLS, %d idle sessions; interval 30s, fast_interval 1s"
          % a.sessions)
    print("| window | seconds | polls | fast polls | server CPU ms | server CPU ms/s | "
          "daemon CPU ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, w in (("baseline (interval 30s)", base), ("fast (every 1 s)", fast)):
        print("| %s | %.1f | %d | %d | %.1f | %.2f | %.1f |"
              % (name, w[4], w[2], w[3], w[0] / 1e6, w[0] / 1e6 / w[4], w[1] / 1e6))
    print("server CPU per fast poll: %.0f us (fast window less the baseline's rate)"
          % per_poll_us)
    print("of which the daemon's backend: %.0f us per fast poll (its own process)"
          % (fast[5] / max(fast[3], 1) / 1000))
    print("daemon CPU per fast poll: %.0f us" % (fast[1] / max(fast[3], 1) / 1000))
    backend_us = fast[5] / max(fast[3], 1) / 1000
    for what, us in (("the daemon's backend", backend_us), ("the whole server", per_poll_us)):
        print("fast_interval=1s costs %s %.2f CPU s per hour (3600 x %.0f us); "
              "interval=30s: %.3f s per hour (120 polls)"
              % (what, 3600 * us / 1e6, us, 120 * us / 1e6))
    print("ratio: server CPU rate fast / baseline %.2fx"
          % ((fast[0] / fast[4]) / max(base_rate, 1)))
    h.cleanup()


if __name__ == "__main__":
    main()
