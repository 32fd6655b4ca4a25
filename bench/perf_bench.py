#!/usr/bin/env python3
"""sslhist's performance benchmark (issue 7). Prints figures, asserts nothing.

Run it through bench/run.sh (installs python3-psycopg2, builds, runs this).
Uses the integration tests' harness: real PostgreSQL 15 servers with TLS
from a private CA, real psql sessions, the real daemon.

Cases (every poller over the SAME servers and sessions, the SAME number of
polls at the same interval, run one after the other, each REPEATS times):
  4 servers x 20 sessions, 4 servers x 200 sessions:
    floor      bench/floor.c: PQexec of the SPEC query, results discarded
    prepared   bench/floor.c: PQprepare once, PQexecPrepared
    ours       bench/floor.c: sslhistd's poll query as the daemon sends it
               (prepared, binary results), results discarded
    psycopg2   bench/psycopg_poller.py: SQLite upsert of every row
    sslhistd   the daemon, storage included
  fleet: FLEET instance entries (a cluster per (server, dbname, n)) over
    FLEET_SERVERS servers, polled every 10 s: CPU % of one core, RSS, time
    from start to the first complete sweep.
  isolation: ISO_N instances polled every 1 s, plus one behind a 2 s
    DelayProxy and one blackholed: worst deviation of the others' poll
    start times from their schedule, against the configured jitter.

CPU is read from /proc/PID/schedstat (time on CPU, user + system, in ns; the
same quantity as utime+stime of /proc/PID/stat without its 10 ms ticks).
Server CPU is that of every process of the servers: the postmaster, every
child, and the children it reaped in the window (cutime+cstime).
"""
import argparse
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness as h  # noqa: E402
import netfault  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


# ---- measuring ------------------------------------------------------------

def cpu_ns(pid):
    """Time on CPU of one process (ns), 0 if it is gone."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def reaped_ns(pid):
    """cutime + cstime of pid: CPU of its children that exited and were reaped."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) * 1_000_000_000 // CLK
    except (OSError, ValueError, IndexError):
        return 0


def servers_cpu_ns(servers):
    total = 0
    for s in servers:
        pm = s.postmaster_pid()
        for p in [pm] + h._children(pm):
            total += cpu_ns(p)
        total += reaped_ns(pm)
    return total


def rss_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def db_bytes(path):
    """Logical size of the database (page_count x page_size), WAL included."""
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        pc = con.execute("PRAGMA page_count").fetchone()[0]
        ps = con.execute("PRAGMA page_size").fetchone()[0]
        free = con.execute("PRAGMA freelist_count").fetchone()[0]
        return (pc - free) * ps
    finally:
        con.close()


def q1(path, sql):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def spread(values):
    """'mean (min-max)' of a list of figures."""
    m = sum(values) / len(values)
    if len(values) == 1:
        return m, "%.0f" % m
    return m, "%.0f (%.0f-%.0f)" % (m, min(values), max(values))


# ---- set-up ---------------------------------------------------------------

class Fixture:
    def __init__(self, nservers, max_conn, name="perf"):
        self.ca = h.CA(name)
        self.servers = [h.PgServer(ssl=True, ca=self.ca, name="%s%d" % (name, i),
                                   conf={"max_connections": max_conn,
                                         "autovacuum": "off"})
                        for i in range(nservers)]
        self.sessions = {s.name: [] for s in self.servers}

    def grow_sessions(self, per_server):
        """Opens psql sessions until every server has per_server of them:
        SSL and non-SSL, three users, ten applications."""
        new = []
        for s in self.servers:
            have = self.sessions[s.name]
            for i in range(len(have), per_server):
                mode = "require" if i % 3 else "disable"
                sess = h.Session(s, "app%d" % (1 + i % 3), "appdb", mode,
                                 "perf-app-%d" % (i % 10))
                have.append(sess)
                new.append(sess)
        deadline = time.monotonic() + 120
        for sess in new:
            sess.wait_visible(max(5.0, deadline - time.monotonic()))

    def shrink_sessions(self, per_server):
        for s in self.servers:
            have = self.sessions[s.name]
            while len(have) > per_server:
                have.pop().close()

    def conninfo(self, s):
        return s.conninfo(user="monitor", dbname="postgres", sslmode="verify-full",
                          sslrootcert=self.ca.cert, application_name="perf-baseline")


