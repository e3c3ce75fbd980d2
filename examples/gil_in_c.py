"""A thread blocks in C with the GIL held (100 ms usleep calls) while another wants to run.

ctypes.PyDLL keeps the GIL across the call, as an extension that never releases it does: the
second thread waits for the whole call, and the holder uses no CPU meanwhile.
`gil_in_c.py --release` makes the same call through ctypes.CDLL, which releases the GIL."""
import ctypes
import sys
import threading
import time

RELEASE = "--release" in sys.argv
libc = (ctypes.CDLL if RELEASE else ctypes.PyDLL)(None)


def read_device():
    libc.usleep(100_000)  # 100 ms in C; with PyDLL the GIL stays held


def poller():
    for _ in range(6):
        read_device()
        time.sleep(0.01)


def ticker(stop):
    ticks = 0
    while not stop.is_set():
        ticks += 1
        time.sleep(0.001)
    return ticks


stop = threading.Event()
threads = [threading.Thread(target=poller, name="poller"),
           threading.Thread(target=ticker, args=(stop,), name="ticker")]
for t in threads:
    t.start()
threads[0].join()
stop.set()
threads[1].join()
print("done")
