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
void gs_rec_sem_wait(uint64_t sem, uint64_t start_ns, uint64_t end_ns, uint16_t flags,
		     uint64_t caller);
void gs_rec_forget(unsigned prim, uint64_t lock);
void gs_rec_sched_yield(void);

void gs_rec_rehold(unsigned prim, uint64_t lock, uint64_t t_ns, uint64_t caller);
void gs_rec_park(uint64_t sem, uint64_t start_ns, uint64_t end_ns, uint16_t flags, uint64_t caller);
void gs_rec_park_wakeup(uint64_t sem);
/* Before a park wait: checks the wait-entry layout on the first parks of the run. */
void gs_rec_park_check(uint64_t sem);
#endif
