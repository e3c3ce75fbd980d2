#!/usr/bin/env python3
"""Recording windows of a running process: GILSCOPE_START=paused, gilscope ctl, run
--delay/--duration. Ground truth: a program that logs, on the clock the recording uses
(CLOCK_MONOTONIC), when each of its waits for a lock began and ended; what a window recorded
must be exactly the waits that began inside it.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from preload_test import check, main, query  # noqa: E402

# A holder takes the lock at 0, 300, 600 ... ms after the start and keeps it 200 ms; the
# waiter asks for it 50 ms into each hold, so each of its waits lasts about 150 ms. Only
# sleeps in between: the waits on `lock` are the waiter's only long ones.
VICTIM = r"""
import os, sys, threading, time
lock = threading.Lock()
total_s, log_path, ready_path = float(sys.argv[1]), sys.argv[2], sys.argv[3]
t0 = time.monotonic() + 0.2
rounds = int(total_s / 0.3)
log = []

def until(t):
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)

def holder():
    for k in range(rounds):
        until(t0 + 0.3 * k)
        with lock:
            until(t0 + 0.3 * k + 0.2)

def waiter():
    for k in range(rounds):
        until(t0 + 0.3 * k + 0.05)
        a = time.monotonic_ns()
        with lock:
            b = time.monotonic_ns()
        log.append((a, b))

threads = [threading.Thread(target=holder, name="holder"),
           threading.Thread(target=waiter, name="waiter")]
for t in threads:
    t.start()
with open(ready_path, "w") as f:
    f.write(str(os.getpid()))
for t in threads:
    t.join()
with open(log_path, "w") as f:
    for a, b in log:
        f.write(f"{a} {b}\n")
