#!/usr/bin/env python3
"""The psycopg2 baseline of bench/perf_bench.py: the SPEC query on persistent
connections, every row upserted into SQLite (one transaction per poll), the
way a short script would record clients.

usage: psycopg_poller.py DB POLLS INTERVAL_MS CONNINFO...

Same protocol as floor.c: prints "ready" once connected, waits for a line on
stdin, polls, prints "done", waits for stdin to close.
"""
import sqlite3
import sys
import time

import psycopg2

SPEC_QUERY = (
    "SELECT a.pid, a.backend_start, a.datname, a.usename, a.application_name, "
    "a.client_addr, a.client_hostname, s.ssl, s.version, s.cipher, s.bits, s.client_dn, "
    "s.client_serial, s.issuer_dn "
    "FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
    "WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()")

SCHEMA = """
CREATE TABLE IF NOT EXISTS client (
    instance INTEGER, datname TEXT, usename TEXT, app TEXT, addr TEXT, ssl INTEGER,
    version TEXT, cipher TEXT, bits INTEGER, client_dn TEXT, issuer_dn TEXT,
    first_seen REAL, last_seen REAL, samples INTEGER,
    UNIQUE (instance, datname, usename, app, addr, ssl, version, cipher, bits,
            client_dn, issuer_dn));
CREATE TABLE IF NOT EXISTS session (
    instance INTEGER, pid INTEGER, backend_start TEXT, PRIMARY KEY (instance, pid, backend_start));
"""

UPSERT = (
    "INSERT INTO client VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,1) "
    "ON CONFLICT DO UPDATE SET last_seen = excluded.last_seen, samples = samples + 1")


def main():
    db, polls, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) / 1000.0
    conns = [psycopg2.connect(ci) for ci in sys.argv[4:]]
    for c in conns:
        c.autocommit = True
    lite = sqlite3.connect(db)
    lite.executescript(SCHEMA)
    lite.execute("PRAGMA journal_mode = WAL")
    lite.execute("PRAGMA synchronous = NORMAL")
    print("ready", flush=True)
    sys.stdin.readline()
    nxt = time.monotonic()
    for _ in range(polls):
        for i, c in enumerate(conns):
            cur = c.cursor()
            cur.execute(SPEC_QUERY)
            now = time.time()
            with lite:
                for r in cur.fetchall():
                    lite.execute("INSERT OR IGNORE INTO session VALUES (?,?,?)",
                                 (i, r[0], str(r[1])))
                    lite.execute(UPSERT, (i, r[2], r[3], r[4], r[5] and str(r[5]), int(bool(r[7])),
                                          r[8], r[9], r[10], r[11], r[13], now, now))
            cur.close()
        nxt += interval
        time.sleep(max(0.0, nxt - time.monotonic()))   # the polling interval itself
    print("done", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
