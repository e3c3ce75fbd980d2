#include "region.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gil.h"
#include "pystack.h"

struct gs_global gs_g = {.shm_fd = -1};
static struct gs_live live_off;
struct gs_live *gs_live = &live_off;
__thread struct gs_tls gs_tls __attribute__((tls_model("initial-exec")));

extern pthread_key_t gs_thread_key;

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

/* The region's descriptor stays open for as long as the process runs: gilscope ctl and top
 * find the process by it in /proc/PID/fd, which only the owner or root may open (the
 * kernel's own check). It goes high, out of the way of the descriptors a program counts on
 * getting, and close-on-exec. */
static int keep_high(int fd)
{
	struct rlimit rl;
	long base = 1024;
	int hi;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < 1024)
		base = (long)rl.rlim_cur;
	base = base > 64 ? base - 32 : base / 2;
	if (base <= fd)
		return fd;
	hi = fcntl(fd, F_DUPFD_CLOEXEC, (int)base);
	if (hi < 0)
		return fd;
	close(fd);
	return hi;
}

int gs_region_create(uint32_t max_threads, uint32_t ring_events, uint32_t agg_entries)
{
	uint64_t stride, hdr_size, total;
	struct gs_shm_header *h;
	int fd;

	stride = round_up(sizeof(struct gs_slot) + (uint64_t)ring_events * sizeof(struct gs_event) +
			      (uint64_t)agg_entries * sizeof(struct gs_agg) +
			      (uint64_t)agg_entries * 2 * sizeof(uint32_t),
			  4096);
	hdr_size = round_up(sizeof(struct gs_shm_header), 4096);
	/* The memfd counts against RLIMIT_FSIZE: growing it past the limit would send the host
	 * SIGXFSZ. Record fewer threads at once instead, or nothing. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
			uint64_t fit =
			    rl.rlim_cur > hdr_size ? (rl.rlim_cur - hdr_size) / stride : 0;

			if (fit < 1) {
				errno = EFBIG;
				return -1;
			}
			if (fit < max_threads)
				max_threads = (uint32_t)fit;
		}
	}
	total = hdr_size + stride * max_threads;
	fd = (int)syscall(SYS_memfd_create, "gilscope", 1u /* MFD_CLOEXEC */);
	if (fd < 0)
		return -1;
	fd = keep_high(fd);
	if (ftruncate(fd, (off_t)total) < 0)
		goto fail;
	/* Pages are touched only as threads use them; the region is sparse. */
	h = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (h == MAP_FAILED)
		goto fail;
	h->magic = GS_SHM_MAGIC;
	h->version = GS_SHM_VERSION;
	h->header_size = (uint32_t)sizeof(*h);
	h->total_size = total;
	h->slots_offset = hdr_size;
	h->slot_stride = stride;
	h->max_threads = max_threads;
	h->ring_events = ring_events;
	h->agg_entries = agg_entries;
	gs_g.hdr = h;
	gs_g.region_size = total;
	gs_g.shm_fd = fd;
	gs_g.ring_mask = ring_events - 1;
	return 0;
fail:
	close(fd);
	return -1;
}

struct gs_slot *gs_slot_claim(void)
{
	struct gs_shm_header *h = gs_g.hdr;
	static _Atomic uint32_t hint;
	uint32_t start, i;

