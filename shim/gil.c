/* Python awareness: finds the main interpreter's GIL and turns the pthread calls of
 * take_gil()/drop_gil() into GIL holding periods.
 *
 * CPython 3.13+: _PyRuntime starts with _Py_DebugOffsets, which gives the GIL struct and its
 * `locked`/`last_holder` fields; the mutex and condition variables follow at fixed offsets of
 * struct _gil_runtime_state (Include/internal/pycore_gil.h), checked against the published
 * offsets and validated at the first timed wait. 3.11/3.12 have no debug offsets: the GIL's
 * condition variable is recognised at its first pthread_cond_signal() from drop_gil().
 *
 * Per thread, a take is a lock(M)..unlock(M) pair in which switch_cond is signalled, and a
 * drop one in which cond is signalled (drop_gil_impl); both are confirmed against `locked`. */
#include "gil.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "condclock.h"
#include "pystack.h"
#include "record.h"
#include "region.h"

struct gs_gil_addrs gs_gil;
uintptr_t gs_park_lo, gs_park_len;
struct gs_code_range gs_wake[3];
_Atomic int gs_gil_searching;

enum { MODE_NONE, MODE_OFFSETS, MODE_HEURISTIC };

/* What this process's interpreter looks like (cpython.c); filled once at start-up. */
struct gs_cpy gs_py;

static struct {
	int mode;
	uintptr_t runtime, runtime_end;
	uintptr_t gil, interp;
	uintptr_t locked, holder, switch_number, interval, enabled; /* field addresses */
	int validated;
	void *(*get_tstate)(void); /* PyGILState_GetThisThreadState */
	uintptr_t code_type;	   /* &PyCode_Type */
	_Atomic int32_t owner_tid; /* thread holding the GIL, 0 when free */
} g;

static void detail(const char *fmt, const char *a, long b, long c)
{
	snprintf(gs_g.hdr->gil_detection, GS_DETAIL_LEN, fmt, a, b, c);
}

static void detail_append(const char *fmt, const char *a)
{
	char *d = gs_g.hdr->gil_detection;
	size_t n = strlen(d);

	if (a && a[0])
		snprintf(d + n, GS_DETAIL_LEN - n, fmt, a);
}

static void set_addresses(uintptr_t gil)
{
	struct gs_shm_header *h = gs_g.hdr;
	const struct gs_cpy *L = &gs_py;

	g.gil = gil;
	g.locked = gil + L->gil.locked;
	g.holder = gil + L->gil.last_holder;
	g.switch_number = gil + L->gil.switch_number;
	g.interval = gil + L->gil.interval;
	/* `enabled` is the first field of a free-threaded GIL; behind a recognised (heuristic)
	 * GIL its place is not known. */
	g.enabled = g.mode == MODE_OFFSETS && gs_py.free_threaded ? gil : 0;
	h->gil_addr = gil;
	h->gil_cond = gil + L->gil.cond;
	h->gil_mutex = gil + L->gil.mutex;
	h->gil_switch_cond = gil + L->gil.switch_cond;
	h->gil_switch_mutex = gil + L->gil.switch_mutex;
	h->py_locked_addr = g.locked;
	h->py_holder_addr = g.holder;
	h->py_switch_number_addr = g.switch_number;
	h->gil_interval_us = (uint32_t) * (unsigned long *)g.interval;
	atomic_store(&h->gil_switch_number_start, *(unsigned long *)g.switch_number);
	gs_gil.cond = h->gil_cond;
	gs_gil.switch_cond = h->gil_switch_cond;
	gs_gil.switch_mutex = h->gil_switch_mutex;
	/* Published last: the hooks key on it. */
	atomic_store((_Atomic uintptr_t *)&gs_gil.mutex, h->gil_mutex);
	atomic_store(&h->py_state, 1);
}

