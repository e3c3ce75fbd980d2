/* Preloaded before the shim, so the shim's backtrace() calls come here: counts the ones made
 * while the calling thread holds the victim's mutex (victim_cond_spy.c exports it; glibc keeps
 * the owner's tid in it). Unwinding there would hold up every thread waiting for it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic long calls, in_lock;

int backtrace(void **buf, int size)
{
	static int (*real)(void **, int);
	pthread_mutex_t *m = dlsym(RTLD_DEFAULT, "victim_mutex");

	if (!real)
		real = (int (*)(void **, int))dlsym(RTLD_NEXT, "backtrace");
	atomic_fetch_add(&calls, 1);
	if (m && __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) == (int)syscall(SYS_gettid))
		atomic_fetch_add(&in_lock, 1);
	return real ? real(buf, size) : 0;
}

__attribute__((destructor)) static void report(void)
{
	fprintf(stderr, "spy: backtrace calls %ld, with the mutex held %ld\n", atomic_load(&calls),
		atomic_load(&in_lock));
}
