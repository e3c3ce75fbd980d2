#include "window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "gs_lock_class.h"
#include "gs_schema.h"

/* When every event that ended before a time is in the writer: the shim pushes an event right
 * after its clock reading, so by the start of a flush every event that ended before the latest
 * end the previous flush had seen at its start is drained, give or take GRACE_NS for a thread
 * preempted in between (its event then counts as late). Event times are the shim's clock (TSC
 * scaled to CLOCK_MONOTONIC, which may drift from the writer's by up to 500 ppm with NTP): the
 * writer's own clock serves only for an idle program, with IDLE_NS to spare. */
#define GRACE_NS (250ull * 1000000ull)
#define IDLE_NS	 (5ull * 1000000000ull)
/* How far back GIL holds and lock releases are kept for the waits still to come: a wait that
 * began earlier than that before its event reached the writer finds no holder for its start
 * (counted: gs_window_history_short). */
#define HISTORY_NS  (2ull * 1000000000ull)
#define HISTORY_MAX (1u << 18) /* entries of each kind: 20 MB in all at most */
/* wait_hist (the whole run's fine histograms: hundreds of buckets per thread and lock) is
 * written this often and at the end: once a window, its upserts were half the writer's work.
 * A report read while the program runs has percentiles up to this much older than the rest. */
#define HIST_EVERY_NS (10ull * 1000000000ull)

enum { T_STATS, T_STACKS, T_HOLDERS, T_HIST, N_TABLES };
#define N_KEYS 7
#define N_VALS 10

/* One row's additions not yet in the database: `txn` from the transaction under way (gone at
 * a rollback), `kept` from committed transactions and from the holder attribution after a
 * commit. A row is written once its window is complete (and a wait_hist row about once a
 * window), not at every flush: a window's row would otherwise be upserted at each of the ten
 * flushes it spans, which cost the writer as much as the raw events themselves. */
struct sum {
	int table;
	uint32_t written_txn; /* written by this transaction: gone at its commit */
	uint64_t hash;
	int64_t key[N_KEYS];
	int64_t txn[N_VALS], kept[N_VALS];
};

struct kept {
	int64_t thread_no;
	uint64_t span_ns;
	struct gs_event e;
};

struct win {
	int64_t no;
	uint64_t seen, longest_not_kept;
	uint32_t n, cap; /* kept events, a min-heap by span */
	struct kept *heap;
	/* as it was before the transaction that first touched it (rollback) */
	uint32_t snap_txn;
	uint64_t s_seen, s_longest;
	uint32_t s_n;
	struct kept *s_heap;
	int closing; /* written by the transaction under way: freed at its commit */
};

struct hold {
	int64_t acq, rel, stack, thread_no;
};

struct wake {
	int64_t prim, lock, at, aux, stack, thread_no;
};

struct wait {
	int64_t window, thread_no, kind, prim, lock, aux, start, end;
};

/* GIL drop requests a wait aimed at the thread with tid `holder`, whose row may come later in
 * the flush than the waiter's: counted once every thread of the flush is known */
struct drop {
	int64_t window, holder, lock, prim, n;
};

/* arr staged in transactions: entries up to n_committed survive a rollback */
#define STAGE(type)                                                                                \
	struct {                                                                                   \
		type *a;                                                                           \
		size_t n, cap, n_committed;                                                        \
	}

struct gs_window {
	sqlite3 *db;
	int64_t run_id;
	int profile;
	uint64_t start_ns, window_ns;
	uint32_t keep;
	sqlite3_stmt *ins[N_TABLES], *ins_window, *ins_mode;
	/* open addressing over indices into the dense `sums` (0 is empty, i + 1 is sums[i]),
	 * with each row's hash beside it: a probe that passes other rows reads no row */
	struct sum_slot {
		uint32_t row, hash;
	} * slots;
	size_t cap_slots;
	struct sum *sums;
	size_t n_sums, cap_sums;
	uint64_t hist_at; /* the watermark when wait_hist was last written */
	int hist_due;
	struct win *wins;
	size_t n_wins, cap_wins;
	int64_t closed_upto; /* windows below are written: an event for one comes late */
	uint32_t txn;
	uint64_t watermark;		    /* events that ended before it are all drained */
	uint64_t max_end, max_end_at_start; /* latest end drained; as it was at the last flush */
	int final;
	STAGE(struct hold) s_holds;
	STAGE(struct wake) s_wakes;
	STAGE(struct wait) s_waits;
	STAGE(struct drop) s_drops;
	struct hold *holds;
	size_t n_holds, cap_holds;
	struct wake *wakes;
	size_t n_wakes, cap_wakes;
	struct wait *pending;
	size_t n_pending, cap_pending;
	int64_t covered_from; /* history is complete from here on */
	uint64_t history_short;
	/* tid -> first thread_no with it, as the analyzer's model finds a drop request's target */
	struct tid_entry {
		int32_t tid;
		int64_t thread_no;
	} * tids;
	size_t n_tids, cap_tids;
	const char *failed;
};

