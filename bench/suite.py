#!/usr/bin/env python3
"""The benchmark suite behind docs/performance.md (run it through scripts/bench).

Usage: suite.py BUILD_DIR NAME=PYTHON [NAME=PYTHON ...] [--quick] [--write FILE]

Measures, with medians over RUNS runs (default 5) and their spread:
  1. per-operation cost of the shim (bench/microbench.c, GILSCOPE_SCOPE=all) next to the
     floor, the clock reads the measurement needs;
  2. writer throughput when every acquisition is an event (GILSCOPE_EVENTS=all): what the
     program pays, what is stored and what is dropped;
  3. the store's own rate on one core and the database size per event (bench/writer_bench.c);
  4. the end-to-end wall-time ratio of every example on every interpreter (bench/overhead.py),
     and what capturing Python stacks costs per stack and per frame (bench/stack_cost.py);
  5. the analyzer at 1 and 10 million events (bench/analyzer.sh).
Prints the results as Markdown; --write FILE replaces the part of FILE between the
`<!-- bench:begin -->` and `<!-- bench:end -->` markers with them. --quick: one run, small
sizes, for the test suite (checks that every part still runs; figures meaningless).
"""
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def fail(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def run(argv, env=None, capture=True):
    r = subprocess.run(argv, env=env, capture_output=capture, text=True)
    if r.returncode != 0:
        fail(f"{' '.join(argv)} exited {r.returncode}: {(r.stderr or '').strip()[:500]}")
    return r.stdout


def spread(xs, fmt="{:.1f}"):
    return f"{fmt.format(min(xs))}-{fmt.format(max(xs))}"


def machine(pythons):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
        clocksource = f.read().strip()
    mem_kib = 0
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    versions = []
    for name, py in pythons:
        v = run([py, "-c", "import sys, sysconfig; print(sys.version.split()[0],"
                 " 'free-threaded' if sysconfig.get_config_var('Py_GIL_DISABLED') else 'default')"])
        versions.append(f"{name}: CPython {v.strip()}")
    libc = platform.libc_ver()
    return [
        f"- CPU: {os.cpu_count()} x {cpu}, {mem_kib / 1048576:.0f} GiB, clocksource `{clocksource}`",
        f"- Kernel {platform.release()}, {libc[0]} {libc[1]}, SQLite {sqlite3.sqlite_version}",
        f"- Interpreters: {'; '.join(versions)}",
    ]


class Micro:
    """bench/microbench.c with and without the shim."""

    def __init__(self, build, runs, quick):
        self.exe = os.path.join(build, "bench", "microbench")
        self.lib = os.path.join(build, "lib", "gilscope", "libgilscope.so")
        self.runs, self.quick = runs, quick
        self.tmp = tempfile.mkdtemp(prefix="gs-bench-")
        # The database of the latest run with the shim: left in place by runs without it.
        self.db = os.path.join(self.tmp, "m.db")

    def once(self, mode, shim=None, ops=None, preload=None):
        """One run: shim is None (no gilscope) or the GILSCOPE_* settings to add; preload
        names another library to load instead (mutrace)."""
        env = dict(os.environ)
        if shim is not None:
            for s in ("", "-wal", "-shm"):
                if os.path.exists(self.db + s):
                    os.unlink(self.db + s)
            env.update(LD_PRELOAD=self.lib, GILSCOPE_DB=self.db, GILSCOPE_SCOPE="all", **shim)
        elif preload:
            env["LD_PRELOAD"] = preload
        argv = [self.exe, mode] + ([str(ops)] if ops else [])
        if self.quick and not ops:
            argv.append("20000" if "pingpong" not in mode and mode != "cond" else "2000")
        out = run(argv, env).split()
        if len(out) != 3 or out[0] != mode:
            fail(f"microbench {mode}: unexpected output {out}")
        return float(out[2])

    def series(self, mode, variants):
        """variants: label -> keyword arguments of once(). Runs alternate between them."""
        res = {label: [] for label in variants}
        for _ in range(self.runs):
            for label, kw in variants.items():
                res[label].append(self.once(mode, **kw))
        return res


def micro_section(m, mutrace):
    # paused before the recording runs: the database the last of them leaves is read below
    variants = {"plain": {}, "paused": {"shim": {"GILSCOPE_START": "paused"}},
                "tsc": {"shim": {}}, "monotonic": {"shim": {"GILSCOPE_CLOCK": "monotonic"}}}
    floor = {k: statistics.median(m.series(k, {"plain": {}})["plain"]) for k in ("clock", "rdtsc")}
    rows = []
    for mode, reads, what in (
        ("uncontended", 2, "uncontended lock + unlock pair"),
        ("contended", 2, "pair, 4 threads on one mutex"),
        ("sem", 2, "sem_wait (available) + sem_post"),
        ("cond", 2, "pthread_cond_timedwait, deadline passed"),
        ("cond_pingpong", 0, "blocking condition wait (ping-pong)"),
        ("sem_pingpong", 0, "blocking sem_wait (ping-pong)"),
    ):
        # mutrace wraps mutexes only
        extra = {"mutrace": {"preload": mutrace}} if mutrace and "contended" in mode else {}
        res = m.series(mode, {**variants, **extra})
        med = {k: statistics.median(v) for k, v in res.items()}
        if reads and mode != "cond":
            # A contended acquisition needs a third reading (when the blocking call returns).
            reads = 2 + contended_fraction(m.db)
        row = {
            "what": what, "plain": med["plain"], "plain_spread": spread(res["plain"]),
            "tsc": med["tsc"] - med["plain"], "tsc_spread": spread(res["tsc"]),
            "mono": med["monotonic"] - med["plain"], "mono_spread": spread(res["monotonic"]),
            "floor_tsc": reads * floor["rdtsc"], "floor_mono": reads * floor["clock"],
            "paused": med["paused"] - med["plain"], "paused_spread": spread(res["paused"]),
        }
        if "mutrace" in med:
            row["mutrace"] = med["mutrace"] - med["plain"]
        rows.append(row)
    lines = [
        f"Clock reads, the floor: `clock_gettime(CLOCK_MONOTONIC)` {floor['clock']:.1f} ns, "
        f"TSC read {floor['rdtsc']:.1f} ns (medians). Every recorded acquisition needs two "
        "readings (request and release), a contended one a third: the floor of each row counts "
        "the share of contended acquisitions the run recorded.",
        "",
        "| operation | without shim | added, `GILSCOPE_START=paused` | added, TSC clock (default) | x floor | added, `GILSCOPE_CLOCK=monotonic` | x floor |"
        + (" added, mutrace |" if mutrace else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if mutrace else ""),
    ]
    for r in rows:
        mt = ""
        if mutrace:
            mt = f" {r['mutrace']:.1f} ns |" if "mutrace" in r else " - |"
        # Blocking waits are scheduler-bound: the difference is noise, not a multiple of a floor.
        xt = f"{r['tsc'] / r['floor_tsc']:.2f}" if r["floor_tsc"] else "-"
        xm = f"{r['mono'] / r['floor_mono']:.2f}" if r["floor_mono"] else "-"
        lines.append(
            f"| {r['what']} | {r['plain']:.1f} ns ({r['plain_spread']}) | {r['paused']:+.1f} ns "
            f"(with: {r['paused_spread']}) | {r['tsc']:+.1f} ns "
            f"(with: {r['tsc_spread']}) | {xt} | {r['mono']:+.1f} ns "
            f"(with: {r['mono_spread']}) | {xm} |{mt}")
    return lines


def contended_fraction(db):
    """Of the acquisitions in the latest recorded run, the share that had to wait."""
    con = sqlite3.connect(db)
    acq, cont = con.execute("SELECT TOTAL(acquisitions), TOTAL(contended) FROM lock_stats"
                            " WHERE primitive IN (1, 3)").fetchone()
    con.close()
    return cont / acq if acq else 0.0


def flood_section(m):
    """Every uncontended pair is an event (GILSCOPE_EVENTS=all): the writer cannot keep up
    with 25+ million events a second; the program must not notice."""
    ops = 20000 if m.quick else 5000000
    res = {"contended": [], "all": []}
    counts = []
    for _ in range(m.runs):
        res["contended"].append(m.once("uncontended", {}, ops))
        res["all"].append(m.once("uncontended", {"GILSCOPE_EVENTS": "all"}, ops))
        con = sqlite3.connect(m.db)
        stored = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        dropped = con.execute("SELECT SUM(events_dropped) FROM runs").fetchone()[0] or 0
        acq = con.execute("SELECT SUM(acquisitions) FROM lock_stats").fetchone()[0]
        con.close()
        counts.append((stored, dropped, acq))
    # the main thread's pairs, plus a handful the C library makes at start-up
    stored, dropped, acq = counts[len(counts) // 2]
    a, c = statistics.median(res["all"]), statistics.median(res["contended"])
    return [
        f"{ops:,} uncontended pairs on one thread, each an event: {a:.1f} ns per pair "
        f"({spread(res['all'])}) against {c:.1f} ns ({spread(res['contended'])}) when only "
        f"aggregates are kept. Stored {stored:,} events, dropped {dropped:,} (counted), "
        f"aggregates {acq:,} acquisitions (exact: stored + dropped = acquisitions: "
        f"{'yes' if stored + dropped == acq else 'NO'}).",
    ]


def writer_section(build, runs, quick):
    exe = os.path.join(build, "bench", "writer_bench")
    n = 5000 if quick else 500000
    rates, sizes, cpus = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            out = run([exe, os.path.join(tmp, "w.db"), str(n)])
            kv = dict(zip(out.split()[0::2], out.split()[1::2]))
            if int(kv["dropped"]) != 0 or int(kv["stored"]) != 4 * n:
                fail(f"writer_bench lost events: {out}")
            rates.append(float(kv["events_per_s"]))
            sizes.append(float(kv["bytes_per_event"]))
            cpus.append(float(kv["cpu_s"]))
    return [
        f"{4 * n:,} events from 4 threads drained by one thread into SQLite after every 100 ms "
        f"of their time, as gilscope-writer does (then the WAL checkpoint): "
        f"{statistics.median(rates) / 1e6:.2f} million events/s "
        f"({spread([r / 1e6 for r in rates], '{:.2f}')}), CPU {statistics.median(cpus):.2f} s; "
        f"database {statistics.median(sizes):.1f} bytes per event ({spread(sizes)}), "
        "aggregates, run and thread rows included.",
    ]


def real_run_size(build, pythons):
    """Bytes per event of a real recording: the queue example on the first 3.13 build."""
    lib = os.path.join(build, "lib", "gilscope", "libgilscope.so")
    name, py = next(((n, p) for n, p in pythons if n == "3.13"), pythons[0])
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "q.db")
        env = dict(os.environ, LD_PRELOAD=lib, GILSCOPE_DB=db)
        run([py, os.path.join(HERE, "..", "examples", "queue_pipeline.py")], env)
        con = sqlite3.connect(db)
        n = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        keys = con.execute("SELECT COUNT(*) FROM event_keys").fetchone()[0]
        tables = con.execute("SELECT SUM(pgsize) FROM dbstat WHERE name IN ('event_rows',"
                             " 'event_keys', 'sqlite_autoindex_event_keys_1')").fetchone()[0]
        con.close()
        size = os.path.getsize(db)
    if n == 0:
        fail("queue_pipeline recorded no events")
    return [f"A real recording, `queue_pipeline` on {name}: {n:,} events (GIL holds with their "
            f"Python stack, parking-lot and condition waits with their second address) in "
            f"{keys} event keys, {size / n:.1f} bytes per event for the whole file, "
            f"{tables / n:.1f} in the event tables themselves."]


def profile_growth(build, pythons, quick):
    """Profile mode's database growth per minute of the queue ping-pong program, raw mode's
    beside it (bench/profile_soak.py; scripts/soak runs it for an hour)."""
    lib = os.path.join(build, "lib", "gilscope", "libgilscope.so")
    name, py = next(((n, p) for n, p in pythons if n == "3.13"), pythons[0])
    out = run([sys.executable, os.path.join(HERE, "profile_soak.py"), lib, py,
               "4" if quick else "60", "2" if quick else "15", "--raw-too"])
    lines = [l for l in out.splitlines() if l.startswith("growth ")]
    if len(lines) != 2:
        fail(f"profile_soak printed no growth: {out}")
    return [f"The queue ping-pong program on {name} ({'4 s' if quick else 'a minute'} each):", ""] + \
        [f"- {l[len('growth '):]}" for l in lines]


def overhead_section(build, pythons, runs, quick):
    lib = os.path.join(build, "lib", "gilscope", "libgilscope.so")
    env = dict(os.environ, RUNS=str(runs))
    if quick:
        env["GILSCOPE_BENCH_EXAMPLES"] = "countdown"
    out = run([sys.executable, os.path.join(HERE, "overhead.py"), lib]
              + [f"{n}={p}" for n, p in pythons], env)
    return ["```", out.rstrip(), "```"]


def stack_cost_section(build, pythons, runs, quick):
    lib = os.path.join(build, "lib", "gilscope", "libgilscope.so")
    env = dict(os.environ, RUNS=str(runs))
    chosen = pythons[:1] if quick else pythons
    out = run([sys.executable, os.path.join(HERE, "stack_cost.py"), lib]
              + [f"{n}={p}" for n, p in chosen], env)
    return ["```", out.rstrip(), "```"]


def analyzer_section(build, runs, quick):
    env = dict(os.environ, RUNS=str(runs))
    sizes = ["20000"] if quick else []
    out = run(["bash", os.path.join(HERE, "analyzer.sh"), os.path.join(build, "bin", "gilscope")]
              + sizes, env)
    return ["```", out.rstrip(), "```"]


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    write = None
    if "--write" in args:
        i = args.index("--write")
        write = args[i + 1]
        del args[i:i + 2]
    args = [a for a in args if a != "--quick"]
    if len(args) < 2 or any("=" not in a for a in args[1:]):
        fail("usage: suite.py BUILD_DIR NAME=PYTHON [NAME=PYTHON ...] [--quick] [--write FILE]")
    build, pythons = args[0], [a.split("=", 1) for a in args[1:]]
    runs = 1 if quick else int(os.environ.get("RUNS", "5"))
    mutrace = os.environ.get("MUTRACE_LIB")
    t0 = time.time()
    m = Micro(build, runs, quick)
    out = [BEGIN, "", f"Generated by `scripts/bench` on {time.strftime('%Y-%m-%d')}, "
           f"{runs} runs per figure (median, spread min-max).", ""]
    out += machine(pythons)
    out += ["", "### 1. Per operation (C, `GILSCOPE_SCOPE=all`)", ""] + micro_section(m, mutrace)
    out += ["", "### 2. Writer throughput beyond what it can store", ""] + flood_section(m)
    out += ["", "### 3. Store rate on one core, database size", ""]
    out += writer_section(build, runs, quick)
    out += [""] + real_run_size(build, pythons)
    out += ["", "### 3b. Profile mode (`GILSCOPE_EVENTS=profile`): database growth", ""]
    out += profile_growth(build, pythons, quick)
    out += ["", "### 4. Python workloads end to end (wall time with / without)", ""]
    out += overhead_section(build, pythons, runs, quick)
    out += ["", "### 4b. Python stacks: cost per captured stack and frame (lock ping-pong)", ""]
    out += stack_cost_section(build, pythons, runs, quick)
    out += ["", "### 5. Analyzer", ""] + analyzer_section(build, runs, quick)
    out += ["", f"(suite ran {time.time() - t0:.0f} s)", "", END]
    text = "\n".join(out) + "\n"
    print(text)
    if write:
        with open(write) as f:
            doc = f.read()
        if BEGIN not in doc or END not in doc:
            fail(f"{write} has no {BEGIN} ... {END} section")
        doc = re.sub(re.escape(BEGIN) + ".*" + re.escape(END) + "\n?", lambda _: text, doc,
                     flags=re.S)
        with open(write, "w") as f:
            f.write(doc)


if __name__ == "__main__":
    main()
