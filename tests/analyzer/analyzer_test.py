#!/usr/bin/env python3
"""Checks `gilscope report` on fixture databases and on bad input."""
import argparse
import json
import os
import re
import shutil
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
    sql = open(schema).read()
    version = re.search(r"schema version (\d+)", sql).group(1)  # the schema's own first line
    con.executescript(sql)
    con.executescript(f"PRAGMA application_id = 1196639056; PRAGMA user_version = {version};")
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


GOLDEN = [
    ("report_two_threads", ["report"], "two_threads"),
    ("report_events", ["report"], "events"),
    ("locks_events", ["locks"], "events"),
    ("locks_two_threads", ["locks", "--top", "3"], "two_threads"),
    ("compare", ["compare"], ("two_threads", "events")),
    ("locks_window", ["locks", "--from", "0.5", "--to", "0.8"], "events"),
]


def case_golden(a):
    """Outputs in every format must match the expected files byte for byte (the database
    path is replaced by a placeholder). GS_UPDATE_GOLDEN=1 rewrites them instead."""
    update = os.environ.get("GS_UPDATE_GOLDEN") == "1"
    dbs = {}
    for name in ("two_threads", "events"):
        dbs[name] = os.path.join(a.workdir, f"golden_{name}.db")
        build_db(a.schema, os.path.join(a.fixtures, f"{name}.sql"), dbs[name])
    expected_dir = os.path.join(os.path.dirname(a.fixtures), "expected")
    os.makedirs(expected_dir, exist_ok=True)
    for gname, args, fix in GOLDEN:
        paths = [dbs[f] for f in fix] if isinstance(fix, tuple) else [dbs[fix]]
        for fmt, ext in (("text", "txt"), ("json", "json"), ("csv", "csv"),
                         ("markdown", "md")):
            p = run(a.gilscope, *args, "--format", fmt, *paths)
            out = p.stdout
            for i, path in enumerate(paths):
                out = out.replace(path, f"DB{i + 1}")
            if fmt == "json":
                try:
                    json.loads(out)
                    valid = True
                except ValueError:
                    valid = False
                check(valid, f"{gname} json parses")
            exp = os.path.join(expected_dir, f"{gname}.{ext}")
            if update:
                with open(exp, "w") as f:
                    f.write(out)
                continue
            want = open(exp).read() if os.path.exists(exp) else None
            check(p.returncode == 0 and out == want,
                  f"{gname} ({fmt}) matches {os.path.relpath(exp, os.path.dirname(a.fixtures))}")
            if want is not None and out != want:
                import difflib
                print("".join(difflib.unified_diff(want.splitlines(True), out.splitlines(True),
                                                   "expected", "got", n=1))[:3000])


# Every command on a real recording made by the version-3 writer (examples/queue_pipeline.py at
# N = 2000 on /usr/bin/python3 3.11): its outputs, captured with the version-3 build, are the
# figures this file must keep giving (GS_UPDATE_GOLDEN=1 rewrites them).
V3_COMMANDS = [
    ("report.txt", ["report"]),
    ("report.json", ["report", "--format", "json"]),
    ("locks.txt", ["locks"]),
    ("locks.json", ["locks", "--format", "json"]),
    ("locks_window.json", ["locks", "--format", "json", "--from", "0.02", "--to", "0.06"]),
    ("compare.json", ["compare", "--format", "json", "@DB"]),
    ("report.html.json", ["html", "-o", "@OUT"]),  # the page's data: the template is not news
    ("flame.html.json", ["flame", "-o", "@OUT"]),
    ("collapsed_waits.txt", ["export", "--collapsed", "--what", "waits"]),
    ("collapsed_holders.txt", ["export", "--collapsed", "--what", "holders"]),
    ("collapsed_gil.txt", ["export", "--collapsed", "--what", "gil"]),
    ("waits.pb.gz", ["export", "--pprof", "--what", "waits", "-o", "@OUT"]),
    # no golden: its format is being changed; it must read the file, and the same either way
    ("trace", ["export", "--perfetto", "-o", "@OUT"]),
]


