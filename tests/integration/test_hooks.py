"""Alert hooks (docs/CONTRACT.md section 5) with the real daemon, real PostgreSQL and real
hook programs.

Servers: A (TLS) and C (ssl=off). The hook is tests' own program rec.py,
written into the work directory, whose behaviour is chosen by its argv:

  rec.py OUTDIR MODE [ARGS...]
    record        read stdin, write a record, exit 0
    exit:N        same, then exit N
    sleep:S       read stdin, sleep S seconds, record, exit 0
    slow:APP:S    like sleep:S for the client APP, else record at once
    tree          start /bin/sleep 100 as a child, note both pids, sleep
    noread        never read stdin, sleep 0.3 s, record, exit 0
    closein       close stdin at once, record, exit 0

A record (OUTDIR/rec-*.json) holds argv, the environment exactly as execve
gave it (/proc/self/environ, before Python could add anything), stdin, the
process group and how many hooks were running when it started (each hook
holds a file in OUTDIR/running while it runs).
"""
import base64
import glob
import json
import os
import signal
import time

import harness as h

REC_PY = r'''#!/usr/bin/python3
import base64, json, os, subprocess, sys, time

out, mode = sys.argv[1], sys.argv[2]
t0 = time.time()
run_dir = os.path.join(out, "running")
os.makedirs(run_dir, exist_ok=True)
me = os.path.join(run_dir, str(os.getpid()))
open(me, "w").close()
concurrent = len(os.listdir(run_dir))
with open("/proc/self/environ", "rb") as f:
    env_raw = f.read()
app = os.environb.get(b"SSLHIST_APPLICATION", b"").decode("utf-8", "surrogateescape")
data = b""
if mode == "closein":
    os.close(0)
elif mode != "noread":
    data = sys.stdin.buffer.read()
extra = {}
if mode.startswith("sleep:"):
    time.sleep(float(mode.split(":")[1]))
elif mode.startswith("slow:"):
    _, slow_app, secs = mode.split(":")
    if app == slow_app:
        time.sleep(float(secs))
elif mode == "noread":
    time.sleep(0.3)
elif mode == "tree":
    child = subprocess.Popen(["/bin/sleep", "100"])
    with open(os.path.join(out, "tree-%d" % os.getpid()), "w") as f:
        f.write("%d %d\n" % (os.getpid(), child.pid))
    time.sleep(100)

b64 = lambda b: base64.b64encode(b).decode()
rec = {
    "argv": [b64(os.fsencode(a)) for a in sys.argv],
    "env": [b64(e) for e in env_raw.split(b"\0") if e],
    "stdin": b64(data),
    "pid": os.getpid(), "pgid": os.getpgid(0), "sid": os.getsid(0),
    "start": t0, "end": time.time(), "concurrent": concurrent,
    "fds": sorted(int(x) for x in os.listdir("/proc/self/fd")),
}
tmp = os.path.join(out, ".tmp-%d" % os.getpid())
with open(tmp, "w") as f:
    json.dump(rec, f)
os.rename(tmp, os.path.join(out, "rec-%d-%d.json" % (os.getpid(), time.monotonic_ns())))
sys.stdout.write("hook saw user %s app %s\n" % (
    os.environb.get(b"SSLHIST_USER", b"").decode("utf-8", "surrogateescape"), app))
sys.stderr.write("a line on stderr\n")
os.remove(me)
code = int(mode.split(":")[1]) if mode.startswith("exit:") else 0
sys.exit(code)
'''

SPEC_ENV = ["PATH", "SSLHIST_EVENT", "SSLHIST_CLUSTER", "SSLHIST_INSTANCE",
            "SSLHIST_DATABASE", "SSLHIST_USER", "SSLHIST_APPLICATION",
            "SSLHIST_CLIENT_ADDR", "SSLHIST_SSL", "SSLHIST_TLS_VERSION",
            "SSLHIST_CIPHER", "SSLHIST_FIRST_SEEN"]
CLIENT_KEYS = ["cluster", "instance", "database", "user", "application", "client_addr",
               "client_hostname", "ssl", "tls_version", "cipher", "bits", "client_dn",
               "issuer_dn", "driver", "first_seen", "last_seen", "sessions", "samples",
               "logged_sessions", "seen_by", "via"]


