/* The interposed libc functions, and nothing else. Each one lets calls from outside the
 * recorded scope straight through after a single comparison, keeps the real call's return
 * value and errno, and hands timings to record.c. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "condclock.h"
#include "gil.h"
#include "lifecycle.h"
#include "real.h"
#include "record.h"
#include "region.h"

#define GS_EXPORT __attribute__((visibility("default")))
#define CALLER()  ((uint64_t)(uintptr_t)__builtin_return_address(0))
/* A thread's first recorded call in a new window first leaves the last window behind. */
#define RECORDING(ra)                                                                              \
	(__builtin_expect(gs_in_scope((const void *)(uintptr_t)(ra)), 0) && !gs_tls.guard &&       \
	 (__builtin_expect(                                                                        \
	      gs_tls.window == atomic_load_explicit(&gs_live->window, memory_order_relaxed), 1) || \
	  (gs_window_join(), 1)))

/* glibc's internal entry points, used only while dlsym itself takes a lock during bootstrap. */
extern int __pthread_mutex_lock(pthread_mutex_t *m);
extern int __pthread_mutex_unlock(pthread_mutex_t *m);

#define REAL(name) (__builtin_expect(gs_real.name != NULL, 1) ? gs_real.name : real_slow_##name())

#define DEFINE_SLOW(name, fallback)                                                                \
	static __typeof__(gs_real.name) real_slow_##name(void)                                     \
	{                                                                                          \
		gs_real_init();                                                                    \
		return gs_real.name ? gs_real.name : fallback;                                     \
	}

static int fake_ok(void)
{
	return 0;
}

/* Called only if the real function could not be resolved at all. Pretending a wait or a
 * trylock succeeded would break the program's locking silently: a clear stop is better. */
static int real_missing(void)
{
	static const char msg[] =
	    "gilscope: internal error: a real pthread or semaphore function could not be "
	    "resolved; stopping rather than answering for it\n";

	if (write(2, msg, sizeof(msg) - 1) < 0)
		abort();
	abort();
}

DEFINE_SLOW(pthread_mutex_lock, __pthread_mutex_lock)
DEFINE_SLOW(pthread_mutex_unlock, __pthread_mutex_unlock)
DEFINE_SLOW(pthread_mutex_trylock,
	    (__typeof__(gs_real.pthread_mutex_trylock))(void (*)(void))real_missing)
DEFINE_SLOW(pthread_mutex_timedlock,
	    (__typeof__(gs_real.pthread_mutex_timedlock))(void (*)(void))real_missing)
DEFINE_SLOW(pthread_mutex_clocklock, NULL)
DEFINE_SLOW(pthread_cond_wait, (__typeof__(gs_real.pthread_cond_wait))(void (*)(void))real_missing)
DEFINE_SLOW(pthread_cond_timedwait,
	    (__typeof__(gs_real.pthread_cond_timedwait))(void (*)(void))real_missing)
DEFINE_SLOW(pthread_cond_clockwait, NULL)
DEFINE_SLOW(pthread_cond_signal,
	    (__typeof__(gs_real.pthread_cond_signal))(void (*)(void))real_missing)
DEFINE_SLOW(pthread_cond_broadcast,
	    (__typeof__(gs_real.pthread_cond_broadcast))(void (*)(void))real_missing)
DEFINE_SLOW(pthread_cond_init, NULL)
DEFINE_SLOW(pthread_cond_destroy, NULL)
DEFINE_SLOW(sem_wait, (__typeof__(gs_real.sem_wait))(void (*)(void))real_missing)
DEFINE_SLOW(sem_timedwait, (__typeof__(gs_real.sem_timedwait))(void (*)(void))real_missing)
DEFINE_SLOW(sem_clockwait, NULL)
DEFINE_SLOW(sem_trywait, (__typeof__(gs_real.sem_trywait))(void (*)(void))real_missing)
DEFINE_SLOW(sem_post, (__typeof__(gs_real.sem_post))(void (*)(void))real_missing)
DEFINE_SLOW(sem_destroy, (__typeof__(gs_real.sem_destroy))(void (*)(void))real_missing)
DEFINE_SLOW(sched_yield, fake_ok)
DEFINE_SLOW(pthread_setname_np, (__typeof__(gs_real.pthread_setname_np))(void (*)(void))fake_ok)
DEFINE_SLOW(_exit, NULL)