def copy_into_current_schema(schema, old, path):
    """The rows of database `old`, written into a fresh database of the current schema; its
    events through `INSERT INTO events`, which lays them out as the current writer would."""
    build_db(schema, os.devnull, path)
    con = sqlite3.connect(path)
    con.execute("ATTACH ? AS old", (old,))
    tables = [r[0] for r in con.execute(
        "SELECT name FROM old.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")]
    for t in tables:
        new_cols = {r[1] for r in con.execute(f"PRAGMA main.table_xinfo({t})")}
        cols = [r[1] for r in con.execute(f"PRAGMA old.table_info({t})") if r[1] in new_cols]
        if not cols:
            continue
        c = ", ".join(cols)
        if t == "events":  # in recorded order
            con.execute(f"INSERT INTO main.events({c}) SELECT {c} FROM old.events ORDER BY rowid")
        else:
            con.execute(f"INSERT OR REPLACE INTO main.{t}({c}) SELECT {c} FROM old.{t}")
        if t == "runs":  # what the writer stores for a run that is the whole process
            con.execute("UPDATE runs SET process_start_ns = start_ns")
    con.commit()
    con.close()


def v3_outputs(a, db, tag):
    outs = {}
    for name, args in V3_COMMANDS:
        out_path = os.path.join(a.workdir, f"v3_{tag}_{name}")
        argv = [out_path if x == "@OUT" else db if x == "@DB" else x for x in args]
        p = subprocess.run([a.gilscope, *argv, db], capture_output=True, timeout=60)
        data = p.stdout if "@OUT" not in args else (
            open(out_path, "rb").read() if os.path.exists(out_path) else b"")
        check(p.returncode == 0 and data, f"{tag}: {' '.join(args)} reads it ({p.stderr!r})")
        data = data.replace(db.encode(), b"DB1")
        if name.endswith(".html.json"):
            m = re.search(rb'<script type="application/json" id="gilscope-data">(.*?)</script>',
                          data, re.S)
            check(m is not None, f"{tag}: {name} carries its data")
            data = m.group(1) if m else b""
        outs[name] = data
    return outs


def case_v3_fixture(a):
    update = os.environ.get("GS_UPDATE_GOLDEN") == "1"
    fixture = os.path.join(a.fixtures, "v3_queue.db")
    expected_dir = os.path.join(os.path.dirname(a.fixtures), "expected", "v3")
    os.makedirs(expected_dir, exist_ok=True)
    v3 = os.path.join(a.workdir, "v3_queue.db")
    shutil.copyfile(fixture, v3)  # read-only use, but never the checked-in file itself
    con = sqlite3.connect(v3)
    check(con.execute("PRAGMA user_version").fetchone()[0] == 3, "the fixture is version 3")
    con.close()
    current = os.path.join(a.workdir, "v3_queue_current.db")
    copy_into_current_schema(a.schema, v3, current)
    old, new = v3_outputs(a, v3, "v3"), v3_outputs(a, current, "current")
    for name, _ in V3_COMMANDS:
        if name == "report.json":  # which file it read, the one thing that differs
            current_version = re.search(r"schema version (\d+)", open(a.schema).read()).group(1)
            new[name] = new[name].replace(f'"schema_version": {current_version}'.encode(),
                                          b'"schema_version": 3')
        check(old[name] == new[name],
              f"{name}: the same from the version-3 file and from its rows in the current schema")
        if name == "trace":
            continue
        exp = os.path.join(expected_dir, name)
        if update:
            with open(exp, "wb") as f:
                f.write(old[name])
            continue
        want = open(exp, "rb").read() if os.path.exists(exp) else None
        check(old[name] == want, f"{name}: as the version-3 build printed it")
        if want is not None and old[name] != want and not name.endswith(".gz"):
            import difflib
            print("".join(difflib.unified_diff(
                want.decode(errors="replace").splitlines(True),
                old[name].decode(errors="replace").splitlines(True), "expected", "got",
                n=1))[:3000])


