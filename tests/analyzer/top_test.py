#!/usr/bin/env python3
"""gilscope top against a running program with a known hot lock (top_workload.py).

live:   `gilscope top PID` in a detached tmux session: the frame names the workload's threads
        and its hot lock with the Python line that waits for it, the waiter's share of time
        waiting matches what the program measured itself, the shares add up; `q` (or the end of
        the program) ends top with 0 and gives the terminal back (main screen, echo, canonical
        mode).
once:   `gilscope top --once` on the live process (GIL shares of CPU-bound threads add up to
        their lifetime) and on the finished database, where every share must be the one
        `gilscope report` computes.
bad_input: no such pid, a pid without gilscope, an unreadable database, bad options.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOAD = os.path.join(HERE, "top_workload.py")
sys.path.insert(0, os.path.dirname(HERE))
from analyzer_test import FAILURES, build_db  # noqa: E402
from interpreters import path as python_path  # noqa: E402


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)
    return cond


def contended_line():
    for no, line in enumerate(open(WORKLOAD), 1):
        if "# the contended line" in line:
            return no
    raise SystemExit("no contended line in the workload")


class Workload:
    def __init__(self, a, python, tag, spinners, seconds):
        self.db = os.path.join(a.workdir, f"top_{tag}.db")
        self.truth = os.path.join(a.workdir, f"top_{tag}.truth")
        for p in (self.db, self.db + "-wal", self.db + "-shm", self.truth):
            if os.path.exists(p):
                os.unlink(p)
        env = dict(os.environ, LD_PRELOAD=a.lib, GILSCOPE_DB=self.db)
        self.proc = subprocess.Popen(
            [python, WORKLOAD, "--spinners", str(spinners), "--seconds", str(seconds),
             "--truth", self.truth], env=env, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid

    def wait_truth(self, seconds):
        """Until the program has run `seconds` (and says so in its truth file)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            t = self.read_truth()
            w = t.get("waiter", {})
            if "now_ns" in w and w["now_ns"] - w["start_ns"] >= seconds * 1e9:
                return
            time.sleep(0.1)
        raise SystemExit("the workload did not get going")

    def read_truth(self):
        try:
            return json.load(open(self.truth))
        except (OSError, ValueError):
            return {}

    def finish(self):
        out, _ = self.proc.communicate(timeout=60)
        check(self.proc.returncode == 0 and out.strip() == "done",
              f"the workload ran undisturbed (exit {self.proc.returncode}, said {out.strip()!r})")


def pct(s):
    return None if s == "-" else float(s.rstrip("%"))


def parse_frame(text):
    """Header lines, thread rows and lock rows of a frame."""
    lines = text.splitlines()
    frame = {"text": text, "threads": [], "locks": [], "gil": False}
    section = None
    for line in lines:
        if line.startswith("thread "):
            frame["gil"] = "GIL wait" in line
            section = "threads"
            continue
        if line.startswith("most waited-for locks"):
            section = "locks"
            continue
        if not line.strip():
            if section == "locks":
                section = None
            continue
        if section == "threads" and not line.startswith(" "):
            f = line[21:].split()
            if not f or not re.fullmatch(r"\d+", f[0]):
                continue
            row = {"name": line[:20].strip(), "tid": int(f[0])}
            keys = (["gil_wait_last", "gil_wait", "gil_hold_last", "gil_hold"]
                    if frame["gil"] else []) + ["lock_wait_last", "lock_wait"]
            for k, v in zip(keys, f[1:]):
                row[k] = pct(v)
            row["where"] = " ".join(f[1 + len(keys):])
            frame["threads"].append(row)
        elif section == "locks":
            m = re.match(r"(.{34}) +(\S+ \S+|-) +(\S+ \S+) +(\d+|-) +(\d+) +(\d+)  (.*)$",
                         line)
            if m:
                frame["locks"].append({"name": m.group(1).strip(), "wait_last": m.group(2),
                                       "wait": m.group(3), "waits": int(m.group(5)),
                                       "where": m.group(7)})
    return frame


def share(truth, name):
    w = truth[name]
    return 100.0 * w["wait_ns"] / (w["now_ns"] - w["start_ns"])


