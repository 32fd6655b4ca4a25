#!/usr/bin/env python3
"""Generates a synthetic sslhist history database (schema of sql/) for the
query tool's benchmark: N instances in clusters of 4, M clients spread over
them, hourly coverage, live sessions and alerts. Deterministic (seeded).

usage: gen_history.py DB --instances 2000 --clients 200000 [--hours 168]
"""
import argparse
import glob
import os
import random
import sqlite3
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SQL_DIR = os.path.join(HERE, "..", "sql")

APPS = ["PostgreSQL JDBC Driver", "psql", "pg_dump", "pgAdmin 4 - DB:app",
        "DBeaver 23.1.0 - Main <app>", "", "billing-worker", "reporting"]
TLS = [("TLSv1.3", "TLS_AES_256_GCM_SHA384", 256)] * 14 + \
      [("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", 256)] * 5 + \
      [("TLSv1.1", "ECDHE-RSA-AES256-SHA", 256)]
NOW = int(time.time())


# Named columns: later schemas add columns to coverage (005: fast_polls).
COVERAGE_INSERT = ("INSERT INTO coverage (instance_id, hour, polls, failed_polls, largest_gap_ms,"
                   " sessions, single_poll_sessions, missed_sessions) VALUES (?,?,?,?,?,?,?,?)")


def schema(db):
    files = sorted(glob.glob(os.path.join(SQL_DIR, "[0-9][0-9][0-9]_*.sql")))
    for f in files:
        with open(f) as fh:
            db.executescript(fh.read())
    db.execute("PRAGMA user_version = %d" % len(files))


