"""The README's demo: two throwaway PostgreSQL 15 servers with TLS (the second
presents a certificate from another CA, and a PgBouncer in front of it), a few
SSL and non-SSL psql clients,
sslhistd for a few seconds, then what it recorded as `sslhist` shows it; then
a burst of short sessions that the polls miss, named by `sslhist import-log`
from the orders server's log (log_connections = on); then a second bastion
polls one of the clusters too, both ship a snapshot, and one report reads the
two histories as one.

Run through scripts/demo.sh (which installs and builds first). Everything it
starts is stopped and removed at the end (SSLHIST_KEEP=1 keeps the files).
"""
import os
import subprocess
import sys

import harness as h
from pgbouncer import PgBouncer


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

    pooler = PgBouncer(billing, users=("app2",))
    print("  pgbouncer 127.0.0.1:%d  in front of billing (server_tls_sslmode verify-full)"
          % pooler.port)

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
    pooled = S(pooler, "app2", "appdb", "disable", "billing-lambda")
    h.wait_until(lambda: any(r["application_name"] == "billing-lambda"
                             for r in pooler.admin("SHOW CLIENTS")), 15, "billing-lambda")
    sessions.append(pooled)
    for s in sessions:
        print("  %-24s %s@%s on %s, sslmode=%s" % (s.application_name, s.user, s.dbname,
                                                    getattr(s.server, "name", "?"), s.sslmode))

    banner("Running sslhistd for a few seconds")
    d = h.Daemon({
        "sslhistd": {"interval": "1s"},
        "cluster orders": h.cluster_for(orders),
        "cluster billing": h.cluster_for(billing),
        "pooler billing-pgbouncer": {"cluster": "billing", "host": pooler.host,
                                     "port": pooler.port, "user": "monitor",
                                     "sslmode": "disable"},
    }, name="demo")
    print(open(d.conf).read().rstrip())
    d.start()
    d.wait_polls("orders", 3, timeout=30)
    d.wait_polls("billing", 3, timeout=30)
    d.wait(lambda: any(c["via"] for c in h.sslhist_json(d.db, "clients")), 30,
           "the client behind the pooler")
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
    # Several bastions in one report: a second one polls billing too; each
    # ships a snapshot of its history, one host reads both as one.
    banner("A second bastion polls billing too")
    d2 = h.Daemon({"sslhistd": {"interval": "1s"}, "cluster billing": h.cluster_for(billing)},
                  name="bastion2")
    d2.start()
    d2.wait_polls("billing", 3, timeout=30)
    d2.stop()
    ship = h.subdir("ship")
    copies = []
    for name, daemon in (("bastion1", d), ("bastion2", d2)):
        copy = os.path.join(ship, name + ".db")
        args = ["--db", daemon.db, "snapshot", "--to", copy]
        print("  sslhist " + " ".join(args))
        r = subprocess.run([h.bin_path("sslhist")] + args, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            print("snapshot exited %d: %s" % (r.returncode, r.stderr), file=sys.stderr)
            status = 1
        copies += ["--db", copy]
    banner("sslhist --db bastion1.db --db bastion2.db report")
    r = subprocess.run([h.bin_path("sslhist")] + copies + ["report"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    print(r.stdout.rstrip())
    if r.returncode != 0:
        print("merged report exited %d: %s" % (r.returncode, r.stderr), file=sys.stderr)
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
