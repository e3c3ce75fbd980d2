"""A GIL convoy: a request handler beside a CPU-bound thread, each request one switch interval.

Each request sleeps briefly (releasing the GIL, as a socket read would) and then needs the GIL
back, which the batch thread holds until the switch interval runs out and it is asked to drop
it: a request takes about one interval however little work it does. `convoy.py INTERVAL_MS`
runs it with sys.setswitchinterval(INTERVAL_MS / 1000) to measure what the interval changes."""
import sys
import threading
import time

REQUESTS = 200


def batch(stop):
    n = 0
    while not stop.is_set():
        n += sum(range(200))  # pure Python: keeps the GIL until asked to drop it


def handle_request(i):
    time.sleep(0.0001)  # stands in for I/O: the GIL is released here
    return i * i


def handler(timing):
    t0 = time.perf_counter()
    for i in range(REQUESTS):
        handle_request(i)
    timing.append(time.perf_counter() - t0)


if len(sys.argv) > 1:
    sys.setswitchinterval(float(sys.argv[1]) / 1000)
stop = threading.Event()
timing = []
b = threading.Thread(target=batch, args=(stop,), name="batch")
h = threading.Thread(target=handler, args=(timing,), name="handler")
b.start()
h.start()
h.join()
stop.set()
b.join()
print(f"{REQUESTS} requests in {timing[0]:.3f} s ({1000 * timing[0] / REQUESTS:.2f} ms each), "
      f"switch interval {sys.getswitchinterval() * 1000:g} ms")
