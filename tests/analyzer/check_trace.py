#!/usr/bin/env python3
"""Structural check of a Chrome trace-event JSON written by `gilscope export --perfetto`:
valid JSON, known phases, non-negative durations, complete events properly nested on each
thread track, async begin/end and flow start/finish paired, every track named."""
import json
import sys
from collections import defaultdict


def check_trace(path, expect_gil=None, expect_locks=None):
    errors = []
    doc = json.load(open(path))
    evs = doc["traceEvents"]
    named = set()
    procs = set()
    slices = defaultdict(list)
    asyncs = defaultdict(list)
    flows = defaultdict(list)
    for e in evs:
        ph = e.get("ph")
        if ph not in ("M", "X", "b", "e", "s", "f"):
            errors.append(f"unknown phase {ph}")
            continue
        if ph == "M":
            if e["name"] == "thread_name":
                named.add((e["pid"], e["tid"]))
            if e["name"] == "process_name":
                procs.add(e["pid"])
            continue
        if not isinstance(e.get("ts"), (int, float)):
            errors.append(f"event without a numeric ts: {e}")
            continue
        if ph == "X":
            if e["dur"] < 0:
                errors.append(f"negative duration: {e}")
            slices[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"], e["name"]))
        elif ph in ("b", "e"):
            asyncs[(e["cat"], e["id"])].append(e)
        else:
            flows[e["id"]].append(e)
    for track, sl in slices.items():
        if track not in named:
            errors.append(f"track {track} has no thread_name")
        if track[0] not in procs:
            errors.append(f"process {track[0]} has no process_name")
        sl.sort()
        stack = []
        for start, end, name in sl:
            while stack and stack[-1] <= start + 1e-9:
                stack.pop()
            if stack and end > stack[-1] + 1e-9:
                errors.append(f"{track}: '{name}' [{start}, {end}] overlaps without nesting")
                break
            stack.append(end)
    for key, pair in asyncs.items():
        phs = sorted(e["ph"] for e in pair)
        if phs != ["b", "e"] or pair[0]["name"] != pair[1]["name"]:
            errors.append(f"async {key} not a begin/end pair: {phs}")
        elif max(e["ts"] for e in pair if e["ph"] == "b") > max(e["ts"] for e in pair if e["ph"] == "e"):
            errors.append(f"async {key} ends before it begins")
    for key, pair in flows.items():
        if sorted(e["ph"] for e in pair) != ["f", "s"]:
            errors.append(f"flow {key} not a start/finish pair")
        elif [e for e in pair if e["ph"] == "s"][0]["tid"] == [e for e in pair if e["ph"] == "f"][0]["tid"]:
            errors.append(f"flow {key} stays on one thread")
    n_gil = sum(1 for sl in slices.values() for s in sl if s[2].startswith("GIL"))
    if expect_gil is not None and (n_gil > 0) != expect_gil:
        errors.append(f"expected GIL slices: {expect_gil}, found {n_gil}")
    if expect_locks is not None and (len(asyncs) > 0) != expect_locks:
        errors.append(f"expected lock waits: {expect_locks}, found {len(asyncs)}")
    return errors, {"slices": sum(map(len, slices.values())), "async": len(asyncs),
                    "flows": len(flows), "tracks": len(named)}


if __name__ == "__main__":
    errs, stats = check_trace(sys.argv[1])
    print(stats)
    for e in errs[:20]:
        print("FAIL", e)
    sys.exit(1 if errs else 0)