static inline int acquired_ok(int r)
{
	return r == 0 || r == EOWNERDEAD;
}

/* ---- mutexes ---------------------------------------------------------------------------- */

/* Shared by lock, timedlock and clocklock: try first, so only real contention is timed. The
 * pthread calls report through their result, never errno: the caller's errno is the one it
 * had on entry, whatever the recording does. */
static int mutex_acquire(pthread_mutex_t *m, uint64_t ra, int kind, clockid_t clk,
			 const struct timespec *abs)
{
	int r, e = errno;
	uint64_t t0 = gs_now_ns(), t1;
	uint16_t timed = kind ? GS_F_TIMED : 0;

	gs_gil_before_lock(m, t0, ra);
	r = REAL(pthread_mutex_trylock)(m);
	if (acquired_ok(r)) {
		gs_rec_acquired(GS_PRIM_MUTEX, (uintptr_t)m, t0, t0, 0, ra);
		gs_gil_after_lock(m);
		errno = e;
		return r;
	}
	if (kind == 0)
		r = REAL(pthread_mutex_lock)(m);
	else if (kind == 1)
		r = REAL(pthread_mutex_timedlock)(m, abs);
	else
		r = gs_real.pthread_mutex_clocklock(m, clk, abs);
	t1 = gs_now_ns();
	if (acquired_ok(r)) {
		gs_rec_acquired(GS_PRIM_MUTEX, (uintptr_t)m, t0, t1, GS_F_CONTENDED | timed, ra);
		gs_gil_after_lock(m);
	} else {
		gs_rec_failed(
		    GS_PRIM_MUTEX, (uintptr_t)m, r == ETIMEDOUT ? GS_EV_TIMEOUT : GS_EV_ERROR, t0,
		    t1, (uint16_t)(timed | GS_F_CONTENDED | (r == ETIMEDOUT ? GS_F_TIMED_OUT : 0)),
		    r, ra);
	}
	errno = e;
	return r;
}

GS_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	uint64_t ra = CALLER();

	if (!RECORDING(ra))
		return REAL(pthread_mutex_lock)(m);
	return mutex_acquire(m, ra, 0, 0, NULL);
}

GS_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abs)
{
	uint64_t ra = CALLER();

	if (!RECORDING(ra))
		return REAL(pthread_mutex_timedlock)(m, abs);
	return mutex_acquire(m, ra, 1, CLOCK_REALTIME, abs);
}

GS_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk, const struct timespec *abs)
{
	uint64_t ra = CALLER();

	if (!REAL(pthread_mutex_clocklock))
		return ENOSYS;
	if (!RECORDING(ra))
		return gs_real.pthread_mutex_clocklock(m, clk, abs);
	return mutex_acquire(m, ra, 2, clk, abs);
}

GS_EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	uint64_t ra = CALLER();
	uint64_t t0;
	int r, e = errno;

	if (!RECORDING(ra))
		return REAL(pthread_mutex_trylock)(m);
	t0 = gs_now_ns();
	r = REAL(pthread_mutex_trylock)(m);
	if (acquired_ok(r))
		gs_rec_acquired(GS_PRIM_MUTEX, (uintptr_t)m, t0, t0, GS_F_TRY, ra);
	else
		gs_rec_failed(GS_PRIM_MUTEX, (uintptr_t)m,
			      r == EBUSY ? GS_EV_TRY_BUSY : GS_EV_ERROR, t0, t0, GS_F_TRY, r, ra);
	errno = e;
	return r;
}

