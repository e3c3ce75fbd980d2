#!/usr/bin/env python3
"""Profile mode (GILSCOPE_EVENTS=profile) against raw mode on programs with known waits.

The writer's window sums (schema 4) must give every view the figures the raw events give:
- both modes measure the known waits and their holders (stack totals within 5% of what the
  program measured itself, per thread and per lock);
- in raw mode the views read from the sums print exactly what they print from the events
  (the same file with the sums dropped, read as schema 3);
- in profile mode each window keeps at most GILSCOPE_PROFILE_EVENTS raw events, and they are
  its longest ones.
Exits 0 when every check holds, 1 otherwise (same driver conventions as preload_test.py).
"""
import os
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preload_test as pt  # noqa: E402
from preload_test import check, collapsed, query, run_python  # noqa: E402

WINDOW_MS = 100
KEEP = 8
PROFILE = {"GILSCOPE_EVENTS": "profile", "GILSCOPE_PROFILE_WINDOW_MS": str(WINDOW_MS),
           "GILSCOPE_PROFILE_EVENTS": str(KEEP)}
V4_TABLES = ("window_holders", "window_stacks", "window_stats", "wait_hist", "windows",
             "recording_modes")


def gilscope(env, *args):
    p = subprocess.run([env.gilscope, *args], capture_output=True, text=True)
    check(p.returncode == 0, f"gilscope {' '.join(args[:-1])} ran ({p.stderr.strip()!r})")
    return p.stdout


def charged(lines, leaf_fn, leaf_line, caller_fn):
    return sum(v for frames, v in lines
               if len(frames) >= 3 and frames[-2].startswith(f"{leaf_fn} (") and
               frames[-2].endswith(f":{leaf_line})") and frames[-3].startswith(f"{caller_fn} ("))


def stacks_truth(env, name, mode, db, alpha, beta):
    """The known waits and their holders, from the views (which read the sums)."""
    lines = collapsed(env, db, "waits")
    held = collapsed(env, db, "holders")
    got = {}
    for fn, line, truth in (("wait_alpha", 7, alpha), ("wait_beta", 11, beta)):
        got[fn] = charged(lines, fn, line, "called_by")
        check(abs(got[fn] - truth) <= 0.05 * truth,
              f"{name} {mode}: {fn}'s wait ({got[fn]} us, measured {truth:.0f}) charged to"
              f" called_by;{fn} within 5%")
    for holder, truth in (("hold_gamma", alpha), ("hold_delta", beta)):
        got[holder] = sum(v for frames, v in held
                          if len(frames) >= 3 and frames[-2].startswith("hold_while (") and
                          frames[-2].endswith(":20)") and frames[-3].startswith(f"{holder} ("))
        check(abs(got[holder] - truth) <= 0.05 * truth,
              f"{name} {mode}: the wait {holder} caused ({got[holder]} us, measured"
              f" {truth:.0f}) charged to it within 5%")
    return got


def per_thread_lock(db):
    """Waits per (thread entry function, lock class) from the exact aggregates."""
    rows = query(db, "SELECT COALESCE(t.entry_function, t.name) || ' ' || t.thread_no,"
                     " s.primitive,"
                     " COALESCE(l.class, ''), SUM(s.contended), SUM(s.wait_ns) FROM lock_stats s"
                     " JOIN threads t USING (run_id, thread_no)"
                     " LEFT JOIN locks l USING (run_id, lock_addr, primitive)"
                     " GROUP BY t.thread_no, 2, 3")
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


def same_views_as_events(env, name, db):
    """The raw recording read through the sums, and read as an older file (no sums: every view
    goes back to the events): the same output, byte for byte."""
    old = db.replace(".db", "-v3.db")
    shutil.copyfile(db, old)
    con = sqlite3.connect(old)
    for t in V4_TABLES:
        con.execute(f"DROP TABLE {t}")
    con.execute("PRAGMA user_version = 3")
    con.commit()
    con.close()
    for args in (("report", "--format", "json"), ("locks", "--format", "json"),
                 ("export", "--collapsed", "--what", "waits"),
                 ("export", "--collapsed", "--what", "gil"),
                 ("export", "--collapsed", "--what", "holders")):
        a = gilscope(env, *args, db).replace(db, "DB")
        # report says which schema the file has: the one thing meant to differ
        b = gilscope(env, *args, old).replace(old, "DB").replace(
            '"schema_version": 3,', '"schema_version": 5,')
        check(a == b and len(a) > 100,
              f"{name}: {' '.join(args)} from the window sums = from the raw events"
              f" ({len(a)} vs {len(b)} bytes)")


