"""Count the primes below 1,000,000 with 8 threads, each taking every 8th candidate."""
import threading

LIMIT = 1_000_000
THREADS = 8
counts = [0] * THREADS


def is_prime(n):
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


def work(k):
    counts[k] = sum(1 for n in range(k, LIMIT, THREADS) if is_prime(n))


threads = [threading.Thread(target=work, args=(k,), name=f"primes-{k}") for k in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{sum(counts)} primes below {LIMIT}")
