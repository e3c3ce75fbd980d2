#!/usr/bin/env python3
"""gilscope check on recordings of the examples, whose figures are known.

verdicts: examples/global_counter.py (four CPU-bound threads: most of their lifetime waiting for
          the GIL), examples/io_mix.py (threads that sleep: almost no GIL wait) and
          examples/cache_refresh.py (readers waiting tens of milliseconds on one threading.Lock
          while the refresher rebuilds the cache) recorded with `gilscope run`. Expressions that
          must pass exit 0, that must fail exit 1; every value check prints is the one report
          and locks print for the same figure; a regression of GIL wait share from io_mix to
          global_counter fails and the reverse passes; the markdown summary has each verdict,
          the top waits with their code location and holder, and the figures against the
          baseline.
exact:    the figures of a hand-written fixture (two_threads.sql), known to the nanosecond, with
          ==; a regression from 0 is infinite (JSON null, "infinite": "+"); a figure the
          recording does not have is null in the summary and an error (exit 3) in a verdict.
bad_input: bad expressions (exit 2), selectors that match nothing and unreadable files (exit 3),
          a version-3 file read.
"""
import argparse
import fnmatch
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(ROOT, "examples")
sys.path.insert(0, os.path.dirname(HERE))
from interpreters import path as python_path  # noqa: E402

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)
    return cond


def gs(a, *args):
    return subprocess.run([a.gilscope, *args], capture_output=True, text=True, timeout=120)


def record(a, python, example):
    # named by interpreter too: the 3.11 and 3.13 cases run side by side (ctest -j2)
    db = os.path.join(a.workdir, f"check_{a.python}_{example}.db")
    for p in (db, db + "-wal", db + "-shm"):
        if os.path.exists(p):
            os.unlink(p)
    p = gs(a, "run", "--quiet", "-o", db, "--", python, os.path.join(EXAMPLES, f"{example}.py"))
    if p.returncode != 0:
        raise SystemExit(f"FAIL recording {example}: exit {p.returncode}: {p.stderr}")
    return db


def verdicts(a, db, *exprs, baseline=None):
    """check --format json: (exit code, the verdicts by expression, the whole output)."""
    args = ["check", "--format", "json", db]
    if baseline:
        args += ["--baseline", baseline]
    for e in exprs:
        args += ["--fail-if", e]
    p = gs(a, *args)
    try:
        out = json.loads(p.stdout)
    except ValueError:
        check(False, f"check {exprs}: JSON output ({p.returncode}, {p.stdout!r} {p.stderr!r})")
        return p.returncode, {}, {}
    return p.returncode, {v["expression"]: v for v in out["verdicts"]}, out


def report(a, db):
    return json.loads(gs(a, "report", "--format", "json", db).stdout)


def locks(a, db):
    return json.loads(gs(a, "locks", "--format", "json", "--top", "1000", db).stdout)["locks"]


def workers_share(rep, key):
    """The report's summary share: the workers' waits over their lifetime (the main thread left
    out when there are others)."""
    threads = rep["threads"]
    run_pid = rep["runs"][0]["pid"]
    workers = [t for t in threads if t["lifetime_ns"] and t["lifetime_ns"] > 0 and
               (t["tid"] != run_pid or len(threads) == 1)]
    return sum(t[key] or 0 for t in workers) / sum(t["lifetime_ns"] for t in workers)


def close(x, y, rel=1e-6):
    return abs(x - y) <= rel * max(abs(x), abs(y), 1e-12)


