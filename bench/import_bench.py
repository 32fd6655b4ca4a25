#!/usr/bin/env python3
"""Times `sslhist import-log` on 1,000,000 realistic server log lines.

    python3 bench/import_bench.py [--build build] [--lines 1000000] [--clients 5000]

The log is RDS's stderr format (%t:%r:%u@%d:[%p]:) as PostgreSQL 15 writes it
with log_connections = on: per session "connection received", "connection
authenticated" (scram, 14+) and "connection authorized" (80% with SSL,
TLSv1.3 or TLSv1.2, 20% without), sessions of ~5,000 clients (user x
database x application x address), interleaved with a few other log lines.
The history is made by `sslhistd --once` against a closed port (it registers
the instance; no server is needed). Printed: wall time, lines/s, the
importer's peak RSS, and two baselines from the same run: `wc -l` over the
same file (reading it), and the second import of the same file (every
session known: parsing plus one lookup each).
"""
import argparse
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()          # closed again: connections are refused
    return port


def make_log(path, nlines, nclients, seed=12):
    rnd = random.Random(seed)
    clients = []
    for i in range(nclients):
        ssl = rnd.random() < 0.8
        clients.append(("u%d" % (i % 97), "db%d" % (i % 13), "app-%d" % (i % 389),
                        "10.%d.%d.%d" % (i % 7, (i // 7) % 250, i % 251),
                        ssl, rnd.choice(("TLSv1.3", "TLSv1.2")) if ssl else None))
    t = 1796281353.0
    pid = 1000
    n = 0
    with open(path, "w") as f:
        while n < nlines:
            u, d, app, addr, ssl, tls = clients[rnd.randrange(nclients)]
            pid = pid + rnd.randrange(1, 50)
            if pid > 4000000:
                pid = 1000
            port = rnd.randrange(1024, 65535)
            t += rnd.random() * 0.004
            ts = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
            pre = "%s:%s(%d):" % (ts, addr, port)
            f.write("%s[unknown]@[unknown]:[%d]:LOG:  connection received: host=%s port=%d\n"
                    % (pre, pid, addr, port))
            f.write('%s%s@%s:[%d]:LOG:  connection authenticated: identity="%s" '
                    "method=scram-sha-256 (/rdsdbdata/config/pg_hba.conf:13)\n"
                    % (pre, u, d, pid, u))
            msg = "connection authorized: user=%s database=%s application_name=%s" % (u, d, app)
            if ssl:
                cipher = "TLS_AES_256_GCM_SHA384" if tls == "TLSv1.3" else \
                    "ECDHE-RSA-AES256-GCM-SHA384"
                msg += " SSL enabled (protocol=%s, cipher=%s, bits=256)" % (tls, cipher)
            f.write("%s%s@%s:[%d]:LOG:  %s\n" % (pre, u, d, pid, msg))
            n += 3
            if rnd.random() < 0.02:
                f.write("%s%s@%s:[%d]:LOG:  duration: 0.412 ms  statement: select 1\n"
                        % (pre, u, d, pid))
                n += 1
    return n


def run_timed(argv, **kw):
    """(wall s, CPU s (user + system), peak RSS KiB or None, stdout)."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit("%s: exit %d: %s" % (argv[0], r.returncode, r.stderr))
    cpu = ru.ru_utime - ru0.ru_utime + ru.ru_stime - ru0.ru_stime
    return wall, cpu, (ru.ru_maxrss if ru.ru_maxrss > ru0.ru_maxrss else None), r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--lines", type=int, default=1000000)
    ap.add_argument("--clients", type=int, default=5000)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    with tempfile.TemporaryDirectory(prefix="import-bench-") as d:
        log = os.path.join(d, "postgresql.log")
        db = os.path.join(d, "history.db")
        conf = os.path.join(d, "sslhist.conf")
        t0 = time.monotonic()
        n = make_log(log, a.lines, a.clients)
        print("generated %d lines (%.1f MB) in %.1f s" % (n, os.path.getsize(log) / 1e6,
                                                         time.monotonic() - t0))
        with open(conf, "w") as f:
            f.write("[sslhistd]\nconnect_timeout = 1s\n\n[cluster bench]\nhost = 127.0.0.1\n"
                    "port = %d\nsslmode = disable\nuser = monitor\n" % free_port())
        subprocess.run([os.path.join(build, "sslhistd"), "-c", conf, "--db", db, "--once"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wc, _, _, _ = run_timed(["wc", "-l", log])
        cmd = [os.path.join(build, "sslhist"), "--db", db, "import-log", "--cluster", "bench",
               log]
        wall, cpu, rss, out = run_timed(cmd)
        print(out.strip())
        again, cpu2, _, out2 = run_timed(cmd)
        print(out2.strip())
        load = os.getloadavg()[0]
        print("import-log: %d lines in %.2f s wall (%.2f s CPU) = %.0f lines/s wall, "
              "%.0f lines per CPU second; peak RSS %s; load average %.1f on %d cores"
              % (n, wall, cpu, n / wall, n / cpu if cpu else 0,
                 "%.1f MiB" % (rss / 1024.0) if rss else "n/a", load, os.cpu_count()))
        print("baselines: wc -l %.3f s (import = %.0fx); second import (all known) %.2f s "
              "wall, %.2f s CPU (first = %.2fx CPU)"
              % (wc, wall / wc if wc else 0, again, cpu2, cpu / cpu2 if cpu2 else 0))
        print("database: %.1f MB" % (os.path.getsize(db) / 1e6))
        print("target under 10 s: wall %s, CPU %s" % ("met" if wall < 10 else "NOT met",
                                                      "met" if cpu < 10 else "NOT met"))


if __name__ == "__main__":
    main()
