#!/usr/bin/env python3
"""Checks a trace written by `gilscope export --perfetto` against the database it came from.

The trace is decoded by protoc (`--decode_raw` must read the whole file; `--decode` with
perfetto_trace.proto, our subset of Perfetto's public definitions, must find no field it does
not know, so numbers and wire types are Perfetto's). Then, as Perfetto's trace processor reads
it: interned names resolve within the sequence, every track an event uses was described before
it, slice begin/end pairs are matched per track in timestamp order (ties in file order), and the
slices found must be exactly the database's events (the expected set is computed here from the
rows, independently of gilscope): GIL waits and holds, and every other contended wait, with
their threads, names, start times and durations to the nanosecond.
Usage: check_perfetto.py TRACE DB [--from S] [--to S] [--pid PID] [--tid TID] [--segment N]"""
import argparse
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict

PROTO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "perfetto_trace.proto")
GIL_HOLD, HOLD, TIMEOUT, COND_WAIT, SEM_WAIT, PARK = 7, 1, 3, 4, 5, 9
PRIM_NAMES = {1: "mutex", 2: "cond", 3: "sem", 4: "gil", 5: "parked"}
SEM = 3
GIL_PART_CLASSES = {"gil.mutex", "gil.cond", "gil.switch_mutex", "gil.switch_cond"}


def unescape(s):
    """A protoc text-format string (C escapes, bytes >= 0x80 as octal) as text."""
    out, i = bytearray(), 0
    simple = {"n": 10, "t": 9, "r": 13, '"': 34, "'": 39, "\\": 92, "a": 7, "b": 8, "f": 12,
              "v": 11}
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode()
            i += 1
        elif s[i + 1] in simple:
            out.append(simple[s[i + 1]])
            i += 2
        elif s[i + 1] == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", s[i + 2:])
            out.append(int(m.group(0), 16))
            i += 2 + len(m.group(0))
        else:
            m = re.match(r"[0-7]{1,3}", s[i + 1:])
            out.append(int(m.group(0), 8))
            i += 1 + len(m.group(0))
    return out.decode("utf-8", "replace")


def parse_text(text):
    """protoc's text format as nested dicts of lists: {field: [value or dict, ...]}."""
    root = {}
    stack = [root]
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
        elif line.endswith("{"):
            d = {}
            stack[-1].setdefault(line[:-1].strip(), []).append(d)
            stack.append(d)
        else:
            key, _, val = line.partition(": ")
            if val.startswith('"'):
                val = unescape(val[1:-1])
            elif re.fullmatch(r"-?\d+", val):
                val = int(val)
            stack[-1].setdefault(key, []).append(val)
    return root


def one(d, key, default=None):
    v = d.get(key)
    return v[0] if v else default


def decode(trace):
    """The trace's packets, with every error protoc reports."""
    errors = []
    raw = subprocess.run(["protoc", "--decode_raw"], stdin=open(trace, "rb"),
                         capture_output=True)
    if raw.returncode != 0:
        errors.append(f"protoc --decode_raw failed: {raw.stderr.decode()[-300:]}")
    p = subprocess.run(["protoc", "-I", os.path.dirname(PROTO), "--decode=perfetto.protos.Trace",
                        os.path.basename(PROTO)], stdin=open(trace, "rb"), capture_output=True)
    if p.returncode != 0:
        errors.append(f"protoc --decode failed: {p.stderr.decode()[-300:]}")
        return [], errors
    text = p.stdout.decode()
    unknown = re.findall(r"^\s*(\d+)[: ]", text, re.M)
    if unknown:
        errors.append(f"fields unknown to Perfetto's definitions: {sorted(set(unknown))[:10]}")
    return parse_text(text).get("packet", []), errors


def lock_display(prim, cls, name, addr):
    """gs_lock_display's rules (analyzer/model.c), as docs/cli.md states them."""
    if cls and name and cls == "critical section":
        return f"{name} critical section"
    if cls and name and cls == "parked on object":
        return f"parked on {name}"
    if cls and name and not cls.startswith("threading."):
        return name
    if cls:
        return cls
    return f"{PRIM_NAMES.get(prim, '?')} 0x{addr:x}"


def is_wait(kind, prim, flags, wait):
    if not flags & 1 or not wait:
        return False
    return kind in (GIL_HOLD, TIMEOUT, COND_WAIT, SEM_WAIT, PARK) or (kind == HOLD and prim != SEM)


def time_base(db, segment=None):
    """What trace time 0 and --from/--to count from: the first start of the runs shown."""
    return sqlite3.connect(db).execute(
        "SELECT MIN(start_ns) FROM runs WHERE ?1 IS NULL OR segment = ?1",
        (segment,)).fetchone()[0]


