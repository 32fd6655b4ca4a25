"""The README's demo: two throwaway PostgreSQL 15 servers with TLS (the second
presents a certificate from another CA), a few SSL and non-SSL psql clients,
sslhistd for a few seconds, then what it recorded as `sslhist` shows it; then
a burst of short sessions that the polls miss, named by `sslhist import-log`
from the orders server's log (log_connections = on).

Run through scripts/demo.sh (which installs and builds first). Everything it
starts is stopped and removed at the end (SSLHIST_KEEP=1 keeps the files).
"""
import os
import subprocess
import sys

import harness as h


def banner(text):
    print("\n\033[1m== %s ==\033[0m" % text if sys.stdout.isatty() else "\n== %s ==" % text,
          flush=True)


def main():
    h.require_root()
    for prog in ("sslhistd", "sslhist"):
        if not os.access(h.bin_path(prog), os.X_OK):
            sys.exit("demo: %s is not built (expected at %s)" % (prog, h.bin_path(prog)))

    banner("Starting two PostgreSQL 15 servers with TLS")
    ca_main = h.CA("demo", subject_cn="Demo Corp Root CA 2024")
    ca_new = h.CA("demo-new", subject_cn="Demo Corp Root CA 2026")
    # orders logs every session as it starts (log_connections, RDS's prefix):
    # the import at the end names the short ones the polls miss.
    orders = h.PgServer(ssl=True, ca=ca_main, name="orders",
                        conf={"log_connections": "on", "log_line_prefix": "%t:%r:%u@%d:[%p]:"})
    billing = h.PgServer(ssl=True, ca=ca_new, name="billing")
    for s in (orders, billing):
        print("  %-8s 127.0.0.1:%d  certificate issued by %s"
              % (s.name, s.port, h.cert_field(s.cert, "issuer")))

    banner("Connecting clients")
    S = h.Session
    sessions = [
        S(orders, "app1", "appdb", "require", "orders-api"),
        S(orders, "app2", "appdb", "disable", "legacy-report-job"),
        S(orders, "app3", "postgres", "verify-full", "psql", sslrootcert=ca_main.cert),
        S(billing, "app1", "appdb", "require", "PostgreSQL JDBC Driver"),
        S(billing, "app2", "appdb", "disable", "billing-batch"),
        S(orders, "rdsadmin", "rdsadmin", "require", "rds-internal"),   # never recorded
    ]
    h.wait_all_visible(sessions)
    for s in sessions:
        print("  %-24s %s@%s on %s, sslmode=%s" % (s.application_name, s.user, s.dbname,
                                                    s.server.name, s.sslmode))

    banner("Running sslhistd for a few seconds")
    d = h.Daemon({
        "sslhistd": {"interval": "1s"},
        "cluster orders": h.cluster_for(orders),
        "cluster billing": h.cluster_for(billing),
    }, name="demo")
    print(open(d.conf).read().rstrip())
    d.start()
    d.wait_polls("orders", 3, timeout=30)
    d.wait_polls("billing", 3, timeout=30)
    banner("A burst of five 30 ms sessions (a cron job) between two polls")
    polled = d.ok_polls("orders")
    h.burst(orders, n=5, user="app1", dbname="appdb", sslmode="require",
            application_name="nightly-export", hold_ms=30, parallel=1)
    d.wait_polls("orders", polled + 2, timeout=30)
    rc, took = d.stop()
    print("  sslhistd stopped (exit %d after %.2fs); database %s" % (rc, took, d.db))
    if rc != 0:
        print(d.log_text())
        return 1

    status = 0
    for title, args in (("sslhist clients", ["clients"]),
                        ("sslhist instances", ["instances"]),
                        ("sslhist report", ["report"])):
        banner(title)
        r = subprocess.run([h.bin_path("sslhist"), "--db", d.db] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        print(r.stdout.rstrip())
        if r.returncode != 0:
            print("%s exited %d: %s" % (title, r.returncode, r.stderr), file=sys.stderr)
            status = 1
    banner("sslhist import-log: the orders server's log names what the polls missed")
    for args in (["import-log", "--cluster", "orders", orders.logfile],
                 ["clients", "--cluster", "orders"], ["report", "--cluster", "orders"]):
        print("$ sslhist " + " ".join(args))
        r = subprocess.run([h.bin_path("sslhist"), "--db", d.db] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        print(r.stdout.rstrip())
        if r.returncode != 0:
            print("sslhist %s exited %d: %s" % (args[0], r.returncode, r.stderr),
                  file=sys.stderr)
            status = 1
    banner("Done; stopping the servers")
    return status


if __name__ == "__main__":
    code = main()
    h.cleanup()
    sys.exit(code)