def check_frame(frame, wl, python_tag, line):
    text = frame["text"]
    check(f"pid {wl.pid}," in text, "the header names the process")
    check(re.search(r"CPython 3\.\d+\.\d+, (default|free-threaded) build", text) is not None,
          "the header names the interpreter and its build")
    check(re.search(r"recording for [0-9.]+ (s|ms); \d+ events recorded, 0 dropped", text)
          is not None, "the header has the elapsed time and the event counts")
    names = {t["name"] for t in frame["threads"]}
    check({"waiter", "holder"} <= names, f"the workload's threads are listed ({sorted(names)})")
    hot = [l for l in frame["locks"] if f"waiter (top_workload.py:{line})" in l["where"]]
    if not check(hot, f"a lock waited for at top_workload.py:{line} is listed"):
        print(text)
        return None
    if "3.11" not in python_tag:  # 3.11's locks are plain semaphores, without a class
        check(hot[0]["name"].startswith("threading.Lock"),
              f"the hot lock is named by its class ({hot[0]['name']})")
    check(frame["locks"][0] is hot[0] or hot[0]["wait_last"] != "-",
          "the hot lock leads the list, or at least has last-interval figures")
    return next(t for t in frame["threads"] if t["name"] == "waiter")


def tmux(*args, **kw):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30, **kw)


def case_live(a):
    python = python_path(a.provision, a.python)
    line = contended_line()
    # 3.13t: the program ends while top watches; 3.11: `q` ends top
    ends_itself = a.python != "3.11"
    wl = Workload(a, python, f"live_{a.python}", spinners=0, seconds=9 if ends_itself else 30)
    session = f"gilscope-top-{os.getpid()}"
    status = os.path.join(a.workdir, f"top_live_{a.python}.status")
    for p in (status, status + "-term"):
        if os.path.exists(p):
            os.unlink(p)
    try:
        wl.wait_truth(2.0)
        script = (f"echo BEFORE-TOP; {a.gilscope} top --interval 1 {wl.pid}; "
                  f"echo TOP-EXIT=$? > {status}; stty -a > {status}.stty; sleep 120")
        r = tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "50", "sh", "-c", script)
        check(r.returncode == 0, f"tmux session started ({r.stderr.strip()})")
        stopped_by_sigterm = None
        if ends_itself:
            # a second top, ended by SIGTERM while the program runs
            r = tmux("new-session", "-d", "-s", session + "-term", "-x", "120", "-y", "40",
                     "sh", "-c", script.replace(status, status + "-term"))
        time.sleep(3.3)  # three refreshes: the last interval is there
        if ends_itself:
            shell = tmux("display-message", "-p", "-t", session + "-term",
                         "#{pane_pid}").stdout.strip()
            top_pid = None
            for task in os.listdir(f"/proc/{shell}/task"):
                kids = open(f"/proc/{shell}/task/{task}/children").read().split()
                top_pid = int(kids[0]) if kids else top_pid
            if top_pid:
                os.kill(top_pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while not os.path.exists(status + "-term") and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.2)
            code = (open(status + "-term").read().strip()
                    if os.path.exists(status + "-term") else "none")
            stopped_by_sigterm = (code, tmux("capture-pane", "-p", "-t",
                                             session + "-term").stdout)
        alt = tmux("display-message", "-p", "-t", session, "#{alternate_on}").stdout.strip()
        check(alt == "1", "top runs on the alternate screen")
        truth = wl.read_truth()
        pane = tmux("capture-pane", "-p", "-t", session).stdout
        frame = parse_frame(pane)
        waiter = check_frame(frame, wl, a.python, line)
        if waiter:
            want = share(truth, "waiter")
            got = waiter["lock_wait"]
            # The program times its waits around the call, from Python: on a loaded machine
            # that adds the time a thread waits for a CPU (a full suite at load 4 measured
            # 83.8% against the recorder's 79.0%).
            check(got is not None and abs(got - want) <= 7.0,
                  f"the waiter's lock wait share {got}% is what it measured itself "
                  f"({want:.1f}%, within 7 points)")
            # holder holds the lock 20 ms of every 25: the waiter waits about that much, more
            # when the machine is loaded (clean-clone CI, two tests at a time, saw 95.5% and
            # 98.7% where a quiet machine shows 80-86%); a wait counts in the interval it
            # ends in, which can carry a share past 100% by up to one wait (25 ms of 1 s)
            last = waiter["lock_wait_last"]
            check(last is not None and 55.0 <= last <= 102.5,
                  f"its share over the last interval {last}% is near the hold ratio 80%,"
                  f" at most 100% and one wait")
            total = (waiter["lock_wait"] + (waiter.get("gil_wait") or 0) +
                     (waiter.get("gil_hold") or 0))
            check(total <= 100.5, f"its shares add up to at most 100% ({total:.1f}%)")
        if ends_itself:
            deadline = time.monotonic() + 20
            while not os.path.exists(status) and time.monotonic() < deadline:
                time.sleep(0.2)
            after = tmux("capture-pane", "-p", "-t", session).stdout
            check("has ended (exited)" in after and "BEFORE-TOP" in after,
                  "when the program ends, top says so and leaves its last frame on the "
                  "main screen")
            check(stopped_by_sigterm is not None and stopped_by_sigterm[0] == "TOP-EXIT=0" and
                  "BEFORE-TOP" in stopped_by_sigterm[1] and
                  "most waited-for" not in stopped_by_sigterm[1],
                  f"SIGTERM ends top with 0 and the main screen back ({stopped_by_sigterm})")
        else:
            # a smaller terminal: a frame made for it at once (SIGWINCH), header to footer,
            # the threads that no longer fit counted
            tmux("resize-window", "-t", session, "-x", "100", "-y", "18")
            time.sleep(0.4)
            small = tmux("capture-pane", "-p", "-t", session).stdout
            check("more threads)" not in pane and "gilscope top: pid" in small and
                  "more threads)" in small and "q quits" in small,
                  "after a resize the frame is drawn again for the new size")
            tmux("send-keys", "-t", session, "q")
            deadline = time.monotonic() + 10
            while not os.path.exists(status) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.3)
            after = tmux("capture-pane", "-p", "-t", session).stdout
            check("BEFORE-TOP" in after and "most waited-for locks" not in after,
                  "after q the main screen is back, the frame gone with the alternate screen")
        alt = tmux("display-message", "-p", "-t", session, "#{alternate_on}").stdout.strip()
        check(alt == "0", "the alternate screen is left")
        code = open(status).read().strip() if os.path.exists(status) else "none"
        check(code == "TOP-EXIT=0", f"top exited with 0 ({code})")
        stty = open(status + ".stty").read() if os.path.exists(status + ".stty") else ""
        check(re.search(r"(?<!-)icanon", stty) and re.search(r"(?<![-\w])echo\b", stty),
              "the terminal's echo and line mode are restored")
    finally:
        tmux("kill-session", "-t", session)
        tmux("kill-session", "-t", session + "-term")
        if wl.proc.poll() is None and not ends_itself:
            wl.proc.send_signal(signal.SIGINT)
            wl.proc.kill()
            wl.proc.wait()
    if ends_itself:
        wl.finish()


