#!/usr/bin/env python3
"""Memory of a fleet under sslmode=verify-full (issue 13, goal 1). Prints
figures; asserts nothing.

For each fleet size (200 and 2,000 instances by default: cluster entries
spread over SERVERS local PostgreSQL 15 servers, many connections per
server) and each trust store:
  one CA   sslrootcert = the servers' CA alone;
  bundle   sslrootcert = a generated 121-certificate bundle (120 unrelated
           roots, RSA 2048 / RSA 4096 / EC P-384, 168 KB of PEM, like AWS's
           global-bundle.pem; tests/integration/bundle.py) holding that CA,
the daemon runs twice in the same run: as it was before issue 13 (the
hidden environment variable SSLHIST_BENCH_KEEP_TRUST=1 keeps each
connection's trust store and skips trust pinning, daemon/tlstrust.c) and
as it is. Figures: time from the start until every instance has a
successful poll, peak RSS (VmHWM) and RSS once the janitor's malloc_trim
has run (VmRSS after 32 s and two sweeps), per instance, against the goal
16 MB + 64 KB per instance, the daemon's CPU until the first sweep, and
how long SIGTERM takes to end it.

usage: python3 bench/fleet_mem.py [--build build] [--instances 200,2000]
       [--servers 4] [--sessions 20] [--only one,bundle]
"""
import argparse
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402
import bundle  # noqa: E402
from perf_bench import (Fixture, LimitedDaemon, cpu_ns, daemon_cfg, q1,  # noqa: E402
                        rss_kb, wait_first_sweep)

TRIM_AFTER_S = 32       # the janitor's malloc_trim runs 30 s after the start
SWEEP_LIMIT_S = 180


def ok_instances(db):
    return q1(db, "SELECT count(*) FROM instance WHERE last_success IS NOT NULL")


def fleet_clusters(fix, n_inst, rootcert):
    per = (n_inst + len(fix.servers) - 1) // len(fix.servers)
    clusters, k = {}, 0
    for s in fix.servers:
        for i in range(per):
            if k == n_inst:
                break
            clusters["cluster m%d-%d" % (s.port, i)] = h.cluster_for(
                s, dbname=("postgres", "appdb")[i % 2], sslrootcert=rootcert)
            k += 1
    return clusters


def run_one(fix, n_inst, rootcert, keep):
    cfg = daemon_cfg(fix, "10s", fleet_clusters(fix, n_inst, rootcert), connect_timeout="30s")
    d = LimitedDaemon(cfg)
    d.start(env={"SSLHIST_BENCH_KEEP_TRUST": "1"} if keep else {})
    r = {"stop": None}
    try:
        sweep = wait_first_sweep(d, n_inst, SWEEP_LIMIT_S)
        r["sweep"], r["cpu"] = sweep, cpu_ns(d.proc.pid) / 1e9
        polls0 = q1(d.db, "SELECT coalesce(sum(polls), 0) FROM coverage")
        # Steady state: malloc_trim has run and every instance polled again
        # (or, for a fleet that never got there, the limit).
        limit = time.monotonic() + SWEEP_LIMIT_S
        while (time.monotonic() < limit and
               (time.monotonic() - d.started_at < TRIM_AFTER_S or
                q1(d.db, "SELECT coalesce(sum(polls), 0) FROM coverage") < polls0 + n_inst)):
            d.assert_alive()
            time.sleep(0.2)     # the bench's sampling period
        r["ok"] = ok_instances(d.db)
        r["peak"], r["rss"] = rss_kb(d.proc.pid, "VmHWM"), rss_kb(d.proc.pid, "VmRSS")
        r["failed"] = q1(d.db, "SELECT coalesce(sum(failed_polls), 0) FROM coverage")
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.wait(60)
            r["stop"] = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            pass
    finally:
        if d.alive():
            d.proc.kill()
            d.proc.wait()
    return r


