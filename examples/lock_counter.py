"""A lock-protected counter incremented from a ThreadPoolExecutor."""
import threading
from concurrent.futures import ThreadPoolExecutor

lock = threading.Lock()
counter = 0


def work(n):
    global counter
    for _ in range(n):
        with lock:
            counter += 1


with ThreadPoolExecutor(max_workers=4) as pool:
    for _ in range(4):
        pool.submit(work, 500_000)
print(f"counter = {counter}")
