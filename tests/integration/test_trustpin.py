"""Trust pinning (daemon/trustpin.c) and trimmed TLS connections
(daemon/tlstrim.c) with real PostgreSQL 15 servers, verify-full against a
generated 122-certificate bundle (120 unrelated roots, CA A and CA B):

  * the first connection verifies with the whole bundle and pins CA A: a
    0600 file in a private 0700 directory holding exactly A's certificate;
    after the server drops the connection, the daemon reconnects with the
    pinned file;
  * rotation: the server's certificate is re-issued by CA B (also in the
    bundle) and the connection dropped: the pinned attempt fails, the
    daemon retries at once with the whole bundle, connects, and pins B too;
  * a server whose certificate comes from a CA not in the bundle is
    refused, with or without a pin (the pin holds A and B then);
  * a server whose certificate (from CA A) does not name the address
    connected to is refused;
  * a bundle changed on disk is parsed again and its pin forgotten;
  * at exit the directory is gone.
"""
import os
import re
import stat

import bundle
import harness as h


def terminate_daemon_backends(server):
    server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               "WHERE application_name = 'sslhistd'")


def certs_in(path):
    with open(path) as f:
        return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                          f.read(), re.S)


class TrustPin(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca_a, cls.ca_b, cls.ca_x = h.CA("pinA"), h.CA("pinB"), h.CA("outside")
        cls.bundle = bundle.write_bundle(os.path.join(h.subdir("trustpin"), "bundle.pem"),
                                         [cls.ca_a, cls.ca_b])
        cls.rot = h.PgServer(ssl=True, ca=cls.ca_a, name="rot")
        cls.outside = h.PgServer(ssl=True, ca=cls.ca_x, name="outside")
        cls.misnamed = h.PgServer(ssl=True, ca=cls.ca_a, name="misnamed", start=False)
        # Names only "localhost" and other.example: not 127.0.0.1.
        crt, key = cls.ca_a.issue_server(dns=("other.example",), ips=())
        cls.set_cert(cls.misnamed, crt, key)
        cls.misnamed.start()
        cls.runtime = h.subdir("runtime", mode=0o755)
        cfg = {"sslhistd": {"interval": "300ms", "log_level": "debug",
                            "connect_timeout": "5s"}}
        for name, srv in (("rot", cls.rot), ("outside", cls.outside),
                          ("misnamed", cls.misnamed)):
            cfg["cluster " + name] = h.cluster_for(srv, sslrootcert=cls.bundle)
        cls.d = h.Daemon(cfg).start(env={"RUNTIME_DIRECTORY": cls.runtime})

    @classmethod
    def tearDownClass(cls):
        if cls.d.alive():
            cls.d.stop()

    @staticmethod
    def set_cert(server, crt, key):
        with open(os.path.join(server.datadir, "postgresql.auto.conf"), "a") as f:
            f.write("ssl_cert_file = '%s'\nssl_key_file = '%s'\n" % (crt, key))

    def pin_dir(self):
        dirs = [e for e in os.listdir(self.runtime) if e.startswith("sslhistd-trust-")]
        self.assertEqual(len(dirs), 1, dirs)
        return os.path.join(self.runtime, dirs[0])

    def pinned_lines(self):
        return re.findall(r"trust pinning: %s: (\d+) of its 122 certificates pinned in (\S+)"
                          % re.escape(self.bundle), self.d.log_text())

    def test_a_pins_the_root_and_reconnects_with_it(self):
        self.d.wait_ok("rot")
        lines = h.wait_until(self.pinned_lines, 10, "a pin of the bundle")
        self.assertEqual(lines[0][0], "1")
        pin = lines[0][1]
        d = self.pin_dir()
        self.assertEqual(os.path.dirname(pin), d)
        self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(pin).st_mode), 0o600)
        self.assertEqual(certs_in(pin), certs_in(self.ca_a.cert))
        # The server drops the connection: the next one uses the pin.
        terminate_daemon_backends(self.rot)
        self.d.wait(lambda: "connecting with the pinned roots %s of %s" % (pin, self.bundle)
                    in self.d.log_text(), 15, "a connection with the pinned file")
        self.d.wait_polls("rot", 2)

    def test_b_rotation_to_another_root_of_the_bundle(self):
        self.d.wait_ok("rot")
        h.wait_until(self.pinned_lines, 10, "a pin of the bundle")
        crt, key = self.ca_b.issue_server()
        self.set_cert(self.rot, crt, key)
        self.rot.sql("SELECT pg_reload_conf()")
        h.wait_until(lambda: "pinB" in h.run(
            ["openssl", "s_client", "-starttls", "postgres", "-connect",
             "127.0.0.1:%d" % self.rot.port], input="", check=False).stdout, 15,
            "the server presenting B's certificate")
        terminate_daemon_backends(self.rot)
        self.d.wait(lambda: [l for l in self.pinned_lines() if l[0] == "2"], 15,
                    "B pinned after the fallback")
        self.assertRegex(self.d.log_text(), r"rot/127\.0\.0\.1:%d: connecting with the pinned "
                         r"roots of %s failed "
                         r"\([^)]*certificate verify failed[^)]*\); again at once with the "
                         r"whole file" % (self.rot.port, re.escape(self.bundle)))
        self.d.wait_polls("rot", 2)
        pin = self.pinned_lines()[-1][1]
        self.assertEqual(sorted(certs_in(pin)),
                         sorted(certs_in(self.ca_a.cert) + certs_in(self.ca_b.cert)))
        self.d.wait(lambda: "pinB" in (self.d.instance("rot")["cert_issuer"] or ""), 10,
                    "the instance's certificate issued by B")

    def test_c_unknown_ca_refused(self):
        row = self.d.wait_failing("outside", 15)
        self.assertIn("certificate verify failed", row["last_error"])
        # An attempt with the pin in place fails, and so does the whole
        # file right after it (the next attempt after the pin exists; the
        # backoff decides when).
        self.d.wait(lambda: re.search(
            r"outside/127\.0\.0\.1:%d: connecting with the pinned roots of %s failed "
            r"\([^)]*certificate verify failed[^)]*\); again at once with the whole file"
            % (self.outside.port, re.escape(self.bundle)), self.d.log_text()), 40,
            "a refused attempt with the pin, then with the whole file")
        self.d.wait(lambda: self.d.instance("outside")["consecutive_failures"] >= 2, 40,
                    "the attempt with the whole file refused too")
        self.assertIn("certificate verify failed", self.d.instance("outside")["last_error"])
        self.assertIsNone(self.d.instance("outside")["last_success"])

    def test_d_wrong_name_refused(self):
        row = self.d.wait_failing("misnamed", 15)
        self.assertIn("does not match host name", row["last_error"])
        self.assertIsNone(self.d.instance("misnamed")["last_success"])

    def test_e_changed_bundle_forgets_the_pin(self):
        self.d.wait_ok("rot")
        h.wait_until(self.pinned_lines, 10, "a pin of the bundle")
        with open(self.bundle, "a") as f:
            f.write("\n")
        terminate_daemon_backends(self.rot)
        self.d.wait(lambda: "trust pinning: %s changed; pinned roots forgotten" % self.bundle
                    in self.d.log_text(), 15, "the changed bundle noticed")
        self.d.wait_ok("rot")

    def test_z_directory_removed_at_exit(self):
        d = self.pin_dir()
        rc, _took = self.d.stop()
        self.assertEqual(rc, 0, self.d.log_text())
        self.assertFalse(os.path.exists(d), os.listdir(d) if os.path.exists(d) else None)


if __name__ == "__main__":
    h.main()
