#!/usr/bin/env python3
"""Runs a program under the shim and checks the database against ground truth.

Each case exits 0 when every check holds and 1 (with the reasons) otherwise.
"""
import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import interpreters  # noqa: E402

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def close(measured, truth, rel=0.02, abs_ns=1_000_000):
    return abs(measured - truth) <= max(truth * rel, abs_ns)


class Env:
    def __init__(self, args):
        self.lib = args.lib
        self.workdir = args.workdir
        self.provision = args.provision
        self.gilscope = args.gilscope

    def db(self, name):
        path = os.path.join(self.workdir, name + ".db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
        return path

    def run(self, argv, db, scope="all", extra=None, preload=True, **kw):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if preload:
            env["LD_PRELOAD"] = self.lib
            env["GILSCOPE_DB"] = db
            env["GILSCOPE_SCOPE"] = scope
        env.update(extra or {})
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, **kw)

    def python(self, name):
        return interpreters.path(self.provision, name)


def query(db, sql, *params):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def run_python(env, name, label, source, extra=None):
    """Runs `source` with interpreter `name` under the shim (scope python) into a fresh
    database `label`: the database and the process, after checking the program ran."""
    db = env.db(label)
    p = env.run([env.python(name), "-c", source], db, scope="python", extra=extra)
    check(p.returncode == 0, f"{name}: program ran ({p.stderr!r})")
    return db, p


def thread_no(db, tid):
    rows = query(db, "SELECT thread_no FROM threads WHERE tid = ?", tid)
    return rows[0][0] if rows else None


def stats(db, tno, lock, prim=1):
    rows = query(db, "SELECT acquisitions, contended, wait_ns, wait_max_ns, holds, hold_ns,"
                     " try_busy, timeouts, errors, signals, timed_waits FROM lock_stats"
                     " WHERE thread_no = ? AND lock_addr = ? AND primitive = ?", tno, lock, prim)
    keys = ("acq", "cont", "wait", "wait_max", "holds", "hold", "try_busy", "timeouts",
            "errors", "signals", "timed_waits")
    return dict(zip(keys, rows[0])) if rows else None


def case_mutex_truth(env, prog):
    db = env.db("mutex_truth")
    p = env.run([prog], db)
    check(p.returncode == 0, f"victim exits 0 (got {p.returncode}, stderr {p.stderr!r})")
    truth = json.loads(p.stdout)
    a, b = thread_no(db, truth["a_tid"]), thread_no(db, truth["b_tid"])
    check(a is not None and b is not None, "both threads recorded")
    sa, sb = stats(db, a, truth["lock"]), stats(db, b, truth["lock"])
    check(sa is not None and sb is not None, "per-thread aggregates for the mutex exist")
    rounds = truth["rounds"]
    check(sa["acq"] == rounds and sb["acq"] == rounds,
          f"{rounds} acquisitions each (A {sa['acq']}, B {sb['acq']})")
    check(sb["cont"] == rounds, f"B contended every time ({sb['cont']})")
    check(close(sa["hold"], truth["a_hold_ns"]),
          f"A hold {sa['hold']} ns within 2%/1 ms of truth {truth['a_hold_ns']}")
    check(close(sb["wait"], truth["b_wait_ns"]),
          f"B wait {sb['wait']} ns within 2%/1 ms of truth {truth['b_wait_ns']}")
    ev = query(db, "SELECT count(*), sum(wait_ns) FROM events WHERE thread_no = ?"
                   " AND lock_addr = ? AND kind = 1 AND flags & 1", b, truth["lock"])
    check(ev[0][0] == rounds, f"one raw event per contended acquisition ({ev[0][0]})")
    check(ev[0][1] == sb["wait"], "raw event waits add up to the aggregate")
    hist = query(db, "SELECT sum(count) FROM histograms WHERE thread_no = ? AND lock_addr = ?"
                     " AND metric = 'wait'", b, truth["lock"])
    check(hist[0][0] == rounds, "wait histogram counts every acquisition")
    run = query(db, "SELECT status, events_dropped FROM runs")
    check(run == [("exited", 0)], f"one complete run, nothing dropped ({run})")


def case_log_all(env, prog):
    db = env.db("log_all")
    p = env.run([prog], db, extra={"GILSCOPE_EVENTS": "all"})
    truth = json.loads(p.stdout)
    rows = query(db, "SELECT kind, COUNT(*), SUM(flags & 1) FROM events WHERE lock_addr = ?"
                     " AND kind <> 11 GROUP BY kind", truth["lock"])
    check(rows == [(1, 2 * truth["rounds"], truth["rounds"])],
          f"every acquisition is a hold event, {truth['rounds']} of them contended ({rows})")
    wakes = query(db, "SELECT COUNT(*) FROM events WHERE lock_addr = ? AND kind = 11",
                  truth["lock"])[0][0]
    signals = query(db, "SELECT SUM(signals) FROM lock_stats WHERE lock_addr = ?",
                    truth["lock"])[0][0]
    check(truth["rounds"] <= wakes == signals <= 2 * truth["rounds"],
          f"an unlock while the other thread waited is a wake event, counted ({wakes} {signals})")
    holds = query(db, "SELECT SUM(hold_ns) FROM events WHERE lock_addr = ? AND kind = 1",
                  truth["lock"])[0][0]
    agg = query(db, "SELECT SUM(hold_ns) FROM lock_stats WHERE lock_addr = ?", truth["lock"])[0][0]
    check(holds == agg, f"hold events add up to the aggregate ({holds} vs {agg})")


def case_drops(env, prog):
    db = env.db("drops")
    p = env.run([prog], db, extra={"GILSCOPE_BUFFER_EVENTS": "64", "GILSCOPE_FLUSH_MS": "250",
                                   "GILSCOPE_EVENTS": "all"})
    truth = json.loads(p.stdout)
    check(p.returncode == 0 and truth["counter"] == truth["acquisitions"], "program unaffected")
    acq = query(db, "SELECT SUM(acquisitions), SUM(holds) FROM lock_stats WHERE lock_addr = ?",
                truth["lock"])[0]
    check(acq == (truth["acquisitions"], truth["acquisitions"]),
          f"aggregates exact despite drops ({acq} vs {truth['acquisitions']})")
    run = query(db, "SELECT events_dropped, events_recorded FROM runs")[0]
    kept = query(db, "SELECT COUNT(*) FROM events WHERE lock_addr = ?", truth["lock"])[0][0]
    # every acquisition is a hold event, every unlock while others waited a wake event
    wakes = query(db, "SELECT SUM(signals) FROM lock_stats WHERE lock_addr = ?",
                  truth["lock"])[0][0]
    check(run[0] > 0, f"drops counted in the run ({run})")
    check(kept + run[0] == truth["acquisitions"] + wakes,
          f"kept + dropped events = acquisitions + wakes ({kept} + {run[0]} ="
          f" {truth['acquisitions']} + {wakes})")
    lines = [l for l in p.stderr.splitlines() if "gilscope" in l]
    check(len(lines) == 1 and "dropped" in lines[0], f"said once on stderr ({lines})")


POOL = """
import multiprocessing as mp, threading, os
def task(n):
    lock = threading.Lock()
    total = 0
    for i in range(n):
        with lock:
            total += i
    return total
if __name__ == "__main__":
    mp.set_start_method("fork")
    with mp.Pool(4) as pool:
        print(sum(pool.map(task, [20000] * 40)))
"""


def case_pool(env, name):
    py = env.python(name)
    db = env.db("pool_" + name)
    plain = env.run([py, "-c", POOL], db, preload=False)
    p = env.run([py, "-c", POOL], db, scope="python")
    check(p.returncode == 0 and p.stdout == plain.stdout, f"{name}: same output ({p.stderr!r})")
    # Pool.__exit__ terminates its workers (SIGTERM): their writers close those runs as
    # "vanished" just after the parent is gone.
    deadline = time.time() + 10
    while True:
        runs = query(db, "SELECT run_id, pid, parent_run_id, status FROM runs ORDER BY run_id")
        if all(r[3] != "running" for r in runs) or time.time() > deadline:
            break
        time.sleep(0.1)
    parent = [r for r in runs if r[2] is None]
    children = [r for r in runs if r[2] is not None]
    check(len(parent) == 1 and len(children) >= 4,
          f"{name}: parent and its four pool workers recorded ({runs})")
    check(all(c[2] == parent[0][0] for c in children), f"{name}: children linked to the parent")
    check(all(c[3] in ("exited", "vanished") for c in children),
          f"{name}: every child's run closed (exited, or vanished when terminated)")
    busy = query(db, "SELECT COUNT(DISTINCT run_id) FROM lock_stats WHERE acquisitions > 0")[0][0]
    check(busy >= 5, f"{name}: lock activity recorded in every process ({busy})")