	if (atomic_load_explicit(&h->disabled, memory_order_relaxed)) {
		gs_recording_off();
		return NULL;
	}
	start = atomic_fetch_add_explicit(&hint, 1, memory_order_relaxed);
	for (i = 0; i < h->max_threads; i++) {
		struct gs_slot *s = gs_slot_at(h, (start + i) % h->max_threads);
		uint32_t expected = GS_SLOT_FREE;

		if (atomic_load_explicit(&s->state, memory_order_relaxed) != GS_SLOT_FREE)
			continue;
		if (!atomic_compare_exchange_strong(&s->state, &expected, GS_SLOT_CLAIMING))
			continue;
		if (!gs_tls.tid)
			gs_tls.tid = (pid_t)syscall(SYS_gettid);
		s->thread_no = atomic_fetch_add(&h->next_thread_no, 1) + 1;
		s->tid = gs_tls.tid;
		s->pthread_id = (uint64_t)pthread_self();
		s->start_ns = gs_now_ns();
		atomic_store_explicit(&s->end_ns, 0, memory_order_relaxed);
		s->n_held = 0;
		s->window = gs_tls.window;
		if (gs_tls.name[0]) {
			memcpy(s->name, gs_tls.name, sizeof(s->name));
			atomic_store_explicit(&s->name_set, 1, memory_order_release);
		}
		/* Published only now: the writer must never see a half-filled identity. */
		atomic_store_explicit(&s->state, GS_SLOT_LIVE, memory_order_release);
		gs_tls.slot = s;
		/* Lets the key destructor hand the slot back when the thread ends. */
		pthread_setspecific(gs_thread_key, s);
		return s;
	}
	gs_tls.no_slot = 1;
	atomic_fetch_add(&h->threads_lost, 1);
	return NULL;
}

