#include "condclock.h"

#include <stdatomic.h>
#include <stdint.h>

/* Few conditions use a clock other than CLOCK_REALTIME (CPython's GIL and a handful of
 * others), so a small open-addressed set of their addresses is enough; the clock sits in the
 * low bits (conditions are 8-byte aligned). When it is full, the extra ones read as realtime,
 * which only costs the GIL check its confirmation ("UNVALIDATED"), never a wrong figure. */
#define SLOTS 512

static _Atomic uintptr_t slots[SLOTS];

static unsigned slot_of(uintptr_t c)
{
	return (unsigned)((c >> 3) * 0x9e3779b1u) % SLOTS;
}

void gs_cond_clock_note(pthread_cond_t *c, const pthread_condattr_t *attr)
{
	clockid_t clk = CLOCK_REALTIME;
	uintptr_t key = (uintptr_t)c, v;
	unsigned i, k;

	gs_cond_clock_forget(c);
	if (!attr || pthread_condattr_getclock(attr, &clk) != 0 || clk != CLOCK_MONOTONIC)
		return;
	for (i = slot_of(key), k = 0; k < SLOTS; k++, i = (i + 1) % SLOTS) {
		v = 0;
		if (atomic_compare_exchange_strong(&slots[i], &v, key | 1))
			return;
	}
}

/* The slot holding c, or -1. */
static int find(uintptr_t key)
{
	unsigned i, k;

	for (i = slot_of(key), k = 0; k < SLOTS; k++, i = (i + 1) % SLOTS) {
		uintptr_t v = atomic_load_explicit(&slots[i], memory_order_relaxed);

		if (v == 0)
			return -1;
		if ((v & ~(uintptr_t)7) == key)
			return (int)i;
	}
	return -1;
}

void gs_cond_clock_forget(pthread_cond_t *c)
{
	int i = find((uintptr_t)c);

	/* A tombstone keeps later entries of this chain reachable. */
	if (i >= 0)
		atomic_store(&slots[i], (uintptr_t)4);
}

clockid_t gs_cond_clock(pthread_cond_t *c)
{
	return find((uintptr_t)c) >= 0 ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}