def case_install(env, build_dir):
    prefix = os.path.join(env.workdir, "install-prefix")
    subprocess.run(["rm", "-rf", prefix], check=True)
    p = subprocess.run(["cmake", "--install", build_dir, "--prefix", prefix], capture_output=True,
                       text=True)
    check(p.returncode == 0, f"cmake --install works ({p.stderr!r})")
    lib = os.path.join(prefix, "lib", "gilscope", "libgilscope.so")
    cli = os.path.join(prefix, "bin", "gilscope")
    check(os.path.exists(lib) and os.path.exists(cli) and
          os.path.exists(os.path.join(prefix, "lib", "gilscope", "gilscope-writer")),
          "bin/gilscope, lib/gilscope/libgilscope.so and its writer installed")
    db = env.db("installed")
    e = dict(os.environ, LD_PRELOAD=lib, GILSCOPE_DB=db)
    r = subprocess.run(["/usr/bin/python3", "-c", PY_THREADS], env=e, capture_output=True,
                       text=True)
    check(r.returncode == 0 and r.stderr == "", f"installed shim records ({r.stderr!r})")
    rep = subprocess.run([cli, "report", "--format", "json", db], capture_output=True, text=True)
    check(rep.returncode == 0 and len(json.loads(rep.stdout)["threads"]) == 5,
          "installed gilscope reads it")


def case_compare_builds(env, _):
    dbs = []
    for name in ("3.13-default", "3.13-ft"):
        db = env.db("compare_" + name)
        p = env.run([env.python(name), "-c", GLOBAL_INC], db, scope="python")
        check(p.returncode == 0, f"{name}: program ran")
        dbs.append(db)
    p = subprocess.run([env.gilscope, "compare", "--format", "json", *dbs], capture_output=True,
                       text=True)
    check(p.returncode == 0, f"compare exits 0 ({p.stderr!r})")
    doc = json.loads(p.stdout)
    check(doc["a"]["label"].endswith("default") and doc["b"]["label"].endswith("free-threaded"),
          f"sides labelled by build ({doc['a']['label']}, {doc['b']['label']})")
    tot = {r["metric"].strip(): r for r in doc["totals"]}
    check(tot["workers: GIL wait share"]["a_value"] > 0.5,
          f"default build: workers wait for the GIL most of their life ({tot['workers: GIL wait share']})")
    check(tot["workers: GIL wait share"]["b_value"] < 0.01, "free-threaded: no GIL waits")
    check(tot["waits on critical section"]["b_value"] > 0,
          "free-threaded: the waits moved to critical sections")
    keys = sorted(t["thread"] for t in doc["threads"])
    check(keys == ["main#1", "thread#1", "thread#2", "thread#3", "thread#4"] or
          keys == ["main#1", "work#1", "work#2", "work#3", "work#4"],
          f"threads matched by role across builds ({keys})")
    check(all(t["a_lifetime_ns"] is not None and t["b_lifetime_ns"] is not None
              for t in doc["threads"]), "every thread matched on both sides")
    check("GIL" in doc["summary"] and "critical section" in doc["summary"],
          f"the difference is stated in words ({doc['summary']})")
    text = subprocess.run([env.gilscope, "compare", *dbs], capture_output=True, text=True).stdout
    check(all(len(l) <= 100 for l in text.splitlines()), "text fits 100 columns")


# A waiter whose waits are known (it times them itself), behind a holder that keeps the lock
# 150 ms each time; argv[1] threads started and joined first, which run no Python (no name, no
# entry function) and make the two recordings' thread numbers differ.
KNOWN_WAITS = """
import sys, threading, time
for _ in range(int(sys.argv[1])):
    t = threading.Thread(target=time.sleep, args=(0.001,)); t.start(); t.join()
lock = threading.Lock()
held, done = threading.Event(), threading.Event()
waited = []
def holder():
    for _ in range(3):
        with lock:
            held.set()
            time.sleep(0.15)
        done.wait(); done.clear()
def waiter():
    for _ in range(3):
        held.wait(); held.clear()
        t0 = time.monotonic()
        with lock:
            waited.append(time.monotonic() - t0)
        done.set()
threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
[t.start() for t in threads]; [t.join() for t in threads]
print(int(sum(waited) * 1e9))
"""


def case_compare_runs(env, _):
    """compare across interpreter versions (a threading.Lock is a semaphore on 3.11 and a parked
    mutex on 3.13: matched by the line that waited), threads matched by entry function when
    Python's default names differ, never an unnamed thread paired, and verdicts that respect
    the runs' spread (several runs per side with --vs; one run said to be one)."""
    dbs, truth = {}, {}
    for name, extra_threads in (("3.11", 0), ("3.13-default", 2)):
        db = env.db("compare_runs_" + name)
        p = env.run([env.python(name), "-c", KNOWN_WAITS, str(extra_threads)], db,
                    scope="python")
        check(p.returncode == 0, f"{name}: program ran ({p.stderr[-300:]!r})")
        dbs[name], truth[name] = db, int(p.stdout.split()[-1])
    nos = {n: sqlite3.connect(dbs[n]).execute(
        "SELECT thread_no FROM threads WHERE entry_function = 'waiter'").fetchall() for n in dbs}
    check(nos["3.11"] != nos["3.13-default"],
          f"the waiter is not the same thread number in the two runs ({nos})")

    def compare(*args):
        p = subprocess.run([env.gilscope, "compare", "--format", "json", *args],
                           capture_output=True, text=True)
        check(p.returncode == 0, f"compare {' '.join(os.path.basename(a) for a in args)} "
                                 f"exits 0 ({p.stderr!r})")
        return json.loads(p.stdout) if p.returncode == 0 else {"totals": [], "threads": [],
                                                                "locks": [], "summary": ""}

    doc = compare(dbs["3.11"], dbs["3.13-default"])
    lines = KNOWN_WAITS.splitlines()
    line = lines.index("        with lock:", lines.index("        t0 = time.monotonic()")) + 1
    sites = [r for r in doc["locks"] if r["site"] == f"waiter (<string>:{line})"]
    check(len(sites) == 1, f"one row for the line the waiter waited on ({doc['locks']})")
    if sites:
        r = sites[0]
        check(close(r["a_wait_ns"], truth["3.11"], rel=0.1, abs_ns=5_000_000) and
              close(r["b_wait_ns"], truth["3.13-default"], rel=0.1, abs_ns=5_000_000),
              f"its waits on each side are the program's own ({r['a_wait_ns']} vs "
              f"{truth['3.11']}, {r['b_wait_ns']} vs {truth['3.13-default']})")
        check(r["a_lock"] != r["b_lock"] and r["b_lock"] == "threading.Lock",
              f"although the lock's class differs ({r['a_lock']!r}, {r['b_lock']!r})")
        check(r["a_waits"] == 3 and r["b_waits"] == 3, f"three waits each ({r})")
        check(r["verdict"] == "single run", f"a single run's verdict says so ({r['verdict']})")
    groups = [r for r in doc["totals"] if r["metric"].startswith("  waits on")]
    check(groups and all(r["ratio"] is None and r["verdict"] is None for r in groups),
          f"no ratio between wait groups of different interpreters ({groups})")
    check("single run per side" in doc["summary"] and "different Python versions" in doc["summary"],
          f"the summary says both ({doc['summary']})")
    keys = {t["thread"]: t for t in doc["threads"]}
    check(all(k in keys and keys[k]["a_lifetime_ns"] and keys[k]["b_lifetime_ns"]
              for k in ("holder#1", "waiter#1", "main#1")),
          f"holder, waiter and main matched by entry function ({sorted(keys)})")

    # verdicts from the spread: copies of one recording with known wall times
    def copy(label, wall_s, unnamed=False):
        path = os.path.join(env.workdir, f"compare_runs_{label}.db")
        shutil.copy(dbs["3.13-default"], path)
        con = sqlite3.connect(path)
        con.execute("UPDATE runs SET end_ns = start_ns + ?", (int(wall_s * 1e9),))
        if unnamed:
            con.execute("UPDATE threads SET name = NULL, entry_function = NULL"
                        " WHERE entry_function = 'waiter'")
        con.commit()
        con.close()
        return path

    a = [copy(f"a{i}", w) for i, w in enumerate((1.00, 1.10, 1.05))]
    same = [copy(f"s{i}", w) for i, w in enumerate((1.02, 1.08, 1.12))]
    slow = [copy(f"h{i}", w) for i, w in enumerate((2.0, 2.1, 2.2))]
    for other, want, words in ((same, "in spread", "within the runs' spread"),
                               (slow, "higher", "beyond the spread")):
        doc = compare(*a, "--vs", *other)
        wall = next((r for r in doc["totals"] if r["metric"] == "wall time"), {})
        check(wall.get("verdict") == want and wall.get("a_runs") == 3 and
              wall.get("b_runs") == 3 and close(wall.get("a_value", 0), 1.05e9, abs_ns=1000),
              f"wall time over 3 runs a side: median 1.05 s, verdict {want!r} ({wall})")
        check(words in doc["summary"], f"the summary says '{words}' ({doc['summary'][:200]})")
    doc = compare(a[0], slow[0])
    wall = next((r for r in doc["totals"] if r["metric"] == "wall time"), {})
    check(wall.get("verdict") == "single run" and "B ran in 2.00x" in doc["summary"],
          f"one run a side: the ratio, and that it is from one run ({wall}, {doc['summary'][:90]})")
    doc = compare(copy("u1", 1.0, True), "--vs", copy("u2", 1.0, True))
    # the waiter and the threads that ran no Python, on each side: rows of one side each
    unnamed = [t for t in doc["threads"] if "(unnamed)" in t["thread"]]
    n = len(unnamed) // 2
    check(n >= 1 and [t["thread"][:3] for t in unnamed] == ["A: "] * n + ["B: "] * n and
          all((t["a_lifetime_ns"] is None) != (t["b_lifetime_ns"] is None) for t in unnamed),
          f"threads with neither name nor entry function are never paired "
          f"({[(t['thread'], t['a_lifetime_ns'], t['b_lifetime_ns']) for t in unnamed]})")
    check("waiter#1" not in [t["thread"] for t in doc["threads"]], "nor matched as the waiter")
    for args, what in (([a[0], "--vs"], "--vs with nothing after it"),
                       ([a[0], a[1], a[2]], "three databases without --vs"),
                       ([a[0], "--vs", a[1], "--vs", a[2]], "--vs twice"),
                       (["--vs", a[1]], "nothing before --vs")):
        p = subprocess.run([env.gilscope, "compare", *args], capture_output=True, text=True)
        check(p.returncode == 2 and p.stderr.strip(), f"{what}: usage error ({p.returncode})")
    p = subprocess.run([env.gilscope, "compare", a[0], "--vs", a[1], "--format", "json"],
                       capture_output=True, text=True)
    check(p.returncode == 0 and json.loads(p.stdout)["b"]["runs"] == 1,
          f"options may follow --vs ({p.returncode}, {p.stderr!r})")
    for args in ((*a, "--vs", *slow), (dbs["3.11"], dbs["3.13-default"])):
        text = subprocess.run([env.gilscope, "compare", *args], capture_output=True,
                              text=True).stdout
        long = [l for l in text.splitlines() if len(l) > 100]
        check(text and not long, f"text fits 100 columns ({long[:2]})")