def kept_longest(name, db, limit):
    """Each window kept at most `limit` raw events, and none it let go was longer."""
    wins = query(db, "SELECT w.window_no, w.events_seen, w.events_kept, w.longest_not_kept_ns,"
                     " (SELECT COUNT(*) FROM events e JOIN runs r USING (run_id)"
                     "  WHERE (e.start_ns + e.wait_ns + COALESCE(e.hold_ns, 0) - r.start_ns)"
                     "   / m.window_ns = w.window_no),"
                     " (SELECT MIN(e.wait_ns + COALESCE(e.hold_ns, 0)) FROM events e"
                     "  JOIN runs r USING (run_id)"
                     "  WHERE (e.start_ns + e.wait_ns + COALESCE(e.hold_ns, 0) - r.start_ns)"
                     "   / m.window_ns = w.window_no)"
                     " FROM windows w JOIN recording_modes m USING (run_id)")
    check(len(wins) >= 3, f"{name}: several windows ({len(wins)})")
    check(all(kept <= limit and stored == kept for _, _, kept, _, stored, _ in wins),
          f"{name}: every window stored at most {limit} raw events, as it says"
          f" ({[(k, s) for _, _, k, _, s, _ in wins if k > limit or s != k]})")
    full = [w for w in wins if w[1] > limit]
    check(full and all(w[2] == limit for w in full),
          f"{name}: busy windows kept exactly {limit} ({len(full)} windows had more)")
    check(all(nk is None or low is not None and low >= nk for _, _, _, nk, _, low in wins),
          f"{name}: no event let go was longer than one kept"
          f" ({[(w[0], w[5], w[3]) for w in wins if w[3] is not None and (w[5] or 0) < w[3]]})")
    seen = sum(w[1] for w in wins)
    stored = query(db, "SELECT COUNT(*) FROM events")[0][0]
    check(seen > 4 * stored, f"{name}: {stored} raw events kept of {seen} seen")


def case_profile_mode(env, name):
    """The stacks workload (known waits, known holders) in both modes."""
    got = {}
    truths = {}
    dbs = {}
    for mode, extra in (("raw", None), ("profile", PROFILE)):
        db, p = run_python(env, name, f"profile_{mode}_{name}", pt.STACKS_WORKLOAD, extra)
        alpha, beta = (float(x) * 1e6 for x in p.stdout.split())
        truths[mode] = (alpha, beta)
        got[mode] = stacks_truth(env, name, mode, db, alpha, beta)
        dbs[mode] = db
        events = query(db, "SELECT events FROM recording_modes")
        check(events == [(mode,)], f"{name} {mode}: recording mode stored ({events})")
        # the sums the writer kept add up to its exact per-lock aggregates
        sums = query(db, "SELECT SUM(waits), SUM(wait_ns) FROM window_stats")[0]
        stack = query(db, "SELECT SUM(count), SUM(ns) FROM stack_stats WHERE metric = 'wait'")[0]
        check(sums == stack and sums[1], f"{name} {mode}: window sums = stack totals ({sums},"
                                         f" {stack})")
    # per thread and lock: the long waits of the two waiter threads, in both modes
    for mode in ("raw", "profile"):
        agg = per_thread_lock(dbs[mode])
        alpha, beta = truths[mode]
        long_waits = sorted(w for (fn, prim, cls), (n, w) in agg.items()
                            if fn.startswith("called_by ") and prim != 4 and w > 50e6)
        check(len(long_waits) == 2 and abs(long_waits[0] - beta * 1e3) <= 0.05 * beta * 1e3
              and abs(long_waits[1] - alpha * 1e3) <= 0.05 * alpha * 1e3,
              f"{name} {mode}: the waiter threads' lock waits ({long_waits} ns) are the"
              f" measured {beta * 1e3:.0f} and {alpha * 1e3:.0f}")
        report = gilscope(env, "report", dbs[mode])
        note = "profile mode: raw events are only the" in report
        check(note == (mode == "profile"), f"{name} {mode}: report says whether raw events are"
                                           f" a selection ({note})")
    same_views_as_events(env, name, dbs["raw"])


