"""Unit tests of the modules that talk to a server (pgconn, discover, fleet):
the C programs tests/unit/pg_*.c, run against real PostgreSQL 15 servers
started here.

Each program gets a configuration file naming the servers (PG_CONF), a
hosts file for its own evdns resolver (PG_HOSTS) and, for the fleet, a
second configuration to reload to (PG_CONF2) and a database path (PG_DB).
A test fails when its program exits non-zero; its output is printed.
"""
import os
import stat
import subprocess

import harness as h

SECRET = "s3cret-Units-Pa55"
WRONG = "Wr0ng-Units-Pa55"

DOMAIN = "abc123.test-1.rds.amazonaws.com"
ENDPOINT = "app.cluster-" + DOMAIN

# aurora_replica_status() as Aurora answers it: the writer (old timestamp,
# never stale), a fresh reader, a stale one, a row without session_id, one
# without timestamp (Aurora 13.9+: the instance connected to) and one
# without server_id.
AURORA_ROWS = """
CREATE FUNCTION aurora_replica_status()
RETURNS TABLE (server_id text, session_id text, last_update_timestamp timestamptz)
LANGUAGE sql AS $$ VALUES
  ('inst-w', 'MASTER_SESSION_ID', now() - interval '1 hour'),
  ('inst-r', '7d3c0d2e-0000-4000-8000-000000000001', now()),
  ('inst-stale', '7d3c0d2e-0000-4000-8000-000000000002', now() - interval '10 minutes'),
  ('inst-nosession', NULL, now()),
  ('inst-nots', '7d3c0d2e-0000-4000-8000-000000000003', NULL::timestamptz),
  (NULL, '7d3c0d2e-0000-4000-8000-000000000004', now())
$$;
"""
AURORA_EMPTY = """
CREATE FUNCTION aurora_replica_status()
RETURNS TABLE (server_id text, session_id text, last_update_timestamp timestamptz)
LANGUAGE sql AS $$ SELECT NULL::text, NULL::text, NULL::timestamptz WHERE false $$;
"""
AURORA_BROKEN = """
CREATE FUNCTION aurora_replica_status()
RETURNS TABLE (server_id text, session_id text, last_update_timestamp timestamptz)
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'replica status unavailable'; END $$;
"""


def program(name):
    return os.path.join(os.path.dirname(h.bin_path("sslhistd")), "tests", name)


