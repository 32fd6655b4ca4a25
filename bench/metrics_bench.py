#!/usr/bin/env python3
"""Benchmark of GET /metrics for a fleet of 2,000 instances: the daemon CPU
one scrape costs (goal: under 50 ms). Prints figures; asserts nothing.

Two measurements, each said in the output:
 1. unit-level (bench/metrics_bench.c, built here against the build's
    libraries): a registry filled through the poll path's own entry point
    with 2,000 successful polls (6 clients over 3 (ssl, TLS version) pairs,
    a certificate, missed sessions each: 8 series per instance), rendered
    200 times; process CPU per render, against the baseline of copying the
    same bytes, measured in the same run.
 2. the real daemon, end to end (evhttp, HTTP parsing, the socket): sslhistd
    with 2,000 instances on 200 clusters, every one at 127.0.x.y on a port
    where nothing listens, so each fails fast and then backs off (no server
    load; 4 series per instance: up, polls, failures, missed). Its CPU
    (/proc/PID/stat utime+stime) over K scrapes, less its CPU over the
    same wall time without scrapes (the baseline: the failing polls'
    retries), divided by K.

usage: SSLHIST_BIN=build python3 bench/metrics_bench.py [instances] [scrapes]
"""
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
import harness as h  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TICK = os.sysconf("SC_CLK_TCK")


def build_unit(build):
    out = os.path.join(build, "metrics-bench")
    libs = subprocess.run(["pkg-config", "--libs", "libpq", "sqlite3", "libsystemd",
                           "openssl", "inih", "libevent"], check=True,
                          stdout=subprocess.PIPE, text=True).stdout.split()
    inc = subprocess.run(["pg_config", "--includedir"], stdout=subprocess.PIPE,
                         text=True).stdout.strip() or "/usr/include/postgresql"
    cmd = ["cc", "-std=c11", "-O2", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror",
           "-I" + os.path.join(ROOT, "daemon"), "-I" + os.path.join(ROOT, "lib"), "-I" + inc,
           "-o", out, os.path.join(ROOT, "bench", "metrics_bench.c"),
           os.path.join(build, "libsslhistd_core.a"), os.path.join(build, "libsslhist_lib.a")]
    subprocess.run(cmd + libs, check=True)
    return out


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return r.read()


def daemon_level(n, scrapes):
    port = h.free_port()
    dead = h.free_port()            # nothing listens there
    cfg = {"sslhistd": {"interval": "30s", "max_backoff": "1h",
                        "metrics_listen": "127.0.0.1:%d" % port},
           "defaults": {"user": "monitor", "sslmode": "disable", "connect_timeout": "5s"}}
    for c in range(n // 10):
        cfg["cluster orders-%04d" % c] = {
            "host": "127.0.%d.%d" % (c // 250, c % 250 + 1), "port": dead,
            "instances": ",\n  ".join("127.%d.%d.%d:%d" % (1 + i, c // 250, c % 250 + 1, dead)
                                   for i in range(10))}
    d = h.Daemon(cfg, name="metrics-bench").start()
    try:
        body = h.wait_until(lambda: (lambda b: b if b.count(b"\nsslhist_instance_up{") >= n
                                     else None)(scrape(port)), 120,
                            "%d instances in a scrape" % n, 0.5)
        time.sleep(5)               # past the first retries (backoff 1 s, 2 s, 4 s)
        idle = work = 0.0
        wall = 0.0
        for _ in range(3):          # alternate, so a drift in the retries cancels
            t0, c0 = time.monotonic(), cpu_s(d.proc.pid)
            for _ in range(scrapes // 3):
                body = scrape(port)
            wall_k = time.monotonic() - t0
            work += cpu_s(d.proc.pid) - c0
            c0 = cpu_s(d.proc.pid)
            time.sleep(wall_k)
            idle += cpu_s(d.proc.pid) - c0
            wall += wall_k
        k = 3 * (scrapes // 3)
        per = (work - idle) / k * 1000
        print("\ndaemon-level (real sslhistd, %d failing instances, %d series, %d bytes):"
              % (n, body.count(b"\n") - body.count(b"\n#"), len(body)))
        print("  CPU during %d scrapes %.0f ms, same wall time without scrapes %.0f ms"
              " (wall %.2f s)" % (k, work * 1000, idle * 1000, wall))
        print("  => %.2f ms daemon CPU per scrape (clock tick %.0f ms, so +-%.1f ms)"
              % (per, 1000 / TICK, 2 * 1000 / TICK / k * 3))
        return per
    finally:
        d.stop(within=10)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    scrapes = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    build = os.environ.get("SSLHIST_BIN", os.path.join(ROOT, "build"))
    print("command: SSLHIST_BIN=%s python3 bench/metrics_bench.py %d %d" % (build, n, scrapes))
    exe = build_unit(build)
    out = subprocess.run([exe, str(n), "200"], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    print(out, end="")
    per = daemon_level(n, scrapes)
    print("\ngoal: under 50 ms of daemon CPU per scrape of %d instances: %s"
          % (n, "met" if per < 50 else "NOT met"))
    h.cleanup()


if __name__ == "__main__":
    h.require_root()
    main()
