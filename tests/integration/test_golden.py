"""Golden tests: every command and format of sslhist, byte for byte, over a
history that the real sslhistd recorded from real PostgreSQL servers.

The history is made deterministic without faking any of it: fixed sessions
held open, `sslhistd --once` run twice (each instance polled exactly once per
run), and between the two runs a burst of short connections that the second
poll counts as missed. What still differs from run to run (ports, times,
certificate fingerprints) is replaced by placeholders of the same width, so
that table alignment is compared too. The expected outputs are
tests/integration/golden/*.out; regenerate them with
SSLHIST_GOLDEN_UPDATE=1 after an intended change, and read the diff.
"""
import csv
import difflib
import io
import json
import os
import re
import subprocess

import harness as h

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
UPDATE = os.environ.get("SSLHIST_GOLDEN_UPDATE") == "1"
ESC_ROLE = "esc\x1b[31mred\x1b[0m"
NL_ROLE = "nl\nline2"
HOSTILE_APP = "app'\"$(id)`id`;x"

COMMANDS = {
    "clients.table": ["clients"],
    "clients.json": ["clients", "--format", "json"],
    "clients.csv": ["clients", "--format", "csv"],
    "clients-non-ssl.table": ["clients", "--non-ssl"],
    "clients-cluster.json": ["clients", "--cluster", "beta", "--format", "json"],
    "instances.table": ["instances"],
    "instances.json": ["instances", "--format", "json"],
    "instances.csv": ["instances", "--format", "csv"],
    "report.table": ["report"],
    "report.json": ["report", "--format", "json"],
    "report-cluster.table": ["report", "--cluster", "beta"],
    "alerts.table": ["alerts"],
    "alerts.json": ["alerts", "--format", "json"],
    "alerts.csv": ["alerts", "--format", "csv"],
}


def ident(s):
    return '"%s"' % s.replace('"', '""')


def sort_runs(items, key):
    """items with each run of consecutive items of equal key(item) sorted."""
    out, run = [], []
    for it in items:
        if run and key(run[0]) != key(it):
            out += sorted(run)
            run = []
        run.append(it)
    return out + sorted(run)


def csv_record(fields):
    """One RFC 4180 record: a field is quoted when it holds a comma, a quote
    or a line break; CRLF ends the record."""
    out = []
    for f in fields:
        if any(c in f for c in ',"\r\n'):
            f = '"%s"' % f.replace('"', '""')
        out.append(f)
    return ",".join(out) + "\r\n"


def canon(v, loose=False):
    """JSON with the ties of every array sorted (see Golden.normalize); with
    loose, the top-level array's items in any order."""
    if isinstance(v, dict):
        return {k: canon(x) for k, x in v.items()}
    if isinstance(v, list):
        dumps = [json.dumps(canon(x), ensure_ascii=False) for x in v]
        return [json.loads(d) for d in sort_runs(dumps, lambda d: 0 if loose else d[:40])]
    return v


