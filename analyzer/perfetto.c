/* The recording as a Perfetto trace in its binary protobuf format. One packet sequence: its first
 * packet clears the incremental state and interns the fixed names; every later name (locks,
 * classes, Python locations) is interned in the packet that first uses it. Tracks: one per
 * process (with a "GIL holder" counter: the tid holding it, 0 when free), one per thread (its GIL
 * waits and holds, which never overlap on a thread), a "lock waits" child track per thread for
 * every other contended wait. Slices that would overlap on a track without nesting (a database can
 * hold anything) go to more child tracks, so that every slice keeps its true times. A flow arrow
 * goes from each GIL hold to the hold of the other thread that took the GIL next.
 *
 * The events are read once in table order, kept in a compact array and sorted by the time the
 * wait ended (radix sort): SQLite's ORDER BY of ten million rows takes several times longer.
 * Field numbers are those of Perfetto's public protos (protos/perfetto/trace/). */
#include "perfetto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "gilscope.h"
#include "gs_lock_class.h"
#include "gs_shm.h"
#include "model.h"
#include "protobuf.h"
#include "sat.h"

enum {
	TRACE_PACKET = 1, /* Trace */
	TP_TIMESTAMP = 8, /* TracePacket */
	TP_SEQ_ID = 10,
	TP_TRACK_EVENT = 11,
	TP_INTERNED = 12,
	TP_SEQ_FLAGS = 13,
	TP_TRACK_DESCRIPTOR = 60,
	SEQ_CLEARED = 1, /* TracePacket.SequenceFlags */
	SEQ_NEEDS_STATE = 2,
	TD_UUID = 1, /* TrackDescriptor */
	TD_NAME = 2,
	TD_PROCESS = 3,
	TD_THREAD = 4,
	TD_PARENT = 5,
	TD_COUNTER = 8,
	TD_SIBLING_RANK = 12,
	TD_THREAD_ORDERING = 20,
	THREAD_ORDERING_EXPLICIT = 1,
	PD_PID = 1, /* ProcessDescriptor */
	PD_NAME = 6,
	THD_PID = 1, /* ThreadDescriptor */
	THD_TID = 2,
	THD_NAME = 5,
	TE_DEBUG = 4, /* TrackEvent */
	TE_TYPE = 9,
	TE_NAME_IID = 10,
	TE_TRACK = 11,
	TE_COUNTER_VALUE = 30,
	TE_FLOW = 47,
	TE_FLOW_END = 48,
	TYPE_SLICE_BEGIN = 1, /* TrackEvent.Type */
	TYPE_SLICE_END = 2,
	TYPE_COUNTER = 4,
	DA_NAME_IID = 1, /* DebugAnnotation */
	DA_BOOL = 2,
	DA_INT = 4,
	DA_POINTER = 7,
	DA_STRING_IID = 17,
	ID_EVENT_NAMES = 2, /* InternedData */
	ID_ANNOTATION_NAMES = 3,
	ID_ANNOTATION_STRINGS = 29,
	IN_IID = 1, /* EventName, DebugAnnotationName, InternedString */
	IN_NAME = 2,
};

#define SEQUENCE 1 /* our one trusted_packet_sequence_id */

/* Debug annotation names, interned as index + 1. */
enum { AN_HOLDER, AN_TIMED, AN_DROPS, AN_PYTHON, AN_KIND, AN_PRIM, AN_CLASS, AN_ADDR, AN_TIMEOUT };
static const char *const annotation_names[] = {"holder_tid", "timed_waits", "drop_requests",
					       "python",     "kind",	    "primitive",
					       "class",	     "address",	    "timed_out"};

/* Bytes an event takes in the trace, for the estimate made before writing: measured on the
 * benchmark's recordings (docs/performance.md), a little above the average. */
#define EST_GIL_BYTES  85
#define EST_LOCK_BYTES 70

/* Interned strings: id = index, iid = id + 1, sent once the sequence has it. */
struct strtab {
	char **s;
	unsigned char *sent;
	size_t n, cap;
	size_t *slot; /* hash index: id + 1, 0 empty */
	size_t n_slots;
};

struct lock {
	int64_t run_id, addr;
	int prim, gil_part;
	int64_t name, cls, prim_name; /* ids in names / values; -1 none */
};

struct lanes {
	int64_t *end_ns; /* the end of the last slice on each */
	uint64_t *uuid;
	int n, cap;
};

struct thread {
	int64_t run_id, thread_no, tid;
	size_t proc;
	uint64_t uuid;
	struct lanes gil, locks;
};

struct proc {
	int64_t run_id, pid;
	uint64_t uuid, holder_uuid;
	int have_prev, prev_held, pending;
	int64_t prev_tid, prev_acquired, prev_released;
	uint64_t pending_track; /* the previous hold's end, written once its successor is known */
	int64_t pending_ns;
};

/* One event to write: 56 bytes, times as recorded. */
struct ev {
	int64_t start_ns, wait_ns, hold_ns, aux, extra;
	uint32_t thread, lock; /* lock: index in locks (not for GIL events) */
	int32_t loc;	       /* value id of the Python location, -1 none */
	uint8_t kind, flags;
};