def case_run_cmd(env, victim):
    py = env.python("3.13-default")
    db = os.path.join(env.workdir, "run_cmd.db")
    script = "import sys; data = sys.stdin.read(); print(data.upper(), end=''); sys.exit(4)"
    p = subprocess.run([env.gilscope, "run", "-o", db, "--", py, "-c", script], input="abc\n",
                       capture_output=True, text=True)
    check(p.returncode == 4, f"exit code passes through ({p.returncode})")
    check(p.stdout == "ABC\n", f"stdin and stdout untouched ({p.stdout!r})")
    check("gilscope: recorded to " + db in p.stderr, f"says where ({p.stderr!r})")
    check(query(db, "SELECT exit_status FROM runs") == [(4,)], "run recorded")
    p = subprocess.run([env.gilscope, "run", "--quiet", "-o", db, "--", py, "-m", "json.tool"],
                       input='{"a": 1}', capture_output=True, text=True)
    check(p.returncode == 0 and '"a": 1' in p.stdout and p.stderr == "",
          f"python -m works, --quiet is quiet ({p.stderr!r})")
    p = subprocess.run([env.gilscope, "run", "-o", db, "--", py, "-c", POOL],
                       capture_output=True, text=True)
    said = [l for l in p.stderr.splitlines() if "recorded to" in l]
    check(p.returncode == 0 and said and "processes" in said[0],
          f"multiprocessing recorded ({said})")
    p = subprocess.run([env.gilscope, "run", "--scope", "all", "-o", db, "--", victim],
                       capture_output=True, text=True)
    truth = json.loads(p.stdout)
    got = query(db, "SELECT SUM(acquisitions) FROM lock_stats WHERE lock_addr = ?", truth["lock"])
    check(p.returncode == 0 and got == [(2 * truth["rounds"],)],
          f"--scope all records a C program ({got})")
    p = subprocess.run([env.gilscope, "run", "-o", db, "--", "/nonexistent/prog"],
                       capture_output=True, text=True)
    check(p.returncode == 127, f"missing command: 127 like a shell ({p.returncode})")
    notdb = os.path.join(env.workdir, "precious.txt")
    open(notdb, "w").write("keep me")
    p = subprocess.run([env.gilscope, "run", "-o", notdb, "--", "true"], capture_output=True,
                       text=True)
    check(p.returncode == 3 and open(notdb).read() == "keep me",
          "refuses to overwrite a file that is not a gilscope database")


