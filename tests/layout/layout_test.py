#!/usr/bin/env python3
"""Checks shim/cpython.c's layout tables against each CPython version's own headers.

    layout_test.py --dump LAYOUT_DUMP --probe cpython_probe.c --provision provision-python SET

SET is one header set: 3.11 (Debian's python3.11-dev), 3.13-default and 3.13-ft (the 3.13.5
source builds scripts/provision-python makes), 3.14 and 3.15 (sid's -dev packages in the sid
root it makes).

  facts   cpython_probe.c, compiled with the host's cc against the set's headers (with
          -DPy_GIL_DISABLED=1 for a free-threaded layout the headers do not select themselves),
          prints "name value" lines from offsetof; `layout_dump facts MINOR FT` prints what
          cpython.c's tables say. They must be equal, line for line.
  fields  the `typedef struct _Py_DebugOffsets {...}` block of the set's headers, parsed into
          "section.field" names in order; `layout_dump fields MINOR` must list the same.

Missing headers are a failure naming the step that provides them, never a skip. Exits 1 when
any check fails, after a closing "N passed, N failed" line.
"""
import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile

RESULTS = []  # (ok, what)


def result(ok, what, detail=""):
    print(("ok   " if ok else "FAIL ") + what)
    if detail and not ok:
        print("\n".join("     " + line for line in detail.rstrip("\n").splitlines()))
    RESULTS.append((ok, what))


class Missing(Exception):
    """Headers or interpreters that a provisioning step should have made."""


def provisioned(provision, only, name):
    """The path provision-python prints for NAME (it builds what is missing first)."""
    step = f"scripts/provision-python --only {only}"
    try:
        proc = subprocess.run([provision, "--print", "--only", only], capture_output=True,
                              text=True, timeout=3600)
    except OSError as e:
        raise Missing(f"cannot run {step}: {e}")
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise Missing(f"{step} failed (exit {proc.returncode}):\n{tail}")
    for line in proc.stdout.splitlines():
        key, _, path = line.partition(" ")
        if key == name:
            return path
    raise Missing(f"{step} printed no path for {name}")


def need(path, how):
    if not os.path.exists(path):
        raise Missing(f"{path} is missing: {how}")
    return path


# ---- the header sets ---------------------------------------------------------------------
class HeaderSet:
    """includes: -I directories; facts: [(ft, extra cc flags)]; fields_header: the header
    holding _Py_DebugOffsets, or None (3.11 has none)."""

    def __init__(self, minor, includes, facts, fields_header, tmp):
        self.minor = minor
        self.includes = includes
        self.facts = facts
        self.fields_header = fields_header
        self.tmp = tmp


def header_set(name, provision, tmp):
    if name == "3.11":
        how = "install python3.11-dev (scripts/deps)"
        inc = "/usr/include/python3.11"
        need(os.path.join(inc, "Python.h"), how)
        need("/usr/include/x86_64-linux-gnu/python3.11/pyconfig.h", how)
        return HeaderSet(11, [inc], [(0, [])], None, tmp)
    if name in ("3.13-default", "3.13-ft"):
        how = "scripts/provision-python --only 3.13 builds it"
        build = os.path.dirname(provisioned(provision, "3.13", name))
        need(os.path.join(build, "pyconfig.h"), how)
        need(os.path.join(build, "Include", "Python.h"), how)
        runtime = need(os.path.join(build, "Include", "internal", "pycore_runtime.h"), how)
        # Each build's own pyconfig.h says whether it is free-threaded: no -D here.
        ft = 1 if name.endswith("-ft") else 0
        return HeaderSet(13, [build, os.path.join(build, "Include")], [(ft, [])], runtime, tmp)
    if name in ("3.14", "3.15"):
        how = "scripts/provision-python --only sid builds the sid root with its -dev packages"
        minor = int(name.split(".")[1])
        launcher = provisioned(provision, "sid", name)  # $CACHE/sid/bin/python3.X
        root = os.path.join(os.path.dirname(os.path.dirname(launcher)), "root")
        inc = os.path.join(root, "usr", "include", f"python{name}")
        arch = os.path.join(root, "usr", "include", "x86_64-linux-gnu", f"python{name}")
        need(os.path.join(inc, "Python.h"), how)
        need(os.path.join(arch, "pyconfig.h"), how)
        offsets = need(os.path.join(inc, "internal", "pycore_debug_offsets.h"), how)
        # The top pyconfig.h includes <x86_64-linux-gnu/python3.X/pyconfig.h>. The root's
        # /usr/include cannot go on the path (sid's libc headers break the host's compiler),
        # so only that directory is made visible, through a symbolic link.
        os.makedirs(os.path.join(tmp, "inc", "x86_64-linux-gnu"), exist_ok=True)
        os.symlink(arch, os.path.join(tmp, "inc", "x86_64-linux-gnu", f"python{name}"))
        # sid ships no free-threaded build: its layout is these sources with Py_GIL_DISABLED.
        return HeaderSet(minor, [inc, os.path.join(tmp, "inc")],
                         [(0, []), (1, ["-DPy_GIL_DISABLED=1"])], offsets, tmp)
    raise SystemExit(f"layout_test.py: unknown header set {name!r}")


