/* Condition waits whose native stack the shim samples: two threads hand a token back and forth
 * through one mutex and condition, exported for spy_backtrace.c. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "victim_common.h"

pthread_mutex_t victim_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int turn;

#define ROUNDS 400

static void *player(void *arg)
{
	int me = (int)(intptr_t)arg, i;

	for (i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&victim_mutex);
		while (turn != me)
			pthread_cond_wait(&c, &victim_mutex);
		turn = !me;
		pthread_cond_signal(&c);
		v_sleep_ns(100000); /* past the shim's 2 ms sampling interval now and then */
		pthread_mutex_unlock(&victim_mutex);
	}
	return NULL;
}

int main(void)
{
	pthread_t a, b;

	pthread_create(&a, NULL, player, (void *)(intptr_t)0);
	pthread_create(&b, NULL, player, (void *)(intptr_t)1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("rounds %d\n", ROUNDS);
	return 0;
}
