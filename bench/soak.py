#!/usr/bin/env python3
"""Soak of sslhistd: a large fleet at a short interval for a long time, with
application sessions coming and going all the while. Prints the daemon's
resident memory and open descriptors every minute; asserts nothing, but
ends by listing every failed poll (none was caused on purpose, so any is a
finding) and exits 1 if there was one or the daemon died.

Setup (the integration tests' harness): 4 PostgreSQL 15 servers (TLS from
CA1 twice, TLS from CA2, no TLS), INSTANCES/4 clusters per server (each
cluster one instance with its own persistent connection), all polled at
INTERVAL with the default jitter. A churn thread per server keeps about 10
psql sessions open, closes a random one and opens a new one (random user,
application name out of 40, SSL or not) every 0.5 s, and makes a
short-lived connection every 2 s: sessions start and end between polls,
the set of clients stays bounded, so memory after warm-up must be flat.

usage: SSLHIST_BIN=build python3 bench/soak.py [instances] [seconds] [interval]
       (defaults 200 600 100ms)
"""
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
import harness as h  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
SEED = int(os.environ.get("SSLHIST_SOAK_SEED", "8"))


def proc_figures(pid):
    """(RSS KiB, open descriptors, CPU seconds) of a process, from /proc."""
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return rss, fds, (int(fields[11]) + int(fields[12])) / CLK


class Churn:
    """Sessions on one server that come and go (see the module text)."""

    def __init__(self, server, rnd):
        self.server, self.rnd = server, rnd
        self.live = []
        self.opened = self.short = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open_one(self):
        mode = "require" if self.server.ssl and self.rnd.random() < 0.7 else "disable"
        app = "soak-app-%d" % self.rnd.randrange(40)
        user = self.rnd.choice(("app1", "app2", "app3"))
        self.live.append(h.Session(self.server, user, "appdb", mode, app))
        self.opened += 1

    def run(self):
        tick = 0
        while not self.stop.is_set():
            while len(self.live) < 10:
                self.open_one()
            victim = self.live.pop(self.rnd.randrange(len(self.live)))
            victim.close()
            tick += 1
            if tick % 4 == 0:
                subprocess.run(["psql", "-X", "-q", "-A", "-t",
                                self.server.conninfo(user="app2", application_name="soak-short"),
                                "-c", "SELECT 1"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=h._clean_env(), timeout=30)
                self.short += 1
            self.stop.wait(0.5)     # the churn's pace, not a wait for a condition
        for s in self.live:
            s.close()


def totals(d):
    r = d.query("SELECT coalesce(sum(polls), 0) AS p, coalesce(sum(failed_polls), 0) AS f "
                "FROM coverage")[0]
    return r["p"], r["f"], d.query1("SELECT count(*) FROM client")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 600
    interval = sys.argv[3] if len(sys.argv) > 3 else "100ms"
    rnd = random.Random(SEED)
    ca1, ca2 = h.CA("ca1"), h.CA("ca2")
    conf = {"max_connections": 300}
    servers = [h.PgServer(ssl=True, ca=ca1, name="tls1", conf=conf),
               h.PgServer(ssl=True, ca=ca1, name="tls2", conf=conf),
               h.PgServer(ssl=True, ca=ca2, name="tls3", conf=conf),
               h.PgServer(ssl=False, name="plain", conf=conf)]
    cfg = {"sslhistd": {"interval": interval, "log_level": "warning"}}
    for i in range(n):
        s = servers[i % len(servers)]
        cfg["cluster soak-%03d" % i] = h.cluster_for(s)
    churn = [Churn(s, random.Random(rnd.random())) for s in servers]
    for c in churn:
        c.thread.start()
    d = h.Daemon(cfg, name="soak").start()
    ok = True
    try:
        d.wait(lambda: d.query1("SELECT count(*) FROM instance WHERE last_success IS NOT "
                                "NULL") == n, 120, "every instance polled once")
        t0 = time.monotonic()
        print("soak: %d instances on %d servers, interval %s, %.0f s, seed %d"
              % (n, len(servers), interval, secs, SEED), flush=True)
        print("%6s %9s %5s %9s %7s %9s %7s %8s %9s" % (
            "minute", "RSS KiB", "fds", "polls", "failed", "polls/s", "CPU %", "clients",
            "db bytes"), flush=True)
        last_p, last_cpu, last_t = totals(d)[0], proc_figures(d.proc.pid)[2], t0
        minute = 0
        while True:
            d.assert_alive()
            now = time.monotonic()
            if now - t0 >= 60 * minute or now - t0 >= secs:
                rss, fds, cpu = proc_figures(d.proc.pid)
                p, f, clients = totals(d)
                dt = max(now - last_t, 1e-9)
                size = sum(os.path.getsize(x) for x in (d.db, d.db + "-wal")
                           if os.path.exists(x))
                print("%6d %9d %5d %9d %7d %9.1f %7.1f %8d %9d" % (
                    minute, rss, fds, p, f, (p - last_p) / dt, 100 * (cpu - last_cpu) / dt,
                    clients, size), flush=True)
                last_p, last_cpu, last_t = p, cpu, now
                if now - t0 >= secs:
                    break
                minute += 1
            time.sleep(1)       # the sampling period of a soak, not a wait
        for c in churn:
            c.stop.set()
        for c in churn:
            c.thread.join(60)
        p, f, clients = totals(d)
        print("sessions opened by the churn: %d held, %d short-lived"
              % (sum(c.opened for c in churn), sum(c.short for c in churn)))
        if f:
            ok = False
            print("FAILED POLLS: %d" % f)
            for r in d.query("SELECT cluster, host, port, last_error, last_error_at FROM "
                             "instance WHERE last_error IS NOT NULL"):
                print("  %s %s:%s at %s: %s" % (r["cluster"], r["host"], r["port"],
                                                r["last_error_at"], r["last_error"]))
        else:
            print("failed polls: 0")
        rc, took = d.stop()
        print("daemon exit %d after SIGTERM in %.2f s" % (rc, took))
        ok = ok and rc == 0
    except AssertionError as e:
        print("SOAK ABORTED: %s" % e)
        ok = False
    finally:
        for c in churn:
            c.stop.set()
        if d.alive():
            d.stop()
        h.cleanup()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
