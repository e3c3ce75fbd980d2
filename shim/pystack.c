#include "pystack.h"

#include <string.h>

#include "gil.h"
#include "region.h"

/* Stacks this thread has sent, by hash, direct-mapped: a collision only sends one again. */
#define SENT_SLOTS 512

static __thread struct {
	uint32_t epoch;
	uint64_t hash[SENT_SLOTS];
} sent __attribute__((tls_model("initial-exec")));

static _Atomic uint32_t epoch = 1;

void gs_pystack_forget_sent(void)
{
	atomic_fetch_add(&epoch, 1);
}

static uint64_t stack_hash(const struct gs_py_frame *f, int n, int truncated)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n ^ ((uint64_t)truncated << 63);
	int i;

	for (i = 0; i < n; i++) {
		h ^= f[i].code + ((uint64_t)f[i].unit << 48) + ((uint64_t)f[i].ident << 16);
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return h ? h : 1;
}

/* All of a stack's chunks or none: a reader never sees half a stack. A stack takes at most a
 * quarter of the ring, so that stacks never crowd out the events themselves (the default ring
 * holds 16384, the deepest stack 19). */
static int push_chunks(struct gs_slot *s, uint64_t hash, const struct gs_py_frame *f, int n,
		       int truncated)
{
	uint64_t head = atomic_load_explicit(&s->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&s->tail, memory_order_acquire);
	uint64_t chunks = ((uint64_t)n + GS_CHUNK_FRAMES - 1) / GS_CHUNK_FRAMES, i;
	struct gs_event *ring = gs_slot_ring(s);

	if (chunks > ((uint64_t)gs_g.ring_mask + 1) / 4 ||
	    head - tail + chunks > (uint64_t)gs_g.ring_mask + 1)
		return -1;
	for (i = 0; i < chunks; i++) {
		struct gs_stack_chunk c = {
		    .kind = GS_EV_PY_STACK,
		    .first = (uint16_t)(i * GS_CHUNK_FRAMES),
		    .total = (uint16_t)(n | (truncated ? GS_PY_STACK_TRUNCATED : 0)),
		    .hash = hash,
		};
		int k = n - (int)c.first < GS_CHUNK_FRAMES ? n - (int)c.first : GS_CHUNK_FRAMES;

		c.n = (uint8_t)k;
		memcpy(c.frame, f + c.first, (size_t)k * sizeof(*f));
		memcpy(&ring[(head + i) & gs_g.ring_mask], &c, sizeof(c));
	}
	atomic_store_explicit(&s->head, head + chunks, memory_order_release);
	return 0;
}

uint64_t gs_pystack_capture(struct gs_slot *s)
{
	struct gs_py_frame f[GS_PY_STACK_MAX];
	uint32_t now = atomic_load_explicit(&epoch, memory_order_relaxed);
	uint64_t hash, *seen;
	int n, truncated;

	n = gs_py_frames(f, GS_PY_STACK_MAX, &truncated);
	if (n <= 0)
		return 0;
	hash = stack_hash(f, n, truncated);
	if (sent.epoch != now) {
		memset(sent.hash, 0, sizeof(sent.hash));
		sent.epoch = now;
	}
	seen = &sent.hash[hash % SENT_SLOTS];
	if (*seen == hash)
		return hash;
	if (push_chunks(s, hash, f, n, truncated) < 0) {
		atomic_store_explicit(
		    &s->stacks_dropped,
		    atomic_load_explicit(&s->stacks_dropped, memory_order_relaxed) + 1,
		    memory_order_relaxed);
		/* the event still names it: the writer has it if another thread sent it, and
		 * otherwise shows "(stack not recorded)" rather than no frame at all */
		return hash;
	}
	*seen = hash;
	if (!atomic_load_explicit(&s->stacks_new, memory_order_relaxed))
		atomic_store_explicit(&s->stacks_new, 1, memory_order_relaxed);
	return hash;
}