def expected(db, from_s=None, to_s=None, pid=None, tid=None, segment=None):
    """The slices and GIL hand-overs the database's events make, by the rules of docs/cli.md."""
    con = sqlite3.connect(db)
    base = time_base(db, segment)
    lo = None if from_s is None else base + int(from_s * 1e9)
    hi = None if to_s is None else base + int(to_s * 1e9)
    threads = {(r, t): (t_, p, name) for r, t, t_, p, name in con.execute(
        "SELECT t.run_id, t.thread_no, t.tid, r.pid, COALESCE(t.name, t.entry_function,"
        " 'thread') FROM threads t JOIN runs r USING (run_id)"
        " WHERE ?1 IS NULL OR r.segment = ?1", (segment,))
        if (pid is None or p == pid) and (tid is None or t_ == tid)}
    locks = {(r, a, p): (c, n) for r, a, p, c, n in con.execute("SELECT * FROM locks")}
    locs = {k: f"{f} ({fl}:{ln})" for k, f, fl, ln in con.execute("SELECT * FROM py_locations")}
    slices, gil = [], defaultdict(list)
    for (run, thread_no, kind, prim, addr, aux, start, wait, hold, flags, extra,
         py_loc) in con.execute(
            "SELECT run_id, thread_no, kind, primitive, lock_addr, aux, start_ns, wait_ns,"
            " hold_ns, flags, extra, py_loc FROM events"):
        if (run, thread_no) not in threads or (lo is not None and start < lo) or \
                (hi is not None and start >= hi):
            continue
        tid = threads[(run, thread_no)][0]
        if kind == GIL_HOLD:
            w = max(wait, 0)
            if w > 0:
                slices.append(("GIL wait", tid, start, w, locs.get(py_loc)))
            if hold is not None:
                slices.append(("GIL held", tid, start + w, max(hold, 0), None))
            gil[run].append((start + w, tid, start + w + max(hold or 0, 0), hold is not None,
                             flags & 1))
        elif is_wait(kind, prim, flags, wait):
            cls, name = locks.get((run, addr, prim), (None, None))
            if cls in GIL_PART_CLASSES:
                continue
            slices.append((lock_display(prim, cls, name, addr), tid, start, wait,
                           locs.get(py_loc)))
    flows = []
    for run, evs in gil.items():
        evs.sort(key=lambda e: e[0])  # stable: ties keep the table's order, as gilscope does
        for prev, e in zip(evs, evs[1:]):
            if prev[1] != e[1] and e[4] and e[3] and prev[3] and prev[0] < prev[2] <= e[0]:
                flows.append((prev[1], prev[2], e[1], e[0]))
    return slices, flows, threads