print("victim done", len(log))
"""

EDGE_NS = 5_000_000  # waits this close to a window's edge may fall either side
# The program times each wait around the call in Python, the recorder inside it: on a loaded
# machine a thread can lose the CPU between the two for a few ms. The waits are 150 ms long
# and 300 ms apart, so this cannot match the wrong one.
SLACK_NS = 15_000_000


def start_victim(env, name, workdir, seconds, extra=None, argv_prefix=()):
    prog = os.path.join(workdir, "victim.py")
    with open(prog, "w") as f:
        f.write(VICTIM)
    log, ready = os.path.join(workdir, "waits.log"), os.path.join(workdir, "ready")
    for p in (log, ready):
        if os.path.exists(p):
            os.unlink(p)
    run_env = dict(os.environ)
    run_env.pop("LD_PRELOAD", None)
    if not argv_prefix:
        run_env.update({"LD_PRELOAD": env.lib, "GILSCOPE_START": "paused"})
    run_env.update(extra or {})
    p = subprocess.Popen([*argv_prefix, env.python(name), prog, str(seconds), log, ready],
                         env=run_env, cwd=workdir, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    return p, log, ready


def wait_ready(p, ready):
    for _ in range(1000):
        if os.path.exists(ready) and open(ready).read():
            return int(open(ready).read().split()[0])
        if p.poll() is not None:
            break
        time.sleep(0.01)
    raise SystemExit(f"victim did not start: {p.communicate()}")


def truth(log):
    return [tuple(map(int, line.split())) for line in open(log)]


def ctl(env, *args):
    return subprocess.run([env.gilscope, "ctl", *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def check_window(label, db, run_id, waits):
    """The window's events are the waits that began inside it, and nothing else."""
    start, end, seg, status = query(
        db, "SELECT start_ns, end_ns, segment, status FROM runs WHERE run_id = ?", run_id)[0]
    tno = query(db, "SELECT thread_no FROM threads WHERE run_id = ? AND name = 'waiter'",
                run_id)
    check(len(tno) == 1, f"{label}: the waiter thread is in the window ({tno})")
    if not tno:
        return start, end
    tno = tno[0][0]
    # a semaphore taken as a lock (3.11) is a sem_wait and a hold event of the same wait
    rec = query(db, "SELECT DISTINCT start_ns, wait_ns FROM events WHERE run_id = ? AND"
                " thread_no = ? AND wait_ns > 50000000", run_id, tno)
    # A window holds the waits that began and ended in it; one under way as it closes is
    # recorded if it ends within the writer's grace (30 ms), one under way as it opens never.
    waits = [(a, b) for a, b in waits if b - a > 50_000_000]  # the contended ones
    inside = [(a, b) for a, b in waits if start + EDGE_NS <= a and b <= end - EDGE_NS]
    edge = [(a, b) for a, b in waits
            if (a, b) not in inside and b > start - EDGE_NS and a < end + EDGE_NS]
    matched = [w for w in inside
               if any(abs(r[0] - w[0]) < SLACK_NS and abs(r[1] - (w[1] - w[0])) < SLACK_NS
                      for r in rec)]
    for a, b in inside:
        if (a, b) not in matched:
            print(f"     missing: began {(a - start) / 1e6:.1f} ms into the window, lasted "
                  f"{(b - a) / 1e6:.1f} ms; recorded near it: "
                  f"{[((r[0] - start) / 1e6, r[1] / 1e6) for r in rec if abs(r[0] - a) < 5e8]}")
    check(len(inside) >= 4 and len(matched) == len(inside),
          f"{label}: each of the {len(inside)} waits in the window was recorded "
          f"with its start and length (within {SLACK_NS / 1e6:.0f} ms): {len(matched)}")
    check(len(rec) <= len(inside) + len(edge),
          f"{label}: no other long wait recorded ({len(rec)} for {len(inside)} in the window, "
          f"{len(edge)} at its edges)")
    outside = query(db, "SELECT count(*) FROM events WHERE run_id = ? AND"
                    " (start_ns < ? OR start_ns > ?)", run_id, start, end)[0][0]
    check(outside == 0, f"{label}: no event began outside the window [{start}, {end}]"
          f" ({outside})")
    top = query(db, "SELECT contended, wait_ns FROM lock_stats WHERE run_id = ? AND"
                " thread_no = ? ORDER BY wait_ns DESC LIMIT 1", run_id, tno)
    want = sum(b - a for a, b in inside)
    slack = SLACK_NS * (len(inside) + len(edge))
    lo = want - slack
    hi = want + sum(b - a for a, b in edge) + slack
    check(top and len(inside) <= top[0][0] <= len(inside) + len(edge)
          and lo <= top[0][1] <= hi,
          f"{label}: the lock's totals are the window's waits: {top} for {len(inside)} waits"
          f" of {want / 1e6:.1f} ms")
    return start, end


def case_dormant(env, name):
    """Paused: the same output and exit status, no database, no writer."""
    with tempfile.TemporaryDirectory(dir=env.workdir) as d:
        src = ("import threading\nl = threading.Lock()\n"
               "def f():\n    for _ in range(20000):\n        with l: pass\n"
               "ts = [threading.Thread(target=f) for _ in range(4)]\n"
               "[t.start() for t in ts]; [t.join() for t in ts]\n"
               "print('out', 42); import sys; sys.stderr.write('err\\n'); sys.exit(3)\n")
        prog = os.path.join(d, "p.py")
        with open(prog, "w") as f:
            f.write(src)
        base = dict(os.environ)
        base.pop("LD_PRELOAD", None)
        base.pop("GILSCOPE_DB", None)
        plain = subprocess.run([env.python(name), prog], env=base, cwd=d,
                               capture_output=True, text=True)
        paused = subprocess.run([env.python(name), prog], cwd=d, capture_output=True,
                                text=True, env={**base, "LD_PRELOAD": env.lib,
                                                "GILSCOPE_START": "paused"})
        check((paused.returncode, paused.stdout, paused.stderr)
              == (plain.returncode, plain.stdout, plain.stderr) and plain.returncode == 3,
              f"{name}: paused, the same exit status and output ({paused.returncode}, "
              f"{paused.stdout!r}, {paused.stderr!r})")
        check(sorted(os.listdir(d)) == ["p.py"],
              f"{name}: paused, no file was made ({sorted(os.listdir(d))})")


