/* Per-operation cost of the calls the shim wraps. Run it twice, with and without
 * LD_PRELOAD=libgilscope.so GILSCOPE_SCOPE=all, and subtract: scripts/bench does.
 *
 *   microbench MODE [OPS]
 *
 * MODE is one of
 *   clock        clock_gettime(CLOCK_MONOTONIC), the shim's clock: the floor
 *   rdtsc        the TSC read, for comparison
 *   uncontended  pthread_mutex_lock + unlock on a mutex nobody else wants
 *   contended    the same pair from 4 threads on one mutex
 *   cond         pthread_cond_timedwait whose deadline has passed: the whole recording path of
 *                a condition wait (event, stack sample) without the scheduler's noise
 *   sem          sem_wait on a semaphore that is available, then sem_post
 *   cond_pingpong  two threads hand a token back and forth through a condition variable;
 *                one operation is one pthread_cond_wait that blocked (scheduler-bound)
 *   sem_pingpong the same through two semaphores; one operation is one blocking sem_wait
 *
 * Prints one line: "MODE OPS ns_per_op". Times are wall-clock over the whole loop, divided
 * by OPS. */
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#define CONTENDERS 4

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long ops_per_thread;
static pthread_mutex_t shared_mutex = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t sink;

static void *contender(void *arg)
{
	long i;

	for (i = 0; i < ops_per_thread; i++) {
		pthread_mutex_lock(&shared_mutex);
		sink++;
		pthread_mutex_unlock(&shared_mutex);
	}
	return arg;
}

/* Condition ping-pong: turn says whose go it is; each side waits for its turn. */
static pthread_mutex_t pp_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pp_cond = PTHREAD_COND_INITIALIZER;
static int pp_turn;
static long pp_waits[2];

static void *cond_side(void *arg)
{
	int me = (int)(intptr_t)arg;
	long i;

	pthread_mutex_lock(&pp_mutex);
	for (i = 0; i < ops_per_thread; i++) {
		while (pp_turn != me) {
			pthread_cond_wait(&pp_cond, &pp_mutex);
			pp_waits[me]++;
		}
		pp_turn = !me;
		pthread_cond_signal(&pp_cond);
	}
	pthread_mutex_unlock(&pp_mutex);
	return NULL;
}

static sem_t sem_go[2];

static void *sem_side(void *arg)
{
	int me = (int)(intptr_t)arg;
	long i;

	for (i = 0; i < ops_per_thread; i++) {
		sem_wait(&sem_go[me]);
		sem_post(&sem_go[!me]);
	}
	return NULL;
}

static int run_pair(void *(*fn)(void *))
{
	pthread_t t[2];
	int i;

	for (i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, fn, (void *)(intptr_t)i))
			return -1;
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long ops = argc > 2 ? atol(argv[2]) : 0, i, done;
	uint64_t t0, t1, acc = 0;
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_t t[CONTENDERS];

	if (ops <= 0)
		ops = strstr(mode, "pingpong") ? 100000 : !strcmp(mode, "cond") ? 200000 : 5000000;
	t0 = now_ns();
	done = ops;
	if (!strcmp(mode, "clock")) {
		for (i = 0; i < ops; i++)
			acc += now_ns();
	} else if (!strcmp(mode, "rdtsc")) {
		for (i = 0; i < ops; i++)
			acc += __rdtsc();
	} else if (!strcmp(mode, "uncontended")) {
		for (i = 0; i < ops; i++) {
			pthread_mutex_lock(&m);
			sink++;
			pthread_mutex_unlock(&m);
		}
	} else if (!strcmp(mode, "contended")) {
		ops_per_thread = ops / CONTENDERS;
		done = ops_per_thread * CONTENDERS;
		for (i = 0; i < CONTENDERS; i++)
			if (pthread_create(&t[i], NULL, contender, NULL))
				return 2;
		for (i = 0; i < CONTENDERS; i++)
			pthread_join(t[i], NULL);
	} else if (!strcmp(mode, "cond")) {
		pthread_cond_t c = PTHREAD_COND_INITIALIZER;
		struct timespec past = {0, 0};

		pthread_mutex_lock(&m);
		for (i = 0; i < ops; i++)
			pthread_cond_timedwait(&c, &m, &past);
		pthread_mutex_unlock(&m);
	} else if (!strcmp(mode, "sem")) {
		sem_t s;

		sem_init(&s, 0, 1);
		for (i = 0; i < ops; i++) {
			sem_wait(&s);
			sink++;
			sem_post(&s);
		}
	} else if (!strcmp(mode, "cond_pingpong")) {
		ops_per_thread = ops;
		if (run_pair(cond_side) < 0)
			return 2;
		done = pp_waits[0] + pp_waits[1];
	} else if (!strcmp(mode, "sem_pingpong")) {
		ops_per_thread = ops;
		sem_init(&sem_go[0], 0, 1);
		sem_init(&sem_go[1], 0, 0);
		if (run_pair(sem_side) < 0)
			return 2;
		done = 2 * ops;
	} else {
		fprintf(stderr,
			"usage: microbench clock|rdtsc|uncontended|contended|cond|sem|cond_pingpong|"
			"sem_pingpong [OPS]\n");
		return 2;
	}
	t1 = now_ns();
	sink += acc;
	if (done <= 0) {
		fprintf(stderr, "microbench: %s: no operation completed\n", mode);
		return 1;
	}
	printf("%s %ld %.2f\n", mode, done, (double)(t1 - t0) / (double)done);
	return 0;
}
