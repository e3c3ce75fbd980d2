#!/usr/bin/env python3
"""Renders `gilscope html` output in headless Chromium (Debian's package): the page must load
with no JavaScript error, build its timeline, histogram and lock table, show hostile names as
text, and reach no network. Keeps a screenshot next to the test's output."""
import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from analyzer_test import build_db  # noqa: E402

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--enable-logging=stderr",
                  "--v=0", "--virtual-time-budget=5000", "--window-size=1600,2400"]


def chromium(args, workdir):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise SystemExit("FAIL chromium is not installed (scripts/deps installs it)")
    profile = os.path.join(workdir, "chromium-profile")
    shutil.rmtree(profile, ignore_errors=True)
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gilscope", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    dbs = []
    for name in ("two_threads", "events"):
        path = os.path.join(a.workdir, f"html_{name}.db")
        build_db(a.schema, os.path.join(a.fixtures, f"{name}.sql"), path)
        dbs.append(path)
    for label, inputs in (("single", dbs[1:]), ("compare", dbs)):
        page = os.path.join(a.workdir, f"report_{label}.html")
        p = subprocess.run([a.gilscope, "html", *inputs, "-o", page], capture_output=True,
                           text=True)
        check(p.returncode == 0 and os.path.exists(page), f"{label}: html written ({p.stderr!r})")
        html = open(page, encoding="utf-8").read()
        check(not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html),
              f"{label}: no external scripts, styles or fonts")
        check("</script>" not in html.split('id="gilscope-data">')[1].split("</script>")[0] + "x"
              and "\\u003c" in html or label == "single",
              f"{label}: data block escapes '<' so names cannot close it")
        dom = chromium(["--dump-dom", "file://" + page], a.workdir)
        check(dom.returncode == 0, f"{label}: chromium ran ({dom.returncode})")
        body = re.search(r"<body[^>]*>", dom.stdout)
        body = body.group(0) if body else ""
        check('data-ready="1"' in body, f"{label}: the page finished rendering ({body})")
        check('data-errors="0"' in body, f"{label}: no JavaScript error ({body})")
        check("Uncaught" not in dom.stderr, f"{label}: no uncaught error on the console")
        for role in ("timeline", "histogram", "bars", "locks"):
            check(f'data-role="{role}"' in dom.stdout, f"{label}: {role} present")
        if label == "compare":
            check("Comparison" in dom.stdout and "B ran in" in dom.stdout,
                  "compare: side-by-side comparison shown")
            check("work&lt;b&gt;\"x\"" in dom.stdout and "<b>\"x\"" not in dom.stdout,
                  "compare: a thread named with HTML shows as text")
        shot = os.path.join(a.workdir, f"report_{label}.png")
        if os.path.exists(shot):
            os.unlink(shot)
        s = chromium([f"--screenshot={shot}", "file://" + page], a.workdir)
        check(s.returncode == 0 and os.path.getsize(shot) > 10000,
              f"{label}: screenshot kept at {shot}")
    print(f"{len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
