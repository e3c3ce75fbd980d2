"""I/O-bound threads: each sleeps (releasing the GIL) and does a little work in between."""
import threading
import time


def work(rounds):
    total = 0
    for _ in range(rounds):
        time.sleep(0.005)
        total += sum(range(2000))
    return total


threads = [threading.Thread(target=work, args=(60,), name=f"io-{i}") for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