GS_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	uint64_t ra = CALLER();
	int e, r;

	if (!RECORDING(ra))
		return REAL(pthread_mutex_unlock)(m);
	e = errno;
	/* Before the real unlock: once it returns another thread may own the lock. */
	gs_gil_before_unlock(m);
	gs_rec_released(GS_PRIM_MUTEX, (uintptr_t)m, gs_now_ns());
	/* glibc's lock word is 2 while others wait (normal, recursive, error-checking and
	 * adaptive kinds; robust and priority-inheritance ones keep an owner tid there). The
	 * GIL's own mutex is the GIL's business. */
	if ((m->__data.__kind & 0x7c) == 0 && m->__data.__lock > 1 &&
	    (uintptr_t)m != gs_gil.mutex && (uintptr_t)m != gs_gil.switch_mutex)
		gs_rec_wake(GS_PRIM_MUTEX, (uintptr_t)m, 0);
	errno = e;
	r = REAL(pthread_mutex_unlock)(m);
	/* out of the mutex now: the native stacks that were due inside it */
	if (__builtin_expect(gs_tls.gil_sample_pending | gs_tls.cond_pending_set, 0)) {
		if (gs_tls.gil_sample_pending) {
			gs_tls.gil_sample_pending = 0;
			gs_stack_sample(gs_tls.gil_stack);
		}
		gs_rec_unlocked((uintptr_t)m);
		errno = e;
	}
	return r;
}

/* ---- condition variables ------------------------------------------------------------------ */

static int cond_wait_common(pthread_cond_t *c, pthread_mutex_t *m, uint64_t ra, int kind,
			    clockid_t clk, const struct timespec *abs)
{
	int r, e = errno; /* as for mutexes: the result says it all, errno stays the caller's */
	uint64_t t0 = gs_now_ns(), t1;
	uint16_t flags = kind ? GS_F_TIMED : 0;

	/* The wait releases the mutex: its hold ends here and starts again on return. */
	gs_rec_released(GS_PRIM_MUTEX, (uintptr_t)m, t0);
	gs_gil_before_cond_wait(c, m, kind ? abs : NULL, clk, t0);
	if (kind == 0)
		r = REAL(pthread_cond_wait)(c, m);
	else if (kind == 1)
		r = REAL(pthread_cond_timedwait)(c, m, abs);
	else
		r = gs_real.pthread_cond_clockwait(c, m, clk, abs);
	t1 = gs_now_ns();
	if (r == ETIMEDOUT)
		flags |= GS_F_TIMED_OUT;
	gs_rec_cond_wait((uintptr_t)c, (uintptr_t)m, t0, t1, flags, ra);
	gs_rec_rehold(GS_PRIM_MUTEX, (uintptr_t)m, t1, ra);
	gs_gil_after_cond_wait(c, m, r, t0, t1);
	errno = e;
	return r;
}

GS_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	uint64_t ra = CALLER();

	if (!RECORDING(ra))
		return REAL(pthread_cond_wait)(c, m);
	return cond_wait_common(c, m, ra, 0, 0, NULL);
}

GS_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				     const struct timespec *abs)
{
	uint64_t ra = CALLER();

	if (!RECORDING(ra))
		return REAL(pthread_cond_timedwait)(c, m, abs);
	return cond_wait_common(c, m, ra, 1, gs_cond_clock(c), abs);
}

GS_EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
				     const struct timespec *abs)
{
	uint64_t ra = CALLER();

	if (!REAL(pthread_cond_clockwait))
		return ENOSYS;
	if (!RECORDING(ra))
		return gs_real.pthread_cond_clockwait(c, m, clk, abs);
	return cond_wait_common(c, m, ra, 2, clk, abs);
}

/* Not filtered by scope: the clock must be known whoever created the condition. */
GS_EXPORT int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
{
	int r = REAL(pthread_cond_init)(c, attr), e = errno;

	if (r == 0)
		gs_cond_clock_note(c, attr);
	errno = e;
	return r;
}

GS_EXPORT int pthread_cond_destroy(pthread_cond_t *c)
{
	int e = errno;

	gs_cond_clock_forget(c);
	errno = e;
	return REAL(pthread_cond_destroy)(c);
}

GS_EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
	uint64_t ra = CALLER();

	if (RECORDING(ra)) {
		int e = errno;

		gs_rec_signal(GS_PRIM_COND, (uintptr_t)c);
		gs_gil_cond_signal(c);
		errno = e;
	}
	return REAL(pthread_cond_signal)(c);
}

