"""sslhistd under systemd, with systemd's two sockets played by the test
(sdsock.py): the notify protocol on NOTIFY_SOCKET, and logging through the
journal's native protocol.

Notify, with WATCHDOG_USEC=2000000. One daemon polls three clusters (two on
one server, one that never answers: a Blackhole):
  * READY=1 within 2 s of the start: it waits for no instance;
  * STATUS= at once, then kept current (2 ok, 1 failing);
  * WATCHDOG=1 every ~1 s (half of WATCHDOG_USEC);
  * the loop deliberately stalled: SIGSTOP for 3 s. No WATCHDOG=1 arrives
    while it is stopped, and the ping that was due then is withheld after
    SIGCONT (the watchdog timer notices it ran late, and says so in the
    log) instead of hiding the stall: the gap between two pings exceeds
    WATCHDOG_USEC, so systemd would have killed it. Then pings resume;
  * SIGHUP: RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC, the clock
    systemd compares it with) in one message, then READY=1;
  * SIGTERM: STOPPING=1 and exit 0 within 2 s.

Journal: JOURNAL_STREAM names the daemon's stderr, and
/run/systemd/journal/socket is the test's socket (a private mount
namespace), so every event arrives as a native-protocol entry with
PRIORITY, MESSAGE_ID, SSLHIST_CLUSTER, SSLHIST_INSTANCE, SSLHIST_USER, ...
A role name with a newline arrives in the protocol's binary form, and the
password a password_command prints appears nowhere. With a JOURNAL_STREAM
that is not its stderr, the daemon writes one line per event on stderr.
"""
import os
import re
import signal
import time

import harness as h
import sdsock

WATCHDOG_USEC = 2000000
PERIOD = WATCHDOG_USEC / 2e6          # seconds between pings
STALL = 3.0                           # seconds the daemon is kept stopped


def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


SECRET = "Journal-s3cret-tok3n-9d1e"
NL_USER = "nl\nuser"


def setUpModule():
    global SERVER
    SERVER = h.PgServer(ssl=True, name="a")


