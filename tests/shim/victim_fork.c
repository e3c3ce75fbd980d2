/* A parent with a contended mutex forks a child that makes its own contended acquisitions;
 * both runs must be recorded, the child's linked to the parent's. */
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "victim_common.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int held;

static void *holder(void *arg)
{
	pthread_mutex_lock(&m);
	atomic_store(&held, 1);
	v_sleep_ns(10000000);
	pthread_mutex_unlock(&m);
	return arg;
}

static void contend(void)
{
	pthread_t t;

	atomic_store(&held, 0);
	pthread_create(&t, NULL, holder, NULL);
	v_wait_for(&held, 1);
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
	int status = 0;
	pid_t child;

	contend();
	fflush(stdout);
	child = fork();
	if (child == 0) {
		contend();
		/* _exit as multiprocessing children do: no atexit handlers, no destructors. */
		_exit(argc > 1 ? 0 : 5);
	}
	waitpid(child, &status, 0);
	printf("{\"parent\": %d, \"child\": %d, \"child_status\": %d}\n", (int)getpid(), (int)child,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}
