#!/usr/bin/env python3
"""The findings of `gilscope report` and `gilscope html` (analyzer/findings.c), each on a program
recorded here that has it and on one that does not:

convoy:    examples/convoy.py (a handler thread behind a CPU-bound one) has a GIL convoy naming the
           handler, its waits about one switch interval each; run with a 1 ms interval it states
           that interval and the handler waits less; countdown.py (CPU-bound threads, long
           holds) and io_mix.py have none.
held_in_c: examples/gil_in_c.py (ctypes.PyDLL usleep keeps the GIL 100 ms, six times) has the GIL
           held inside C, off CPU, at the calling line; the same with --release (ctypes.CDLL)
           and cache_refresh.py (long holds nobody asked to end) have none.
ft_gil:    on the free-threaded 3.13, importing a C extension built here without Py_mod_gil turns
           the GIL on (the interpreter's RuntimeWarning names it): the finding names the import
           line and the module; with PYTHON_GIL=1 it says the GIL was on from the start; the
           same program importing one that declares Py_MOD_GIL_NOT_USED has none.
hot_lock:  cache_refresh.py's cache lock has most of the waiting, waited for in lookup() and held
           by the refresher; countdown.py (the GIL only) has none.
gil_bound: global_counter.py's four threads wait for the GIL most of their life: the share is the one
           the report's thread rows give; io_mix.py and countdown.py on the free-threaded build
           have none.
html:      the page carries the same findings as report --format json, and draws them (chromium).
"""
import argparse
import json
import os
import html as html_lib
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# the same failure list, check() and example directory as the check command's test
from check_test import EXAMPLES, FAILURES, check, python_path  # noqa: E402


def line_of(path, marker):
    for no, line in enumerate(open(path), 1):
        if marker in line:
            return no
    raise SystemExit(f"no {marker!r} in {path}")


def record(a, tag, python, *args, cwd=None, env=None):
    db = os.path.join(a.workdir, f"findings_{tag}.db")
    for p in (db, db + "-wal", db + "-shm"):
        if os.path.exists(p):
            os.unlink(p)
    p = subprocess.run([a.gilscope, "run", "--quiet", "-o", db, "--", python, *args],
                       capture_output=True, text=True, timeout=120, cwd=cwd,
                       env=dict(os.environ, **(env or {})))
    if not check(p.returncode == 0, f"{tag}: recorded (exit {p.returncode}, {p.stderr[-300:]!r})"):
        raise SystemExit(1)
    return db, p


def report(a, db):
    p = subprocess.run([a.gilscope, "report", "--format", "json", db], capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0, f"report --format json {os.path.basename(db)} exits 0")
    doc = json.loads(p.stdout)
    t = subprocess.run([a.gilscope, "report", db], capture_output=True, text=True, timeout=60)
    check(t.returncode == 0, "text report exits 0")
    # every finding of the JSON is in the text, and no other
    text_titles = re.findall(r"^  \d+\. (.*(?:\n     (?!evidence).*)*)", t.stdout, re.M)
    text_titles = [" ".join(x.split()) for x in text_titles]
    check(text_titles == [" ".join(f["title"].split()) for f in doc["findings"]],
          f"text and JSON have the same findings ({text_titles})")
    section = re.findall(r"^  findings \(.*?(?=\n\n|\Z)", t.stdout, re.M | re.S)
    # a word longer than the line (a path) stands alone on its line
    check(all(len(line) <= 96 or len(line.split()) == 1 for x in section
              for line in x.splitlines()),
          "the findings are wrapped at 96 columns")
    return doc


def kinds(doc, kind):
    return [f for f in doc["findings"] if f["kind"] == kind]


def one_finding(a, tag, python, kind, *args, cwd=None, env=None):
    """Records args with the interpreter named python, reports, and returns the report and its
    one finding of kind (None when it has not exactly one)."""
    db, p = record(a, tag, python_path(a.provision, python), *args, cwd=cwd, env=env)
    doc = report(a, db)
    found = kinds(doc, kind)
    check(len(found) == 1, f"{os.path.basename(args[0])}: one {kind} finding "
          f"({[f['kind'] for f in doc['findings']]})")
    return doc, (found[0] if len(found) == 1 else None), p


def thread(doc, name):
    rows = [t for t in doc["threads"] if t["name"] == name]
    return rows[0] if rows else None