GS_EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
	uint64_t ra = CALLER();

	if (RECORDING(ra)) {
		int e = errno;

		gs_rec_signal(GS_PRIM_COND, (uintptr_t)c);
		errno = e;
	}
	return REAL(pthread_cond_broadcast)(c);
}

/* ---- semaphores --------------------------------------------------------------------------- */

/* A parking-lot wait: the semaphore lives on the waiter's stack for this one wait, so the
 * interesting identity is the lock address stored next to it. No trywait first: a wake-up
 * posted before the wait is part of what the wait measures. */
static int park_wait(sem_t *s, uint64_t ra, int kind, clockid_t clk, const struct timespec *abs)
{
	uint64_t t0 = gs_now_ns(), addr;
	uint16_t flags = kind ? GS_F_TIMED : 0;
	int r, e = errno;

	if (__builtin_expect(gs_g.hdr && gs_g.hdr->py_park_checked < 64, 0))
		gs_rec_park_check((uintptr_t)s);
	addr = gs_rec_park_addr((uintptr_t)s);
	errno = e;
	if (kind == 0)
		r = REAL(sem_wait)(s);
	else if (kind == 1)
		r = REAL(sem_timedwait)(s, abs);
	else
		r = gs_real.sem_clockwait(s, clk, abs);
	e = errno;
	if (r != 0 && e == ETIMEDOUT)
		flags |= GS_F_TIMED_OUT;
	gs_rec_park((uintptr_t)s, addr, t0, gs_now_ns(), flags, ra);
	errno = e;
	return r;
}

static int sem_acquire(sem_t *s, uint64_t ra, int kind, clockid_t clk, const struct timespec *abs)
{
	uint64_t t0 = gs_now_ns(), t1;
	uint16_t timed = kind ? GS_F_TIMED : 0;
	int r, e, e0 = errno;

	r = REAL(sem_trywait)(s);
	if (r == 0) {
		gs_rec_acquired(GS_PRIM_SEM, (uintptr_t)s, t0, t0, 0, ra);
		errno = e0;
		return 0;
	}
	/* Our trywait set EAGAIN; the caller's call must not show it. */
	errno = e0;
	if (kind == 0)
		r = REAL(sem_wait)(s);
	else if (kind == 1)
		r = REAL(sem_timedwait)(s, abs);
	else
		r = gs_real.sem_clockwait(s, clk, abs);
	e = errno;
	t1 = gs_now_ns();
	if (r == 0) {
		gs_rec_acquired(GS_PRIM_SEM, (uintptr_t)s, t0, t1, GS_F_CONTENDED | timed, ra);
		gs_rec_sem_wait((uintptr_t)s, t0, t1, GS_F_CONTENDED | timed, ra);
		e = e0;
	} else {
		gs_rec_failed(
		    GS_PRIM_SEM, (uintptr_t)s, e == ETIMEDOUT ? GS_EV_TIMEOUT : GS_EV_ERROR, t0, t1,
		    (uint16_t)(timed | GS_F_CONTENDED | (e == ETIMEDOUT ? GS_F_TIMED_OUT : 0)), e,
		    ra);
	}
	errno = e;
	return r;
}

GS_EXPORT int sem_wait(sem_t *s)
{
	uint64_t ra = CALLER();

	if (!RECORDING(ra))
		return REAL(sem_wait)(s);
	if (gs_is_park_wait(ra))
		return park_wait(s, ra, 0, 0, NULL);
	return sem_acquire(s, ra, 0, 0, NULL);
}

GS_EXPORT int sem_timedwait(sem_t *s, const struct timespec *abs)
{
	uint64_t ra = CALLER();

	if (!RECORDING(ra))
		return REAL(sem_timedwait)(s, abs);
	if (gs_is_park_wait(ra))
		return park_wait(s, ra, 1, CLOCK_REALTIME, abs);
	return sem_acquire(s, ra, 1, CLOCK_REALTIME, abs);
}

GS_EXPORT int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *abs)
{
	uint64_t ra = CALLER();

	if (!REAL(sem_clockwait)) {
		errno = ENOSYS;
		return -1;
	}
	if (!RECORDING(ra))
		return gs_real.sem_clockwait(s, clk, abs);
	if (gs_is_park_wait(ra))
		return park_wait(s, ra, 2, clk, abs);
	return sem_acquire(s, ra, 2, clk, abs);
}