# ---- pollers ----------------------------------------------------------------

def run_baseline(argv, fix, polls, n_inst):
    """floor.c or psycopg_poller.py: CPU between its "ready" and "done"."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, env=h._clean_env())
    try:
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("%s: %r" % (argv[0], line))
        c0, s0 = cpu_ns(p.pid), servers_cpu_ns(fix.servers)
        p.stdin.write("go\n")
        p.stdin.flush()
        line = p.stdout.readline()
        c1, s1 = cpu_ns(p.pid), servers_cpu_ns(fix.servers)
        if line.strip() != "done":
            raise RuntimeError("%s: %r" % (argv[0], line))
        peak = rss_kb(p.pid, "VmHWM")
    finally:
        p.stdin.close()
        p.wait(30)
    n = polls * n_inst
    return {"client": (c1 - c0) / 1000 / n, "server": (s1 - s0) / 1000 / n, "rss": peak}


class LimitedDaemon(h.Daemon):
    """sslhistd started with the soft fd limit of a systemd service (1024),
    so its own raise to the hard limit is what lets a fleet connect."""

    def argv(self, *extra, db=True):
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        return ["prlimit", "--nofile=1024:%d" % hard, "--"] + super().argv(*extra, db=db)


def daemon_cfg(fix, interval, clusters, **extra):
    cfg = {"sslhistd": {"interval": interval, "log_level": "warning",
                        "connect_timeout": "30s", "query_timeout": "15s"}}
    cfg["sslhistd"].update(extra)
    cfg.update(clusters)
    return cfg


def case_clusters(fix):
    return {"cluster %s" % s.name: h.cluster_for(s) for s in fix.servers}


def ok_polls(db):
    return q1(db, "SELECT coalesce(sum(polls - failed_polls), 0) FROM coverage")


def wait_first_sweep(d, n_inst, timeout):
    """Seconds from the daemon's start until every instance has a success."""
    sql = "SELECT count(*) FROM instance WHERE last_success IS NOT NULL"
    while True:
        try:
            if q1(d.db, sql) >= n_inst:
                return time.monotonic() - d.started_at
        except sqlite3.Error:
            pass
        d.assert_alive()
        if time.monotonic() - d.started_at > timeout:
            return None
        time.sleep(0.02)        # a sampling period of the bench, not a wait for a condition


def run_daemon(fix, polls, interval_ms, new_sessions):
    n_inst = len(fix.servers)
    d = LimitedDaemon(daemon_cfg(fix, "%dms" % interval_ms, case_clusters(fix)))
    d.start()
    try:
        sweep = wait_first_sweep(d, n_inst, 60)
        # Settle: the first polls store every client; measure afterwards.
        target = ok_polls(d.db) + 2 * n_inst
        d.wait(lambda: ok_polls(d.db) >= target, 30, "daemon settled")
        b0 = db_bytes(d.db)
        p0, c0, s0 = ok_polls(d.db), cpu_ns(d.proc.pid), servers_cpu_ns(fix.servers)
        target = p0 + polls * n_inst
        d.wait(lambda: ok_polls(d.db) >= target, polls * interval_ms / 1000 * 3 + 30,
               "%d polls" % (polls * n_inst))
        c1, s1, p1 = cpu_ns(d.proc.pid), servers_cpu_ns(fix.servers), ok_polls(d.db)
        b1 = db_bytes(d.db)
        peak = rss_kb(d.proc.pid, "VmHWM")
        # Growth per new session: new clients (one session each).
        extra = []
        want = q1(d.db, "SELECT count(*) FROM client") + new_sessions
        for i in range(new_sessions):
            s = fix.servers[i % n_inst]
            extra.append(h.Session(s, "app1", "appdb", "require", "perf-new-%d" % i))
        h.wait_all_visible(extra, 60)
        d.wait(lambda: q1(d.db, "SELECT count(*) FROM client") >= want, 30,
               "new clients stored (%d)" % want)
        b2 = db_bytes(d.db)
        for s in extra:
            s.close()
        d.stop()
    finally:
        if d.alive():
            d.stop()
    n = p1 - p0
    return {"client": (c1 - c0) / 1000 / n, "server": (s1 - s0) / 1000 / n, "rss": peak,
            "rss_inst": peak / n_inst, "db_poll": (b1 - b0) / n,
            "db_session": (b2 - b1) / new_sessions, "sweep": sweep}