def instances(db, n, rng):
    issuers = ["CN=Amazon RDS us-east-1 Subordinate CA RSA2048 G1.A.2,O=Amazon.com,C=US",
               "CN=Amazon RDS us-east-1 2019 CA,OU=Amazon RDS,O=Amazon Web Services\\, Inc.,"
               "ST=Washington,L=Seattle,C=US"]
    rows = []
    for i in range(n):
        cluster = "cluster-%04d" % (i // 4)
        role = "writer" if i % 4 == 0 else "reader"
        issuer = issuers[1] if i % 97 == 0 else issuers[0]
        rows.append((i + 1, cluster, "db-%05d.abc123.us-east-1.rds.amazonaws.com" % i, 5432,
                     role, NOW - 86400 * 30, NOW - 10, NOW - 10, 0, "15.4", 150004, 1,
                     "0", 0 if i % 211 == 0 else 1,
                     "CN=db-%05d.abc123.us-east-1.rds.amazonaws.com" % i, issuer,
                     NOW - 86400 * 100, NOW + 86400 * (10 if i % 101 == 0 else 300),
                     ":".join("%02X" % rng.randrange(256) for _ in range(32))))
    db.executemany(
        "INSERT INTO instance (id, cluster, host, port, role, added_at, last_attempt,"
        " last_success, consecutive_failures, server_version, server_version_num,"
        " ssl_enabled, force_ssl, can_see_all_sessions, cert_subject, cert_issuer,"
        " cert_not_before, cert_not_after, cert_sha256)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)


def clients(db, n_inst, n, rng):
    batch = []
    for cid in range(1, n + 1):
        inst = (cid - 1) % n_inst + 1
        ssl = rng.random() > 0.02
        tls, cipher, bits = rng.choice(TLS) if ssl else (None, None, None)
        app = rng.choice(APPS)
        if app == "billing-worker":
            app = "billing-worker-%d" % cid
        sessions = 1 if rng.random() < 0.2 else rng.randrange(2, 500)
        first = NOW - rng.randrange(86400 * 60)
        last = min(NOW, first + rng.randrange(86400 * 30))
        batch.append((cid, inst, cid.to_bytes(8, "big") + rng.randbytes(8),
                      "db%d" % (cid % 7), "user%d" % (cid % 50), app,
                      "10.%d.%d.%d" % (cid >> 16 & 255, cid >> 8 & 255, cid & 255),
                      None, int(ssl), tls, cipher, bits, None, None, first, last,
                      sessions, sessions * 3))
        if len(batch) == 10000:
            flush_clients(db, batch)
    flush_clients(db, batch)


def flush_clients(db, batch):
    db.executemany(
        "INSERT INTO client_data (id, instance_id, ident, database, user, application,"
        " client_addr, client_hostname, ssl, tls_version, cipher, bits, client_dn,"
        " issuer_dn, first_seen, last_seen, sessions, samples)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
    batch.clear()


# Named columns: later migrations add columns (sql/005: fast_polls) with defaults.
COVERAGE_INSERT = ("INSERT INTO coverage (instance_id, hour, polls, failed_polls, largest_gap_ms,"
                   " sessions, single_poll_sessions, missed_sessions) VALUES (?,?,?,?,?,?,?,?)")


def coverage(db, n_inst, hours, rng):
    first_hour = (NOW // 3600 - hours) * 3600
    rows = []
    for inst in range(1, n_inst + 1):
        for h in range(hours):
            rows.append((inst, first_hour + 3600 * h, 120, rng.randrange(3),
                         30000 + rng.randrange(5000) + (200000 if rng.random() < 0.001 else 0),
                         rng.randrange(20), rng.randrange(5), rng.randrange(3)))
        if len(rows) >= 50000:
            db.executemany(COVERAGE_INSERT, rows)
            rows.clear()
    db.executemany(COVERAGE_INSERT, rows)


def alerts(db, n_clients, rng):
    rows, attempts = [], []
    for aid in range(1, n_clients // 20 + 1):
        cid = aid * 20
        state = rng.choice(["ok", "ok", "failed", "pending"])
        rows.append((aid, cid, "new-client", state, 1, NOW * 1000, NOW - 100))
        if state != "pending":
            attempts.append((aid, 1, NOW - 90, NOW - 89, 0 if state == "ok" else 1, state))
    db.executemany("INSERT INTO alert (id, client_id, event, state, attempts,"
                   " next_attempt_ms, created_at) VALUES (?,?,?,?,?,?,?)", rows)
    db.executemany("INSERT INTO alert_attempt (alert_id, attempt, started_at, ended_at,"
                   " exit_status, outcome) VALUES (?,?,?,?,?,?)", attempts)


def live_sessions(db, n_clients, n_inst, rng, n=5000):
    """Sessions alive at the last poll (the table stays this small)."""
    rows = []
    for k in range(n):
        cid = rng.randrange(1, n_clients + 1)
        rows.append(((cid - 1) % n_inst + 1, 10000 + k, NOW * 1000000 - k, cid, NOW - 60))
    db.executemany("INSERT INTO live_session (instance_id, pid, backend_start_us, client_id,"
                   " first_seen, from_poll) VALUES (?,?,?,?,?,1)", rows)
    # Their clients are live (sql/002_live_counts.sql): counted, last seen
    # at the instance's last poll.
    db.execute("UPDATE client_data SET live = (SELECT count(*) FROM live_session l"
               " WHERE l.client_id = client_data.id), last_seen = 9223372036854775807"
               " WHERE id IN (SELECT client_id FROM live_session)")
    db.execute("UPDATE client_data SET live_from = live WHERE live > 0")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--instances", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=200000)
    ap.add_argument("--hours", type=int, default=168)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(a.db + suffix):
            os.unlink(a.db + suffix)
    rng = random.Random(a.seed)
    db = sqlite3.connect(a.db, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    schema(db)
    db.execute("BEGIN")
    instances(db, a.instances, rng)
    clients(db, a.instances, a.clients, rng)
    coverage(db, a.instances, a.hours, rng)
    alerts(db, a.clients, rng)
    live_sessions(db, a.clients, a.instances, rng)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


if __name__ == "__main__":
    main()