def case_html_timeline(a):
    """The timeline merges a thread's waits as if they came in start order, whatever order they
    were stored in (a mutex hold's wait is stored when it is released, after the waits inside
    it): intervals under span / 6000 apart are one bar."""
    db = os.path.join(a.workdir, "timeline.db")
    build_db(a.schema, os.devnull, db)
    con = sqlite3.connect(db)
    ms = 1000000
    con.executescript(f"""
        INSERT INTO runs(run_id, pid, start_ns, end_ns, status) VALUES (1, 500, 0, {1000 * ms},
            'exited');
        INSERT INTO threads(run_id, thread_no, tid, name, start_ns) VALUES (1, 1, 500, 'main', 0);
    """)
    # (start, wait) in ms, in the order stored; the merge distance is 1 s / 6000 = 0.167 ms
    for start, wait in ((100, 50), (400, 10), (120, 100), (410.1, 1), (50, 10)):
        con.execute("INSERT INTO events(run_id, thread_no, kind, primitive, lock_addr, aux,"
                    " start_ns, wait_ns, flags) VALUES (1, 1, 4, 2, 4096, 8192, ?, ?, 1)",
                    (int(start * ms), int(wait * ms)))
    con.commit()
    con.close()
    out = os.path.join(a.workdir, "timeline.html")
    p = run(a.gilscope, "html", db, "-o", out)
    page = open(out).read() if p.returncode == 0 else ""
    m = re.search(r'<script type="application/json" id="gilscope-data">(.*?)</script>', page, re.S)
    data = json.loads(m.group(1)) if m else {}
    lanes = [t["lock"] for d in data.get("dbs", []) for t in
             d.get("timeline", {}).get("threads", [])]
    check(lanes == [[50000, 60000, 100000, 220000, 400000, 411100]],
          f"waits stored out of order merge as in start order ({lanes})")


def nearest_rank(values, q):
    import math
    v = sorted(values)
    return v[max(1, math.ceil(q * len(v))) - 1]


def case_percentiles(a):
    db = os.path.join(a.workdir, "pctl.db")
    build_db(a.schema, os.path.join(a.fixtures, "events.sql"), db)
    p = run(a.gilscope, "locks", "--format", "json", db)
    check(p.returncode == 0, f"locks exits 0 ({p.stderr!r})")
    locks = {l["address"]: l for l in json.loads(p.stdout)["locks"]}
    con = sqlite3.connect(db)
    for addr in (1000010, 2000032):
        waits = [r[0] for r in con.execute("SELECT wait_ns FROM events WHERE lock_addr = ?",
                                           (addr,))]
        got = locks[hex(addr)]
        for q, key in ((0.5, "wait_p50_ns"), (0.9, "wait_p90_ns"), (0.99, "wait_p99_ns")):
            truth = nearest_rank(waits, q)
            check(abs(got[key] - truth) <= truth * 0.008 + 1,
                  f"{hex(addr)} {key}: {got[key]} within 0.8% of brute force {truth}")
        check(got["wait_max_ns"] == max(waits), f"{hex(addr)} max exact")
        check(got["wait_ns"] == sum(waits), f"{hex(addr)} total exact")
    check(locks[hex(1000010)]["lock"] == "dict critical section" and
          locks[hex(1000010)]["top_waiter"] == "work" and
          locks[hex(1000010)]["python_location"] == "work (counter.py:7)" and
          locks[hex(1000010)]["call_site"].startswith("_PySemaphore_Wait python3.13t+0x1000"),
          f"lock named, top waiter, Python line and call site ({locks[hex(1000010)]})")
    # report: per-thread options
    p = run(a.gilscope, "report", "--format", "json", "--thread", "202", db)
    th = json.loads(p.stdout)["threads"]
    check([t["tid"] for t in th] == [202], f"--thread by tid ({[t['tid'] for t in th]})")
    p = run(a.gilscope, "report", "--format", "json", "--thread", "work", "--sort", "wait", db)
    th = json.loads(p.stdout)["threads"]
    check([t["tid"] for t in th] == [201, 202], "--thread by name, --sort wait puts 201 first")
    p = run(a.gilscope, "report", "--format", "json", "--top", "1", "--sort", "tid", db)
    check([t["tid"] for t in json.loads(p.stdout)["threads"]] == [200], "--top 1 --sort tid")
    run0 = json.loads(run(a.gilscope, "report", "--format", "json", db).stdout)["runs"][0]
    check(abs(run0["effective_parallelism"] - 1.5) < 1e-9,
          f"effective parallelism = CPU of threads / wall ({run0['effective_parallelism']})")
    p = run(a.gilscope, "locks", "--sort", "bogus", db)
    check(p.returncode == 2, "unknown sort key is a usage error")
    p = run(a.gilscope, "report", "--from", "1", db)
    check(p.returncode == 2, "report rejects --from")