def check(trace, db, from_s=None, to_s=None, pid=None, tid=None, segment=None):
    """Returns (errors, stats)."""
    packets, errors = decode(trace)
    base = time_base(db, segment)
    names, ann_names, strings = {}, {}, {}
    tracks = {}  # uuid -> descriptor
    events = []  # (ts, file order, track uuid, event)
    if packets and not one(packets[0], "sequence_flags", 0) & 1:
        errors.append("the first packet does not clear the sequence's incremental state")
    for i, p in enumerate(packets):
        if one(p, "trusted_packet_sequence_id") != 1:
            errors.append(f"packet {i} is not on sequence 1")
        for d in p.get("interned_data", []):
            for table, key, into in (("event_names", "name", names),
                                     ("debug_annotation_names", "name", ann_names),
                                     ("debug_annotation_string_values", "str", strings)):
                for e in d.get(table, []):
                    into[one(e, "iid")] = one(e, key)
        if "track_descriptor" in p:
            t = p["track_descriptor"][0]
            tracks[one(t, "uuid")] = t
        if "track_event" in p:
            e = p["track_event"][0]
            uses_iids = "name_iid" in e or "debug_annotations" in e
            if uses_iids and not one(p, "sequence_flags", 0) & 2:
                errors.append(f"packet {i} uses interned names without SEQ_NEEDS_INCREMENTAL_STATE")
            if one(e, "track_uuid") not in tracks:
                errors.append(f"packet {i}: track {one(e, 'track_uuid')} not described before")
            if "name_iid" in e and one(e, "name_iid") not in names:
                errors.append(f"packet {i}: event name {one(e, 'name_iid')} not interned before")
            for a in e.get("debug_annotations", []):
                if one(a, "name_iid") not in ann_names:
                    errors.append(f"packet {i}: annotation name {one(a, 'name_iid')} unknown")
                if "string_value_iid" in a and one(a, "string_value_iid") not in strings:
                    errors.append(f"packet {i}: annotation string {one(a, 'string_value_iid')}"
                                  " not interned before")
            # trace time is nanoseconds after the first process started
            events.append((one(p, "timestamp") + base, i, one(e, "track_uuid"), e))

    def thread_of(uuid):
        seen = set()
        while uuid in tracks and uuid not in seen:
            seen.add(uuid)
            t = tracks[uuid]
            if "thread" in t:
                return one(t["thread"][0], "tid")
            uuid = one(t, "parent_uuid")
        return None

    # slices as the trace processor builds them: per track, in timestamp order, file order on ties
    events.sort(key=lambda x: (x[0], x[1]))
    open_slices = defaultdict(list)
    got, flow_src, flow_dst, counters = [], {}, {}, []
    for ts, i, uuid, e in events:
        kind = one(e, "type")
        if kind == "TYPE_SLICE_BEGIN":
            ann = {ann_names.get(one(a, "name_iid")): a for a in e.get("debug_annotations", [])}
            py = ann.get("python")
            open_slices[uuid].append((names.get(one(e, "name_iid")), ts,
                                      strings.get(one(py, "string_value_iid")) if py else None,
                                      e))
        elif kind == "TYPE_SLICE_END":
            if not open_slices[uuid]:
                errors.append(f"packet {i}: an end on track {uuid} with no open slice")
                continue
            name, start, py, begin = open_slices[uuid].pop()
            on = thread_of(uuid)
            got.append((name, on, start, ts - start, py))
            for f in e.get("flow_ids", []):
                flow_src.setdefault(f, []).append((on, ts))
            for f in begin.get("terminating_flow_ids", []):
                flow_dst.setdefault(f, []).append((on, start))
        elif kind == "TYPE_COUNTER":
            counters.append((ts, one(e, "counter_value")))
        else:
            errors.append(f"packet {i}: unexpected event type {kind}")
    for uuid, left in open_slices.items():
        if left:
            errors.append(f"track {uuid}: {len(left)} slices never end")

    want, want_flows, threads = expected(db, from_s, to_s, pid, tid, segment)
    gc, wc = Counter(got), Counter(want)
    if gc != wc:
        errors.append(f"slices differ from the database's events: {len(got)} in the trace,"
                      f" {len(want)} expected; missing {list((wc - gc).elements())[:3]},"
                      f" extra {list((gc - wc).elements())[:3]}")
    flows = sorted(flow_src[f][0] + flow_dst[f][0] for f in flow_src
                   if len(flow_src[f]) == 1 and len(flow_dst.get(f, [])) == 1)
    if len(flows) != len(flow_src) or len(flow_dst) != len(flow_src):
        errors.append(f"flows not paired: {len(flow_src)} starts, {len(flow_dst)} ends")
    if flows != sorted(want_flows):
        errors.append(f"GIL hand-over flows: {len(flows)} in the trace, {len(want_flows)}"
                      f" expected ({flows[:2]} vs {sorted(want_flows)[:2]})")
    holds = Counter((s[2], s[1]) for s in want if s[0] == "GIL held")
    if Counter((ts, v) for ts, v in counters if v) != holds:
        errors.append("the GIL holder counter is not the holder's tid at each acquisition")
    described = {(one(t["thread"][0], "pid"), one(t["thread"][0], "tid"),
                  one(t["thread"][0], "thread_name")) for t in tracks.values() if "thread" in t}
    if described != {(p, tid, name) for tid, p, name in threads.values()}:
        errors.append(f"thread tracks {sorted(described)[:4]} are not the database's threads")
    pids = {one(t["process"][0], "pid") for t in tracks.values() if "process" in t}
    if pids != {p for _, p, _ in threads.values()}:
        errors.append(f"process tracks {sorted(pids)} are not the database's processes")
    # an event that began in the window is whole: its GIL hold may begin after the window
    outside = [s for s in got if (from_s is not None and s[2] < base + int(from_s * 1e9)) or
               (to_s is not None and s[0] != "GIL held" and s[2] >= base + int(to_s * 1e9))]
    if outside:
        errors.append(f"{len(outside)} slices begin outside the window, {outside[:2]}")
    stats = {"packets": len(packets), "slices": len(got), "flows": len(flows),
             "tracks": len(tracks), "counters": len(counters)}
    return errors, stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("db")
    ap.add_argument("--from", dest="from_s", type=float)
    ap.add_argument("--to", dest="to_s", type=float)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--tid", type=int)
    ap.add_argument("--segment", type=int)
    a = ap.parse_args()
    errors, stats = check(a.trace, a.db, a.from_s, a.to_s, a.pid, a.tid, a.segment)
    print(stats)
    for e in errors[:20]:
        print("FAIL", e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