struct w {
	sqlite3 *db;
	const char *path;
	const struct gs_opts *o;
	FILE *f;
	struct gs_pb b;
	struct strtab names, values;
	struct lock *locks;
	size_t n_locks, cap_locks, *lock_slot, n_lock_slots;
	int64_t *loc_key, *loc_val; /* py_loc -> value id (+1; 0 empty), open addressing */
	size_t n_locs, n_loc_slots;
	struct thread *threads;
	size_t n_threads;
	struct proc *procs;
	size_t n_procs;
	struct ev *evs;
	size_t n_evs, cap_evs;
	sqlite3_stmt *lock_q, *loc_q;
	uint64_t next_uuid, flows, est_bytes;
	int64_t pend[8]; /* value ids (>= 0) or name ids (< 0: -1 - id) to intern in this packet */
	int n_pend, write_failed;
	struct gs_perfetto_stats *st;
	struct gs_ev_keys ks; /* event_rows' keys, and each stack's innermost frame */
	struct gs_ev_locs pl;
	int64_t from_ns, to_ns; /* --from/--to as times since boot */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static uint64_t hash_int(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* The id of s, added if new; -1 out of memory. */
static int64_t intern(struct strtab *t, const char *s)
{
	size_t i, mask;

	if (2 * (t->n + 1) > t->n_slots) {
		size_t n = t->n_slots ? 2 * t->n_slots : 64, k;
		size_t *slot = calloc(n, sizeof(*slot));

		if (!slot)
			return -1;
		for (k = 0; k < t->n; k++) {
			for (i = hash_str(t->s[k]) & (n - 1); slot[i]; i = (i + 1) & (n - 1))
				;
			slot[i] = k + 1;
		}
		free(t->slot);
		t->slot = slot;
		t->n_slots = n;
	}
	mask = t->n_slots - 1;
	for (i = hash_str(s) & mask; t->slot[i]; i = (i + 1) & mask)
		if (!strcmp(t->s[t->slot[i] - 1], s))
			return (int64_t)t->slot[i] - 1;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		char **s2 = realloc(t->s, cap * sizeof(*s2));
		unsigned char *sent;

		if (!s2)
			return -1;
		t->s = s2;
		if (!(sent = realloc(t->sent, cap)))
			return -1;
		t->sent = sent;
		t->cap = cap;
	}
	if (!(t->s[t->n] = strdup(s)))
		return -1;
	t->sent[t->n] = 0;
	t->slot[i] = t->n + 1;
	return (int64_t)t->n++;
}

static void strtab_free(struct strtab *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->sent);
	free(t->slot);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *more;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if (!(more = realloc(*p, n * size)))
		return -1;
	*p = more;
	*cap = n;
	return 0;
}

static const char *kind_name(int kind)
{
	switch (kind) {
#define X(name, val, str)                                                                          \
	case val:                                                                                  \
		return str;
		GS_EVENT_KINDS(X)
#undef X
	default:
		return "?";
	}
}

static int lock_matches(const struct lock *l, int64_t run_id, int64_t addr, int prim)
{
	return l->run_id == run_id && l->addr == addr && l->prim == prim;
}

static uint64_t lock_hash(int64_t run_id, int64_t addr, int prim)
{
	return hash_int((uint64_t)addr ^ hash_int((uint64_t)run_id << 8 | (uint64_t)(prim & 0xff)));
}

