"""sslhist reads in bounded batches: every row exactly once, whatever the batch
boundaries, over a generated history (bench/gen_history.py, no daemon):
instances with far more clients than one batch (512), many of them sharing
one last_seen (the cursor's tie-break), and more alerts than one id range.
Complements test_cli.py, which runs over what the real daemon recorded.
"""
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "..", "bench", "gen_history.py")
BIN = os.path.join(os.path.abspath(os.environ.get("SSLHIST_BIN", os.path.join(
    HERE, "..", "..", "build"))), "sslhist")


def sslhist(db, *args):
    r = subprocess.run([BIN, "--db", db] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        raise AssertionError("sslhist %s: exit %d: %s" % (args, r.returncode, r.stderr))
    return r.stdout


class Batches(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory(prefix="sslhist-batches-")
        cls.db = os.path.join(cls.dir.name, "h.db")
        subprocess.run([sys.executable, GEN, cls.db, "--instances", "3", "--clients", "12001",
                        "--hours", "2"], check=True)
        con = sqlite3.connect(cls.db)
        # A third of the clients share one last_seen: the cursor must order
        # them by id, not skip or repeat them.
        con.execute("UPDATE client SET last_seen = (SELECT max(last_seen) FROM client)"
                    " WHERE id % 3 = 0")
        con.commit()
        cls.rows = con.execute("SELECT id, client_addr, ssl, tls_version, last_seen "
                               "FROM client").fetchall()
        cls.alert_rows = (con.execute("SELECT count(*) FROM alert_attempt").fetchone()[0] +
                          con.execute("SELECT count(*) FROM alert WHERE state IN "
                                      "('pending', 'running')").fetchone()[0])
        con.close()

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_clients_every_row_once(self):
        want = sorted(r[1] for r in self.rows)
        for fmt in ("json", "csv", "table"):
            out = sslhist(self.db, "clients", "--format", fmt)
            if fmt == "json":
                got = [c["client_addr"] for c in json.loads(out)]
            elif fmt == "csv":
                got = [r["client_addr"] for r in csv.DictReader(io.StringIO(out.decode()))]
            else:
                lines = out.decode().rstrip("\n").split("\n")
                start = lines[0].index("ADDRESS")
                got = [ln[start:].split()[0] for ln in lines[1:]]
            self.assertEqual(sorted(got), want, fmt)

    def test_filters_match_sql(self):
        non = sorted(r[1] for r in self.rows if not r[2])
        got = json.loads(sslhist(self.db, "clients", "--non-ssl", "--format", "json"))
        self.assertEqual(sorted(c["client_addr"] for c in got), non)
        self.assertTrue(all(c["ssl"] is False for c in got))

    def test_report_names_every_flagged_client(self):
        rep = json.loads(sslhist(self.db, "report", "--format", "json"))
        texts = [f["text"] for c in rep["clusters"] for f in c["findings"]]
        non = [t for t in texts if t.startswith("non-SSL client")]
        weak = [t for t in texts if t.startswith("TLSv1.1 client")]
        self.assertEqual(len(non), len([r for r in self.rows if not r[2]]))
        self.assertEqual(len(weak), len([r for r in self.rows if r[3] == "TLSv1.1"]))
        self.assertEqual(sum(c["clients"] for c in rep["clusters"]), len(self.rows))

    def test_alerts_every_row_once(self):
        got = json.loads(sslhist(self.db, "alerts", "--format", "json"))
        self.assertGreater(self.alert_rows, 512)
        self.assertEqual(len(got), self.alert_rows)
        pending = [a for a in got if a["outcome"] == "pending"]
        self.assertTrue(pending)
        self.assertTrue(all(a["started_at"] is None for a in pending))


if __name__ == "__main__":
    unittest.main(verbosity=2)
