#!/usr/bin/env python3
"""Issue 13's CPU cases, side by side in one run. Prints figures and
ratios, asserts nothing.

For each case (instances, interval): 4 servers x 20 psql sessions, the
instances as cluster entries (server, database, n) spread over them, so
several daemon connections share each server, as in the issue. In the same
run, over the same number of connections to the same servers:
  floor     bench/floor.c exec: PQexec of SPEC's query, results discarded
            (the client floor, and SPEC's query sent unprepared: the
            server's yardstick)
  prepared  bench/floor.c prepared: SPEC's query, PQexecPrepared
  sslhistd  the daemon, storage included, over a window of steady state

Figures: client CPU per poll (every thread of the process: the sum of
/proc/PID/task/*/schedstat), server CPU per poll (every process of the
servers, perf_bench.servers_cpu_ns), the ratios, the loop thread's
wake-ups (voluntary + involuntary context switches of the main thread,
/proc/PID/task/PID/status) per poll, and the store's polls per transaction
(the daemon's "store thread:" line at exit).

usage: bench/scale_bench.py [--build build] [--cases 48x1000x20,500x10000x3]
  a case is INSTANCES x INTERVAL_MS x POLLS (polls per instance measured)
"""
import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness as h  # noqa: E402
import perf_bench as pb  # noqa: E402

DBS = ("postgres", "appdb")


def task_ns(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def proc_cpu_ns(pid):
    """CPU (ns) of every thread of pid alive now."""
    total = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            total += task_ns("/proc/%d/task/%s/schedstat" % (pid, t))
    except OSError:
        pass
    return total


def switches(pid):
    """Context switches of the main (loop) thread."""
    n = 0
    try:
        with open("/proc/%d/task/%d/status" % (pid, pid)) as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    n += int(line.split()[1])
    except OSError:
        pass
    return n


def entries(fix, n_inst):
    """(server, dbname, i) for each instance, spread over the servers."""
    out = []
    for k in range(n_inst):
        s = fix.servers[k % len(fix.servers)]
        out.append((s, DBS[(k // len(fix.servers)) % 2], k))
    return out


def run_floor(fix, build, mode, ents, polls, interval_ms):
    conninfos = [s.conninfo(user="monitor", dbname=db, sslmode="verify-full",
                            sslrootcert=fix.ca.cert, application_name="perf-baseline")
                 for s, db, _ in ents]
    return pb.run_baseline([os.path.join(build, "bench-floor"), mode, str(polls),
                            str(interval_ms)] + conninfos, fix, polls, len(ents))


def run_daemon(fix, ents, polls, interval_ms):
    clusters = {"cluster c%d-%s-%d" % (s.port, db, i): h.cluster_for(s, dbname=db)
                for s, db, i in ents}
    n_inst = len(ents)
    d = pb.LimitedDaemon(pb.daemon_cfg(fix, "%dms" % interval_ms, clusters,
                                       log_level="info", connect_timeout="30s"))
    d.start()
    try:
        if pb.wait_first_sweep(d, n_inst, 120) is None:
            raise RuntimeError("no first sweep")
        target = pb.ok_polls(d.db) + 2 * n_inst
        d.wait(lambda: pb.ok_polls(d.db) >= target, 3 * interval_ms / 1000 + 30, "settled")
        pid = d.proc.pid
        p0, c0, s0, w0 = pb.ok_polls(d.db), proc_cpu_ns(pid), pb.servers_cpu_ns(
            fix.servers), switches(pid)
        target = p0 + polls * n_inst
        d.wait(lambda: pb.ok_polls(d.db) >= target, polls * interval_ms / 1000 * 2 + 30,
               "%d polls" % (polls * n_inst))
        p1, c1, s1, w1 = pb.ok_polls(d.db), proc_cpu_ns(pid), pb.servers_cpu_ns(
            fix.servers), switches(pid)
        d.stop(within=10)
    finally:
        if d.alive():
            d.stop(within=10)
    n = p1 - p0
    m = re.findall(r"store thread: (\d+) records in (\d+) transactions", d.log_text())
    per_tx = int(m[-1][0]) / max(int(m[-1][1]), 1) if m else float("nan")
    return {"client": (c1 - c0) / 1000 / n, "server": (s1 - s0) / 1000 / n,
            "wakeups_per_poll": (w1 - w0) / n, "polls_per_tx": per_tx, "polls": n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--cases", default="48x1000x20,500x10000x3")
    a = ap.parse_args()
    h.require_root()
    cases = [tuple(int(x) for x in c.split("x")) for c in a.cases.split(",")]
    most = max(c[0] for c in cases)
    fix = pb.Fixture(4, most // 4 + 60, name="scale")
    fix.grow_sessions(20)
    try:
        print("| case | floor client us/poll | sslhistd client us/poll | client / floor | "
              "SPEC unprepared server us/poll | prepared server us/poll | sslhistd server "
              "us/poll | server / unprepared | loop wake-ups per poll | polls per "
              "transaction |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for n_inst, interval_ms, polls in cases:
            ents = entries(fix, n_inst)
            h.log("case %d x %d ms: floor" % (n_inst, interval_ms))
            fl = run_floor(fix, a.build, "exec", ents, polls, interval_ms)
            h.log("case %d x %d ms: prepared" % (n_inst, interval_ms))
            pr = run_floor(fix, a.build, "prepared", ents, polls, interval_ms)
            h.log("case %d x %d ms: sslhistd" % (n_inst, interval_ms))
            dm = run_daemon(fix, ents, polls, interval_ms)
            print("| %d instances at %d ms (%d polls) | %.0f | %.0f | %.2fx | %.0f | %.0f | "
                  "%.0f | %.2fx | %.2f | %.1f |" % (
                      n_inst, interval_ms, dm["polls"], fl["client"], dm["client"],
                      dm["client"] / fl["client"], fl["server"], pr["server"], dm["server"],
                      dm["server"] / fl["server"], dm["wakeups_per_poll"],
                      dm["polls_per_tx"]))
            sys.stdout.flush()
    finally:
        for s in fix.servers:
            s.cleanup()


if __name__ == "__main__":
    main()