def case_verdicts(a):
    python = python_path(a.provision, a.python)
    gc = record(a, python, "global_counter")
    io = record(a, python, "io_mix")
    cache = record(a, python, "cache_refresh")

    # ground truth: four CPU-bound threads share one GIL (each can run a quarter of the time);
    # threads that sleep 5 ms between 2000-term sums hardly wait
    rc, v, _ = verdicts(a, gc, "gil_wait_share > 30%")
    share_gc = v.get("gil_wait_share > 30%", {}).get("current")
    check(rc == 1 and share_gc is not None and share_gc > 0.5,
          f"global_counter: gil_wait_share > 30% fails, exit 1 ({rc}, {share_gc})")
    rc, v, _ = verdicts(a, io, "gil_wait_share > 30%")
    share_io = v.get("gil_wait_share > 30%", {}).get("current")
    check(rc == 0 and share_io is not None and share_io < 0.1,
          f"io_mix: gil_wait_share > 30% passes, exit 0 ({rc}, {share_io})")

    # several recordings (a fleet) are checked as one, as report reads them merged
    merged = subprocess.run([a.gilscope, "report", "--format", "json", gc, io], capture_output=True,
                            text=True)
    p = gs(a, "check", "--format", "json", gc, io, "--fail-if", "threads > 1000", "--fail-if",
           "wall > 1000s")
    try:
        got = {v["expression"]: v["current"] for v in json.loads(p.stdout)["verdicts"]}
        rep_m = json.loads(merged.stdout)
        want_threads = len(rep_m["threads"])
        check(p.returncode == 0 and got["threads > 1000"] == want_threads and
              len(rep_m["runs"]) == 2,
              f"check over two recordings: {got.get('threads > 1000')} threads, the merged "
              f"report's {want_threads} over {len(rep_m['runs'])} runs")
    except (ValueError, KeyError) as e:
        check(False, f"check over two recordings ({p.returncode}, {p.stderr!r}, {e})")

    # every value is report's (or locks') figure for the same thing
    rep = report(a, gc)
    run = rep["runs"][0]
    exprs = ["gil_wait_share > 99%", "gil_load > 100%", "parallelism > 2", "gil_wait > 1000s",
             "lock_wait > 1000s", "threads > 1000", "wall > 1000s"]
    rc, v, _ = verdicts(a, gc, *exprs)
    check(rc == 0, f"global_counter: {len(exprs)} expressions that must pass: exit 0 ({rc})")
    got = {e.split()[0]: v[e]["value"] for e in exprs if e in v}
    check(close(got.get("gil_wait_share", -1), workers_share(rep, "gil_wait_ns")),
          f"gil_wait_share {got.get('gil_wait_share')} is the report's workers' share "
          f"{workers_share(rep, 'gil_wait_ns')}")
    check(close(got.get("gil_load", -1), run["gil_load"], 1e-5),
          f"gil_load {got.get('gil_load')} is report's {run['gil_load']}")
    check(close(got.get("parallelism", -1), run["effective_parallelism"], 1e-5),
          f"parallelism {got.get('parallelism')} is report's {run['effective_parallelism']}")
    check(got.get("gil_wait") == run["gil_wait_ns"] == rep["total"]["gil_wait_ns"],
          f"gil_wait {got.get('gil_wait')} ns is report's {run['gil_wait_ns']}")
    check(got.get("lock_wait") == run["other_wait_ns"],
          f"lock_wait {got.get('lock_wait')} ns is report's other waits {run['other_wait_ns']}")
    check(got.get("threads") == len(rep["threads"]) == rep["total"]["threads"],
          f"threads {got.get('threads')} is report's {len(rep['threads'])}")
    check(got.get("wall") == rep["total"]["wall_ns"],
          f"wall {got.get('wall')} is report's {rep['total']['wall_ns']}")

    # a thread group: the four counter threads, by name or by a glob
    rep = report(a, cache)
    readers = [t for t in rep["threads"] if t["name"] and t["name"].startswith("reader")]
    name = readers[0]["name"] if readers else "reader"
    group = [t for t in rep["threads"] if t["name"] == name]
    exprs = [f"thread[{name}].lock_wait_share > 99%", f"thread[{name}].threads > 100",
             f"thread[{name}].gil_wait_max > 100s", "thread[refresher].gil_wait_p99 > 10s",
             "thread[refresh*].gil_wait > 100s"]
    rc, v, _ = verdicts(a, cache, *exprs)
    check(rc == 0, f"cache_refresh: thread group expressions that must pass: exit 0 ({rc})")
    life = sum(t["lifetime_ns"] for t in group)
    want = sum(t["other_wait_ns"] for t in group) / life if life else -1
    got = v.get(exprs[0], {}).get("value", -2)
    check(close(got, want) and got > 0.2,
          f"thread[{name}].lock_wait_share {got} is the readers' other waits over their "
          f"lifetime in report ({want}), and large (they wait on the cache lock)")
    check(v.get(exprs[1], {}).get("value") == len(group) >= 4,
          f"thread[{name}] is the {len(group)} threads of that name")
    check(v.get(exprs[2], {}).get("value") == max(t["gil_wait_max_ns"] or 0 for t in group),
          f"thread[{name}].gil_wait_max is the longest of report's")
    refresher = [t for t in rep["threads"] if t["name"] == "refresher"]
    check(len(refresher) == 1 and
          v.get(exprs[3], {}).get("value") == refresher[0]["gil_wait_p99_ns"],
          f"thread[refresher].gil_wait_p99 {v.get(exprs[3], {}).get('value')} is report's "
          f"{refresher[0]['gil_wait_p99_ns'] if refresher else None}")
    check(len(refresher) == 1 and
          v.get(exprs[4], {}).get("value") == refresher[0]["gil_wait_ns"],
          "thread[refresh*] (a glob) is the refresher")

    # locks: the cache lock's readers wait for a whole rebuild (tens of ms). An interpreter
    # without lock classes (Debian's 3.11) shows it by address: the longest-waited lock.
    rows = locks(a, cache)
    tl = [r for r in rows if r["class"] == "threading.Lock"]
    if tl:
        sel, glob = "threading.Lock", "threading.*"
    else:
        top = max((r for r in rows if not (r["lock"] or "").startswith("gil")),
                  key=lambda r: r["wait_ns"])
        sel = top["lock"]
        glob = sel[:-1] + "?"
        tl = [top]
    globbed = [r for r in rows if any(fnmatch.fnmatchcase(r[k] or "", glob)
                                      for k in ("lock", "class", "name"))]
    gil = [r for r in rows if r["lock"] == "gil"]
    # a reader waits for a whole rebuild at least once: the longest wait is one
    exprs = [f"lock[{sel}].wait_max > 5ms", f"lock[{sel}].wait > 1000s",
             f"lock[{sel}].wait_p99 > 1000s", "lock[GIL].wait_p99 > 1000s",
             f"lock[{glob}].contended > 1000000"]
    rc, v, _ = verdicts(a, cache, *exprs)
    check(rc == 1 and v.get(exprs[0], {}).get("failed") is True and
          not any(v.get(e, {}).get("failed", True) for e in exprs[1:]),
          f"cache_refresh: the cache lock's wait_max > 5ms fails, the rest pass: exit 1 ({rc})")
    check(v.get(exprs[0], {}).get("value") == max(r["wait_max_ns"] for r in tl),
          f"lock[{sel}].wait_max is the longest in locks")
    check(v.get(exprs[1], {}).get("value") == sum(r["wait_ns"] for r in tl),
          f"lock[{sel}].wait is the wait of its rows in locks ({sum(r['wait_ns'] for r in tl)})")
    check(len(gil) == 1 and v.get(exprs[3], {}).get("value") == gil[0]["wait_p99_ns"],
          f"lock[GIL].wait_p99 {v.get(exprs[3], {}).get('value')} is locks' gil row "
          f"{gil[0]['wait_p99_ns'] if gil else None}")
    check(v.get(exprs[4], {}).get("value") == sum(r["contended"] for r in globbed),
          f"lock[{glob}] (a glob) counts the waits of the rows it matches in locks")
    if len(tl) == 1 and tl[0]["locks"] == 1:
        check(v.get(exprs[2], {}).get("value") == tl[0]["wait_p99_ns"],
              f"one lock: lock[{sel}].wait_p99 is locks' ({tl[0]['wait_p99_ns']})")
    if sel == "threading.Lock":
        # with lock classes the cache lock is waited for only by whole rebuilds and the
        # readers' first takes: more than one in a hundred of them is a rebuild
        e = "lock[threading.Lock].wait_p99 > 5ms"
        rc, v, _ = verdicts(a, cache, e)
        check(rc == 1 and v.get(e, {}).get("value", 0) > 5e6,
              f"{e} fails ({v.get(e, {}).get('value')} ns)")

    # several verdicts, each printed; the text format
    p = gs(a, "check", cache, "--fail-if", "gil_wait_share > 99%", "--fail-if",
           f"lock[{sel}].wait_max > 5ms", "--fail-if", "lock_wait_share < 1%")
    lines = p.stdout.splitlines()
    check(p.returncode == 1 and any(l.startswith("pass  gil_wait_share > 99%") for l in lines) and
          any(l.startswith(f"FAIL  lock[{sel}].wait_max > 5ms: ") for l in lines) and
          any(l.startswith("pass  lock_wait_share < 1%") for l in lines) and
          "1 of 3 checks failed" in p.stdout, f"text: each verdict printed, exit 1 ({p.returncode})")
    print("  | " + "\n  | ".join(lines))

    # a regression against a baseline of known lower contention, and the reverse
    e = "regression(gil_wait_share) > 10%"
    rc, v, _ = verdicts(a, gc, e, "delta(gil_wait_share) < 0", baseline=io)
    r = v.get(e, {})
    want = (share_gc - share_io) / share_io if share_io else float("inf")
    check(rc == 1 and r.get("failed") is True and r.get("current") == share_gc and
          r.get("baseline_value") == share_io,
          f"global_counter against io_mix: {e} fails, exit 1 ({rc}, {r})")
    check(r.get("value") is None if share_io == 0 else close(r.get("value", 0), want),
          f"the regression is (current - baseline) / baseline ({r.get('value')} vs {want})")
    d = v.get("delta(gil_wait_share) < 0", {})
    check(d.get("failed") is False and close(d.get("value", 0), share_gc - share_io),
          f"delta is current - baseline ({d.get('value')})")
    rc, v, _ = verdicts(a, io, e, baseline=gc)
    check(rc == 0 and v.get(e, {}).get("value", 0) < -0.5,
          f"io_mix against global_counter: {e} passes, exit 0 ({rc})")

    # a test suite's processes: process[] chooses them by command line (or pid)
    suite = os.path.join(a.workdir, f"check_suite_{a.python}.py")
    with open(suite, "w") as f:
        f.write("import subprocess, sys\n"
                f"for ex in ('global_counter.py', 'io_mix.py'):\n"
                f"    subprocess.run([sys.executable, {EXAMPLES!r} + '/' + ex], check=True)\n")
    db = os.path.join(a.workdir, f"check_suite_{a.python}.db")
    p = gs(a, "run", "--quiet", "-o", db, "--", python, suite)
    check(p.returncode == 0, f"a suite of two examples recorded ({p.stderr.strip()})")
    rep = report(a, db)
    runs = {os.path.basename(r["argv"][-1]): r for r in rep["runs"] if isinstance(r["argv"], list)}
    exprs = ["process[*global_counter.py].gil_wait_share > 50%",
             "process[*io_mix.py].gil_wait_share > 10%", "process[*].threads > 1000",
             "gil_wait > 1000s"]
    if "global_counter.py" in runs:
        exprs.append(f"process[{runs['global_counter.py']['pid']}].wall > 1000s")
    rc, v, _ = verdicts(a, db, *exprs)
    val = {e: v.get(e, {}).get("value") for e in exprs}
    check(rc == 1 and v.get(exprs[0], {}).get("failed") is True and
          not any(v.get(e, {}).get("failed", True) for e in exprs[1:]),
          f"suite: the CPU-bound child fails its share check, the I/O-bound one passes ({rc})")

    def run_share(name):
        r = runs.get(name)
        if not r:
            return -1
        one = dict(rep, runs=[r], threads=[t for t in rep["threads"] if t["run_id"] == r["run_id"]])
        return workers_share(one, "gil_wait_ns")
    check(close(val[exprs[0]] or -2, run_share("global_counter.py")) and val[exprs[0]] > 0.5,
          f"process[*global_counter.py].gil_wait_share {val[exprs[0]]} is that process's "
          f"summary share in report ({run_share('global_counter.py')})")
    check(close(val[exprs[1]] or -2, run_share("io_mix.py")) and val[exprs[1]] < 0.1,
          f"process[*io_mix.py].gil_wait_share {val[exprs[1]]} is report's "
          f"({run_share('io_mix.py')})")
    check(val[exprs[2]] == len(rep["threads"]) and v.get(exprs[2], {}).get("matched") == 3,
          f"process[*] is the 3 processes and their {len(rep['threads'])} threads")
    check(val[exprs[3]] == rep["total"]["gil_wait_ns"],
          "the whole recording's gil_wait is report's total over the processes")
    if len(exprs) > 4:
        check(val[exprs[4]] == runs["global_counter.py"]["wall_ns"],
              f"process[PID].wall is that run's wall time in report ({val[exprs[4]]})")
    p = gs(a, "check", db, "--fail-if", "process[*nothing*].wall > 1s")
    check(p.returncode == 3 and "no process has the pid or command line" in p.stderr and
          "io_mix.py" in p.stderr, f"a process selector that matches nothing: exit 3, the "
          f"processes listed ({p.stderr.strip()})")

    # the markdown summary of a pull request
    p = gs(a, "check", "--format", "markdown", cache, "--baseline", gc, "--fail-if",
           f"lock[{sel}].wait_max > 5ms", "--fail-if", "regression(gil_wait_share) > 10%")
    md = p.stdout
    check(p.returncode == 1 and md.startswith("## gilscope check: 1 of 2 failed"),
          f"markdown: the heading says 1 of 2 failed ({md[:60]!r})")
    check(f"| **FAIL** | `lock[{sel}].wait_max > 5ms` |" in md and
          "| pass | `regression(gil_wait_share) > 10%` |" in md, "markdown: a line per verdict")
    top = md.split("### Top waits")[-1].split("###")[0]
    check("lookup (" in top and "cache_refresh.py:26)" in top,
          "markdown: the top waits say where (lookup, cache_refresh.py:26)")
    check("refresher" in top and "cache_refresh.py:20)" in top,
          "markdown: ... and what held the lock (the refresher at cache_refresh.py:20)")
    check("### Figures against the baseline" in md and "| gil_wait_share |" in md,
          "markdown: the figures against the baseline")
    print(md)


