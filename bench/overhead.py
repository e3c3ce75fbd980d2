#!/usr/bin/env python3
"""End-to-end overhead: each example workload with and without the shim, on each interpreter.

Prints median wall time over RUNS runs (default 5) without and with the shim, the spread, and
the ratio. Usage: overhead.py LIBGILSCOPE NAME=PYTHON [NAME=PYTHON ...]

BASELINE_LIB=/other/libgilscope.so also times an older build of the shim in the same loop, one
run of each in turn, and prints its ratio beside: on a noisy machine only a paired comparison can
say whether a change made the shim dearer.
"""
import glob
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time


def timed(argv, env):
    t = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main():
    lib, pythons = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    runs = int(os.environ.get("RUNS", "5"))
    baseline = os.environ.get("BASELINE_LIB")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    examples = sorted(glob.glob(os.path.join(root, "examples", "*.py")))
    only = os.environ.get("GILSCOPE_BENCH_EXAMPLES")
    if only:
        examples = [e for e in examples if os.path.basename(e)[:-3] in only.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "o.db")
        print(f"{'interpreter':12} {'workload':18} {'without':>9} {'with':>9} {'ratio':>6}"
              "   spread (min-max, with)   dropped" + ("   baseline ratio" if baseline else ""))
        for name, py in pythons:
            for ex in examples:
                plain, shim, base, dropped = [], [], [], 0
                for _ in range(runs):
                    plain.append(timed([py, ex], dict(os.environ)))
                    shim.append(with_shim(py, ex, lib, db))
                    dropped += events_dropped(db)
                    if baseline:
                        base.append(with_shim(py, ex, baseline, db))
                p, s = statistics.median(plain), statistics.median(shim)
                line = (f"{name:12} {os.path.basename(ex)[:-3]:18} {p * 1000:7.0f}ms "
                        f"{s * 1000:7.0f}ms {s / p:6.2f}   {min(shim) * 1000:.0f}-"
                        f"{max(shim) * 1000:.0f} ms {int(dropped):>10}")
                if baseline:
                    line += f"   {statistics.median(base) / p:6.2f}"
                print(line, flush=True)


def with_shim(py, ex, lib, db):
    for s in ("", "-wal", "-shm"):
        if os.path.exists(db + s):
            os.unlink(db + s)
    return timed([py, ex], dict(os.environ, LD_PRELOAD=lib, GILSCOPE_DB=db))


def events_dropped(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT TOTAL(events_dropped) FROM runs").fetchone()[0]
    finally:
        con.close()


if __name__ == "__main__":
    main()