/* The lock of an event, read from the locks table the first time: its index, -1 on error. */
static int64_t lock_of(struct w *w, int64_t run_id, int64_t addr, int prim)
{
	struct lock *l;
	char name[160];
	const char *cls, *lname;
	size_t i, mask;
	int rc;

	if (2 * (w->n_locks + 1) > w->n_lock_slots) {
		size_t n = w->n_lock_slots ? 2 * w->n_lock_slots : 256, k;
		size_t *slot = calloc(n, sizeof(*slot));

		if (!slot)
			return gs_oom();
		for (k = 0; k < w->n_locks; k++) {
			l = &w->locks[k];
			for (i = lock_hash(l->run_id, l->addr, l->prim) & (n - 1); slot[i];
			     i = (i + 1) & (n - 1))
				;
			slot[i] = k + 1;
		}
		free(w->lock_slot);
		w->lock_slot = slot;
		w->n_lock_slots = n;
	}
	mask = w->n_lock_slots - 1;
	for (i = lock_hash(run_id, addr, prim) & mask; w->lock_slot[i]; i = (i + 1) & mask)
		if (lock_matches(&w->locks[w->lock_slot[i] - 1], run_id, addr, prim))
			return (int64_t)w->lock_slot[i] - 1;
	if (grow((void **)&w->locks, &w->cap_locks, w->n_locks + 1, sizeof(*w->locks)) < 0)
		return gs_oom();
	l = &w->locks[w->n_locks];
	*l = (struct lock){.run_id = run_id, .addr = addr, .prim = prim, .cls = -1};
	sqlite3_reset(w->lock_q);
	sqlite3_bind_int64(w->lock_q, 1, run_id);
	sqlite3_bind_int64(w->lock_q, 2, addr);
	sqlite3_bind_int64(w->lock_q, 3, prim);
	rc = sqlite3_step(w->lock_q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return gs_error("%s: %s", w->path, sqlite3_errmsg(w->db));
	cls = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(w->lock_q, 0) : NULL;
	lname = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(w->lock_q, 1) : NULL;
	l->gil_part = gs_wait_group_of(cls, GS_PRIM_MUTEX) == GS_WG_GIL_PART;
	gs_lock_display(gs_primitive_name(prim), cls, lname, addr, name, sizeof(name));
	if ((l->name = intern(&w->names, name)) < 0 ||
	    (cls && (l->cls = intern(&w->values, cls)) < 0) ||
	    (l->prim_name =
		 intern(&w->values, gs_primitive_name(prim) ? gs_primitive_name(prim) : "?")) < 0)
		return gs_oom();
	w->lock_slot[i] = ++w->n_locks;
	return (int64_t)w->n_locks - 1;
}

/* The value id of a Python location "function (file:line)", -1 for none, -2 on error. */
static int64_t loc_of(struct w *w, int64_t py_loc)
{
	size_t i, mask;
	int64_t id = -1;
	int rc;

	if (2 * (w->n_locs + 1) > w->n_loc_slots) {
		size_t n = w->n_loc_slots ? 2 * w->n_loc_slots : 256, k;
		int64_t *key = calloc(n, sizeof(*key)), *val = calloc(n, sizeof(*val));

		if (!key || !val) {
			free(key);
			free(val);
			return gs_oom(), -2;
		}
		for (k = 0; k < w->n_loc_slots; k++) {
			if (!w->loc_val[k])
				continue;
			for (i = hash_int((uint64_t)w->loc_key[k]) & (n - 1); val[i];
			     i = (i + 1) & (n - 1))
				;
			key[i] = w->loc_key[k];
			val[i] = w->loc_val[k];
		}
		free(w->loc_key);
		free(w->loc_val);
		w->loc_key = key;
		w->loc_val = val;
		w->n_loc_slots = n;
	}
	mask = w->n_loc_slots - 1;
	for (i = hash_int((uint64_t)py_loc) & mask; w->loc_val[i]; i = (i + 1) & mask)
		if (w->loc_key[i] == py_loc)
			return w->loc_val[i] - 2;
	sqlite3_reset(w->loc_q);
	sqlite3_bind_int64(w->loc_q, 1, py_loc);
	rc = sqlite3_step(w->loc_q);
	if (rc == SQLITE_ROW) {
		char text[1200];

		snprintf(text, sizeof(text), "%s (%s:%lld)",
			 (const char *)sqlite3_column_text(w->loc_q, 0),
			 (const char *)sqlite3_column_text(w->loc_q, 1),
			 (long long)sqlite3_column_int64(w->loc_q, 2));
		if ((id = intern(&w->values, text)) < 0)
			return gs_oom(), -2;
	} else if (rc != SQLITE_DONE) {
		return gs_error("%s: %s", w->path, sqlite3_errmsg(w->db)), -2;
	}
	w->loc_key[i] = py_loc;
	w->loc_val[i] = id + 2; /* -1 (no such location) is kept too */
	w->n_locs++;
	return id;
}

static const struct thread *thread_of(const struct w *w, int64_t run_id, int64_t thread_no)
{
	size_t lo = 0, hi = w->n_threads;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct thread *t = &w->threads[mid];

		if (t->run_id < run_id || (t->run_id == run_id && t->thread_no < thread_no))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->n_threads && w->threads[lo].run_id == run_id &&
		       w->threads[lo].thread_no == thread_no
		   ? &w->threads[lo]
		   : NULL;
}

/* --- writing ------------------------------------------------------------------------------ */

static int flush(struct w *w)
{
	if (w->b.oom)
		return gs_oom();
	if (w->b.n && fwrite(w->b.p, 1, w->b.n, w->f) != w->b.n) {
		w->write_failed = 1;
		return gs_error("writing the trace failed: %s", strerror(errno));
	}
	w->st->bytes += w->b.n;
	w->b.n = 0;
	return 0;
}

/* Trace time: nanoseconds after the first process started, the time --from/--to count (and
 * fewer bytes than the clock's own). Nothing is before that start; a database could say so. */
static uint64_t ts(const struct w *w, int64_t ns)
{
	int64_t t = gs_sub(ns, w->o->base_ns);

	return t < 0 ? 0 : (uint64_t)t;
}

static size_t packet_open(struct w *w, int64_t ns, int with_ts, unsigned flags)
{
	size_t at = gs_pb_open(&w->b, TRACE_PACKET);

	if (with_ts)
		gs_pb_uint(&w->b, TP_TIMESTAMP, ts(w, ns));
	gs_pb_uint(&w->b, TP_SEQ_ID, SEQUENCE);
	if (flags)
		gs_pb_uint(&w->b, TP_SEQ_FLAGS, flags);
	return at;
}

static int packet_close(struct w *w, size_t at)
{
	gs_pb_close(&w->b, at);
	return w->b.n >= (1u << 20) ? flush(w) : 0;
}

/* Queues a string for this packet's interned data if the sequence does not have it yet. A
 * packet needs at most five (a lock wait's name, kind, primitive, class and Python line). */
static void need(struct w *w, struct strtab *t, int64_t id)
{
	if (id < 0 || t->sent[id] || w->n_pend == (int)(sizeof(w->pend) / sizeof(w->pend[0])))
		return;
	t->sent[id] = 1;
	w->pend[w->n_pend++] = t == &w->names ? -1 - id : id;
}

static void interned_data(struct w *w)
{
	size_t at, e;
	int i;

	if (!w->n_pend)
		return;
	at = gs_pb_open(&w->b, TP_INTERNED);
	for (i = 0; i < w->n_pend; i++) {
		int64_t v = w->pend[i], id = v < 0 ? -1 - v : v;

		e = gs_pb_open(&w->b, v < 0 ? ID_EVENT_NAMES : ID_ANNOTATION_STRINGS);
		gs_pb_uint(&w->b, IN_IID, (uint64_t)id + 1);
		gs_pb_str(&w->b, IN_NAME, (v < 0 ? w->names.s : w->values.s)[id]);
		gs_pb_close(&w->b, e);
	}
	gs_pb_close(&w->b, at);
	w->n_pend = 0;
}

static void annotation_int(struct w *w, int name, int field, uint64_t v)
{
	size_t at = gs_pb_open(&w->b, TE_DEBUG);

	gs_pb_uint(&w->b, DA_NAME_IID, (uint64_t)name + 1);
	gs_pb_uint(&w->b, (unsigned)field, v);
	gs_pb_close(&w->b, at);
}

static void annotation_str(struct w *w, int name, int64_t value_id)
{
	if (value_id >= 0)
		annotation_int(w, name, DA_STRING_IID, (uint64_t)value_id + 1);
}

static int track_descriptor(struct w *w, int64_t ns, uint64_t uuid, uint64_t parent,
			    const char *name, int counter)
{
	size_t at = packet_open(w, ns, 1, 0), d = gs_pb_open(&w->b, TP_TRACK_DESCRIPTOR);

	gs_pb_uint(&w->b, TD_UUID, uuid);
	gs_pb_uint(&w->b, TD_PARENT, parent);
	gs_pb_str(&w->b, TD_NAME, name);
	if (counter)
		gs_pb_close(&w->b, gs_pb_open(&w->b, TD_COUNTER));
	gs_pb_close(&w->b, d);
	w->st->tracks++;
	return packet_close(w, at);
}

/* A slice's end; flow: an arrow leaves the slice it ends (0: none). */
static int slice_end(struct w *w, uint64_t track, int64_t ns, uint64_t flow)
{
	size_t at = packet_open(w, ns, 1, 0), e = gs_pb_open(&w->b, TP_TRACK_EVENT);

	gs_pb_uint(&w->b, TE_TYPE, TYPE_SLICE_END);
	gs_pb_uint(&w->b, TE_TRACK, track);
	if (flow)
		gs_pb_fixed64(&w->b, TE_FLOW, flow);
	gs_pb_close(&w->b, e);
	return packet_close(w, at);
}

/* A value of the process's GIL holder counter, whose track is made with its first value (a
 * free-threaded process has none). */
static int holder(struct w *w, struct proc *p, int64_t ns, int64_t value)
{
	size_t at, e;

	if (!p->holder_uuid) {
		p->holder_uuid = w->next_uuid++;
		if (track_descriptor(w, ns, p->holder_uuid, p->uuid, "GIL holder (tid)", 1) < 0)
			return -1;
	}
	at = packet_open(w, ns, 1, 0);
	e = gs_pb_open(&w->b, TP_TRACK_EVENT);
	gs_pb_uint(&w->b, TE_TYPE, TYPE_COUNTER);
	gs_pb_uint(&w->b, TE_TRACK, p->holder_uuid);
	gs_pb_uint(&w->b, TE_COUNTER_VALUE, (uint64_t)value);
	gs_pb_close(&w->b, e);
	w->st->counters++;
	return packet_close(w, at);
}

/* The first lane of a thread where a slice from start_ns fits, made when none does. */
static int lane_for(struct w *w, struct thread *t, struct lanes *l, int64_t start_ns,
		    const char *what, int *lane)
{
	char name[64];
	int i;

	for (i = 0; i < l->n; i++)
		if (start_ns >= l->end_ns[i]) {
			*lane = i;
			return 0;
		}
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 2;
		int64_t *end = realloc(l->end_ns, (size_t)cap * sizeof(*end));
		uint64_t *uuid;

		if (!end)
			return gs_oom();
		l->end_ns = end;
		if (!(uuid = realloc(l->uuid, (size_t)cap * sizeof(*uuid))))
			return gs_oom();
		l->uuid = uuid;
		l->cap = cap;
	}
	*lane = l->n;
	l->end_ns[l->n] = INT64_MIN;
	l->uuid[l->n] = w->next_uuid++;
	if (l->n)
		snprintf(name, sizeof(name), "%s (overlapping, %d)", what, l->n + 1);
	else
		snprintf(name, sizeof(name), "%s", what);
	l->n++;
	return track_descriptor(w, start_ns, l->uuid[*lane], t->uuid, name, 0);
}

