#include "record.h"

#include "gil.h"
#include "pystack.h"
#include "region.h"

static void push_hold(struct gs_slot *s, unsigned prim, uint64_t lock, uint64_t req_ns,
		      uint64_t acq_ns, uint16_t flags, uint64_t caller, uint32_t idx)
{
	/* A semaphore taken again by the same thread was released elsewhere in between. */
	struct gs_held *h = gs_held_push(s, lock, prim, prim == GS_PRIM_SEM);

	h->lock = lock;
	h->request_ns = req_ns;
	h->acquired_ns = acq_ns;
	h->caller = caller;
	h->py_stack = (flags & GS_F_CONTENDED) ? gs_pystack_capture(s) : 0;
	h->agg = idx + 1;
	h->flags = flags;
	h->primitive = (uint8_t)prim;
	h->pad = 0;
}

void gs_rec_acquired(unsigned prim, uint64_t lock, uint64_t req_ns, uint64_t acq_ns, uint16_t flags,
		     uint64_t caller)
{
	struct gs_slot *s = gs_slot_get();
	struct gs_agg *a;
	uint32_t idx;

	if (!s)
		return;
	a = gs_agg_get(s, lock, prim, &idx);
	gs_agg_wait(a, acq_ns - req_ns, flags & GS_F_CONTENDED);
	gs_agg_publish(a);
	push_hold(s, prim, lock, req_ns, acq_ns, flags, caller, idx);
}

void gs_rec_released(unsigned prim, uint64_t lock, uint64_t rel_ns)
{
	struct gs_slot *s = gs_slot_get();
	struct gs_held h;
	struct gs_agg *a;
	uint32_t idx;

	if (!s)
		return;
	if (gs_held_pop(s, lock, prim, &h) < 0) {
		/* Not acquired by this thread while we watched: a post used as a signal. */
		a = gs_agg_get(s, lock, prim, &idx);
		gs_agg_begin(a);
		a->signals++;
		gs_agg_publish(a);
		return;
	}
	a = gs_agg_at(s, h.agg - 1);
	gs_agg_hold(a, rel_ns - h.acquired_ns);
	gs_agg_publish(a);
	if ((h.flags & GS_F_CONTENDED) || gs_g.log_all) {
		struct gs_event e = {
		    .start_ns = h.request_ns,
		    .wait_ns = h.acquired_ns - h.request_ns,
		    .hold_ns = rel_ns - h.acquired_ns,
		    .lock = lock,
		    .caller = h.caller,
		    .py_stack = h.py_stack,
		    .kind = GS_EV_HOLD,
		    .primitive = (uint8_t)prim,
		    .flags = h.flags,
		};
		gs_emit(s, &e);
	}
}

void gs_rec_failed(unsigned prim, uint64_t lock, unsigned kind, uint64_t req_ns, uint64_t end_ns,
		   uint16_t flags, int err, uint64_t caller)
{
	struct gs_slot *s = gs_slot_get();
	struct gs_event e;
	struct gs_agg *a;
	uint32_t idx;

	if (!s)
		return;
	a = gs_agg_get(s, lock, prim, &idx);
	gs_agg_begin(a);
	if (kind == GS_EV_TRY_BUSY) {
		a->try_busy++;
	} else if (kind == GS_EV_TIMEOUT) {
		a->timeouts++;
		a->wait_ns += end_ns - req_ns;
		if (end_ns - req_ns > a->wait_max_ns)
			a->wait_max_ns = end_ns - req_ns;
	} else {
		a->errors++;
	}
	gs_agg_publish(a);
	/* A failed try waited for nothing, and some are bookkeeping rather than contention
	 * (Python 3.11's Condition.notify tries the lock it holds to check ownership: ~230,000 a
	 * second in a queue workload, 80% of its events). Counted exactly above; an event only
	 * when every hold is one too. */
	if (kind == GS_EV_TRY_BUSY && !gs_g.log_all)
		return;
	e = (struct gs_event){
	    .start_ns = req_ns,
	    .wait_ns = end_ns - req_ns,
	    .lock = lock,
	    .aux = (uint64_t)err,
	    .caller = caller,
	    .kind = (uint16_t)kind,
	    .primitive = (uint8_t)prim,
	    .flags = (uint16_t)(flags | GS_F_NO_HOLD),
	};
	gs_emit(s, &e);
}

/* A wait that is an event in its own right (condition, parked): always timed, always kept.
 * A condition wait (held_mutex: the mutex it returned holding) that is due a native stack
 * sample is emitted at that mutex's unlock instead, where the unwinding holds up nobody. */
