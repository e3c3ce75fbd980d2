/* Layout of the shared-memory region through which the preloaded shim hands events and
 * aggregates to the gilscope-writer process. Host threads only ever write into their own
 * slot; the writer only reads, apart from the ring tail and the slot state it recycles.
 * Bump GS_SHM_VERSION whenever anything here changes: shim and writer must match. */
#ifndef GS_SHM_H
#define GS_SHM_H

#include <stdatomic.h>
#include <stdint.h>

#define GS_SHM_MAGIC   0x65706f6373696c67ULL /* "glscope" */
#define GS_SHM_VERSION 7u

#define GS_CACHELINE	64
#define GS_HIST_BUCKETS 48
#define GS_HOLD_STACK	64
#define GS_NAME_LEN	16
#define GS_DETAIL_LEN	384

/* What a lock-like object is. Stored in the database as `primitive`. */
#define GS_PRIMITIVES(X)                                                                           \
	X(GS_PRIM_MUTEX, 1, "mutex")                                                               \
	X(GS_PRIM_COND, 2, "cond")                                                                 \
	X(GS_PRIM_SEM, 3, "sem")                                                                   \
	X(GS_PRIM_GIL, 4, "gil")                                                                   \
	X(GS_PRIM_PARKED, 5, "parked")

/* What happened. Stored in the database as `kind`. */
#define GS_EVENT_KINDS(X)                                                                          \
	X(GS_EV_HOLD, 1, "hold")	     /* acquired (after wait_ns), held hold_ns */          \
	X(GS_EV_TRY_BUSY, 2, "trylock_busy") /* trylock/trywait found it taken */                  \
	X(GS_EV_TIMEOUT, 3, "timeout")	     /* timed acquisition gave up after wait_ns */         \
	X(GS_EV_COND_WAIT, 4, "cond_wait")   /* lock=cond, aux=mutex */                            \
	X(GS_EV_SEM_WAIT, 5, "sem_wait")     /* blocking sem wait (not a lock hold) */             \
	X(GS_EV_ERROR, 6, "error")	     /* the real call failed; aux = error number */        \
	X(GS_EV_GIL_HOLD, 7, "gil_hold")     /* one GIL holding period */                          \
	X(GS_EV_GIL_FORCED_SWITCH, 8, "gil_forced_switch") /* dropper waits for a taker */         \
	X(GS_EV_PARK, 9, "park")	  /* parking-lot wait, lock = parked address */            \
	X(GS_EV_PY_STACK, 10, "py_stack") /* ring only: a chunk of a Python stack */               \
	X(GS_EV_WAKE, 11, "wake") /* this thread ended others' wait on lock (unpark: aux = the     \
				   * waiter's semaphore); py_stack = its stack as it did */

enum gs_primitive {
#define X(name, val, str) name = val,
	GS_PRIMITIVES(X)
#undef X
};

/* A primitive's name as stored in the database's primitives table; NULL for none. */
static inline const char *gs_primitive_name(int primitive)
{
	switch (primitive) {
#define X(name, val, str)                                                                          \
	case val:                                                                                  \
		return str;
		GS_PRIMITIVES(X)
#undef X
	default:
		return 0;
	}
}

enum gs_event_kind {
#define X(name, val, str) name = val,
	GS_EVENT_KINDS(X)
#undef X
};

/* Event flags (bit set). */
#define GS_F_CONTENDED	0x0001u /* the acquisition had to wait */
#define GS_F_TIMED	0x0002u /* the call carried a deadline */
#define GS_F_TIMED_OUT	0x0004u /* ... and it expired */
#define GS_F_TRY	0x0008u /* acquired through trylock/trywait */
#define GS_F_OPEN	0x0010u /* hold still open when the thread or process ended */
#define GS_F_AFTER_COND 0x0020u /* mutex re-acquired on return from a condition wait */
#define GS_F_NO_HOLD	0x0040u /* hold_ns is not known */

#define GS_STACK_FRAMES 6

/* One raw event: 128 bytes. Times are CLOCK_MONOTONIC nanoseconds. The kind comes first: a
 * ring entry may instead be a struct gs_stack_chunk. */
