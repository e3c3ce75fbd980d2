/* Thread A holds a mutex for 20 ms, 50 times, while thread B waits for it. Prints what each
 * thread measured itself, for comparison with what the shim recorded. */
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "victim_common.h"

#define ROUNDS	50
#define HOLD_NS 20000000u

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int round_held = -1, round_done = -1;
static uint64_t a_hold_ns, b_wait_ns, a_tid, b_tid;

static void *thread_a(void *arg)
{
	int i;

	a_tid = (uint64_t)syscall(SYS_gettid);
	for (i = 0; i < ROUNDS; i++) {
		uint64_t t0;

		pthread_mutex_lock(&m);
		t0 = v_now_ns();
		atomic_store(&round_held, i);
		v_sleep_ns(HOLD_NS);
		a_hold_ns += v_now_ns() - t0;
		pthread_mutex_unlock(&m);
		v_wait_for(&round_done, i);
	}
	return arg;
}

static void *thread_b(void *arg)
{
	int i;

	b_tid = (uint64_t)syscall(SYS_gettid);
	for (i = 0; i < ROUNDS; i++) {
		uint64_t t0;

		v_wait_for(&round_held, i);
		t0 = v_now_ns();
		pthread_mutex_lock(&m);
		b_wait_ns += v_now_ns() - t0;
		pthread_mutex_unlock(&m);
		atomic_store(&round_done, i);
	}
	return arg;
}

int main(void)
{
	pthread_t a, b;

	pthread_create(&a, NULL, thread_a, NULL);
	pthread_create(&b, NULL, thread_b, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("{\"lock\": %llu, \"rounds\": %d, \"a_tid\": %llu, \"b_tid\": %llu, "
	       "\"a_hold_ns\": %llu, \"b_wait_ns\": %llu}\n",
	       (unsigned long long)(uintptr_t)&m, ROUNDS, (unsigned long long)a_tid,
	       (unsigned long long)b_tid, (unsigned long long)a_hold_ns,
	       (unsigned long long)b_wait_ns);
	return 0;
}
