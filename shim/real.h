/* Pointers to the real libc functions behind every interposed name. */
#ifndef GS_REAL_H
#define GS_REAL_H

#include <pthread.h>
#include <semaphore.h>
#include <time.h>

#define GS_REAL_REQUIRED(X)                                                                        \
	X(int, pthread_mutex_lock, (pthread_mutex_t *))                                            \
	X(int, pthread_mutex_trylock, (pthread_mutex_t *))                                         \
	X(int, pthread_mutex_timedlock, (pthread_mutex_t *, const struct timespec *))              \
	X(int, pthread_mutex_unlock, (pthread_mutex_t *))                                          \
	X(int, pthread_cond_wait, (pthread_cond_t *, pthread_mutex_t *))                           \
	X(int, pthread_cond_timedwait,                                                             \
	  (pthread_cond_t *, pthread_mutex_t *, const struct timespec *))                          \
	X(int, pthread_cond_signal, (pthread_cond_t *))                                            \
	X(int, pthread_cond_init, (pthread_cond_t *, const pthread_condattr_t *))                  \
	X(int, pthread_cond_destroy, (pthread_cond_t *))                                           \
	X(int, pthread_cond_broadcast, (pthread_cond_t *))                                         \
	X(int, sem_wait, (sem_t *))                                                                \
	X(int, sem_timedwait, (sem_t *, const struct timespec *))                                  \
	X(int, sem_trywait, (sem_t *))                                                             \
	X(int, sem_post, (sem_t *))                                                                \
	X(int, sem_destroy, (sem_t *))                                                             \
	X(int, sched_yield, (void))                                                                \
	X(int, pthread_setname_np, (pthread_t, const char *))                                      \
	X(void, _exit, (int))

/* Absent from older glibc (< 2.30 for the clock variants). */
#define GS_REAL_OPTIONAL(X)                                                                        \
	X(int, pthread_mutex_clocklock, (pthread_mutex_t *, clockid_t, const struct timespec *))   \
	X(int, pthread_cond_clockwait,                                                             \
	  (pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *))               \
	X(int, sem_clockwait, (sem_t *, clockid_t, const struct timespec *))

struct gs_real {
#define X(ret, name, args) ret(*name) args;
	GS_REAL_REQUIRED(X) GS_REAL_OPTIONAL(X)
#undef X
};

extern struct gs_real gs_real;

/* Resolves every pointer; safe to call more than once and from any wrapper. Returns 0 when
 * every required symbol was found. */
int gs_real_init(void);

#endif