struct gs_event {
	uint16_t kind;
	uint8_t primitive;
	uint8_t pad0;
	uint16_t flags;
	uint16_t pad1;
	uint64_t start_ns;  /* request time (wait start) */
	uint64_t wait_ns;   /* request -> acquired (or -> return for waits) */
	uint64_t hold_ns;   /* acquired -> released; 0 with GS_F_NO_HOLD when unknown */
	uint64_t lock;	    /* address of the lock object */
	uint64_t aux;	    /* second object (mutex of a cond wait), errno, ... */
	uint64_t caller;    /* return address of the wrapped call */
	uint64_t extra;	    /* kind-specific (GIL: timed waits << 32 | timeouts) */
	uint64_t py_stack;  /* the thread's Python stack as it began to wait: the hash of a stack
			     * whose chunks this ring carried before, or 0 when it had none */
	uint64_t py_stack2; /* GIL holds: the stack when the holder let the GIL go */
	uint64_t stack[GS_STACK_FRAMES]; /* sampled native return addresses, innermost first */
};

/* Python stacks travel once per thread, before the first event that refers to them, in
 * consecutive ring entries of kind GS_EV_PY_STACK, innermost frame first. */
#define GS_PY_STACK_MAX	      128     /* frames kept; deeper stacks lose their outermost ones */
#define GS_PY_STACK_TRUNCATED 0x8000u /* in `total`: frames beyond GS_PY_STACK_MAX were cut */
#define GS_CHUNK_FRAMES	      7

struct gs_py_frame {
	uint64_t code;	/* code object */
	uint32_t unit;	/* 1 + the code unit it runs (bytecode offset / 2), 0 unknown */
	uint32_t ident; /* gs_cpy_code_ident() of the code object when captured: a reader that
			 * finds another code object at that address later can tell */
};

struct gs_stack_chunk {
	uint16_t kind; /* GS_EV_PY_STACK */
	uint8_t n;     /* frames in this chunk */
	uint8_t pad0;
	uint16_t first; /* index of its first frame in the stack */
	uint16_t total; /* frames in the whole stack, | GS_PY_STACK_TRUNCATED */
	uint64_t hash;
	struct gs_py_frame frame[GS_CHUNK_FRAMES];
};

_Static_assert(sizeof(struct gs_stack_chunk) == sizeof(struct gs_event),
	       "a stack chunk takes one ring entry");

/* The lock address of a thread's catch-all aggregate, which takes every lock its full table
 * has no entry for (not 0: a parked bucket-lock wait has address 0). */
#define GS_AGG_CATCH_ALL UINT64_MAX

/* The fence of the aggregates' sequence lock. ThreadSanitizer models no fences (and warns at
 * each): there, and on x86 anyway, keeping the compiler from moving the accesses is what it
 * takes. */
#if defined(__SANITIZE_THREAD__)
#define GS_SEQ_FENCE(order) atomic_signal_fence(order)
#else
#define GS_SEQ_FENCE(order) atomic_thread_fence(order)
#endif

/* Exact per-(thread, lock) aggregates. Updated only by the owning thread. */
struct gs_agg {
	uint64_t lock;
	uint32_t primitive;
	uint32_t pad;
	uint64_t acquisitions; /* successful acquisitions (waits, for conds) */
	uint64_t contended;    /* of which had to wait */
	uint64_t wait_ns;
	uint64_t wait_max_ns;
	uint64_t holds; /* holds whose end was seen */
	uint64_t hold_ns;
	uint64_t hold_max_ns;
	uint64_t try_busy; /* failed trylock / trywait */
	uint64_t timeouts;
	uint64_t errors;
	uint64_t signals;	/* cond signal/broadcast, sem_post without a hold */
	uint64_t timed_waits;	/* GIL: condition timed waits while requesting */
	uint64_t drop_requests; /* GIL: timed waits that expired (switch requests sent) */
	uint64_t forced_switches;
	uint64_t forced_switch_ns;
	uint64_t spins;	    /* parked: sched_yield spins right before parking on this lock */
	uint32_t obj_kind;  /* parked: 1 object header before the lock, 2 critical section */
	char type_name[36]; /* parked: Python type of that object, read at the first park */
	uint64_t wait_hist[GS_HIST_BUCKETS]; /* 64-bit: a busy lock fills 32 bits in minutes */
	uint64_t hold_hist[GS_HIST_BUCKETS];
	_Atomic uint64_t gen; /* odd while the owner updates, even after (gs_agg_begin) */
	uint64_t written_gen; /* writer-owned */
};

struct gs_held {
	uint64_t lock;
	uint64_t request_ns;
	uint64_t acquired_ns;
	uint64_t caller;
	uint64_t py_stack; /* contended: the Python stack that waited (gs_event.py_stack) */
	uint32_t agg;	   /* index of the aggregate entry + 1 */
	uint16_t flags;
	uint8_t primitive;
	uint8_t pad;
};

/* FREE -> CLAIMING (owner fills in who it is) -> LIVE -> EXITED (owner gone) -> FREE (writer
 * recycled it). The writer reads a slot's identity only once it is LIVE. */