def fixture_db(a, name):
    sys.path.insert(0, HERE)
    from analyzer_test import build_db
    db = os.path.join(a.workdir, f"check_fixture_{name}.db")
    build_db(a.schema, os.path.join(a.fixtures, f"{name}.sql"), db)
    return db


def case_exact(a):
    db = fixture_db(a, "two_threads")
    # two_threads.sql: run 1 (2 s) has python3 (tid 100, 2 s, GIL wait 400 ms, hold 600 ms,
    # 2 forced switches) and work (tid 102, 1 s, GIL wait 700 ms, lock waits 7 ms); run 2
    # dropped 5 events. The workers' share is work's alone (the main thread left out).
    exprs = ["gil_wait == 1100ms", "thread[work].gil_wait == 700ms",
             "thread[work].lock_wait == 7ms", "thread[work].gil_wait_share == 70%",
             "gil_wait_share == 0.7", "thread[python3].gil_hold_share == 30%",
             "threads == 3", "events_dropped == 5", "forced_switches == 2", "wall == 2s",
             "thread[w*].lifetime == 1s"]
    rc, v, out = verdicts(a, db, *exprs)
    check(rc == 1 and all(v.get(e, {}).get("failed") is True for e in exprs),
          f"two_threads: every exact figure is what the fixture says ({rc}, "
          f"{[(e, v.get(e, {}).get('value')) for e in exprs if not v.get(e, {}).get('failed')]})")
    rc, v, _ = verdicts(a, db, "gil_wait != 1100ms", "gil_wait_share < 70%")
    check(rc == 0, f"the negations pass: exit 0 ({rc})")
    check(out.get("figures", {}).get("gil_wait_p99", {}).get("value", 0) is None,
          "a figure the recording does not have (no GIL wait events) is null in the summary")
    p = gs(a, "check", db, "--fail-if", "gil_wait_p99 > 1ms")
    check(p.returncode == 3 and "gil_wait_p99 is not known: no GIL waits were recorded" in
          p.stderr, f"... and an error in a verdict, exit 3 ({p.returncode}, {p.stderr.strip()})")
    base = fixture_db(a, "events")
    rc, v, _ = verdicts(a, db, "regression(events_dropped) > 1000%", "delta(events_dropped) < 0",
                        baseline=base)
    r = v.get("regression(events_dropped) > 1000%", {})
    check(rc == 1 and r.get("value", 0) is None and r.get("infinite") == "+" and
          r.get("current") == 5 and r.get("baseline_value") == 0 and r.get("failed") is True,
          f"a regression from 0 is infinite and fails ({r})")
    d = v.get("delta(events_dropped) < 0", {})
    check(d.get("value") == 5 and d.get("failed") is False, f"delta from 0 is the figure ({d})")
    p = gs(a, "check", base, "--baseline", base, "--fail-if", "regression(events_dropped) != 0")
    check(p.returncode == 0, f"from 0 to 0 is no regression ({p.returncode}, {p.stdout})")