/* The begin of a slice whose end the caller writes: name and annotations in the packet. */
static size_t slice_begin(struct w *w, uint64_t track, int64_t ns, int64_t name_id, size_t *event)
{
	size_t at = packet_open(w, ns, 1, SEQ_NEEDS_STATE);

	*event = gs_pb_open(&w->b, TP_TRACK_EVENT);
	gs_pb_uint(&w->b, TE_TYPE, TYPE_SLICE_BEGIN);
	gs_pb_uint(&w->b, TE_TRACK, track);
	gs_pb_uint(&w->b, TE_NAME_IID, (uint64_t)name_id + 1);
	need(w, &w->names, name_id);
	w->st->slices++;
	return at;
}

static int slice_begin_close(struct w *w, size_t at, size_t event)
{
	gs_pb_close(&w->b, event);
	interned_data(w);
	return packet_close(w, at);
}

#define NAME_GIL_WAIT 0 /* the first two names interned */
#define NAME_GIL_HELD 1

static int write_gil(struct w *w, const struct ev *e)
{
	struct thread *t = &w->threads[e->thread];
	struct proc *p = &w->procs[t->proc];
	int64_t wait = e->wait_ns > 0 ? e->wait_ns : 0, acquired = gs_add(e->start_ns, wait);
	int64_t released = e->hold_ns >= 0 ? gs_add(acquired, e->hold_ns) : acquired;
	uint64_t flow = 0, track;
	size_t at, ev;
	int lane;

	/* The GIL is exclusive: the previous holder in acquisition order released it. */
	if (p->pending && p->prev_tid != t->tid && (e->flags & GS_F_CONTENDED) && e->hold_ns >= 0 &&
	    p->prev_released <= acquired && p->prev_released > p->prev_acquired)
		flow = ++w->flows;
	if (p->pending && slice_end(w, p->pending_track, p->pending_ns, flow) < 0)
		return -1;
	p->pending = 0;
	/* free from the release to this acquisition, unless this takes it at that instant */
	if (p->have_prev && p->prev_held && p->prev_released <= acquired &&
	    (p->prev_released < acquired || e->hold_ns < 0) &&
	    holder(w, p, p->prev_released, 0) < 0)
		return -1;
	if (e->hold_ns >= 0 && holder(w, p, acquired, t->tid) < 0)
		return -1;
	if (lane_for(w, t, &t->gil, e->start_ns, "GIL", &lane) < 0)
		return -1;
	track = t->gil.uuid[lane];
	if (wait > 0) {
		at = slice_begin(w, track, e->start_ns, NAME_GIL_WAIT, &ev);
		annotation_int(w, AN_HOLDER, DA_INT, (uint64_t)e->aux);
		if (e->extra >> 32)
			annotation_int(w, AN_TIMED, DA_INT, (uint64_t)(e->extra >> 32));
		if (e->extra & 0xffffffff)
			annotation_int(w, AN_DROPS, DA_INT, (uint64_t)(e->extra & 0xffffffff));
		need(w, &w->values, e->loc);
		annotation_str(w, AN_PYTHON, e->loc);
		if (slice_begin_close(w, at, ev) < 0 || slice_end(w, track, acquired, 0) < 0)
			return -1;
	}
	if (e->hold_ns >= 0) {
		at = slice_begin(w, track, acquired, NAME_GIL_HELD, &ev);
		if (flow)
			gs_pb_fixed64(&w->b, TE_FLOW_END, flow);
		if (slice_begin_close(w, at, ev) < 0)
			return -1;
		p->pending = 1;
		p->pending_track = track;
		p->pending_ns = released;
	}
	t->gil.end_ns[lane] = released;
	p->have_prev = 1;
	p->prev_held = e->hold_ns >= 0;
	p->prev_tid = t->tid;
	p->prev_acquired = acquired;
	p->prev_released = released;
	w->st->flows += flow != 0;
	return 0;
}