class Golden(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = h.CA("golden", subject_cn="Golden Test CA")
        cls.a = h.PgServer(ssl=True, ca=cls.ca, name="a")
        cls.b = h.PgServer(ssl=False, name="b")
        for r in (ESC_ROLE, NL_ROLE):
            cls.a.sql("CREATE ROLE %s LOGIN" % ident(r))
        S = h.Session
        cls.sessions = [
            S(cls.a, "app1", "appdb", "require", "PostgreSQL JDBC Driver"),
            S(cls.a, "app3", "appdb", "require", "psql"),
            S(cls.a, "app3", "appdb", "require", "psql"),     # same client, 2 sessions
            S(cls.a, "app2", "appdb", "disable", "legacy-report-job"),
            S(cls.a, ESC_ROLE, "appdb", "require", "golden-esc"),
            S(cls.a, NL_ROLE, "postgres", "disable", "golden-nl"),
            S(cls.a, "app2", "appdb", "require", HOSTILE_APP),
            S(cls.b, "app3", "appdb", "disable", "node-postgres"),
        ]
        h.wait_all_visible(cls.sessions)
        hook = os.path.join(h.subdir("hooks"), "hook.sh")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\ncat >/dev/null\nexit 0\n")
        os.chmod(hook, 0o755)
        cfg = {"sslhistd": {"interval": "10s", "on_non_ssl": hook},
               "cluster alpha": h.cluster_for(cls.a, host="localhost"),
               "cluster beta": h.cluster_for(cls.b)}
        cls.d = h.Daemon(cfg)
        for run in (1, 2):
            r = cls.d.run_once()
            if r.returncode != 0:
                raise AssertionError("sslhistd --once (run %d) exited %d:\n%s"
                                     % (run, r.returncode, r.stderr))
            if run == 1:
                h.burst(cls.a, n=6, hold_ms=1, application_name="golden-burst")
                h.burst(cls.b, n=3, hold_ms=1, application_name="golden-burst")

    @property
    def server_version(self):
        if not hasattr(self, "_version"):
            type(self)._version = self.a.sql1("SHOW server_version")
        return self._version

    def sslhist(self, args):
        # -c: the report takes the interval from the configuration.
        argv = [h.bin_path("sslhist"), "-c", self.d.conf, "--db", self.d.db] + args
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, timeout=60)
        self.assertEqual(r.returncode, 0, "%s: %s" % (args, r.stderr.decode(errors="replace")))
        return r.stdout

    def normalize(self, name, out):
        """Placeholders of the same width for what varies between runs, and
        ties in the tool's order (clients seen in the same second are in
        the order the daemon inserted them, which follows the server's row
        order) sorted."""
        t = self.placeholders(out.decode("utf-8"))
        # Alerts are in the order the polls of different instances were
        # stored: any order of the rows is right.
        loose = name.startswith("alerts")
        if name.endswith(".json"):
            return json.dumps(canon(json.loads(t.replace(":PORTA,", ":11111,")
                                               .replace(":PORTB,", ":22222,")), loose),
                              indent=1, ensure_ascii=False) + "\n"
        if name.endswith(".csv"):
            rows = list(csv.reader(io.StringIO(t, newline="")))
            # The tool quotes exactly as RFC 4180 needs: nothing more.
            self.assertEqual("".join(csv_record(r) for r in rows), t, name)
            rows = rows[:1] + sort_runs(rows[1:], lambda r: 0 if loose else r[:2])
            return "".join(csv_record(r) for r in rows)
        lines = t.splitlines(True)
        return "".join(lines[:1] + sort_runs(lines[1:], lambda line: 0 if loose
                                             else line.split()[:2]))

    def placeholders(self, t):
        t = t.replace(":%d" % self.a.port, ":PORTA").replace(":%d" % self.b.port, ":PORTB")
        for port, name in ((self.a.port, "PORTA"), (self.b.port, "PORTB")):
            t = re.sub(r"(?<![0-9])%d(?![0-9])" % port, name, t)
        t = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "YYYY-MM-DDTHH:MM:SSZ", t)
        # Debian's point release of PostgreSQL 15 moves on; the table cuts it.
        v = self.server_version
        t = t.replace(v, "V" * len(v))
        for k in range(len(v) - 1, 9, -1):
            t = t.replace(v[:k] + "...", "V" * k + "...")
        t = re.sub(r"(?:[0-9A-F]{2}:){31}[0-9A-F]{2}", "SHA256", t)
        return t

    def test_every_command_and_format(self):
        failures = []
        for name, args in COMMANDS.items():
            got = self.normalize(name, self.sslhist(args))
            path = os.path.join(GOLDEN, name + ".out")
            if UPDATE:
                os.makedirs(GOLDEN, exist_ok=True)
                with open(path, "w", encoding="utf-8", newline="") as f:
                    f.write(got)
                continue
            with open(path, encoding="utf-8", newline="") as f:
                want = f.read()
            if got != want:
                diff = "".join(difflib.unified_diff(
                    want.splitlines(True), got.splitlines(True), path, "got"))
                failures.append("%s differs:\n%s" % (name, diff))
        self.assertEqual(failures, [], "\n".join(failures))

    def test_golden_files_are_checked(self):
        # A golden file no command produces would silently stop testing.
        if UPDATE:
            self.skipTest("updating")
        names = {f[:-4] for f in os.listdir(GOLDEN) if f.endswith(".out")}
        self.assertEqual(names, set(COMMANDS))


if __name__ == "__main__":
    h.main()