def run_case(fix, build, sessions, polls, interval_ms, repeats):
    n_inst = len(fix.servers)
    conninfos = [fix.conninfo(s) for s in fix.servers]
    floor = os.path.join(build, "bench-floor")
    lite = os.path.join(h.workdir(), "psycopg-%d.db" % sessions)
    pollers = [
        ("floor (PQexec)", lambda: run_baseline(
            [floor, "exec", str(polls), str(interval_ms)] + conninfos, fix, polls, n_inst)),
        ("PQprepare+PQexecPrepared", lambda: run_baseline(
            [floor, "prepared", str(polls), str(interval_ms)] + conninfos, fix, polls,
            n_inst)),
        ("sslhistd's query, prepared, binary", lambda: run_baseline(
            [floor, "ours", str(polls), str(interval_ms)] + conninfos, fix, polls,
            n_inst)),
        ("psycopg2 + SQLite", lambda: run_baseline(
            ["/usr/bin/python3", os.path.join(HERE, "psycopg_poller.py"), lite, str(polls),
             str(interval_ms)] + conninfos, fix, polls, n_inst)),
        ("sslhistd", lambda: run_daemon(fix, polls, interval_ms, 4 * n_inst)),
    ]
    results = {name: [] for name, _ in pollers}
    for r in range(repeats):
        for name, fn in pollers:
            h.log("case %d sessions: %s, run %d" % (sessions, name, r + 1))
            results[name].append(fn())
    return results