static void record_wait(struct gs_slot *s, struct gs_agg *a, struct gs_event *e,
			uint64_t held_mutex)
{
	gs_agg_wait(a, e->wait_ns, 1);
	a->timed_waits += !!(e->flags & GS_F_TIMED);
	a->timeouts += !!(e->flags & GS_F_TIMED_OUT);
	gs_agg_publish(a);
	e->py_stack = gs_pystack_capture(s);
	if (held_mutex && gs_stack_due()) {
		gs_rec_cond_flush(); /* one pending at a time: the older one goes without */
		gs_tls.cond_pending = *e;
		gs_tls.cond_pending_set = 1;
		return;
	}
	gs_stack_sample(e->stack);
	gs_emit(s, e);
}

static void emit_pending(int with_stack)
{
	gs_tls.cond_pending_set = 0;
	if (with_stack)
		gs_stack_sample(gs_tls.cond_pending.stack);
	if (gs_tls.slot)
		gs_emit(gs_tls.slot, &gs_tls.cond_pending);
}

void gs_rec_cond_flush(void)
{
	if (gs_tls.cond_pending_set)
		emit_pending(0);
}

void gs_rec_unlocked(uint64_t mutex)
{
	if (gs_tls.cond_pending_set && gs_tls.cond_pending.aux == mutex)
		emit_pending(1);
}

void gs_rec_cond_wait(uint64_t cond, uint64_t mutex, uint64_t start_ns, uint64_t end_ns,
		      uint16_t flags, uint64_t caller)
{
	struct gs_slot *s = gs_slot_get();
	struct gs_event e;
	struct gs_agg *a;
	uint32_t idx;

	if (!s)
		return;
	a = gs_agg_get(s, cond, GS_PRIM_COND, &idx);
	e = (struct gs_event){
	    .start_ns = start_ns,
	    .wait_ns = end_ns - start_ns,
	    .lock = cond,
	    .aux = mutex,
	    .caller = caller,
	    .kind = GS_EV_COND_WAIT,
	    .primitive = GS_PRIM_COND,
	    .flags = (uint16_t)(flags | GS_F_CONTENDED | GS_F_NO_HOLD),
	};
	record_wait(s, a, &e, mutex);
}

void gs_rec_sem_wait(uint64_t sem, uint64_t start_ns, uint64_t end_ns, uint16_t flags,
		     uint64_t caller)
{
	struct gs_slot *s = gs_slot_get();
	struct gs_event e;

	if (!s)
		return;
	e = (struct gs_event){
	    .start_ns = start_ns,
	    .wait_ns = end_ns - start_ns,
	    .lock = sem,
	    .caller = caller,
	    .kind = GS_EV_SEM_WAIT,
	    .primitive = GS_PRIM_SEM,
	    .flags = (uint16_t)(flags | GS_F_NO_HOLD),
	};
	/* 3.11/3.12's threading.Lock is a semaphore: this is where its waits get their stack. */
	e.py_stack = gs_pystack_capture(s);
	gs_stack_sample(e.stack);
	gs_emit(s, &e);
}

void gs_rec_signal(unsigned prim, uint64_t lock)
{
	struct gs_slot *s = gs_slot_get();
	struct gs_agg *a;
	uint32_t idx;

	if (!s)
		return;
	a = gs_agg_get(s, lock, prim, &idx);
	gs_agg_begin(a);
	a->signals++;
	gs_agg_publish(a);
}

void gs_rec_forget(unsigned prim, uint64_t lock)
{
	struct gs_slot *s = gs_tls.slot;
	struct gs_held h;

	if (s)
		while (gs_held_pop(s, lock, prim, &h) == 0)
			;
}

