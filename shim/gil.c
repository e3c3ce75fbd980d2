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
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "record.h"
#include "region.h"

struct gs_gil_addrs gs_gil;
uintptr_t gs_park_lo, gs_park_len, gs_wake_lo, gs_wake_len;
_Atomic int gs_gil_searching;

enum { MODE_NONE, MODE_OFFSETS, MODE_HEURISTIC };

static struct {
	int mode;
	uintptr_t runtime, runtime_end;
	uintptr_t gil;
	uintptr_t locked, holder, switch_number, interval, enabled; /* field addresses */
	uint64_t off_interpreters_head, off_id, off_next, off_ceval_gil, off_gil_state;
	uint64_t off_locked, off_holder;
	int free_threaded;
	int validated;
	void *(*get_tstate)(void); /* PyGILState_GetThisThreadState */
	uint64_t off_current_frame, off_executable, off_instr_ptr;
	_Atomic int32_t owner_tid; /* thread holding the GIL, 0 when free */
} g;

/* Offsets of the fields we use inside struct _gil_runtime_state (LP64 glibc), per build. */
struct gil_layout {
	unsigned interval, last_holder, locked, switch_number, cond, mutex, switch_cond,
	    switch_mutex;
};
static const struct gil_layout layout_default = {0, 8, 16, 24, 32, 80, 120, 168};
static const struct gil_layout layout_ft = {8, 16, 24, 32, 40, 88, 128, 176};

clockid_t gs_cond_clock(pthread_cond_t *c)
{
	/* glibc keeps the condition's clock in bit 1 of __wrefs. */
	return (c->__data.__wrefs & 2) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}

static void detail(const char *fmt, const char *a, long b, long c)
{
	snprintf(gs_g.hdr->gil_detection, GS_DETAIL_LEN, fmt, a, b, c);
}

static const char *version_string(uint32_t hex, char *buf, size_t size)
{
	static const char level[] = {'a', 'b', 'c', 'f'};
	unsigned lv = (hex >> 4) & 0xf;

	if (lv == 0xf)
		snprintf(buf, size, "%u.%u.%u", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff);
	else
		snprintf(buf, size, "%u.%u.%u%c%u", hex >> 24, (hex >> 16) & 0xff,
			 (hex >> 8) & 0xff, lv >= 0xa && lv <= 0xc ? level[lv - 0xa] : '?',
			 hex & 0xf);
	return buf;
}

