"""kill -9 of sslhistd at random moments while it writes, 20 rounds on the
same database file.

Four instances are polled every 100 ms (about 40 commits a second). Every
round starts the daemon again (it must come up on the file the last one
left), adds a client (so there is something new to write and a hook to
run), lets it poll for a random time and kills it with SIGKILL. Then:

* PRAGMA integrity_check is ok;
* every poll committed before the kill is in the file: the daemon logs
  (debug) each poll after its COMMIT, and the store holds at least as many
  polls as were logged, and at most one more per kill (a poll committed
  whose line the kill prevented);
* no completed hook ran twice: the hook (a shell script) appends a line
  when it starts; each (client, event) ran at most as many times as the
  store recorded attempts, no attempt follows a successful one, and an
  attempt the kill cut short shows as failed, "interrupted by daemon
  restart" (docs/CONTRACT.md section 5: it runs once more).

The random delays come from a seed printed at the start; set
SSLHIST_CRASH_SEED to replay a failure.
"""
import os
import random
import re
import signal
import time

import harness as h

ROUNDS = 20
HOOK_SH = """#!/bin/sh
# One line per run; it outlives a killed daemon (own process group).
echo "start $SSLHIST_EVENT $SSLHIST_CLUSTER $SSLHIST_APPLICATION $$" >> "$1"
cat >/dev/null
sleep 0.2
echo "done $SSLHIST_EVENT $SSLHIST_CLUSTER $SSLHIST_APPLICATION $$" >> "$1"
"""
STORED_RE = re.compile(r"stored the poll of instance (\d+) at (\d+) ms \((ok|failed)\)")


class Crash(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = h.PgServer(ssl=True, name="crash")
        cls.first = h.Session(cls.srv, "app1", "appdb", "disable", "crash-base")
        cls.first.wait_visible()
        hookdir = h.subdir("crash-hook")
        cls.hook, cls.hook_out = os.path.join(hookdir, "hook.sh"), os.path.join(hookdir, "runs")
        with open(cls.hook, "w") as f:
            f.write(HOOK_SH)
        os.chmod(cls.hook, 0o755)

    def runs(self):
        """(event, cluster, application) -> times the hook started."""
        counts = {}
        try:
            with open(self.hook_out) as f:
                for line in f:
                    parts = line.split()
                    if parts and parts[0] == "start":
                        key = (parts[1], parts[2], parts[3])
                        counts[key] = counts.get(key, 0) + 1
        except FileNotFoundError:
            pass
        return counts

    def check_hooks(self, d, final=False):
        runs = self.runs()
        attempts = {}
        for a in h.sslhist_json(d.db, "alerts"):
            attempts.setdefault((a["event"], a["cluster"], a["application"]), []).append(a)
        for key, n in runs.items():
            got = sorted(attempts.get(key, []), key=lambda a: a["attempt"])
            self.assertLessEqual(n, len(got), "hook %s ran %d times, %d attempts stored: %s"
                                 % (key, n, len(got), got))
        for key, got in attempts.items():
            got.sort(key=lambda a: a["attempt"])
            oks = [a for a in got if a["outcome"] == "ok"]
            self.assertLessEqual(len(oks), 1, "hook %s succeeded twice: %s" % (key, got))
            if oks:
                self.assertEqual(oks[0]["attempt"], got[-1]["attempt"],
                                 "hook %s ran again after it succeeded: %s" % (key, got))
            if final:
                self.assertEqual(got[-1]["outcome"], "ok", "hook %s never completed: %s"
                                 % (key, got))
        return runs, attempts

    def test_kill_9_at_random_moments(self):
        seed = int(os.environ.get("SSLHIST_CRASH_SEED", random.SystemRandom().randrange(1 << 30)))
        print("SSLHIST_CRASH_SEED=%d" % seed, flush=True)
        rnd = random.Random(seed)
        cfg = {"sslhistd": {"interval": "100ms", "jitter": "0%", "hook_retry": "100ms",
                            "on_new_client": "%s %s" % (self.hook, self.hook_out)},
               "cluster one": h.cluster_for(self.srv),
               "cluster two": h.cluster_for(self.srv, sslmode="disable"),
               "cluster three": h.cluster_for(self.srv),
               "cluster four": h.cluster_for(self.srv, sslmode="disable")}
        d = h.Daemon(cfg, name="crash")
        self.addCleanup(lambda: d.alive() and d.stop())
        logged = {"ok": 0, "failed": 0}
        sessions = []
        for rnd_no in range(ROUNDS):
            log0 = len(d.log_text())
            d.start("-v")
            sessions.append(h.Session(self.srv, "app2", "appdb", "disable",
                                      "crash-%02d" % rnd_no))
            d.wait(lambda: STORED_RE.search(d.log_text()[log0:]), 20,
                   "round %d: a poll stored" % rnd_no)
            delay = rnd.uniform(0.0, 0.6)
            time.sleep(delay)       # the random moment of the kill
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            text = d.log_text()[log0:]
            stored = STORED_RE.findall(text)
            for _inst, _at, outcome in stored:
                logged[outcome] += 1
            self.assertEqual(d.query1("PRAGMA integrity_check"), "ok", "round %d" % rnd_no)
            in_db = d.query("SELECT coalesce(sum(polls - failed_polls), 0) AS ok, "
                            "coalesce(sum(failed_polls), 0) AS failed FROM coverage")[0]
            h.log("round %d: killed after %.3f s; %d polls logged as stored, store holds "
                  "%d ok + %d failed (logged %d + %d)" % (
                      rnd_no, delay, len(stored), in_db["ok"], in_db["failed"],
                      logged["ok"], logged["failed"]))
            for k in ("ok", "failed"):
                self.assertGreaterEqual(in_db[k], logged[k], "round %d: %s polls logged as "
                                        "committed are missing" % (rnd_no, k))
                self.assertLessEqual(in_db[k], logged[k] + rnd_no + 1,
                                     "round %d: more %s polls than commits" % (rnd_no, k))
            self.check_hooks(d)
        # A last, clean run: it recovers what the kills interrupted, every
        # client's hook completes, and each completed hook ran once.
        log0 = len(d.log_text())
        d.start()
        want = {s.application_name for s in sessions}
        want_hooks = {(c, a) for c in ("one", "two", "three", "four")
                      for a in want}
        d.wait(lambda: want_hooks <= {(c, a) for (_e, c, a), got in
                                      self.check_hooks(d)[1].items()
                                      if max(got, key=lambda x: x["attempt"])["outcome"]
                                      == "ok"}, 30, "every round's hook completed")
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.log_text()[log0:])
        runs, attempts = self.check_hooks(d, final=True)
        interrupted = sum(1 for got in attempts.values() for a in got if a["outcome"] != "ok")
        reruns = sum(n - 1 for n in runs.values() if n > 1)
        h.log("seed %d: %d hooks, %d re-run after a kill, %d attempts not ok"
              % (seed, len(runs), reruns, interrupted))
        apps = {c["application"] for c in h.sslhist_json(d.db, "clients")}
        self.assertTrue(want <= apps, "clients of some rounds lost: %s" % (want - apps))
        for s in sessions:
            s.close()


if __name__ == "__main__":
    h.main()