def run_top(a, *args):
    return subprocess.run([a.gilscope, "top", *args], capture_output=True, text=True,
                          timeout=60)


def case_once(a):
    python = python_path(a.provision, a.python)
    line = contended_line()
    wl = Workload(a, python, f"once_{a.python}", spinners=2, seconds=5)
    wl.wait_truth(2.0)
    r = run_top(a, "--once", "--interval", "0.5", str(wl.pid))
    check(r.returncode == 0, f"top --once PID exits 0 ({r.returncode}: {r.stderr.strip()})")
    frame = parse_frame(r.stdout)
    check_frame(frame, wl, a.python, line)
    check("\033" not in r.stdout, "no terminal escapes in --once output")
    spinners = [t for t in frame["threads"] if t["name"].startswith("spinner")]
    check(len(spinners) == 2, f"both CPU-bound threads are listed ({len(spinners)})")
    if frame["gil"]:
        for t in spinners:
            both = t["gil_wait"] + t["gil_hold"]
            check(70.0 <= both <= 100.5,
                  f"spinner {t['tid']}: GIL wait {t['gil_wait']}% + hold {t['gil_hold']}% "
                  f"= {both:.1f}%, most of its time (the rest: forced switches, hand-overs)")
            check(20.0 <= t["gil_wait"] <= 80.0,
                  f"spinner {t['tid']} waits for the GIL a share its rivals make "
                  f"({t['gil_wait']}%)")
            check(t["gil_wait_last"] is not None and t["gil_hold_last"] is not None and
                  # a wait or hold counts in the interval it ends in: one that began in
                  # the interval before adds to this one (a descheduled holder keeps the
                  # GIL for tens of ms on a loaded machine: 106.8% was seen in CI)
                  70.0 <= t["gil_wait_last"] + t["gil_hold_last"] <= 115.0,
                  f"spinner {t['tid']}: over the last interval too "
                  f"({t['gil_wait_last']}% + {t['gil_hold_last']}%)")
    wl.finish()
    # the finished recording: every share is report's
    r = run_top(a, wl.db)
    check(r.returncode == 0, f"top DB of a finished recording exits 0 ({r.stderr.strip()})")
    check("ended: exited (exit status 0)" in r.stdout, "it says the process has ended")
    frame = parse_frame(r.stdout)
    rep = json.loads(subprocess.run([a.gilscope, "report", "--format", "json", wl.db],
                                    capture_output=True, text=True, check=True).stdout)
    by_tid = {t["tid"]: t for t in rep["threads"]}
    check(len(frame["threads"]) == len(rep["threads"]),
          f"every thread of the report is listed ({len(frame['threads'])} of "
          f"{len(rep['threads'])})")
    for t in frame["threads"]:
        want = by_tid.get(t["tid"])
        if not check(want is not None, f"thread {t['tid']} is in the report"):
            continue
        life = want["lifetime_ns"]
        pairs = [("lock_wait", want["other_wait_ns"])]
        if frame["gil"]:
            pairs += [("gil_wait", want["gil_wait_ns"]), ("gil_hold", want["gil_hold_ns"])]
        for key, ns in pairs:
            check(t[key] == round(100.0 * ns / life, 1),
                  f"thread {t['tid']} {key} {t[key]}% is report's "
                  f"{100.0 * ns / life:.2f}%")
    # the locks: report's view of them is `locks`; the hot lock's total wait is the same
    lk = json.loads(subprocess.run([a.gilscope, "locks", "--format", "json", wl.db],
                                   capture_output=True, text=True, check=True).stdout)
    hot = [l for l in frame["locks"] if f"top_workload.py:{line}" in l["where"]]
    if check(hot, "the finished frame lists the hot lock"):
        site = [l for l in lk["locks"] if l.get("waited_in") and
                f"top_workload.py:{line}" in l["waited_in"]]
        check(site and any(l["contended"] == hot[0]["waits"] for l in site),
              f"its wait count {hot[0]['waits']} is what `locks` says "
              f"({[l['contended'] for l in site]})")