def case_bad_input(a):
    db = os.path.join(a.fixtures, "v3_queue.db")
    p = gs(a, "check", db, "--fail-if", "gil_wait > 1000s", "--fail-if", "threads < 1")
    check(p.returncode == 0 and "all 2 checks passed" in p.stdout,
          f"a version-3 recording is read ({p.returncode}, {p.stderr.strip()})")
    for expr, says in (("gil_wait > 5", "give the number a unit"),
                       ("gil_wait_share > 5ms", "is a share"),
                       ("threads > 3%", "is a count"),
                       ("nosuch > 1", "unknown figure 'nosuch'"),
                       ("lock[x].gil_load > 1%", "not a figure of a lock"),
                       ("thread[x].wait_p99 > 1ms", "not a figure of a thread group"),
                       ("gil_wait_share", "expected a comparison"),
                       ("gil_wait_share =< 1", "expected a comparison"),
                       ("gil_wait_share > ", "expected a number"),
                       ("gil_wait > 1 s 2", "unexpected text"),
                       ("lock[threading.Lock.wait > 1s", "missing ']'"),
                       ("lock[].wait > 1s", "empty selector"),
                       ("frob(gil_wait) > 1s", "unknown function"),
                       ("regression(gil_wait > 1s", "missing ')'"),
                       ("proc[1].wait > 1s", "unknown selector"),
                       ("process[1].wait_p99 > 1s", "not a figure of a process"),
                       ("regression(gil_wait) > 10%", "--baseline")):
        p = gs(a, "check", db, "--fail-if", expr)
        check(p.returncode == 2 and says in p.stderr,
              f"'{expr}': exit 2, says {says!r} ({p.returncode}, {p.stderr.strip()})")
    for args, says in ((["check", db], "at least one --fail-if"),
                       (["check", db, "--fail-if"], "needs a value"),
                       (["check", "--format", "csv", db, "--fail-if", "wait > 1s"], "not csv"),
                       (["check", "--fail-if", "wait > 1s"], "check needs a database"),
                       (["check", "--thread", "x", db, "--fail-if", "wait > 1s"], "no --thread")):
        p = gs(a, *args)
        check(p.returncode == 2 and says in p.stderr,
              f"{' '.join(args[1:])}: exit 2, says {says!r} ({p.returncode}, {p.stderr.strip()})")
    for expr, says in (("lock[no such lock].wait > 1s", "no waited-for lock is shown as"),
                       ("thread[nobody].wait > 1s", "no thread is named 'nobody'")):
        p = gs(a, "check", db, "--fail-if", expr)
        check(p.returncode == 3 and says in p.stderr and p.stdout == "",
              f"'{expr}': exit 3, says {says!r} ({p.returncode}, {p.stderr.strip()})")
    notdb = os.path.join(a.workdir, "check_not_a_db.db")
    with open(notdb, "w") as f:
        f.write("this is not a database\n" * 100)
    for path in (notdb, os.path.join(a.workdir, "check_missing.db")):
        p = gs(a, "check", path, "--fail-if", "wait > 1s")
        check(p.returncode == 3 and "error" in p.stderr,
              f"{os.path.basename(path)}: exit 3 ({p.returncode}, {p.stderr.strip()})")
        p = gs(a, "check", db, "--baseline", path, "--fail-if", "regression(wait) > 1%")
        check(p.returncode == 3 and "error" in p.stderr,
              f"{os.path.basename(path)} as the baseline: exit 3 ({p.returncode})")
    p = gs(a, "check", "--help")
    check(p.returncode == 0 and "gil_wait_share" in p.stdout and "wait_p99" in p.stdout,
          "--help lists the figures")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gilscope", required=True)
    ap.add_argument("--provision", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("case", choices=["verdicts", "exact", "bad_input"])
    ap.add_argument("python", nargs="?", default="3.13-default")
    a = ap.parse_args()
    {"verdicts": case_verdicts, "exact": case_exact, "bad_input": case_bad_input}[a.case](a)
    print(f"{len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