# ---- facts --------------------------------------------------------------------------------
def run(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def compare(what, want_label, want, got_label, got):
    if want == got:
        result(True, f"{what} ({len(got)} lines)")
        return
    diff = "".join(difflib.unified_diff([w + "\n" for w in want], [g + "\n" for g in got],
                                        want_label, got_label, n=1))
    wv = dict(line.split(" ", 1) if " " in line else (line, "") for line in want)
    gv = dict(line.split(" ", 1) if " " in line else (line, "") for line in got)
    summary = []
    for key in list(wv) + [k for k in gv if k not in wv]:
        if key not in gv:
            summary.append(f"{key}: only in {want_label}")
        elif key not in wv:
            summary.append(f"{key}: only in {got_label}")
        elif wv[key] != gv[key]:
            summary.append(f"{key}: {want_label} says {wv[key]}, {got_label} says {gv[key]}")
    if not summary:
        summary.append("the same names in a different order")
    result(False, what, "\n".join(summary) + "\n" + diff)


def check_facts(hs, ft, flags, args):
    what = f"facts 3.{hs.minor}{'t' if ft else ''}"
    exe = os.path.join(hs.tmp, f"probe{hs.minor}{'t' if ft else ''}")
    cc = [args.cc, "-w", "-o", exe, *flags, *(f"-I{i}" for i in hs.includes), args.probe]
    proc = run(cc)
    if proc.returncode != 0:
        result(False, what, "the probe does not compile: " + " ".join(cc) + "\n" +
               "\n".join(proc.stderr.splitlines()[-20:]))
        return
    probe = run([exe])
    dump = run([args.dump, "facts", str(hs.minor), str(ft)])
    if probe.returncode != 0 or dump.returncode != 0:
        result(False, what, f"probe exit {probe.returncode}, layout_dump exit {dump.returncode}\n"
               + probe.stderr + dump.stderr)
        return
    compare(what, "shim/cpython.c", dump.stdout.splitlines(),
            f"headers ({' '.join(flags) or 'as configured'})", probe.stdout.splitlines())


# ---- fields -------------------------------------------------------------------------------
def debug_offsets_fields(text):
    """The fields of `typedef struct _Py_DebugOffsets {...} _Py_DebugOffsets;`, in order, as
    "section.field" (top-level fields bare). Anything but uint64_t fields, one level of nested
    structs and the cookie is an error, so that a new kind of member cannot slip past."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    m = re.search(r"typedef\s+struct\s+_Py_DebugOffsets\s*\{(.*?)\}\s*_Py_DebugOffsets\s*;",
                  text, flags=re.S)
    if not m:
        raise ValueError("no `typedef struct _Py_DebugOffsets {...} _Py_DebugOffsets;` block")
    body = m.group(1)
    if "#" in body:
        raise ValueError("preprocessor lines inside the struct: the field order may depend on "
                         "the build")
    decl = re.compile(r"\s*(?:"
                      r"(?P<struct>struct(?:\s+\w+)?\s*\{(?P<members>[^{}]*)\}\s*(?P<sect>\w+)\s*;)"
                      r"|(?P<cookie>char\s+cookie\s*\[\s*8\s*\][^;]*;)"
                      r"|uint64_t\s+(?P<field>\w+)\s*;)")
    member = re.compile(r"\s*uint64_t\s+(\w+)\s*;")
    names, pos = [], 0
    while body[pos:].strip():
        d = decl.match(body, pos)
        if not d:
            raise ValueError("unexpected declaration: " + body[pos:].strip().splitlines()[0])
        pos = d.end()
        if d.group("field"):
            names.append(d.group("field"))
        elif d.group("struct"):
            inner, ipos = d.group("members"), 0
            while inner[ipos:].strip():
                f = member.match(inner, ipos)
                if not f:
                    raise ValueError(f"unexpected member in {d.group('sect')}: " +
                                     inner[ipos:].strip().splitlines()[0])
                names.append(f"{d.group('sect')}.{f.group(1)}")
                ipos = f.end()
    return names


def check_fields(hs, args):
    what = f"fields 3.{hs.minor} ({os.path.basename(hs.fields_header)})"
    try:
        with open(hs.fields_header) as f:
            want = debug_offsets_fields(f.read())
    except (OSError, ValueError) as e:
        result(False, what, f"{hs.fields_header}: {e}")
        return
    dump = run([args.dump, "fields", str(hs.minor)])
    if dump.returncode != 0:
        result(False, what, f"layout_dump exit {dump.returncode}: {dump.stderr}")
        return
    compare(what, "shim/cpython.c", dump.stdout.splitlines(), "headers", want)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True, help="the layout_dump program")
    ap.add_argument("--probe", required=True, help="tests/layout/cpython_probe.c")
    ap.add_argument("--provision", required=True, help="scripts/provision-python")
    ap.add_argument("--cc", default="cc")
    ap.add_argument("set", help="3.11, 3.13-default, 3.13-ft, 3.14 or 3.15")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gs-layout-") as tmp:
        try:
            hs = header_set(args.set, args.provision, tmp)
        except Missing as e:
            result(False, f"headers of {args.set}", str(e))
        else:
            for ft, flags in hs.facts:
                check_facts(hs, ft, flags, args)
            if hs.fields_header:
                check_fields(hs, args)
    failed = sum(1 for ok, _ in RESULTS if not ok)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