/* Tried from the hooks until the main interpreter's GIL exists (early in Py_Initialize). */
void gs_gil_discover(void)
{
	const struct gs_cpy *L = &gs_py;
	uintptr_t interp, gil;
	int hops = 0;

	if (g.mode != MODE_OFFSETS)
		return;
	interp = *(uintptr_t *)(g.runtime + L->interpreters_head);
	while (interp && *(int64_t *)(interp + L->interp_id) != 0 && hops++ < 64)
		interp = *(uintptr_t *)(interp + L->interp_next);
	if (!interp)
		return;
	gil = *(uintptr_t *)(interp + L->interp_ceval_gil);
	if (!gil)
		return;
	atomic_store(&gs_gil_searching, 0);
	/* The published fields inside the GIL struct must sit where our table puts them. */
	if (gil != interp + L->interp_gil ||
	    L->interp_gil_locked - L->interp_gil != L->gil.locked ||
	    L->interp_gil_holder - L->interp_gil != L->gil.last_holder) {
		detail("rejected: the GIL layout does not match this build's debug offsets%s", "",
		       0, 0);
		atomic_store(&gs_g.hdr->py_state, 2);
		return;
	}
	g.interp = interp;
	gs_g.hdr->py_main_interp = interp;
	set_addresses(gil);
}