def build_connmem(build):
    """bench/connmem.c, the floor without the daemon; None if no compiler."""
    out = os.path.join(build, "bench-connmem")
    inc = subprocess.run(["pg_config", "--includedir"], capture_output=True,
                         text=True).stdout.strip() or "/usr/include/postgresql"
    r = subprocess.run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I" + inc,
                        "-o", out, os.path.join(HERE, "connmem.c"), "-lpq", "-lssl",
                        "-lcrypto"], capture_output=True, text=True)
    if r.returncode != 0:
        print("connmem not built: %s" % r.stderr.strip())
        return None
    return out


def floor_rows(connmem, fix, n, stores):
    """KB per connection of plain libpq connections (no daemon), as
    (heap, RSS), per trust store and mode."""
    rows = []
    for kind, (rootcert, label) in stores.items():
        infos = [fix.conninfo(s).replace(fix.ca.cert, rootcert) for s in fix.servers]
        for mode, what in ((0, "libpq as is"), (1, "+ release buffers"),
                           (2, "+ store dropped")):
            r = subprocess.run([connmem, str(n), str(mode)] + infos, capture_output=True,
                               text=True, env=h._clean_env(), timeout=600)
            rows.append((label, what, r.stdout.strip() or r.stderr.strip()))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("SSLHIST_BIN", "build"))
    ap.add_argument("--instances", default="200,2000")
    ap.add_argument("--servers", type=int, default=4)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--only", default="one,bundle")
    a = ap.parse_args()
    os.environ["SSLHIST_BIN"] = os.path.abspath(a.build)
    h.require_root()
    t_start = time.monotonic()
    roots = bundle.unrelated_roots(120)
    print("| instances | sslrootcert | daemon | all ok after s | daemon CPU until then s "
          "| peak RSS KB | RSS KB (steady) | RSS/instance KB | (RSS-16 MB)/instance KB "
          "| goal KB | instances ok | failed polls | SIGTERM to exit s |")
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    sys.stdout.flush()
    for n_inst in [int(x) for x in a.instances.split(",")]:
        per = (n_inst + a.servers - 1) // a.servers
        fix = Fixture(a.servers, per + a.sessions + 30, name="mem%d" % n_inst)
        fix.grow_sessions(a.sessions)
        path = bundle.write_bundle(os.path.join(h.subdir("bundle-%d" % n_inst), "bundle.pem"),
                                   [fix.ca], roots=roots)
        stores = {"one": (fix.ca.cert, "one CA"), "bundle": (path, "121-cert bundle")}
        goal = 16 * 1024 + 64 * n_inst
        connmem = build_connmem(a.build)
        if connmem:
            # The floor: libpq connections without the daemon, as many as
            # the fleet's, over the same servers (no daemon running).
            for label, what, fig in floor_rows(connmem, fix, min(n_inst, 200),
                                               {k: stores[k] for k in a.only.split(",")}):
                print("| %d | %s | floor: bench/connmem.c, %s | - | - | - | - | "
                      "heap/RSS per connection: %s KB | - | %d | - | - | - |"
                      % (n_inst, label, what, fig.replace(" ", " / "), goal))
            sys.stdout.flush()
        for kind in a.only.split(","):
            rootcert, label = stores[kind]
            for keep in (True, False):
                r = run_one(fix, n_inst, rootcert, keep)
                print("| %d | %s | %s | %s | %.2f | %d | %d | %.1f | %.1f | %d | %d | %d | %s |"
                      % (n_inst, label, "before (keeps the store)" if keep else "sslhistd",
                         "%.2f" % r["sweep"] if r["sweep"] is not None
                         else "> %d" % SWEEP_LIMIT_S,
                         r["cpu"], r["peak"], r["rss"], r["rss"] / n_inst,
                         (r["rss"] - 16 * 1024) / n_inst, goal, r["ok"], r["failed"],
                         "%.2f" % r["stop"] if r["stop"] is not None else "> 60 (killed)"))
                sys.stdout.flush()
        for s in fix.servers:
            s.cleanup()
    print("\nbench took %.0f s; load at the end: %s"
          % (time.monotonic() - t_start, open("/proc/loadavg").read().strip()))
    h.cleanup()


if __name__ == "__main__":
    main()