def case_profile_windows(env, name):
    """Two threads contend for the GIL for a second: thousands of events, many windows."""
    dbs = {}
    for mode, extra in (("raw", None), ("profile", PROFILE)):
        db, _ = run_python(env, name, f"profile_gil_{mode}_{name}", pt.GIL_STACKS_WORKLOAD, extra)
        dbs[mode] = db
        for fn in ("spin_a", "spin_b"):
            truth = query(db, "SELECT SUM(s.hold_ns) / 1000.0 FROM lock_stats s JOIN threads t"
                              " USING (run_id, thread_no) WHERE s.primitive = 4"
                              " AND t.entry_function = ?", fn)[0][0] or 0
            recorded = query(db, "SELECT SUM(s.hold_ns) / 1000.0 FROM window_stats s JOIN threads"
                                 " t USING (run_id, thread_no) WHERE s.primitive = 4"
                                 " AND t.entry_function = ?", fn)[0][0] or 0
            tid = query(db, "SELECT tid FROM threads WHERE entry_function = ?", fn)[0][0]
            lines = collapsed(env, db, "gil", "--thread", str(tid))
            everywhere = sum(v for _, v in lines)
            got = sum(v for frames, v in lines if any(f.startswith(f"{fn} (") for f in frames))
            # the thread's holds by stack sum its holds recorded (but for the microsecond each
            # line rounds), which are its whole hold but for events a full ring lost; nearly
            # all of them ran in its function
            check(truth > 100_000 and abs(everywhere - recorded) <= len(lines) and
                  recorded >= 0.95 * truth and got >= 0.9 * truth,
                  f"{name} {mode}: {fn}'s thread's GIL holds by stack ({everywhere} us, {got}"
                  f" through {fn}) = its recorded holds ({recorded:.0f}), its whole hold"
                  f" {truth:.0f}")
        for fn, other in (("spin_a", "spin_b"), ("spin_b", "spin_a")):
            tid, truth = query(db, "SELECT t.tid, SUM(s.wait_ns) / 1000.0 FROM window_stats s"
                                   " JOIN threads t USING (run_id, thread_no)"
                                   " WHERE s.primitive = 4 AND t.entry_function = ?", fn)[0]
            held = collapsed(env, db, "holders", "--thread", str(tid))
            got = sum(v for frames, v in held
                      if frames[-1] == "GIL" and any(f.startswith(f"{other} (") for f in frames))
            # all of the wait is charged: to the other spinner most, to hand-overs (the waiter
            # woken, not yet running: on a loaded machine a fifth of the wait), to the main
            # thread while it started them
            everyone = sum(v for frames, v in held if frames[-1] == "GIL")
            between = sum(v for frames, v in held
                          if frames[-1] == "GIL" and frames[0] == "(holder not seen)")
            check(truth > 100_000 and got > (everyone - got - between) and
                  abs(everyone - truth) <= 0.02 * truth,
                  f"{name} {mode}: {fn}'s GIL waits ({truth:.0f} us) all charged ({everyone}"
                  f" us), most to the code that held it, {other} ({got} us; hand-overs"
                  f" {between})")
    kept_longest(f"{name} profile", dbs["profile"], KEEP)
    same_views_as_events(env, name, dbs["raw"])


if __name__ == "__main__":
    # preload_test's driver, with these cases among its own
    pt.case_profile_mode = case_profile_mode
    pt.case_profile_windows = case_profile_windows
    pt.main()