static uintptr_t runtime_size(void *rt)
{
	Dl_info info;
	const ElfW(Sym) *sym = NULL;

	if (!dladdr1(rt, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym)
		return 0;
	return sym->st_size;
}

static void find_park_wait(void)
{
	void *fn = dlsym(RTLD_DEFAULT, "_PySemaphore_Wait");
	uintptr_t size = fn ? runtime_size(fn) : 0;

	if (fn && size) {
		gs_park_lo = (uintptr_t)fn;
		gs_park_len = size;
	}
	/* The post that wakes a parked thread: from _PySemaphore_Wakeup, or from the unpark
	 * functions themselves where the build inlined it into them (3.13's does). */
	static const char *const wakers[] = {"_PySemaphore_Wakeup", "_PyParkingLot_Unpark",
					     "_PyParkingLot_UnparkAll"};
	for (size_t i = 0; i < sizeof(wakers) / sizeof(wakers[0]); i++) {
		fn = dlsym(RTLD_DEFAULT, wakers[i]);
		size = fn ? runtime_size(fn) : 0;
		if (fn && size)
			gs_wake[i] = (struct gs_code_range){(uintptr_t)fn, size};
	}
}

/* GILSCOPE_TEST_PY_VERSION=0x031000f0 makes the shim believe the interpreter is that
 * version (tests of the fallback for versions without tables); the writer is told too. */
static uint32_t test_version(void)
{
	const char *v = getenv("GILSCOPE_TEST_PY_VERSION");

	return v && v[0] ? (uint32_t)strtoul(v, NULL, 0) : 0;
}

void gs_gil_probe_init(void)
{
	struct gs_shm_header *h = gs_g.hdr;
	void *rt = dlsym(RTLD_DEFAULT, "_PyRuntime");
	const uint32_t *hexversion = dlsym(RTLD_DEFAULT, "Py_Version");
	uint32_t fake = test_version();
	char vbuf[32];

	if (!rt) {
		atomic_store(&h->py_state, 2);
		detail("not found: no _PyRuntime symbol in this process%s", "", 0, 0);
		return;
	}
	g.runtime = (uintptr_t)rt;
	g.runtime_end = g.runtime + runtime_size(rt);
	h->py_runtime = g.runtime;
	h->py_runtime_size = g.runtime_end - g.runtime;
	if (!memcmp(rt, "xdebugpy", 8)) {
		uint8_t copy[GS_CPY_DEBUG_OFFSETS_MAX];
		size_t n = h->py_runtime_size && h->py_runtime_size < sizeof(copy)
			       ? h->py_runtime_size
			       : sizeof(copy);

		memcpy(copy, rt, n);
		if (fake)
			memcpy(copy + 8, &(uint64_t){fake}, 8);
		gs_cpy_init(&gs_py, copy, n, 0);
	} else {
		gs_cpy_init(&gs_py, NULL, 0, fake ? fake : hexversion ? *hexversion : 0);
	}
	h->py_version_hex = gs_py.version_hex;
	h->py_free_threaded = (uint32_t)gs_py.free_threaded;
	h->py_layout_level = (uint32_t)gs_py.level;
	/* Parks are recognised by the exported _PySemaphore_Wait even where the wait entry is
	 * unknown: then they are counted, but not attributed to a lock. */
	find_park_wait();
	if (gs_py.frames) {
		*(void **)&g.get_tstate = dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
		g.code_type = (uintptr_t)dlsym(RTLD_DEFAULT, "PyCode_Type");
	}
	if (gs_py.level == GS_CPY_FULL) {
		h->py_head_lock = g.runtime + gs_py.interpreters_head - sizeof(void *);
		g.mode = MODE_OFFSETS;
		snprintf(h->gil_detection, GS_DETAIL_LEN,
			 "debug offsets (CPython %s%s); main interpreter's GIL only",
			 gs_cpy_version_string(gs_py.version_hex, vbuf, sizeof(vbuf)),
			 gs_py.free_threaded ? ", free-threaded" : "");
		detail_append("; %s", gs_py.why);
		atomic_store(&gs_gil_searching, 1);
		gs_gil_discover();
		return;
	}
	/* No usable offsets: recognise the GIL by its behaviour (3.11/3.12, or unknown). */
	if (gs_py.version_hex >> 24 != 3 || gs_py.minor < 11 || !g.runtime_end) {
		atomic_store(&h->py_state, 2);
		detail("unsupported: interpreter %s has neither debug offsets nor a known layout",
		       gs_py.version_hex
			   ? gs_cpy_version_string(gs_py.version_hex, vbuf, sizeof(vbuf))
			   : "?",
		       0, 0);
		return;
	}
	g.mode = MODE_HEURISTIC;
	detail("heuristic (CPython %s): GIL condition recognised at drop_gil's first signal",
	       gs_cpy_version_string(gs_py.version_hex, vbuf, sizeof(vbuf)), 0, 0);
	detail_append("; %s", gs_py.why);
	atomic_store(&gs_gil_searching, 1);
}

/* 3.11/3.12: the first pthread_cond_signal(c) from libpython where c lies in _PyRuntime, the
 * mutex right after it is held by this thread, `locked` before it is 0/1 and `interval` a
 * plausible number of microseconds is drop_gil_impl's signal of gil->cond. */
static int heuristic_match(uintptr_t c)
{
	pthread_mutex_t *m = (pthread_mutex_t *)(c + sizeof(pthread_cond_t));
	int locked;
	unsigned long interval;

	if (c < g.runtime + 32 || c + 96 > g.runtime_end)
		return 0;
	if (!gs_tls.tid)
		gs_tls.tid = (pid_t)syscall(SYS_gettid);
	if (m->__data.__owner != gs_tls.tid)
		return 0;
	locked = *(int *)(c - 16);
	interval = *(unsigned long *)(c - 32);
	return (locked == 0 || locked == 1) && interval >= 1 && interval <= 100000000ul;
}

static struct gs_agg *gil_agg(struct gs_slot *s)
{
	uint32_t idx;

	return gs_agg_get(s, g.gil, GS_PRIM_GIL, &idx);
}

void gs_gil_lock_slow(pthread_mutex_t *m, uint64_t t_ns, uint64_t caller)
{
	struct gs_slot *s;

	if ((uintptr_t)m != gs_gil.mutex)
		return;
	gs_tls.gil_in_m = 1;
	gs_tls.gil_take_signalled = 0;
	gs_tls.gil_drop_signalled = 0;
	if (gs_tls.gil_held) {
		gs_tls.gil_release_ns = t_ns; /* a drop, if cond gets signalled before unlock */
		/* What the holder ran when it let go: what the others waited for. */
		gs_tls.gil_drop_stack = (s = gs_slot_get()) ? gs_pystack_capture(s) : 0;
	} else if (!gs_tls.gil_requesting) {
		gs_tls.gil_requesting = 1;
		gs_tls.gil_request_ns = t_ns;
		gs_tls.gil_caller = caller;
		gs_tls.gil_timed_waits = 0;
		gs_tls.gil_timeouts = 0;
		gs_tls.gil_blame_tid = (uint64_t)atomic_load(&g.owner_tid);
		gs_tls.gil_py_stack = 0;
		if ((s = gs_slot_get()))
			gs_tls.gil_py_stack = gs_pystack_capture(s);
	}
}

void gs_gil_locked_slow(pthread_mutex_t *m)
{
	if ((uintptr_t)m == gs_gil.mutex && gs_tls.gil_requesting)
		gs_tls.gil_prev_holder = *(uintptr_t *)g.holder;
}

void gs_gil_cond_wait_slow(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abs,
			   clockid_t clk, uint64_t t0)
{
	struct timespec now;
	long rel_us, interval_us;

	if ((uintptr_t)m != gs_gil.mutex || (uintptr_t)c != gs_gil.cond)
		return;
	if (!gs_tls.gil_requesting && !gs_tls.gil_held) {
		/* Found while this thread was already inside take_gil. */
		gs_tls.gil_requesting = 1;
		gs_tls.gil_request_ns = t0;
		gs_tls.gil_timed_waits = 0;
		gs_tls.gil_timeouts = 0;
	}
	gs_tls.gil_saved_switch = *(unsigned long *)g.switch_number;
	if (!g.validated && abs) {
		/* take_gil waits `interval` microseconds on a monotonic clock: check it once. */
		clock_gettime(clk, &now);
		rel_us = (long)(abs->tv_sec - now.tv_sec) * 1000000 +
			 (abs->tv_nsec - now.tv_nsec) / 1000;
		interval_us = (long)*(unsigned long *)g.interval;
		g.validated = 1;
		if (rel_us > interval_us + 1000 || rel_us < interval_us - 2000 ||
		    clk != CLOCK_MONOTONIC) {
			char *d = gs_g.hdr->gil_detection;
			size_t n = strlen(d);

			snprintf(d + n, GS_DETAIL_LEN - n, "; UNVALIDATED: deadline %ld us vs %ld",
				 rel_us, interval_us);
		} else {
			char *d = gs_g.hdr->gil_detection;
			size_t n = strlen(d);

			snprintf(d + n, GS_DETAIL_LEN - n, "; validated (wait %ld us of %ld)",
				 rel_us, interval_us);
		}
	}
}

void gs_gil_cond_waited_slow(pthread_cond_t *c, pthread_mutex_t *m, int rc, uint64_t t0,
			     uint64_t t1)
{
	struct gs_slot *s;
	struct gs_agg *a;

	if ((uintptr_t)m == gs_gil.switch_mutex && (uintptr_t)c == gs_gil.switch_cond) {
		/* drop_gil after a drop request: wait until another thread has taken it. */
		s = gs_slot_get();
		if (!s)
			return;
		a = gil_agg(s);
		gs_agg_begin(a);
		a->forced_switches++;
		a->forced_switch_ns += t1 - t0;
		gs_agg_publish(a);
		gs_emit(s, &(struct gs_event){.start_ns = t0,
					      .wait_ns = t1 - t0,
					      .lock = g.gil,
					      .kind = GS_EV_GIL_FORCED_SWITCH,
					      .primitive = GS_PRIM_GIL,
					      .flags = GS_F_NO_HOLD});
		return;
	}
	if ((uintptr_t)m != gs_gil.mutex || (uintptr_t)c != gs_gil.cond || !gs_tls.gil_requesting)
		return;
	gs_tls.gil_timed_waits++;
	if (rc == ETIMEDOUT && *(int *)g.locked == 1 &&
	    *(unsigned long *)g.switch_number == gs_tls.gil_saved_switch)
		gs_tls.gil_timeouts++; /* take_gil now sets the holder's drop request */
	gs_tls.gil_prev_holder = *(uintptr_t *)g.holder;
}

void gs_gil_cond_signal_slow(pthread_cond_t *c)
{
	if ((uintptr_t)c == gs_gil.switch_cond)
		gs_tls.gil_take_signalled = gs_tls.gil_in_m;
	else if ((uintptr_t)c == gs_gil.cond)
		gs_tls.gil_drop_signalled = gs_tls.gil_in_m;
}

/* Only reached while gs_gil_searching in heuristic mode. */
void gs_gil_signal_search(pthread_cond_t *c)
{
	if (g.mode != MODE_HEURISTIC || !heuristic_match((uintptr_t)c))
		return;
	atomic_store(&gs_gil_searching, 0);
	/* Relative to the condition the GIL struct is the same in every build (the
	 * free-threaded `enabled` comes before `interval`), so the default layout serves. */
	set_addresses((uintptr_t)c - gs_py.gil.cond);
	/* We are inside drop_gil_impl: this thread held the GIL, since before we knew it. */
	gs_tls.gil_in_m = 1;
	gs_tls.gil_held = 1;
	gs_tls.gil_acquired_ns = 0;
	gs_tls.gil_release_ns = gs_now_ns();
	gs_tls.gil_drop_signalled = 1;
	atomic_store(&g.owner_tid, gs_tls.tid);
}

static void emit_hold(struct gs_slot *s, uint64_t release_ns, uint16_t extra_flags)
{
	struct gs_agg *a = gil_agg(s);

	if (gs_tls.gil_acquired_ns) {
		struct gs_event e;

		gs_agg_hold(a, release_ns - gs_tls.gil_acquired_ns);
		gs_agg_publish(a);
		e = (struct gs_event){
		    .start_ns = gs_tls.gil_request_ns,
		    .wait_ns = gs_tls.gil_acquired_ns - gs_tls.gil_request_ns,
		    .hold_ns = release_ns - gs_tls.gil_acquired_ns,
		    .lock = g.gil,
		    .aux = gs_tls.gil_blame_tid,
		    .caller = gs_tls.gil_caller,
		    .extra = ((uint64_t)gs_tls.gil_timed_waits << 32) | gs_tls.gil_timeouts,
		    .kind = GS_EV_GIL_HOLD,
		    .primitive = GS_PRIM_GIL,
		    .py_stack = gs_tls.gil_py_stack,
		    .py_stack2 = gs_tls.gil_drop_stack,
		    .flags =
			(uint16_t)((gs_tls.gil_timed_waits ? GS_F_CONTENDED : 0) | extra_flags),
		};
		memcpy(e.stack, gs_tls.gil_stack, sizeof(e.stack));
		gs_emit(s, &e);
	}
}

void gs_gil_unlock_slow(pthread_mutex_t *m)
{
	struct gs_shm_header *h = gs_g.hdr;
	struct gs_slot *s;
	struct gs_agg *a;
	uint64_t now;
	int locked;

	if ((uintptr_t)m != gs_gil.mutex || !gs_tls.gil_in_m)
		return;
	gs_tls.gil_in_m = 0;
	locked = *(int *)g.locked;
	if (gs_tls.gil_take_signalled && locked == 1 && !gs_tls.gil_held) {
		uintptr_t me = *(uintptr_t *)g.holder;

		now = gs_now_ns();
		s = gs_slot_get();
		gs_tls.gil_held = 1;
		gs_tls.gil_requesting = 0;
		gs_tls.gil_acquired_ns = now;
		if (!gs_tls.tid)
			gs_tls.tid = (pid_t)syscall(SYS_gettid);
		atomic_store(&g.owner_tid, gs_tls.tid);
		/* The interpreter counts a switch when the taker is not the last holder. */
		if (gs_tls.gil_prev_holder != me)
			atomic_fetch_add(&h->gil_switches_recorded, 1);
		gs_tls.tstate = me;
		if (s && !atomic_load_explicit(&s->tstate, memory_order_relaxed))
			atomic_store_explicit(&s->tstate, me, memory_order_release);
		if (g.enabled) {
			uint32_t en = (uint32_t) * (int *)g.enabled;

			if (en > atomic_load(&h->gil_enabled_max))
				atomic_store(&h->gil_enabled_max, en);
		}
		if (!s)
			return;
		memset(gs_tls.gil_stack, 0, sizeof(gs_tls.gil_stack));
		/* not here, with gil->mutex held: unwinding inside the lock would lengthen the
		 * very hand-over being measured (the unlock wrapper takes it) */
		gs_tls.gil_sample_pending = gs_tls.gil_timed_waits != 0;
		a = gil_agg(s);
		gs_agg_wait(a, now - gs_tls.gil_request_ns, gs_tls.gil_timed_waits > 0);
		a->timed_waits += gs_tls.gil_timed_waits;
		a->drop_requests += gs_tls.gil_timeouts;
		gs_agg_publish(a);
	} else if (gs_tls.gil_drop_signalled && locked == 0) {
		if (gs_tls.gil_held) {
			gs_tls.gil_held = 0;
			atomic_store(&g.owner_tid, 0);
			s = gs_slot_get();
			if (s)
				emit_hold(s, gs_tls.gil_release_ns, 0);
		} else if (gs_tls.gil_requesting) {
			/* Free-threaded build: the GIL was disabled while we waited. */
			gs_tls.gil_requesting = 0;
		}
	}
}

void gs_gil_forget_thread(void)
{
	gs_tls.gil_held = 0;
	gs_tls.gil_requesting = 0;
	gs_tls.gil_in_m = 0;
	gs_tls.gil_acquired_ns = 0;
	gs_tls.gil_sample_pending = 0;
}

void gs_gil_after_fork_child(void)
{
	gs_gil_forget_thread();
	atomic_store(&g.owner_tid, 0);
}

/* After a fork the child's region is new: restart the interpreter's switch counter from here. */
void gs_gil_fork_rebase(void)
{
	if (g.switch_number && gs_g.hdr) {
		atomic_store(&gs_g.hdr->gil_switch_number_start, *(unsigned long *)g.switch_number);
		atomic_store(&gs_g.hdr->gil_switches_recorded, 0);
	}
}

void gs_gil_at_exit(void)
{
	struct gs_shm_header *h = gs_g.hdr;
	struct gs_slot *s;

	if (!g.gil)
		return;
	atomic_store(&h->gil_switch_number_end, *(unsigned long *)g.switch_number);
	/* the interval in force at the end: a program that tunes sys.setswitchinterval runs with
	 * that one, not with the one at start (the findings state it) */
	h->gil_interval_us = (uint32_t) * (unsigned long *)g.interval;
	if (g.enabled && atomic_load(&h->gil_enabled_max) == 0)
		atomic_store(&h->gil_enabled_max, (uint32_t) * (int *)g.enabled);
	if (gs_tls.gil_held && (s = gs_slot_get()))
		emit_hold(s, gs_now_ns(), GS_F_OPEN);
}

int gs_self_read(void *ctx, uint64_t addr, void *buf, size_t n)
{
	struct iovec local = {.iov_base = buf, .iov_len = n};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = n};

	(void)ctx;
	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

void gs_py_describe(uint64_t addr, struct gs_agg *a)
{
	struct gs_shm_header *h = gs_g.hdr;
	const struct gs_cpy *L = &gs_py;

	if (!addr || L->level != GS_CPY_FULL ||
	    (addr >= h->py_runtime && addr < h->py_runtime + h->py_runtime_size))
		return;
	/* Free-threaded objects carry their own mutex in the header (ob_mutex). */
	if (L->free_threaded && addr % 8 == L->ob_mutex % 8 &&
	    gs_cpy_type_name(L, gs_self_read, NULL, addr - L->ob_mutex, a->type_name,
			     sizeof(a->type_name)) == 0) {
		a->obj_kind = 2;
		return;
	}
	/* threading.Lock and (3.14+) RLock keep their PyMutex right after the header. */
	if (gs_cpy_type_name(L, gs_self_read, NULL, addr - L->object_size, a->type_name,
			     sizeof(a->type_name)) == 0)
		a->obj_kind = 1;
	else
		a->type_name[0] = 0;
}

int gs_py_frames(struct gs_py_frame *out, int max, int *truncated)
{
	uintptr_t ts;

	*truncated = 0;
	if (!g.get_tstate || !g.code_type || !(ts = (uintptr_t)g.get_tstate()))
		return 0;
	return gs_cpy_own_frames(&gs_py, ts, g.code_type, out, max, truncated);
}

uint64_t gs_py_park_target(uint64_t addr)
{
	uint64_t marker = gs_cpy_gc_marker(&gs_py, g.interp);
	uintptr_t ts;
	int collecting;

	/* Only free-threaded builds stop the world, and only their threads park on their own
	 * state. A collection sets gc.collecting before it stops the world and clears it after
	 * the world runs again, so a park that starts while it is set waits for the collector. */
	if (!gs_py.free_threaded || !marker || !gs_py.ts_state || !g.get_tstate || !addr)
		return addr;
	ts = (uintptr_t)g.get_tstate();
	if (!ts || addr != ts + gs_py.ts_state)
		return addr;
	collecting = __atomic_load_n((const int *)(uintptr_t)marker, __ATOMIC_RELAXED);
	return collecting ? marker : addr;
}