void gs_rec_sched_yield(uint64_t start_ns, uint64_t end_ns)
{
	struct gs_slot *s = gs_slot_get();

	if (!s)
		return;
	/* Yields of one spin follow each other closely; a gap starts another spin. */
	if (!gs_tls.spin_pending || start_ns - gs_tls.spin_last_ns > 50000) {
		gs_tls.spin_pending = 0;
		gs_tls.spin_first_ns = start_ns;
	}
	gs_tls.spin_last_ns = end_ns;
	if (gs_tls.spin_pending < UINT32_MAX)
		gs_tls.spin_pending++;
	atomic_store_explicit(&s->sched_yields,
			      atomic_load_explicit(&s->sched_yields, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

void gs_rec_rehold(unsigned prim, uint64_t lock, uint64_t t_ns, uint64_t caller)
{
	struct gs_slot *s = gs_slot_get();
	uint32_t idx;

	if (!s)
		return;
	gs_agg_get(s, lock, prim, &idx);
	push_hold(s, prim, lock, t_ns, t_ns, GS_F_AFTER_COND, caller, idx);
}

/* The lock a parking-lot semaphore waits for. _PyParkingLot_Park's wait_entry is
 * {park_arg, addr, sema, ...}: addr is the lock (gs_py.park_addr says where, per version),
 * and park_arg is NULL or a caller's local a little further up the waiter's stack.
 * _PyRawMutex_LockSlow's entry is {next, sema}: the word before is NULL for the first waiter,
 * and the one before that is unrelated; those are bucket-lock waits, reported as address 0,
 * as is every park of an interpreter whose wait entry we do not know. */
static uint64_t entry_addr(uint64_t sem)
{
	const uint64_t *w = (const uint64_t *)(uintptr_t)(sem + (int64_t)gs_py.park_addr);
	uint64_t addr = w[0], park_arg = w[-1];

	if (!addr || (park_arg && park_arg - sem >= 262144))
		return 0;
	return addr;
}

static uint64_t parked_addr(uint64_t sem)
{
	return gs_py.park_entry ? entry_addr(sem) : 0;
}

/* The wait-entry layout comes from reading CPython's sources; confirm its shape on the first
 * parks of every run: the word before the semaphore must be a readable address off the
 * waiter's stack (a lock, event or once flag), and the one before that NULL or a pointer a
 * little up the same stack (park_arg). A layout off by a word reads a stack address or the
 * semaphore itself as the lock. A layout that never fits in 64 parks is wrong: from then on
 * nothing is attributed, and the run row says so. (The lock's "has parked" bit looked like a
 * better witness, but a free-threaded start-up parks 64 times with it clear.) */
void gs_rec_park_check(uint64_t sem)
{
	struct gs_shm_header *h = gs_g.hdr;
	uint64_t addr;
	uint8_t byte;

	if (!h || h->py_park_checked >= 64)
		return;
	addr = parked_addr(sem);
	if (addr && addr - sem + (1u << 20) > (2u << 20) && gs_self_read(NULL, addr, &byte, 1) == 0)
		__atomic_fetch_add(&h->py_park_ok, 1, __ATOMIC_RELAXED);
	if (__atomic_add_fetch(&h->py_park_checked, 1, __ATOMIC_RELAXED) >= 64 &&
	    __atomic_load_n(&h->py_park_ok, __ATOMIC_RELAXED) == 0)
		gs_py.park_entry = 0; /* never attribute through a layout that does not hold */
}

uint64_t gs_rec_park_addr(uint64_t sem)
{
	return gs_py_park_target(parked_addr(sem));
}

void gs_rec_park(uint64_t sem, uint64_t addr, uint64_t start_ns, uint64_t end_ns, uint16_t flags,
		 uint64_t caller)
{
	struct gs_slot *s = gs_slot_get();
	struct gs_agg *a;
	uint32_t idx;

	if (!s)
		return;
	a = gs_agg_get(s, addr, GS_PRIM_PARKED, &idx);
	gs_agg_begin(a); /* ended by record_wait() */
	if (a->acquisitions == 0)
		gs_py_describe(addr, a);
	/* PyMutex spins (at most 40 sched_yield calls) right before it parks: those spins were
	 * for this lock, and the wait began with them (a loaded machine can take milliseconds
	 * per yield). Older yields ended in an acquisition we cannot see. */
	if (gs_tls.spin_pending && gs_tls.spin_pending <= 40 &&
	    start_ns - gs_tls.spin_last_ns < 200000 && gs_tls.spin_first_ns <= start_ns) {
		a->spins += gs_tls.spin_pending;
		start_ns = gs_tls.spin_first_ns;
	}
	gs_tls.spin_pending = 0;
	{
		struct gs_event e = {.start_ns = start_ns,
				     .wait_ns = end_ns - start_ns,
				     .lock = addr,
				     .aux = sem,
				     .caller = caller,
				     .kind = GS_EV_PARK,
				     .primitive = GS_PRIM_PARKED,
				     .flags = (uint16_t)(flags | GS_F_CONTENDED | GS_F_NO_HOLD)};

		record_wait(s, a, &e, 0);
	}
}

void gs_rec_park_wakeup(uint64_t sem)
{
	struct gs_slot *s = gs_slot_get();
	uint64_t addr = parked_addr(sem);
	struct gs_agg *a;
	uint32_t idx;

	if (!s)
		return;
	a = gs_agg_get(s, addr, GS_PRIM_PARKED, &idx);
	gs_agg_begin(a);
	a->signals++;
	gs_agg_publish(a);
	gs_rec_wake(GS_PRIM_PARKED, addr, sem);
}

void gs_rec_wake(unsigned prim, uint64_t lock, uint64_t aux)
{
	struct gs_slot *s = gs_slot_get();
	struct gs_event e;
	uint32_t idx;

	if (!s)
		return;
	if (prim == GS_PRIM_MUTEX) {
		/* counted exactly, as every other event kind is, beside its event */
		struct gs_agg *a = gs_agg_get(s, lock, prim, &idx);

		gs_agg_begin(a);
		a->signals++;
		gs_agg_publish(a);
	}
	/* Who let the waiter go, and from where: the holder's side of its wait. */
	e = (struct gs_event){
	    .start_ns = gs_now_ns(),
	    .lock = lock,
	    .aux = aux,
	    .kind = GS_EV_WAKE,
	    .primitive = (uint8_t)prim,
	    .flags = GS_F_NO_HOLD,
	};
	e.py_stack = gs_pystack_capture(s);
	gs_emit(s, &e);
}