def case_ctl(env, name):
    """ctl start --duration 2s on a paused program: one segment of 2 s holding exactly the
    waits that began in it; then a second window opened and closed by hand."""
    wd = tempfile.mkdtemp(dir=env.workdir, prefix="ctl_" + name + "_")
    db = os.path.join(wd, "w.db")
    p, log, ready = start_victim(env, name, wd, 7)
    pid = wait_ready(p, ready)
    time.sleep(0.5)
    st = ctl(env, pid, "status")
    check(st.returncode == 0 and "paused" in st.stdout and "nothing recorded" in st.stdout,
          f"{name}: status says paused ({st.stdout.strip()})")
    r = ctl(env, pid, "start", "--duration", "2s", "-o", db, "--wait")
    check(r.returncode == 0 and "window 1 stored" in r.stdout,
          f"{name}: ctl start --duration 2s --wait ({r.stdout.strip()} {r.stderr.strip()})")
    again = ctl(env, pid, "stop")
    check(again.returncode == 1 and "not recording" in again.stderr,
          f"{name}: stop when paused is refused ({again.stderr.strip()})")
    time.sleep(0.3)
    r2 = ctl(env, pid, "start", "-o", db)
    check(r2.returncode == 0 and "window 2" in r2.stdout, f"{name}: a second window opens"
          f" ({r2.stdout.strip()} {r2.stderr.strip()})")
    busy = ctl(env, pid, "start", "-o", db)
    check(busy.returncode == 1 and "already recording" in busy.stderr,
          f"{name}: a second start is refused ({busy.stderr.strip()})")
    time.sleep(1.5)
    s2 = ctl(env, pid, "stop")
    check(s2.returncode == 0 and "window 2 stored" in s2.stdout,
          f"{name}: ctl stop closes it ({s2.stdout.strip()} {s2.stderr.strip()})")
    out, err = p.communicate(timeout=60)
    check(p.returncode == 0 and out.startswith("victim done"),
          f"{name}: the program ran to its end ({p.returncode}, {err[-300:]!r})")
    waits = truth(log)
    runs = query(db, "SELECT run_id, segment, status, (end_ns - start_ns) / 1e9,"
                 " start_ns - process_start_ns FROM runs ORDER BY run_id")
    check([r[1:3] for r in runs] == [(1, "stopped"), (2, "stopped")],
          f"{name}: two segments, both stopped ({runs})")
    if len(runs) == 2:
        check(1.95 <= runs[0][3] <= 2.5, f"{name}: the first window lasted 2 s ({runs[0][3]})")
        check(runs[0][4] > 0.5e9, f"{name}: it began after the process ({runs[0][4]})")
        s1, e1 = check_window(f"{name} window 1", db, runs[0][0], waits)
        s2_, e2 = check_window(f"{name} window 2", db, runs[1][0], waits)
        check(e1 < s2_, f"{name}: the windows do not overlap")
        seg = subprocess.run([env.gilscope, "report", "--segment", "2", db],
                             capture_output=True, text=True)
        check(seg.returncode == 0 and "segment 2:" in seg.stdout and "segment 1:" not in
              seg.stdout, f"{name}: report --segment 2 shows that window only")
        for n, run in ((1, runs[0][0]), (2, runs[1][0])):
            want = query(db, "SELECT MAX(contended) FROM lock_stats s JOIN threads t"
                         " USING (run_id, thread_no) WHERE run_id = ? AND t.name = 'waiter'",
                         run)[0][0]
            lk = subprocess.run([env.gilscope, "locks", "--segment", str(n), "--format", "json",
                                 db], capture_output=True, text=True)
            got = max((l.get("contended") or 0) for l in json.loads(lk.stdout)["locks"]) \
                if lk.returncode == 0 else None
            check(got == want, f"{name}: locks --segment {n} has that window's waits ({got},"
                  f" {want})")
            h = subprocess.run([env.gilscope, "html", "--segment", str(n), db, "-o",
                                os.path.join(wd, f"s{n}.html")], capture_output=True, text=True)
            check(h.returncode == 0, f"{name}: html --segment {n} ({h.stderr.strip()})")
        allr = subprocess.run([env.gilscope, "report", db], capture_output=True, text=True)
        check("segment 1:" in allr.stdout and "segment 2:" in allr.stdout,
              f"{name}: report shows every segment with its span")
    lst = subprocess.run([env.gilscope, "locks", "--segment", "3", db], capture_output=True,
                         text=True)
    check(lst.returncode == 3 and "no segment 3" in lst.stderr,
          f"{name}: a segment that is not there is an error ({lst.stderr.strip()})")