def b(s):
    return s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Hooks(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = h.PgServer(ssl=True, name="a")
        cls.c = h.PgServer(ssl=False, name="c")
        cls.script = os.path.join(h.workdir(), "rec.py")
        with open(cls.script, "w") as f:
            f.write(REC_PY)
        os.chmod(cls.script, 0o755)
        cls.n = 0

    # -- helpers

    def outdir(self):
        Hooks.n += 1
        return h.subdir("hookout-%d" % Hooks.n)

    def hook(self, out, *args):
        return " ".join([self.script, out] + list(args))

    def config(self, hooks, clusters=("gamma",), interval="500ms", **daemon):
        cfg = {"sslhistd": {"interval": interval, "jitter": "10%",
                            "connect_timeout": "5s", "query_timeout": "5s",
                            "max_backoff": "1s", "hook_timeout": "10s",
                            "hook_retry": "1s"}}
        cfg["sslhistd"].update(hooks)
        cfg["sslhistd"].update(daemon)
        if "alpha" in clusters:
            cfg["cluster alpha"] = h.cluster_for(self.a)
        if "gamma" in clusters:
            cfg["cluster gamma"] = h.cluster_for(self.c)
        return cfg

    @staticmethod
    def records(out, app=None):
        recs = []
        for p in sorted(glob.glob(os.path.join(out, "rec-*.json"))):
            with open(p) as f:
                r = json.load(f)
            r["argv"] = [base64.b64decode(x) for x in r["argv"]]
            r["env_list"] = [base64.b64decode(x) for x in r["env"]]
            r["env"] = dict(e.split(b"=", 1) for e in r["env_list"])
            r["stdin"] = base64.b64decode(r["stdin"])
            if app is None or r["env"].get(b"SSLHIST_APPLICATION") == b(app):
                recs.append(r)
        return recs

    @staticmethod
    def alerts(d, app=None):
        q = ("SELECT a.*, c.application, c.user, c.database FROM alert a "
             "JOIN client c ON c.id = a.client_id")
        rows = d.query(q + " WHERE c.application = ?", (app,)) if app else d.query(q)
        return rows

    @staticmethod
    def attempts(d, app):
        return d.query("SELECT t.* FROM alert_attempt t JOIN alert a ON a.id = t.alert_id "
                       "JOIN client c ON c.id = a.client_id WHERE c.application = ? "
                       "ORDER BY t.alert_id, t.attempt", (app,))

    def session(self, server, app, user="app1", dbname="appdb", sslmode="disable"):
        s = h.Session(server, user, dbname, sslmode, app)
        s.wait_visible()
        self.addCleanup(s.close)
        return s

    # -- tests

    def test_env_argv_stdin_exact(self):
        """A hook gets exactly the contract's argv, environment and JSON on stdin."""
        out = self.outdir()
        self.session(self.c, "rec-plain", "app2", "appdb")
        self.session(self.a, "rec-tls", "app3", "appdb", "require")
        d = h.Daemon(self.config({
            "on_non_ssl": self.hook(out, "record", '"two  words"', "$HOME;`id`|x"),
            "on_new_client": self.hook(out, "record")}, clusters=("alpha", "gamma")))
        r = d.run_once()
        self.assertEqual(r.returncode, 0, r.stderr)

        plain = [c for c in d.clients("gamma") if c["application"] == "rec-plain"][0]
        tls = [c for c in d.clients("alpha") if c["application"] == "rec-tls"][0]
        recs = self.records(out, "rec-plain")
        self.assertEqual(sorted(x["env"][b"SSLHIST_EVENT"] for x in recs),
                         [b"new-client", b"non-ssl"], recs)
        for rec in recs + self.records(out, "rec-tls"):
            # nothing else in the environment, in the contract's order
            self.assertEqual([e.split(b"=", 1)[0] for e in rec["env_list"]],
                             [b(k) for k in SPEC_ENV], rec["env_list"])
            self.assertEqual(rec["env"][b"PATH"], b"/usr/local/bin:/usr/bin:/bin")
            self.assertEqual(rec["fds"][:3], [0, 1, 2])
            self.assertEqual(rec["pgid"], rec["pid"], "own process group")
            js = json.loads(rec["stdin"].decode("utf-8"))
            self.assertEqual(list(js.keys()), CLIENT_KEYS + ["event"], js)
            self.assertEqual(b(js["event"]), rec["env"][b"SSLHIST_EVENT"])

        non_ssl = [x for x in recs if x["env"][b"SSLHIST_EVENT"] == b"non-ssl"][0]
        self.assertEqual(non_ssl["argv"][1:], [b(out), b"record", b"two  words",
                                               b"$HOME;`id`|x"])
        self.assertEqual(non_ssl["env"], {
            b"PATH": b"/usr/local/bin:/usr/bin:/bin", b"SSLHIST_EVENT": b"non-ssl",
            b"SSLHIST_CLUSTER": b"gamma",
            b"SSLHIST_INSTANCE": b"127.0.0.1:%d" % self.c.port,
            b"SSLHIST_DATABASE": b"appdb", b"SSLHIST_USER": b"app2",
            b"SSLHIST_APPLICATION": b"rec-plain",
            b"SSLHIST_CLIENT_ADDR": b(plain["client_addr"]),
            b"SSLHIST_SSL": b"false", b"SSLHIST_TLS_VERSION": b"", b"SSLHIST_CIPHER": b"",
            b"SSLHIST_FIRST_SEEN": b(rfc3339(plain["first_seen"]))})
        js = json.loads(non_ssl["stdin"])
        self.assertEqual(js["ssl"], False)
        self.assertIsNone(js["tls_version"])
        self.assertIsNone(js["bits"])
        self.assertEqual(js["instance"], "127.0.0.1:%d" % self.c.port)
        self.assertEqual(js["first_seen"], rfc3339(plain["first_seen"]))

        new_tls = self.records(out, "rec-tls")
        self.assertEqual(len(new_tls), 1, new_tls)
        env = new_tls[0]["env"]
        self.assertEqual(env[b"SSLHIST_EVENT"], b"new-client")
        self.assertEqual(env[b"SSLHIST_SSL"], b"true")
        self.assertEqual(env[b"SSLHIST_TLS_VERSION"], b(tls["tls_version"]))
        self.assertEqual(env[b"SSLHIST_CIPHER"], b(tls["cipher"]))
        self.assertEqual(new_tls[0]["argv"][1:], [b(out), b"record"])
        js = json.loads(new_tls[0]["stdin"])
        self.assertEqual((js["ssl"], js["tls_version"], js["cipher"], js["bits"]),
                         (True, tls["tls_version"], tls["cipher"], tls["bits"]))

        # stdin is one element of `sslhist clients --format json`, plus event
        cli = h.run([h.bin_path("sslhist"), "--db", d.db, "clients", "--format", "json"])
        listed = {c["application"]: c for c in json.loads(cli.stdout)}
        for app in ("rec-plain", "rec-tls"):
            for rec in self.records(out, app):
                js = json.loads(rec["stdin"])
                del js["event"]
                self.assertEqual(js, listed[app])

        # every attempt recorded: ok, exit status 0
        for app in ("rec-plain", "rec-tls"):
            for a in self.alerts(d, app):
                self.assertEqual((a["state"], a["attempts"]), ("ok", 1), a)
            for t in self.attempts(d, app):
                self.assertEqual((t["outcome"], t["exit_status"]), ("ok", 0), t)
        # the hook's output is logged, with the client's identity
        self.assertMatches(r"gamma/127\.0\.0\.1:%d: hook non-ssl .*hook saw user app2 "
                           r"app rec-plain" % self.c.port, r.stderr)
        self.assertMatches(r"a line on stderr", r.stderr)

    def test_hostile_names(self):
        """Shell syntax and control bytes in names: nothing runs, values
        arrive unchanged (role and database names keep every byte)."""
        out = self.outdir()
        w = h.workdir()
        role = "r$(touch %s/p1);\n\x1b[31m`id`" % w
        db = "d`touch %s/p2`|\x1b]0;x\x07" % w
        app = "a;$(touch %s/p3)|`id`&" % w
        self.assertLess(len(b(role)), 64)
        self.assertLess(len(b(db)), 64)
        self.assertLess(len(b(app)), 64)
        qi = lambda s: '"%s"' % s.replace('"', '""')
        self.c.sql("CREATE ROLE %s LOGIN" % qi(role))
        self.c.sql("CREATE DATABASE %s" % qi(db))
        s = h.Session(self.c, role, db, "disable", app)
        s.wait_visible()
        self.addCleanup(s.close)
        d = h.Daemon(self.config({"on_non_ssl": self.hook(out, "record")}))
        r = d.run_once()
        self.assertEqual(r.returncode, 0, r.stderr)
        recs = self.records(out, app)
        self.assertEqual(len(recs), 1, r.stderr)
        env = recs[0]["env"]
        self.assertEqual(env[b"SSLHIST_USER"], b(role))
        self.assertEqual(env[b"SSLHIST_DATABASE"], b(db))
        self.assertEqual(env[b"SSLHIST_APPLICATION"], b(app))
        js = json.loads(recs[0]["stdin"])
        self.assertEqual((js["user"], js["database"], js["application"]), (role, db, app))
        self.assertIn(b"\\u001b", recs[0]["stdin"])
        self.assertNotIn(b"\x1b", recs[0]["stdin"])
        for p in ("p1", "p2", "p3"):
            self.assertFalse(os.path.exists(os.path.join(w, p)), "%s was created" % p)
        # logs never carry the raw bytes
        self.assertNotIn("\x1b", r.stderr)
        self.assertNotIn("\x07", r.stderr)

    def test_timeout_kills_group_and_polling_goes_on(self):
        """A hook past hook_timeout is killed with its child, retried and
        recorded; the loop polls on schedule meanwhile."""
        out = self.outdir()
        self.session(self.c, "slowpoke")
        d = h.Daemon(self.config({"on_non_ssl": self.hook(out, "tree"),
                                  "hook_timeout": "2s", "hook_retry": "1s"}))
        d.start()
        d.wait(lambda: [a for a in self.alerts(d, "slowpoke") if a["state"] == "failed"],
               30, "alert failed after two timeouts")
        ts = self.attempts(d, "slowpoke")
        self.assertEqual([(t["attempt"], t["outcome"], t["exit_status"]) for t in ts],
                         [(1, "timeout", 128 + signal.SIGTERM),
                          (2, "timeout", 128 + signal.SIGTERM)], ts)
        self.assertGreaterEqual(ts[1]["started_at"] - ts[0]["started_at"], 3, ts)
        trees = glob.glob(os.path.join(out, "tree-*"))
        self.assertEqual(len(trees), 2, trees)
        pids = []
        for t in trees:
            with open(t) as f:
                pids += [int(p) for p in f.read().split()]
        h.wait_until(lambda: not any(h.pid_alive(p) for p in pids), 10,
                     "hook processes and their children gone: %r" % pids)
        # polls went on while hooks ran: no gap near hook_timeout
        gap = d.query1("SELECT max(largest_gap_ms) FROM coverage")
        self.assertLess(gap, 1500, d.dump("coverage"))
        self.assertGreater(d.ok_polls("gamma"), 8)
        d.assert_alive()
        self.assertEqual(d.stop()[0], 0)

    def test_exit1_retried_then_failed(self):
        out = self.outdir()
        self.session(self.c, "exit-one")
        d = h.Daemon(self.config({"on_non_ssl": self.hook(out, "exit:1"),
                                  "hook_retry": "1s, 2s"}))
        d.start()
        d.wait(lambda: [a for a in self.alerts(d, "exit-one") if a["state"] == "failed"],
               30, "alert failed after the retries")
        ts = self.attempts(d, "exit-one")
        self.assertEqual([(t["attempt"], t["outcome"], t["exit_status"]) for t in ts],
                         [(1, "failed", 1), (2, "failed", 1), (3, "failed", 1)], ts)
        self.assertGreaterEqual(ts[2]["started_at"] - ts[1]["started_at"], 1, ts)
        d.wait_polls("gamma", 5)
        self.assertEqual(len(self.records(out, "exit-one")), 3)
        self.assertEqual(len(self.attempts(d, "exit-one")), 3, "stays failed")
        cli = h.run([h.bin_path("sslhist"), "--db", d.db, "alerts", "--format", "json"])
        mine = [x for x in json.loads(cli.stdout) if x["application"] == "exit-one"]
        self.assertEqual(sorted((x["attempt"], x["outcome"], x["exit_status"]) for x in mine),
                         [(1, "failed", 1), (2, "failed", 1), (3, "failed", 1)], mine)
        self.assertEqual(d.stop()[0], 0)

    def test_missing_path(self):
        self.session(self.c, "no-hook")
        d = h.Daemon(self.config({"on_non_ssl": "/no/such/hook --flag",
                                  "hook_retry": "500ms"}))
        d.start()
        d.wait(lambda: [a for a in self.alerts(d, "no-hook") if a["state"] == "failed"],
               20, "alert failed")
        ts = self.attempts(d, "no-hook")
        self.assertEqual([(t["outcome"], t["exit_status"], t["error"]) for t in ts],
                         [("failed", None, "/no/such/hook: No such file or directory")] * 2)
        d.wait_polls("gamma", 3)
        d.assert_alive()
        self.assertMatches(r"/no/such/hook: No such file or directory", d.log_text())
        self.assertEqual(d.stop()[0], 0)

    def test_never_reads_stdin(self):
        out = self.outdir()
        self.session(self.c, "deaf")
        self.session(self.c, "closer", "app3")
        d = h.Daemon(self.config({"on_non_ssl": self.hook(out, "noread"),
                                  "on_new_client": self.hook(out, "closein")}))
        r = d.run_once()
        self.assertEqual(r.returncode, 0, r.stderr)
        for app in ("deaf", "closer"):
            self.assertEqual(sorted((a["event"], a["state"]) for a in self.alerts(d, app)),
                             [("new-client", "ok"), ("non-ssl", "ok")])
            self.assertEqual(len(self.records(out, app)), 2)

    def test_hundred_clients_max_running(self):
        """100 new non-SSL clients at once: never more than hook_max_running
        hooks at a time, all of them run, polling goes on."""
        out = self.outdir()
        sessions = [h.Session(self.c, "app2", "appdb", "disable", "bulk-%03d" % i)
                    for i in range(100)]
        for s in sessions:
            self.addCleanup(s.close)
        h.wait_all_visible(sessions, timeout=60)
        d = h.Daemon(self.config({"on_non_ssl": self.hook(out, "sleep:0.2"),
                                  "hook_max_running": 3}))
        d.start()
        d.wait(lambda: len([a for a in self.alerts(d) if a["application"].startswith("bulk-")
                            and a["state"] == "ok"]) == 100, 120, "100 hooks ok")
        recs = [r for r in self.records(out)
                if r["env"][b"SSLHIST_APPLICATION"].startswith(b"bulk-")]
        self.assertEqual(sorted(r["env"][b"SSLHIST_APPLICATION"] for r in recs),
                         [b"bulk-%03d" % i for i in range(100)])
        self.assertLessEqual(max(r["concurrent"] for r in self.records(out)), 3)
        # and measured from start/end times as well
        events = sorted([(r["start"], 1) for r in recs] + [(r["end"], -1) for r in recs])
        cur = peak = 0
        for _, delta in events:
            cur += delta
            peak = max(peak, cur)
        self.assertLessEqual(peak, 3)
        self.assertGreaterEqual(peak, 2, "hooks ran side by side")
        gap = d.query1("SELECT max(largest_gap_ms) FROM coverage")
        self.assertLess(gap, 2000, d.dump("coverage"))
        self.assertEqual(d.stop()[0], 0)

    def test_restart_and_kill9_never_rerun_completed(self):
        out = self.outdir()
        self.session(self.c, "done-fast")
        self.session(self.c, "cut-short", "app3")
        cfg = self.config({"on_non_ssl": self.hook(out, "slow:cut-short:3")})
        d = h.Daemon(cfg)
        d.start()
        d.wait(lambda: [a for a in self.alerts(d, "done-fast") if a["state"] == "ok"] and
               [a for a in self.alerts(d, "cut-short") if a["state"] == "running"],
               20, "fast hook done, slow one running")
        d.stop(signal.SIGKILL)
        d.start()
        d.wait(lambda: [a for a in self.alerts(d, "cut-short") if a["state"] == "ok"],
               20, "interrupted hook run again")
        ts = self.attempts(d, "cut-short")
        self.assertEqual([(t["attempt"], t["outcome"], t["error"]) for t in ts],
                         [(1, "failed", "interrupted by daemon restart"), (2, "ok", None)], ts)
        # a clean restart
        self.assertEqual(d.stop()[0], 0)
        d.start()
        d.wait_polls("gamma", 4)
        self.assertEqual(d.stop()[0], 0)
        self.assertEqual(len(self.records(out, "done-fast")), 1)
        self.assertEqual(len(self.attempts(d, "done-fast")), 1)
        self.assertEqual(len(self.attempts(d, "cut-short")), 2)

    def test_once_waits_for_hooks(self):
        out = self.outdir()
        self.session(self.c, "once-wait")
        d = h.Daemon(self.config({"on_non_ssl": self.hook(out, "sleep:1.5")}))
        t0 = time.monotonic()
        r = d.run_once()
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(took, 1.5)
        self.assertEqual(len(self.records(out, "once-wait")), 1)
        self.assertEqual([a["state"] for a in self.alerts(d, "once-wait")], ["ok"])


if __name__ == "__main__":
    h.main()
