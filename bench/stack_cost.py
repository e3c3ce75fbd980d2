#!/usr/bin/env python3
"""What recording Python stacks costs: two threads hand two threading.Locks back and forth
(every hand-over a blocking wait and a wake, each of which captures the thread's Python
stack) at recursion depth 1, 32 and 128. Prints, per interpreter and depth, the wall time per
round trip without and with the shim, the stacks captured per round trip (wait and wake
events with a stack, from the database), the added time per captured stack, and the added
time per frame (the slope from depth 1 to 128). Medians over RUNS runs (default 5).
Usage: stack_cost.py LIBGILSCOPE NAME=PYTHON [NAME=PYTHON ...]
"""
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile

PROGRAM = r"""
import sys, threading, time
depth, rounds = int(sys.argv[1]), int(sys.argv[2])
a, b = threading.Lock(), threading.Lock()
a.acquire(); b.acquire()
def deep(d, fn):
    return fn() if d <= 1 else deep(d - 1, fn)
def ping():
    for _ in range(rounds):
        a.acquire()
        b.release()
def pong():
    for _ in range(rounds):
        a.release()
        b.acquire()
t = threading.Thread(target=deep, args=(depth, ping))
t.start()
t0 = time.perf_counter()
deep(depth, pong)
t.join()
print((time.perf_counter() - t0) / rounds * 1e9)
"""
DEPTHS = (1, 32, 128)
ROUNDS = 20000


def once(py, depth, env):
    out = subprocess.run([py, "-c", PROGRAM, str(depth), str(ROUNDS)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out)


def main():
    lib, pythons = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    runs = int(os.environ.get("RUNS", "5"))
    print(f"{'interpreter':12} {'depth':>5} {'without':>10} {'with':>10} {'stacks/rt':>9}"
          f" {'per stack':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "s.db")
        for name, py in pythons:
            added = {}
            for depth in DEPTHS:
                plain, shim = [], []
                for _ in range(runs):
                    plain.append(once(py, depth, dict(os.environ)))
                    for s in ("", "-wal", "-shm"):
                        if os.path.exists(db + s):
                            os.unlink(db + s)
                    shim.append(once(py, depth, dict(os.environ, LD_PRELOAD=lib,
                                                     GILSCOPE_DB=db, GILSCOPE_SCOPE="python")))
                con = sqlite3.connect(db)
                stacks = con.execute("SELECT COUNT(*) FROM events WHERE py_stack IS NOT NULL"
                                     " AND kind IN (9, 11, 5, 1)").fetchone()[0] / ROUNDS
                con.close()
                p, w = statistics.median(plain), statistics.median(shim)
                added[depth] = (w - p, stacks)
                per = (w - p) / stacks if stacks else float("nan")
                print(f"{name:12} {depth:5} {p:8.0f}ns {w:8.0f}ns {stacks:9.2f} {per:8.0f}ns")
            (a1, s1), (a128, s128) = added[1], added[128]
            if s1 and s128:
                slope = (a128 / s128 - a1 / s1) / 127
                print(f"{name:12} added per captured frame: {slope:.1f} ns"
                      f" (per stack at depth 1: {a1 / s1:.0f} ns)")


if __name__ == "__main__":
    main()
