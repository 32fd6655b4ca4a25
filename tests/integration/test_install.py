"""`cmake --install` into a DESTDIR, checked file by file.

The build under test ($SSLHIST_BIN) is installed with its own configured
prefix into a fresh DESTDIR; then:
  * exactly the expected files are there (no schema file: the migrations
    are compiled in), with their modes, in directories systemd searches
    (the unit path pkg-config systemd names; sysusers.d and tmpfiles.d
    paths of sysusers.d(5) and tmpfiles.d(5));
  * the installed programs run, and the unit names them: ExecStart= is the
    installed sslhistd and Documentation= the installed README;
  * scripts/verify-unit.sh (what CI runs) passes: `systemd-analyze verify`
    on the installed unit with its installed paths (a private mount
    namespace lays the DESTDIR over the prefix with an overlay), and
    `systemd-analyze security --offline=true` at most 1.5;
  * systemd-sysusers and systemd-tmpfiles apply the installed files to a
    scratch root: user sslhist, /etc/sslhist 0750 root:sslhist,
    /var/lib/sslhist 0750 sslhist:sslhist;
  * the example configuration passes --check, and uncommenting every
    "#key = value" line (each documented as the default) changes nothing
    --check prints;
  * the man pages format without a warning.
"""
import os
import re
import shutil
import stat
import subprocess

import harness as h

SYSUSERS_PATH = ["/etc/sysusers.d", "/run/sysusers.d", "/usr/local/lib/sysusers.d",
                 "/usr/lib/sysusers.d"]
TMPFILES_PATH = ["/etc/tmpfiles.d", "/run/tmpfiles.d", "/usr/local/lib/tmpfiles.d",
                 "/usr/lib/tmpfiles.d"]


def cmake_cache(build):
    cache = {}
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            m = re.match(r"([A-Za-z_0-9]+):[A-Z]+=(.*)$", line.rstrip("\n"))
            if m:
                cache[m.group(1)] = m.group(2)
    return cache


def unit_search_path():
    out = h.run(["pkg-config", "systemd", "--variable=systemdsystemunitpath"]).stdout
    return [os.path.normpath(p) for p in out.strip().split(":") if p]


def files_under(root):
    """{path relative to root (with a leading /): mode} of regular files."""
    found = {}
    for d, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            found["/" + os.path.relpath(p, root)] = stat.S_IMODE(os.lstat(p).st_mode)
    return found


def unit_value(text, key):
    vals = re.findall(r"^%s=(.*)$" % re.escape(key), text, re.M)
    return vals[-1] if vals else None


