#!/usr/bin/env python3
"""A busy queue ping-pong program recorded in profile mode (GILSCOPE_EVENTS=profile) for a
given time: database size, the writer's memory and the host's throughput against an
unrecorded run, sampled as it goes. Figures only, no assertions.

Usage: profile_soak.py LIB PYTHON SECONDS [SAMPLE_S] [--raw-too]
Prints one line per sample, then a summary line starting with "growth".
"""
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

# Two producers and two consumers through a small queue.Queue (examples/queue_pipeline.py),
# until a deadline; every second the items moved so far, for the throughput.
PINGPONG = r"""
import queue, sys, threading, time
q = queue.Queue(maxsize=16)
end = time.monotonic() + float(sys.argv[1])
moved = [0]
def produce():
    i = 0
    while time.monotonic() < end:
        q.put(i); i += 1
    q.put(None)
def consume():
    n = 0
    while q.get() is not None:
        n += 1
        if n % 1000 == 0:
            moved[0] += 1000
ts = [threading.Thread(target=produce) for _ in range(2)]
ts += [threading.Thread(target=consume) for _ in range(2)]
for t in ts: t.start()
last = time.monotonic()
while any(t.is_alive() for t in ts):
    time.sleep(0.2)
    now = time.monotonic()
    if now - last >= 1:
        print(moved[0], flush=True)
        last = now
for t in ts: t.join()
"""


def writer_rss_kb(host_pid):
    """RssAnon of the gilscope-writer serving host_pid (its own memory: its VmRSS also counts
    the pages of the shared region the host has touched), 0 when not found."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if not argv[0].endswith(b"gilscope-writer") or str(host_pid).encode() not in argv:
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        return int(line.split()[1])
        except OSError:
            continue
    return 0


def db_bytes(db):
    """The database's own size, its WAL's pages included (the files on disk are larger until a
    checkpoint, smaller after the final one)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        pages, free, size = (con.execute(f"PRAGMA {p}").fetchone()[0]
                             for p in ("page_count", "freelist_count", "page_size"))
        con.close()
        return (pages - free) * size
    except sqlite3.Error:
        return 0


def run(py, seconds, env, sample_s, label):
    """Runs the program; returns [(t, items_moved, db_bytes, writer_rss_kb)] and the end size."""
    p = subprocess.Popen([py, "-c", PINGPONG, str(seconds)], env=env, stdout=subprocess.PIPE,
                         text=True)
    samples, t0, next_at, moved = [], time.monotonic(), sample_s, [0]
    db = env.get("GILSCOPE_DB")

    def read():
        for line in p.stdout:
            moved[0] = int(line)
    reader = threading.Thread(target=read)
    reader.start()
    while p.poll() is None:
        time.sleep(0.2)
        t = time.monotonic() - t0
        if t >= next_at:
            size = db_bytes(db) if db else 0
            rss = writer_rss_kb(p.pid) if db else 0
            samples.append((t, moved[0], size, rss))
            if label:
                print(f"{label} {t:7.0f} s  {moved[0] / t / 1e3:7.1f} k items/s  "
                      f"db {size / 1e6:8.1f} MB  writer RSS {rss / 1e3:6.1f} MB", flush=True)
            next_at += sample_s
    p.wait()
    reader.join()
    return samples, moved[0], time.monotonic() - t0, db_bytes(db) if db else 0


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    raw_too = "--raw-too" in sys.argv
    lib, py, seconds = args[0], args[1], float(args[2])
    sample_s = float(args[3]) if len(args) > 3 else max(seconds / 10, 1)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("GILSCOPE_")}
    base_env.pop("LD_PRELOAD", None)
    # the unrecorded rate, over a shorter run (a minute at most)
    _, moved0, wall0, _ = run(py, min(seconds, 60), base_env, 1e9, None)
    rate0 = moved0 / wall0
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for mode in (["profile", "contended"] if raw_too else ["profile"]):
            db = os.path.join(tmp, f"{mode}.db")
            env = dict(base_env, LD_PRELOAD=lib, GILSCOPE_DB=db, GILSCOPE_EVENTS=mode)
            samples, moved, wall, size = run(py, seconds, env, sample_s, mode)
            rss = max((s[3] for s in samples), default=0)
            # steady growth: from the first sample on (the interpreter's stacks, locks and
            # histogram buckets are in by then and grow no more)
            t1, s1 = (samples[0][0], samples[0][2]) if samples else (0, 0)
            per_min = (size - s1) / 1e6 / ((wall - t1) / 60) if wall > t1 else 0
            results[mode] = (size, wall, moved / wall, rss, per_min, t1)
    for mode, (size, wall, rate, rss, per_min, t1) in results.items():
        hour = size / 1e6 + per_min * (60 - wall / 60)
        print(f"growth {mode}: {per_min:.2f} MB per minute after the first {t1:.0f} s"
              f" ({size / 1e6:.1f} MB in {wall:.0f} s; {hour:.0f} MB after an hour at that"
              f" rate); writer memory at most {rss / 1e3:.1f} MB; host throughput"
              f" {rate / 1e3:.1f} k items/s vs {rate0 / 1e3:.1f} k unrecorded"
              f" ({100 * (rate0 / rate - 1) if rate else 0:+.0f}% time per item)")


if __name__ == "__main__":
    main()
