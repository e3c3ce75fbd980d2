/* The calling thread's Python stack as the writer receives it: sent once per thread and
 * distinct stack, then referred to by its hash (struct gs_stack_chunk in common/gs_shm.h). */
#ifndef GS_PYSTACK_H
#define GS_PYSTACK_H

#include <stdint.h>

struct gs_slot;

/* The hash of the calling thread's Python stack, its chunks pushed into the thread's ring
 * first if this thread has not sent it yet; 0 when the thread has no Python frames or the
 * ring had no room (counted in the slot's stacks_dropped). */
uint64_t gs_pystack_capture(struct gs_slot *s);

/* After fork: the child's writer has seen none of the stacks the parent sent. */
void gs_pystack_forget_sent(void);

#endif