class Install(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.build = os.path.abspath(os.path.dirname(h.bin_path("sslhistd")))
        cache = cmake_cache(cls.build)
        cls.prefix = cache["CMAKE_INSTALL_PREFIX"]
        cls.src = cache["CMAKE_HOME_DIRECTORY"]
        cls.dest = h.subdir("destdir")
        r = h.run(["cmake", "--install", cls.build], check=False, timeout=120,
                  env=dict(os.environ, DESTDIR=cls.dest))
        if r.returncode != 0:
            raise AssertionError("cmake --install failed:\n%s%s" % (r.stdout, r.stderr))
        cls.files = files_under(cls.dest)
        cls.unit = next((p for p in cls.files if p.endswith("/sslhistd.service")), None)

    def path(self, p):
        return self.dest + p

    def test_files_and_modes(self):
        p = self.prefix
        self.assertIsNotNone(self.unit, self.files)
        unitdir = os.path.dirname(self.unit)
        sysusers = [f for f in self.files if "/sysusers.d/" in f]
        tmpfiles = [f for f in self.files if "/tmpfiles.d/" in f]
        self.assertEqual(len(sysusers), 1, self.files)
        self.assertEqual(len(tmpfiles), 1, self.files)
        want = {
            p + "/bin/sslhistd": 0o755,
            p + "/bin/sslhist": 0o755,
            self.unit: 0o644,
            sysusers[0]: 0o644,
            tmpfiles[0]: 0o644,
            "/etc/sslhist/sslhist.conf.example": 0o644,
            p + "/share/man/man8/sslhistd.8": 0o644,
            p + "/share/man/man1/sslhist.1": 0o644,
            p + "/share/doc/sslhist/README.md": 0o644,
            p + "/share/doc/sslhist/prometheus/sslhist.rules.yml": 0o644,
            p + "/share/doc/sslhist/prometheus/sslhist.rules.test.yml": 0o644,
            p + "/share/doc/sslhist/prometheus/prometheus.yml": 0o644,
        }
        self.assertEqual({k: oct(v) for k, v in self.files.items()},
                         {k: oct(v) for k, v in want.items()}, "the installed tree")
        self.assertIn(os.path.normpath(unitdir), unit_search_path(),
                      "the unit directory is not one systemd searches")
        self.assertIn(os.path.dirname(sysusers[0]), SYSUSERS_PATH)
        self.assertIn(os.path.dirname(tmpfiles[0]), TMPFILES_PATH)
        self.assertTrue(sysusers[0].endswith("/sslhist.conf"))
        self.assertTrue(tmpfiles[0].endswith("/sslhist.conf"))

    def test_programs_run_and_the_unit_names_them(self):
        for prog in ("sslhistd", "sslhist"):
            r = h.run([self.path(self.prefix + "/bin/" + prog), "--version"], check=False)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertMatches(r"^%s \d+\.\d+\.\d+$" % prog, r.stdout.strip())
        with open(self.path(self.unit)) as f:
            text = f.read()
        self.assertNotIn("@", text.replace("@resources", "").replace("@system-service", "")
                         .replace("@privileged", ""), "an unconfigured @VAR@ is left")
        exe = unit_value(text, "ExecStart").split()[0]
        self.assertEqual(exe, self.prefix + "/bin/sslhistd")
        self.assertIn("-c /etc/sslhist/sslhist.conf", unit_value(text, "ExecStart"))
        docs = unit_value(text, "Documentation").split()
        self.assertIn("man:sslhistd(8)", docs)
        readme = [d[len("file:"):] for d in docs if d.startswith("file:")]
        self.assertEqual(readme, [self.prefix + "/share/doc/sslhist/README.md"])
        self.assertTrue(os.path.isfile(self.path(readme[0])))
        self.assertEqual(unit_value(text, "Type"), "notify")
        self.assertEqual(unit_value(text, "User"), "sslhist")
        self.assertRegex(unit_value(text, "LimitNOFILE"), r"^\d{4,}$")

    def test_systemd_analyze(self):
        # verify (with the installed paths) and security, as CI runs them.
        r = h.run([os.path.join(self.src, "scripts", "verify-unit.sh"), self.build, self.dest],
                  check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertIn("systemd-analyze verify %s: ok (ExecStart=%s/bin/sslhistd "
                      % (self.unit, self.prefix), r.stdout)
        score = float(re.search(r"Overall exposure level for sslhistd\.service: ([\d.]+)",
                                r.stdout).group(1))
        self.assertLessEqual(score, 1.5)
        # verify does check ExecStart=: the installed copy, seen outside the
        # overlay, names a binary that is not there (unless the prefix holds
        # an installed sslhistd already).
        if not os.path.exists(self.prefix + "/bin/sslhistd"):
            r = h.run(["systemd-analyze", "verify", self.path(self.unit)], check=False)
            self.assertNotEqual(r.returncode, 0, "verify did not check ExecStart")
            self.assertIn("not executable", r.stderr)

    def test_sysusers_and_tmpfiles(self):
        root = h.subdir("scratch-root")
        os.makedirs(os.path.join(root, "etc"))
        sysusers = next(f for f in self.files if "/sysusers.d/" in f)
        tmpfiles = next(f for f in self.files if "/tmpfiles.d/" in f)
        r = h.run(["systemd-sysusers", "--root", root, self.path(sysusers)], check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(root, "etc", "passwd")) as f:
            users = {l.split(":")[0]: l.strip().split(":") for l in f if l.strip()}
        self.assertIn("sslhist", users)
        uid, gid, home = int(users["sslhist"][2]), int(users["sslhist"][3]), users["sslhist"][5]
        self.assertLess(uid, 1000, "not a system user")
        self.assertEqual(home, "/var/lib/sslhist")
        self.assertMatches(r"nologin", users["sslhist"][6])
        r = h.run(["systemd-tmpfiles", "--create", "--root", root, self.path(tmpfiles)],
                  check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        for d, owner, mode in (("etc/sslhist", (0, gid), 0o750),
                               ("var/lib/sslhist", (uid, gid), 0o750)):
            st = os.stat(os.path.join(root, d))
            self.assertEqual(((st.st_uid, st.st_gid), stat.S_IMODE(st.st_mode)), (owner, mode), d)

    def test_example_configuration(self):
        example = self.path("/etc/sslhist/sslhist.conf.example")
        work = h.subdir("example")
        plain = os.path.join(work, "sslhist.conf")
        shutil.copy(example, plain)
        with open(example) as f:
            text = f.read()
        uncommented = re.sub(r"^#([a-z_]+ = )", r"\1", text, flags=re.M)
        self.assertGreaterEqual(len(re.findall(r"^[a-z_]+ = ", uncommented, re.M)), 15)
        defaults = os.path.join(work, "defaults.conf")
        with open(defaults, "w") as f:
            f.write(uncommented.replace(plain, defaults))
        outs = []
        for path in (plain, defaults):
            r = h.run([self.path(self.prefix + "/bin/sslhistd"), "-c", path, "--check"],
                      check=False, env=dict(h._clean_env(), STATE_DIRECTORY=""))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stderr, "")
            outs.append(r.stdout.replace(path, "CONFIG"))
        self.assertEqual(outs[0], outs[1], "a '#key = value' line is not the default")
        # Every key of docs/CONTRACT.md section 2's [sslhistd] table is there.
        for key in ("database", "interval", "jitter", "connect_timeout", "query_timeout",
                    "max_backoff", "exclude_users", "exclude_databases", "retention",
                    "on_non_ssl", "on_weak_tls", "on_new_client", "hook_timeout",
                    "hook_max_running", "hook_retry", "log_level", "instances",
                    "discover_interval", "password_command", "metrics_listen"):
            self.assertMatches(r"(?m)^# ?%s = " % key, text, key)

    def test_man_pages(self):
        for page in ("/share/man/man8/sslhistd.8", "/share/man/man1/sslhist.1"):
            r = subprocess.run(["groff", "-t", "-man", "-ww", "-z", self.path(self.prefix + page)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)
            r = h.run(["groff", "-t", "-man", "-Tutf8", "-P-cbou", self.path(self.prefix + page)])
            self.assertIn("EXIT STATUS", r.stdout)


if __name__ == "__main__":
    h.main()
