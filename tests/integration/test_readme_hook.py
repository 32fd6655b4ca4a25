"""The hook example in README.md works as written: it is taken from the
README, run by the real daemon for a real non-SSL client, and leaves the
event line and the client's JSON where it says."""
import json
import os
import re
import stat

import harness as h

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def readme_hook():
    with open(README) as f:
        text = f.read()
    section = text[text.index("## Alert hooks"):]
    section = section[:section.index("\n## ", 1)]
    return re.search(r"```sh\n(#!/bin/sh\n.*?)```", section, re.S).group(1)


class ReadmeHook(h.TestCase):
    def test_example_hook(self):
        srv = h.PgServer(ssl=True, name="readme")
        s = h.Session(srv, "app2", "appdb", "disable", "batch-$(id)")
        s.wait_visible()
        hook = os.path.join(h.subdir("hook"), "sslhist-alert")
        with open(hook, "w") as f:
            f.write(readme_hook())
        os.chmod(hook, stat.S_IRWXU)
        out = os.path.join(h.workdir(), "alerts")
        d = h.Daemon({"sslhistd": {"on_non_ssl": "%s %s" % (hook, out)},
                      "cluster main": h.cluster_for(srv)})
        r = d.run_once()
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "events.log")) as f:
            line = f.read()
        self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ non-ssl cluster=main "
                               r"instance=127\.0\.0\.1:%d user=app2 database=appdb "
                               r"app=batch-\$\(id\) addr=127\.0\.0\.1\n$" % srv.port)
        with open(os.path.join(out, "last-non-ssl.json")) as f:
            doc = json.load(f)
        self.assertEqual((doc["event"], doc["application"], doc["ssl"]),
                         ("non-ssl", "batch-$(id)", False))
        self.assertEqual(d.query1("SELECT outcome FROM alert_attempt"), "ok")


if __name__ == "__main__":
    h.main()
