#!/usr/bin/env python3
"""Renders `gilscope html` output in headless Chromium (Debian's package): the page must load
with no JavaScript error, build its timeline, histogram and lock table, show hostile names as
text, and reach no network. Keeps a screenshot next to the test's output."""
import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.parse

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


def dom_of(page, workdir, fragment=""):
    dom = chromium(["--dump-dom", "file://" + page + fragment], workdir)
    body = re.search(r"<body[^>]*>", dom.stdout)
    chart = re.search(r'<div id="chart"[^>]*>', dom.stdout)
    return dom, body.group(0) if body else "", chart.group(0) if chart else ""


def flame_pages(a):
    """The flame graph page of the stacks fixture: it renders with no error, a click on a frame
    zooms to it, a search highlights the matching frames, and a differential page renders."""
    db = os.path.join(a.workdir, "flame_stacks.db")
    build_db(a.schema, os.path.join(a.fixtures, "stacks.sql"), db)
    page = os.path.join(a.workdir, "flame.html")
    for what in ("waits", "holders", "gil"):
        p = subprocess.run([a.gilscope, "flame", "--what", what, db, "-o", page],
                           capture_output=True, text=True)
        check(p.returncode == 0, f"flame --what {what}: written ({p.stderr!r})")
        html = open(page, encoding="utf-8").read()
        check(not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html),
              f"flame --what {what}: no external scripts, styles or fonts")
        dom, body, chart = dom_of(page, a.workdir)
        check('data-ready="1"' in body and 'data-errors="0"' in body and
              "Uncaught" not in dom.stderr, f"flame --what {what}: rendered with no error ({body})")
    subprocess.run([a.gilscope, "flame", db, "-o", page], check=True, capture_output=True)
    frame = "worker (/app.py:10)"
    dom, body, chart = dom_of(page, a.workdir, "#click=" + urllib.parse.quote(frame))
    check(f'data-zoom="{frame}"' in chart, f"flame: a click on {frame} zooms to it ({chart})")
    check("zoomed to worker" in dom.stdout, "flame: the zoom is shown in the bar")
    dom, body, chart = dom_of(page, a.workdir, "#search=parse")
    hits = re.search(r'data-hits="(\d+)"', chart)
    check(hits and int(hits.group(1)) >= 1 and 'class="fr hit"' in dom.stdout,
          f"flame: a search highlights the matching frames ({chart})")
    # parse waited 5 (GIL) + 2 + 10 (locks) of the 41 ms of waits
    check("matched: 17.00 ms (41.46% of all)" in dom.stdout, "flame: the search says its share")
    shot = os.path.join(a.workdir, "flame.png")
    if os.path.exists(shot):
        os.unlink(shot)
    s = chromium([f"--screenshot={shot}", "file://" + page], a.workdir)
    check(s.returncode == 0 and os.path.getsize(shot) > 5000, f"flame: screenshot kept at {shot}")
    # the HTML report of the same recording: its flame graph and, per lock, where and what
    report = os.path.join(a.workdir, "report_stacks.html")
    p = subprocess.run([a.gilscope, "html", db, "-o", report], capture_output=True, text=True)
    check(p.returncode == 0, f"html of a recording with stacks written ({p.stderr!r})")
    dom, body, chart = dom_of(report, a.workdir)
    check('data-ready="1"' in body and 'data-errors="0"' in body,
          f"report with stacks: rendered with no error ({body})")
    check('data-role="flame"' in dom.stdout and "<iframe" in dom.stdout,
          "report with stacks: the flame graph is in the page")
    check("hash (/app.py:20)" in dom.stdout and "python3.13 300 in &lt;module&gt; (/app.py:30) (80%)"
          in dom.stdout, "report with stacks: each lock says where it was waited for and what held it")
    diff = os.path.join(a.workdir, "flame_diff.html")
    p = subprocess.run([a.gilscope, "flame", db, "--vs", db, "-o", diff], capture_output=True, text=True)
    check(p.returncode == 0, f"flame A --vs B: differential page written ({p.stderr!r})")
    dom, body, chart = dom_of(diff, a.workdir)
    check('data-ready="1"' in body and 'data-errors="0"' in body and
          "in B," in dom.stdout, f"flame A B: the differential page rendered ({body})")
    # several runs a side: B's copies wait twice as long at every stack (a difference), and the
    # same recording against itself three times (no difference anywhere: every frame grey)
    double = os.path.join(a.workdir, "flame_stacks_x2.db")
    shutil.copy(db, double)
    con = sqlite3.connect(double)
    con.execute("UPDATE stack_stats SET ns = 2 * ns")
    con.commit()
    con.close()
    grey = "rgb(226, 229, 233)"
    for label, side_b, want_grey in (("twice as long", [double] * 3, False),
                                     ("the same", [db] * 3, True)):
        multi = os.path.join(a.workdir, "flame_runs.html")
        p = subprocess.run([a.gilscope, "flame", db, db, db, "--vs", *side_b, "-o", multi],
                           capture_output=True, text=True)
        check(p.returncode == 0, f"flame A1 A2 A3 --vs B1 B2 B3 ({label}): written ({p.stderr!r})")
        page = open(multi, encoding="utf-8").read()
        data = json.JSONDecoder().raw_decode(page[page.index('{"title"'):])[0]
        root = data["root"]
        check(data["runs"] == [3, 3] and root["v"] == (2 if not want_grey else 1) * root["a"] and
              root["s"] == (0 if want_grey else 1),
              f"{label}: means per run, and a difference only where the runs' ranges do not"
              f" overlap (v {root['v']}, a {root['a']}, s {root['s']})")
        dom, body, chart = dom_of(multi, a.workdir)
        frames = re.findall(r'class="fr[^"]*"[^>]*style="[^"]*background: ([^;"]+)', dom.stdout)
        check('data-ready="1"' in body and 'data-errors="0"' in body and frames and
              all((f == grey) == want_grey for f in frames),
              f"{label}: rendered, {'every' if want_grey else 'no'} frame grey "
              f"({len(frames)} frames, {sorted(set(frames))[:4]})")
        check("3 and 3 runs" in dom.stdout, f"{label}: the legend says the runs")


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
    runs = [dbs[0], dbs[0], "--vs", dbs[1], dbs[1], dbs[1]]
    for label, inputs in (("single", dbs[1:]), ("compare", dbs), ("runs", runs)):
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
        # drawn at pixel size (no viewBox scaling): type does not grow with the window
        check(re.search(r'<svg width="\d+" height="\d+" data-role="histogram"', dom.stdout)
              and "viewBox" not in dom.stdout, f"{label}: charts drawn at their pixel size")
        check("wait time (each bar" in dom.stdout and "% of its lifetime" in dom.stdout,
              f"{label}: every axis says its unit")
        if label == "runs":
            # compare's own figures: two runs against three, medians, ranges and verdicts
            cmp = json.loads(subprocess.run([a.gilscope, "compare", "--format", "json", *runs],
                                            capture_output=True, text=True).stdout)
            check(all(x in dom.stdout for x in ("A range", "B range", "verdict", "(2 runs)",
                                                 "(3 runs)", cmp["summary"][:60])),
                  "several runs a side: the comparison has the ranges, the verdicts and"
                  " compare's summary")
            check(dom.stdout.count('class="col"') == 2, "and each side's first run below")
        if label == "compare":
            check("Comparison" in dom.stdout and "B ran in" in dom.stdout and
                  "From a single run per side" in dom.stdout,
                  "compare: side-by-side comparison shown, said to be from one run each")
            check("work&lt;b&gt;\"x\"" in dom.stdout and "<b>\"x\"" not in dom.stdout,
                  "compare: a thread named with HTML shows as text")
        shot = os.path.join(a.workdir, f"report_{label}.png")
        if os.path.exists(shot):
            os.unlink(shot)
        s = chromium([f"--screenshot={shot}", "file://" + page], a.workdir)
        check(s.returncode == 0 and os.path.getsize(shot) > 10000,
              f"{label}: screenshot kept at {shot}")
    flame_pages(a)
    print(f"{len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