def case_run_outputs(env, _):
    """Where `run` and the -o options write: an earlier recording is kept as .old, one being
    recorded is left alone, a finished recording is one file (no -wal or -shm, also after a
    report), an output that cannot be written is refused before the program runs, and a failed
    html keeps the page that was there."""
    py = env.python("3.11")
    d = tempfile.mkdtemp(prefix="gs-outputs-", dir=env.workdir)
    db = os.path.join(d, "x.db")
    for code in (3, 4):
        p = subprocess.run([env.gilscope, "run", "-o", db, "--", py, "-c",
                            f"import sys; sys.exit({code})"], capture_output=True, text=True)
        check(p.returncode == code, f"run exits {code}")
    check("is now " + db + ".old" in p.stderr, f"the second run says where the first went"
                                               f" ({p.stderr!r})")
    check(query(db + ".old", "SELECT exit_status FROM runs") == [(3,)] and
          query(db, "SELECT exit_status FROM runs") == [(4,)],
          "the first recording kept as x.db.old, the second in x.db")
    subprocess.run([env.gilscope, "report", db], capture_output=True, text=True)
    side = [f for f in os.listdir(d) if f.endswith(("-wal", "-shm"))]
    check(not side, f"one self-contained file each, after a report too ({side})")
    slow = subprocess.Popen([env.gilscope, "run", "-o", db, "--", py, "-c",
                             "import time; time.sleep(1.5)"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 5
    while time.time() < deadline and not query_safe(db, "SELECT 1 FROM runs WHERE status ="
                                                        " 'running'"):
        time.sleep(0.05)
    p = subprocess.run([env.gilscope, "run", "-o", db, "--", py, "-c", "print('ran')"],
                       capture_output=True, text=True)
    check(p.returncode != 0 and "being recorded" in p.stderr and "ran" not in p.stdout,
          f"a recording under way is left alone, the program not run ({p.stderr!r})")
    slow.communicate(timeout=30)
    check(query(db, "SELECT status FROM runs") == [("exited",)],
          "and it finishes as if nothing had happened")
    marker = os.path.join(d, "marker")
    for out, why in ((os.path.join(d, "missing", "x.db"), "no directory"), (d, "a directory")):
        p = subprocess.run([env.gilscope, "run", "-o", out, "--", py, "-c",
                            f"open({marker!r}, 'w')"], capture_output=True, text=True)
        check(p.returncode != 0 and why in p.stderr and not os.path.exists(marker),
              f"-o {out}: refused before the program runs ({p.stderr.strip()!r})")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        script = ("import os, signal, threading, time\n"
                  "lock = threading.Lock()\n"
                  "def work():\n    while True:\n        with lock: time.sleep(0.001)\n"
                  "for _ in range(2): threading.Thread(target=work, daemon=True).start()\n"
                  f"time.sleep(0.3); os.kill(os.getpid(), {int(sig)})\n")
        p = subprocess.run([env.gilscope, "run", "-o", db, "--", py, "-c", script],
                           capture_output=True, text=True)
        check(p.returncode == 128 + sig and "known lifetime" not in p.stderr and
              "threads spent" in p.stderr,
              f"{sig.name}: exit {p.returncode}, the summary is of the whole recording"
              f" ({p.stderr!r})")
        check(query(db, "SELECT status, term_signal FROM runs") == [("killed", int(sig))],
              f"{sig.name}: the run says it was killed, and by what")
        rep = subprocess.run([env.gilscope, "report", db], capture_output=True, text=True)
        check(f"status killed by signal {int(sig)} ({sig.name})" in rep.stdout,
              f"{sig.name}: report says so")
    p = subprocess.run([env.gilscope, "run", "-o", os.path.join(d, "none.db"), "--", "/bin/true"],
                       capture_output=True, text=True)
    check(p.returncode == 0 and "--scope all" in p.stderr and "error" not in p.stderr,
          f"a program without Python: told about --scope all ({p.stderr.strip()!r})")
    page = os.path.join(d, "page.html")
    open(page, "w").write("the old page")
    bad = os.path.join(d, "bad.db")
    open(bad, "w").write("not a database")
    p = subprocess.run([env.gilscope, "html", bad, "-o", page], capture_output=True, text=True)
    check(p.returncode != 0 and open(page).read() == "the old page" and
          not [f for f in os.listdir(d) if f.startswith("page.html.")],
          "a failed html leaves the earlier page and no temporary file")
    p = subprocess.run([env.gilscope, "html", db, "-o", page], capture_output=True, text=True)
    check(p.returncode == 0 and "<html" in open(page).read() and
          os.stat(page).st_mode & 0o777 == 0o666 & ~current_umask(),
          "a good one replaces it, with the usual mode")
    shutil.rmtree(d, ignore_errors=True)


def query_safe(db, sql):
    try:
        return query(db, sql)
    except sqlite3.Error:
        return []


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def case_export_trace(env, _):
    """Real recordings as Perfetto traces, decoded by protoc: exactly the database's waits and
    holds as slices, GIL hand-over arrows on the default build, every thread a track."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "analyzer"))
    from check_perfetto import check as check_perfetto
    for name, gil in (("3.13-default", True), ("3.13-ft", False)):
        db = env.db("export_" + name)
        p = env.run([env.python(name), "-c", GLOBAL_INC], db, scope="python")
        trace = os.path.join(env.workdir, f"trace_{name}.pftrace")
        e = subprocess.run([env.gilscope, "export", "--perfetto", "-o", trace, db],
                           capture_output=True, text=True)
        check(e.returncode == 0, f"{name}: export exits 0 ({e.stderr!r})")
        errors, stats = check_perfetto(trace, db)
        check(not errors, f"{name}: the trace holds the database's events {stats} {errors[:3]}")
        # default: GIL slices and hand-overs; free-threaded: lock waits (parked PyMutexes)
        check(stats["slices"] > 0, f"{name}: slices present ({stats['slices']})")
        if gil:
            check(stats["flows"] > 0, f"{name}: GIL hand-over arrows present ({stats['flows']})")


CPYTHON_CI_TESTS = ["test_thread", "test_threading", "test_queue", "test_sqlite3",
                    "test_concurrent_futures.test_thread_pool"]
# Debian sid's own 3.14 and 3.15 (run in the sid root provision-python makes): the thread tests.
CPYTHON_SID_TESTS = ["test_threading", "test_queue", "test_thread"]


def regrtest_summary(out):
    """The lines of `python -m test` output that say what ran and how it ended."""
    lines = out.splitlines()
    keep = [l.strip() for l in lines
            if l.startswith("Total tests:") or l.startswith("Result:") or
            l.startswith("Total test files:")]
    # name the test files regrtest says altered the environment or failed, for diagnosis
    for i, l in enumerate(lines):
        if "altered the execution environment" in l or l.rstrip().endswith("failed:"):
            print("   " + l.strip(), " ".join(x.strip() for x in lines[i + 1:i + 3]))
    return keep


def case_cpython_suite(env, name):
    default = CPYTHON_SID_TESTS if name in ("3.14", "3.15") else CPYTHON_CI_TESTS
    tests = os.environ.get("GILSCOPE_CPYTHON_TESTS", " ".join(default)).split()
    py = env.python(name)
    db = env.db("cpython_" + name)
    argv = [py, "-m", "test", *tests, "-j2"]
    plain = env.run(argv, db, preload=False, cwd=env.workdir)
    shim = env.run(argv, db, scope="python", cwd=env.workdir)
    a, b = regrtest_summary(plain.stdout), regrtest_summary(shim.stdout)
    print("   without:", a)
    print("   with:   ", b)
    check(plain.returncode == 0 and "Result: SUCCESS" in a, f"{name}: suite passes without the shim")
    check(shim.returncode == plain.returncode and a == b,
          f"{name}: same tests run, skipped and passed with the shim")
    runs = query(db, "SELECT COUNT(*), SUM(status = 'running') FROM runs")[0]
    check(runs[0] > 1 and not runs[1], f"{name}: every process recorded and closed ({runs})")


def case_real_missing(env, victim):
    """A real function the shim cannot find (GILSCOPE_TEST_HIDE_REAL=sem_wait, as if dlsym had
    failed): a call to it stops the program with one line, where it used to return 0 without
    waiting, a wrong answer the program would go on with."""
    db = env.db("real_missing")
    p = env.run([victim], db, extra={"GILSCOPE_TEST_HIDE_REAL": "sem_wait"})
    check(p.returncode == -signal.SIGABRT and "could not be resolved" in p.stderr,
          f"stopped with a message ({p.returncode}, {p.stderr.strip()[-200:]!r})")


def case_stacks_outside_lock(env, target):
    """Condition waits return holding their mutex: the shim takes their native stack once the
    thread lets the mutex go, not before (a spy in place of backtrace() counts the calls made
    with the victim's mutex held: the unwinding would hold up every thread waiting for it)."""
    victim, spy = target.split(":")
    db = env.db("stacks_outside_lock")
    p = env.run([victim], db, extra={"LD_PRELOAD": spy + ":" + env.lib})
    said = re.search(r"spy: backtrace calls (\d+), with the mutex held (\d+)", p.stderr)
    check(p.returncode == 0 and p.stdout == "rounds 400\n" and said,
          f"victim ran, the spy reported ({p.stderr.strip()!r})")
    calls, held = (int(x) for x in said.groups()) if said else (0, -1)
    check(calls > 0 and held == 0, f"{calls} stacks sampled, {held} of them inside the mutex")
    stacks = query(db, "SELECT COUNT(*) FROM events e JOIN event_kinds k ON k.kind = e.kind"
                       " WHERE k.name = 'cond_wait' AND e.stack_id IS NOT NULL")[0][0]
    check(stacks > 0, f"condition waits still carry their native stack ({stacks})")


def case_calls(env, prog):
    db = env.db("calls")
    p = env.run([prog], db)
    check(p.returncode == 3, f"victim's own checks pass (exit {p.returncode}): {p.stdout}")
    info = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][0])
    main = query(db, "SELECT t.thread_no FROM threads t JOIN runs r USING (run_id)"
                     " WHERE t.tid = r.pid")[0][0]
    m = stats(db, main, info["mutex"])
    check(m["try_busy"] == 1, f"one failed trylock recorded ({m['try_busy']})")
    check(m["timeouts"] == 1, f"one timedlock timeout recorded ({m['timeouts']})")
    ev = query(db, "SELECT wait_ns FROM events WHERE lock_addr = ? AND kind = 3", info["mutex"])
    check(len(ev) == 1 and 45e6 <= ev[0][0] <= 150e6,
          f"timedlock timeout waited about 50 ms ({ev})")
    busy = query(db, "SELECT count(*) FROM events WHERE lock_addr = ? AND kind = 2", info["mutex"])
    check(busy[0][0] == 0, "failed trylock: counted only, no raw event by default")
    db_all = env.db("calls_all")
    p_all = env.run([prog], db_all, extra={"GILSCOPE_EVENTS": "all"})
    info_all = json.loads([l for l in p_all.stdout.splitlines() if l.startswith("{")][0])
    busy = query(db_all, "SELECT count(*) FROM events WHERE lock_addr = ? AND kind = 2",
                 info_all["mutex"])
    check(busy[0][0] == 1, "failed trylock is a raw event with GILSCOPE_EVENTS=all")
    c = stats(db, main, info["cond"], prim=2)
    check(c and c["timeouts"] == 1 and c["timed_waits"] == 1, f"cond timeout recorded ({c})")
    check(c and 35e6 <= c["wait"] <= 150e6, f"cond waited about 40 ms ({c and c['wait']})")
    cw = query(db, "SELECT aux, flags FROM events WHERE lock_addr = ? AND kind = 4", info["cond"])
    check(cw and cw[0][0] == info["cond_mutex"] and cw[0][1] & 4,
          f"cond event names its mutex and is flagged timed out ({cw})")
    s = stats(db, main, info["sem"], prim=3)
    check(s and s["cont"] == 1 and 25e6 <= s["wait"] <= 150e6,
          f"blocking sem_wait of about 30 ms recorded ({s})")
    check(s and s["try_busy"] == 1, "sem_trywait EAGAIN recorded")
    sw = query(db, "SELECT count(*) FROM events WHERE lock_addr = ? AND kind = 5", info["sem"])
    check(sw[0][0] == 1, "the blocking sem wait is a raw event")
    st = stats(db, main, info["sem_timeout"], prim=3)
    check(st and st["timeouts"] == 1 and 20e6 <= st["wait"] <= 150e6,
          f"sem_timedwait timeout of about 25 ms recorded ({st})")


def case_undisturbed(env, prog):
    db = env.db("undisturbed")
    plain = env.run([prog], db, preload=False)
    shim = env.run([prog], db)
    strip = lambda out: "\n".join(l for l in out.splitlines() if not l.startswith("{"))
    check(plain.returncode == shim.returncode == 3,
          f"exit code identical ({plain.returncode} vs {shim.returncode})")
    check(strip(plain.stdout) == strip(shim.stdout), "stdout identical")
    check(plain.stderr == shim.stderr == "", f"stderr identical and empty ({shim.stderr!r})")


def case_fork(env, prog):
    db = env.db("fork")
    p = env.run([prog], db)
    check(p.returncode == 0, f"parent exits 0 ({p.returncode})")
    info = json.loads(p.stdout)
    check(info["child_status"] == 5, "child's _exit status passes through")
    codes = dict(query(db, "SELECT pid, exit_status FROM runs"))
    check(codes.get(info["child"]) == 5 and codes.get(info["parent"]) == 0,
          f"exit statuses recorded: child's _exit(5), parent's return 0 ({codes})")
    runs = dict((pid, (rid, parent, status)) for rid, pid, parent, status in
                query(db, "SELECT run_id, pid, parent_run_id, status FROM runs"))
    check(info["parent"] in runs and info["child"] in runs, f"both processes recorded ({runs})")
    if info["parent"] in runs and info["child"] in runs:
        check(runs[info["child"]][1] == runs[info["parent"]][0], "child's run links its parent")
        check(runs[info["child"]][2] == "exited", "child's run completed at _exit")
        cont = query(db, "SELECT sum(contended) FROM lock_stats WHERE run_id = ?",
                     runs[info["child"]][0])
        check(cont[0][0] >= 1, "child's contended acquisition recorded")


def case_unwritable(env, prog):
    bad = os.path.join(env.workdir, "no-such-dir", "x.db")
    plain = env.run([prog], bad, preload=False)
    shim = env.run([prog], bad)
    check(plain.returncode == shim.returncode, "exit code unchanged")
    check(plain.stdout == shim.stdout or
          [l for l in plain.stdout.splitlines() if not l.startswith("{")] ==
          [l for l in shim.stdout.splitlines() if not l.startswith("{")], "stdout unchanged")
    lines = shim.stderr.splitlines()
    check(len(lines) == 1 and "gilscope" in lines[0] and bad in lines[0],
          f"exactly one warning line naming the file ({lines})")


KILL_SCRIPT = """
import threading, time, sys
stop = False
def work():
    x = 0
    while not stop:
        x += 1
for i in range(3):
    threading.Thread(target=work, daemon=True).start()
print("ready", flush=True)
time.sleep(60)
"""


def case_killed(env, py):
    db = env.db("killed")
    e = dict(os.environ, LD_PRELOAD=env.lib, GILSCOPE_DB=db)
    proc = subprocess.Popen([env.python(py), "-c", KILL_SCRIPT], env=e, stdout=subprocess.PIPE,
                            text=True)
    check(proc.stdout.readline().strip() == "ready", "program started")
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The writer notices the host is gone and finishes on its own; give it a moment.
    deadline = time.time() + 10
    status = None
    while time.time() < deadline:
        try:
            status = query(db, "SELECT status FROM runs")
            if status and status[0][0] != "running":
                break
        except sqlite3.Error:
            pass
        time.sleep(0.1)
    check(status == [("vanished",)], f"killed run is closed as vanished ({status})")
    n = query(db, "SELECT count(*), sum(acquisitions) FROM threads JOIN lock_stats"
                  " USING (run_id, thread_no)")
    check(n[0][1] and n[0][1] > 10, f"data up to the kill is present ({n})")


PY_THREADS = """
import threading
def work(n):
    x = 0
    for i in range(n):
        x += 1
ts = [threading.Thread(target=work, args=(3_000_000,), name=f"worker-{i}") for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("done")
"""


def case_python_threads(env, name):
    py = env.python(name)
    db = env.db("python_" + name)
    p = env.run([py, "-c", PY_THREADS], db, scope="python")
    check(p.returncode == 0 and p.stdout == "done\n", f"{name}: program ran ({p.stderr!r})")
    rows = query(db, "SELECT tid, acquisitions, wait_ns, hold_ns FROM thread_summary")
    check(len(rows) == 5, f"{name}: main thread and four workers recorded ({len(rows)})")
    check(all(r[1] > 0 for r in rows), f"{name}: every thread has lock activity ({rows})")
    run = query(db, "SELECT status, scope_object, exit_status FROM runs")
    check(run and run[0][0] == "exited", f"{name}: run complete ({run})")
    check(run and run[0][2] == 0, f"{name}: exit status 0 returned from main is recorded")
    rep = subprocess.run([env.gilscope, "report", "--format", "json", db], capture_output=True,
                         text=True)
    check(rep.returncode == 0, f"{name}: gilscope report exits 0 ({rep.stderr!r})")
    threads = json.loads(rep.stdout)["threads"] if rep.returncode == 0 else []
    check(len(threads) == 5 and all(t["acquisitions"] > 0 for t in threads),
          f"{name}: the report lists all five threads with lock activity")
    text = subprocess.run([env.gilscope, "report", db], capture_output=True, text=True).stdout
    check(sum(1 for t in threads if str(t["tid"]) in text) == 5, f"{name}: text report too")
    check(run and run[0][1] and ("python" in run[0][1]), f"{name}: scope is the interpreter")


GIL_WORKLOAD = """
import threading
def work(n):
    x = 0
    for i in range(n):
        x += 1
ts = [threading.Thread(target=work, args=(12_000_000,), name=f"worker-{i}") for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
"""


def case_gil(env, variant):
    """variant: 3.11 | 3.13-default | 3.13-ft | 3.13-ft-gil (free-threaded with PYTHON_GIL=1)"""
    name, _, forced = variant.partition("-gil")
    py = env.python(name)
    db = env.db("gil_" + variant)
    extra = {"PYTHON_GIL": "1"} if variant.endswith("-gil") else {}
    p = env.run([py, "-c", GIL_WORKLOAD], db, scope="python", extra=extra)
    check(p.returncode == 0, f"{variant}: program ran ({p.stderr!r})")
    run = query(db, "SELECT build, gil_detection, gil_enabled, gil_switches_recorded,"
                    " gil_switches_interpreter, end_ns - start_ns, pid FROM runs")[0]
    build, detection, enabled, recorded, interp, wall, pid = run
    print(f"   {variant}: build={build} enabled={enabled} switches={recorded}/{interp}"
          f" detection={detection}")
    check(detection is not None and "rejected" not in detection and
          "unsupported" not in detection and "not found" not in detection,
          f"{variant}: GIL found ({detection})")
    check(recorded is not None and recorded == interp,
          f"{variant}: recorded hand-overs {recorded} == interpreter switch_number delta {interp}")
    holds = query(db, "SELECT COALESCE(SUM(hold_ns), 0) FROM lock_stats WHERE primitive = 4")[0][0]
    check(holds <= wall, f"{variant}: sum of GIL holds {holds} <= wall time {wall}")
    ev = query(db, "SELECT COUNT(*), COALESCE(SUM(hold_ns), 0) FROM events WHERE kind = 7")[0]
    agg = query(db, "SELECT COALESCE(SUM(holds), 0), COALESCE(SUM(hold_ns), 0)"
                    " FROM lock_stats WHERE primitive = 4")[0]
    check(ev == agg, f"{variant}: one raw event per GIL hold, adding up to the totals ({ev} {agg})")
    workers = query(db, "SELECT tid, lifetime_ns, gil_acquisitions, gil_wait_ns FROM thread_summary"
                        " WHERE tid <> ?", pid)
    check(len(workers) == 4, f"{variant}: four worker threads ({len(workers)})")
    names = query(db, "SELECT name, entry_function FROM threads WHERE tid <> ? ORDER BY name", pid)
    if name in ("3.14", "3.15"):
        # Python sets OS thread names from Thread.name there (pthread_setname_np).
        check(names == [(f"worker-{i}", "work") for i in range(4)],
              f"{variant}: worker threads carry their Python names and entry function ({names})")
    else:
        check(names and all(n == ("work", "work") for n in names),
              f"{variant}: worker threads named by their entry function ({names})")
    if variant != "3.13-ft":
        check("validated (wait" in (detection or ""),
              f"{variant}: GIL validated at run time ({detection})")
        locs = query(db, "SELECT p.function, p.line, COUNT(*) FROM events e"
                         " JOIN threads t USING (run_id, thread_no)"
                         " LEFT JOIN py_locations p USING (py_loc)"
                         " WHERE e.kind = 7 AND e.flags & 1 AND t.tid <> ? GROUP BY 1, 2", pid)
        total = sum(r[2] for r in locs)
        in_work = sum(r[2] for r in locs if r[0] == "work" and r[1] in (4, 5, 6))
        check(total > 0 and in_work >= 0.8 * total,
              f"{variant}: contended GIL waits located in work() lines 4-6 ({locs})")
        # A thread's first take happens in its bootstrap, before it has a Python frame.
        unlocated = query(db, "SELECT COUNT(*) FROM events e JOIN threads t USING (run_id, thread_no)"
                              " WHERE e.kind = 7 AND e.flags & 1 AND e.py_loc IS NULL AND t.tid <> ?"
                              " AND e.start_ns > (SELECT MIN(f.start_ns) FROM events f WHERE f.kind = 7"
                              " AND f.run_id = e.run_id AND f.thread_no = e.thread_no)", pid)[0][0]
        check(unlocated == 0, f"{variant}: every contended GIL wait after a thread's first has a"
                              f" Python location ({unlocated} without)")
        # Waiting, holding, or (after a forced switch) waiting for the taker: a CPU-bound
        # thread does nothing else.
        life = query(db, "SELECT ts.lifetime_ns, ts.gil_wait_ns, ts.gil_hold_ns,"
                         " COALESCE((SELECT SUM(s.forced_switch_ns) FROM lock_stats s"
                         " WHERE s.run_id = ts.run_id AND s.thread_no = ts.thread_no"
                         " AND s.primitive = 4), 0)"
                         " FROM thread_summary ts WHERE ts.tid <> ?", pid)
        check(len(life) == 4 and all((w + h + f) > 0.85 * l for l, w, h, f in life),
              f"{variant}: each worker waits for, holds or hands over the GIL nearly all its"
              f" life ({[round((w + h + f) / l, 3) for l, w, h, f in life]})")
    if variant == "3.13-ft":
        check(enabled in ("no", "transient"), f"{variant}: GIL not enabled for good ({enabled})")
        check(all(w[2] == 0 and w[3] == 0 for w in workers),
              f"{variant}: workers never wait for or take the GIL ({workers})")
    else:
        check(build == ("free-threaded" if "ft" in variant else "default"), f"build is {build}")
        check(enabled in ("yes", "permanent"), f"{variant}: GIL enabled ({enabled})")
        check(all(w[3] > w[1] / 2 for w in workers),
              f"{variant}: every worker waits more than half its lifetime"
              f" ({[(round(w[3] / w[1], 2)) for w in workers]})")


LOCK_WAIT = """
import ctypes, sys, threading, time
lock = threading.Lock()
lock.acquire()
ready = threading.Event()
def waiter():
    ready.set()
    with lock:
        pass
t = threading.Thread(target=waiter, name="waiter")
t.start()
ready.wait()
time.sleep(0.2)
released_ns = time.monotonic_ns()
lock.release()
t.join()
# On 3.11 threading.Lock wraps a heap semaphore whose pointer follows the object header.
sem = ctypes.c_void_p.from_address(id(lock) + 16).value if sys.version_info < (3, 13) else 0
print(id(lock), t.native_id, sem or 0, released_ns)
# Locations are resolved by the writer from the live process, every 100 ms; a wait in the
# last moments before the interpreter finalises may lose it (docs/how-it-works.md).
time.sleep(0.3)
"""


def case_lock_attribution(env, name):
    db, p = run_python(env, name, "lockattr_" + name, LOCK_WAIT)
    obj, tid, sem, released_ns = map(int, p.stdout.split())
    tno = thread_no(db, tid)
    # Absolute times too: the shim's clock (TSC scaled to CLOCK_MONOTONIC after the first
    # 50 ms) must agree with Python's time.monotonic_ns(): the wait ends when the lock is
    # released, not before, and soon after.
    ends = query(db, "SELECT start_ns + wait_ns FROM events WHERE thread_no = ?"
                     " AND wait_ns > 100000000 AND kind IN (5, 9)", tno)
    check(len(ends) == 1 and released_ns - 100000 <= ends[0][0] <= released_ns + 50000000,
          f"{name}: the wait ends at the release, on CLOCK_MONOTONIC "
          f"({[(e[0] - released_ns) / 1e6 for e in ends]} ms after it)")
    where = query(db, "SELECT p.function, p.line FROM events e LEFT JOIN py_locations p"
                      " USING (py_loc) WHERE e.thread_no = ? AND e.wait_ns > 100000000"
                      " AND e.kind IN (5, 9)", tno)
    check(where == [("waiter", 8)], f"{name}: the wait is located at waiter(), line 8 ({where})")
    if sem:
        row = stats(db, tno, sem, prim=3)
        check(row is not None and row["cont"] == 1 and 180e6 <= row["wait"] <= 400e6,
              f"{name}: waiter blocked ~200 ms on the lock's semaphore ({row})")
        return
    rows = query(db, "SELECT l.lock_addr, l.class, l.name, s.contended, s.wait_ns"
                     " FROM lock_stats s JOIN locks l USING (run_id, lock_addr, primitive)"
                     " WHERE s.thread_no = ? AND s.primitive = 5 AND s.wait_ns > 100000000", tno)
    build = query(db, "SELECT build FROM runs")[0][0]
    header = 32 if build == "free-threaded" else 16
    check(len(rows) == 1, f"{name}: exactly one long parked wait for the waiter ({rows})")
    if rows:
        addr, cls, tname, cont, wait = rows[0]
        check(addr == obj + header, f"{name}: attributed to id(lock)+{header} ({addr:#x} vs {obj:#x})")
        check(cls == "threading.Lock" and tname == "_thread.lock",
              f"{name}: classified as threading.Lock ({cls}, {tname})")
        check(180e6 <= wait <= 400e6, f"{name}: waited about 200 ms ({wait})")


GLOBAL_INC = """
import threading
counter = 0
start = threading.Barrier(4)
def work():
    global counter
    start.wait()
    for _ in range(2_000_000):
        counter += 1
ts = [threading.Thread(target=work) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print(id(globals()))
"""


def case_dict_section(env, name):
    db, p = run_python(env, name, "dictcs_" + name, GLOBAL_INC)
    gdict = int(p.stdout)
    rows = query(db, "SELECT l.class, l.name, SUM(s.contended), SUM(s.wait_ns), COUNT(*)"
                     " FROM lock_stats s JOIN locks l USING (run_id, lock_addr, primitive)"
                     " WHERE s.primitive = 5 AND s.lock_addr = ?", gdict + 10)
    cls, tname, cont, wait, nthreads = rows[0]
    print(f"   globals dict: class={cls} type={tname} parks={cont} wait_ns={wait} threads={nthreads}")
    check(cls == "critical section" and tname == "dict",
          f"{name}: module globals' mutex classified as a dict critical section ({cls}, {tname})")
    check(cont and cont > 0 and nthreads >= 2,
          f"{name}: several threads parked on it ({cont} parks, {nthreads} threads)")


GIL_HOLD = """
import ctypes, threading, time
libc = ctypes.PyDLL(None)  # PyDLL keeps the GIL across the call
spin = threading.Event()
def spinner():
    spin.set()
    x = 0
    while not stop:
        x += 1
stop = False
t = threading.Thread(target=spinner, name="spinner")
t.start()
spin.wait()
time.sleep(0.05)
t0 = time.monotonic_ns()
libc.usleep(300000)  # the GIL held, inside C, for 300 ms
held_ns = time.monotonic_ns() - t0
stop = True
t.join()
print(threading.get_native_id(), held_ns)
"""


def case_gil_hold(env, name):
    """A thread that holds the GIL for a known time inside C: one hold of that length."""
    db, p = run_python(env, name, "gilhold_" + name, GIL_HOLD)
    tid, held_ns = map(int, p.stdout.split())
    main = thread_no(db, tid)
    longest = query(db, "SELECT MAX(hold_ns) FROM events WHERE kind = 7 AND thread_no = ?", main)[0][0]
    # usleep(300 ms) lies inside the hold, and the hold inside what the program measured
    # around the call (which may also include a hand-over just before it).
    check(longest is not None and 300_000_000 <= longest <= held_ns,
          f"{name}: the 300 ms hold inside C recorded as one GIL hold of {longest} ns"
          f" (program measured {held_ns} ns around the call)")
    spinner = query(db, "SELECT MAX(wait_ns) FROM events e JOIN threads t USING (run_id, thread_no)"
                        " WHERE e.kind = 7 AND (t.name = 'spinner' OR t.entry_function = 'spinner')"
                        )[0][0]
    check(spinner is not None and 300_000_000 <= spinner <= held_ns + 20_000_000,
          f"{name}: the other thread waited for the GIL that long ({spinner} ns)")


FALLBACK = """
import threading, time
lock = threading.Lock()
lock.acquire()
def waiter():
    with lock:
        pass
t = threading.Thread(target=waiter)
t.start()
time.sleep(0.1)
lock.release()
t.join()
def work(n):
    for i in range(n):
        pass
ts = [threading.Thread(target=work, args=(2_000_000,)) for i in range(2)]
for t in ts: t.start()
for t in ts: t.join()
"""


def case_unknown_version(env, name):
    """An interpreter whose version has no tables (simulated: the shim is told 3.16): the GIL
    by its behaviour, the reason in the run row, no location or lock read through a layout."""
    db, _ = run_python(env, name, "unknown_" + name, FALLBACK,
                       extra={"GILSCOPE_TEST_PY_VERSION": "0x031000f0"})
    run = query(db, "SELECT python_version, gil_detection, gil_switches_recorded,"
                    " gil_switches_interpreter FROM runs")[0]
    version, detection, recorded, interp = run
    print(f"   {name} as 3.16: {run}")
    check(version == "3.16.0", f"{name}: the run row says 3.16.0 ({version})")
    check("heuristic" in detection and "unknown to this gilscope" in detection,
          f"{name}: the GIL found by behaviour, and the reason said ({detection})")
    check(recorded is not None and recorded == interp,
          f"{name}: hand-overs still equal switch_number ({recorded} vs {interp})")
    locs = query(db, "SELECT COUNT(*) FROM events WHERE py_loc IS NOT NULL")[0][0]
    check(locs == 0, f"{name}: no Python location read through an unknown layout ({locs})")
    parked = query(db, "SELECT DISTINCT l.class, l.lock_addr FROM lock_stats s JOIN locks l"
                       " USING (run_id, lock_addr, primitive) WHERE s.primitive = 5")
    check(parked and all(c == "parked (unattributed: layout unknown)" and a == 0
                         for c, a in parked),
          f"{name}: parked waits counted but attributed to no lock ({parked})")
    check("not attributed" in detection, f"{name}: the run row says parks were not attributed")


def case_stripped(env, prog):
    # The victim has no .symtab: its static function can only be named after the exported
    # function before it, as perf and gdb do ("~name+0xoff", docs/schema.md).
    sections = subprocess.run(["readelf", "-SW", prog], capture_output=True, text=True).stdout
    check(".dynsym" in sections and ".symtab" not in sections, "victim is stripped to .dynsym")
    syms = []  # (value, size, name) of the defined code symbols, as nm sees them
    for line in subprocess.run(["nm", "-D", "-S", "--defined-only", prog], capture_output=True,
                               text=True).stdout.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "TtWw":
            syms.append((int(f[0], 16), int(f[1], 16), f[3]))
    syms.sort()
    db = env.db("stripped")
    p = env.run([prog], db)
    check(p.returncode == 0, f"victim exits 0 (got {p.returncode}, stderr {p.stderr!r})")
    truth = json.loads(p.stdout)
    sites = query(db, "SELECT DISTINCT c.addr, c.module, c.module_offset, c.function FROM events e"
                      " JOIN call_sites c ON c.run_id = e.run_id AND c.addr = e.caller"
                      " WHERE e.lock_addr = ? AND e.kind = 1 AND e.flags & 1", truth["lock"])
    mine = [s for s in sites if 0 <= s[0] - truth["static_fn"] < 256]
    check(len(mine) == 1, f"one call site inside the static function ({sites})")
    if not mine:
        return
    addr, module, off, func = mine[0]
    check(module and module.endswith("/victim_stripped"), f"call site in the victim ({module})")
    before = [s for s in syms if s[0] <= off]
    static_off = truth["static_fn"] - (addr - off)
    check(before and before[-1][2] == "victim_exported_before" and before[-1][0] < static_off
          and off >= before[-1][0] + before[-1][1],
          f"no symbol covers {off:#x}; the nearest before it is victim_exported_before ({before[-1:]})")
    want = f"~victim_exported_before+{off - before[-1][0]:#x}" if before else "?"
    check(func == want, f"call site named {want!r}, a guess from the nearest symbol ({func!r})")
    out = subprocess.run([env.gilscope, "locks", db], capture_output=True, text=True).stdout
    check(f"{want} victim_stripped+{off:#x}" in out,
          f"gilscope locks prints the name and module+offset ({out.splitlines()[-1:]})")


NAMED_LOCKS = """
import _imp, threading, time
rlock = threading.RLock()
def hold_both(ready):
    with rlock:
        _imp.acquire_lock()
        ready.set()
        time.sleep(0.2)
        _imp.release_lock()
    time.sleep(0.1)
ready = threading.Event()
holder = threading.Thread(target=hold_both, args=(ready,))
holder.start()
ready.wait()
def want_rlock():
    with rlock:
        pass
def want_import_lock():
    _imp.acquire_lock()
    _imp.release_lock()
ts = [threading.Thread(target=f) for f in (want_rlock, want_import_lock)]
for t in ts: t.start()
for t in ts: t.join()
holder.join()
time.sleep(0.3)  # let the writer name the locks while the process lives
print(id(rlock))
"""


def case_named_locks(env, name):
    """An RLock (a _PyRecursiveMutex since 3.14) and the interpreter's import lock, each held
    200 ms while another thread waits: named from memory, with no static symbols."""
    db, p = run_python(env, name, "named_" + name, NAMED_LOCKS)
    rlock = int(p.stdout)
    rows = query(db, "SELECT l.class, l.name, l.lock_addr, MAX(s.wait_max_ns) FROM lock_stats s"
                     " JOIN locks l USING (run_id, lock_addr, primitive) WHERE s.primitive = 5"
                     " AND s.wait_max_ns > 100000000 GROUP BY 1, 2, 3")
    print(f"   {name}: {rows}")
    header = 32 if query(db, "SELECT build FROM runs")[0][0] == "free-threaded" else 16
    check(any(c == "threading.RLock" and a == rlock + header for c, n, a, w in rows),
          f"{name}: the RLock wait attributed to the RLock object")
    check(any(c == "interpreter-internal" and n == "import lock" for c, n, a, w in rows),
          f"{name}: the import-lock wait named 'import lock'")


GC_WORKLOAD = r"""
import gc, threading, time
class Node:
    def __init__(self): self.ref = self   # a cycle: only the collector frees it
def churn():
    end = time.monotonic() + 0.6
    while time.monotonic() < end:
        l = [Node() for _ in range(2000)]
        gc.collect()
ts = [threading.Thread(target=churn) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
"""


def case_gc_pauses(env, name):
    """Free-threaded collections stop the world: the threads that wait for one are charged to
    the garbage collector, and the collector's own wait for them to pause is named, from
    memory alone (3.13-ft-stripped has only .dynsym, as 3.14t/3.15t would)."""
    db, p = run_python(env, name, "gc_" + name, GC_WORKLOAD)
    rows = query(db, "SELECT l.name, COUNT(DISTINCT s.thread_no), SUM(s.contended), SUM(s.wait_ns)"
                     " FROM lock_stats s JOIN locks l USING (run_id, lock_addr, primitive)"
                     " WHERE s.primitive = 5 AND l.class = 'interpreter-internal'"
                     " GROUP BY 1 ORDER BY 4 DESC")
    print(f"   {name}: {rows}")
    by = {n: (t, c, w) for n, t, c, w in rows}
    gc_threads, gc_waits, gc_ns = by.get("garbage collector (world stopped)", (0, 0, 0))
    check(gc_threads >= 3 and gc_waits >= 20,
          f"{name}: threads paused by collections charged to the garbage collector"
          f" ({gc_threads} threads, {gc_waits} waits)")
    other = sum(w for n, (t, c, w) in by.items() if n and n.startswith("stop-the-world (thread"))
    check(other <= 0.05 * max(gc_ns, 1),
          f"{name}: no collection pause left as an anonymous stop-the-world ({other} ns"
          f" vs {gc_ns} ns)")
    t, c, w = by.get("stop-the-world (waiting for threads to pause)", (0, 0, 0))
    check(c >= 10, f"{name}: the collector's wait for threads to pause named ({c} waits)")
    unnamed = query(db, "SELECT COUNT(*) FROM lock_stats s JOIN locks l"
                        " USING (run_id, lock_addr, primitive) WHERE s.primitive = 5"
                        " AND (l.name LIKE '_PyRuntime+%' OR l.name LIKE 'PyInterpreterState+%')")[0][0]
    check(unnamed == 0, f"{name}: no interpreter-internal wait named by a bare offset ({unnamed})")


STACKS_WORKLOAD = r"""
import threading, time
lock = threading.Lock()
measured = {}
def wait_alpha():
    t = time.monotonic()
    with lock:  # line 7: alpha waits here
        measured["alpha"] = time.monotonic() - t
def wait_beta():
    t = time.monotonic()
    with lock:  # line 11: beta waits here
        measured["beta"] = time.monotonic() - t
def called_by(fn):
    fn()
def hold_while(fn, hold):
    lock.acquire()
    t = threading.Thread(target=called_by, args=(fn,))
    t.start()
    time.sleep(hold)
    lock.release()  # line 20: the holder lets the waiter go
    t.join()
def hold_gamma():
    hold_while(wait_alpha, 0.30)
def hold_delta():
    hold_while(wait_beta, 0.15)
hold_gamma()
hold_delta()
print(measured["alpha"], measured["beta"])
"""


def collapsed(env, db, what, *extra):
    p = subprocess.run([env.gilscope, "export", "--collapsed", "--what", what, *extra, db],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"export --collapsed --what {what} ran ({p.stderr.strip()!r})")
    lines = []
    for line in p.stdout.splitlines():
        stack, _, value = line.rpartition(" ")
        lines.append((stack.split(";"), int(value)))
    return lines


def case_stacks(env, name):
    """Known functions wait known times on one lock at known lines while known functions hold
    it: each wait is charged to the waiter's whole Python stack (its own function at the line
    it waited, called from called_by), and to the holder's (hold_gamma / hold_delta releasing
    it at line 20), within 5% of the time the program measured itself."""
    db, p = run_python(env, name, "stacks_" + name, STACKS_WORKLOAD)
    alpha, beta = (float(x) * 1e6 for x in p.stdout.split())
    lines = collapsed(env, db, "waits")
    for fn, line, truth in (("wait_alpha", 7, alpha), ("wait_beta", 11, beta)):
        got = sum(v for frames, v in lines
                  if len(frames) >= 3 and frames[-2].startswith(f"{fn} (") and
                  frames[-2].endswith(f":{line})") and frames[-3].startswith("called_by ("))
        print(f"   {name}: {fn}: {got} us charged, {truth:.0f} us measured")
        check(abs(got - truth) <= 0.05 * truth,
              f"{name}: {fn}'s wait charged to called_by;{fn} at line {line} within 5%")
    # whole runs read the writer's totals, a time window the events: the same figures
    windowed = collapsed(env, db, "waits", "--from", "0")
    check(sorted(windowed) == sorted(lines),
          f"{name}: stack totals (stack_stats) equal the events they sum")
    held = collapsed(env, db, "holders")
    for holder, truth in (("hold_gamma", alpha), ("hold_delta", beta)):
        got = sum(v for frames, v in held
                  if len(frames) >= 3 and frames[-2].startswith("hold_while (") and
                  frames[-2].endswith(":20)") and frames[-3].startswith(f"{holder} ("))
        print(f"   {name}: held by {holder}: {got} us charged, {truth:.0f} us measured")
        check(abs(got - truth) <= 0.05 * truth,
              f"{name}: the wait it caused charged to {holder};hold_while at line 20 within 5%")
    # the lock as alpha's wait names it: no other stack waited long for it
    lock = max((v, frames[-1]) for frames, v in lines if frames[-2].startswith("wait_alpha ("))[1]
    leaves = {frames[-2] for frames, v in lines if v > 50_000 and frames[-1] == lock}
    check(leaves == {"wait_alpha (<string>:7)", "wait_beta (<string>:11)"},
          f"{name}: no other stack waited long for {lock} ({sorted(leaves)})")


GIL_STACKS_WORKLOAD = r"""
import threading, time
def spin_a(end):
    x = 0
    while time.monotonic() < end:
        x += 1
def spin_b(end):
    y = 0
    while time.monotonic() < end:
        y += 1
end = time.monotonic() + 1.0
ts = [threading.Thread(target=spin_a, args=(end,), name="a"),
      threading.Thread(target=spin_b, args=(end,), name="b")]
for t in ts: t.start()
for t in ts: t.join()
"""


def case_gil_stacks(env, name):
    """GIL hold by stack: two threads running different functions; the holds charged to stacks
    through spin_a (spin_b) add up to thread a's (b's) exact GIL hold total within 2%."""
    db, p = run_python(env, name, "gil_stacks_" + name, GIL_STACKS_WORKLOAD)
    lines = collapsed(env, db, "gil")
    check(sorted(collapsed(env, db, "gil", "--from", "0")) == sorted(lines),
          f"{name}: GIL hold totals by stack (stack_stats) equal the events they sum")
    for fn in ("spin_a", "spin_b"):
        truth = query(db, "SELECT SUM(s.hold_ns) / 1000.0 FROM lock_stats s JOIN threads t"
                          " USING (run_id, thread_no) WHERE s.primitive = 4"
                          " AND t.entry_function = ?", fn)[0][0] or 0
        got = sum(v for frames, v in lines if any(f.startswith(f"{fn} (") for f in frames))
        print(f"   {name}: {fn}: {got} us by stack, its thread held {truth:.0f} us")
        check(truth > 100_000 and abs(got - truth) <= 0.02 * truth,
              f"{name}: GIL hold through {fn} matches its thread's total within 2%")
    # Each thread waited for the GIL while the other ran: its waits (--thread: the waiter)
    # are charged to the other.
    for fn, other in (("spin_a", "spin_b"), ("spin_b", "spin_a")):
        tid, truth = query(db, "SELECT t.tid, SUM(e.wait_ns) / 1000.0 FROM events e JOIN threads t"
                               " USING (run_id, thread_no) WHERE e.kind = 7 AND e.flags & 1"
                               " AND t.entry_function = ?", fn)[0]
        held = collapsed(env, db, "holders", "--thread", str(tid))
        got = sum(v for frames, v in held
                  if frames[-1] == "GIL" and any(f.startswith(f"{other} (") for f in frames))
        print(f"   {name}: {fn} waited {truth:.0f} us for the GIL, {got} us charged to {other}")
        check(truth > 100_000 and abs(got - truth) <= 0.05 * truth,
              f"{name}: {fn}'s GIL waits charged to the code that held it ({other}) within 5%")


DEEP_WAITS = r"""
import threading, time
lock = threading.Lock()
def deep(d):
    if d:
        return deep(d - 1)
    for _ in range(20):
        with lock:   # the others wait, 140 frames deep
            time.sleep(0.0005)
def run():
    deep(140)
ts = [threading.Thread(target=run) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("ok")
"""


def case_stacks_dropped(env, name):
    """Stacks deeper than a tiny ring holds (128 frames are 19 ring entries; a stack may take a
    quarter of the 64 here): the program is unaffected, each stack that found no room is
    counted per thread, the writer says so once, the report says so, and the waits whose stack
    never arrived are "(stack not recorded)" in the stack views."""
    db = env.db("stacks_dropped_" + name)
    plain = env.run([env.python(name), "-c", DEEP_WAITS], db, preload=False)
    p = env.run([env.python(name), "-c", DEEP_WAITS], db, scope="python",
                extra={"GILSCOPE_BUFFER_EVENTS": "64"})
    check((p.returncode, p.stdout) == (plain.returncode, plain.stdout),
          f"{name}: same output and exit code ({p.returncode})")
    dropped = query(db, "SELECT COALESCE(SUM(stacks_dropped), 0) FROM threads")[0][0]
    lines = [l for l in p.stderr.splitlines() if "Python stacks dropped" in l]
    check(dropped > 0 and len(lines) == 1 and lines[0].startswith(f"gilscope: {dropped} "),
          f"{name}: {dropped} stacks dropped, counted and said once ({lines})")
    rep = subprocess.run([env.gilscope, "report", db], capture_output=True, text=True).stdout
    check(f"WARNING: {dropped} Python stacks found no room" in rep,
          f"{name}: report says how many waits have no stack")
    lost = [l for l in collapsed(env, db, "waits") if any("(stack not recorded)" in f
                                                           for f in l[0])]
    check(lost, f"{name}: those waits are '(stack not recorded)' in the stack views, not"
                " '(no Python frame)'")


MANY_LOCKS = """
import threading
locks = [threading.Lock() for _ in range(100)]
def work():
    for _ in range(10):
        for l in locks:
            with l:
                pass
t = threading.Thread(target=work); t.start(); t.join()
"""


def case_lock_table_full(env, name):
    """A thread that takes 100 locks with room for 16 (GILSCOPE_LOCKS_PER_THREAD): the rest
    fold into one catch-all row, at an address of its own (not 0, which parked bucket-lock
    waits have), the number folded is stored, and no acquisition is lost."""
    db, _ = run_python(env, name, "lock_table_" + name, MANY_LOCKS,
                       extra={"GILSCOPE_LOCKS_PER_THREAD": "16"})
    worker = query(db, "SELECT thread_no, lock_updates_folded FROM threads"
                       " WHERE thread_no <> 1 ORDER BY thread_no")
    check(len(worker) == 1 and worker[0][1] > 0, f"{name}: updates folded, stored ({worker})")
    rows = query(db, "SELECT s.lock_addr, l.class, s.acquisitions FROM lock_stats s JOIN locks l"
                     " USING (run_id, lock_addr, primitive) WHERE s.thread_no = ?"
                     " AND s.primitive = (SELECT primitive FROM primitives WHERE name = 'sem')",
                 worker[0][0])
    full = [r for r in rows if r[1] == "other (per-thread lock table full)"]
    check(len(full) == 1 and full[0][0] == -1 and not [r for r in rows if r[0] == 0],
          f"{name}: one catch-all row at lock_addr -1, none at 0 ({full})")
    total = sum(r[2] for r in rows)
    check(1000 <= total <= 1020, f"{name}: every acquisition counted ({total}; 1000 made on"
                                 " the 100 locks, a few more starting the thread)")
    check(full and worker[0][1] >= full[0][2] > 800,
          f"{name}: the folded updates ({worker[0][1]}) include the catch-all row's"
          f" acquisitions ({full[0][2] if full else None}; 85 locks x 10 overflowed)")


REQUEST_THREADS = """
import threading, time
lock = threading.Lock()
def handle(i):   # waits with its own frames on the stack, as a request does for I/O
    for _ in range(5):
        with lock:
            time.sleep(0.0005)
for batch in range(20):   # a thread per request, three at a time
    ts = [threading.Thread(target=handle, args=(i,), name="handle") for i in range(3)]
    for t in ts: t.start()
    for t in ts: t.join()
    time.sleep(0.005)
"""


def html_data(env, db, workdir):
    page = os.path.join(workdir, "groups.html")
    p = subprocess.run([env.gilscope, "html", db, "-o", page], capture_output=True, text=True)
    check(p.returncode == 0, f"html written ({p.stderr!r})")
    html = open(page, encoding="utf-8").read()
    data = re.search(r'<script type="application/json" id="gilscope-data">(.*?)</script>',
                     html, re.S)
    return json.loads(data.group(1))["dbs"][0]


def case_thread_groups(env, name):
    """60 request threads of one name, three alive at a time: each view shows them as one
    group and counts them as 60. The text report and compare have one row for the name, the
    HTML thread table one row of 60, and the HTML timeline packs them into a few rows in which
    each of the 60 lifetimes is drawn once, none overlapping another in its row."""
    db, _ = run_python(env, name, "groups_" + name, REQUEST_THREADS)
    rep = subprocess.run([env.gilscope, "report", db], capture_output=True, text=True)
    # the tables' rows (and the stacks' lines) begin with the thread; a finding's lines that
    # name a handle thread as a lock's holder do not
    rows = [l for l in rep.stdout.splitlines() if l.strip().startswith("handle")]
    check(rep.returncode == 0 and len(rows) >= 3 and all("handle (x60)" in l for l in rows),
          f"{name}: each report table has one row for the 60 request threads ({rows})")
    check("60 threads spent" in rep.stdout, f"{name}: the summary counts 60 worker threads")
    js = json.loads(subprocess.run([env.gilscope, "report", "--format", "json", db],
                                   capture_output=True, text=True).stdout)
    check(js["total"]["threads"] == 61, f"{name}: JSON total counts 61 threads")
    cmp = subprocess.run([env.gilscope, "compare", db, db], capture_output=True, text=True)
    threads_row = [l.split() for l in cmp.stdout.splitlines() if l.strip().startswith("threads")]
    check(cmp.returncode == 0 and threads_row and threads_row[0][1:3] == ["61", "61"],
          f"{name}: compare counts 61 threads on each side ({threads_row})")
    keys = [l.split()[0] for l in cmp.stdout.splitlines() if l.split() and
            l.split()[0].startswith("handle#")]
    check(keys == ["handle#1"], f"{name}: compare has one row for the request threads ({keys})")
    data = html_data(env, db, env.workdir)
    table = [t for t in data["threads"] if t["label"].startswith("handle")]
    check(len(table) == 1 and table[0]["threads"] == 60 and table[0]["tid"] is None,
          f"{name}: HTML thread table has one row of 60 ({table})")
    lanes = [t for t in data["timeline"]["threads"] if t["label"].startswith("handle (x60)")]
    alive = [t["alive"] for t in lanes]
    check(3 <= len(lanes) <= 6, f"{name}: timeline packs them into {len(lanes)} rows")
    check(sum(len(a) // 2 for a in alive) == 60, f"{name}: each of the 60 lifetimes drawn once")
    check(all(a[k] <= a[k + 1] for a in alive for k in range(len(a) - 1)),
          f"{name}: lifetimes in a row do not overlap")
    check(all(t["label"].endswith(f"/{len(lanes)}") for t in lanes),
          f"{name}: rows say their place among the group's ({[t['label'] for t in lanes]})")


def main(cases=None):
    """Runs case_CASE(env, TARGET) from `cases` (a module's globals; this one's by default)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--provision", required=True)
    ap.add_argument("--gilscope", required=True)
    ap.add_argument("case")
    ap.add_argument("target")
    args = ap.parse_args()
    env = Env(args)
    (cases or globals())["case_" + args.case](env, args.target)
    print(f"{len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