class Units(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = h.CA("units")
        cls.other_ca = h.CA("other")
        cls.plain = h.PgServer(ssl=False, name="plain")
        cls.tls = h.PgServer(ssl=True, ca=cls.ca, name="tls", cert_dns=["pg-tls.test"])
        cls.tls.sql("CREATE ROLE pwuser LOGIN PASSWORD '%s' IN ROLE pg_monitor" % SECRET)
        with open(os.path.join(cls.tls.datadir, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "host all pwuser 127.0.0.1/32 scram-sha-256\n"
                    "hostnossl all monitor 127.0.0.1/32 reject\n"
                    "hostssl all nomon 127.0.0.1/32 reject\n"
                    "host all all 127.0.0.1/32 trust\n")
        cls.tls.sql("SELECT pg_reload_conf()")
        for db in ("aurora", "empty", "broken", "flipdb", "keepdb", "chgdb", "chgdb2", "gonedb",
                   "newdb"):
            cls.plain.sql("CREATE DATABASE %s" % db)
        cls.plain.sql(AURORA_ROWS, db="aurora")
        cls.plain.sql(AURORA_EMPTY, db="empty")
        cls.plain.sql(AURORA_BROKEN, db="broken")
        cls.plain.sql(AURORA_EMPTY, db="flipdb")
        cls.blackhole = h.Blackhole()
        cls.dir = h.subdir("units")
        cls.hosts = os.path.join(cls.dir, "hosts")
        with open(cls.hosts, "w") as f:
            f.write("127.0.0.1 localhost pg-tls.test pg-wrong.test %s\n" % ENDPOINT)

    def script(self, name, body):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, stat.S_IRWXU)
        return path

    def config(self, name, clusters, **sslhistd):
        cfg = {"sslhistd": dict({"database": os.path.join(self.dir, name + ".db")},
                                **sslhistd)}
        for cname, kv in clusters.items():
            cfg["cluster " + cname] = kv
        return h.write_config(os.path.join(self.dir, name + ".conf"), cfg)

    def run_program(self, name, **env):
        e = h._clean_env()
        e.update(PG_HOSTS=self.hosts, **env)
        r = subprocess.run([program(name)], env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        print("---- %s (exit %d) ----\n%s" % (name, r.returncode, r.stdout), flush=True)
        self.assertEqual(r.returncode, 0, "%s failed:\n%s" % (name, r.stdout))
        self.assertRegex(r.stdout, r"\n?\d+ passed, 0 failed\n")
        return r.stdout

    def test_pgconn(self):
        tls, plain = self.tls, self.plain
        pw = self.script("pw.sh", 'echo "$SSLHIST_HOST:$SSLHIST_PORT:$SSLHIST_USER:'
                         '${NOTIFY_SOCKET-unset}" > "$0.env"\n'
                         'printf "%s\\nsecond line\\n"\n' % SECRET)
        on_tls = lambda **kv: dict({"host": "127.0.0.1", "port": tls.port, "dbname": "postgres",
                                    "user": "monitor", "sslmode": "require"}, **kv)
        on_plain = lambda **kv: dict({"host": "127.0.0.1", "port": plain.port,
                                      "dbname": "postgres", "user": "monitor",
                                      "sslmode": "disable"}, **kv)
        pwc = lambda cmd: on_tls(user="pwuser", password_command=cmd)
        clusters = {
            "plain": on_plain(),
            "tls": on_tls(host="pg-tls.test", sslmode="verify-full", sslrootcert=self.ca.cert),
            "tls_badname": on_tls(host="pg-wrong.test", sslmode="verify-full",
                                  sslrootcert=self.ca.cert),
            "tls_otherca": on_tls(sslmode="verify-full", sslrootcert=self.other_ca.cert),
            "wrongpw": on_tls(user="pwuser", password=WRONG),
            "blackhole": on_plain(port=self.blackhole.port),
            "dnshang": on_plain(host="hang.test"),
            "pwcmd": pwc(pw),
            "pwfail": pwc(self.script("fail.sh", "echo no token >&2; exit 3\n")),
            "pwempty": pwc(self.script("empty.sh", "true\n")),
            "pwmissing": pwc("/nonexistent/token-cmd"),
            "pwbad": pwc(self.script("bad.sh", "echo not-the-password\n")),
            "pwhang": pwc(self.script("hang.sh", "exec sleep 3600\n")),
            # The pid file is written whole, then renamed: the test reads
            # it as soon as it exists (it once read it still empty).
            "pwslow": pwc(self.script("slow.sh", 'echo $$ > "$0.pid.new"\n'
                                      'mv "$0.pid.new" "$0.pid"\nexec sleep 3600\n')),
            "allow": on_tls(sslmode="allow"),
            "prefer_retry": on_tls(user="nomon", sslmode="prefer"),
            "prefer_plain": on_plain(sslmode="prefer"),
        }
        conf = self.config("pgconn", clusters)
        out = self.run_program("pg_pgconn", PG_CONF=conf)
        # Every call refused by the state machine was logged at error with
        # the connection's identity and both states.
        self.assertMatches(r"plain/127\.0\.0\.1:%d: internal error: pgconn_query in "
                           r"connection state idle \(a move to query\)" % plain.port, out)
        self.assertMatches(r"plain/127\.0\.0\.1:%d: internal error: connect in connection "
                           r"state ready \(a move to resolving\)" % plain.port, out)
        self.assertMatches(r"internal error: pgconn_prepare in connection state query", out)
        out += self.run_program("pg_pgconn_password", PG_CONF=conf)
        self.assertNotIn(SECRET, out)
        self.assertNotIn(WRONG, out)
        self.assertNotIn("not-the-password", out)

    def test_discover(self):
        plain = self.plain
        disc = lambda **kv: dict({"host": "127.0.0.1", "port": plain.port, "user": "monitor",
                                  "dbname": "postgres", "sslmode": "disable",
                                  "instances": "discover"}, **kv)
        down = h.free_port()        # nothing listens there
        clusters = {
            "aurora": disc(host=ENDPOINT, dbname="aurora"),
            "plainpg": disc(),
            "empty": disc(host=ENDPOINT, dbname="empty"),
            "broken": disc(host=ENDPOINT, dbname="broken"),
            "down": disc(host=ENDPOINT, port=down),
            "flip": disc(host=ENDPOINT, dbname="flipdb", discover_interval="1s"),
        }
        admin = "host=%s port=%d user=postgres dbname=flipdb" % (plain.sockdir, plain.port)
        self.run_program("pg_discover", PG_CONF=self.config("discover", clusters),
                         PG_ADMIN=admin)

    def test_fleet(self):
        port = self.plain.port
        on = lambda db, **kv: dict({"host": "127.0.0.1", "port": port, "user": "monitor",
                                    "dbname": db, "sslmode": "disable"}, **kv)
        both = "127.0.0.1:%d, localhost:%d" % (port, port)
        first = {"keep": on("keepdb"), "chg": on("chgdb"), "gone": on("gonedb"),
                 "two": on("postgres", instances=both)}
        second = {"keep": on("keepdb"), "chg": on("chgdb2"),
                  "two": on("postgres", instances="127.0.0.1:%d" % port), "new": on("newdb")}
        admin = "host=%s port=%d user=postgres dbname=postgres" % (self.plain.sockdir, port)
        self.run_program("pg_fleet", PG_CONF=self.config("fleet1", first, interval="1s"),
                         PG_CONF2=self.config("fleet2", second, interval="1s"),
                         PG_DB=os.path.join(self.dir, "fleet.db"), PG_ADMIN=admin)


if __name__ == "__main__":
    h.main()
