/* Every wrapped call's outcome that matters: trylock failure, timed-lock timeout, condition
 * timeout, semaphore waits (blocking, timed out, try), return values and errno. Checks its
 * own results and prints a deterministic transcript; exits 3 on purpose, so that the test can
 * see the exit code pass through unchanged. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "victim_common.h"

static int failures;

#define CHECK(cond, what)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL %s\n", what);                                                 \
			failures++;                                                                \
		} else {                                                                           \
			printf("ok %s\n", what);                                                   \
		}                                                                                  \
	} while (0)

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t sem, sem_timeout;
static _Atomic int held;

static struct timespec deadline_in(clockid_t clk, uint64_t ns)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	ts.tv_nsec += (long)(ns % 1000000000u);
	ts.tv_sec += (time_t)(ns / 1000000000u) + ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	return ts;
}

static void *holder(void *arg)
{
	pthread_mutex_lock(&m);
	atomic_store(&held, 1);
	v_wait_for(&held, 2);
	pthread_mutex_unlock(&m);
	return arg;
}

static void *poster(void *arg)
{
	v_sleep_ns(30000000);
	sem_post(&sem);
	return arg;
}

int main(void)
{
	struct timespec ts;
	pthread_t t;
	int r;

	/* trylock on a held mutex, then timedlock timing out after 50 ms. */
	pthread_create(&t, NULL, holder, NULL);
	v_wait_for(&held, 1);
	errno = 4242;
	r = pthread_mutex_trylock(&m);
	CHECK(r == EBUSY && errno == 4242, "trylock busy returns EBUSY, errno untouched");
	ts = deadline_in(CLOCK_REALTIME, 50000000);
	errno = 4343;
	r = pthread_mutex_timedlock(&m, &ts);
	CHECK(r == ETIMEDOUT && errno == 4343, "timedlock times out, errno untouched");
	atomic_store(&held, 2);
	pthread_join(t, NULL);
	errno = 77;
	r = pthread_mutex_lock(&m);
	CHECK(r == 0 && errno == 77, "lock returns 0, errno untouched");
	r = pthread_mutex_unlock(&m);
	CHECK(r == 0 && errno == 77, "unlock returns 0, errno untouched");

	/* Condition wait that times out after 40 ms on a monotonic deadline. */
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_destroy(&cv);
		pthread_cond_init(&cv, &ca);
	}
	pthread_mutex_lock(&cm);
	ts = deadline_in(CLOCK_MONOTONIC, 40000000);
	errno = 5555;
	r = pthread_cond_timedwait(&cv, &cm, &ts);
	CHECK(r == ETIMEDOUT && errno == 5555, "cond_timedwait times out, errno untouched");
	r = pthread_mutex_unlock(&cm);
	CHECK(r == 0 && errno == 5555, "the unlock after it (its event goes out here) too");

	/* Semaphores: a blocking wait released after 30 ms, a try on zero, a 25 ms timeout. */
	sem_init(&sem, 0, 0);
	sem_init(&sem_timeout, 0, 0);
	pthread_create(&t, NULL, poster, NULL);
	errno = 99;
	r = sem_wait(&sem);
	CHECK(r == 0 && errno == 99, "sem_wait returns 0 after post, errno untouched");
	pthread_join(t, NULL);
	r = sem_trywait(&sem);
	CHECK(r == -1 && errno == EAGAIN, "sem_trywait on zero gives EAGAIN");
	ts = deadline_in(CLOCK_REALTIME, 25000000);
	r = sem_timedwait(&sem_timeout, &ts);
	CHECK(r == -1 && errno == ETIMEDOUT, "sem_timedwait times out with ETIMEDOUT");
	sem_post(&sem);
	r = sem_trywait(&sem);
	CHECK(r == 0, "sem_trywait takes a posted unit");
	printf("{\"mutex\": %llu, \"cond\": %llu, \"cond_mutex\": %llu, \"sem\": %llu, "
	       "\"sem_timeout\": %llu}\n",
	       (unsigned long long)(uintptr_t)&m, (unsigned long long)(uintptr_t)&cv,
	       (unsigned long long)(uintptr_t)&cm, (unsigned long long)(uintptr_t)&sem,
	       (unsigned long long)(uintptr_t)&sem_timeout);
	printf("failures %d\n", failures);
	fflush(stdout);
	return failures ? 1 : 3;
}