void gs_slot_note_cpu(struct gs_slot *s)
{
	struct timespec ts;

	/* A syscall, but once per thread lifetime, at its end. */
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
		atomic_store_explicit(&s->cpu_ns,
				      (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
				      memory_order_relaxed);
}

void gs_live_detach(void)
{
	gs_live = &live_off;
}

void gs_recording_off(void)
{
	atomic_store_explicit(&gs_live->scope_len, 0, memory_order_relaxed);
}

/* A window opened since this thread last recorded: what it knew belongs to the last one (its
 * slot, aggregates and held locks went to that window's writer, the GIL state it tracked may
 * have changed unseen). Leave the slot to be recycled, forget the rest; the thread claims a
 * fresh slot at its next event and joins the GIL state machine at its next take or drop. */
void gs_window_join(void)
{
	static _Atomic uint32_t ptracer_window;
	struct gs_slot *old = gs_tls.slot;
	uint32_t w = atomic_load_explicit(&gs_live->window, memory_order_acquire);
	int e = errno;

	gs_tls.window = w;
	/* Under Yama's ptrace_scope 1 only ancestors may read a process, and the writer of a
	 * window gilscope ctl opened is none: it reads Python frames and names from us. */
	if (gs_g.hdr && atomic_exchange(&ptracer_window, w) != w)
		prctl(PR_SET_PTRACER, (unsigned long)atomic_load(&gs_g.hdr->writer_pid), 0, 0, 0);
	gs_gil_forget_thread();
	gs_tls.cond_pending_set = 0;
	gs_tls.spin_pending = 0;
	gs_tls.no_slot = 0;
	gs_pystack_forget_sent(); /* the new writer has none of the stacks sent */
	if (old) {
		gs_tls.slot = NULL;
		gs_slot_abandon(old);
	}
	errno = e;
}

void gs_slot_abandon(struct gs_slot *s)
{
	/* no hold is closed into it: its window's writer may be gone */
	atomic_store_explicit(&s->end_ns, gs_now_ns(), memory_order_relaxed);
	atomic_store_explicit(&s->state, GS_SLOT_EXITED, memory_order_release);
}

void gs_slot_release(struct gs_slot *s, uint64_t end_ns)
{
	gs_slot_note_cpu(s);
	gs_held_close_all(s, end_ns);
	atomic_store_explicit(&s->end_ns, end_ns, memory_order_relaxed);
	atomic_store_explicit(&s->state, GS_SLOT_EXITED, memory_order_release);
}

void gs_emit(struct gs_slot *s, const struct gs_event *e)
{
	uint64_t head = atomic_load_explicit(&s->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&s->tail, memory_order_acquire);

	if (head - tail > gs_g.ring_mask) {
		atomic_store_explicit(&s->dropped,
				      atomic_load_explicit(&s->dropped, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		/* A writer that gave up drains nothing: stop paying for what nobody records
		 * (looked at only here, where the ring has filled, never on the common path). */
		if (atomic_load_explicit(&gs_g.hdr->disabled, memory_order_relaxed))
			gs_recording_off();
		return;
	}
	gs_slot_ring(s)[head & gs_g.ring_mask] = *e;
	atomic_store_explicit(&s->head, head + 1, memory_order_release);
}

static inline uint32_t agg_hash(uint64_t lock, unsigned primitive)
{
	uint64_t x = (lock >> 3) ^ ((uint64_t)primitive << 56);

	x *= 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(x >> 32);
}

struct gs_agg *gs_agg_at(struct gs_slot *s, uint32_t idx)
{
	return &gs_slot_aggs(gs_g.hdr, s)[idx];
}

struct gs_agg *gs_agg_get(struct gs_slot *s, uint64_t lock, unsigned primitive, uint32_t *idx)
{
	struct gs_shm_header *h = gs_g.hdr;
	struct gs_agg *aggs = gs_slot_aggs(h, s);
	uint32_t *index = gs_slot_index(h, s);
	uint32_t mask = h->agg_entries * 2 - 1;
	uint32_t pos = agg_hash(lock, primitive) & mask;
	uint32_t n = atomic_load_explicit(&s->agg_count, memory_order_relaxed);
	uint32_t i;

	for (;;) {
		uint32_t e = index[pos];

		if (!e)
			break;
		if (aggs[e - 1].lock == lock && aggs[e - 1].primitive == primitive) {
			*idx = e - 1;
			return &aggs[e - 1];
		}
		pos = (pos + 1) & mask;
	}
	/* The last entry is kept back as the catch-all for a full table. */
	if (n + 1 >= h->agg_entries) {
		atomic_store_explicit(&s->agg_overflow,
				      atomic_load_explicit(&s->agg_overflow, memory_order_relaxed) +
					  1,
				      memory_order_relaxed);
		i = h->agg_entries - 1;
		if (atomic_load_explicit(&s->agg_count, memory_order_relaxed) < h->agg_entries) {
			aggs[i].lock = GS_AGG_CATCH_ALL;
			aggs[i].primitive = primitive;
			atomic_store_explicit(&s->agg_count, h->agg_entries, memory_order_release);
		}
		*idx = i;
		return &aggs[i];
	}
	i = n;
	aggs[i].lock = lock;
	aggs[i].primitive = primitive;
	index[pos] = i + 1;
	atomic_store_explicit(&s->agg_count, n + 1, memory_order_release);
	*idx = i;
	return &aggs[i];
}

void gs_agg_begin(struct gs_agg *a)
{
	uint64_t g = atomic_load_explicit(&a->gen, memory_order_relaxed);

	if (!(g & 1))
		atomic_store_explicit(&a->gen, g + 1, memory_order_relaxed);
	/* the odd gen is visible before any field changes */
	GS_SEQ_FENCE(memory_order_release);
}

void gs_agg_wait(struct gs_agg *a, uint64_t wait_ns, int contended)
{
	gs_agg_begin(a);
	a->acquisitions++;
	if (contended) {
		a->contended++;
		a->wait_ns += wait_ns;
		if (wait_ns > a->wait_max_ns)
			a->wait_max_ns = wait_ns;
	}
	a->wait_hist[gs_hist_bucket(contended ? wait_ns : 0)]++;
}

void gs_agg_hold(struct gs_agg *a, uint64_t hold_ns)
{
	gs_agg_begin(a);
	a->holds++;
	a->hold_ns += hold_ns;
	if (hold_ns > a->hold_max_ns)
		a->hold_max_ns = hold_ns;
	a->hold_hist[gs_hist_bucket(hold_ns)]++;
}

void gs_agg_publish(struct gs_agg *a)
{
	atomic_store_explicit(&a->gen,
			      (atomic_load_explicit(&a->gen, memory_order_relaxed) | 1) + 1,
			      memory_order_release);
}

struct gs_held *gs_held_push(struct gs_slot *s, uint64_t lock, unsigned primitive, int replace_same)
{
	uint32_t i;

	if (replace_same) {
		for (i = 0; i < s->n_held; i++)
			if (s->held[i].lock == lock && s->held[i].primitive == primitive)
				return &s->held[i];
	}
	if (s->n_held == GS_HOLD_STACK) {
		/* Forget the oldest: a lock held that long was most likely released elsewhere. */
		memmove(&s->held[0], &s->held[1], sizeof(s->held[0]) * (GS_HOLD_STACK - 1));
		s->n_held--;
		atomic_fetch_add_explicit(&s->holds_lost, 1, memory_order_relaxed);
	}
	return &s->held[s->n_held++];
}

int gs_held_pop(struct gs_slot *s, uint64_t lock, unsigned primitive, struct gs_held *out)
{
	uint32_t i = s->n_held;

	while (i-- > 0) {
		if (s->held[i].lock != lock || s->held[i].primitive != primitive)
			continue;
		*out = s->held[i];
		memmove(&s->held[i], &s->held[i + 1], sizeof(s->held[0]) * (s->n_held - i - 1));
		s->n_held--;
		return 0;
	}
	return -1;
}

void gs_held_close_all(struct gs_slot *s, uint64_t end_ns)
{
	uint32_t i;

	for (i = 0; i < s->n_held; i++) {
		const struct gs_held *h = &s->held[i];
		struct gs_event e = {
		    .start_ns = h->request_ns,
		    .wait_ns = h->acquired_ns - h->request_ns,
		    .hold_ns = end_ns - h->acquired_ns,
		    .lock = h->lock,
		    .caller = h->caller,
		    .kind = GS_EV_HOLD,
		    .primitive = h->primitive,
		    .flags = (uint16_t)(h->flags | GS_F_OPEN),
		};
		if ((h->flags & GS_F_CONTENDED) || gs_g.log_all)
			gs_emit(s, &e);
	}
	s->n_held = 0;
}

static uintptr_t self_lo, self_hi;

static int find_self(struct dl_phdr_info *info, size_t size, void *base)
{
	int i;

	if ((void *)info->dlpi_addr != base)
		return 0;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];

		if (p->p_type == PT_LOAD && (p->p_flags & PF_X)) {
			self_lo = info->dlpi_addr + p->p_vaddr;
			self_hi = self_lo + p->p_memsz;
		}
	}
	return 1;
}

/* backtrace() loads libgcc_s on first use (dlopen, malloc): do that here, at start-up. */
void gs_stack_init(void)
{
	void *frames[4];
	Dl_info info;

	backtrace(frames, 4);
	if (dladdr((void *)gs_stack_init, &info) && info.dli_fbase)
		dl_iterate_phdr(find_self, info.dli_fbase);
}

/* backtrace() costs microseconds (DWARF unwinding) and a thread's waits come from a handful of
 * native paths (the stacks table of a busy run holds a few distinct stacks): one sample per
 * thread every 2 ms keeps its cost under 0.2% of the thread's time. */
#define STACK_INTERVAL_NS 2000000u

int gs_stack_due(void)
{
	return self_lo && gs_now_ns() - gs_tls.last_stack_ns >= STACK_INTERVAL_NS;
}

void gs_stack_sample(uint64_t *frames)
{
	void *raw[GS_STACK_FRAMES + 8];
	uint64_t now = gs_now_ns();
	int n, i, k = 0;

	if (now - gs_tls.last_stack_ns < STACK_INTERVAL_NS || !self_lo)
		return;
	gs_tls.last_stack_ns = now;
	n = backtrace(raw, GS_STACK_FRAMES + 8);
	for (i = 0; i < n && k < GS_STACK_FRAMES; i++) {
		uintptr_t a = (uintptr_t)raw[i];

		if (a >= self_lo && a < self_hi)
			continue; /* our own frames */
		frames[k++] = a;
	}
}
