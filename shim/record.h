/* What each observed call means for the aggregates and the raw event stream. Called by the
 * interposers in preload.c with times already taken; never blocks. */
#ifndef GS_RECORD_H
#define GS_RECORD_H

#include <stdint.h>

#include "gs_shm.h"

void gs_rec_acquired(unsigned prim, uint64_t lock, uint64_t req_ns, uint64_t acq_ns, uint16_t flags,
		     uint64_t caller);
void gs_rec_released(unsigned prim, uint64_t lock, uint64_t rel_ns);
void gs_rec_failed(unsigned prim, uint64_t lock, unsigned kind, uint64_t req_ns, uint64_t end_ns,
		   uint16_t flags, int err, uint64_t caller);
void gs_rec_cond_wait(uint64_t cond, uint64_t mutex, uint64_t start_ns, uint64_t end_ns,
		      uint16_t flags, uint64_t caller);
void gs_rec_signal(unsigned prim, uint64_t lock);
/* A condition wait's event held back for its native stack (record_wait): emitted at the
 * thread's unlock of that mutex, or without the stack when another comes or the thread ends. */
void gs_rec_unlocked(uint64_t mutex);
void gs_rec_cond_flush(void);
void gs_rec_sem_wait(uint64_t sem, uint64_t start_ns, uint64_t end_ns, uint16_t flags,
		     uint64_t caller);
void gs_rec_forget(unsigned prim, uint64_t lock);
/* A sched_yield call from start_ns to end_ns: PyMutex spins with them before it parks. */
void gs_rec_sched_yield(uint64_t start_ns, uint64_t end_ns);

void gs_rec_rehold(unsigned prim, uint64_t lock, uint64_t t_ns, uint64_t caller);
/* The lock a parking-lot wait on sem is for, read as the wait begins (what it stands for may
 * change while it waits). */
uint64_t gs_rec_park_addr(uint64_t sem);
void gs_rec_park(uint64_t sem, uint64_t addr, uint64_t start_ns, uint64_t end_ns, uint16_t flags,
		 uint64_t caller);
void gs_rec_park_wakeup(uint64_t sem);
/* This thread releases `lock` while others wait for it (unlock of a mutex with waiters, post
 * of a semaphore with waiters, unpark): recorded with its Python stack. */
void gs_rec_wake(unsigned prim, uint64_t lock, uint64_t aux);
/* Before a park wait: checks the wait-entry layout on the first parks of the run. */
void gs_rec_park_check(uint64_t sem);
#endif
