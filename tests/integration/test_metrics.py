"""GET /metrics (docs/CONTRACT.md section 8, key metrics_listen of section 2),
scraped by a real Prometheus.

One TLS PostgreSQL 15 server with two real psql clients (one sslmode=disable,
one sslmode=require) is the cluster `prod`; a port where nothing listens is
the cluster `down`. A real Prometheus (Debian's package: /usr/bin/prometheus),
started here on a free loopback port with its own configuration and storage
directory, scrapes the daemon every second; its HTTP API must show the values
those clients give. Also: `promtool check metrics` on a scrape, `promtool
check rules` and `promtool test rules` on contrib/prometheus, the HTTP side's
bad input (404, 405, a trickled request, endless headers, 1,000 connections
while polling goes on), nothing listening unless configured, the gauges after
a restart (read from the store), a reload that moves the port, and the
configuration errors.
"""
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import harness as h

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
CONTRIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                       "contrib", "prometheus")
DEADLINE_S = 10         # METRICS_HTTP_DEADLINE_S
MAX_CONNS = 64          # METRICS_HTTP_MAX_CONNS


def http_get(port, path="/metrics", method="GET", timeout=10):
    """(status, headers, body text) of one request to the daemon."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition (our own output:
    label values without ',' or '"' inside)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$', line)
        assert m, "bad sample line %r" % line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(text, name, **labels):
    want = set(labels.items())
    got = [v for (n, ls), v in samples(text).items() if n == name and want <= ls]
    return got[0] if len(got) == 1 else (None if not got else got)


def listening_ports(pid):
    """TCP ports the process listens on (ss -ltnp)."""
    r = h.run(["ss", "-H", "-ltnp"], check=False)
    ports = set()
    for line in r.stdout.splitlines():
        if "pid=%d," % pid in line:
            ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    return ports


class Prometheus:
    """A real Prometheus server scraping `targets` every second."""

    def __init__(self, targets):
        self.dir = h.subdir("prometheus")
        self.port = h.free_port()
        self.conf = os.path.join(self.dir, "prometheus.yml")
        with open(self.conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "rule_files:\n  - %s\n"
                    "scrape_configs:\n  - job_name: sslhist\n    honor_labels: true\n"
                    "    static_configs:\n"
                    "      - targets: [%s]\n"
                    % (os.path.join(CONTRIB, "sslhist.rules.yml"),
                       ", ".join("'127.0.0.1:%d'" % t for t in targets)))
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + self.conf,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        h.on_cleanup(self.stop)
        h.wait_until(self.ready, 60, "prometheus ready on port %d" % self.port, 0.2)

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited %s:\n%s" % (self.proc.returncode,
                                                                self.log_text()))
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port,
                                        timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def query(self, q):
        """The instant vector of PromQL q: [(labels, float value)]."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            self.port, urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.load(r)
        assert doc["status"] == "success", doc
        return [(s["metric"], float(s["value"][1])) for s in doc["data"]["result"]]

    def log_text(self):
        with open(os.path.join(self.dir, "prometheus.log"), errors="replace") as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Metrics(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = h.PgServer(ssl=True)
        cls.down_port = h.free_port()       # nothing listens there
        cls.mport = h.free_port()
        cls.cfg = {
            "sslhistd": {"interval": "1s", "metrics_listen": "127.0.0.1:%d" % cls.mport,
                         # the harness's own psql calls are the user postgres
                         "exclude_users": "rdsadmin, postgres"},
            "cluster prod": h.cluster_for(cls.srv),
            "cluster down": {"host": "127.0.0.1", "port": cls.down_port, "user": "monitor",
                             "sslmode": "disable"},
        }
        cls.d = h.Daemon(cls.cfg, name="metrics").start()
        cls.plain = h.Session(cls.srv, user="app1", sslmode="disable",
                              application_name="metrics-plain")
        cls.tls = h.Session(cls.srv, user="app2", sslmode="require",
                            application_name="metrics-tls")
        h.wait_all_visible([cls.plain, cls.tls])
        cls.d.wait(lambda: len(cls.d.clients("prod")) >= 2, 30, "both clients stored")

    def scrape(self, port=None):
        status, headers, body = http_get(port or self.mport)
        self.assertEqual(status, 200, body)
        return headers, body

    # -- what Prometheus sees ---------------------------------------------

    def test_prometheus_scrapes_the_clients_values(self):
        prom = Prometheus([self.mport])
        try:
            def vector(q):
                return {tuple(sorted(m.items())): v for m, v in prom.query(q)}

            got = h.wait_until(lambda: (lambda v: v if len(v) == 1 else None)(
                vector('sslhist_non_ssl_clients{cluster="prod"}')), 30,
                "prometheus has sslhist_non_ssl_clients for prod")
            # One client came without SSL: the sslmode=disable psql.
            self.assertEqual(list(got.values()), [1.0], got)
            stored = [c for c in self.d.clients("prod") if not c["ssl"]]
            self.assertEqual(len(stored), 1, stored)
            up = h.wait_until(lambda: (lambda v: v if len(v) == 2 else None)(
                vector("sslhist_instance_up")), 30, "instance_up of both clusters")
            by_cluster = {dict(k)["cluster"]: v for k, v in up.items()}
            self.assertEqual(by_cluster, {"prod": 1.0, "down": 0.0}, up)
            inst = {dict(k)["instance"] for k in up}
            self.assertEqual(inst, {"127.0.0.1:%d" % self.srv.port,
                                    "127.0.0.1:%d" % self.down_port})
            # The sslmode=require client: one SSL client with its TLS version.
            tls = vector('sslhist_clients{cluster="prod",ssl="true"}')
            self.assertEqual(sum(tls.values()), 1.0, tls)
            self.assertEqual({dict(k)["tls_version"] for k in tls}, {"TLSv1.3"}, tls)
            # The scrape itself is healthy, and the shipped rules load and fire:
            # non-SSL clients recorded, an instance down (pending: for 5m).
            self.assertEqual([v for _, v in prom.query('up{job="sslhist"}')], [1.0])
            want = {"SslhistNonSslClients", "SslhistInstanceDown"}
            alerts = h.wait_until(lambda: (lambda a: a if want <= a else None)(
                {m["alertname"] for m, _ in prom.query("ALERTS")}), 30,
                "the shipped alerts pending or firing")
            self.assertNotIn("SslhistCertificateExpiresSoon", alerts)
            self.assertNotIn("SslhistNonSslClientAppeared", alerts)
            # A new non-SSL client while Prometheus watches: 2, and "appeared".
            late = h.Session(self.srv, user="app3", sslmode="disable",
                             application_name="metrics-late")
            late.wait_visible()
            h.wait_until(lambda: [v for _, v in prom.query(
                'sslhist_non_ssl_clients{cluster="prod"}')] == [2.0], 30,
                "prometheus sees the second non-SSL client")
            h.wait_until(lambda: [m.get("cluster") for m, _ in prom.query(
                'ALERTS{alertname="SslhistNonSslClientAppeared"}')] == ["prod"], 30,
                "SslhistNonSslClientAppeared for prod")
            late.close()
        finally:
            prom.stop()

    def test_promtool_check_metrics_on_a_scrape(self):
        headers, body = self.scrape()
        self.assertEqual(headers.get("Content-Type"),
                         "text/plain; version=0.0.4; charset=utf-8")
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=body.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout.decode())
        self.assertEqual(r.stdout.decode().strip(), "", "promtool lint findings")
        for family in ("sslhist_clients", "sslhist_non_ssl_clients", "sslhist_instance_up",
                       "sslhist_polls_total", "sslhist_poll_failures_total",
                       "sslhist_missed_sessions_total",
                       "sslhist_server_cert_expiry_timestamp_seconds",
                       "sslhist_hooks_total", "sslhist_store_queue"):
            self.assertIn("# HELP %s " % family, body)
            self.assertIn("# TYPE %s " % family, body)
        # The server certificate the harness CA issued, as the daemon saw it.
        not_after = h.cert_time(self.srv.cert, "end")
        self.assertEqual(value(body, "sslhist_server_cert_expiry_timestamp_seconds",
                               cluster="prod"), float(not_after))
        self.assertIsNone(value(body, "sslhist_server_cert_expiry_timestamp_seconds",
                                cluster="down"))
        # Records wait up to 500 ms for a group commit on the store
        # thread: a scrape may see a few; with a working store the queue
        # drains (a failing one would hold them).
        self.assertIsNotNone(value(body, "sslhist_store_queue"))
        h.wait_until(lambda: value(self.scrape()[1], "sslhist_store_queue") == 0.0, 10,
                     "an empty store queue")
        polls = value(body, "sslhist_polls_total", cluster="down")
        self.assertEqual(value(body, "sslhist_poll_failures_total", cluster="down"), polls)
        self.assertGreater(polls, 0)

    def test_shipped_rules_check_and_test(self):
        rules = os.path.join(CONTRIB, "sslhist.rules.yml")
        for args in (["check", "rules", rules],
                     ["test", "rules", os.path.join(CONTRIB, "sslhist.rules.test.yml")],
                     ["check", "config", os.path.join(CONTRIB, "prometheus.yml")]):
            r = subprocess.run([PROMTOOL] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60, cwd=CONTRIB)
            self.assertEqual(r.returncode, 0, "promtool %s:\n%s" % (" ".join(args),
                                                                  r.stdout.decode()))

    # -- bad input on the port --------------------------------------------

    def test_other_paths_404_other_methods_405(self):
        for path in ("/", "/metric", "/metrics/x", "/../metrics", "/favicon.ico"):
            status, _, _ = http_get(self.mport, path)
            self.assertEqual(status, 404, path)
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
            status, headers, _ = http_get(self.mport, method=method)
            self.assertEqual(status, 405, method)
            self.assertEqual(headers.get("Allow"), "GET", method)
        status, _, body = http_get(self.mport, "/metrics?x=1")
        self.assertEqual(status, 200)
        # Garbage instead of a request line: an error, and the port still serves.
        with socket.create_connection(("127.0.0.1", self.mport), 5) as s:
            s.sendall(b"\x1b[2J\x00\xff NOT HTTP\r\n\r\n")
            s.settimeout(5)
            reply = s.recv(4096)
        self.assertTrue(reply == b"" or reply.startswith(b"HTTP/1.1 400"), reply)
        self.scrape()

    def test_trickled_request_is_cut_by_the_deadline(self):
        s = socket.create_connection(("127.0.0.1", self.mport), 5)
        t0 = time.monotonic()
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        closed = None
        s.settimeout(0.5)
        # One header byte every 0.5 s: evhttp's idle timeout alone never fires.
        while time.monotonic() - t0 < DEADLINE_S + 8:
            try:
                s.sendall(b"X")
                if s.recv(4096) == b"":
                    closed = time.monotonic() - t0
                    break
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = time.monotonic() - t0
                break
        s.close()
        self.assertIsNotNone(closed, "a trickled request was still open after %d s"
                             % (DEADLINE_S + 8))
        self.assertGreaterEqual(closed, DEADLINE_S - 1)
        self.scrape()

    def test_endless_headers_are_refused(self):
        with socket.create_connection(("127.0.0.1", self.mport), 5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            reply = b""
            try:
                for _ in range(200):            # 200 x 1 KiB, limit 8 KiB
                    s.sendall(b"X-Filler: " + b"a" * 1012 + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            s.settimeout(5)
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    reply += b
            except ConnectionResetError:
                pass
        self.assertFalse(reply.startswith(b"HTTP/1.1 200"), reply[:200])
        self.scrape()

    def test_1000_connections_do_not_stall_polling(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
        socks = []

        def closed_count():
            n = 0
            for s in socks:
                try:
                    if s.recv(1) == b"":
                        n += 1
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    n += 1
            return n

        try:
            t0 = time.monotonic()
            for _ in range(1000):
                socks.append(socket.create_connection(("127.0.0.1", self.mport), 5))
            for s in socks:
                s.settimeout(0.01)
            # The daemon keeps at most MAX_CONNS of them and closes the rest
            # as soon as they are accepted, not at their deadline.
            n = h.wait_until(lambda: (lambda c: c if c >= 1000 - MAX_CONNS else None)(
                closed_count()), DEADLINE_S - 3, "the surplus connections closed")
            self.assertLess(time.monotonic() - t0, DEADLINE_S)
            self.assertLess(n, 1000, "none held: the limit was not what closed them")
            # Polling goes on meanwhile: 3 more successful polls stored
            # (interval 1 s).
            self.d.wait_polls("prod", 3, timeout=15)
            # The held ones are cut by their deadline.
            h.wait_until(lambda: closed_count() == 1000, DEADLINE_S + 5,
                         "the held connections closed by their deadline")
        finally:
            for s in socks:
                s.close()
        # Once they are gone, a scrape is answered again.
        h.wait_until(lambda: http_get(self.mport)[0] == 200, 15, "a scrape answered")
        self.d.assert_alive()

    # -- configuration, start-up, reload ----------------------------------

    def test_nothing_listens_unless_configured(self):
        cfg = {"sslhistd": {"interval": "1s", "exclude_users": "rdsadmin, postgres"},
               "cluster prod": h.cluster_for(self.srv)}
        d = h.Daemon(cfg, name="nometrics").start()
        try:
            d.wait_ok("prod", 30)
            self.assertEqual(listening_ports(d.proc.pid), set())
            self.assertEqual(listening_ports(self.d.proc.pid), {self.mport})
        finally:
            d.stop()

    def test_gauges_after_restart_come_from_the_store_and_reload_moves_the_port(self):
        db = os.path.join(h.subdir("metrics-restart"), "history.db")
        port1, port2 = h.free_port(), h.free_port()
        cfg = {"sslhistd": {"interval": "1s", "metrics_listen": "127.0.0.1:%d" % port1,
                            "exclude_users": "rdsadmin, postgres"},
               "cluster prod": h.cluster_for(self.srv)}
        d = h.Daemon(cfg, db=db, name="restart").start()
        d.wait(lambda: len(d.clients("prod")) >= 2, 30, "clients stored")
        d.stop()
        stored = len([c for c in d.clients("prod") if not c["ssl"]])
        self.assertGreaterEqual(stored, 1)
        # The sessions stay open, so the restarted daemon sees no new session:
        # its client gauges must come from the history it reads at start.
        d.start()
        body = h.wait_until(lambda: (lambda r: r[2] if r[0] == 200 and value(
            r[2], "sslhist_non_ssl_clients", cluster="prod") is not None else None)(
                self._get(port1)), 15, "first scrape after restart with prod")
        self.assertEqual(value(body, "sslhist_non_ssl_clients", cluster="prod"),
                         float(stored), body)
        # Reload onto another port: the new one serves, the old one is closed.
        cfg["sslhistd"]["metrics_listen"] = "127.0.0.1:%d" % port2
        h.write_config(d.conf, cfg)
        d.proc.send_signal(1)
        h.wait_until(lambda: self._get(port2)[0] == 200, 15, "the new port after SIGHUP")
        self.assertEqual(self._get(port1)[0], None)
        self.assertEqual(listening_ports(d.proc.pid), {port2})
        # A bad value on reload: the running configuration and endpoint stay.
        bad = dict(cfg, sslhistd=dict(cfg["sslhistd"], metrics_listen="nowhere:80"))
        h.write_config(d.conf, bad)
        refused = d.log_text().count("keeping the running configuration")
        d.proc.send_signal(1)
        d.wait(lambda: d.log_text().count("keeping the running configuration") > refused,
               10, "the bad reload refused")
        self.assertIn("key 'metrics_listen'", d.log_text())
        self.assertEqual(self._get(port2)[0], 200)
        rc, _ = d.stop()
        self.assertEqual(rc, 0)

    @staticmethod
    def _get(port):
        try:
            return http_get(port, timeout=3)
        except OSError:
            return (None, None, None)

    def test_config_errors_name_file_line_and_key(self):
        base = os.path.join(h.subdir("metrics-conf"), "bad.conf")
        for val, why in (("localhost", "expected ADDRESS:PORT"),
                         ("example.com:9649", "not an IP address"),
                         ("127.0.0.1:0", "port"),
                         ("127.0.0.1:70000", "port"),
                         ("::1:9649", "brackets"),
                         ("[::1:9649", "closing"),
                         (":9649", "empty address")):
            with open(base, "w") as f:
                f.write("[sslhistd]\ninterval = 1s\nmetrics_listen = %s\n" % val)
            r = h.run([h.bin_path("sslhistd"), "-c", base, "--check"], check=False)
            self.assertEqual(r.returncode, 78, (val, r.stderr))
            self.assertIn("%s:3: key 'metrics_listen'" % base, r.stderr, val)
            self.assertIn(why, r.stderr, val)
        for val, shown in (("[::1]:9649", "[::1]:9649"), ("*:9649", "0.0.0.0:9649"),
                           ("localhost:9649", "127.0.0.1:9649")):
            with open(base, "w") as f:
                f.write("[sslhistd]\nmetrics_listen = %s\n" % val)
            r = h.run([h.bin_path("sslhistd"), "-c", base, "--check"], check=False)
            self.assertEqual(r.returncode, 0, (val, r.stderr))
            self.assertIn("metrics_listen %s\n" % shown, r.stdout)

    def test_port_in_use_is_a_startup_failure(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        try:
            cfg = {"sslhistd": {"metrics_listen": "127.0.0.1:%d" % port},
                   "cluster prod": h.cluster_for(self.srv)}
            d = h.Daemon(cfg, name="busy").start()
            rc = d.proc.wait(15)
            self.assertEqual(rc, 1, d.log_text())
            self.assertIn("metrics_listen 127.0.0.1:%d: cannot listen" % port, d.log_text())
        finally:
            busy.close()


if __name__ == "__main__":
    for tool in (PROMETHEUS, PROMTOOL):
        if not shutil.which(tool):
            raise SystemExit("FATAL: %s missing (scripts/install-deps.sh installs "
                             "the Debian package prometheus)" % tool)
    h.main()