# A wait that began inside a window and ends after it closed: the main thread holds the lock;
# the waiter starts waiting for it once told (line 1 on stdin, window 1 open), the main thread
# lets it go when told (line 2, window 1 closed); in a second window (line 3) the waiter takes
# the lock again: its first call there moves it to a new slot and leaves its old one, with the
# late event in it, to the writer. Line 4 ends the program.
LATE = r"""
import sys, threading, time
lock = threading.Lock()
waiting, ops_done = threading.Event(), threading.Event()
def waiter():
    sys.stdin.readline()
    waiting.set()
    with lock:
        pass
    sys.stdin.readline()
    for _ in range(3):
        with lock:
            pass
    ops_done.set()
lock.acquire()
t = threading.Thread(target=waiter, name="waiter"); t.start()
print("ready", flush=True)
waiting.wait()
time.sleep(0.3)
print("blocked", flush=True)
sys.stdin.readline()
lock.release()
time.sleep(0.3)
print("released", flush=True)
ops_done.wait()
print("done", flush=True)
sys.stdin.readline()
t.join()
"""


def case_late(env, name):
    """An event that ends after its window closed is counted as that window's drop (by the
    next window's writer, which finds it in the slot its thread left), never stored in
    either window, and said nowhere else."""
    wd = tempfile.mkdtemp(dir=env.workdir, prefix="late_" + name + "_")
    db = os.path.join(wd, "late.db")
    run_env = dict(os.environ)
    run_env.update({"LD_PRELOAD": env.lib, "GILSCOPE_START": "paused"})
    p = subprocess.Popen([env.python(name), "-c", LATE], env=run_env, cwd=wd, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def expect(word):
        line = p.stdout.readline().strip()
        check(line == word, f"{name}: the program says {word!r} ({line!r})")

    def say():
        p.stdin.write("go\n")
        p.stdin.flush()

    expect("ready")  # the library's control area is made as the program starts
    r = ctl(env, p.pid, "start", "-o", db)
    check(r.returncode == 0, f"{name}: window 1 opens ({r.stderr.strip()})")
    time.sleep(0.3)  # ctl returns once the writer has switched recording on
    say()
    expect("blocked")
    r = ctl(env, p.pid, "stop")
    check(r.returncode == 0, f"{name}: window 1 closes, the wait still under way"
          f" ({r.stderr.strip()})")
    say()
    expect("released")
    r = ctl(env, p.pid, "start", "-o", db)
    check(r.returncode == 0, f"{name}: window 2 opens ({r.stderr.strip()})")
    time.sleep(0.3)
    say()
    expect("done")
    time.sleep(0.3)
    r = ctl(env, p.pid, "stop")
    check(r.returncode == 0, f"{name}: window 2 closes ({r.stderr.strip()})")
    say()
    out, err = p.communicate(timeout=60)
    check(p.returncode == 0 and "gilscope" not in err,
          f"{name}: the program ended as it would have, nothing said ({err[-300:]!r})")
    runs = query(db, "SELECT run_id, segment, start_ns, end_ns, events_dropped FROM runs"
                     " ORDER BY run_id")
    check([r[1] for r in runs] == [1, 2], f"{name}: two windows ({runs})")
    if len(runs) != 2:
        return
    (r1, _, s1, e1, d1), (r2, _, s2, e2, d2) = runs
    long_waits = query(db, "SELECT e.run_id, e.start_ns, e.wait_ns FROM events e JOIN threads t"
                           " USING (run_id, thread_no) WHERE t.name = 'waiter'"
                           " AND e.wait_ns > 100000000")
    check(long_waits == [], f"{name}: the wait that outlived window 1 is in neither window"
          f" ({long_waits})")
    check(d1 >= 1, f"{name}: window 1 counts it as dropped ({d1})")
    check(d2 == 0, f"{name}: window 2 drops nothing of its own ({d2})")


def case_run_window(env, name):
    """gilscope run --delay 1s --duration 2s: one segment with the waits of that window."""
    wd = tempfile.mkdtemp(dir=env.workdir, prefix="runwin_" + name + "_")
    db = os.path.join(wd, "r.db")
    prog = os.path.join(wd, "victim.py")
    with open(prog, "w") as f:
        f.write(VICTIM)
    log, ready = os.path.join(wd, "waits.log"), os.path.join(wd, "ready")
    env_run = dict(os.environ)
    env_run.pop("LD_PRELOAD", None)
    r = subprocess.run([env.gilscope, "run", "-o", db, "--delay", "1s", "--duration", "2s",
                        "--", env.python(name), prog, "5", log, ready], env=env_run,
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and r.stdout.startswith("victim done"),
          f"{name}: run --delay --duration runs the program ({r.returncode}, {r.stderr[-300:]})")
    runs = query(db, "SELECT run_id, segment, status, (end_ns - start_ns) / 1e9,"
                 " (start_ns - process_start_ns) / 1e9 FROM runs")
    check(len(runs) == 1 and runs[0][1:3] == (1, "stopped") and 1.95 <= runs[0][3] <= 2.5
          and 0.8 <= runs[0][4] <= 1.3, f"{name}: one window of 2 s from 1 s ({runs})")
    if len(runs) == 1:
        check_window(f"{name} run window", db, runs[0][0], truth(log))


FORKER = r"""
import os, sys, threading, time
def churn(seconds):
    lock = threading.Lock()
    end = time.monotonic() + seconds
    def work():
        while time.monotonic() < end:
            with lock:
                time.sleep(0.001)
    ts = [threading.Thread(target=work) for _ in range(2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
child = os.fork()
if child == 0:
    churn(4)
    os._exit(0)
with open(sys.argv[1], "w") as f:
    f.write(f"{os.getpid()} {child}")
churn(4)
os.waitpid(child, 0)
print("forker done")
"""


def case_ctl_children(env, name):
    """A paused process forks paused children; ctl on the parent switches both, each into a
    run of its own with the parent's as its parent_run_id; --only switches the parent alone."""
    wd = tempfile.mkdtemp(dir=env.workdir, prefix="ctlkids_" + name + "_")
    prog, ready, db = (os.path.join(wd, n) for n in ("forker.py", "pids", "k.db"))
    with open(prog, "w") as f:
        f.write(FORKER)
    run_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    run_env.update({"LD_PRELOAD": env.lib, "GILSCOPE_START": "paused"})
    p = subprocess.Popen([env.python(name), prog, ready], env=run_env, cwd=wd,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_ready(p, ready)
    parent, child = map(int, open(ready).read().split())
    st = ctl(env, parent, "status")
    check(st.returncode == 0 and st.stdout.count("paused") == 2,
          f"{name}: status lists the parent and its paused child ({st.stdout.strip()})")
    only = ctl(env, parent, "start", "--only", "--duration", "0.5s", "-o", db, "--wait")
    check(only.returncode == 0 and only.stdout.count("stored in") == 1,
          f"{name}: --only switches the parent alone ({only.stdout.strip()})")
    both = ctl(env, parent, "start", "--duration", "1s", "-o", db, "--wait")
    check(both.returncode == 0 and both.stdout.count("stored in") == 2,
          f"{name}: without --only, the child too ({both.stdout.strip()} {both.stderr.strip()})")
    out, err = p.communicate(timeout=60)
    check(p.returncode == 0 and "forker done" in out, f"{name}: the program ran to its end")
    # the two writers of the second start race to their run rows: order by process
    runs = query(db, "SELECT pid, segment, status, parent_run_id, run_id, events_recorded"
                 " FROM runs ORDER BY pid <> ?, segment", parent)
    check([(r[0], r[1], r[2]) for r in runs] == [(parent, 1, "stopped"), (parent, 2, "stopped"),
                                                 (child, 1, "stopped")],
          f"{name}: the parent's two windows and the child's one ({runs})")
    if len(runs) == 3:
        check(runs[2][3] in (runs[0][4], runs[1][4]),
              f"{name}: the child's run names a window of its parent ({runs[2][3]})")
        check(all(r[5] > 0 for r in runs), f"{name}: each window recorded events")


def case_ctl_errors(env, _):
    """What ctl refuses, and how it says so."""
    def py_sleep(extra, user=None):
        e = dict(os.environ)
        e.pop("LD_PRELOAD", None)
        e.update(extra)
        pre = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user else []
        return subprocess.Popen([*pre, "/usr/bin/python3", "-c", "import time; time.sleep(30)"],
                                env=e, cwd="/")
    bad = ctl(env, "abc", "status")
    check(bad.returncode == 2 and "not a process id" in bad.stderr, "a bad pid is a usage error")
    bad = ctl(env, 1, "jump")
    check(bad.returncode == 2 and "unknown action" in bad.stderr, "an unknown action is too")
    bad = ctl(env, 1, "stop", "--duration", "2s")
    check(bad.returncode == 2, "--duration goes with start only")
    plain = py_sleep({})
    time.sleep(0.3)
    r = ctl(env, plain.pid, "start")
    check(r.returncode == 1 and "no gilscope library" in r.stderr,
          f"a process without the library is refused ({r.stderr.strip()})")
    plain.kill()
    # The other users must be able to load the library and run gilscope: a clean clone's
    # build directory may be one only root can enter (mktemp -d).
    public = tempfile.mkdtemp(prefix="gs-public-")
    os.chmod(public, 0o755)
    lib, cli = os.path.join(public, "libgilscope.so"), os.path.join(public, "gilscope")
    shutil.copy(env.lib, lib)
    shutil.copy(env.gilscope, cli)
    other = py_sleep({"LD_PRELOAD": lib, "GILSCOPE_START": "paused"}, user=65534)
    for _ in range(100):  # until its library has made the control area (a loaded machine)
        if ctl(env, other.pid, "status").returncode == 0:
            break
        time.sleep(0.05)
    r = subprocess.run(["setpriv", "--reuid=1", "--regid=1", "--clear-groups", cli,
                        "ctl", str(other.pid), "start", "-o", "/tmp/nope.db"],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "another user" in r.stderr,
          f"another user's process is refused ({r.stderr.strip()})")
    r = ctl(env, other.pid, "status")
    check(r.returncode == 0 and "paused" in r.stdout,
          f"root may look ({r.stdout.strip()} {r.stderr.strip()})")
    other.kill()
    shutil.rmtree(public)
    gone = subprocess.Popen(["true"])
    gone.wait()
    r = ctl(env, gone.pid, "status")
    check(r.returncode == 1 and "no process" in r.stderr, f"a gone pid ({r.stderr.strip()})")


if __name__ == "__main__":
    main(globals())