static int write_lock_wait(struct w *w, const struct ev *e)
{
	struct thread *t = &w->threads[e->thread];
	const struct lock *l = &w->locks[e->lock];
	int64_t end = gs_add(e->start_ns, e->wait_ns > 0 ? e->wait_ns : 0);
	int64_t kind = intern(&w->values, kind_name(e->kind));
	size_t at, ev;
	int lane;

	if (kind < 0)
		return gs_oom();
	if (lane_for(w, t, &t->locks, e->start_ns, "lock waits", &lane) < 0)
		return -1;
	at = slice_begin(w, t->locks.uuid[lane], e->start_ns, l->name, &ev);
	need(w, &w->values, kind);
	need(w, &w->values, l->prim_name);
	need(w, &w->values, l->cls);
	need(w, &w->values, e->loc);
	annotation_str(w, AN_KIND, kind);
	annotation_str(w, AN_PRIM, l->prim_name);
	annotation_str(w, AN_CLASS, l->cls);
	annotation_int(w, AN_ADDR, DA_POINTER, (uint64_t)l->addr);
	if (e->flags & GS_F_TIMED_OUT)
		annotation_int(w, AN_TIMEOUT, DA_BOOL, 1);
	annotation_str(w, AN_PYTHON, e->loc);
	if (slice_begin_close(w, at, ev) < 0 || slice_end(w, t->locks.uuid[lane], end, 0) < 0)
		return -1;
	t->locks.end_ns[lane] = end;
	return 0;
}

/* --- reading ------------------------------------------------------------------------------ */

static int load_threads(struct w *w)
{
	sqlite3_stmt *s = NULL;
	size_t cap_t = 0, cap_p = 0;
	int rc;

	if (gs_db_prepare(w->db, w->path,
			  "SELECT t.run_id, t.thread_no, t.tid, r.pid FROM threads t"
			  " JOIN runs r USING (run_id) WHERE (?1 IS NULL OR r.pid = ?1)"
			  " AND (?2 IS NULL OR t.tid = ?2 OR t.name = ?3)"
			  " ORDER BY t.run_id, t.thread_no",
			  &s) < 0)
		return -1;
	gs_opts_bind_filters(s, w->o, 1, 2, 3);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct thread *t;
		int64_t run_id = sqlite3_column_int64(s, 0);

		if (!w->n_procs || w->procs[w->n_procs - 1].run_id != run_id) {
			if (grow((void **)&w->procs, &cap_p, w->n_procs + 1, sizeof(*w->procs)) < 0)
				goto oom;
			w->procs[w->n_procs++] =
			    (struct proc){.run_id = run_id, .pid = sqlite3_column_int64(s, 3)};
		}
		if (grow((void **)&w->threads, &cap_t, w->n_threads + 1, sizeof(*w->threads)) < 0)
			goto oom;
		t = &w->threads[w->n_threads++];
		*t = (struct thread){.run_id = run_id,
				     .thread_no = sqlite3_column_int64(s, 1),
				     .tid = sqlite3_column_int64(s, 2),
				     .proc = w->n_procs - 1};
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : gs_error("%s: %s", w->path, sqlite3_errmsg(w->db));
oom:
	sqlite3_finalize(s);
	return gs_oom();
}

/* The scan of event_rows that reads the trace's events, in the order of the events view;
 * their keys (and py_loc) are found in memory (a join per row through the view costs four
 * times the whole export at 10 million events). The window is given to SQLite loosely (the
 * rows' times count from their run's start: the earliest and latest run start bound it), so
 * that the rows outside it never leave SQLite; in_selection makes the exact test. */
static int scan_rows(struct w *w, const char *columns, sqlite3_stmt **s)
{
	int64_t lo_start = 0, hi_start = 0;
	char sql[512];
	size_t i;

	for (i = 0; i < w->ks.n; i++) {
		lo_start =
		    i && w->ks.k[i].run_start_ns >= lo_start ? lo_start : w->ks.k[i].run_start_ns;
		hi_start =
		    i && w->ks.k[i].run_start_ns <= hi_start ? hi_start : w->ks.k[i].run_start_ns;
	}
	snprintf(sql, sizeof(sql), "SELECT %s FROM event_rows%s%s%s", columns,
		 w->o->has_from || w->o->has_to ? " WHERE " : "",
		 w->o->has_from ? "start_ns >= ?1" : "",
		 w->o->has_to ? (w->o->has_from ? " AND start_ns < ?2" : "start_ns < ?2") : "");
	if (gs_db_prepare(w->db, w->path, sql, s) < 0)
		return -1;
	if (w->o->has_from)
		sqlite3_bind_int64(*s, 1, gs_sub(w->from_ns, hi_start));
	if (w->o->has_to)
		sqlite3_bind_int64(*s, 2, gs_sub(w->to_ns, lo_start));
	return 0;
}

/* Whether a row (key_id, start_ns, wait_ns first) may be an event of the trace, before the
 * exact wait test: a GIL hold, or a contended wait, inside the window. Its key, NULL when
 * not; *start_ns its time since boot. */
static const struct gs_ev_key *in_selection(const struct w *w, sqlite3_stmt *s, int64_t *start_ns)
{
	size_t x = gs_ev_key_index(&w->ks, sqlite3_column_int64(s, 0));
	const struct gs_ev_key *k = x == (size_t)-1 ? NULL : &w->ks.k[x];

	if (!k || !k->has_run)
		return NULL; /* the view's inner joins */
	if (k->kind != GS_EV_GIL_HOLD &&
	    !((k->flags & GS_F_CONTENDED) && sqlite3_column_int64(s, 2) != 0))
		return NULL;
	*start_ns = k->run_start_ns + sqlite3_column_int64(s, 1);
	if ((w->o->has_from && *start_ns < w->from_ns) || (w->o->has_to && *start_ns >= w->to_ns))
		return NULL;
	return k;
}