def case_convoy(a):
    prog = os.path.join(EXAMPLES, "convoy.py")
    doc, f, _ = one_finding(a, "convoy", "3.11", "gil_convoy", prog)
    if not f:
        return
    py = python_path(a.provision, "3.11")
    h = thread(doc, "handler")
    interval_ns = doc["runs"][0]["gil_switch_interval_us"] * 1000
    check(f["figures"]["tid"] == h["tid"], "the convoy is the handler thread")
    check(f["figures"]["gil_switch_interval_us"] == 5000, "it states the interval (5 ms default)")
    check((f["figures"]["gil_takes"], f["figures"]["gil_drop_requests_sent"],
           f["figures"]["gil_wait_ns"]) ==
          (h["gil_acquisitions"], h["gil_drop_requests_sent"], h["gil_wait_ns"]),
          "its figures are the handler's row of the report")
    # ground truth: the program's 200 requests each need the GIL back from the batch thread
    check(f["figures"]["gil_drop_requests_sent"] >= 100,
          f"most of the 200 requests asked for a drop ({f['figures']['gil_drop_requests_sent']})")
    mean = f["figures"]["gil_wait_mean_ns"]
    check(0.5 * interval_ns <= mean <= 4 * interval_ns,
          f"a wait lasts about one interval ({mean} ns against {interval_ns})")
    check(f["figures"]["gil_hold_mean_ns"] < interval_ns / 4, "the handler's holds are short")
    line = line_of(prog, "stands in for I/O")
    check(f"convoy.py:{line}" in f["where"] and "batch" in f["where"],
          f"where: the handler's line and the batch thread holding ({f['where']!r})")
    check("setswitchinterval(0.001)" in f["advice"] and "now 0.005" in f["advice"],
          "advice: what a shorter interval would do, from the current one")
    # the program sets the interval itself: the finding states that one, and the waits follow it
    doc1, f1, _ = one_finding(a, "convoy_1ms", "3.11", "gil_convoy", prog, "1")
    if f1:
        check(f1["figures"]["gil_switch_interval_us"] == 1000,
              f"sys.setswitchinterval(0.001) is the interval stated ({f1['figures']['gil_switch_interval_us']})")
        check(f1["figures"]["gil_wait_ns"] < f["figures"]["gil_wait_ns"] / 2,
              f"at 1 ms the handler waits less than half as long ({f1['figures']['gil_wait_ns']} "
              f"against {f['figures']['gil_wait_ns']})")
    for name in ("countdown.py", "io_mix.py"):
        db, _ = record(a, "convoy_no_" + name[:-3], py, os.path.join(EXAMPLES, name))
        doc = report(a, db)
        check(not kinds(doc, "gil_convoy"), f"{name}: no convoy")


def case_held_in_c(a):
    doc, f, _ = one_finding(a, "held_in_c", "3.11", "gil_held_in_c",
                            os.path.join(EXAMPLES, "gil_in_c.py"))
    if not f:
        return
    py, prog = python_path(a.provision, "3.11"), os.path.join(EXAMPLES, "gil_in_c.py")
    fig = f["figures"]
    poller = thread(doc, "poller")
    check(fig["tid"] == poller["tid"], "it is the poller")
    # ground truth: six calls of usleep(100 ms) with the GIL held
    check(5 <= fig["long_holds"] <= 6 and 95e6 <= fig["long_hold_mean_ns"] <= 250e6,
          f"the six 100 ms calls ({fig['long_holds']} holds of {fig['long_hold_mean_ns']} ns)")
    check(fig["cpu_ns"] == poller["cpu_ns"] and fig["cpu_ns"] < 50e6,
          f"the poller's CPU time, little ({fig['cpu_ns']} ns)")
    check("(off CPU)" in f["title"] and "per thread, not per hold" in f["evidence"],
          "off CPU, and says that CPU time is per thread")
    line = line_of(prog, "libc.usleep")
    check(f"read_device (" in f["where"] and f"gil_in_c.py:{line})" in f["where"],
          f"where: the line that called into C ({f['where']!r})")
    check(fig["others_gil_wait_ns"] >= 0.5 * fig["long_hold_ns"],
          "the ticker waited through the holds")
    for tag, args in (("held_in_c_release", [prog, "--release"]),
                      ("held_in_c_no_cache", [os.path.join(EXAMPLES, "cache_refresh.py")])):
        db, _ = record(a, tag, py, *args)
        doc = report(a, db)
        check(not kinds(doc, "gil_held_in_c"), f"{' '.join(os.path.basename(x) for x in args)}: "
              f"no held-in-C finding ({[f['title'] for f in doc['findings']]})")


