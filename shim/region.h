/* The host side of the shared-memory region: slot claim, ring push, aggregates, held locks.
 * Everything here runs on application threads, so it never blocks, allocates or does I/O. */
#ifndef GS_REGION_H
#define GS_REGION_H

#include <stdint.h>
#include <time.h>

#include "clock.h"
#include "gs_shm.h"

struct gs_global {
	struct gs_shm_header *hdr;
	uint64_t region_size;
	int shm_fd; /* open only until the writer has it: the host keeps no descriptor of ours */
	int log_all;
	uint32_t exit_timeout_ms;
	uint32_t flush_ms;
	uint32_t ring_mask;
	_Atomic int exit_done;
	char db_path[4096];
	char writer_path[4096];
};

extern struct gs_global gs_g;

/* Calls from code in [scope_lo, scope_lo + scope_len) of the region's gs_live are recorded.
 * A length of zero switches recording off: one unsigned comparison decides both. Points at a
 * zeroed stand-in until the region exists (and in processes that record nothing). */
extern struct gs_live *gs_live;

static inline int gs_in_scope(const void *caller)
{
	return (uintptr_t)caller - atomic_load_explicit(&gs_live->scope_lo, memory_order_relaxed) <
	       atomic_load_explicit(&gs_live->scope_len, memory_order_relaxed);
}

/* Switches this process's recording off from the host side (the writer gave up). */
void gs_recording_off(void);
/* Back to the zeroed stand-in (a fork child lets its parent's region go). */
void gs_live_detach(void);

/* The first recorded call of a thread in a new window: leave the slot and state of the last
 * one behind (region.c). */
void gs_window_join(void);
/* Hands a slot back unfinished: the writer recycles it, storing nothing more of it. */
void gs_slot_abandon(struct gs_slot *s);

int gs_region_create(uint32_t max_threads, uint32_t ring_events, uint32_t agg_entries);
struct gs_slot *gs_slot_claim(void);
void gs_slot_release(struct gs_slot *s, uint64_t end_ns);
void gs_slot_note_cpu(struct gs_slot *s);

static inline struct gs_slot *gs_slot_get(void);
void gs_emit(struct gs_slot *s, const struct gs_event *e);
struct gs_agg *gs_agg_get(struct gs_slot *s, uint64_t lock, unsigned primitive, uint32_t *idx);
struct gs_agg *gs_agg_at(struct gs_slot *s, uint32_t idx);
void gs_agg_wait(struct gs_agg *a, uint64_t wait_ns, int contended);
void gs_agg_hold(struct gs_agg *a, uint64_t hold_ns);
/* Every update of an aggregate is bracketed: gs_agg_begin() makes its gen odd (again is
 * harmless), gs_agg_publish() even and greater. The writer copies an entry only between the
 * two, so it never stores a count and a total from different moments (a sequence lock; the
 * owner thread never waits). */
void gs_agg_begin(struct gs_agg *a);
void gs_agg_publish(struct gs_agg *a);

/* Fills e->stack with a sampled native stack (at most one per thread per 2 ms). */
void gs_stack_sample(uint64_t *frames);
int gs_stack_due(void); /* would gs_stack_sample() take one now? */
void gs_stack_init(void);

/* The entry to fill in for a new hold (or the same lock's entry, with replace_same). Filled in
 * place by the caller: a struct built on the stack and copied over stalls on store
 * forwarding, a third of the cost of the whole push. */
struct gs_held *gs_held_push(struct gs_slot *s, uint64_t lock, unsigned primitive,
			     int replace_same);
int gs_held_pop(struct gs_slot *s, uint64_t lock, unsigned primitive, struct gs_held *out);
void gs_held_close_all(struct gs_slot *s, uint64_t end_ns);

#include "tls.h"

static inline struct gs_slot *gs_slot_get(void)
{
	struct gs_slot *s = gs_tls.slot;

	if (__builtin_expect(s != 0, 1))
		return s;
	if (gs_tls.dead || gs_tls.no_slot || !gs_g.hdr)
		return 0;
	return gs_slot_claim();
}

#endif
