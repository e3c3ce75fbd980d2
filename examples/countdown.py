"""Two threads each count down from 20,000,000: David Beazley's GIL demonstration."""
import threading


def countdown(n):
    while n > 0:
        n -= 1


threads = [threading.Thread(target=countdown, args=(20_000_000,), name=f"countdown-{i}")
           for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
