#!/usr/bin/env python3
"""Benchmark of sslhistd's polling: polls per second, CPU per poll and the
size of the database after a steady run. Prints figures; asserts nothing.

Setup (the integration tests' harness): 3 PostgreSQL 15 servers (TLS from
CA1, TLS from CA2, no TLS) with 30 idle psql clients each, and C clusters
per server (each cluster one instance: C * 3 persistent connections), all
polled at INTERVAL. The baseline, measured in the same run, is the CPU the
servers' backends spend answering the same polls, so the figure reads as
"the daemon costs X times what the servers pay per poll".

usage: SSLHIST_BIN=build python3 bench/poll_bench.py [clusters_per_server] [seconds] [interval]
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
import harness as h  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def backends_cpu(servers):
    total = 0.0
    for s in servers:
        for (pid,) in s.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'sslhistd'"):
            try:
                total += cpu_s(int(pid))
            except (OSError, ValueError):
                pass
    return total


def db_bytes(path):
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def main():
    per = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 20
    interval = sys.argv[3] if len(sys.argv) > 3 else "1s"
    ca1, ca2 = h.CA("ca1"), h.CA("ca2")
    servers = [h.PgServer(ssl=True, ca=ca1, name="tls1"),
               h.PgServer(ssl=True, ca=ca2, name="tls2"),
               h.PgServer(ssl=False, name="plain")]
    sessions = []
    for s in servers:
        for i in range(30):
            mode = "require" if s.ssl and i % 2 else "disable"
            sessions.append(h.Session(s, "app%d" % (1 + i % 3), "appdb", mode,
                                      "bench-%s-%d" % (s.name, i % 10)))
    h.wait_all_visible(sessions, 60)
    cfg = {"sslhistd": {"interval": interval, "log_level": "warning"}}
    for s in servers:
        for k in range(per):
            cfg["cluster %s-%d" % (s.name, k)] = h.cluster_for(s)
    d = h.Daemon(cfg).start()
    try:
        d.wait(lambda: d.query1("SELECT count(*) FROM instance WHERE consecutive_failures = 0 "
                                "AND last_success IS NOT NULL") == 3 * per, 60,
               "every instance polled")
        polls0 = d.query1("SELECT sum(polls) FROM coverage")
        cpu0, srv0, t0 = cpu_s(d.proc.pid), backends_cpu(servers), time.monotonic()
        size_mid = None
        while time.monotonic() - t0 < secs:
            time.sleep(0.5)     # a benchmark's sampling period, not a wait
            if size_mid is None and time.monotonic() - t0 >= secs / 2:
                size_mid = db_bytes(d.db)
                polls_mid = d.query1("SELECT sum(polls) FROM coverage")
        polls1 = d.query1("SELECT sum(polls) FROM coverage")
        cpu1, srv1, t1 = cpu_s(d.proc.pid), backends_cpu(servers), time.monotonic()
        failed = d.query1("SELECT sum(failed_polls) FROM coverage")
        size_end = db_bytes(d.db)
        main_only = os.path.getsize(d.db)
        rc, _ = d.stop()
    finally:
        if d.alive():
            d.stop()
    polls = polls1 - polls0
    print("instances            %d (%d clusters x 3 servers), interval %s, %d clients"
          % (3 * per, per, interval, len(sessions)))
    print("run                  %.1f s, %d polls, %d failed" % (t1 - t0, polls, failed))
    print("polls per second     %.1f" % (polls / (t1 - t0)))
    print("daemon CPU           %.3f s = %.1f%% of one core"
          % (cpu1 - cpu0, 100 * (cpu1 - cpu0) / (t1 - t0)))
    print("daemon CPU per poll  %.1f us" % (1e6 * (cpu1 - cpu0) / max(polls, 1)))
    print("server CPU per poll  %.1f us (baseline: the backends answering the polls)"
          % (1e6 * (srv1 - srv0) / max(polls, 1)))
    print("ratio daemon/server  %.2f" % ((cpu1 - cpu0) / max(srv1 - srv0, 1e-9)))
    print("database size        %d bytes main file; main+WAL %d at half-time, %d at the end"
          % (main_only, size_mid, size_end))
    print("                     (%d polls between the two sizes; growth %d bytes)"
          % (polls1 - polls_mid, size_end - size_mid))
    print("exit code            %d" % rc)
    h.cleanup()


if __name__ == "__main__":
    main()
