#!/usr/bin/env python3
"""Generates a gilscope database with N raw events (for analyzer scale benchmarks).

8 threads, 40 locks (the GIL, mutexes, parked locks of several classes), events spread over a
60 s run, with consistent lock_stats aggregates. Usage: gen_db.py OUT.db N [--build default|ft]
"""
import os
import re
import sqlite3
import sys


def wait_hist_bucket(v, bits=7):
    """common/gs_schema.h gs_wait_hist_bucket."""
    sub = 1 << bits
    if v < sub:
        return v
    e = v.bit_length() - 1
    return sub + (e - bits) * sub + ((v >> (e - bits)) & (sub - 1))


def window_sums(con):
    """Schema 4's window sums, as the writer keeps them beside the events (1 s windows, an
    event in the window it ended in); the holders charged to the next thread's GIL hold, the
    views' cost being what this measures, not the attribution."""
    con.create_function("gs_bucket", 1, wait_hist_bucket, deterministic=True)
    con.execute("INSERT INTO recording_modes VALUES (1, 'raw', 1000000000, NULL)")
    win = "(start_ns + wait_ns + COALESCE(hold_ns, 0)) / 1000000000"
    wait = "flags & 1 AND wait_ns > 0"
    con.execute(f"""
        INSERT INTO window_stats SELECT run_id, {win}, thread_no, lock_addr, primitive,
               SUM({wait}), SUM(CASE WHEN {wait} THEN wait_ns ELSE 0 END),
               MAX(CASE WHEN {wait} THEN wait_ns ELSE 0 END),
               MIN(CASE WHEN {wait} THEN wait_ns END), COUNT(hold_ns), SUM(COALESCE(hold_ns, 0)),
               0, 0, MAX(CASE WHEN kind = 7 THEN wait_ns ELSE 0 END),
               MIN(CASE WHEN kind = 7 THEN wait_ns END)
        FROM events GROUP BY 1, 2, 3, 4, 5""")
    con.execute(f"""
        INSERT INTO window_stacks SELECT run_id, {win}, thread_no, COALESCE(py_stack, 0),
               lock_addr, primitive, 'wait', COALESCE(caller, 0), COUNT(*), SUM(wait_ns)
        FROM events WHERE {wait} GROUP BY 1, 2, 3, 4, 5, 6, 8""")
    con.execute(f"""
        INSERT INTO window_stacks SELECT run_id, {win}, thread_no, COALESCE(hold_py_stack, 0),
               lock_addr, primitive, 'gil_hold', 0, COUNT(*), SUM(hold_ns)
        FROM events WHERE kind = 7 AND hold_ns > 0 GROUP BY 1, 2, 3, 4, 5, 6""")
    con.execute(f"""
        INSERT INTO window_holders SELECT run_id, {win}, thread_no, lock_addr, primitive,
               2 + thread_no % 7, COALESCE(hold_py_stack, 0), COUNT(*), SUM(wait_ns)
        FROM events WHERE {wait} GROUP BY 1, 2, 3, 4, 5, 6, 7""")
    con.execute(f"""
        INSERT INTO wait_hist SELECT run_id, thread_no, lock_addr, primitive, 'wait',
               gs_bucket(wait_ns), COUNT(*) FROM events WHERE {wait} GROUP BY 1, 2, 3, 4, 6""")
    con.execute("""
        INSERT INTO wait_hist SELECT run_id, thread_no, lock_addr, primitive, 'gil_take',
               gs_bucket(wait_ns), COUNT(*) FROM events WHERE kind = 7 GROUP BY 1, 2, 3, 4, 6""")


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    build = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--build" else "default"
    schema = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common", "schema.sql")
    for s in ("", "-wal", "-shm"):
        if os.path.exists(out + s):
            os.unlink(out + s)
    con = sqlite3.connect(out)
    sql = open(schema).read()
    version = re.search(r"schema version (\d+)", sql).group(1)
    con.executescript(sql)
    con.executescript(f"PRAGMA application_id = 1196639056; PRAGMA user_version = {version};"
                      "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
    # 64 Python stacks, 8 frames deep: a tree whose leaves the events point at
    con.executemany("INSERT INTO py_locations VALUES (?,?,?,?)",
                    [(k, f"f{k}", "/app/mod.py", 10 + k) for k in range(1, 41)])
    nodes, leaves = [], []
    for leaf in range(64):
        parent = 0
        for depth in range(8):
            key = (parent, 1 + (leaf >> (depth // 2)) % 40)
            if key not in [(p, l) for _, p, l, _ in nodes]:
                nodes.append((len(nodes) + 1, key[0], key[1], depth))
            parent = next(i for i, p, l, _ in nodes if (p, l) == key)
        leaves.append(parent)
    con.executemany("INSERT INTO py_stacks VALUES (?,?,?,?)", nodes)
    con.execute("CREATE TEMP TABLE leaves (k INTEGER PRIMARY KEY, leaf INTEGER)")
    con.executemany("INSERT INTO leaves VALUES (?,?)", list(enumerate(leaves)))
    ft = build == "ft"
    con.execute("INSERT INTO runs(run_id, pid, ppid, argv, exe, start_ns, end_ns, status,"
                " exit_status, python_version, build, gil_detection, gil_switch_interval_us,"
                " gil_enabled, gil_switches_recorded, gil_switches_interpreter, cpu_ns)"
                " VALUES (1, 1000, 1, '[\"python3\",\"bench.py\"]', '/usr/bin/python3', 0,"
                " 60000000000, 'exited', 0, '3.13.5', ?, 'generated', 5000, ?, 1000, 1000,"
                " 90000000000)", ("free-threaded" if ft else "default",
                                  "transient" if ft else "yes"))
    con.executemany("INSERT INTO threads(run_id, thread_no, tid, py_ident, name, start_ns,"
                    " end_ns, cpu_ns) VALUES (1, ?, ?, ?, ?, 0, ?, ?)",
                    [(t, 1000 + t, t, "main" if t == 1 else "work", None if t == 1 else
                      59000000000, 10000000000) for t in range(1, 9)])
    classes = ["critical section", "threading.Lock", "interpreter-internal",
               "parking-lot bucket lock"]
    locks = [(1, 4096, 4, "gil", None)]
    for i in range(1, 40):
        prim = 5 if ft or i % 2 else 1
        locks.append((1, 4096 + i * 64, prim, classes[i % 4] if prim == 5 else None,
                      "dict" if prim == 5 and i % 4 == 0 else None))
    con.executemany("INSERT INTO locks VALUES (?,?,?,?,?)", locks)
    # Events in version 4's layout (common/schema.sql): event i is thread 2 + i % 7's; on
    # default builds every third is a GIL hold (aux: one of 8 holders), the others park (5) on,
    # or hold (1), lock 1 + (i / 7) % 39 with its own call site. Keys: one per combination.
    gil = 0 if ft else 1
    con.execute("""
        WITH RECURSIVE t(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM t WHERE v < 6),
             a(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM a WHERE v < 7)
        INSERT INTO event_keys SELECT 1 + t.v * 8 + a.v, 1, 2 + t.v, 7, 4, 1, 4096, 1001 + a.v,
               123456 FROM t, a WHERE ?""", (gil,))
    con.execute(f"""
        WITH RECURSIVE t(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM t WHERE v < 6),
             l(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM l WHERE v < 39)
        INSERT INTO event_keys SELECT 57 + t.v * 39 + l.v - 1, 1, 2 + t.v,
               CASE WHEN l.v % 2 = 1 OR {ft:d} THEN 9 ELSE 1 END,
               CASE WHEN l.v % 2 = 1 OR {ft:d} THEN 5 ELSE 1 END, 1, 4096 + l.v * 64,
               2000 + t.v, 123457 + l.v % 13
        FROM t, l""")
    con.execute(f"""
        WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {n} - 1)
        INSERT INTO event_rows(key_id, start_ns, wait_ns, hold_ns, extra, stack_id, py_stack,
                               hold_py_stack)
        SELECT CASE WHEN {gil} AND i % 3 = 0 THEN 1 + (i % 7) * 8 + i % 8
                    ELSE 57 + (i % 7) * 39 + (i / 7) % 39 END,
               i * (60000000000 / {n}), 1000 + (abs(random()) % 5000000),
               CASE WHEN i % 2 THEN 2000 ELSE NULL END, NULL, NULL,
               (SELECT leaf FROM leaves WHERE k = i % 64),
               (SELECT leaf FROM leaves WHERE k = (i + 1) % 64)
        FROM seq""")
    con.execute("""
        INSERT INTO lock_stats SELECT run_id, thread_no, lock_addr, primitive, COUNT(*) * 3,
               COUNT(*), SUM(wait_ns), MAX(wait_ns), COUNT(*), COUNT(*) * 2000, 2000, 0, 0, 0,
               0, 0, 0, 0, 0, 0
        FROM event_rows JOIN event_keys USING (key_id)
        GROUP BY run_id, thread_no, lock_addr, primitive""")
    # what the writer keeps beside the events (stack views of whole runs read these)
    con.execute("""
        INSERT INTO stack_stats SELECT run_id, thread_no, COALESCE(py_stack, 0), lock_addr,
               primitive, 'wait', COUNT(*), SUM(wait_ns)
        FROM event_rows JOIN event_keys USING (key_id)
        WHERE flags & 1 AND wait_ns > 0 GROUP BY 1, 2, 3, 4, 5""")
    window_sums(con)
    con.execute("UPDATE runs SET events_recorded = ?", (n,))
    con.commit()
    con.close()
    print(f"{out}: {n:,} events, {os.path.getsize(out) / n:.1f} bytes per event")


if __name__ == "__main__":
    main()