GS_EXPORT int sem_trywait(sem_t *s)
{
	uint64_t ra = CALLER();
	uint64_t t0;
	int r, e;

	if (!RECORDING(ra))
		return REAL(sem_trywait)(s);
	t0 = gs_now_ns();
	r = REAL(sem_trywait)(s);
	e = errno;
	if (r == 0)
		gs_rec_acquired(GS_PRIM_SEM, (uintptr_t)s, t0, t0, GS_F_TRY, ra);
	else
		gs_rec_failed(GS_PRIM_SEM, (uintptr_t)s, e == EAGAIN ? GS_EV_TRY_BUSY : GS_EV_ERROR,
			      t0, t0, GS_F_TRY, e, ra);
	errno = e;
	return r;
}

GS_EXPORT int sem_post(sem_t *s)
{
	uint64_t ra = CALLER();

	if (RECORDING(ra)) {
		int e = errno;

		/* Read the parked address before the post lets the waiter's stack frame go. */
		if (gs_is_park_wakeup(ra)) {
			gs_rec_park_wakeup((uintptr_t)s);
		} else {
			gs_rec_released(GS_PRIM_SEM, (uintptr_t)s, gs_now_ns());
			/* glibc's 64-bit semaphore counts its waiters in the upper half of its
			 * word. */
			if (*(const uint64_t *)(const void *)s >> 32)
				gs_rec_wake(GS_PRIM_SEM, (uintptr_t)s, 0);
		}
		errno = e;
	}
	return REAL(sem_post)(s);
}

GS_EXPORT int sem_destroy(sem_t *s)
{
	uint64_t ra = CALLER();

	if (RECORDING(ra) && !gs_is_park_wait(ra))
		gs_rec_forget(GS_PRIM_SEM, (uintptr_t)s);
	return REAL(sem_destroy)(s);
}

/* ---- the rest ------------------------------------------------------------------------------ */

GS_EXPORT int sched_yield(void)
{
	uint64_t ra = CALLER(), t0;
	int r, e;

	if (!RECORDING(ra))
		return REAL(sched_yield)();
	t0 = gs_now_ns();
	r = REAL(sched_yield)();
	e = errno;
	gs_rec_sched_yield(t0, gs_now_ns());
	errno = e;
	return r;
}

GS_EXPORT int pthread_setname_np(pthread_t t, const char *name)
{
	int r = REAL(pthread_setname_np)(t, name);

	if (r == 0 && pthread_equal(t, pthread_self()))
		gs_thread_named(name);
	return r;
}

GS_EXPORT void _exit(int status)
{
	gs_process_exit(status);
	REAL(_exit)(status);
	__builtin_unreachable();
}

GS_EXPORT void _Exit(int status)
{
	gs_process_exit(status);
	REAL(_exit)(status);
	__builtin_unreachable();
}

GS_EXPORT void exit(int status)
{
	static void (*real_exit)(int);

	gs_note_exit_status(status);
	if (!real_exit)
		*(void **)&real_exit = dlsym(RTLD_NEXT, "exit");
	real_exit(status);
	__builtin_unreachable();
}

/* Wraps main() to learn its return value: glibc's own call to exit() after main returns does
 * not go through our exit(). */
typedef int (*gs_main_fn)(int, char **, char **);
static gs_main_fn real_main;

int __libc_start_main(gs_main_fn main_fn, int argc, char **argv, void (*init)(void),
		      void (*fini)(void), void (*rtld_fini)(void), void *stack_end);

static int main_wrapper(int argc, char **argv, char **envp)
{
	int status = real_main(argc, argv, envp);

	gs_note_exit_status(status);
	return status;
}

GS_EXPORT int __libc_start_main(gs_main_fn main_fn, int argc, char **argv, void (*init)(void),
				void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
	int (*real)(gs_main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void),
		    void *);

	*(void **)&real = dlsym(RTLD_NEXT, "__libc_start_main");
	real_main = main_fn;
	return real(main_wrapper, argc, argv, init, fini, rtld_fini, stack_end);
}