class Notify(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = SERVER
        cls.hole = h.Blackhole()
        # A password_command (the server trusts `monitor`) that keeps its
        # environment: the service manager's variables must not reach it.
        d = h.subdir("notify-scripts")
        cls.env_dump = os.path.join(d, "env.sh")
        with open(cls.env_dump, "w") as f:
            f.write("#!/bin/sh\nenv > \"$0.env\"\necho unused\n")
        os.chmod(cls.env_dump, 0o700)

    def test_protocol(self):
        n = sdsock.NotifySocket()
        cfg = {"sslhistd": {"interval": "500ms", "connect_timeout": "1s"},
               "cluster a": h.cluster_for(self.a),
               "cluster b": h.cluster_for(self.a, dbname="appdb", sslmode="require",
                                          password_command=self.env_dump),
               "cluster silent": {"host": "127.0.0.1", "port": self.hole.port,
                                  "sslmode": "disable", "user": "monitor"}}
        d = h.Daemon(cfg)
        t0 = time.monotonic()
        d.start(env=n.env(WATCHDOG_USEC))
        self.addCleanup(lambda: d.alive() and d.stop())

        ready = d.wait(lambda: n.times("READY=1"), 2.0, "READY=1 within 2 s")
        self.assertLess(ready[0] - t0, 2.0)
        self.assertTrue(any(l.startswith("STATUS=") for l in n.lines()),
                        "no STATUS= with READY=1: %r" % n.messages())

        # Cadence: half of WATCHDOG_USEC.
        pings = d.wait(lambda: (lambda t: t if len(t) >= 4 else None)(n.times("WATCHDOG=1")),
                       10, "four WATCHDOG=1 pings")
        for g in gaps(pings):
            self.assertTrue(0.6 * PERIOD < g < 1.5 * PERIOD,
                            "ping gaps %r, expected about %.1f s" % (gaps(pings), PERIOD))
        d.wait(lambda: any(l.startswith("STATUS=3 instances: 2 ok, 1 failing")
                           for l in n.lines()), 12, "STATUS= naming the failing instance")
        self.assertTrue(any("last poll stored 20" in l for l in n.lines()), n.lines())
        with open(self.env_dump + ".env") as f:
            child_env = f.read()
        self.assertIn("SSLHIST_HOST=127.0.0.1", child_env)
        self.assertNoMatch(r"(?m)^(NOTIFY_SOCKET|WATCHDOG_\w+)=", child_env,
                           "the service manager's variables leaked to password_command")

        # The stalled loop.
        d.proc.send_signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        time.sleep(STALL)               # the stall itself: nothing to wait for
        t_cont = time.monotonic()
        d.proc.send_signal(signal.SIGCONT)
        resumed = d.wait(lambda: [t for t in n.times("WATCHDOG=1") if t > t_cont], 5,
                         "WATCHDOG=1 after SIGCONT")
        during = [t for t in n.times("WATCHDOG=1") if t_stop + 0.2 < t < t_cont]
        self.assertEqual(during, [], "pings while stopped")
        before = [t for t in n.times("WATCHDOG=1") if t <= t_stop + 0.2]
        self.assertGreater(resumed[0] - t_cont, 0.7 * PERIOD,
                           "the ping due during the stall was sent, not withheld")
        self.assertGreater(resumed[0] - before[-1], WATCHDOG_USEC / 1e6,
                           "the stall did not exceed WATCHDOG_USEC between pings")
        self.assertMatches(r"watchdog: the event loop was stalled \(its timer ran \d+ ms late\)",
                           d.log_text())
        after = d.wait(lambda: (lambda t: t if len(t) >= 2 else None)(
            [t for t in n.times("WATCHDOG=1") if t > t_cont]), 6, "pings resumed")
        for g in gaps(after):
            self.assertTrue(0.6 * PERIOD < g < 1.5 * PERIOD, "gaps after resume %r" % gaps(after))
        d.wait_polls("a", 2)

        # Reload.
        count = len(n.messages())
        t_hup = time.monotonic()
        d.proc.send_signal(signal.SIGHUP)
        d.wait(lambda: n.times("READY=1")[-1] > t_hup, 5, "READY=1 after SIGHUP")
        new = [m for _t, m in n.messages()[count:]]
        reloading = [m for m in new if "RELOADING=1" in m.split("\n")]
        self.assertEqual(len(reloading), 1, new)
        fields = dict(l.split("=", 1) for l in reloading[0].split("\n") if "=" in l)
        self.assertIn("MONOTONIC_USEC", fields, reloading[0])
        mono = int(fields["MONOTONIC_USEC"]) / 1e6
        self.assertLess(abs(mono - t_hup), 1.0, "MONOTONIC_USEC is not CLOCK_MONOTONIC")
        self.assertLess(new.index(reloading[0]),
                        max(i for i, m in enumerate(new) if "READY=1" in m.split("\n")),
                        "READY=1 must follow RELOADING=1: %r" % new)

        # Stop.
        rc, took = d.stop(signal.SIGTERM, within=2.0)
        self.assertEqual(rc, 0, d.log_text())
        self.assertLess(took, 2.0)
        # Sent before the exit, so in the socket's queue by now; the
        # reader thread may not have taken it yet (the one hidden run that
        # "saw no STOPPING=1" asserted before it had).
        h.wait_until(lambda: "STOPPING=1" in n.lines(), 5, "STOPPING=1")

    def test_no_watchdog_without_watchdog_usec(self):
        # Outside a WatchdogSec= unit, no pings and no timer; --once sends
        # READY=1 too (the protocol is the same) and exits.
        n = sdsock.NotifySocket()
        d = h.Daemon({"sslhistd": {"interval": "500ms"}, "cluster a": h.cluster_for(self.a)})
        r = h.run(d.argv("--once"), check=False, timeout=30,
                  env=dict(h._clean_env(), **n.env()))
        self.assertEqual(r.returncode, 0, r.stderr)
        h.wait_until(lambda: "READY=1" in n.lines(), 2, "READY=1 from --once")
        self.assertNotIn("WATCHDOG=1", n.lines())


    def test_sigterm_before_the_loop(self):
        # SIGTERM while the daemon is still reading its configuration (a
        # FIFO: it waits in open() until the test writes): it must wait for
        # the loop, then stop as always: STOPPING=1, exit 0. Before the
        # signals were held from the first line of main(), it died of the
        # signal (no STOPPING=1).
        n = sdsock.NotifySocket()
        d = h.Daemon({"sslhistd": {"interval": "500ms"}, "cluster a": h.cluster_for(self.a)})
        with open(d.conf) as f:
            text = f.read()
        fifo = d.conf + ".fifo"
        os.mkfifo(fifo, 0o600)
        d.conf = fifo
        d.start(env=n.env())
        self.addCleanup(lambda: d.alive() and d.stop())
        openat = {"x86_64": "257", "aarch64": "56"}[os.uname().machine]
        def in_open():
            with open("/proc/%d/syscall" % d.proc.pid) as f:
                return f.read().split()[0] == openat
        h.wait_until(in_open, 10, "sslhistd waiting in open() of its configuration")
        d.proc.send_signal(signal.SIGTERM)
        with open(fifo, "w") as f:
            f.write(text)
        self.assertEqual(d.proc.wait(10), 0, d.log_text())
        h.wait_until(lambda: "STOPPING=1" in n.lines(), 5, "STOPPING=1")
        self.assertIn("SIGTERM: stopping", d.log_text())

    def test_failed_notify_is_logged(self):
        # NOTIFY_SOCKET naming no socket: every message fails; the daemon
        # says so (at warning; the watchdog's pings at debug) and runs on.
        gone = os.path.join(h.subdir("notify-gone"), "none.sock")
        d = h.Daemon({"sslhistd": {"interval": "500ms", "log_level": "debug"},
                      "cluster a": h.cluster_for(self.a)})
        d.start(env={"NOTIFY_SOCKET": gone, "WATCHDOG_USEC": "400000"})
        self.addCleanup(lambda: d.alive() and d.stop())
        d.wait(lambda: "warning: sd_notify(READY=1) failed: No such file or directory"
               in d.log_text(), 5, "the failed READY=1 logged at warning")
        d.wait(lambda: "debug: sd_notify(WATCHDOG=1) failed: No such file or directory"
               in d.log_text(), 5, "a failed ping logged at debug")
        self.assertRegex(d.log_text(), r"warning: sd_notify\(STATUS=[^)]*\) failed")
        d.wait_polls("a", 1)
        rc, _took = d.stop(signal.SIGTERM, within=2.0)
        self.assertEqual(rc, 0)
        self.assertIn("warning: sd_notify(STOPPING=1) failed", d.log_text())


class Journal(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = SERVER
        cls.srv.sql("CREATE ROLE pwuser LOGIN PASSWORD '%s' IN ROLE pg_monitor" % SECRET)
        cls.srv.sql("DO $$ BEGIN EXECUTE format('CREATE ROLE %%I LOGIN', %s); END $$"
                    % "E'nl\\nuser'")
        with open(os.path.join(cls.srv.datadir, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "host all pwuser 127.0.0.1/32 scram-sha-256\n"
                    "host all all 127.0.0.1/32 trust\n")
        cls.srv.sql("SELECT pg_reload_conf()")
        cls.sessions = [h.Session(cls.srv, "app2", "appdb", "disable", "j-plain"),
                        h.Session(cls.srv, NL_USER, "appdb", "require", "j-newline")]
        h.wait_all_visible(cls.sessions)
        cls.dir = h.subdir("journal-scripts")
        cls.pw = os.path.join(cls.dir, "token.sh")
        with open(cls.pw, "w") as f:
            f.write("#!/bin/sh\necho '%s'\n" % SECRET)
        os.chmod(cls.pw, 0o700)
        cls.closed = h.free_port()

    def config(self):
        return {"sslhistd": {"interval": "300ms", "connect_timeout": "2s"},
                "cluster jr": h.cluster_for(self.srv, user="pwuser",
                                            password_command=self.pw),
                "cluster down": {"host": "127.0.0.1", "port": self.closed,
                                 "sslmode": "disable", "user": "monitor"}}

    def entry(self, js, pred, what):
        return h.wait_until(lambda: next((e for e in js.entries() if pred(e)), None), 10, what)

    def test_journal_fields(self):
        js = sdsock.JournalSocket()
        d = sdsock.JournalDaemon(self.config(), js)
        d.start()
        self.addCleanup(lambda: d.alive() and d.stop())
        inst = ("127.0.0.1:%d" % self.srv.port).encode()
        non_ssl = self.entry(js, lambda e: e.get("MESSAGE_ID") ==
                             b"5b1c7e0f4a2d4e6c9d3f8a1b2c3d4e01", "a non-SSL client event")
        self.assertEqual(non_ssl["PRIORITY"], b"4")
        self.assertEqual(non_ssl["SYSLOG_IDENTIFIER"], b"sslhistd")
        self.assertEqual(non_ssl["SSLHIST_CLUSTER"], b"jr")
        self.assertEqual(non_ssl["SSLHIST_INSTANCE"], inst)
        self.assertEqual(non_ssl["SSLHIST_USER"], b"app2")
        self.assertEqual(non_ssl["SSLHIST_DATABASE"], b"appdb")
        self.assertEqual(non_ssl["SSLHIST_APPLICATION"], b"j-plain")
        self.assertEqual(non_ssl["SSLHIST_EVENT"], b"non-ssl")
        self.assertMatches(r"^jr/127\.0\.0\.1:\d+: non-SSL client: .*user \"app2\"",
                           non_ssl["MESSAGE"].decode())

        # A newline in a value: the binary form, the value whole; the
        # MESSAGE line escapes it.
        nl = self.entry(js, lambda e: e.get("SSLHIST_USER") == NL_USER.encode(),
                        "the new-client event of the role with a newline")
        self.assertEqual(nl["MESSAGE_ID"], b"5b1c7e0f4a2d4e6c9d3f8a1b2c3d4e03")
        self.assertEqual(nl["PRIORITY"], b"6")
        self.assertIn(b"SSLHIST_USER\n" + len(NL_USER).to_bytes(8, "little") +
                      NL_USER.encode() + b"\n",
                      next(r for r in js.raw if NL_USER.encode() in r))
        self.assertIn("nl\\x0auser", nl["MESSAGE"].decode())
        self.assertNotIn(b"\n", nl["MESSAGE"])

        failed = self.entry(js, lambda e: e.get("MESSAGE_ID") ==
                            b"5b1c7e0f4a2d4e6c9d3f8a1b2c3d4e05", "a poll failure")
        self.assertEqual(failed["SSLHIST_CLUSTER"], b"down")
        self.assertEqual(failed["SSLHIST_INSTANCE"], ("127.0.0.1:%d" % self.closed).encode())
        self.assertEqual(failed["PRIORITY"], b"4")
        started = self.entry(js, lambda e: e.get("MESSAGE", b"").startswith(b"started:"),
                             "the start message")
        self.assertEqual(started["PRIORITY"], b"6")
        self.assertNotIn("SSLHIST_CLUSTER", started)

        rc, _ = d.stop()
        self.assertEqual(rc, 0)
        self.assertEqual(js.errors, [], "malformed journal entries")
        self.assertEqual(d.log_text(), "", "under the journal nothing goes to stderr")
        for raw in js.raw:
            self.assertNotIn(SECRET.encode(), raw)
        self.assertGreater(len(js.raw), 5)

    def test_stderr_when_journal_stream_is_not_stderr(self):
        js = sdsock.JournalSocket()
        d = sdsock.JournalDaemon(self.config(), js, journal_stream="1:1")
        r = d.run_once()
        self.assertEqual(r.returncode, 1, r.stderr)     # `down` failed
        self.assertEqual(js.raw, [], "logged to the journal with stderr elsewhere")
        lines = r.stderr.splitlines()
        self.assertTrue(lines)
        for l in lines:
            self.assertMatches(r"^sslhistd: (error|warning|info|debug): ", l)
        self.assertTrue(any(re.search(r"down/127\.0\.0\.1:%d: " % self.closed, l)
                            for l in lines), r.stderr)
        self.assertTrue(any("nl\\x0auser" in l for l in lines), r.stderr)
        self.assertNotIn(SECRET, r.stderr + r.stdout)


if __name__ == "__main__":
    h.main()
