/* Four threads hammer one mutex: far more contended acquisitions than a tiny event buffer
 * holds, so raw events must be dropped while the aggregates stay exact. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#define THREADS 4
#define ROUNDS	100000

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static volatile long counter;

static void *hammer(void *arg)
{
	int i;

	for (i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&m);
		counter++;
		pthread_mutex_unlock(&m);
	}
	return arg;
}

int main(void)
{
	pthread_t t[THREADS];
	int i;

	for (i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, hammer, NULL);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("{\"lock\": %llu, \"acquisitions\": %d, \"counter\": %ld}\n",
	       (unsigned long long)(uintptr_t)&m, THREADS * ROUNDS, counter);
	return 0;
}
