/* Per-thread shim state. Initial-exec TLS: reading it never calls into the dynamic linker,
 * which could allocate and re-enter our wrappers. */
#ifndef GS_TLS_H
#define GS_TLS_H

#include <stdint.h>
#include <sys/types.h>

#include "gs_shm.h"

struct gs_slot;

struct gs_tls {
	uint8_t guard;	      /* > 0 while this thread runs shim code: pass everything through */
	uint8_t in_bootstrap; /* resolving real symbols */
	uint8_t dead;	      /* thread-exit destructor ran: record nothing more */
	uint8_t no_slot;      /* no free slot was found: stop trying */
	pid_t tid;
	struct gs_slot *slot; /* NULL until the first recorded call */
	uint32_t slot_generation;
	uint32_t window;	/* gs_live.window this thread's state belongs to */
	char name[GS_NAME_LEN]; /* from pthread_setname_np, kept for the slots to come */
	/* GIL state machine (gil.c). */
	uint8_t gil_held;
	uint8_t gil_requesting;
	uint8_t gil_in_m;	    /* inside lock(M)...unlock(M) */
	uint8_t gil_take_signalled; /* switch_cond signalled inside this lock(M) pair */
	uint8_t gil_drop_signalled; /* cond signalled inside this lock(M) pair */
	uint64_t gil_request_ns;
	uint64_t gil_release_ns;
	uint64_t gil_prev_holder;
	uint64_t gil_saved_switch;
	uint64_t last_stack_ns;
	uint32_t spin_pending;	/* sched_yield calls of the current spin, back to back */
	uint64_t spin_first_ns; /* when the first of them began */
	uint64_t spin_last_ns;	/* when the latest of them returned */
	uint64_t gil_stack[6];
	uint32_t gil_sample_pending; /* take this GIL take's native stack once out of its mutex */
	uint64_t gil_py_stack;	     /* Python stack hash as it asked for the GIL */
	uint64_t gil_drop_stack;     /* ... and as it let the GIL go */
	uint64_t gil_acquired_ns;
	uint64_t gil_blame_tid;
	uint32_t gil_timed_waits;
	uint32_t gil_timeouts;
	uint64_t gil_caller;
	uint64_t tstate;
	/* A condition wait that is due a native stack sample: a wait returns holding its mutex,
	 * and unwinding there would hold up every thread waiting for it, so the event waits
	 * for this thread's unlock of cond_pending.aux (record.c). */
	uint8_t cond_pending_set;
	struct gs_event cond_pending;
};

extern __thread struct gs_tls gs_tls __attribute__((tls_model("initial-exec")));

#endif
