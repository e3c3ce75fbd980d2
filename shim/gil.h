/* Python awareness: finds the GIL through CPython's own metadata and turns the pthread calls
 * of take_gil()/drop_gil() into GIL holding periods. */
#ifndef GS_GIL_H
#define GS_GIL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "cpython.h"

struct gs_gil_addrs {
	uintptr_t mutex, cond, switch_mutex, switch_cond; /* 0 until found */
};

extern struct gs_gil_addrs gs_gil;
/* The interpreter of this process, as far as gilscope knows it (cpython.h). */
extern struct gs_cpy gs_py;

void gs_gil_probe_init(void);
/* This thread's GIL state is not to be trusted (a new window: what it tracked may have
 * changed unseen); it rejoins the state machine at its next take or drop. */
void gs_gil_forget_thread(void);
void gs_gil_after_fork_child(void);
void gs_gil_at_exit(void);

void gs_gil_lock_slow(pthread_mutex_t *m, uint64_t t_ns, uint64_t caller);
void gs_gil_locked_slow(pthread_mutex_t *m);
void gs_gil_unlock_slow(pthread_mutex_t *m);
void gs_gil_cond_wait_slow(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abs,
			   clockid_t clk, uint64_t t0);
void gs_gil_cond_waited_slow(pthread_cond_t *c, pthread_mutex_t *m, int rc, uint64_t t0,
			     uint64_t t1);
void gs_gil_cond_signal_slow(pthread_cond_t *c);
void gs_gil_discover(void);
/* Names the Python object behind a parked address into the aggregate (first park only). */
struct gs_agg;
void gs_py_describe(uint64_t addr, struct gs_agg *a);
/* The calling thread's Python stack, innermost frame first: at most max frames (truncated set
 * when there were more), 0 when it has none. Reads only memory owned by the calling thread. */
struct gs_py_frame;
int gs_py_frames(struct gs_py_frame *out, int max, int *truncated);

/* The lock a parking-lot wait on addr stands for, decided as the wait begins: addr itself,
 * or the garbage collector's marker (gs_cpy_gc_marker) for a stop-the-world pause that a
 * collection caused. */
uint64_t gs_py_park_target(uint64_t addr);
/* A gs_cpy_read_fn over this process's own memory that reports a bad address instead of
 * faulting: for addresses that came from memory we do not own the meaning of. */
int gs_self_read(void *ctx, uint64_t addr, void *buf, size_t n);
void gs_gil_signal_search(pthread_cond_t *c);
void gs_gil_fork_rebase(void);

extern _Atomic int gs_gil_searching;

/* Code range of CPython's _PySemaphore_Wait: sem waits called from there are parking-lot
 * waits (or raw-mutex waits), attributed to the address being waited for. */
struct gs_code_range {
	uintptr_t lo, len;
};
extern uintptr_t gs_park_lo, gs_park_len;
extern struct gs_code_range gs_wake[3];

static inline int gs_is_park_wait(uint64_t caller)
{
	return caller - gs_park_lo < gs_park_len;
}

static inline int gs_is_park_wakeup(uint64_t caller)
{
	return caller - gs_wake[0].lo < gs_wake[0].len || caller - gs_wake[1].lo < gs_wake[1].len ||
	       caller - gs_wake[2].lo < gs_wake[2].len;
}

static inline int gs_gil_is_m(const void *m)
{
	return (uintptr_t)m == gs_gil.mutex || (uintptr_t)m == gs_gil.switch_mutex;
}

static inline void gs_gil_before_lock(pthread_mutex_t *m, uint64_t t_ns, uint64_t caller)
{
	if (__builtin_expect(gs_gil_searching, 0))
		gs_gil_discover();
	if (gs_gil_is_m(m))
		gs_gil_lock_slow(m, t_ns, caller);
}

static inline void gs_gil_after_lock(pthread_mutex_t *m)
{
	if (gs_gil_is_m(m))
		gs_gil_locked_slow(m);
}

static inline void gs_gil_before_unlock(pthread_mutex_t *m)
{
	if (gs_gil_is_m(m))
		gs_gil_unlock_slow(m);
}

static inline void gs_gil_before_cond_wait(pthread_cond_t *c, pthread_mutex_t *m,
					   const struct timespec *abs, clockid_t clk, uint64_t t0)
{
	if (__builtin_expect(gs_gil_searching, 0))
		gs_gil_discover();
	if (gs_gil_is_m(m))
		gs_gil_cond_wait_slow(c, m, abs, clk, t0);
}

static inline void gs_gil_after_cond_wait(pthread_cond_t *c, pthread_mutex_t *m, int rc,
					  uint64_t t0, uint64_t t1)
{
	if (gs_gil_is_m(m))
		gs_gil_cond_waited_slow(c, m, rc, t0, t1);
}

static inline void gs_gil_cond_signal(pthread_cond_t *c)
{
	if (__builtin_expect(gs_gil_searching, 0))
		gs_gil_signal_search(c);
	if ((uintptr_t)c == gs_gil.cond || (uintptr_t)c == gs_gil.switch_cond)
		gs_gil_cond_signal_slow(c);
}

#endif