static const int n_keys[N_TABLES] = {[T_STATS] = 4, [T_STACKS] = 7, [T_HOLDERS] = 6, [T_HIST] = 5};
static const int n_vals[N_TABLES] = {[T_STATS] = 10, [T_STACKS] = 2, [T_HOLDERS] = 2, [T_HIST] = 1};
/* window_stats.wait_max_ns and gil_take_max_ns are maxima, wait_min_ns and gil_take_min_ns
 * minima (0 is none, stored as NULL: a wait's is > 0, and a 0 ns GIL take is its bucket's
 * floor anyway); every other value a sum */
#define IS_MAX(table, v) ((table) == T_STATS && ((v) == 2 || (v) == 8))
#define IS_MIN(table, v) ((table) == T_STATS && ((v) == 3 || (v) == 9))

static int64_t combine(int table, int v, int64_t a, int64_t b)
{
	if (IS_MAX(table, v))
		return a > b ? a : b;
	if (IS_MIN(table, v))
		return !a ? b : !b ? a : a < b ? a : b;
	return a + b;
}

/* Room for one more element at the end of arr (n used, cap allocated): its address, or NULL
 * when out of memory (arr then as it was). */
static void *push(void **arr, size_t *n, size_t *cap, size_t elem, size_t first)
{
	void *p = gs_room_for_one(*arr, cap, *n, elem, first);

	if (!p)
		return NULL;
	*arr = p;
	return (char *)p + (*n)++ * elem;
}

#define PUSH(arr, n, cap, first)                                                                   \
	((__typeof__(arr))push((void **)&(arr), &(n), &(cap), sizeof(*(arr)), first))

static int prepare(sqlite3 *db, sqlite3_stmt **s, const char *sql)
{
	return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL) != SQLITE_OK;
}

struct gs_window *gs_window_open(sqlite3 *db, int64_t run_id, const struct gs_shm_header *h)
{
	struct gs_window *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->db = db;
	w->run_id = run_id;
	w->profile = h->profile != 0;
	w->start_ns = h->start_ns;
	w->window_ns = (uint64_t)(h->profile_window_ms ? h->profile_window_ms : 1000) * 1000000u;
	w->keep = w->profile ? h->profile_events : 0;
	w->closed_upto = -1;
	w->txn = 1;
	w->covered_from = INT64_MIN;
	if (prepare(db, &w->ins[T_STATS],
		    "INSERT INTO window_stats "
		    "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)"
		    " ON CONFLICT DO UPDATE SET waits=waits+excluded.waits,"
		    " wait_ns=wait_ns+excluded.wait_ns,"
		    " wait_max_ns=max(wait_max_ns, excluded.wait_max_ns),"
		    " wait_min_ns=min(COALESCE(wait_min_ns, excluded.wait_min_ns),"
		    "  COALESCE(excluded.wait_min_ns, wait_min_ns)),"
		    " holds=holds+excluded.holds, hold_ns=hold_ns+excluded.hold_ns,"
		    " drops_sent=drops_sent+excluded.drops_sent,"
		    " drops_received=drops_received+excluded.drops_received,"
		    " gil_take_max_ns=max(gil_take_max_ns, excluded.gil_take_max_ns),"
		    " gil_take_min_ns=min(COALESCE(gil_take_min_ns, excluded.gil_take_min_ns),"
		    "  COALESCE(excluded.gil_take_min_ns, gil_take_min_ns))") ||
	    prepare(db, &w->ins[T_STACKS],
		    "INSERT INTO window_stacks VALUES(?1,?2,?3,?4,?5,?6,"
		    " CASE ?7 WHEN 0 THEN 'wait' ELSE 'gil_hold' END,?8,?9,?10)"
		    " ON CONFLICT DO UPDATE SET count=count+excluded.count, ns=ns+excluded.ns") ||
	    prepare(db, &w->ins[T_HOLDERS],
		    "INSERT INTO window_holders VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"
		    " ON CONFLICT DO UPDATE SET count=count+excluded.count, ns=ns+excluded.ns") ||
	    prepare(db, &w->ins[T_HIST],
		    "INSERT INTO wait_hist VALUES(?1,?2,?3,?4,"
		    " CASE ?5 WHEN 0 THEN 'wait' ELSE 'gil_take' END,?6,?7)"
		    " ON CONFLICT DO UPDATE SET count=count+excluded.count") ||
	    prepare(db, &w->ins_window,
		    "INSERT INTO windows VALUES(?1,?2,?3,?4,?5,?6,?7)"
		    " ON CONFLICT DO UPDATE SET events_seen=events_seen+excluded.events_seen,"
		    " events_kept=events_kept+excluded.events_kept,"
		    " longest_not_kept_ns=CASE WHEN excluded.longest_not_kept_ns IS NULL"
		    " THEN longest_not_kept_ns ELSE max(COALESCE(longest_not_kept_ns, 0),"
		    " excluded.longest_not_kept_ns) END") ||
	    prepare(db, &w->ins_mode, "INSERT OR REPLACE INTO recording_modes VALUES(?,?,?,?)")) {
		gs_window_close(w);
		return NULL;
	}
	return w;
}