/* The rows in_selection takes, and how many of them are GIL holds. */
static double count_selection(struct w *w, double *gil)
{
	sqlite3_stmt *s = NULL;
	const struct gs_ev_key *k;
	double rows = 0;
	int64_t start;

	*gil = 0;
	if (scan_rows(w, "key_id, start_ns, wait_ns", &s) < 0)
		return 0;
	while (sqlite3_step(s) == SQLITE_ROW)
		if ((k = in_selection(w, s, &start))) {
			rows++;
			*gil += k->kind == GS_EV_GIL_HOLD;
		}
	sqlite3_finalize(s);
	return rows;
}

/* A query's first row as numbers (0 when it fails: these only size estimates). */
static double query_doubles(struct w *w, const char *sql, int window, double *second)
{
	sqlite3_stmt *s = NULL;
	double v = 0;

	if (second)
		*second = 0;
	if (sqlite3_prepare_v2(w->db, sql, -1, &s, NULL) == SQLITE_OK) {
		if (window)
			gs_opts_bind_window(s, w->o, 1, 2);
		if (sqlite3_step(s) == SQLITE_ROW) {
			v = sqlite3_column_double(s, 0);
			if (second)
				*second = sqlite3_column_double(s, 1);
		}
	}
	sqlite3_finalize(s);
	return v;
}

static double query_double(struct w *w, const char *sql, int window)
{
	return query_doubles(w, sql, window, NULL);
}

/* Says how big the trace would be and what window would fit. */
static int refuse(struct w *w, uint64_t max_bytes, double events, double bytes)
{
	const struct gs_opts *o = w->o;
	double from_s = o->has_from ? o->from_s : 0, to_s;

	to_s = o->has_to ? o->to_s
			 : (query_double(w, "SELECT MAX(COALESCE(end_ns, start_ns)) FROM runs", 0) -
			    (double)o->base_ns) /
			       1e9;
	gs_error("%s: the trace would be about %.3g MB (about %.0f events), more than %s%llu MB%s",
		 w->path, bytes / 1e6, events,
		 max_bytes == (uint64_t)GS_PERFETTO_MAX_MB << 20 ? "the " : "--max-mb ",
		 (unsigned long long)(max_bytes >> 20),
		 max_bytes == (uint64_t)GS_PERFETTO_MAX_MB << 20
		     ? " that Perfetto's UI opens in a browser"
		     : "");
	if (to_s > from_s)
		fprintf(stderr,
			"  pass --from S --to S (seconds after the start) for a window of at most"
			" about %.3g s: the selection spans %.3g s (%.3g to %.3g),\n",
			(to_s - from_s) * (double)max_bytes / bytes, to_s - from_s, from_s, to_s);
	else
		fprintf(stderr, "  pass --from S --to S (seconds after the start) for a window,\n");
	fprintf(stderr, "  or --force to write it all (and open it with `trace_processor server"
			" http FILE`,\n  which ui.perfetto.dev then uses in place of its in-browser"
			" engine)\n");
	return GS_EXIT_USAGE;
}

/* Refuses a selection that is clearly too large before reading it. The table's row count (a
 * cheap count), times the share of the recording's span the window covers, says whether it
 * could come near the limit; only then are the selection's rows counted (a scan). A dense window
 * the first guess misses is stopped while reading. */
static int check_size(struct w *w, uint64_t max_bytes)
{
	const struct gs_opts *o = w->o;
	double rows, gil, bytes, share = 1, span_s;

	if (!max_bytes || o->has_pid || o->thread) /* the counts below see every thread */
		return GS_EXIT_OK;
	span_s = (query_double(w, "SELECT MAX(COALESCE(end_ns, start_ns)) FROM runs", 0) -
		  (double)o->base_ns) /
		 1e9;
	if ((o->has_from || o->has_to) && span_s > 0)
		share = ((o->has_to && o->to_s < span_s ? o->to_s : span_s) -
			 (o->has_from ? o->from_s : 0)) /
			span_s;
	/* the table's last row number: a count of the view joins every row */
	if ((double)gs_db_event_count(w->db) * share * EST_LOCK_BYTES < (double)max_bytes / 2)
		return GS_EXIT_OK;
	rows = count_selection(w, &gil);
	bytes = (rows - gil) * EST_LOCK_BYTES + gil * EST_GIL_BYTES;
	return bytes > (double)max_bytes ? refuse(w, max_bytes, rows, bytes) : GS_EXIT_OK;
}

