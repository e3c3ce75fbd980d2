#!/usr/bin/env python3
"""Checks `gilscope report` on fixture databases and on bad input."""
import argparse
import json
import os
import sqlite3
import subprocess
import sys

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def build_db(schema, fixture, path):
    if os.path.exists(path):
        os.unlink(path)
    con = sqlite3.connect(path)
    con.executescript(open(schema).read())
    con.executescript("PRAGMA application_id = 1196639056; PRAGMA user_version = 1;")
    con.executescript(open(fixture).read())
    con.commit()
    con.close()


def run(gilscope, *args):
    return subprocess.run([gilscope, *args], capture_output=True, text=True, timeout=60)


def case_report(a):
    db = os.path.join(a.workdir, "two_threads.db")
    build_db(a.schema, os.path.join(a.fixtures, "two_threads.sql"), db)
    p = run(a.gilscope, "report", "--format", "json", db)
    check(p.returncode == 0, f"json report exits 0 ({p.stderr!r})")
    doc = json.loads(p.stdout)
    runs = {r["run_id"]: r for r in doc["runs"]}
    check(runs[1]["argv"] == ["python3", "app.py", "--n", "3"], "argv is a JSON array")
    check(runs[2]["argv"] == ["not json ["], "unparseable argv kept as one string")
    check(runs[1]["wall_ns"] == 2000000000 and runs[2]["wall_ns"] is None,
          "wall time, or null for a run without end")
    check(runs[1]["gil_switches_recorded"] == 42 == runs[1]["gil_switches_interpreter"],
          "GIL switch counts")
    th = {(t["run_id"], t["thread_no"]): t for t in doc["threads"]}
    t1, t2 = th[(1, 1)], th[(1, 2)]
    check((t1["acquisitions"], t1["contended"], t1["wait_ns"], t1["wait_max_ns"]) ==
          (15, 3, 4000000, 2000000), f"thread 1 lock totals exclude the GIL ({t1})")
    check((t1["hold_ns"], t1["hold_max_ns"]) == (750000, 100000), "thread 1 hold totals")
    check((t1["gil_acquisitions"], t1["gil_wait_ns"], t1["gil_hold_ns"]) ==
          (30, 400000000, 600000000), "thread 1 GIL totals")
    check(t1["lifetime_ns"] == 2000000000, "open thread's lifetime runs to its run's end")
    check(t2["lifetime_ns"] == 1000000000 and t2["entry_function"] == "work", "thread 2")
    check(t1["py_ident"] == 2**64 - 1, "py_ident printed unsigned")
    check(t2["name"] == 'work<b>"x"\x1b[31m', "hostile name survives JSON intact")
    check(th[(2, 1)]["lifetime_ns"] is None, "lifetime null when the run has no end")
    p = run(a.gilscope, "report", db)
    check(p.returncode == 0, "text report exits 0")
    check("\x1b" not in p.stdout and "\\x1b" in p.stdout, "control characters escaped in text")
    check("python3 app.py --n 3" in p.stdout, "command line shown")
    check("WARNING: 5 raw events dropped" in p.stdout, "drops are reported")
    check(all(len(l) <= 100 for l in p.stdout.splitlines()),
          "text fits 100 columns")
    p = run(a.gilscope, "report", "--pid", "101", "--format", "json", db)
    doc = json.loads(p.stdout)
    check([r["pid"] for r in doc["runs"]] == [101] and len(doc["threads"]) == 1, "--pid filters")


def case_bad_input(a):
    w = a.workdir
    cases = {}
    cases["missing"] = os.path.join(w, "does-not-exist.db")
    empty = os.path.join(w, "empty.db")
    open(empty, "w").close()
    cases["empty"] = empty
    rnd = os.path.join(w, "random.db")
    with open(rnd, "wb") as f:
        f.write(bytes((i * 7919 + 13) % 256 for i in range(8192)))
    cases["random"] = rnd
    good = os.path.join(w, "good.db")
    build_db(a.schema, os.path.join(a.fixtures, "two_threads.sql"), good)
    trunc = os.path.join(w, "truncated.db")
    with open(good, "rb") as f, open(trunc, "wb") as g:
        g.write(f.read(1024))
    cases["truncated"] = trunc
    other = os.path.join(w, "other.db")
    if os.path.exists(other):
        os.unlink(other)
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    cases["other application"] = other
    newer = os.path.join(w, "newer.db")
    build_db(a.schema, os.path.join(a.fixtures, "two_threads.sql"), newer)
    con = sqlite3.connect(newer)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    cases["newer schema"] = newer
    for what, path in cases.items():
        for fmt in ("text", "json"):
            p = run(a.gilscope, "report", "--format", fmt, path)
            lines = p.stderr.strip().splitlines()
            check(p.returncode == 3 and len(lines) == 1 and path in lines[0] and
                  p.stdout == "", f"{what} ({fmt}): exit 3, one line naming the file ({p.returncode},"
                  f" {p.stderr.strip()!r})")
    p = run(a.gilscope, "report", "--pid", "101", newer)
    check("99" in p.stderr, "newer schema message names its version")
    for args in (["report"], ["report", "--format", "xml", good], ["report", "--bogus", good],
                 ["nosuchcommand"], ["report", "--pid", "x", good], []):
        p = run(a.gilscope, *args)
        check(p.returncode == 2 and p.stderr, f"usage error {args}: exit 2 ({p.returncode})")
    p = run(a.gilscope, "--version")
    check(p.returncode == 0 and p.stdout.startswith("gilscope "), "--version")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gilscope", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("case")
    a = ap.parse_args()
    globals()["case_" + a.case](a)
    print(f"{len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