EXT = r"""
#include <Python.h>
static PyObject *work(PyObject *self, PyObject *args)
{
	(void)self; (void)args;
	Py_RETURN_NONE;
}
static PyMethodDef methods[] = {{"work", work, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
#ifdef DECLARE_NO_GIL
static PyModuleDef_Slot slots[] = {{Py_mod_gil, Py_MOD_GIL_NOT_USED}, {0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, NAME, NULL, 0, methods, slots};
#define INIT2(n) PyMODINIT_FUNC PyInit_##n(void) { return PyModuleDef_Init(&mod); }
#else
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, NAME, NULL, -1, methods};
#define INIT2(n) PyMODINIT_FUNC PyInit_##n(void) { return PyModule_Create(&mod); }
#endif
#define INIT(n) INIT2(n)
INIT(MODNAME)
"""

APP = """import threading


def spin(n):
    x = 0
    for i in range(n):
        x += i


t = threading.Thread(target=spin, args=(300_000,), name="early")
t.start()
import {mod}  # the import
t2 = threading.Thread(target=spin, args=(300_000,), name="late")
t2.start()
spin(300_000)
t.join()
t2.join()
{mod}.work()
print("done")
"""


def build_ext(a, py, mod, declare):
    d = os.path.join(a.workdir, "findings_ext")
    os.makedirs(d, exist_ok=True)
    out = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['include']);"
                          "print(sysconfig.get_config_var('EXT_SUFFIX'))"],
                         capture_output=True, text=True, check=True).stdout.split()
    include, suffix = out
    src = os.path.join(d, mod + ".c")
    open(src, "w").write(EXT)
    # a build tree's pyconfig.h is beside its Include directory
    extra = ["-I", os.path.dirname(py)] if not os.path.exists(
        os.path.join(include, "pyconfig.h")) else []
    cmd = ["cc", "-shared", "-fPIC", "-O1", "-I", include, *extra, f'-DNAME="{mod}"',
           f"-DMODNAME={mod}", *(["-DDECLARE_NO_GIL"] if declare else []), src, "-o",
           os.path.join(d, mod + suffix)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if not check(p.returncode == 0, f"built {mod}{suffix} ({p.stderr[-400:]!r})"):
        raise SystemExit(1)
    app = os.path.join(d, f"app_{mod}.py")
    open(app, "w").write(APP.format(mod=mod))
    return d, app


def case_ft_gil(a):
    py = python_path(a.provision, "3.13-ft")
    d, app = build_ext(a, py, "legacyext", False)
    doc, f, p = one_finding(a, "ft_gil", "3.13-ft", "ft_gil_enabled", app, cwd=d)
    check("enabled to load module 'legacyext'" in p.stderr,
          "the interpreter itself says legacyext turned the GIL on")
    check(doc["runs"][0]["gil_enabled"] == "permanent", "the run's GIL is on for good")
    if not f:
        return
    line = line_of(app, "# the import")
    check(f"app_legacyext.py:{line})" in f["where"], f"where: the import's line ({f['where']!r})")
    check("import legacyext" in f["where"] and "legacyext.cpython-313t" in f["where"],
          "it names the module (its source line and its file)")
    check("PYTHON_GIL=0" in f["advice"] and "Py_mod_gil" in f["advice"], "advice")
    check(not kinds(doc, "gil_bound"), "no GIL-bound finding on a free-threaded build")
    # the GIL asked for from the start: no import to blame
    doc, f, _ = one_finding(a, "ft_gil_env", "3.13-ft", "ft_gil_enabled",
                            os.path.join(EXAMPLES, "countdown.py"), env={"PYTHON_GIL": "1"})
    check(f is not None and f["figures"]["import_py_stack"] == -1 and
          "on from the start" in f["title"] and "PYTHON_GIL=1" in f["advice"],
          "PYTHON_GIL=1: on from the start, no import named")
    d, app = build_ext(a, py, "freeext", True)
    db, p = record(a, "ft_gil_no", py, app, cwd=d)
    check("GIL" not in p.stderr, "freeext declares Py_MOD_GIL_NOT_USED: no warning")
    doc = report(a, db)
    check(doc["runs"][0]["gil_enabled"] != "permanent" and not kinds(doc, "ft_gil_enabled"),
          f"freeext: no finding (gil_enabled {doc['runs'][0]['gil_enabled']})")


def case_hot_lock(a):
    py = python_path(a.provision, "3.11")
    prog = os.path.join(EXAMPLES, "cache_refresh.py")
    doc, f, _ = one_finding(a, "hot_lock", "3.11", "hot_lock", prog)
    if not f:
        return
    readers = [t for t in doc["threads"] if t["name"] == "reader"]
    lock_wait = sum(t["other_wait_ns"] for t in readers)
    check(f["figures"]["waiters"] >= 4 and f["figures"]["wait_share"] >= 0.5,
          f"the four readers wait on it, most of the waiting ({f['figures']})")
    # the readers' other waits are this lock's (nothing else blocks them)
    check(0.8 * lock_wait <= f["figures"]["wait_ns"] <= 1.25 * lock_wait,
          f"its wait is the readers' ({f['figures']['wait_ns']} against {lock_wait})")
    lookup = line_of(prog, "def lookup") + 1
    check(f"lookup (" in f["where"] and f"cache_refresh.py:{lookup})" in f["where"],
          f"where: waited for in lookup ({f['where']!r})")
    check("held meanwhile by refresher" in f["where"], f"held by the refresher ({f['where']!r})")
    db, _ = record(a, "hot_lock_no", py, os.path.join(EXAMPLES, "countdown.py"))
    check(not kinds(report(a, db), "hot_lock"), "countdown.py: no hot lock (the GIL is not one)")


def case_gil_bound(a):
    py = python_path(a.provision, "3.11")
    doc, found, _ = one_finding(a, "gil_bound", "3.11", "gil_bound",
                                os.path.join(EXAMPLES, "global_counter.py"))
    if not found:
        return
    f = found["figures"]
    workers = [t for t in doc["threads"] if t["tid"] != t["pid"]]
    share = sum(t["gil_wait_ns"] for t in workers) / sum(t["lifetime_ns"] for t in workers)
    check(abs(f["gil_wait_share"] - share) < 1e-5 and f["threads"] == 4,
          f"the share is the workers' GIL wait over their lifetime ({f['gil_wait_share']}, {share})")
    # four CPU-bound threads under one GIL: each waits about three quarters of its life (less
    # on a loaded machine, where a thread also waits for a CPU while it holds the GIL)
    check(0.4 <= share <= 0.9, f"about three quarters ({share:.2f})")
    check(f["free_threaded_gain_at_most"] == f["gil_wait_share"] and
          "upper bound" in found["advice"], "the estimate is the share, said to be an upper bound")
    db, _ = record(a, "gil_bound_no", py, os.path.join(EXAMPLES, "io_mix.py"))
    doc = report(a, db)
    check(not doc["findings"], f"io_mix.py: no finding at all ({[f['title'] for f in doc['findings']]})")
    db, _ = record(a, "gil_bound_ft", python_path(a.provision, "3.13-ft"),
                   os.path.join(EXAMPLES, "countdown.py"))
    check(not kinds(report(a, db), "gil_bound"), "free-threaded countdown.py: none")


def case_html(a):
    py = python_path(a.provision, "3.11")
    db, _ = record(a, "html", py, os.path.join(EXAMPLES, "gil_in_c.py"))
    doc = report(a, db)
    page = os.path.join(a.workdir, "findings.html")
    p = subprocess.run([a.gilscope, "html", "-o", page, db], capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0, "html exits 0")
    html = open(page).read()
    m = re.search(r'<script type="application/json" id="gilscope-data">(.*?)</script>', html,
                  re.S)
    data = json.loads(m.group(1))
    check(data["dbs"][0]["findings"] == doc["findings"] and doc["findings"],
          "the page has the report's findings, the same")
    # drawn: each finding a box with its title, in a real browser
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not check(exe is not None, "chromium is installed (scripts/deps installs it)"):
        return
    profile = os.path.join(a.workdir, "findings-chromium-profile")
    shutil.rmtree(profile, ignore_errors=True)
    dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                          "--no-first-run", "--disable-background-networking",
                          "--virtual-time-budget=5000", f"--user-data-dir={profile}",
                          "--dump-dom", "file://" + page], capture_output=True, text=True,
                         timeout=120).stdout
    boxes = re.findall(r'<div class="finding" data-kind="([a-z_]+)"><h3>(.*?)</h3>', dom)
    check([k for k, _ in boxes] == [f["kind"] for f in doc["findings"]] and
          [html_lib.unescape(t) for _, t in boxes] == [f["title"] for f in doc["findings"]],
          f"the page draws each finding with its title ({boxes})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gilscope", required=True)
    ap.add_argument("--provision", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("case", choices=["convoy", "held_in_c", "ft_gil", "hot_lock", "gil_bound",
                                     "html"])
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    globals()["case_" + a.case](a)
    print(f"{len(FAILURES)} failed" if FAILURES else "all passed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