def print_case(title, results):
    floor_c = spread([r["client"] for r in results["floor (PQexec)"]])[0]
    floor_s = spread([r["server"] for r in results["floor (PQexec)"]])[0]
    print("\n%s" % title)
    print("| poller | client CPU us/poll | server CPU us/poll | client / floor | "
          "server / floor | peak RSS KB | RSS/instance KB | DB bytes/poll | "
          "DB bytes/new session | first sweep s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, rs in results.items():
        cm, ctext = spread([r["client"] for r in rs])
        sm, stext = spread([r["server"] for r in rs])
        peak = max(r["rss"] for r in rs)
        d = rs[0]
        extra = ["-", "-", "-", "-"]
        if "db_poll" in d:
            extra = ["%.0f" % max(r["rss_inst"] for r in rs),
                     " / ".join("%.1f" % r["db_poll"] for r in rs),
                     " / ".join("%.0f" % r["db_session"] for r in rs),
                     " / ".join("%.2f" % r["sweep"] for r in rs)]
        print("| %s | %s | %s | %.2fx | %.2fx | %d | %s |"
              % (name, ctext, stext, cm / floor_c, sm / floor_s, peak, " | ".join(extra)))
    sys.stdout.flush()


# ---- fleet ------------------------------------------------------------------

def run_fleet(build, n_inst, nservers, sessions, window_s):
    per = (n_inst + nservers - 1) // nservers
    fix = Fixture(nservers, per + sessions + 20, name="fleet")
    fix.grow_sessions(sessions)
    clusters = {}
    k = 0
    dbs = ("postgres", "appdb")
    for s in fix.servers:
        for i in range(per):
            if k == n_inst:
                break
            clusters["cluster f%d-%s-%d" % (s.port, dbs[i % 2], i)] = h.cluster_for(
                s, dbname=dbs[i % 2])
            k += 1
    d = LimitedDaemon(daemon_cfg(fix, "10s", clusters, connect_timeout="20s"))
    s0 = servers_cpu_ns(fix.servers)
    d.start()
    try:
        sweep = wait_first_sweep(d, n_inst, 120)
        sweep_cpu = cpu_ns(d.proc.pid) / 1e9
        sweep_srv = (servers_cpu_ns(fix.servers) - s0) / 1e9
        # Steady state: every instance polled a few times, and the daemon's
        # own connections are older than connect_timeout (no longer listed).
        settle = max(sweep + 10, 35) - (time.monotonic() - d.started_at)
        if settle > 0:
            time.sleep(settle)  # the warm-up itself, not a wait for a condition
        c0, t0, p0 = cpu_ns(d.proc.pid), time.monotonic(), ok_polls(d.db)
        time.sleep(window_s)    # the measuring window itself
        c1, t1, p1 = cpu_ns(d.proc.pid), time.monotonic(), ok_polls(d.db)
        failed = q1(d.db, "SELECT coalesce(sum(failed_polls), 0) FROM coverage")
        peak, now = rss_kb(d.proc.pid, "VmHWM"), rss_kb(d.proc.pid, "VmRSS")
        d.stop(within=10)
    finally:
        if d.alive():
            d.stop(within=10)
        for s in fix.servers:
            s.cleanup()
    cpu = (c1 - c0) / 1e9 / (t1 - t0)
    goal_kb = 16 * 1024 + 64 * n_inst
    print("\nfleet: %d instances over %d servers (%d psql sessions each), interval 10s"
          % (n_inst, nservers, sessions))
    print("| figure | value | goal |")
    print("| --- | ---: | ---: |")
    print("| CPU, %% of one core (%.0f s window, %d polls, %.1f us/poll) | %.2f%% | <= 5%% |"
          % (t1 - t0, p1 - p0, (c1 - c0) / 1000 / max(p1 - p0, 1), 100 * cpu))
    print("| peak RSS (VmHWM) | %d KB = %.1f KB/instance | <= %d KB |"
          % (peak, peak / n_inst, goal_kb))
    print("| RSS at the end (VmRSS) | %d KB | |" % now)
    print("| start to first complete sweep | %s s | <= 10 s |"
          % ("%.2f" % sweep if sweep is not None else "not within 120"))
    print("| CPU until the first sweep: daemon / the %d servers (%d TLS handshakes, "
          "backends started) | %.2f s / %.2f s | |" % (nservers, n_inst, sweep_cpu, sweep_srv))
    print("| failed polls | %d | 0 |" % failed)
    sys.stdout.flush()


# ---- isolation ----------------------------------------------------------------

def run_isolation(fix, n_inst, window_s):
    proxy = netfault.DelayProxy(fix.servers[0].host, fix.servers[0].port, 2000)
    hole = h.Blackhole()
    clusters = {}
    for i in range(n_inst):
        s = fix.servers[i % len(fix.servers)]
        clusters["cluster iso%d" % i] = h.cluster_for(s)
    clusters["cluster slow"] = h.cluster_for(fix.servers[0], host="127.0.0.1",
                                             port=proxy.port)
    clusters["cluster hole"] = h.cluster_for(fix.servers[0], port=hole.port)
    jitter = 0.10
    # Long enough for the delayed instance: its TLS handshake takes several
    # 4 s round trips.
    cfg = daemon_cfg(fix, "1s", clusters, jitter="10%", log_level="debug",
                     connect_timeout="40s", query_timeout="15s")
    d = LimitedDaemon(cfg)
    argv = d.argv()
    starts = {}
    lock = threading.Lock()
    pat = re.compile(r"^sslhistd: debug: ([^/]+)/\S+: (idle|preparing) -> polling")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=h._clean_env())

    def reader():
        for line in p.stderr:
            m = pat.match(line)
            if m:
                with lock:
                    starts.setdefault(m.group(1), []).append(time.monotonic())
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        time.sleep(window_s)    # the observation window itself
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        t.join(5)
    # A gap between two poll starts of one instance is 1 s +- 10% by the
    # schedule; the excess is how far outside that window it fell.
    worst, worst_name, gaps, excess = 0.0, None, 0, 0.0
    for name, ts in starts.items():
        if name in ("slow", "hole"):
            continue
        for a, b in zip(ts[2:], ts[3:]):        # skip the first connection's polls
            dev = abs((b - a) - 1.0)
            gaps += 1
            excess = max(excess, dev - jitter)
            if dev > worst:
                worst, worst_name = dev, name
    slow_polls = len(starts.get("slow", []))
    hole_polls = len(starts.get("hole", []))
    print("\nisolation: %d instances every 1 s (jitter 10%%), one behind a 2 s delay "
          "(each direction), one blackholed; %.0f s" % (n_inst, window_s))
    print("| figure | value | goal |")
    print("| --- | ---: | ---: |")
    print("| worst |gap - interval| of the others (%d gaps) | %.3f s (%s) | <= %.3f s |"
          % (gaps, worst, worst_name, jitter))
    print("| worst excess beyond the jitter window (timestamps taken as the log lines "
          "arrive) | %.3f s | 0 |" % max(excess, 0.0))
    print("| polls started: delayed instance / blackholed | %d / %d | |"
          % (slow_polls, hole_polls))
    sys.stdout.flush()
    proxy.close()
    hole.close()


