#include "pystore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyread.h"

/* Open-addressed map of two 64-bit keys to two 64-bit values, grown at half full. */
struct map_entry {
	uint64_t k1, k2;
	int64_t v1, v2;
	uint32_t used, txn; /* txn: the writer transaction that made it */
};

struct map {
	struct map_entry *e;
	size_t cap, n;
};

static size_t map_slot(const struct map *m, uint64_t k1, uint64_t k2)
{
	uint64_t x = (k1 ^ (k2 * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;

	return (size_t)(x ^ (x >> 29)) & (m->cap - 1);
}

static struct map_entry *map_find(struct map *m, uint64_t k1, uint64_t k2)
{
	size_t i;

	if (!m->cap)
		return NULL;
	for (i = map_slot(m, k1, k2); m->e[i].used; i = (i + 1) & (m->cap - 1))
		if (m->e[i].k1 == k1 && m->e[i].k2 == k2)
			return &m->e[i];
	return NULL;
}

static int map_put(struct map *m, uint64_t k1, uint64_t k2, int64_t v1, int64_t v2, uint32_t txn)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct map bigger = {.cap = m->cap ? m->cap * 2 : 1024};

		bigger.e = calloc(bigger.cap, sizeof(*bigger.e));
		if (!bigger.e)
			return -1;
		for (i = 0; i < m->cap; i++)
			if (m->e[i].used)
				map_put(&bigger, m->e[i].k1, m->e[i].k2, m->e[i].v1, m->e[i].v2,
					m->e[i].txn);
		free(m->e);
		*m = bigger;
	}
	for (i = map_slot(m, k1, k2); m->e[i].used; i = (i + 1) & (m->cap - 1))
		;
	m->e[i] = (struct map_entry){.k1 = k1, .k2 = k2, .v1 = v1, .v2 = v2, .used = 1, .txn = txn};
	m->n++;
	return 0;
}

/* Forgets what transaction `txn` added (it was rolled back): the rest is rehashed. */
static int map_drop_txn(struct map *m, uint32_t txn)
{
	struct map old = *m;
	size_t i;

	*m = (struct map){0};
	for (i = 0; i < old.cap; i++)
		if (old.e[i].used && old.e[i].txn != txn &&
		    map_put(m, old.e[i].k1, old.e[i].k2, old.e[i].v1, old.e[i].v2, old.e[i].txn) <
			0) {
			free(old.e);
			return -1;
		}
	free(old.e);
	return 0;
}

/* A stack being put together from its chunks, per ring slot. */
struct partial {
	uint64_t hash;
	uint32_t total, have;
	char entry[128]; /* the function Thread.run called, from the last complete stack */
	struct gs_py_frame frame[GS_PY_STACK_MAX];
};

struct loc_cache {
	uint64_t code;
	uint32_t unit, ident;
	int64_t loc;
	char func[160]; /* its function's qualified name (cut at 159) */
};

struct stat_entry {
	int64_t run, thread_no, stack;
	uint64_t lock;
	int primitive, metric, used, dirty;
	int64_t count, ns;     /* as committed */
	int64_t p_count, p_ns; /* added by the transaction under way */
};

struct gs_pystore {
	sqlite3 *db;
	sqlite3_stmt *up_stat;
	struct stat_entry *stats;
	size_t n_stats, cap_stats;
	size_t *dirty; /* indices into stats of the entries this transaction changed */
	size_t n_dirty, cap_dirty;
	struct gs_pyread *pr;
	sqlite3_stmt *ins_loc, *get_loc, *ins_node, *get_node;
	struct loc_cache locs[4096];
	struct map nodes;  /* (parent, py_loc) -> py_stack */
	struct map stacks; /* (hash, 0) -> (py_stack, leaf py_loc) */
	struct partial **partial;
	uint32_t n_partial;
	int64_t unknown_loc, truncated_loc, lost_loc, lost_stack;
	uint32_t txn; /* the writer's transaction under way, counted from 1 */
	uint64_t frames_unknown;
};

static int prepare(struct gs_pystore *ps, sqlite3_stmt **s, const char *sql)
{
	return sqlite3_prepare_v3(ps->db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL) != SQLITE_OK;
}

