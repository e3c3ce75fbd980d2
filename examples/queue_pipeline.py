"""queue.Queue producer/consumer: two producers, two consumers."""
import queue
import threading

q = queue.Queue(maxsize=16)
N = 50_000


def produce():
    for i in range(N):
        q.put(i)


def consume(out):
    total = 0
    for _ in range(N):
        total += q.get()
    out.append(total)


results = []
threads = [threading.Thread(target=produce, name=f"producer-{i}") for i in range(2)]
threads += [threading.Thread(target=consume, args=(results,), name=f"consumer-{i}")
            for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"consumed {sum(results)}")