# ---- main -------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--polls", type=int, default=100)
    ap.add_argument("--interval-ms", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--fleet", type=int, default=2000)
    ap.add_argument("--fleet-servers", type=int, default=4)
    ap.add_argument("--fleet-sessions", type=int, default=20)
    ap.add_argument("--fleet-window", type=float, default=30)
    ap.add_argument("--iso", type=int, default=20)
    ap.add_argument("--iso-window", type=float, default=40)
    ap.add_argument("--only", default="20,200,fleet,iso")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ["SSLHIST_BIN"] = build
    only = a.only.split(",")
    t0 = time.monotonic()
    h.log("machine load:", open("/proc/loadavg").read().strip())
    fix = Fixture(4, 260)
    if "20" in only:
        fix.grow_sessions(20)
        res = run_case(fix, build, 20, a.polls, a.interval_ms, a.repeats)
        print_case("4 servers x 20 sessions, %d polls per instance every %d ms, %d runs each "
                   "(mean (min-max))" % (a.polls, a.interval_ms, a.repeats), res)
    if "iso" in only:
        fix.grow_sessions(20)
        run_isolation(fix, a.iso, a.iso_window)
    if "200" in only:
        fix.grow_sessions(200)
        res = run_case(fix, build, 200, a.polls, a.interval_ms, a.repeats)
        print_case("4 servers x 200 sessions, %d polls per instance every %d ms, %d runs each "
                   "(mean (min-max))" % (a.polls, a.interval_ms, a.repeats), res)
    fix.shrink_sessions(0)
    for s in fix.servers:
        s.cleanup()
    if "fleet" in only:
        run_fleet(build, a.fleet, a.fleet_servers, a.fleet_sessions, a.fleet_window)
    print("\nbench took %.0f s; load at the end: %s"
          % (time.monotonic() - t0, open("/proc/loadavg").read().strip()))
    h.cleanup()


if __name__ == "__main__":
    main()