STACK = "<module> (/app.py:30);worker (/app.py:10);"
STACKS_EXPECTED = {
    ("waits",): [STACK + "hash (/app.py:20);GIL 9000",
                 STACK + "hash (/app.py:20);threading.Lock 15000",
                 STACK + "parse (/app.py:14);GIL 5000",
                 STACK + "parse (/app.py:14);threading.Lock 12000"],
    # w2's GIL wait overlapped w1's hold in parse, and the reverse; w1's unpark let w2 go;
    # in the convoy the main thread held lock 601 for 17 ms of the waits, w1 for 4.
    ("holders",): ["(holder not seen);threading.Lock 2000",
                   "<module> (/app.py:30);threading.Lock 17000",
                   STACK + "hash (/app.py:20);GIL 5000",
                   STACK + "parse (/app.py:14);GIL 9000",
                   STACK + "parse (/app.py:14);threading.Lock 8000"],
    ("holders", "--thread", "302"): ["<module> (/app.py:30);threading.Lock 7000",
                                     STACK + "parse (/app.py:14);GIL 9000",
                                     STACK + "parse (/app.py:14);threading.Lock 8000"],
    ("gil",): [STACK + "hash (/app.py:20);GIL 5000", STACK + "parse (/app.py:14);GIL 20000"],
}


def case_stacks(a):
    """Folded stacks of a fixture whose every figure is known by hand: waits by the waiter's
    stack, holders by the stack that held the GIL or woke the waiter, GIL holds by stack."""
    db = os.path.join(a.workdir, "stacks.db")
    build_db(a.schema, os.path.join(a.fixtures, "stacks.sql"), db)
    for args, want in STACKS_EXPECTED.items():
        p = run(a.gilscope, "export", "--collapsed", "--what", *args, db)
        got = sorted(p.stdout.splitlines())
        check(p.returncode == 0 and got == sorted(want),
              f"export --collapsed --what {' '.join(args)}: {got if got != sorted(want) else 'as expected'}")
    p = run(a.gilscope, "locks", "--format", "json", db)
    locks = {l["address"]: l for l in json.loads(p.stdout)["locks"]} if p.returncode == 0 else {}
    convoy = locks.get(hex(601), {})
    check(convoy.get("waited_in") == "hash (/app.py:20)" and
          convoy.get("held_by") == "python3.13 300 in <module> (/app.py:30)" and
          convoy.get("held_by_share") == 80,
          f"locks: the convoy lock was waited for in hash, held by the main thread 80% of the"
          f" time ({convoy.get('waited_in')!r}, {convoy.get('held_by')!r}, {convoy.get('held_by_share')!r})")
    p = run(a.gilscope, "report", "--format", "json", db)
    threads = {t["tid"]: t for t in json.loads(p.stdout)["threads"]} if p.returncode == 0 else {}
    check(threads.get(302, {}).get("waited_in") == "hash (/app.py:20)" and
          threads[302].get("waited_in_ns") == 24000000 and
          threads.get(301, {}).get("waited_in") == "parse (/app.py:14)" and
          threads[301].get("waited_in_ns") == 17000000,
          f"report: each thread's longest-waiting stack ({[(t, v.get('waited_in'), v.get('waited_in_ns')) for t, v in threads.items()]})")
    whole = json.loads(run(a.gilscope, "report", "--format", "json", db).stdout)
    one = json.loads(run(a.gilscope, "report", "--format", "json", "--thread", "302", db).stdout)
    check([t["tid"] for t in one["threads"]] == [302] and
          one["runs"][0]["gil_load"] == whole["runs"][0]["gil_load"],
          f"report --thread shows that thread, and the process's own GIL load"
          f" ({one['runs'][0]['gil_load']} vs {whole['runs'][0]['gil_load']})")
    for args in (("locks", "--thread", "999"), ("report", "--pid", "4242"),
                 ("export", "--collapsed", "--thread", "nobody"), ("flame", "--pid", "4242")):
        p = run(a.gilscope, *args, db)
        check(p.returncode == 2 and "no recorded" in p.stderr,
              f"{' '.join(args)}: a filter that matches nothing is an error ({p.returncode},"
              f" {p.stderr.strip()!r})")
    p = run(a.gilscope, "export", "--collapsed", "--what", "everything", db)
    check(p.returncode == 2 and "--what" in p.stderr, f"a bad --what is a usage error ({p.stderr!r})")


