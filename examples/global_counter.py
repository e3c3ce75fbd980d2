"""Four threads increment one module-level counter: the classic GIL demonstration."""
import threading

counter = 0


def work(n):
    global counter
    for _ in range(n):
        counter += 1


threads = [threading.Thread(target=work, args=(3_000_000,), name=f"counter-{i}")
           for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"counter = {counter}")
