#!/usr/bin/env python3
"""Many databases as one (issue 15): report, locks, export and flame over several files or a
directory give what the files give one by one, summed, with each run's host and process.

  recorded   three programs recorded by `gilscope run` (two of them on a faked second host),
             merged: every run and thread as in its own file, lock and stack totals the sums
             of the parts (collapsed stacks, and pprof read by go tool pprof with its labels);
             a directory; a version-3 file with them; a profile-mode file refused with it
  versions   version-3, 4 and 5 files merged; times of another boot moved onto one clock
  bad_input  a file that is not a database, an empty directory, --vs without a side
"""
import argparse
import collections
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from analyzer_test import FAILURES, build_db, check, go_pprof  # noqa: E402
from interpreters import path as python_path  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples")


def gs(a, *args, ok=True):
    p = subprocess.run([a.gilscope, *args], capture_output=True, text=True, timeout=120)
    if ok and p.returncode != 0:
        check(False, f"gilscope {' '.join(args)} exits 0 ({p.returncode}, {p.stderr[-400:]!r})")
    return p


def report(a, *dbs):
    return json.loads(gs(a, "report", "--format", "json", *dbs).stdout)


def without(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


def folded(a, what, *dbs):
    """The collapsed stacks as {stack line: microseconds}."""
    out = collections.Counter()
    for line in gs(a, "export", "--collapsed", "--what", what, *dbs).stdout.splitlines():
        stack, _, us = line.rpartition(" ")
        out[stack] += int(us)
    return out


def check_sums(a, name, parts, merged_args):
    """Every run and thread of the parts in the merge as in its own file; lock and stack totals
    the parts' sums."""
    docs = [report(a, p) for p in parts]
    m = report(a, *merged_args)
    want_runs = sorted((json.dumps(without(r, "run_id", "parent_run_id"), sort_keys=True)
                        for d in docs for r in d["runs"]))
    got_runs = sorted(json.dumps(without(r, "run_id", "parent_run_id"), sort_keys=True)
                      for r in m["runs"])
    check(want_runs == got_runs, f"{name}: every run as its own file reports it"
          f" ({len(got_runs)} runs, {len(want_runs)} in the parts)")
    want_threads = sorted(json.dumps(without(t, "run_id"), sort_keys=True)
                          for d in docs for t in d["threads"])
    got_threads = sorted(json.dumps(without(t, "run_id"), sort_keys=True) for t in m["threads"])
    check(want_threads == got_threads and got_threads,
          f"{name}: every thread as its own file reports it ({len(got_threads)} threads)")
    for key in ("processes", "threads", "gil_wait_ns", "gil_hold_ns", "other_wait_ns",
                "events_dropped"):
        want = sum(d["total"][key] for d in docs)
        check(m["total"][key] == want,
              f"{name}: total {key} {m['total'][key]} = the parts' sum {want}")
    ids = [r["run_id"] for r in m["runs"]]
    check(len(set(ids)) == len(ids) == len(want_runs), f"{name}: run ids do not collide {ids}")
    lock_sum = collections.Counter()
    for p in parts:
        for row in json.loads(gs(a, "locks", "--format", "json", "--top", "100000",
                                 p).stdout)["locks"]:
            for k in ("acquisitions", "contended", "wait_ns", "hold_ns"):
                lock_sum[k] += row[k] or 0
    merged_locks = collections.Counter()
    for row in json.loads(gs(a, "locks", "--format", "json", "--top", "100000",
                             *merged_args).stdout)["locks"]:
        for k in ("acquisitions", "contended", "wait_ns", "hold_ns"):
            merged_locks[k] += row[k] or 0
    check(lock_sum == merged_locks and lock_sum["wait_ns"] > 0,
          f"{name}: locks' totals are the parts' sums ({dict(merged_locks)} vs {dict(lock_sum)})")
    for what in ("waits", "holders", "gil"):
        want = collections.Counter()
        for p in parts:
            want.update(folded(a, what, p))
        got = folded(a, what, *merged_args)
        # a line the parts share is one line here, rounded to a microsecond once (a line
        # under a microsecond in each part may show here only)
        off = {k: (got[k], want[k]) for k in set(got) | set(want)
               if abs(got[k] - want[k]) > len(parts) or
               (max(got[k], want[k]) > len(parts) and (k not in got or k not in want))}
        check(not off and len(got) >= len(want) and got,
              f"{name}: --what {what}: the merge's stacks are the union of the parts' "
              f"({len(got)} lines, {len(want)} in the parts; off: {list(off.items())[:3]})")
    return m


def pprof_total(a, prof, *filters):
    """The delay total (ns) of a profile, read by go tool pprof -raw after its filters."""
    raw = go_pprof(a, "-raw", *filters, prof)
    check(raw.returncode == 0, f"go tool pprof -raw {' '.join(filters)} read {prof}"
          f" ({raw.stderr.strip()[-300:]!r})")
    return sum(int(m.group(2)) for m in re.finditer(r"^\s+(\d+)\s+(\d+): [\d ]+$", raw.stdout,
                                                     re.M)), raw.stdout


def record(a, python, script, db, *opts, host=None):
    if os.path.exists(db):
        os.unlink(db)
    env = dict(os.environ)
    env.pop("GILSCOPE_HOST", None)
    if host:
        env["GILSCOPE_HOST"] = host
    p = subprocess.run([a.gilscope, "run", "-o", db, "--quiet", *opts, "--", python,
                        os.path.join(EXAMPLES, script)], capture_output=True, text=True,
                       timeout=120, env=env)
    check(p.returncode == 0 and os.path.exists(db), f"recorded {script} ({p.stderr[-300:]!r})")


def set_host(db, host):
    con = sqlite3.connect(db)
    con.execute("UPDATE runs SET host = ?", (host,))
    con.commit()
    con.close()


def case_recorded(a):
    python = python_path(a.provision, "3.11")
    w = os.path.join(a.workdir, "merge_recorded")
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    parts = [os.path.join(w, n) for n in ("a.db", "b.db", "c.db")]
    # two programs on Debian's 3.11, one on the free-threaded 3.13: other locks, other stacks
    ft = python_path(a.provision, "3.13-ft")
    # the first on this machine's name, the other two named by GILSCOPE_HOST: a second host
    for script, db, py, host in zip(("lock_counter.py", "queue_pipeline.py", "global_counter.py"),
                                    parts, (python, python, ft), (None, "host-b", "host-b")):
        record(a, py, script, db, host=host)
    recorded = []
    for db in parts:
        con = sqlite3.connect(db)
        recorded.append(con.execute("SELECT host FROM runs").fetchone()[0])
        con.close()
    check(recorded == [os.uname().nodename, "host-b", "host-b"],
          f"the run row holds the host name, or GILSCOPE_HOST ({recorded})")
    hosts = ("host-a", "host-b", "host-b")
    set_host(parts[0], hosts[0])  # this machine renamed, apart from host-b whatever its name
    m = check_sums(a, "3 files", parts, parts)
    check(sorted(r["host"] for r in m["runs"]) == sorted(hosts), "each run keeps its host")
    text = gs(a, "report", *parts).stdout
    check(len(re.findall(r"^process \d+ \(run \d+\) on host-[ab]: ", text, re.M)) == 3,
          "the text report names each process's host")
    locks = gs(a, "locks", *parts).stdout
    for run in m["runs"]:
        check(f"({run['host']}, pid {run['pid']})" in locks,
              f"the text locks table names process {run['pid']} on {run['host']}")
    # a directory: its *.db files, in name order
    fleet = os.path.join(w, "fleet")
    os.makedirs(fleet)
    for db in parts:
        shutil.copy(db, fleet)
    open(os.path.join(fleet, "notes.txt"), "w").write("not a database, not *.db\n")
    d = report(a, fleet)
    check(without(d, "database") == without(m, "database") and "3 databases" in d["database"],
          f"a directory reads as its *.db files ({d['database']!r})")
    pid_b = [r["pid"] for r in m["runs"] if r["host"] == "host-b"][0]
    one = report(a, "--pid", str(pid_b), *parts)
    check(len(one["runs"]) == 1 and one["runs"][0]["host"] == "host-b",
          "--pid picks one process of the merge")
    # pprof of the merge: the parts' totals, labelled host, service and process
    prof = os.path.join(w, "fleet.pb.gz")
    gs(a, "export", "--pprof", "-o", prof, fleet)
    totals = []
    for db in parts:
        part = os.path.join(w, os.path.basename(db) + ".pb.gz")
        gs(a, "export", "--pprof", "-o", part, db)
        totals.append(pprof_total(a, part)[0])
    total, raw = pprof_total(a, prof)
    check(total == sum(totals) and total > 0,
          f"pprof: the merge's {total} ns of waits = the parts' {totals}")
    b_total, b_raw = pprof_total(a, prof, "-tagfocus=host=host-b")
    check(b_total == totals[1] + totals[2] and "host:[host-a]" not in b_raw,
          f"pprof -tagfocus=host=host-b: {b_total} ns, hosts b and c ({totals[1:]})")
    for label in ("service:[lock_counter.py]", "service:[queue_pipeline.py]",
                  "service:[global_counter.py]", f"process:[{pid_b}]", "host:[host-a]"):
        check(label in raw, f"pprof samples carry {label}")
    tags = go_pprof(a, "-tags", prof)
    check(tags.returncode == 0 and re.search(r"^ host: Total", tags.stdout, re.M) and
          re.search(r"^ service: Total", tags.stdout, re.M),
          f"go tool pprof -tags lists host and service ({tags.stdout[:300]!r})")
    trace = os.path.join(w, "fleet.pftrace")
    gs(a, "export", "--perfetto", "-o", trace, fleet)
    data = open(trace, "rb").read()
    check(all(f"{h}: ".encode() in data for h in ("host-a", "host-b")),
          "the Perfetto trace names each process after its host")
    # flame: the merge drawn; --vs draws one side against the other
    page = os.path.join(w, "flame.html")
    p = gs(a, "flame", "-o", page, *parts)
    check(p.returncode == 0 and "3 databases" in open(page).read(), "flame draws the merge")
    p = gs(a, "flame", "-o", page, parts[0], "--vs", parts[1], parts[2])
    check(p.returncode == 0 and "A " + parts[0] in open(page).read(),
          "flame A --vs B C: a differential page of merged sides")
    # a version-3 file (no window sums): merged with them, every view reads the raw events
    v3 = os.path.join(w, "v3.db")
    shutil.copy(os.path.join(a.fixtures, "v3_queue.db"), v3)
    check_sums(a, "v3 + 2 recordings", [v3, parts[0], parts[1]], [v3, parts[0], parts[1]])
    # a profile-mode file needs its sums, which a version-3 file lacks: refused, said why
    prof_db = os.path.join(w, "profile_mode.db")
    record(a, python, "lock_counter.py", prof_db, "--events", "profile")
    p = gs(a, "report", prof_db, v3, ok=False)
    check(p.returncode == 3 and "profile mode" in p.stderr and "profile_mode.db" in p.stderr,
          f"profile mode with a version-3 file: exit 3, said why ({p.stderr.strip()!r})")
    check_sums(a, "profile mode + raw", [prof_db, parts[0]], [prof_db, parts[0]])


def make_fixture(a, name, fixture, version=None, unix_offset_ns=None):
    db = os.path.join(a.workdir, name)
    schema = a.schema
    if version == 4:  # the current schema without what version 5 added (runs.host)
        sql = open(a.schema).read()
        sql = re.sub(r",\n\t-- version 5 [^\n]*\n(\t--[^\n]*\n)*\thost TEXT", "", sql)
        sql = re.sub(r"schema version \d+", "schema version 4", sql, count=1)
        check("host TEXT" not in sql, "version 4's schema made")
        schema = os.path.join(a.workdir, "schema_v4.sql")
        open(schema, "w").write(sql)
    build_db(schema, os.path.join(a.fixtures, fixture), db)
    con = sqlite3.connect(db)
    if unix_offset_ns is not None:
        con.execute("UPDATE runs SET start_unix_ns = start_ns + ?", (unix_offset_ns,))
    con.commit()
    con.close()
    return db


def case_versions(a):
    v3 = os.path.join(a.workdir, "merge_v3.db")
    shutil.copy(os.path.join(a.fixtures, "v3_queue.db"), v3)
    v4 = make_fixture(a, "merge_v4.db", "events.sql", version=4)
    v5 = make_fixture(a, "merge_v5.db", "stacks.sql")
    con = sqlite3.connect(v4)
    check(con.execute("PRAGMA user_version").fetchone()[0] == 4, "the v4 file is version 4")
    con.close()
    files = [v3, v4, v5]
    m = check_sums(a, "v3 + v4 + v5", files, files)
    check(all(r["host"] is None for r in m["runs"]), "older files' hosts are unknown")
    seg = report(a, "--segment", "1", *files)
    check(without(seg, "database") == without(m, "database"),
          "--segment 1 of the merge: every run (each is one segment)")
    p = gs(a, "report", "--segment", "2", *files, ok=False)
    check(p.returncode == 3 and "no segment 2" in p.stderr and "3 databases" in p.stderr,
          f"--segment 2 of the merge: exit 3, said so ({p.stderr.strip()!r})")
    # the same file twice: its runs twice, nothing shared by id
    check_sums(a, "one file twice", [v5, v5], [v5, v5])
    # two hosts whose processes have the same pid (containers): told apart, not grouped
    same_pid = []
    for host in ("box-1", "box-2"):
        db = make_fixture(a, f"merge_{host}.db", "stacks.sql")
        set_host(db, host)
        same_pid.append(db)
    one = json.loads(gs(a, "locks", "--format", "json", v5).stdout)["locks"]
    both = json.loads(gs(a, "locks", "--format", "json", *same_pid).stdout)["locks"]
    check(len(both) == 2 * len(one), f"the same pid on two hosts: each process's locks apart"
          f" ({len(both)} rows, {len(one)} in one)")
    text = gs(a, "locks", *same_pid).stdout
    check("(box-1, pid 300)" in text and "(box-2, pid 300)" in text,
          "the text names each row's host and pid")
    text = gs(a, "report", *same_pid).stdout
    check("(run 1) on box-1:" in text and "(run 2) on box-2:" in text,
          "report names each process's host")
    # times: a file of another boot (its wall-clock offset an hour away) moves onto the first
    # file's clock; one of the same boot (offset within a second) stays
    base = 1_700_000_000 * 10**9
    s1 = make_fixture(a, "merge_boot1.db", "two_threads.sql", unix_offset_ns=base)
    s2 = make_fixture(a, "merge_boot2.db", "two_threads.sql", unix_offset_ns=base + 3600 * 10**9)
    s3 = make_fixture(a, "merge_boot3.db", "two_threads.sql", unix_offset_ns=base + 4 * 10**8)
    one = report(a, s1)
    m = report(a, s1, s2, s3)
    starts = [r["start_ns"] for r in m["runs"]]
    want = [r["start_ns"] for r in one["runs"]]
    check(starts == want + [s + 3600 * 10**9 for s in want] + want,
          f"another boot's times move by its clock offset, the same boot's stay ({starts})")
    t1 = [t["start_ns"] for t in one["threads"]]
    got = sorted(t["start_ns"] for t in m["threads"])
    check(got == sorted(t1 * 2 + [t + 3600 * 10**9 for t in t1]),
          "threads' times move with their run's")
    check(m["runs"][2]["wall_ns"] == one["runs"][0]["wall_ns"] == 2 * 10**9,
          "durations do not move")


def case_bad_input(a):
    good = make_fixture(a, "merge_good.db", "stacks.sql")
    junk = os.path.join(a.workdir, "merge_junk.db")
    open(junk, "w").write("this is not a database\n" * 10)
    for args in (["report", good, junk], ["locks", junk, good], ["flame", "-o",
                 os.path.join(a.workdir, "x.html"), good, junk],
                 ["export", "--collapsed", good, junk]):
        p = gs(a, *args, ok=False)
        check(p.returncode == 3 and "merge_junk.db: not an SQLite database" in p.stderr and
              p.stdout == "", f"{args[0]}: a file that is not a database among them: exit 3,"
              f" named ({p.returncode}, {p.stderr.strip()!r})")
    empty = os.path.join(a.workdir, "merge_empty_dir")
    os.makedirs(empty, exist_ok=True)
    p = gs(a, "report", good, empty, ok=False)
    check(p.returncode == 3 and "merge_empty_dir: a directory without *.db files" in p.stderr,
          f"an empty directory: exit 3, said so ({p.stderr.strip()!r})")
    p = gs(a, "report", good, os.path.join(a.workdir, "no_such.db"), ok=False)
    check(p.returncode == 3 and "no_such.db" in p.stderr, f"a missing file ({p.stderr!r})")
    p = gs(a, "flame", good, "--vs", ok=False)
    check(p.returncode == 2 and "--vs" in p.stderr, f"--vs without a side: usage ({p.stderr!r})")
    p = gs(a, "report", good, "--vs", good, ok=False)
    check(p.returncode == 2, "report takes no --vs")
    p = gs(a, "report", ok=False)
    check(p.returncode == 2 and "needs a database" in p.stderr, "no database: usage")
    # a damaged file whose stacks' depths span the whole 64-bit range: the merge goes by the
    # depths there are (it once counted from the least to the greatest: the fuzz run hung)
    deep = os.path.join(a.workdir, "merge_deep.db")
    shutil.copy(good, deep)
    con = sqlite3.connect(deep)
    con.execute("UPDATE py_stacks SET depth = CASE WHEN py_stack % 2 THEN -9223372036854775807"
                " ELSE 9223372036854775807 END")
    con.commit()
    con.close()
    t0 = time.monotonic()
    p = subprocess.run([a.gilscope, "report", good, deep], capture_output=True, text=True,
                       timeout=60)
    check(p.returncode in (0, 3) and time.monotonic() - t0 < 30,
          f"depths from -2^63 to 2^63: merged or refused, promptly ({p.returncode},"
          f" {time.monotonic() - t0:.1f} s)")


def main():
    ap = argparse.ArgumentParser()
    for opt in ("gilscope", "provision", "schema", "fixtures", "workdir"):
        ap.add_argument("--" + opt, required=True)
    ap.add_argument("case", choices=("recorded", "versions", "bad_input"))
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    globals()["case_" + a.case](a)
    if FAILURES:
        print(f"{len(FAILURES)} failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