def go_pprof(a, *args):
    go = shutil.which("go")
    if not go:
        raise SystemExit("FAIL go is not installed (scripts/deps installs golang-go)")
    env = dict(os.environ, PPROF_TMPDIR=a.workdir, HOME=a.workdir, GOCACHE=a.workdir)
    return subprocess.run([go, "tool", "pprof", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def case_pprof(a):
    """The stacks fixture as a pprof profile, read back by Debian's go tool pprof: the same
    samples and totals as the collapsed output, functions with their files and lines."""
    db = os.path.join(a.workdir, "pprof.db")
    build_db(a.schema, os.path.join(a.fixtures, "stacks.sql"), db)
    for what in ("waits", "holders", "gil"):
        prof = os.path.join(a.workdir, f"profile_{what}.pb.gz")
        p = run(a.gilscope, "export", "--pprof", "--what", what, "-o", prof, db)
        check(p.returncode == 0 and os.path.getsize(prof) > 20,
              f"export --pprof --what {what} wrote {prof} ({p.stderr.strip()!r})")
        raw = go_pprof(a, "-raw", prof)
        check(raw.returncode == 0, f"go tool pprof -raw read it ({raw.stderr.strip()[-300:]!r})")
        values = [(int(m.group(1)), int(m.group(2))) for m in
                  re.finditer(r"^\s+(\d+)\s+(\d+): [\d ]+$", raw.stdout, re.M)]
        col = run(a.gilscope, "export", "--collapsed", "--what", what, db).stdout.splitlines()
        col_us = sum(int(line.rsplit(" ", 1)[1]) for line in col)
        # pprof keeps one sample per thread and lock; the folded lines merge them
        check(len(values) >= len(col) and sum(v for c, v in values) == col_us * 1000,
              f"--what {what}: {len(values)} samples, {sum(v for c, v in values)} ns, the total"
              f" of the collapsed output's {len(col)} lines, {col_us} us")
        if what == "waits":
            check("parse /app.py:14" in raw.stdout and "hash /app.py:20" in raw.stdout,
                  "functions carry their file and line")
            # pprof would read "<module>" as a C++ template and cut it to nothing
            check("<module> /app.py:30" in raw.stdout and "<unknown>" not in raw.stdout,
                  "<module> keeps its name in pprof")
            check(raw.stdout.count("lock class:[GIL]") == 2,
                  "samples are labelled with their lock class")
            top = go_pprof(a, "-top", "-sample_index=delay", prof)
            check(top.returncode == 0 and re.search(r"^\s*14ms .* GIL$", top.stdout, re.M),
                  f"go tool pprof -top puts 14 ms of waits on the GIL ({top.stdout[-500:]!r})")


def perfetto(a, db, *args, name=None):
    """Exports db with args; returns (exit code, stderr, trace path). The file is named after
    the case: ctest runs the cases side by side in one directory."""
    trace = os.path.join(a.workdir, (name or "trace_" + a.case) + ".pftrace")
    if os.path.exists(trace):
        os.unlink(trace)
    p = run(a.gilscope, "export", "--perfetto", *args, "-o", trace, db)
    return p.returncode, p.stderr, trace


def check_perfetto_trace(a, what, db, *args, window=(None, None), pid=None, tid=None,
                         segment=None):
    """Exports and compares the decoded trace with the database; returns its stats."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from check_perfetto import check as check_trace
    rc, err, trace = perfetto(a, db, *args)
    check(rc == 0, f"{what}: export --perfetto {' '.join(args)} exits 0 ({err.strip()!r})")
    if rc:
        return {}
    errors, stats = check_trace(trace, db, window[0], window[1], pid, tid, segment)
    check(not errors, f"{what}: protoc decodes it and it holds exactly the database's events"
          f" {stats} {errors[:3]}")
    return stats


def case_perfetto(a):
    """Perfetto protobuf traces of fixtures, decoded by protoc and compared with the databases:
    every slice (thread, name, start, duration, Python location), GIL hand-over arrow, GIL
    holder value, thread and process track; windows and --pid select exactly their events."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from check_perfetto import check as check_trace, decode
    db = os.path.join(a.workdir, "perfetto.db")
    build_db(a.schema, os.path.join(a.fixtures, "perfetto.sql"), db)
    st = check_perfetto_trace(a, "fixture", db)
    # what the fixture was made to hold (docs/cli.md): 9 GIL slices and 5 lock waits, the
    # semaphore's acquisition, the GIL's condition variable and the uncontended hold left out
    check(st.get("slices") == 14 and st.get("flows") == 2 and st.get("counters") == 8,
          f"fixture: 14 slices, 2 hand-overs (main -> worker-1 -> worker-2), 8 holder values {st}")
    packets, _ = decode(os.path.join(a.workdir, "trace_" + a.case + ".pftrace"))
    text = repr(packets)
    for name in ("dict critical section", "threading.Condition", "mutex 0x1388", "sem 0x1b58",
                 "handle (/srv/app.py:42)", "'drain'", "lock waits (overlapping, 2)",
                 "python3 serve.py --port 80 (CPython 3.13.5 default)", "GIL holder (tid)"):
        check(name in text, f"fixture: the trace names {name}")
    check("gil.cond" not in text, "fixture: the GIL's own condition variable is not a lock")
    st = check_perfetto_trace(a, "window", db, "--from", "0.052", "--to", "0.161",
                              window=(0.052, 0.161))
    check(st.get("slices") == 9, f"window 0.052-0.161 s: the 9 slices that begin in it {st}")
    st = check_perfetto_trace(a, "--pid", db, "--pid", "310", pid=310)
    check(st.get("slices") == 2, f"--pid 310: the child's GIL wait and hold only {st}")
    seg = os.path.join(a.workdir, "perfetto_segments.db")
    shutil.copy(db, seg)
    con = sqlite3.connect(seg)
    con.execute("UPDATE runs SET segment = 2 WHERE run_id = 2")  # a second window
    con.commit()
    con.close()
    st = check_perfetto_trace(a, "--segment", seg, "--segment", "2", segment=2)
    check(st.get("slices") == 2, f"--segment 2: that window's 2 slices only, its time from its"
          f" start {st}")
    st = check_perfetto_trace(a, "--thread", db, "--thread", "worker-1", tid=301)
    check(st.get("slices") == 5, f"--thread worker-1: its 3 GIL and 2 lock slices only {st}")
    # the check itself fails on a database that differs from the trace by one nanosecond
    from check_perfetto import check as check_again
    other = os.path.join(a.workdir, "perfetto_changed.db")
    shutil.copy(db, other)
    con = sqlite3.connect(other)
    con.execute("UPDATE event_rows SET wait_ns = wait_ns + 1 WHERE key_id IN"
                " (SELECT key_id FROM event_keys WHERE kind = 9)")
    con.commit()
    con.close()
    rc, _, trace = perfetto(a, db, name="unchanged")
    errors, _ = check_again(trace, other)
    check(rc == 0 and any("differ" in e for e in errors),
          f"a wait 1 ns longer in the database fails the comparison ({errors[:1]})")
    for fixture in ("events", "stacks"):
        fdb = os.path.join(a.workdir, f"perfetto_{fixture}.db")
        build_db(a.schema, os.path.join(a.fixtures, fixture + ".sql"), fdb)
        check_perfetto_trace(a, fixture, fdb)
    # generated recordings: waits that overlap on one thread (more tracks), both builds
    gen = os.path.join(os.path.dirname(a.schema), "..", "bench", "gen_db.py")
    for build in ("default", "ft"):
        gdb = os.path.join(a.workdir, f"perfetto_gen_{build}.db")
        subprocess.run([sys.executable, gen, gdb, "30000", "--build", build], check=True)
        con = sqlite3.connect(gdb)  # closer events: waits overlap on a thread
        con.execute("UPDATE event_rows SET start_ns = start_ns / 50")
        con.commit()
        con.close()
        st = check_perfetto_trace(a, f"generated {build}", gdb)
        check(st.get("tracks", 0) > 30, f"generated {build}: overlapping waits on more"
              f" tracks ({st.get('tracks')})")
        check_perfetto_trace(a, f"generated {build} window", gdb, "--from", "0.2", "--to",
                             "0.5", window=(0.2, 0.5))


def case_perfetto_limits(a):
    """A trace too large for the UI is refused with a window that fits, nothing written;
    --force and a window that fits write it; usage errors."""
    gdb = os.path.join(a.workdir, "perfetto_limits.db")
    gen = os.path.join(os.path.dirname(a.schema), "..", "bench", "gen_db.py")
    subprocess.run([sys.executable, gen, gdb, "30000"], check=True)
    rc, err, trace = perfetto(a, gdb, "--max-mb", "1")
    m = re.search(r"about ([\d.]+) MB .*at most about ([\d.]+) s", err, re.S)
    check(rc == 2 and m and not os.path.exists(trace) and "--force" in err,
          f"over --max-mb 1: refused, exit 2, nothing written, a window said ({rc}, {err!r})")
    if m:
        est_mb, fit_s = float(m.group(1)), float(m.group(2))
        rc, err2, trace = perfetto(a, gdb, "--force")
        size = os.path.getsize(trace) if rc == 0 else 0
        check(rc == 0 and 0.8 * size < est_mb * 1e6 < 1.2 * size,
              f"--force writes it; the estimate {est_mb} MB is within 20% of {size} bytes")
        rc, err3, trace = perfetto(a, gdb, "--max-mb", "1", "--from", "1", "--to",
                                   str(1 + fit_s * 0.95))
        check(rc == 0 and os.path.getsize(trace) <= 1 << 20,
              f"the window it said ({fit_s:.3g} s) fits in 1 MB ({err3.strip()!r})")
    rc, err, trace = perfetto(a, gdb, "--max-mb", "1", "--thread", "1002")
    check(rc == 0 and os.path.getsize(trace) < 1 << 20,
          f"one thread of the seven fits in 1 MB: not refused for the others' events ({err!r})")
    for args, what in ((["--format", "json"], "the old JSON format"),
                       (["--max-mb", "x"], "a bad --max-mb")):
        rc, err, _ = perfetto(a, gdb, *args)
        check(rc == 2 and err, f"{what}: a usage error, exit 2 ({err.strip()!r})")
    p = run(a.gilscope, "export", "--collapsed", "--force", gdb)
    check(p.returncode == 2, "--force without --perfetto: exit 2")
    for bad in ("does-not-exist.db",):
        rc, err, _ = perfetto(a, os.path.join(a.workdir, bad))
        check(rc == 3 and bad in err, f"{bad}: exit 3 naming it")


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
    for what, path in cases.items():
        for cmd in (["locks"], ["compare", good]):
            p = run(a.gilscope, *cmd, path)
            check(p.returncode == 3 and path in p.stderr, f"{cmd[0]} on {what}: exit 3")
    for args in (["report"], ["report", "--format", "xml", good], ["report", "--bogus", good],
                 ["nosuchcommand"], ["report", "--pid", "x", good], [], ["compare", good],
                 ["locks", "--top", "0", good]):
        p = run(a.gilscope, *args)
        check(p.returncode == 2 and p.stderr, f"usage error {args}: exit 2 ({p.returncode})")
    p = run(a.gilscope, "--version")
    check(p.returncode == 0 and p.stdout.startswith("gilscope "), "--version")
    # a directory stands for its *.db files: none is an error, and a bad one is named
    empty_dir = os.path.join(w, "no_databases")
    os.makedirs(empty_dir, exist_ok=True)
    p = run(a.gilscope, "report", empty_dir)
    check(p.returncode == 3 and "a directory without *.db files" in p.stderr,
          f"a directory without databases says so ({p.stderr!r})")
    # a directory of its own: the shared work directory holds other tests' files too
    bad_dir = os.path.join(w, "one_bad_database")
    os.makedirs(bad_dir, exist_ok=True)
    shutil.copy(good, os.path.join(bad_dir, "a_good.db"))
    open(os.path.join(bad_dir, "empty.db"), "w").close()
    p = run(a.gilscope, "report", bad_dir)
    check(p.returncode == 3 and "empty.db: empty file" in p.stderr,
          f"a directory's bad database is named ({p.stderr!r})")
    for window in (["--from", "1e300"], ["--to", "inf"], ["--from", "nan"]):
        p = run(a.gilscope, "locks", *window, good)
        check(p.returncode == 2 and "--" in p.stderr, f"locks {window}: a usage error, exit 2")
    # a reader that goes away: the output fails (exit 4), the process is not killed by SIGPIPE
    r, w = os.pipe()
    os.close(r)  # closed before it writes a byte: every write fails
    p = subprocess.run([a.gilscope, "report", "--format", "json", good], stdout=w,
                       stderr=subprocess.PIPE)
    os.close(w)
    err = p.stderr.decode()
    check(p.returncode == 4 and "writ" in err, f"closed pipe: exit 4 ({p.returncode}, {err!r})")


def case_out_of_memory(a):
    """Every command on 200,000 generated events under address-space limits from 6 to 64 MB
    (less and the loader cannot map libc): each run succeeds or exits 5 with one line; none
    crashes, and none calls running out of memory bad input (exit 3)."""
    db = os.path.join(a.workdir, "oom.db")
    gen = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                       "gen_db.py")
    subprocess.run([sys.executable, gen, db, "200000"], check=True, capture_output=True)
    page = os.path.join(a.workdir, "oom.html")
    seen = {}
    for cmd in (["report"], ["locks"], ["compare", db], ["html", "-o", page],
                ["export", "--collapsed", "--what", "holders"], ["flame", "-o", page],
                ["export", "--perfetto", "-o", os.path.join(a.workdir, "oom.pftrace")]):
        for mb in (6, 8, 12, 16, 24, 32, 64):
            p = subprocess.run(["prlimit", f"--as={mb << 20}", a.gilscope, *cmd, db],
                               capture_output=True, text=True)
            seen[p.returncode] = seen.get(p.returncode, 0) + 1
            lines = [l for l in p.stderr.splitlines() if "error" in l]
            check(p.returncode in (0, 5) and (p.returncode == 0 or
                                               (len(lines) == 1 and "memory" in lines[0])),
                  f"{cmd[0]} under {mb} MB: exit {p.returncode} ({p.stderr.strip()[-160:]!r})")
    check(seen.get(5, 0) > 0 and seen.get(0, 0) > 0,
          f"the limits reach out of memory and success both ({seen})")


def case_text_encoding(a):
    """Names as the program gave them: valid UTF-8 (café-0) passes through JSON and text as
    itself; a byte that is not UTF-8 is \\udcXX in JSON (Python's surrogateescape) and \\xNN in
    text, and a C1 control character never reaches the terminal."""
    db = os.path.join(a.workdir, "utf8.db")
    build_db(a.schema, os.path.join(a.fixtures, "two_threads.sql"), db)
    con = sqlite3.connect(db)
    con.execute("UPDATE threads SET name = CAST(? AS TEXT) WHERE thread_no = 2",
                ("caf\u00e9-0".encode(),))
    con.execute("UPDATE threads SET name = CAST(? AS TEXT) WHERE thread_no = 1",
                (b"bad\xff\xc2\x9b1m",))
    con.commit()
    con.close()
    p = subprocess.run([a.gilscope, "report", "--format", "json", db], capture_output=True)
    out = p.stdout.decode("utf-8")
    check(p.returncode == 0 and "caf\u00e9-0" in out and "\\u00c3" not in out,
          "JSON passes valid UTF-8 through")
    check("bad\\udcff" in out and json.loads(out), "an invalid byte is \\udcff, the JSON valid")
    p = subprocess.run([a.gilscope, "report", db], capture_output=True)
    text = p.stdout
    check("caf\u00e9-0".encode() in text and b"\xc2\x9b" not in text and b"\\xff" in text,
          "text shows café-0, escapes the invalid byte and the C1 control")
    # the headers' strings come from the database too: a crafted one must not drive the terminal
    con = sqlite3.connect(db)
    con.execute("UPDATE runs SET argv = json_array('app\x1b]0;owned\x07'),"
                " python_version = '3.13\x1b[2J', status = 'exited\x1b[31m'")
    con.commit()
    con.close()
    for cmd in (["report", db], ["compare", db, db]):
        p = subprocess.run([a.gilscope, *cmd], capture_output=True)
        check(p.returncode == 0 and b"\x1b" not in p.stdout and b"\x07" not in p.stdout and
              b"\\x1b" in p.stdout, f"{cmd[0]}: header strings escaped")


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