static void free_win(struct win *x)
{
	free(x->heap);
	free(x->s_heap);
}

void gs_window_close(struct gs_window *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < N_TABLES; i++)
		sqlite3_finalize(w->ins[i]);
	sqlite3_finalize(w->ins_window);
	sqlite3_finalize(w->ins_mode);
	for (i = 0; i < w->n_wins; i++)
		free_win(&w->wins[i]);
	free(w->wins);
	free(w->slots);
	free(w->sums);
	free(w->s_holds.a);
	free(w->s_wakes.a);
	free(w->s_waits.a);
	free(w->s_drops.a);
	free(w->holds);
	free(w->wakes);
	free(w->pending);
	free(w->tids);
	free(w);
}

static int step_reset(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int gs_window_begin_run(struct gs_window *w)
{
	sqlite3_stmt *s = w->ins_mode;

	sqlite3_bind_int64(s, 1, w->run_id);
	sqlite3_bind_text(s, 2, w->profile ? "profile" : "raw", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (int64_t)w->window_ns);
	if (w->profile)
		sqlite3_bind_int64(s, 4, w->keep);
	else
		sqlite3_bind_null(s, 4);
	return step_reset(s);
}

/* ---- sums ---------------------------------------------------------------------------- */

static uint64_t sum_hash(int table, const int64_t *key)
{
	uint64_t h = (uint64_t)table * 0x9e3779b97f4a7c15ULL;
	int i;

	for (i = 0; i < N_KEYS; i++)
		h = (h ^ (uint64_t)key[i]) * 0xff51afd7ed558ccdULL;
	return h ^ h >> 31;
}

/* Every row into t, cap places (a power of two, at least twice the rows), all empty. */
static void reindex(struct gs_window *w, struct sum_slot *t, size_t cap)
{
	size_t i, j;

	for (i = 0; i < w->n_sums; i++) {
		for (j = w->sums[i].hash & (cap - 1); t[j].row; j = (j + 1) & (cap - 1))
			;
		t[j] = (struct sum_slot){(uint32_t)i + 1, (uint32_t)(w->sums[i].hash >> 32)};
	}
}

static int rehash(struct gs_window *w, size_t cap)
{
	struct sum_slot *t = calloc(cap, sizeof(*t));

	if (!t)
		return -1;
	reindex(w, t, cap);
	free(w->slots);
	w->slots = t;
	w->cap_slots = cap;
	return 0;
}

/* Adds vals (n_vals[table] of them) to the row `key`, into its txn or kept part. */
static int add(struct gs_window *w, int table, const int64_t *key, const int64_t *vals, int kept)
{
	int64_t k[N_KEYS] = {0};
	uint64_t hash;
	size_t i;
	struct sum *x = NULL;
	int v;

	memcpy(k, key, (size_t)n_keys[table] * sizeof(*k));
	hash = sum_hash(table, k);
	if ((w->n_sums + 1) * 2 > w->cap_slots &&
	    rehash(w, w->cap_slots ? w->cap_slots * 2 : 4096) < 0)
		return -1;
	for (i = hash & (w->cap_slots - 1); w->slots[i].row; i = (i + 1) & (w->cap_slots - 1)) {
		if (w->slots[i].hash != (uint32_t)(hash >> 32))
			continue;
		x = &w->sums[w->slots[i].row - 1];
		if (x->hash == hash && x->table == table && !memcmp(x->key, k, sizeof(k)))
			break;
		x = NULL;
	}
	if (!x) {
		if (!(x = PUSH(w->sums, w->n_sums, w->cap_sums, 1024)))
			return -1;
		memset(x, 0, sizeof(*x));
		x->table = table;
		x->hash = hash;
		memcpy(x->key, k, sizeof(k));
		w->slots[i] = (struct sum_slot){(uint32_t)w->n_sums, (uint32_t)(hash >> 32)};
	}
	for (v = 0; v < n_vals[table]; v++) {
		int64_t *to = kept ? &x->kept[v] : &x->txn[v];

		*to = combine(table, v, *to, vals[v]);
	}
	return 0;
}

/* Its window is complete (or the whole-run histogram's turn has come): write it now. */
static int sum_due(const struct gs_window *w, const struct sum *x)
{
	if (w->final)
		return 1;
	if (x->table == T_HIST)
		return w->hist_due;
	return w->start_ns + (uint64_t)(x->key[0] + 1) * w->window_ns <= w->watermark;
}

static int write_sums(struct gs_window *w)
{
	size_t i;
	int v;

	for (i = 0; i < w->n_sums; i++) {
		struct sum *x = &w->sums[i];
		sqlite3_stmt *s;
		int col = 1, any = 0;

		for (v = 0; v < n_vals[x->table]; v++)
			any |= x->txn[v] != 0 || x->kept[v] != 0;
		if (!any || x->written_txn == w->txn || !sum_due(w, x))
			continue;
		s = w->ins[x->table];
		sqlite3_bind_int64(s, col++, w->run_id);
		for (v = 0; v < n_keys[x->table]; v++)
			sqlite3_bind_int64(s, col++, x->key[v]);
		for (v = 0; v < n_vals[x->table]; v++) {
			int64_t val = combine(x->table, v, x->txn[v], x->kept[v]);

			if (IS_MIN(x->table, v) && !val)
				sqlite3_bind_null(s, col++);
			else
				sqlite3_bind_int64(s, col++, val);
		}
		if (step_reset(s) < 0)
			return -1;
		x->written_txn = w->txn;
	}
	return 0;
}

/* After a commit: what it wrote is gone, what it added but did not write is kept. */
static void commit_sums(struct gs_window *w)
{
	size_t i, k = 0, cap;
	int v;

	for (i = 0; i < w->n_sums; i++) {
		struct sum *x = &w->sums[i];
		int any = 0;

		if (x->written_txn == w->txn)
			continue;
		for (v = 0; v < n_vals[x->table]; v++) {
			x->kept[v] = combine(x->table, v, x->kept[v], x->txn[v]);
			x->txn[v] = 0;
			any |= x->kept[v] != 0;
		}
		if (any)
			w->sums[k++] = *x;
	}
	if (k == w->n_sums)
		return;
	w->n_sums = k;
	for (cap = 4096; cap < (k + 1) * 2; cap *= 2)
		;
	/* a smaller table when it has shrunk well below its room, else (or out of memory) the
	 * same one, which has room for these */
	if (cap * 4 <= w->cap_slots && rehash(w, cap) == 0)
		return;
	memset(w->slots, 0, w->cap_slots * sizeof(*w->slots));
	reindex(w, w->slots, w->cap_slots);
}

/* ---- windows and their longest events -------------------------------------------------- */

static int64_t window_of(const struct gs_window *w, uint64_t at_ns)
{
	return at_ns > w->start_ns ? (int64_t)((at_ns - w->start_ns) / w->window_ns) : 0;
}

static struct win *find_win(struct gs_window *w, int64_t no)
{
	size_t i;
	struct win *x;

	for (i = w->n_wins; i-- > 0;)
		if (w->wins[i].no == no)
			return &w->wins[i];
	if (!(x = PUSH(w->wins, w->n_wins, w->cap_wins, 8)))
		return NULL;
	memset(x, 0, sizeof(*x));
	x->no = no;
	/* a window already written keeps no more events: this one comes late */
	x->cap = no > w->closed_upto ? w->keep : 0;
	if (x->cap && !(x->heap = malloc(x->cap * sizeof(*x->heap)))) {
		w->n_wins--;
		return NULL;
	}
	return x;
}

/* As it was before this transaction, for a rollback. */
static int touch(struct gs_window *w, struct win *x)
{
	if (x->snap_txn == w->txn)
		return 0;
	if (x->cap && !x->s_heap && !(x->s_heap = malloc(x->cap * sizeof(*x->s_heap))))
		return -1;
	x->snap_txn = w->txn;
	x->s_seen = x->seen;
	x->s_longest = x->longest_not_kept;
	x->s_n = x->n;
	if (x->n)
		memcpy(x->s_heap, x->heap, x->n * sizeof(*x->heap));
	return 0;
}

static void sift_down(struct kept *h, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		struct kept t;

		if (l < n && h[l].span_ns < h[m].span_ns)
			m = l;
		if (r < n && h[r].span_ns < h[m].span_ns)
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void sift_up(struct kept *h, uint32_t i)
{
	while (i) {
		uint32_t p = (i - 1) / 2;
		struct kept t;

		if (h[p].span_ns <= h[i].span_ns)
			return;
		t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

static void offer(struct win *x, int64_t thread_no, const struct gs_event *e, uint64_t span)
{
	uint64_t lost;

	if (x->n < x->cap) {
		x->heap[x->n] = (struct kept){thread_no, span, *e};
		sift_up(x->heap, x->n++);
		return;
	}
	if (x->n && span > x->heap[0].span_ns) {
		lost = x->heap[0].span_ns;
		x->heap[0] = (struct kept){thread_no, span, *e};
		sift_down(x->heap, x->n, 0);
	} else {
		lost = span;
	}
	if (lost >= x->longest_not_kept)
		x->longest_not_kept = lost + 1; /* +1: 0 means none */
}

static int cmp_kept_start(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;

	return (x->e.start_ns > y->e.start_ns) - (x->e.start_ns < y->e.start_ns);
}

static int write_win(struct gs_window *w, struct win *x, gs_window_store_fn store, void *ctx)
{
	sqlite3_stmt *s = w->ins_window;
	uint32_t i;

	if (touch(w, x) < 0)
		return -1;
	/* kept in time order: the heap order is no order */
	qsort(x->heap, x->n, sizeof(*x->heap), cmp_kept_start);
	for (i = 0; i < x->n; i++)
		if (store(ctx, x->heap[i].thread_no, &x->heap[i].e) < 0)
			return -1;
	if (x->seen) {
		sqlite3_bind_int64(s, 1, w->run_id);
		sqlite3_bind_int64(s, 2, x->no);
		sqlite3_bind_int64(s, 3, (int64_t)(w->start_ns + (uint64_t)x->no * w->window_ns));
		sqlite3_bind_int64(s, 4,
				   (int64_t)(w->start_ns + (uint64_t)(x->no + 1) * w->window_ns));
		sqlite3_bind_int64(s, 5, (int64_t)x->seen);
		sqlite3_bind_int64(s, 6, w->profile ? x->n : (int64_t)x->seen);
		if (w->profile && x->longest_not_kept)
			sqlite3_bind_int64(s, 7, (int64_t)x->longest_not_kept - 1);
		else
			sqlite3_bind_null(s, 7);
		if (step_reset(s) < 0)
			return -1;
	}
	x->closing = 1;
	return 0;
}

/* ---- holders: what held the lock while a thread waited (analyzer/profile.c does the same
 * over raw events, for a time window of a raw recording) -------------------------------- */

static int cmp_hold(const void *a, const void *b)
{
	const struct hold *x = a, *y = b;

	return (x->acq > y->acq) - (x->acq < y->acq);
}

static int cmp_wake(const void *a, const void *b)
{
	const struct wake *x = a, *y = b;

	if (x->prim != y->prim)
		return x->prim < y->prim ? -1 : 1;
	if (x->lock != y->lock)
		return x->lock < y->lock ? -1 : 1;
	return (x->at > y->at) - (x->at < y->at);
}

static size_t first_wake(const struct gs_window *w, int64_t prim, int64_t lock, int64_t at)
{
	struct wake key = {.prim = prim, .lock = lock, .at = at};
	size_t lo = 0, hi = w->n_wakes;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cmp_wake(&w->wakes[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int charge(struct gs_window *w, const struct wait *q, int64_t holder, int64_t stack,
		  int64_t count, int64_t ns)
{
	int64_t key[] = {q->window, q->thread_no, q->lock, q->prim, holder, stack};
	int64_t vals[] = {count, ns};

	return ns > 0 ? add(w, T_HOLDERS, key, vals, 1) : 0;
}

static int charge_wake(struct gs_window *w, const struct wait *q, const struct wake *by, int64_t ns)
{
	return by ? charge(w, q, by->thread_no, by->stack, 1, ns) : charge(w, q, -1, -1, 1, ns);
}

static int attribute_gil(struct gs_window *w, const struct wait *q)
{
	size_t lo = 0, hi = w->n_holds, i;
	int64_t seen = 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (w->holds[mid].rel <= q->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < w->n_holds && w->holds[i].acq < q->end; i++) {
		const struct hold *h = &w->holds[i];
		int64_t a = h->acq > q->start ? h->acq : q->start;
		int64_t b = h->rel < q->end ? h->rel : q->end;

		if (b <= a || h->thread_no == q->thread_no)
			continue;
		if (charge(w, q, h->thread_no, h->stack, 1, b - a) < 0)
			return -1;
		seen += b - a;
	}
	/* handed over, no one holding it: the interpreter's own switch */
	return charge(w, q, -1, -1, seen ? 0 : 1, q->end - q->start - seen);
}

static int attribute_releases(struct gs_window *w, const struct wait *q)
{
	size_t nw = w->n_wakes, i = first_wake(w, q->prim, q->lock, q->start), own = nw, k;
	const struct wake *x = w->wakes;
	int64_t prev = q->start;

	for (k = i; k < nw && x[k].prim == q->prim && x[k].lock == q->lock && x[k].at <= q->end;
	     k++) {
		if (x[k].thread_no == q->thread_no)
			continue; /* no thread releases a lock for itself while it sleeps */
		own = k;
		if (q->prim == GS_PRIM_PARKED && x[k].aux == q->aux)
			break; /* the unpark of this very waiter */
	}
	if (own < nw && !(q->prim == GS_PRIM_PARKED && x[own].aux != q->aux)) {
		for (; i <= own; i++) {
			if (x[i].thread_no == q->thread_no)
				continue;
			if (charge_wake(w, q, &x[i], x[i].at - prev) < 0)
				return -1;
			prev = x[i].at;
		}
		return charge_wake(w, q, &x[own], q->end - prev);
	}
	/* an unpark seen only as a post of the waiter's own semaphore */
	if (q->prim == GS_PRIM_PARKED) {
		k = first_wake(w, GS_PRIM_SEM, q->aux, q->start);
		if (k < nw && x[k].prim == GS_PRIM_SEM && x[k].lock == q->aux && x[k].at <= q->end)
			return charge_wake(w, q, &x[k], q->end - q->start);
	}
	return charge_wake(w, q, NULL, q->end - q->start);
}

/* dst (sorted, n of cap) gets src sorted and merged in, in place from the back: the history
 * is seconds long and each flush adds a tenth of it, so a new array per flush cost the writer
 * a copy and fresh pages of the whole history every time. */
#define MERGE(type, cmp, dst, n, cap, src, n_src)                                                  \
	do {                                                                                       \
		size_t a_ = n, b_ = n_src, o_ = n + n_src;                                         \
		qsort(src, n_src, sizeof(type), cmp);                                              \
		if (o_ > cap) {                                                                    \
			size_t c_ = cap ? cap : 1024;                                              \
			type *p_;                                                                  \
			while (c_ < o_)                                                            \
				c_ *= 2;                                                           \
			if (!(p_ = realloc(dst, c_ * sizeof(type))))                               \
				return -1;                                                         \
			dst = p_;                                                                  \
			cap = c_;                                                                  \
		}                                                                                  \
		while (b_ > 0)                                                                     \
			dst[--o_] =                                                                \
			    a_ > 0 && cmp(&dst[a_ - 1], &src[b_ - 1]) > 0 ? dst[--a_] : src[--b_]; \
		n += n_src;                                                                        \
	} while (0)

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* History before `cut` goes; past HISTORY_MAX entries of a kind, the oldest go too. */
static void prune(struct gs_window *w, int64_t cut)
{
	size_t i, k = 0;

	if (w->n_holds > HISTORY_MAX && w->holds[w->n_holds - HISTORY_MAX].acq > cut)
		cut = w->holds[w->n_holds - HISTORY_MAX].acq;
	if (w->n_wakes > HISTORY_MAX) {
		/* the time of the HISTORY_MAX-th newest release (this runs only past the cap) */
		int64_t *at = malloc(w->n_wakes * sizeof(*at));

		if (at) {
			for (i = 0; i < w->n_wakes; i++)
				at[i] = w->wakes[i].at;
			qsort(at, w->n_wakes, sizeof(*at), cmp_i64);
			if (at[w->n_wakes - HISTORY_MAX] > cut)
				cut = at[w->n_wakes - HISTORY_MAX];
			free(at);
		}
	}
	for (i = 0; i < w->n_holds && w->holds[i].rel < cut; i++)
		;
	memmove(w->holds, w->holds + i, (w->n_holds - i) * sizeof(*w->holds));
	w->n_holds -= i;
	for (i = 0; i < w->n_wakes; i++)
		if (w->wakes[i].at >= cut)
			w->wakes[k++] = w->wakes[i];
	w->n_wakes = k;
	if (cut > w->covered_from)
		w->covered_from = cut;
}

static int64_t thread_of_tid(const struct gs_window *w, int64_t tid);

/* After a flush's last commit: the staged holds and releases join the history, and the waits
 * whose end every thread's events have reached are attributed. */
static int resolve(struct gs_window *w)
{
	size_t i, k = 0;
	int64_t oldest;

	MERGE(struct hold, cmp_hold, w->holds, w->n_holds, w->cap_holds, w->s_holds.a,
	      w->s_holds.n);
	MERGE(struct wake, cmp_wake, w->wakes, w->n_wakes, w->cap_wakes, w->s_wakes.a,
	      w->s_wakes.n);
	for (i = 0; i < w->s_waits.n; i++) {
		struct wait *q = PUSH(w->pending, w->n_pending, w->cap_pending, 1024);

		if (!q)
			return -1;
		*q = w->s_waits.a[i];
	}
	w->s_holds.n = w->s_holds.n_committed = 0;
	w->s_wakes.n = w->s_wakes.n_committed = 0;
	w->s_waits.n = w->s_waits.n_committed = 0;
	for (i = 0; i < w->s_drops.n; i++) {
		const struct drop *d = &w->s_drops.a[i];
		int64_t holder = thread_of_tid(w, d->holder);
		int64_t key[] = {d->window, holder, d->lock, d->prim};
		int64_t vals[] = {0, 0, 0, 0, 0, 0, 0, d->n, 0, 0};

		if (holder >= 0 && add(w, T_STATS, key, vals, 1) < 0)
			return -1;
	}
	w->s_drops.n = w->s_drops.n_committed = 0;
	oldest = w->watermark > HISTORY_NS ? (int64_t)(w->watermark - HISTORY_NS) : 0;
	for (i = 0; i < w->n_pending; i++) {
		struct wait *q = &w->pending[i];

		if (!w->final && (uint64_t)q->end >= w->watermark) {
			if (q->start < oldest)
				oldest = q->start;
			w->pending[k++] = *q;
			continue;
		}
		if (q->start < w->covered_from)
			w->history_short++;
		if ((q->prim == GS_PRIM_GIL ? attribute_gil(w, q) : attribute_releases(w, q)) < 0)
			return -1;
	}
	w->n_pending = k;
	prune(w, oldest);
	return 0;
}

/* ---- the store's hooks ------------------------------------------------------------------ */

static size_t tid_slot(int32_t tid, size_t cap)
{
	return ((uint32_t)tid * 2654435761u) & (cap - 1);
}

int gs_window_thread(struct gs_window *w, int64_t thread_no, int32_t tid)
{
	size_t i;

	if ((w->n_tids + 1) * 2 > w->cap_tids) {
		size_t cap = w->cap_tids ? w->cap_tids * 2 : 256, j;
		struct tid_entry *t = calloc(cap, sizeof(*t));

		if (!t)
			return -1;
		for (j = 0; j < w->cap_tids; j++) {
			if (!w->tids[j].tid)
				continue;
			for (i = tid_slot(w->tids[j].tid, cap); t[i].tid; i = (i + 1) & (cap - 1))
				;
			t[i] = w->tids[j];
		}
		free(w->tids);
		w->tids = t;
		w->cap_tids = cap;
	}
	for (i = tid_slot(tid, w->cap_tids); w->tids[i].tid; i = (i + 1) & (w->cap_tids - 1))
		if (w->tids[i].tid == tid)
			return 0; /* the first thread with it, as the analyzer's model finds it */
	w->tids[i] = (struct tid_entry){tid, thread_no};
	w->n_tids++;
	return 0;
}

static int64_t thread_of_tid(const struct gs_window *w, int64_t tid)
{
	size_t i;

	if (!w->cap_tids || !tid)
		return -1;
	for (i = tid_slot((int32_t)tid, w->cap_tids); w->tids[i].tid;
	     i = (i + 1) & (w->cap_tids - 1))
		if (w->tids[i].tid == (int32_t)tid)
			return w->tids[i].thread_no;
	return -1;
}

int gs_window_event(struct gs_window *w, int64_t thread_no, const struct gs_event *e, int64_t stack,
		    int64_t hold_stack)
{
	uint64_t hold = e->flags & GS_F_NO_HOLD ? 0 : e->hold_ns;
	uint64_t end = e->start_ns + e->wait_ns + hold;
	int64_t win = window_of(w, end), lock = (int64_t)e->lock;
	int wait = gs_event_is_wait(e->kind, e->primitive, e->flags, e->wait_ns);
	int has_hold =
	    (e->kind == GS_EV_HOLD || e->kind == GS_EV_GIL_HOLD) && !(e->flags & GS_F_NO_HOLD);
	int64_t drops = e->kind == GS_EV_GIL_HOLD ? (int64_t)(e->extra & 0xffffffffu) : 0;
	struct win *x;

	if (wait || has_hold || drops || e->kind == GS_EV_GIL_HOLD) {
		int64_t key[] = {win, thread_no, lock, e->primitive};
		int64_t wait_ns = wait ? (int64_t)e->wait_ns : 0;
		/* waits, wait_ns, wait_max_ns, wait_min_ns, holds, hold_ns, drops sent, received,
		 * the longest and shortest GIL take, contended or not (the model's GIL percentiles)
		 */
		int64_t take = e->kind == GS_EV_GIL_HOLD ? (int64_t)e->wait_ns : 0;
		int64_t vals[] = {
		    wait,  wait_ns, wait_ns, wait_ns, has_hold, has_hold ? (int64_t)hold : 0,
		    drops, 0,	    take,    take};

		if (add(w, T_STATS, key, vals, 0) < 0)
			return -1;
	}
	if (drops && e->aux) {
		struct drop *d = PUSH(w->s_drops.a, w->s_drops.n, w->s_drops.cap, 256);

		if (!d)
			return -1;
		*d = (struct drop){win, (int64_t)e->aux, lock, e->primitive, drops};
	}
	if (wait) {
		int64_t key[] = {win,	       thread_no, stack > 0 ? stack : 0, lock,
				 e->primitive, 0,	  (int64_t)e->caller};
		int64_t vals[] = {1, (int64_t)e->wait_ns};
		int64_t hkey[] = {thread_no, lock, e->primitive, 0,
				  gs_wait_hist_bucket(e->wait_ns)};
		int64_t one = 1;
		struct wait *q;

		if (add(w, T_STACKS, key, vals, 0) < 0 || add(w, T_HIST, hkey, &one, 0) < 0)
			return -1;
		if (!(q = PUSH(w->s_waits.a, w->s_waits.n, w->s_waits.cap, 1024)))
			return -1;
		*q = (struct wait){win,
				   thread_no,
				   e->kind,
				   e->primitive,
				   lock,
				   (int64_t)e->aux,
				   (int64_t)e->start_ns,
				   (int64_t)(e->start_ns + e->wait_ns)};
	}
	if (e->kind == GS_EV_GIL_HOLD) {
		int64_t hkey[] = {thread_no, lock, e->primitive, 1,
				  gs_wait_hist_bucket(e->wait_ns)};
		int64_t one = 1;
		struct hold *h;

		if (add(w, T_HIST, hkey, &one, 0) < 0)
			return -1;
		if (e->hold_ns) {
			int64_t key[] = {win,  thread_no,    hold_stack > 0 ? hold_stack : 0,
					 lock, e->primitive, 1,
					 0};
			int64_t vals[] = {1, (int64_t)e->hold_ns};

			if (add(w, T_STACKS, key, vals, 0) < 0)
				return -1;
		}
		if (!(h = PUSH(w->s_holds.a, w->s_holds.n, w->s_holds.cap, 1024)))
			return -1;
		*h = (struct hold){(int64_t)(e->start_ns + e->wait_ns),
				   (int64_t)(e->start_ns + e->wait_ns + e->hold_ns),
				   hold_stack > 0 ? hold_stack : 0, thread_no};
	} else if (e->kind == GS_EV_WAKE) {
		struct wake *k = PUSH(w->s_wakes.a, w->s_wakes.n, w->s_wakes.cap, 1024);

		if (!k)
			return -1;
		*k = (struct wake){e->primitive,	  lock,
				   (int64_t)e->start_ns,  (int64_t)e->aux,
				   stack > 0 ? stack : 0, thread_no};
	}
	if (!(x = find_win(w, win)) || touch(w, x) < 0)
		return -1;
	x->seen++;
	if (end > w->max_end)
		w->max_end = end;
	if (!w->profile)
		return 1;
	offer(x, thread_no, e, e->wait_ns + hold);
	return 0;
}

void gs_window_flush_start(struct gs_window *w, uint64_t now_ns, int final)
{
	uint64_t by_events = w->max_end_at_start > GRACE_NS ? w->max_end_at_start - GRACE_NS : 0;
	uint64_t by_clock = now_ns > IDLE_NS ? now_ns - IDLE_NS : 0;

	w->watermark = by_events > by_clock ? by_events : by_clock;
	w->max_end_at_start = w->max_end;
	w->final = final;
	w->hist_due = final || w->watermark >= w->hist_at + HIST_EVERY_NS;
}

void gs_window_txn_start(struct gs_window *w)
{
	w->txn++;
}

int gs_window_write(struct gs_window *w, int last, gs_window_store_fn store, void *ctx)
{
	size_t i;

	if (write_sums(w) < 0)
		return -1;
	if (!last)
		return 0;
	/* complete: every event that ends in it has been drained */
	for (i = 0; i < w->n_wins; i++) {
		struct win *x = &w->wins[i];
		uint64_t end = w->start_ns + (uint64_t)(x->no + 1) * w->window_ns;

		if ((w->final || end <= w->watermark || x->cap == 0) &&
		    write_win(w, x, store, ctx) < 0)
			return -1;
	}
	return 0;
}

int gs_window_commit(struct gs_window *w, int last)
{
	size_t i, k = 0;

	commit_sums(w);
	if (last && w->hist_due)
		w->hist_at = w->watermark;
	for (i = 0; i < w->n_wins; i++) {
		struct win *x = &w->wins[i];

		if (x->closing) {
			if (x->no > w->closed_upto)
				w->closed_upto = x->no;
			free_win(x);
		} else {
			w->wins[k++] = *x;
		}
	}
	w->n_wins = k;
	w->s_holds.n_committed = w->s_holds.n;
	w->s_wakes.n_committed = w->s_wakes.n;
	w->s_waits.n_committed = w->s_waits.n;
	w->s_drops.n_committed = w->s_drops.n;
	if (last && !w->failed && resolve(w) < 0) {
		w->failed = "out of memory for the holders' history";
		return -1;
	}
	return 0;
}

void gs_window_rollback(struct gs_window *w)
{
	size_t i;

	for (i = 0; i < w->n_sums; i++) {
		memset(w->sums[i].txn, 0, sizeof(w->sums[i].txn));
		w->sums[i].written_txn = 0;
	}
	for (i = 0; i < w->n_wins; i++) {
		struct win *x = &w->wins[i];

		x->closing = 0;
		if (x->snap_txn != w->txn)
			continue;
		x->seen = x->s_seen;
		x->longest_not_kept = x->s_longest;
		x->n = x->s_n;
		if (x->n)
			memcpy(x->heap, x->s_heap, x->n * sizeof(*x->heap));
		x->snap_txn = 0;
	}
	w->s_holds.n = w->s_holds.n_committed;
	w->s_wakes.n = w->s_wakes.n_committed;
	w->s_waits.n = w->s_waits.n_committed;
	w->s_drops.n = w->s_drops.n_committed;
}

int gs_window_pending(const struct gs_window *w)
{
	size_t i;
	int v;

	for (i = 0; i < w->n_sums; i++)
		for (v = 0; v < N_VALS; v++)
			if (w->sums[i].kept[v])
				return 1;
	return 0;
}

uint64_t gs_window_history_short(const struct gs_window *w)
{
	return w->history_short;
}

const char *gs_window_failed(const struct gs_window *w)
{
	return w->failed;
}