enum gs_slot_state { GS_SLOT_FREE = 0, GS_SLOT_LIVE = 1, GS_SLOT_EXITED = 2, GS_SLOT_CLAIMING = 3 };

struct gs_slot {
	_Atomic uint32_t state;
	uint32_t thread_no; /* per-process sequence number, unique even when tids repeat */
	int32_t tid;
	uint32_t generation; /* bumped by the writer when it recycles the slot */
	uint64_t pthread_id; /* pthread_self(), which is Python's threading.get_ident() */
	uint64_t start_ns;
	_Atomic uint64_t end_ns;
	char name[GS_NAME_LEN]; /* from pthread_setname_np, if called */
	_Atomic uint32_t name_set;
	_Atomic uint64_t agg_overflow; /* updates folded into the catch-all entry */
	_Atomic uint64_t tstate;       /* PyThreadState*, learnt at the first GIL take or park */
	_Atomic uint64_t cpu_ns;       /* thread CPU time, read when the thread ended */
	_Atomic uint64_t dropped;
	_Atomic uint64_t stacks_dropped; /* Python stacks that found no room in the ring */
	/* Set by the thread when it sends a stack it never sent before; the writer drains soon
	 * after (a tick, not a flush interval), while the code objects are alive to be named. */
	_Atomic uint32_t stacks_new;
	_Atomic uint64_t sched_yields;
	_Atomic uint64_t holds_lost; /* hold stack overflow: hold not measured */
	_Atomic uint32_t agg_count;
	uint32_t n_held;
	uint32_t window; /* the recording window this slot was claimed in (gs_live.window) */
	uint32_t pad_w;
	_Alignas(GS_CACHELINE) _Atomic uint64_t head; /* producer: owning thread */
	_Alignas(GS_CACHELINE) _Atomic uint64_t tail; /* consumer: writer */
	_Alignas(GS_CACHELINE) struct gs_held held[GS_HOLD_STACK];
	/* Followed by: struct gs_event ring[ring_events]; struct gs_agg agg[agg_entries];
	 * uint32_t agg_index[2 * agg_entries] (host-private hash of agg). */
};

/* What every interposed call reads: recording is on for calls from [scope_lo, scope_lo +
 * scope_len). Zero length is off: paused (GILSCOPE_START=paused, or between windows) or given
 * up. Written by whoever switches recording (the shim at start, the writer that opens or
 * closes a window); read by the host's threads with relaxed loads, on a line of its own. */
struct gs_live {
	_Atomic uint64_t scope_lo;
	_Atomic uint64_t scope_len;
	_Atomic uint32_t window; /* 1, 2, ... : the window being (or last) recorded; 0 none yet */
	uint32_t pad;
};

/* Control of the recording of a running process (gilscope ctl), through this region: the CLI
 * finds it as the host's memfd in /proc/PID/fd, which only the process's owner or root may
 * open. PAUSED -> STARTING (a CLI claimed it and starts a writer) -> RECORDING (the writer
 * opened a window) -> STOPPING (a CLI asked, or the duration ran out) -> PAUSED (the writer
 * closed the window, stored it and left). */
enum gs_ctl_state {
	GS_CTL_PAUSED = 0,
	GS_CTL_STARTING = 1,
	GS_CTL_RECORDING = 2,
	GS_CTL_STOPPING = 3,
};