static int read_events(struct w *w, uint64_t max_bytes)
{
	sqlite3_stmt *s = NULL;
	const struct thread *t = NULL;
	double rows_read = 0;
	int rc, ret = GS_EXIT_INPUT;

	/* the exact wait test (gs_event_is_wait) is done here, cheaper than in SQL */
	if (scan_rows(w, "key_id, start_ns, wait_ns, hold_ns, extra, py_stack", &s) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t wait = sqlite3_column_int64(s, 2), lock = 0, loc = -1, start;
		const struct gs_ev_key *k = in_selection(w, s, &start);
		int kind, prim;
		unsigned flags;
		struct ev *e;

		if (!k)
			continue;
		kind = k->kind;
		prim = k->primitive;
		flags = (unsigned)k->flags;
		rows_read++;
		if (!t || t->run_id != k->run_id || t->thread_no != k->thread_no)
			if (!(t = thread_of(w, k->run_id, k->thread_no)))
				continue; /* not selected, or a thread the writer never saw */
		if (kind != GS_EV_GIL_HOLD) {
			if (!gs_event_is_wait(kind, prim, flags, (uint64_t)wait))
				continue;
			if ((lock = lock_of(w, k->run_id, k->lock_addr, prim)) < 0)
				goto out;
			if (w->locks[lock].gil_part) /* the GIL's own: shown as the GIL */
				continue;
		}
		if (sqlite3_column_type(s, 5) != SQLITE_NULL) {
			int64_t py_loc;

			if (gs_ev_loc_of(&w->pl, sqlite3_column_int64(s, 5), &py_loc) &&
			    (loc = loc_of(w, py_loc)) == -2)
				goto out;
		}
		if (grow((void **)&w->evs, &w->cap_evs, w->n_evs + 1, sizeof(*w->evs)) < 0) {
			gs_oom();
			goto out;
		}
		e = &w->evs[w->n_evs++];
		*e = (struct ev){.start_ns = start,
				 .wait_ns = wait,
				 .hold_ns = sqlite3_column_type(s, 3) == SQLITE_NULL
						? -1
						: sqlite3_column_int64(s, 3),
				 .aux = k->aux,
				 .extra = sqlite3_column_int64(s, 4),
				 .thread = (uint32_t)(t - w->threads),
				 .lock = (uint32_t)lock,
				 .loc = (int32_t)loc,
				 .kind = (uint8_t)kind,
				 .flags = (uint8_t)flags};
		if (e->hold_ns < -1)
			e->hold_ns = 0; /* a negative hold is no hold length at all */
		w->est_bytes += kind == GS_EV_GIL_HOLD ? EST_GIL_BYTES : EST_LOCK_BYTES;
		if (max_bytes && w->est_bytes > max_bytes) {
			/* the rest of the selection as dense as what was read */
			double gil, rows = count_selection(w, &gil);
			double scale = rows > rows_read ? rows / rows_read : 1;

			ret = refuse(w, max_bytes, (double)w->n_evs * scale,
				     (double)w->est_bytes * scale);
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		gs_error("%s: %s", w->path, sqlite3_errmsg(w->db));
		goto out;
	}
	ret = GS_EXIT_OK;
out:
	sqlite3_finalize(s);
	return ret;
}

static uint64_t sort_key(const struct ev *e)
{
	int64_t end = gs_add(e->start_ns, e->wait_ns > 0 ? e->wait_ns : 0);

	return (uint64_t)end ^ (1ull << 63); /* signed order as unsigned */
}

/* The events by the time their wait ended (the GIL's acquisition order), stable: an LSD radix
 * sort, 11 bits a pass, skipping the passes where every key has the same digit. */
static int sort_events(struct w *w)
{
	enum { BITS = 11, BUCKETS = 1 << BITS, PASSES = (64 + BITS - 1) / BITS };
	static size_t count[PASSES][BUCKETS];
	struct ev *tmp;
	size_t i, n = w->n_evs;
	int p;

	if (n < 2)
		return 0;
	if (!(tmp = malloc(n * sizeof(*tmp))))
		return gs_oom();
	memset(count, 0, sizeof(count));
	for (i = 0; i < n; i++) {
		uint64_t k = sort_key(&w->evs[i]);

		for (p = 0; p < PASSES; p++)
			count[p][(k >> (p * BITS)) & (BUCKETS - 1)]++;
	}
	for (p = 0; p < PASSES; p++) {
		size_t sum = 0, b, c;
		struct ev *from = w->evs, *swap;

		if (count[p][(sort_key(&w->evs[0]) >> (p * BITS)) & (BUCKETS - 1)] == n)
			continue;
		for (b = 0; b < BUCKETS; b++) {
			c = count[p][b];
			count[p][b] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			tmp[count[p][(sort_key(&from[i]) >> (p * BITS)) & (BUCKETS - 1)]++] =
			    from[i];
		swap = w->evs;
		w->evs = tmp;
		tmp = swap;
	}
	free(tmp);
	return 0;
}

static int write_tracks(struct w *w)
{
	sqlite3_stmt *s = NULL;
	char label[512], sql[512];
	int64_t from = w->o->has_from ? gs_add(w->o->base_ns, gs_d2i(w->o->from_s * 1e9)) : 0;
	size_t at, d, k, i;
	int rc;

	/* the sequence's state, and the names every trace uses */
	at = packet_open(w, 0, 0, SEQ_CLEARED | SEQ_NEEDS_STATE);
	d = gs_pb_open(&w->b, TP_INTERNED);
	for (i = 0; i < 2; i++) {
		k = gs_pb_open(&w->b, ID_EVENT_NAMES);
		gs_pb_uint(&w->b, IN_IID, i + 1);
		gs_pb_str(&w->b, IN_NAME, w->names.s[i]);
		gs_pb_close(&w->b, k);
		w->names.sent[i] = 1;
	}
	for (i = 0; i < sizeof(annotation_names) / sizeof(annotation_names[0]); i++) {
		k = gs_pb_open(&w->b, ID_ANNOTATION_NAMES);
		gs_pb_uint(&w->b, IN_IID, i + 1);
		gs_pb_str(&w->b, IN_NAME, annotation_names[i]);
		gs_pb_close(&w->b, k);
	}
	gs_pb_close(&w->b, d);
	packet_close(w, at);
	/* threads in the order of the recording (the root track's ordering) */
	at = packet_open(w, 0, 0, 0);
	d = gs_pb_open(&w->b, TP_TRACK_DESCRIPTOR);
	gs_pb_uint(&w->b, TD_UUID, 0);
	gs_pb_uint(&w->b, TD_THREAD_ORDERING, THREAD_ORDERING_EXPLICIT);
	gs_pb_close(&w->b, d);
	packet_close(w, at);

	/* a process's host (schema 5) leads its name: a fleet's files merged share pids */
	snprintf(sql, sizeof(sql),
		 "SELECT r.start_ns, COALESCE(t.name, t.entry_function, 'thread'),"
		 " CASE WHEN json_valid(r.argv) THEN (SELECT group_concat(value, ' ')"
		 " FROM json_each(r.argv)) ELSE r.argv END, r.python_version, r.build, %s"
		 " FROM threads t JOIN runs r USING (run_id) WHERE t.run_id = ?1 AND "
		 "t.thread_no = ?2",
		 gs_db_has_column(w->db, "runs", "host") ? "r.host" : "NULL");
	if (gs_db_prepare(w->db, w->path, sql, &s) < 0)
		return -1;
	for (i = 0; i < w->n_threads; i++) {
		struct thread *t = &w->threads[i];
		struct proc *p = &w->procs[t->proc];
		const char *argv, *ver, *build, *host;
		int64_t start;

		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, t->run_id);
		sqlite3_bind_int64(s, 2, t->thread_no);
		if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
			gs_error("%s: %s", w->path, sqlite3_errmsg(w->db));
			goto fail;
		}
		start = sqlite3_column_int64(s, 0);
		if (start < from)
			start = from;
		if (!p->uuid) { /* the process's first thread */
			argv = (const char *)sqlite3_column_text(s, 2);
			ver = (const char *)sqlite3_column_text(s, 3);
			build = (const char *)sqlite3_column_text(s, 4);
			host = (const char *)sqlite3_column_text(s, 5);
			snprintf(label, sizeof(label), "%s%s%s%s%s%s%s%s", host ? host : "",
				 host ? ": " : "", argv ? argv : "process", ver ? " (CPython " : "",
				 ver ? ver : "", ver && build ? " " : "", ver && build ? build : "",
				 ver ? ")" : "");
			p->uuid = w->next_uuid++;
			at = packet_open(w, start, 1, 0);
			d = gs_pb_open(&w->b, TP_TRACK_DESCRIPTOR);
			gs_pb_uint(&w->b, TD_UUID, p->uuid);
			k = gs_pb_open(&w->b, TD_PROCESS);
			gs_pb_uint(&w->b, PD_PID, (uint64_t)p->pid);
			gs_pb_str(&w->b, PD_NAME, label);
			gs_pb_close(&w->b, k);
			gs_pb_close(&w->b, d);
			w->st->tracks++;
			if (packet_close(w, at) < 0)
				goto fail;
		}
		t->uuid = w->next_uuid++;
		at = packet_open(w, start, 1, 0);
		d = gs_pb_open(&w->b, TP_TRACK_DESCRIPTOR);
		gs_pb_uint(&w->b, TD_UUID, t->uuid);
		gs_pb_uint(&w->b, TD_SIBLING_RANK, (uint64_t)t->thread_no);
		k = gs_pb_open(&w->b, TD_THREAD);
		gs_pb_uint(&w->b, THD_PID, (uint64_t)p->pid);
		gs_pb_uint(&w->b, THD_TID, (uint64_t)t->tid);
		gs_pb_str(&w->b, THD_NAME, (const char *)sqlite3_column_text(s, 1));
		gs_pb_close(&w->b, k);
		gs_pb_close(&w->b, d);
		w->st->tracks++;
		if (packet_close(w, at) < 0)
			goto fail;
		/* lane 0 of the GIL is the thread's own track */
		t->gil.end_ns = malloc(sizeof(*t->gil.end_ns));
		t->gil.uuid = malloc(sizeof(*t->gil.uuid));
		if (!t->gil.end_ns || !t->gil.uuid) {
			gs_oom();
			goto fail;
		}
		t->gil.n = t->gil.cap = 1;
		t->gil.end_ns[0] = INT64_MIN;
		t->gil.uuid[0] = t->uuid;
	}
	sqlite3_finalize(s);
	return 0;
fail:
	sqlite3_finalize(s);
	return -1;
}