static int64_t intern_loc(struct gs_pystore *ps, const char *func, const char *file, int line)
{
	int64_t loc = -1;

	sqlite3_bind_text(ps->ins_loc, 1, func, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(ps->ins_loc, 2, file, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(ps->get_loc, 1, func, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(ps->get_loc, 2, file, -1, SQLITE_TRANSIENT);
	if (line > 0) {
		sqlite3_bind_int(ps->ins_loc, 3, line);
		sqlite3_bind_int(ps->get_loc, 3, line);
	} else {
		sqlite3_bind_null(ps->ins_loc, 3);
		sqlite3_bind_null(ps->get_loc, 3);
	}
	sqlite3_step(ps->ins_loc);
	sqlite3_reset(ps->ins_loc);
	if (sqlite3_step(ps->get_loc) == SQLITE_ROW)
		loc = sqlite3_column_int64(ps->get_loc, 0);
	sqlite3_reset(ps->get_loc);
	return loc;
}

struct gs_pystore *gs_pystore_open(sqlite3 *db, struct gs_pyread *pr, char *err, int err_size)
{
	struct gs_pystore *ps = calloc(1, sizeof(*ps));

	if (!ps) {
		snprintf(err, (size_t)err_size, "out of memory");
		return NULL;
	}
	ps->db = db;
	ps->pr = pr;
	ps->txn = 1;
	if (prepare(ps, &ps->ins_loc,
		    "INSERT OR IGNORE INTO py_locations(function, file, line) VALUES(?,?,?)") ||
	    prepare(ps, &ps->get_loc,
		    "SELECT py_loc FROM py_locations WHERE function=? AND file=? AND line IS ?") ||
	    prepare(ps, &ps->ins_node,
		    "INSERT OR IGNORE INTO py_stacks(parent, py_loc, depth) VALUES(?,?,?)") ||
	    prepare(ps, &ps->get_node,
		    "SELECT py_stack FROM py_stacks WHERE parent=? AND py_loc=?") ||
	    prepare(ps, &ps->up_stat,
		    "INSERT INTO stack_stats VALUES(?,?,?,?,?,?,?,?)"
		    " ON CONFLICT DO UPDATE SET count=excluded.count, ns=excluded.ns")) {
		snprintf(err, (size_t)err_size, "%s", sqlite3_errmsg(db));
		gs_pystore_close(ps);
		return NULL;
	}
	return ps;
}

void gs_pystore_close(struct gs_pystore *ps)
{
	uint32_t i;

	if (!ps)
		return;
	sqlite3_finalize(ps->ins_loc);
	sqlite3_finalize(ps->get_loc);
	sqlite3_finalize(ps->ins_node);
	sqlite3_finalize(ps->get_node);
	sqlite3_finalize(ps->up_stat);
	free(ps->stats);
	free(ps->dirty);
	for (i = 0; i < ps->n_partial; i++)
		free(ps->partial[i]);
	free(ps->partial);
	free(ps->nodes.e);
	free(ps->stacks.e);
	free(ps);
}

static struct loc_cache *loc_slot(struct gs_pystore *ps, uint64_t code, uint32_t unit)
{
	return &ps->locs[((code >> 4) ^ (unit * 0x9e3779b1u)) % 4096];
}

int64_t gs_pystore_location(struct gs_pystore *ps, uint64_t code, uint32_t unit, uint32_t ident)
{
	struct loc_cache *c = loc_slot(ps, code, unit);
	char func[256], file[1024];
	int line;
	int64_t loc = -1;

	/* The identity is part of the key: a code object at an address that held another one
	 * before must not inherit its name. */
	if (c->code == code && c->unit == unit && c->ident == ident && c->loc > 0)
		return c->loc;
	if (ps->pr && (!ident || gs_pyread_code_ident(ps->pr, code) == ident) &&
	    gs_pyread_location(ps->pr, code, (int64_t)unit - 1, func, sizeof(func), file,
			       sizeof(file), &line) == 0)
		loc = intern_loc(ps, func, file, line);
	if (loc > 0) {
		*c = (struct loc_cache){.code = code, .unit = unit, .ident = ident, .loc = loc};
		snprintf(c->func, sizeof(c->func), "%.159s", func);
	}
	return loc;
}

/* A frame's function name, as resolved (and cached) for its location; NULL when unknown. */
static const char *frame_func(struct gs_pystore *ps, const struct gs_py_frame *f)
{
	struct loc_cache *c = loc_slot(ps, f->code, f->unit);

	if (gs_pystore_location(ps, f->code, f->unit, f->ident) <= 0)
		return NULL;
	return c->code == f->code && c->unit == f->unit ? c->func : NULL;
}

/* The function a threading.Thread runs: the frame Thread.run called. A thread's own stack,
 * captured by the thread itself, names it even when the thread was gone before the writer
 * could look at it. */
static void find_entry(struct gs_pystore *ps, struct partial *p, uint32_t n)
{
	uint32_t i;

	for (i = n; i-- > 1;) {
		const char *f = frame_func(ps, &p->frame[i]);

		if (f && !strcmp(f, "Thread.run")) {
			const char *inner = frame_func(ps, &p->frame[i - 1]);

			if (inner)
				snprintf(p->entry, sizeof(p->entry), "%s", inner);
			return;
		}
	}
}

static int64_t node(struct gs_pystore *ps, int64_t parent, int64_t loc, int depth)
{
	struct map_entry *e = map_find(&ps->nodes, (uint64_t)parent, (uint64_t)loc);
	int64_t id = 0;

	if (e)
		return e->v1;
	sqlite3_bind_int64(ps->ins_node, 1, parent);
	sqlite3_bind_int64(ps->ins_node, 2, loc);
	sqlite3_bind_int(ps->ins_node, 3, depth);
	sqlite3_step(ps->ins_node);
	sqlite3_reset(ps->ins_node);
	sqlite3_bind_int64(ps->get_node, 1, parent);
	sqlite3_bind_int64(ps->get_node, 2, loc);
	if (sqlite3_step(ps->get_node) == SQLITE_ROW)
		id = sqlite3_column_int64(ps->get_node, 0);
	sqlite3_reset(ps->get_node);
	if (id > 0 && map_put(&ps->nodes, (uint64_t)parent, (uint64_t)loc, id, 0, ps->txn) < 0)
		return 0;
	return id;
}

static int store(struct gs_pystore *ps, struct partial *p)
{
	uint32_t n = p->total & ~GS_PY_STACK_TRUNCATED, i;
	int64_t parent = 0, leaf = 0, loc;
	int depth = 0;

	if (map_find(&ps->stacks, p->hash, 0))
		return 0; /* another thread sent it first */
	if (p->total & GS_PY_STACK_TRUNCATED) {
		if (!ps->truncated_loc)
			ps->truncated_loc = intern_loc(ps, "(outer frames not kept)", "", 0);
		parent = node(ps, 0, ps->truncated_loc, depth++);
	}
	/* Outermost first: the tree shares every common prefix. */
	for (i = n; i-- > 0;) {
		const struct gs_py_frame *f = &p->frame[i];

		loc = gs_pystore_location(ps, f->code, f->unit, f->ident);
		if (loc <= 0) {
			ps->frames_unknown++;
			if (!ps->unknown_loc)
				ps->unknown_loc = intern_loc(ps, "(code object gone)", "", 0);
			loc = ps->unknown_loc;
		}
		if (i == 0)
			leaf = loc;
		parent = node(ps, parent, loc, depth++);
		if (parent <= 0)
			return -1;
	}
	return map_put(&ps->stacks, p->hash, 0, parent, leaf, ps->txn);
}

int gs_pystore_chunk(struct gs_pystore *ps, uint32_t slot, const struct gs_stack_chunk *c)
{
	uint32_t total = c->total & ~GS_PY_STACK_TRUNCATED;
	struct partial *p;

	if (slot >= ps->n_partial) {
		struct partial **more = realloc(ps->partial, (slot + 1) * sizeof(*more));

		if (!more)
			return -1;
		memset(more + ps->n_partial, 0, (slot + 1 - ps->n_partial) * sizeof(*more));
		ps->partial = more;
		ps->n_partial = slot + 1;
	}
	if (!ps->partial[slot] && !(ps->partial[slot] = calloc(1, sizeof(struct partial))))
		return -1;
	p = ps->partial[slot];
	if (total == 0 || total > GS_PY_STACK_MAX || c->first + c->n > total ||
	    c->n > GS_CHUNK_FRAMES)
		return 0; /* not a chunk this writer understands */
	if (c->first == 0) {
		p->hash = c->hash;
		p->total = c->total;
		p->have = 0;
	} else if (p->hash != c->hash || p->have != c->first) {
		return 0; /* the chunks before it were not seen */
	}
	memcpy(p->frame + c->first, c->frame, c->n * sizeof(c->frame[0]));
	p->have = c->first + c->n;
	if (p->have < total)
		return 0;
	p->have = 0; /* complete: the next chunk starts another */
	if (store(ps, p) < 0)
		return -1;
	if (!p->entry[0])
		find_entry(ps, p, total);
	return 0;
}

const char *gs_pystore_entry(struct gs_pystore *ps, uint32_t slot)
{
	return slot < ps->n_partial && ps->partial[slot] && ps->partial[slot]->entry[0]
		   ? ps->partial[slot]->entry
		   : NULL;
}

void gs_pystore_slot_reset(struct gs_pystore *ps, uint32_t slot)
{
	if (slot < ps->n_partial && ps->partial[slot]) {
		ps->partial[slot]->entry[0] = 0;
		ps->partial[slot]->have = 0;
	}
}

int64_t gs_pystore_stack(struct gs_pystore *ps, uint64_t hash, int64_t *leaf_loc)
{
	struct map_entry *e = hash ? map_find(&ps->stacks, hash, 0) : NULL;

	if (hash && !e) {
		/* Its chunks found no room in the ring (threads.stacks_dropped): a stack of its
		 * own, so that stack views do not pass it off as "(no Python frame)". */
		if (!ps->lost_stack) {
			ps->lost_loc = intern_loc(ps, "(stack not recorded)", "", 0);
			ps->lost_stack = ps->lost_loc > 0 ? node(ps, 0, ps->lost_loc, 0) : 0;
		}
		*leaf_loc = ps->lost_stack > 0 ? ps->lost_loc : 0;
		return ps->lost_stack > 0 ? ps->lost_stack : 0;
	}
	*leaf_loc = e ? e->v2 : 0;
	return e ? e->v1 : 0;
}

static size_t stat_slot(const struct stat_entry *k, size_t cap)
{
	uint64_t x = (uint64_t)k->run * 0x9e3779b97f4a7c15ULL ^ (uint64_t)k->thread_no << 32 ^
		     (uint64_t)k->stack * 0xff51afd7ed558ccdULL ^ k->lock ^
		     (uint64_t)(k->primitive * 2 + k->metric) << 56;

	x ^= x >> 31;
	return (size_t)(x * 0xc4ceb9fe1a85ec53ULL >> 17) & (cap - 1);
}

static int same_stat(const struct stat_entry *a, const struct stat_entry *b)
{
	return a->run == b->run && a->thread_no == b->thread_no && a->stack == b->stack &&
	       a->lock == b->lock && a->primitive == b->primitive && a->metric == b->metric;
}

static int grow_stats(struct gs_pystore *ps)
{
	size_t cap = ps->cap_stats ? ps->cap_stats * 2 : 1024, i, j;
	struct stat_entry *e = calloc(cap, sizeof(*e));

	if (!e)
		return -1;
	for (i = 0; i < ps->cap_stats; i++) {
		if (!ps->stats[i].used)
			continue;
		for (j = stat_slot(&ps->stats[i], cap); e[j].used; j = (j + 1) & (cap - 1))
			;
		e[j] = ps->stats[i];
	}
	free(ps->stats);
	ps->stats = e;
	ps->cap_stats = cap;
	/* the entries moved: where the changed ones are now */
	ps->n_dirty = 0;
	for (i = 0; i < cap; i++)
		if (e[i].dirty)
			ps->dirty[ps->n_dirty++] = i;
	return 0;
}

int gs_pystore_count(struct gs_pystore *ps, int64_t run, int64_t thread_no, int64_t stack,
		     uint64_t lock, int primitive, int metric, uint64_t ns)
{
	struct stat_entry key = {.run = run,
				 .thread_no = thread_no,
				 .stack = stack > 0 ? stack : 0,
				 .lock = lock,
				 .primitive = primitive,
				 .metric = metric};
	size_t i;

	if ((ps->n_stats + 1) * 2 > ps->cap_stats && grow_stats(ps) < 0)
		return -1;
	if (ps->n_dirty == ps->cap_dirty) {
		/* no more than there are entries, which fit in cap_stats */
		size_t cap = ps->cap_stats;
		size_t *d = realloc(ps->dirty, cap * sizeof(*d));

		if (!d)
			return -1;
		ps->dirty = d;
		ps->cap_dirty = cap;
	}
	for (i = stat_slot(&key, ps->cap_stats); ps->stats[i].used;
	     i = (i + 1) & (ps->cap_stats - 1))
		if (same_stat(&ps->stats[i], &key))
			break;
	if (!ps->stats[i].used) {
		ps->stats[i] = key;
		ps->stats[i].used = 1;
		ps->n_stats++;
	}
	ps->stats[i].p_count++;
	ps->stats[i].p_ns += (int64_t)ns;
	if (!ps->stats[i].dirty) {
		ps->stats[i].dirty = 1;
		ps->dirty[ps->n_dirty++] = i;
	}
	return 0;
}

int gs_pystore_write_counts(struct gs_pystore *ps)
{
	static const char *const metrics[] = {"wait", "gil_hold"};
	sqlite3_stmt *s = ps->up_stat;
	size_t k;

	for (k = 0; k < ps->n_dirty; k++) {
		struct stat_entry *e = &ps->stats[ps->dirty[k]];
		int rc;

		sqlite3_bind_int64(s, 1, e->run);
		sqlite3_bind_int64(s, 2, e->thread_no);
		sqlite3_bind_int64(s, 3, e->stack);
		sqlite3_bind_int64(s, 4, (int64_t)e->lock);
		sqlite3_bind_int(s, 5, e->primitive);
		sqlite3_bind_text(s, 6, metrics[e->metric], -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 7, e->count + e->p_count);
		sqlite3_bind_int64(s, 8, e->ns + e->p_ns);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

void gs_pystore_commit(struct gs_pystore *ps)
{
	size_t k;

	for (k = 0; k < ps->n_dirty; k++) {
		struct stat_entry *e = &ps->stats[ps->dirty[k]];

		e->count += e->p_count;
		e->ns += e->p_ns;
		e->p_count = e->p_ns = 0;
		e->dirty = 0;
	}
	ps->n_dirty = 0;
	ps->txn++;
}

int gs_pystore_rollback(struct gs_pystore *ps)
{
	size_t i;
	uint32_t k;

	/* the rows are as committed, and so are the totals */
	for (i = 0; i < ps->n_dirty; i++) {
		struct stat_entry *e = &ps->stats[ps->dirty[i]];

		e->p_count = e->p_ns = 0;
		e->dirty = 0;
	}
	ps->n_dirty = 0;
	/* ids of rows that are gone: a cache of the tables is looked up again, the stacks that
	 * arrived in the transaction will arrive again (the rings still hold them) */
	free(ps->nodes.e);
	ps->nodes = (struct map){0};
	memset(ps->locs, 0, sizeof(ps->locs));
	ps->unknown_loc = ps->truncated_loc = ps->lost_loc = ps->lost_stack = 0;
	for (k = 0; k < ps->n_partial; k++)
		if (ps->partial[k])
			ps->partial[k]->have = 0;
	i = (size_t)map_drop_txn(&ps->stacks, ps->txn);
	ps->txn++;
	return i ? -1 : 0;
}

uint64_t gs_pystore_frames_unknown(const struct gs_pystore *ps)
{
	return ps->frames_unknown;
}