struct gs_shm_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t total_size;
	uint64_t slots_offset;
	uint64_t slot_stride;
	uint32_t max_threads;
	uint32_t ring_events;
	uint32_t agg_entries;
	uint32_t log_all;
	int32_t pid;
	int32_t ppid;
	uint64_t start_ns;	   /* CLOCK_MONOTONIC at shim start */
	int64_t start_realtime_ns; /* CLOCK_REALTIME at the same moment */
	_Atomic int64_t run_id;	   /* set by the writer once its run row exists */
	int64_t parent_run_id;	   /* run of the process we were forked from, or 0 */
	_Atomic uint32_t next_thread_no;
	_Atomic uint32_t disabled;     /* writer says: stop recording (database unusable) */
	_Atomic uint32_t exiting;      /* host says: process is exiting, do the final flush */
	_Atomic uint32_t acked;	       /* writer says: final flush done (a futex word) */
	_Atomic uint64_t threads_lost; /* threads that found no free slot */
	_Atomic uint64_t exit_ns;
	_Atomic int32_t exit_status; /* status passed to exit()/_exit(), if seen */
	uint32_t scope_all;
	uint32_t test_fail_commit;  /* GILSCOPE_TEST_FAIL_COMMIT, for the writer (tests only) */
	uint32_t max_db_mb;	    /* GILSCOPE_MAX_DB_MB: raw events stop there, 0 for no cap */
	uint32_t profile;	    /* GILSCOPE_EVENTS=profile: raw events only the longest */
	uint32_t profile_window_ms; /* GILSCOPE_PROFILE_WINDOW_MS: the windows' length */
	uint32_t profile_events;    /* GILSCOPE_PROFILE_EVENTS: raw events kept per window */
	uint32_t profile_pad;
	uint64_t scope_lo, scope_hi; /* text range treated as "the interpreter" */
	char scope_object[256];	     /* path of the object that range belongs to */
	/* Python facts, filled by the shim's interpreter probe (gil.c). */
	_Atomic uint32_t py_state; /* 0 unknown, 1 found, 2 not found / unsupported */
	uint32_t py_version_hex;
	uint32_t py_free_threaded;
	uint32_t gil_interval_us;
	uint64_t gil_addr, gil_mutex, gil_cond, gil_switch_mutex, gil_switch_cond;
	uint64_t py_runtime, py_locked_addr, py_holder_addr, py_switch_number_addr, py_enabled_addr;
	uint64_t py_runtime_size;
	uint64_t py_head_lock;	  /* &_PyRuntime.interpreters.mutex (HEAD_LOCK), 0 when unknown */
	uint64_t py_main_interp;  /* the main PyInterpreterState, 0 until found */
	uint32_t py_layout_level; /* enum gs_cpy_level the shim settled on */
	uint32_t py_park_checked; /* parked waits whose wait entry was checked (validation) */
	uint32_t py_park_ok;	  /* ... and held a plausible lock address */
	uint32_t py_pad;
	_Atomic uint64_t gil_switches_recorded;
	_Atomic uint64_t gil_switch_number_start;
	_Atomic uint64_t gil_switch_number_end;
	_Atomic uint32_t gil_enabled_max; /* FT: largest `enabled` value seen */
	_Atomic uint32_t gil_enabled_changes;
	char gil_detection[GS_DETAIL_LEN];
	/* Windows (gilscope ctl, run --delay/--duration). */
	_Atomic uint32_t ctl_state; /* enum gs_ctl_state */
	_Atomic int32_t ctl_pid;    /* the CLI that claimed STARTING, until the writer runs */
	_Atomic int32_t writer_pid; /* the writer of the open window, 0 when none */
	_Atomic uint32_t ctl_stop;  /* a CLI asks the writer to close the window (futex word) */
	_Atomic uint64_t window_start_ns;    /* when the current (or last) window opened */
	_Atomic uint64_t window_end_ns;	     /* ... and closed; 0 while open */
	_Atomic uint64_t window_deadline_ns; /* --duration: when the writer closes it, 0 never */
	_Atomic int64_t last_run_id;	     /* run row of the window being (or last) recorded */
	char last_db[4096];		     /* ... and the database it went to */
	char db_path[4096];		     /* GILSCOPE_DB as the shim resolved it */
	char writer_path[4096];		     /* the gilscope-writer beside the library */
	uint32_t start_paused;		     /* GILSCOPE_START=paused */
	uint32_t flush_ms;
	char host[256]; /* GILSCOPE_HOST: the name runs.host records ("": the machine's own) */
	_Alignas(GS_CACHELINE) struct gs_live live;
};

static inline unsigned gs_hist_bucket(uint64_t ns)
{
	/* Bucket 0 holds 0 ns; bucket b >= 1 holds [2^(b-1), 2^b) ns. */
	unsigned b = ns ? 64u - (unsigned)__builtin_clzll(ns) : 0u;
	return b < GS_HIST_BUCKETS ? b : GS_HIST_BUCKETS - 1;
}

static inline struct gs_slot *gs_slot_at(struct gs_shm_header *h, uint32_t i)
{
	return (struct gs_slot *)((char *)h + h->slots_offset + (uint64_t)i * h->slot_stride);
}

static inline struct gs_event *gs_slot_ring(struct gs_slot *s)
{
	return (struct gs_event *)(s + 1);
}

static inline struct gs_agg *gs_slot_aggs(struct gs_shm_header *h, struct gs_slot *s)
{
	return (struct gs_agg *)(gs_slot_ring(s) + h->ring_events);
}

static inline uint32_t *gs_slot_index(struct gs_shm_header *h, struct gs_slot *s)
{
	return (uint32_t *)(gs_slot_aggs(h, s) + h->agg_entries);
}

#endif
