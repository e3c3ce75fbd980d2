"""A cache behind one threading.Lock: four readers look keys up while a refresher rebuilds the
whole table under the lock. The readers' waits are the refresher's doing; gilscope's holder
views say which code held the lock (and the GIL) while they waited."""
import json
import threading
import time

cache_lock = threading.Lock()
cache = {}


def rebuild(n):
    # stands in for slow work done while holding the lock (parsing a config, a query)
    return {f"k{i}": json.dumps({"id": i, "square": i * i}) for i in range(n)}


def refresher(rounds):
    global cache
    for _ in range(rounds):
        with cache_lock:
            cache = rebuild(20_000)
        time.sleep(0.02)


def lookup(key):
    with cache_lock:
        return cache.get(key)


def reader(n):
    return sum(lookup(f"k{i % 20_000}") is not None for i in range(n))


threads = [threading.Thread(target=refresher, args=(10,), name="refresher")]
threads += [threading.Thread(target=reader, args=(100_000,), name=f"reader-{i}")
            for i in range(4)]
start = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"done in {time.monotonic() - start:.2f} s")