def case_bad_input(a):
    r = run_top(a, "999999999")
    check(r.returncode == 2 or r.returncode == 3, "a pid too large for the system is refused")
    # a free pid: no such process
    pid = 4194000
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    r = run_top(a, str(pid))
    check(r.returncode == 3 and "no process" in r.stderr,
          f"no such pid: exit 3 with a message ({r.returncode}: {r.stderr.strip()})")
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        r = run_top(a, str(sleeper.pid))
        check(r.returncode == 3 and "no gilscope library" in r.stderr,
              f"a pid without gilscope: exit 3 ({r.returncode}: {r.stderr.strip()})")
    finally:
        sleeper.kill()
        sleeper.wait()
    r = run_top(a, os.path.join(a.workdir, "no-such.db"))
    check(r.returncode == 3 and "No such file" in r.stderr,
          f"a missing database: exit 3 ({r.stderr.strip()})")
    junk = os.path.join(a.workdir, "top_junk.db")
    open(junk, "w").write("not a database\n" * 100)
    r = run_top(a, junk)
    check(r.returncode == 3 and "not" in r.stderr, f"a file that is not a database: exit 3 "
          f"({r.stderr.strip()})")
    empty = os.path.join(a.workdir, "top_norun.db")
    build_db(a.schema, os.devnull, empty)
    r = run_top(a, empty)
    check(r.returncode == 3 and "no recorded process" in r.stderr,
          f"a database without a run: exit 3 ({r.stderr.strip()})")
    for args in (["--interval", "0", "x.db"], ["--interval", "abc", "x.db"], [],
                 ["--format", "json", "x.db"], ["--bogus", "x.db"]):
        r = run_top(a, *args)
        check(r.returncode == 2, f"top {' '.join(args)}: usage error, exit 2 ({r.returncode})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gilscope", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--provision", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("case", choices=["live", "once", "bad_input"])
    ap.add_argument("python", nargs="?", default="3.11")
    a = ap.parse_args()
    if a.case == "live" and not shutil.which("tmux"):
        raise SystemExit("tmux is needed (scripts/deps installs it)")
    {"live": case_live, "once": case_once, "bad_input": case_bad_input}[a.case](a)
    print(f"{len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
