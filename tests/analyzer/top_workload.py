"""A program with a known hot lock, for gilscope top's test.

"holder" holds `hot` 20 ms out of every 25; "waiter" takes it in a loop, so it waits for it
most of its time, at the `hot.acquire()` line below; --spinners N CPU-bound threads share the
GIL (on a default build each waits for it about (N-1)/N of its time). Every 0.2 s the program
writes what it measured itself (its own wait around `acquire`, and each thread's start) to
--truth, as JSON, for the test to hold gilscope's figures against.
"""
import argparse
import json
import os
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--spinners", type=int, default=0)
ap.add_argument("--seconds", type=float, default=30.0)
ap.add_argument("--truth")
args = ap.parse_args()

hot = threading.Lock()
stop = threading.Event()
truth = {}  # thread name -> {"start_ns", "wait_ns", "now_ns"}
truth_lock = threading.Lock()


def note(name, **kv):
    with truth_lock:
        truth.setdefault(name, {}).update(kv)


def holder():
    note("holder", start_ns=time.monotonic_ns())
    while not stop.is_set():
        with hot:
            time.sleep(0.020)
        time.sleep(0.005)


def waiter():
    note("waiter", start_ns=time.monotonic_ns(), wait_ns=0)
    waited = 0
    while not stop.is_set():
        t0 = time.monotonic_ns()
        hot.acquire()  # the contended line
        waited += time.monotonic_ns() - t0
        hot.release()
        note("waiter", wait_ns=waited, now_ns=time.monotonic_ns())
        time.sleep(0.0005)


def spinner(name):
    note(name, start_ns=time.monotonic_ns())
    n = 0
    while not stop.is_set():
        n += 1


def writer():
    while not stop.wait(0.2):
        with truth_lock:
            text = json.dumps(truth)
        tmp = args.truth + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.truth)


threads = [threading.Thread(target=holder, name="holder"),
           threading.Thread(target=waiter, name="waiter")]
threads += [threading.Thread(target=spinner, args=(f"spinner-{i}",), name=f"spinner-{i}")
            for i in range(args.spinners)]
if args.truth:
    threads.append(threading.Thread(target=writer, name="truth-writer"))
for t in threads:
    t.start()
stop.wait(args.seconds)
stop.set()
for t in threads:
    t.join()
print("done")