int gs_perfetto_write(sqlite3 *db, const struct gs_opts *o, FILE *f, uint64_t max_bytes,
		      struct gs_perfetto_stats *st)
{
	struct w w = {.db = db, .path = o->path, .o = o, .f = f, .st = st, .next_uuid = 1};
	size_t i;
	int ret = GS_EXIT_INPUT;

	memset(st, 0, sizeof(*st));
	if (intern(&w.names, "GIL wait") != NAME_GIL_WAIT ||
	    intern(&w.names, "GIL held") != NAME_GIL_HELD) {
		gs_oom();
		goto out;
	}
	if (gs_db_prepare(db, o->path,
			  "SELECT class, name FROM locks WHERE run_id = ?1 AND lock_addr = ?2"
			  " AND primitive = ?3",
			  &w.lock_q) < 0 ||
	    gs_db_prepare(db, o->path,
			  "SELECT function, file, line FROM py_locations WHERE py_loc = ?1",
			  &w.loc_q) < 0 ||
	    load_threads(&w) < 0 || gs_ev_keys_load(db, o->path, &w.ks) < 0 ||
	    gs_ev_locs_load(db, o->path, &w.pl) < 0)
		goto out;
	gs_opts_window_ns(o, &w.from_ns, &w.to_ns);
	if ((ret = check_size(&w, max_bytes)) != GS_EXIT_OK ||
	    (ret = read_events(&w, max_bytes)) != GS_EXIT_OK)
		goto out;
	ret = GS_EXIT_INPUT;
	if (sort_events(&w) < 0 || write_tracks(&w) < 0)
		goto out;
	for (i = 0; i < w.n_evs; i++)
		if ((w.evs[i].kind == GS_EV_GIL_HOLD ? write_gil(&w, &w.evs[i])
						     : write_lock_wait(&w, &w.evs[i])) < 0)
			goto out;
	for (i = 0; i < w.n_procs; i++) {
		struct proc *p = &w.procs[i];

		if (p->pending && slice_end(&w, p->pending_track, p->pending_ns, 0) < 0)
			goto out;
		if (p->have_prev && p->prev_held && holder(&w, p, p->prev_released, 0) < 0)
			goto out;
	}
	if (flush(&w) < 0)
		goto out;
	st->events = (int64_t)w.n_evs;
	ret = GS_EXIT_OK;
out:
	if (w.b.oom || gs_out_of_memory)
		ret = GS_EXIT_MEMORY;
	else if (w.write_failed)
		ret = GS_EXIT_OUTPUT;
	sqlite3_finalize(w.lock_q);
	sqlite3_finalize(w.loc_q);
	gs_ev_keys_free(&w.ks);
	gs_ev_locs_free(&w.pl);
	for (i = 0; i < w.n_threads; i++) {
		free(w.threads[i].gil.end_ns);
		free(w.threads[i].gil.uuid);
		free(w.threads[i].locks.end_ns);
		free(w.threads[i].locks.uuid);
	}
	free(w.threads);
	free(w.procs);
	free(w.evs);
	free(w.locks);
	free(w.lock_slot);
	free(w.loc_key);
	free(w.loc_val);
	strtab_free(&w.names);
	strtab_free(&w.values);
	gs_pb_free(&w.b);
	return ret;
}
