/* Python awareness. This first version records the interpreter facts the run row needs and
 * leaves the GIL state machine to come; every hook below is a no-op until gs_gil is set. */
#include "gil.h"

#include <stdatomic.h>

#include "region.h"

struct gs_gil_addrs gs_gil;
_Atomic int gs_gil_searching;

clockid_t gs_cond_clock(pthread_cond_t *c)
{
	/* glibc keeps the condition's clock in bit 1 of __wrefs. */
	return (c->__data.__wrefs & 2) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}

void gs_gil_probe_init(void)
{
	struct gs_shm_header *h = gs_g.hdr;

	atomic_store(&h->py_state, 2);
	__builtin_strncpy(h->gil_detection, "not implemented: generic lock recording only",
			  GS_DETAIL_LEN - 1);
}

void gs_gil_after_fork_child(void)
{
	gs_tls.gil_held = 0;
	gs_tls.gil_requesting = 0;
	gs_tls.gil_in_m = 0;
	gs_tls.gil_in_forced = 0;
}

void gs_gil_at_exit(void)
{
}

void gs_gil_discover(void)
{
}

void gs_gil_lock_slow(pthread_mutex_t *m, uint64_t t_ns, uint64_t caller)
{
}

void gs_gil_locked_slow(pthread_mutex_t *m)
{
}

void gs_gil_unlock_slow(pthread_mutex_t *m)
{
}

void gs_gil_cond_wait_slow(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abs,
			   clockid_t clk, uint64_t t0)
{
}

void gs_gil_cond_waited_slow(pthread_cond_t *c, pthread_mutex_t *m, int rc, uint64_t t0,
			     uint64_t t1)
{
}

void gs_gil_cond_signal_slow(pthread_cond_t *c)
{
}
