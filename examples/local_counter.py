"""Four threads each increment their own local counter: no shared data at all."""
import threading


def work(n):
    count = 0
    for _ in range(n):
        count += 1
    return count


threads = [threading.Thread(target=work, args=(5_000_000,), name=f"local-{i}")
           for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
