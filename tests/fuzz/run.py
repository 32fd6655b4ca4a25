#!/usr/bin/env python3
"""Runs the libFuzzer targets of a -DSSLHIST_FUZZ=ON build and prints figures.

    python3 tests/fuzz/run.py --build build-fuzz --seconds 30 --jobs 2

Each fuzz_NAME runs for --seconds, --jobs at a time, on a working corpus in
BUILD/fuzz-corpus/NAME (kept between runs, so long runs build on short ones)
seeded from tests/fuzz/corpus/NAME, with tests/fuzz/dict/NAME.dict when
there is one. A crash, leak, timeout or broken invariant leaves its input in
BUILD/fuzz-artifacts/NAME/ and makes the exit status 1: copy it to
tests/fuzz/regress/NAME/ once fixed, so every build replays it.

--merge adds the working corpus's new coverage to tests/fuzz/corpus/NAME
(libFuzzer -merge=1), to grow the seeds after a long run.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def targets(build, only):
    found = sorted(glob.glob(os.path.join(build, "tests", "fuzz", "fuzz_*")))
    found = [p for p in found if os.access(p, os.X_OK) and os.path.isfile(p)]
    names = [os.path.basename(p)[len("fuzz_"):] for p in found]
    if only:
        missing = set(only) - set(names)
        if missing:
            sys.exit("run.py: no fuzz target %s in %s" % (", ".join(sorted(missing)), build))
        return [(n, p) for n, p in zip(names, found) if n in only]
    if not found:
        sys.exit("run.py: no fuzz_* programs under %s/tests/fuzz: configure with "
                 "CC=clang -DSSLHIST_FUZZ=ON and build the 'fuzzers' target" % build)
    return list(zip(names, found))


def start(build, name, prog, seconds):
    work = os.path.join(build, "fuzz-corpus", name)
    art = os.path.join(build, "fuzz-artifacts", name)
    logs = os.path.join(build, "fuzz-logs")
    for d in (work, art, logs):
        os.makedirs(d, exist_ok=True)
    seeds = os.path.join(HERE, "corpus", name)
    cmd = [prog, "-max_total_time=%d" % seconds, "-print_final_stats=1",
           "-timeout=10", "-rss_limit_mb=2048", "-artifact_prefix=%s/" % art]
    d = os.path.join(HERE, "dict", name + ".dict")
    if os.path.exists(d):
        cmd.append("-dict=%s" % d)
    cmd += [work, seeds]
    logf = open(os.path.join(logs, name + ".log"), "w")
    env = dict(os.environ)
    # A broken invariant aborts; let ASan report it and libFuzzer keep the input.
    env.setdefault("ASAN_OPTIONS", "abort_on_error=1")
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)
    return {"name": name, "proc": proc, "log": logf.name, "art": art, "work": work,
            "seeds": seeds, "t0": time.monotonic(), "logf": logf, "prog": prog}


def stats(job):
    with open(job["log"], errors="replace") as f:
        text = f.read()
    st = dict(re.findall(r"^stat::(\w+):\s*(\d+)", text, re.M))
    last = re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", text, re.M)
    cov, ft, corp, size = (last[-1][1:] if last else ("?", "?", "?", "?"))
    return {"execs": int(st.get("number_of_executed_units", 0)),
            "eps": int(st.get("average_exec_per_sec", 0)),
            "new": int(st.get("new_units_added", 0)),
            "rss": int(st.get("peak_rss_mb", 0)), "cov": cov, "ft": ft,
            "corp": corp, "size": size, "text": text}


def merge(job):
    subprocess.run([job["prog"], "-merge=1", job["seeds"], job["work"]],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build-fuzz")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--merge", action="store_true")
    ap.add_argument("only", nargs="*", help="target names (default: all)")
    a = ap.parse_args()
    todo = targets(a.build, a.only)
    running, done = [], []
    t0 = time.monotonic()
    while todo or running:
        while todo and len(running) < a.jobs:
            name, prog = todo.pop(0)
            running.append(start(a.build, name, prog, a.seconds))
        for job in list(running):
            if job["proc"].poll() is None:
                continue
            job["logf"].close()
            job["secs"] = time.monotonic() - job["t0"]
            running.remove(job)
            done.append(job)
        time.sleep(0.2)
    failed = []
    print("%-10s %6s %10s %8s %6s %6s %14s %5s %6s" % (
        "target", "secs", "execs", "execs/s", "cov", "ft", "corpus", "new", "rssMB"))
    for job in sorted(done, key=lambda j: j["name"]):
        s = stats(job)
        crashes = os.listdir(job["art"])
        print("%-10s %6.0f %10d %8d %6s %6s %8s/%-5s %5d %6d%s" % (
            job["name"], job["secs"], s["execs"], s["eps"], s["cov"], s["ft"], s["corp"],
            s["size"], s["new"], s["rss"],
            "  FAILED (exit %d)" % job["proc"].returncode if job["proc"].returncode else ""))
        if job["proc"].returncode or crashes:
            failed.append((job, s, crashes))
        elif a.merge:
            merge(job)
    print("%d targets in %.0f s wall" % (len(done), time.monotonic() - t0))
    for job, s, crashes in failed:
        print("\n=== %s failed; inputs kept: %s; log %s; tail:" % (
            job["name"], ", ".join(os.path.join(job["art"], c) for c in crashes) or "none",
            job["log"]))
        print("\n".join(s["text"].splitlines()[-40:]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