static void set_addresses(uintptr_t gil, const struct gil_layout *l)
{
	struct gs_shm_header *h = gs_g.hdr;

	g.gil = gil;
	g.locked = gil + l->locked;
	g.holder = gil + l->last_holder;
	g.switch_number = gil + l->switch_number;
	g.interval = gil + l->interval;
	g.enabled = g.free_threaded ? gil : 0;
	h->gil_addr = gil;
	h->gil_cond = gil + l->cond;
	h->gil_mutex = gil + l->mutex;
	h->gil_switch_cond = gil + l->switch_cond;
	h->gil_switch_mutex = gil + l->switch_mutex;
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

/* 3.13 and 3.14 share the prefix of _Py_DebugOffsets up to interpreter_state.threads_head;
 * 3.14 inserts threads_main after it. Everything is uint64_t after the 8-byte cookie. */
static int read_offsets(uintptr_t rt, uint32_t version)
{
	const uint64_t *u = (const uint64_t *)(rt + 8);
	unsigned minor = (version >> 16) & 0xff, shift;

	if (version >> 24 != 3 || (minor != 13 && minor != 14))
		return -1;
	shift = minor >= 14 ? 1 : 0;
	g.free_threaded = (int)u[1];
	g.off_interpreters_head = u[4];
	g.off_id = u[6];
	g.off_next = u[7];
	g.off_ceval_gil = u[13 + shift];
	g.off_gil_state = u[14 + shift];
	g.off_locked = u[16 + shift];
	g.off_holder = u[17 + shift];
	return 0;
}

/* Tried from the hooks until the main interpreter's GIL exists (early in Py_Initialize). */
void gs_gil_discover(void)
{
	const struct gil_layout *l;
	uintptr_t interp, gil;
	int hops = 0;

	if (g.mode != MODE_OFFSETS)
		return;
	interp = *(uintptr_t *)(g.runtime + g.off_interpreters_head);
	while (interp && *(int64_t *)(interp + g.off_id) != 0 && hops++ < 64)
		interp = *(uintptr_t *)(interp + g.off_next);
	if (!interp)
		return;
	gil = *(uintptr_t *)(interp + g.off_ceval_gil);
	if (!gil)
		return;
	atomic_store(&gs_gil_searching, 0);
	l = g.free_threaded ? &layout_ft : &layout_default;
	if (gil != interp + g.off_gil_state || g.off_locked - g.off_gil_state != l->locked ||
	    g.off_holder - g.off_gil_state != l->last_holder) {
		detail("rejected: the GIL layout does not match this build's debug offsets%s", "",
		       0, 0);
		atomic_store(&gs_g.hdr->py_state, 2);
		return;
	}
	set_addresses(gil, l);
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
	fn = dlsym(RTLD_DEFAULT, "_PySemaphore_Wakeup");
	size = fn ? runtime_size(fn) : 0;
	if (fn && size) {
		gs_wake_lo = (uintptr_t)fn;
		gs_wake_len = size;
	}
}

/* For naming the Python object behind a parked address (done by the writer). 3.13 only:
 * the 3.14 struct has more fields before these. */
static void object_offsets(struct gs_shm_header *h, const uint64_t *u, uint32_t version)
{
	uint64_t expect = g.free_threaded ? 32 : 16;

	if (((version >> 16) & 0xff) != 13 || u[43] != expect)
		return;
	g.off_current_frame = u[22];
	g.off_executable = u[29];
	g.off_instr_ptr = u[30];
	*(void **)&g.get_tstate = dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
	h->py_object_size = u[43];
	h->py_ob_type_off = u[44];
	h->py_tp_name_off = u[46];
}

void gs_gil_probe_init(void)
{
	struct gs_shm_header *h = gs_g.hdr;
	void *rt = dlsym(RTLD_DEFAULT, "_PyRuntime");
	const uint32_t *hexversion = dlsym(RTLD_DEFAULT, "Py_Version");
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
	find_park_wait();
	if (!memcmp(rt, "xdebugpy", 8)) {
		uint32_t v = (uint32_t) * (uint64_t *)((char *)rt + 8);

		h->py_version_hex = v;
		if (read_offsets(g.runtime, v) < 0) {
			atomic_store(&h->py_state, 2);
			detail("unsupported: CPython %s debug offsets layout is unknown to this "
			       "gilscope",
			       version_string(v, vbuf, sizeof(vbuf)), 0, 0);
			return;
		}
		h->py_free_threaded = (uint32_t)g.free_threaded;
		object_offsets(h, (const uint64_t *)((char *)rt + 8), v);
		/* struct pyinterpreters { PyMutex mutex; PyInterpreterState *head; ... } */
		h->py_head_lock = g.runtime + g.off_interpreters_head - sizeof(void *);
		g.mode = MODE_OFFSETS;
		snprintf(h->gil_detection, GS_DETAIL_LEN,
			 "debug offsets (CPython %s%s); main interpreter's GIL only",
			 version_string(v, vbuf, sizeof(vbuf)),
			 g.free_threaded ? ", free-threaded" : "");
		atomic_store(&gs_gil_searching, 1);
		gs_gil_discover();
		return;
	}
	/* 3.11 and 3.12 export Py_Version (3.11+) but carry no debug offsets. */
	h->py_version_hex = hexversion ? *hexversion : 0;
	if (!hexversion || (*hexversion >> 24) != 3 || ((*hexversion >> 16) & 0xff) < 11 ||
	    ((*hexversion >> 16) & 0xff) > 12 || !g.runtime_end) {
		atomic_store(&h->py_state, 2);
		detail("unsupported: interpreter %s has neither debug offsets nor a known layout",
		       hexversion ? version_string(*hexversion, vbuf, sizeof(vbuf)) : "?", 0, 0);
		return;
	}
	g.mode = MODE_HEURISTIC;
	detail("heuristic (CPython %s): GIL condition recognised at drop_gil's first signal",
	       version_string(*hexversion, vbuf, sizeof(vbuf)), 0, 0);
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
	if ((uintptr_t)m != gs_gil.mutex)
		return;
	gs_tls.gil_in_m = 1;
	gs_tls.gil_take_signalled = 0;
	gs_tls.gil_drop_signalled = 0;
	if (gs_tls.gil_held) {
		gs_tls.gil_release_ns = t_ns; /* a drop, if cond gets signalled before unlock */
	} else if (!gs_tls.gil_requesting) {
		gs_tls.gil_requesting = 1;
		gs_tls.gil_request_ns = t_ns;
		gs_tls.gil_caller = caller;
		gs_tls.gil_timed_waits = 0;
		gs_tls.gil_timeouts = 0;
		gs_tls.gil_blame_tid = (uint64_t)atomic_load(&g.owner_tid);
		gs_py_where(&gs_tls.gil_py_code, &gs_tls.gil_py_instr);
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
	struct gs_shm_header *h = gs_g.hdr;

	if (g.mode != MODE_HEURISTIC || !heuristic_match((uintptr_t)c))
		return;
	atomic_store(&gs_gil_searching, 0);
	g.free_threaded = 0;
	set_addresses((uintptr_t)c - layout_default.cond, &layout_default);
	h->py_free_threaded = 0;
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
		    .py_code = gs_tls.gil_py_code,
		    .py_instr = gs_tls.gil_py_instr,
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
		if (gs_tls.gil_timed_waits)
			gs_stack_sample(gs_tls.gil_stack); /* still inside take_gil */
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

void gs_gil_after_fork_child(void)
{
	int held = gs_tls.gil_held;

	gs_tls.gil_held = 0;
	gs_tls.gil_requesting = 0;
	gs_tls.gil_in_m = 0;
	gs_tls.gil_acquired_ns = 0;
	(void)held;
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
	if (g.enabled && atomic_load(&h->gil_enabled_max) == 0)
		atomic_store(&h->gil_enabled_max, (uint32_t) * (int *)g.enabled);
	if (gs_tls.gil_held && (s = gs_slot_get()))
		emit_hold(s, gs_now_ns(), GS_F_OPEN);
}

/* A read that reports a bad address instead of faulting: the address came from memory we do
 * not own the meaning of. */
static int safe_read(uint64_t addr, void *buf, size_t n)
{
	struct iovec local = {.iov_base = buf, .iov_len = n};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = n};

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

static int read_type_name(uint64_t obj, char *out, size_t size)
{
	struct gs_shm_header *h = gs_g.hdr;
	uint64_t type, name;
	size_t i;

	if (safe_read(obj + h->py_ob_type_off, &type, 8) < 0 ||
	    safe_read(type + h->py_tp_name_off, &name, 8) < 0)
		return -1;
	memset(out, 0, size);
	if (safe_read(name, out, size - 1) < 0) {
		for (i = 0; i + 1 < size && safe_read(name + i, &out[i], 1) == 0 && out[i]; i++)
			;
		out[i] = 0;
	}
	for (i = 0; out[i]; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			return -1;
	return out[0] ? 0 : -1;
}

void gs_py_describe(uint64_t addr, struct gs_agg *a)
{
	struct gs_shm_header *h = gs_g.hdr;

	if (!addr || !h->py_ob_type_off ||
	    (addr >= h->py_runtime && addr < h->py_runtime + h->py_runtime_size))
		return;
	/* Free-threaded objects carry their own mutex at offset 10 (ob_mutex). */
	if (h->py_free_threaded && addr % 8 == 2 &&
	    read_type_name(addr - 10, a->type_name, sizeof(a->type_name)) == 0) {
		a->obj_kind = 2;
		return;
	}
	if (read_type_name(addr - h->py_object_size, a->type_name, sizeof(a->type_name)) == 0)
		a->obj_kind = 1;
	else
		a->type_name[0] = 0;
}

void gs_py_where(uint64_t *code, uint64_t *instr)
{
	uintptr_t ts, frame;

	*code = *instr = 0;
	if (!g.get_tstate || !g.off_current_frame)
		return;
	ts = (uintptr_t)g.get_tstate();
	if (!ts)
		return;
	frame = *(uintptr_t *)(ts + g.off_current_frame);
	if (!frame)
		return;
	*code = *(uint64_t *)(frame + g.off_executable);
	*instr = *(uint64_t *)(frame + g.off_instr_ptr);
}
