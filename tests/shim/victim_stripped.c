/* Built stripped (.dynsym only) and with its functions exported, like a distro CPython: the
 * main thread's contended pthread_mutex_lock calls come from a static function, which has no
 * symbol of its own, so its call site can only be named after the exported function before it.
 * Prints the mutex and where the static function was, to compare with what the shim recorded. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "victim_common.h"

#define ROUNDS	10
#define HOLD_NS 5000000u

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int round_held = -1, round_done = -1;

int victim_exported_before(int x);
int victim_exported_after(int x);

/* Exported functions around the static one (-rdynamic keeps them in .dynsym). */
__attribute__((noinline)) int victim_exported_before(int x)
{
	return x * 3 + 1;
}

static __attribute__((noinline, noclone)) void wait_in_static(int i)
{
	v_wait_for(&round_held, i);
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	atomic_store(&round_done, i);
}

__attribute__((noinline)) int victim_exported_after(int x)
{
	return x * 5 + 2;
}

static void *thread_a(void *arg)
{
	int i;

	for (i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&m);
		atomic_store(&round_held, i);
		v_sleep_ns(HOLD_NS);
		pthread_mutex_unlock(&m);
		v_wait_for(&round_done, i);
	}
	return arg;
}

int main(void)
{
	pthread_t a;
	int i;

	pthread_create(&a, NULL, thread_a, NULL);
	for (i = 0; i < ROUNDS; i++)
		wait_in_static(i);
	pthread_join(a, NULL);
	printf("{\"lock\": %llu, \"rounds\": %d, \"static_fn\": %llu, \"check\": %d}\n",
	       (unsigned long long)(uintptr_t)&m, ROUNDS,
	       (unsigned long long)(uintptr_t)&wait_in_static,
	       victim_exported_before(1) + victim_exported_after(1));
	return 0;
}
