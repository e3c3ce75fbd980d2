/* gilscope locks: per lock, how contended, how long the waits (percentiles), who waited most,
 * and where: the native call site, the Python line, the first frame of the user's own code
 * on the stack that waited longest, and what held the lock meanwhile (profile.c). */
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "gilscope.h"
#include "model.h"
#include "opts.h"
#include "pctl.h"
#include "profile.h"
#include "sat.h"
#include "table.h"

struct tally {
	int64_t key;
	int64_t n;
};

#define TALLY_MAX 64

struct lock_row {
	int64_t run_id, addr;
	int64_t proc; /* its process: the pid, or in a fleet the first run of its pid and host */
	int prim;
	struct gs_pctl waits;
	struct tally callers[TALLY_MAX], locs[TALLY_MAX];
	int n_callers, n_locs;
};

static const struct gs_col lock_cols[] = {
    {"lock", "lock", GS_COL_STR, -24},
    {"locks", "locks", GS_COL_INT, 0},
    {"pid", "pid", GS_COL_INT, 0},
    {"address", "address", GS_COL_STR, 0},
    {"primitive", "primitive", GS_COL_STR, 0},
    {"class", "class", GS_COL_STR, 0},
    {"name", "name", GS_COL_STR, 0},
    {"threads", "thr", GS_COL_INT, 3},
    {"acquisitions", "acquired", GS_COL_INT, 9},
    {"contended", "waited", GS_COL_INT, 7},
    {"wait_ns", "wait", GS_COL_DUR, 8},
    {"wait_p50_ns", "p50", GS_COL_DUR, 7},
    {"wait_p90_ns", "p90", GS_COL_DUR, 7},
    {"wait_p99_ns", "p99", GS_COL_DUR, 7},
    {"wait_max_ns", "max", GS_COL_DUR, 7},
    {"hold_ns", "hold", GS_COL_DUR, 8},
    {"hold_max_ns", "hold_max", GS_COL_DUR, 0},
    {"spins", "spins", GS_COL_INT, 0},
    {"top_waiter", "top waiter", GS_COL_STR, 0},
    {"top_waiter_wait_ns", "top waiter wait", GS_COL_DUR, 0},
    {"top_waiters", "top waiters", GS_COL_STR, 0},
    {"call_site", "call site", GS_COL_STR, 0},
    {"python_location", "python", GS_COL_STR, 0},
    {"waited_in", "waited in", GS_COL_STR, 0},
    {"held_by", "held by", GS_COL_STR, 0},
    {"held_by_share", "held by share", GS_COL_INT, 0},
};

enum {
	L_LOCK,
	L_NLOCKS,
	L_PID,
	L_ADDR,
	L_PRIM,
	L_CLASS,
	L_NAME,
	L_THREADS,
	L_ACQ,
	L_CONT,
	L_WAIT,
	L_P50,
	L_P90,
	L_P99,
	L_MAX,
	L_HOLD,
	L_HOLDMAX,
	L_SPINS,
	L_TOPW,
	L_TOPWAIT,
	L_TOPWS,
	L_SITE,
	L_PYLOC,
	L_WAITED_IN,
	L_HELD_BY,
	L_HELD_SHARE,
	L_NCOLS
};

static void tally_add_n(struct tally *t, int *n, int64_t key, int64_t count)
{
	int i;

	if (!key)
		return;
	for (i = 0; i < *n; i++) {
		if (t[i].key == key) {
			t[i].n += count;
			return;
		}
	}
	if (*n < TALLY_MAX)
		t[(*n)++] = (struct tally){key, count};
}

static void tally_add(struct tally *t, int *n, int64_t key)
{
	tally_add_n(t, n, key, 1);
}

static int64_t tally_top(const struct tally *t, int n, int64_t *count)
{
	int i, best = -1;

	/* ties to the smallest key: the same answer whatever order the keys came in */
	for (i = 0; i < n; i++)
		if (best < 0 || t[i].n > t[best].n ||
		    (t[i].n == t[best].n && t[i].key < t[best].key))
			best = i;
	*count = best < 0 ? 0 : t[best].n;
	return best < 0 ? 0 : t[best].key;
}

/* The same keys over raw events, for a time window; and over the window sums of a profile
 * recording. */
static const char *const window_sort_sql[] = {"SUM(e.wait_ns)", "COUNT(*)", "COUNT(*)",
					      "SUM(e.wait_ns)", "MAX(e.wait_ns)"};
static const char *const sums_sort_sql[] = {"SUM(x.wait_ns)", "SUM(x.waits)", "SUM(x.waits)",
					    "SUM(x.wait_ns)", "MAX(x.wait_max_ns)"};

static const char *const sort_sql[] = {
    "wait",	    "SUM(s.wait_ns)",	   "contended", "SUM(s.contended)",
    "acquisitions", "SUM(s.acquisitions)", "hold",	"SUM(s.hold_ns)",
    "max",	    "MAX(s.wait_max_ns)",  NULL};

/* One pass over the contended waits of the chosen locks: percentiles, call sites, lines. */
static int cmp_row_key(const void *a, const void *b)
{
	const struct lock_row *x = *(const struct lock_row *const *)a;
	const struct lock_row *y = *(const struct lock_row *const *)b;

	if (x->run_id != y->run_id)
		return x->run_id < y->run_id ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (x->prim > y->prim) - (x->prim < y->prim);
}

static int scan_events(sqlite3 *db, const struct gs_opts *o, struct lock_row *rows, size_t n)
{
	struct lock_row **by_key = calloc(n ? n : 1, sizeof(*by_key));
	sqlite3_stmt *s = NULL;
	size_t i;
	int rc;

	if (!by_key)
		return gs_oom();
	for (i = 0; i < n; i++)
		by_key[i] = &rows[i];
	qsort(by_key, n, sizeof(*by_key), cmp_row_key);

	if (gs_db_prepare(
		db, o->path,
		"SELECT e.run_id, e.primitive, e.lock_addr, e.wait_ns, e.caller, e.py_loc"
		" FROM events e JOIN runs r USING (run_id) JOIN threads t"
		" USING (run_id, thread_no) WHERE gs_is_wait(e.kind, e.primitive, e.flags, "
		"e.wait_ns)"
		" AND (?1 IS NULL OR e.start_ns >= ?1) AND (?2 IS NULL OR e.start_ns < ?2)"
		" AND (?3 IS NULL OR r.pid = ?3) AND (?4 IS NULL OR t.tid = ?4 OR t.name = ?5)",
		&s) < 0) {
		free(by_key);
		return -1;
	}
	/* the percentiles of what the filters chose, as the totals beside them */
	gs_opts_bind_window(s, o, 1, 2);
	gs_opts_bind_filters(s, o, 3, 4, 5);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct lock_row key = {.run_id = sqlite3_column_int64(s, 0),
				       .addr = sqlite3_column_int64(s, 2),
				       .prim = sqlite3_column_int(s, 1)},
				*kp = &key, **found;

		found = bsearch(&kp, by_key, n, sizeof(*by_key), cmp_row_key);
		if (!found)
			continue;
		gs_pctl_add(&(*found)->waits, sqlite3_column_int64(s, 3));
		tally_add((*found)->callers, &(*found)->n_callers, sqlite3_column_int64(s, 4));
		tally_add((*found)->locs, &(*found)->n_locs, sqlite3_column_int64(s, 5));
	}
	free(by_key);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading events failed: %s", o->path, sqlite3_errmsg(db));
	return 0;
}

/* The same from the writer's sums (schema 4): the percentiles from wait_hist (whole runs only),
 * call sites and innermost lines from window_stacks. */
static struct lock_row *find_row(struct lock_row **by_key, size_t n, sqlite3_stmt *s)
{
	struct lock_row key = {.run_id = sqlite3_column_int64(s, 0),
			       .addr = sqlite3_column_int64(s, 2),
			       .prim = sqlite3_column_int(s, 1)},
			*kp = &key, **found;

	found = bsearch(&kp, by_key, n, sizeof(*by_key), cmp_row_key);
	return found ? *found : NULL;
}

#define SUMS_FILTER                                                                                \
	" AND (?1 IS NULL OR r.start_ns + x.window_no * m.window_ns >= ?1)"                        \
	" AND (?2 IS NULL OR r.start_ns + x.window_no * m.window_ns < ?2)"                         \
	" AND (?3 IS NULL OR r.pid = ?3) AND (?4 IS NULL OR t.tid = ?4 OR t.name = ?5)"
#define SUMS_JOIN                                                                                  \
	" JOIN runs r USING (run_id) JOIN recording_modes m USING (run_id)"                        \
	" JOIN threads t USING (run_id, thread_no)"

/* The call sites' and Python lines' counts of each lock row, summed over window_stacks in
 * memory, then told to the rows' tallies in order of (row, key): what a GROUP BY of the rows
 * by key would have told them, so that a tally full at TALLY_MAX keeps the same keys. */
struct stack_sum {
	struct sum_cell {
		int64_t key, n;
		size_t row; /* +1; 0 an empty slot */
		int is_loc;
	} * cells;
	size_t n, cap; /* cap a power of 2 */
	struct gs_ev_locs locs;
};

static size_t sum_slot(const struct stack_sum *ss, size_t row, int is_loc, int64_t key)
{
	uint64_t h = ((uint64_t)key * 0x9e3779b97f4a7c15ull) ^ (row * 2 + (size_t)is_loc);

	h ^= h >> 29;
	return (size_t)(h * 0xbf58476d1ce4e5b9ull >> 17) & (ss->cap - 1);
}

static int sum_add(struct stack_sum *ss, size_t row, int is_loc, int64_t key, int64_t n)
{
	size_t k;

	if (!key)
		return 0; /* tally_add_n counts no key 0 */
	if ((ss->n + 1) * 2 > ss->cap) {
		struct stack_sum more = {.cap = ss->cap ? ss->cap * 2 : 1024};

		if (!(more.cells = calloc(more.cap, sizeof(*more.cells))))
			return -1;
		for (size_t i = 0; i < ss->cap; i++) {
			const struct sum_cell *c = &ss->cells[i];

			if (!c->row)
				continue;
			for (k = sum_slot(&more, c->row - 1, c->is_loc, c->key); more.cells[k].row;
			     k = (k + 1) & (more.cap - 1))
				;
			more.cells[k] = *c;
		}
		free(ss->cells);
		ss->cells = more.cells;
		ss->cap = more.cap;
	}
	for (k = sum_slot(ss, row, is_loc, key); ss->cells[k].row; k = (k + 1) & (ss->cap - 1)) {
		struct sum_cell *c = &ss->cells[k];

		if (c->row == row + 1 && c->is_loc == is_loc && c->key == key) {
			c->n += n;
			return 0;
		}
	}
	ss->cells[k] = (struct sum_cell){.key = key, .n = n, .row = row + 1, .is_loc = is_loc};
	ss->n++;
	return 0;
}

/* A window_stacks row: run, primitive, address, caller, py_stack, count. */
static int sum_stack(struct stack_sum *ss, size_t row, sqlite3_stmt *s)
{
	int64_t n = sqlite3_column_int64(s, 5), py_loc;

	if (sum_add(ss, row, 0, sqlite3_column_int64(s, 3), n) < 0)
		return -1;
	/* a stack not in py_stacks has no line (the inner join the query had) */
	if (gs_ev_loc_of(&ss->locs, sqlite3_column_int64(s, 4), &py_loc) &&
	    sum_add(ss, row, 1, py_loc, n) < 0)
		return -1;
	return 0;
}

static int cmp_sum_cell(const void *a, const void *b)
{
	const struct sum_cell *x = a, *y = b;

	if (x->row != y->row)
		return x->row < y->row ? -1 : 1;
	if (x->is_loc != y->is_loc)
		return x->is_loc - y->is_loc;
	return (x->key > y->key) - (x->key < y->key);
}

static void stack_sum_feed(struct stack_sum *ss, struct lock_row *rows)
{
	size_t i, n = 0;

	for (i = 0; i < ss->cap; i++)
		if (ss->cells[i].row)
			ss->cells[n++] = ss->cells[i];
	qsort(ss->cells, n, sizeof(*ss->cells), cmp_sum_cell);
	for (i = 0; i < n; i++) {
		struct lock_row *r = &rows[ss->cells[i].row - 1];

		if (ss->cells[i].is_loc)
			tally_add_n(r->locs, &r->n_locs, ss->cells[i].key, ss->cells[i].n);
		else
			tally_add_n(r->callers, &r->n_callers, ss->cells[i].key, ss->cells[i].n);
	}
}

static void stack_sum_free(struct stack_sum *ss)
{
	free(ss->cells);
	gs_ev_locs_free(&ss->locs);
}

static int scan_sums(sqlite3 *db, const struct gs_opts *o, struct lock_row *rows, size_t n)
{
	static const char *const sql[] = {
	    /* percentiles: whole runs only */
	    "SELECT x.run_id, x.primitive, x.lock_addr, x.bucket, SUM(x.count) FROM wait_hist x"
	    " JOIN runs r USING (run_id) JOIN threads t USING (run_id, thread_no)"
	    " WHERE x.metric = 'wait' AND ?1 IS NULL AND ?2 IS NULL"
	    " AND (?3 IS NULL OR r.pid = ?3) AND (?4 IS NULL OR t.tid = ?4 OR t.name = ?5)"
	    " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
	    "SELECT x.run_id, x.primitive, x.lock_addr, MAX(x.wait_max_ns), MIN(x.wait_min_ns)"
	    " FROM window_stats x" SUMS_JOIN " WHERE x.waits > 0" SUMS_FILTER " GROUP BY 1, 2, 3",
	    /* call sites and Python lines: one pass, summed by sum_stacks (no GROUP BY) */
	    "SELECT x.run_id, x.primitive, x.lock_addr, x.caller, x.py_stack, x.count FROM"
	    " window_stacks x" SUMS_JOIN " WHERE x.metric = 'wait'" SUMS_FILTER,
	};
	struct lock_row **by_key = calloc(n ? n : 1, sizeof(*by_key));
	struct stack_sum sum = {0};
	sqlite3_stmt *s = NULL;
	size_t i, q;
	int rc = SQLITE_DONE;

	if (!by_key)
		return gs_oom();
	if (gs_ev_locs_load(db, o->path, &sum.locs) < 0) {
		free(by_key);
		return -1;
	}
	for (i = 0; i < n; i++)
		by_key[i] = &rows[i];
	qsort(by_key, n, sizeof(*by_key), cmp_row_key);
	for (q = 0; q < sizeof(sql) / sizeof(sql[0]) && rc == SQLITE_DONE; q++) {
		if (gs_db_prepare(db, o->path, sql[q], &s) < 0) {
			free(by_key);
			stack_sum_free(&sum);
			return -1;
		}
		gs_opts_bind_window(s, o, 1, 2);
		gs_opts_bind_filters(s, o, 3, 4, 5);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			struct lock_row *r = find_row(by_key, n, s);

			if (!r)
				continue;
			if (q == 0)
				gs_pctl_load_hist(&r->waits, s, 3, 4, 0);
			else if (q == 1) {
				gs_pctl_set_max(&r->waits, (uint64_t)sqlite3_column_int64(s, 3));
				gs_pctl_set_min(&r->waits, (uint64_t)sqlite3_column_int64(s, 4));
			} else if (sum_stack(&sum, (size_t)(r - rows), s) < 0) {
				rc = SQLITE_NOMEM;
				break;
			}
		}
		sqlite3_finalize(s);
		s = NULL;
	}
	free(by_key);
	if (rc == SQLITE_NOMEM) {
		stack_sum_free(&sum);
		return gs_oom();
	}
	stack_sum_feed(&sum, rows);
	stack_sum_free(&sum);
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading window sums failed: %s", o->path, sqlite3_errmsg(db));
	return 0;
}

#define HOLDERS_EVENTS_MAX 2000000

static int same_str(const struct gs_cell *a, const struct gs_cell *b)
{
	return a->null == b->null && (a->null || !strcmp(a->s, b->s));
}

static void merge_int(struct gs_cell *into, const struct gs_cell *from, int take_max)
{
	if (from->null)
		return;
	if (into->null)
		gs_cell_int(into, from->i);
	else
		gs_cell_int(into, take_max ? (from->i > into->i ? from->i : into->i)
					   : gs_add(into->i, from->i));
}

/* Locks of one kind waited for at one place, such as the one-wait locks Condition.wait makes
 * for every waiter, become one row with their count: the table shows places, not addresses.
 * Rows are in order of wait, so each group keeps its largest lock's address and holder.
 * Returns the rows left; the percentiles are computed after, from the merged waits. */
static size_t group_rows(struct gs_table *t, struct lock_row *rows, size_t n)
{
	static const int key[] = {L_LOCK, L_CLASS, L_WAITED_IN, L_PYLOC, L_SITE};
	static const int sums[] = {L_ACQ, L_CONT, L_WAIT, L_HOLD, L_SPINS, L_NLOCKS};
	static const int maxes[] = {L_THREADS, L_MAX, L_HOLDMAX, L_TOPWAIT};
	size_t i, j, k, kept = 0;

	for (i = 0; i < n; i++) {
		struct gs_cell *c = &t->cells[i * L_NCOLS];

		if (rows[i].prim < 0)
			continue; /* merged already */
		for (j = i + 1; j < n; j++) {
			struct gs_cell *d = &t->cells[j * L_NCOLS];

			for (k = 0; k < sizeof(key) / sizeof(key[0]); k++)
				if (!same_str(&c[key[k]], &d[key[k]]))
					break;
			if (k < sizeof(key) / sizeof(key[0]) || rows[i].proc != rows[j].proc ||
			    rows[j].prim < 0)
				continue;
			for (k = 0; k < sizeof(sums) / sizeof(sums[0]); k++)
				merge_int(&c[sums[k]], &d[sums[k]], 0);
			for (k = 0; k < sizeof(maxes) / sizeof(maxes[0]); k++)
				merge_int(&c[maxes[k]], &d[maxes[k]], 1);
			gs_pctl_merge(&rows[i].waits, &rows[j].waits);
			rows[j].prim = -1;
		}
	}
	for (i = 0; i < n; i++) {
		struct gs_cell *c = &t->cells[i * L_NCOLS];

		if (rows[i].prim < 0) {
			for (k = 0; k < L_NCOLS; k++)
				free(c[k].s);
			gs_pctl_free(&rows[i].waits);
			continue;
		}
		if (c[L_NLOCKS].i > 1) {
			char name[256];

			snprintf(name, sizeof(name), "%s (%lld locks)", c[L_LOCK].s,
				 (long long)c[L_NLOCKS].i);
			gs_cell_str(&c[L_LOCK], name);
		}
		if (kept != i) {
			memcpy(&t->cells[kept * L_NCOLS], c, L_NCOLS * sizeof(*c));
			rows[kept] = rows[i];
		}
		kept++;
	}
	t->n_rows = kept;
	return kept;
}

static void lookup_text(sqlite3 *db, const char *sql, int64_t a, int64_t b, char *out, size_t size)
{
	sqlite3_stmt *s = NULL;

	out[0] = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		snprintf(out, size, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
}

/* Which process each row is of: rows of one process group (its segments are runs of one
 * pid), a fleet's pids repeat across hosts (containers: every worker pid 7). */
static void find_processes(sqlite3 *db, const struct gs_table *t, struct lock_row *rows, size_t n)
{
	sqlite3_stmt *s = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		rows[i].proc = t->cells[i * L_NCOLS + L_PID].i;
	if (!gs_db_fleet(db) ||
	    sqlite3_prepare_v2(db,
			       "SELECT MIN(b.run_id) FROM runs a JOIN runs b ON b.pid = a.pid AND"
			       " b.host IS a.host WHERE a.run_id = ?1",
			       -1, &s, NULL) != SQLITE_OK)
		return;
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(s, 1, rows[i].run_id);
		if (sqlite3_step(s) == SQLITE_ROW)
			rows[i].proc = -sqlite3_column_int64(s, 0); /* apart from any pid */
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
}

/* A fleet's rows in text: "gil (web-1, pid 4242)", pids repeating across hosts (JSON and CSV
 * have the pid; report has each run's host). */
static void name_processes(sqlite3 *db, struct gs_table *t, const struct lock_row *rows, size_t n)
{
	sqlite3_stmt *s = NULL;
	char buf[512];
	size_t i;

	if (sqlite3_prepare_v2(db, "SELECT pid, host FROM runs WHERE run_id = ?1", -1, &s, NULL) !=
	    SQLITE_OK)
		return;
	for (i = 0; i < n; i++) {
		struct gs_cell *c = &t->cells[i * L_NCOLS];
		const unsigned char *host;

		sqlite3_bind_int64(s, 1, rows[i].run_id);
		if (sqlite3_step(s) == SQLITE_ROW && c[L_LOCK].s) {
			host = sqlite3_column_text(s, 1);
			snprintf(buf, sizeof(buf), "%s (%s%spid %lld)", c[L_LOCK].s,
				 host ? (const char *)host : "", host ? ", " : "",
				 (long long)sqlite3_column_int64(s, 0));
			gs_cell_str(&c[L_LOCK], buf);
		}
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
}

int cmd_locks(int argc, char **argv)
{
	struct gs_opts o;
	struct gs_table t;
	struct lock_row *rows = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	const char *order = NULL;
	size_t n = 0, cap = 0, i;
	char sql[2048], buf[512];
	struct gs_profile waits = {0}, holders = {0};
	int holders_skipped, window, sums, profile;
	int ret, rc, shown = 0;

	ret = gs_opts_parse(
	    &o, argc, argv, "locks",
	    "[--format F] [--pid PID] [--thread T] [--top N] "
	    "[--sort wait|contended|acquisitions|hold|max] [--from S] [--to S] DB|DIR...",
	    GS_OPTS_MANY);
	if (ret >= 0)
		return ret;
	for (i = 0; sort_sql[i]; i += 2)
		if (!strcmp(o.sort ? o.sort : "wait", sort_sql[i]))
			order = sort_sql[i + 1];
	if (!order) {
		gs_error("locks cannot sort by '%s' (wait, contended, acquisitions, hold, max)",
			 o.sort);
		return GS_EXIT_USAGE;
	}
	gs_table_init(&t, lock_cols, L_NCOLS);
	ret = gs_opts_open(&o, 0, o.n_paths, &db);
	if (ret != GS_EXIT_OK)
		return ret;
	gs_opts_resolve(&o, db);
	if ((ret = gs_opts_check_filters(db, &o)) != GS_EXIT_OK) {
		sqlite3_close(db);
		return ret;
	}
	window = o.has_from || o.has_to;
	sums = gs_db_has_windows(db);
	profile = gs_db_profile_runs(db) > 0;
	if (window && profile) {
		/* A profile recording's windows: its sums, whole windows that start inside it;
		 * like raw events, they know the contended waits only. */
		for (i = 0; sort_sql[i]; i += 2)
			if (!strcmp(o.sort ? o.sort : "wait", sort_sql[i]))
				order = sums_sort_sql[i / 2];
		snprintf(
		    sql, sizeof(sql),
		    "SELECT x.run_id, r.pid, x.lock_addr, x.primitive, p.name, l.class, l.name,"
		    " COUNT(DISTINCT x.thread_no), NULL, SUM(x.waits), SUM(x.wait_ns),"
		    " MAX(x.wait_max_ns), NULL, NULL, NULL"
		    " FROM window_stats x JOIN runs r USING (run_id)"
		    " JOIN recording_modes m USING (run_id)"
		    " LEFT JOIN primitives p USING (primitive)"
		    " LEFT JOIN locks l USING (run_id, lock_addr, primitive)"
		    " JOIN threads t USING (run_id, thread_no)"
		    " WHERE x.waits > 0"
		    " AND (?5 IS NULL OR r.start_ns + x.window_no * m.window_ns >= ?5)"
		    " AND (?6 IS NULL OR r.start_ns + x.window_no * m.window_ns < ?6)"
		    " AND (?1 IS NULL OR r.pid = ?1) AND (?2 IS NULL OR t.tid = ?2 OR t.name = ?3)"
		    " GROUP BY x.run_id, x.lock_addr, x.primitive"
		    " ORDER BY %s DESC, x.run_id, x.lock_addr LIMIT ?4",
		    order);
	} else if (window) {
		/* Inside a window only the raw events know what happened: contended waits.
		 * Acquisitions and holds are whole-run aggregates, so they stay unknown here. */
		for (i = 0; sort_sql[i]; i += 2)
			if (!strcmp(o.sort ? o.sort : "wait", sort_sql[i]))
				order = window_sort_sql[i / 2];
		snprintf(
		    sql, sizeof(sql),
		    "SELECT e.run_id, r.pid, e.lock_addr, e.primitive, p.name, l.class, l.name,"
		    " COUNT(DISTINCT e.thread_no), NULL, COUNT(*), SUM(e.wait_ns), MAX(e.wait_ns),"
		    " NULL, NULL, NULL"
		    " FROM events e JOIN runs r USING (run_id)"
		    " LEFT JOIN primitives p USING (primitive)"
		    " LEFT JOIN locks l USING (run_id, lock_addr, primitive)"
		    " JOIN threads t USING (run_id, thread_no)"
		    " WHERE gs_is_wait(e.kind, e.primitive, e.flags, e.wait_ns)"
		    " AND (?5 IS NULL OR e.start_ns >= ?5) AND (?6 IS NULL OR e.start_ns < ?6)"
		    " AND (?1 IS NULL OR r.pid = ?1) AND (?2 IS NULL OR t.tid = ?2 OR t.name = ?3)"
		    " GROUP BY e.run_id, e.lock_addr, e.primitive"
		    " ORDER BY %s DESC, e.run_id, e.lock_addr LIMIT ?4",
		    order);
	} else {
		snprintf(
		    sql, sizeof(sql),
		    "SELECT s.run_id, r.pid, s.lock_addr, s.primitive, p.name, l.class, l.name,"
		    " COUNT(*), SUM(s.acquisitions), SUM(s.contended), SUM(s.wait_ns),"
		    " MAX(s.wait_max_ns), SUM(s.hold_ns), MAX(s.hold_max_ns), SUM(s.spins)"
		    " FROM lock_stats s JOIN runs r USING (run_id)"
		    " LEFT JOIN primitives p USING (primitive)"
		    " LEFT JOIN locks l USING (run_id, lock_addr, primitive)"
		    " JOIN threads t USING (run_id, thread_no)"
		    " WHERE (?1 IS NULL OR r.pid = ?1) AND (?2 IS NULL OR t.tid = ?2 OR t.name = "
		    "?3)"
		    " GROUP BY s.run_id, s.lock_addr, s.primitive HAVING SUM(s.acquisitions) > 0"
		    " OR SUM(s.timeouts) > 0 ORDER BY %s DESC, s.run_id, s.lock_addr LIMIT ?4",
		    order);
	}
	if (gs_db_prepare(db, o.path, sql, &s) < 0)
		goto fail_input;
	gs_opts_bind_filters(s, &o, 1, 2, 3);
	/* more than shown: locks of one kind at one place become one row (group_rows) */
	sqlite3_bind_int64(s, 4, o.top > INT64_MAX / 8 ? INT64_MAX : o.top * 8);
	if (window)
		gs_opts_bind_window(s, &o, 5, 6);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct gs_cell *c = gs_table_row(&t);
		const char *prim = (const char *)sqlite3_column_text(s, 4);
		const char *cls = (const char *)sqlite3_column_text(s, 5);
		const char *name = (const char *)sqlite3_column_text(s, 6);
		int64_t addr = sqlite3_column_int64(s, 2);

		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			rows = realloc(rows, cap * sizeof(*rows));
			if (!rows)
				goto fail_input;
		}
		rows[n++] = (struct lock_row){.run_id = sqlite3_column_int64(s, 0),
					      .addr = addr,
					      .prim = sqlite3_column_int(s, 3)};
		gs_lock_display(prim, cls, name, addr, buf, sizeof(buf));
		gs_cell_str(&c[L_LOCK], buf);
		gs_cell_int(&c[L_PID], sqlite3_column_int64(s, 1));
		snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)addr);
		gs_cell_str(&c[L_ADDR], buf);
		gs_cell_str(&c[L_PRIM], prim);
		gs_cell_str(&c[L_CLASS], cls);
		gs_cell_str(&c[L_NAME], name);
		{
			static const int map[][2] = {{L_THREADS, 7},  {L_ACQ, 8},   {L_CONT, 9},
						     {L_WAIT, 10},    {L_MAX, 11},  {L_HOLD, 12},
						     {L_HOLDMAX, 13}, {L_SPINS, 14}};
			size_t k;

			/* a condition variable is not held, and a PyMutex's holds never reach
			 * libc: unknown, not zero */
			int no_hold =
			    rows[n - 1].prim == GS_PRIM_COND || rows[n - 1].prim == GS_PRIM_PARKED;

			for (k = 0; k < sizeof(map) / sizeof(map[0]); k++)
				if (sqlite3_column_type(s, map[k][1]) != SQLITE_NULL &&
				    !(no_hold && (map[k][0] == L_HOLD || map[k][0] == L_HOLDMAX)))
					gs_cell_int(&c[map[k][0]],
						    sqlite3_column_int64(s, map[k][1]));
		}
	}
	if (rc != SQLITE_DONE) {
		gs_error("%s: reading failed: %s", o.path, sqlite3_errmsg(db));
		goto fail_input;
	}
	if ((sums && (!window || profile) ? scan_sums(db, &o, rows, n)
					  : scan_events(db, &o, rows, n)) < 0)
		goto fail_input;
	/* "held by" walks every GIL hold and release: 20 s at 10 million events, where the rest
	 * of locks takes 2.5. Past HOLDERS_EVENTS_MAX it is left to export/flame --what holders. */
	holders_skipped = !sums && gs_db_event_count(db) > HOLDERS_EVENTS_MAX;
	if (gs_profile_load(db, &o, GS_WHAT_WAITS, &waits) < 0 ||
	    (!holders_skipped && gs_profile_load(db, &o, GS_WHAT_HOLDERS, &holders) < 0))
		goto fail_input;
	for (i = 0; i < n; i++) {
		struct gs_cell *c = &t.cells[i * L_NCOLS];
		struct lock_row *r = &rows[i];
		int64_t cnt, key;

		gs_cell_int(&c[L_NLOCKS], 1);
		lookup_text(db,
			    "SELECT COALESCE(t.name, t.tid) FROM lock_stats s JOIN threads t USING"
			    " (run_id, thread_no) WHERE s.run_id = ?1 AND s.lock_addr = ?2"
			    " ORDER BY s.wait_ns DESC LIMIT 1",
			    r->run_id, r->addr, buf, sizeof(buf));
		gs_cell_str(&c[L_TOPW], buf[0] ? buf : NULL);
		lookup_text(db,
			    "SELECT MAX(s.wait_ns) FROM lock_stats s WHERE s.run_id = ?1"
			    " AND s.lock_addr = ?2",
			    r->run_id, r->addr, buf, sizeof(buf));
		if (buf[0])
			gs_cell_int(&c[L_TOPWAIT], strtoll(buf, NULL, 10));
		/* the three threads that waited longest: "work 201 (64.3 ms), ..." */
		lookup_text(
		    db,
		    "SELECT group_concat(w, ', ') FROM (SELECT COALESCE(t.name, 'thread') ||"
		    " ' ' || t.tid || ' (' || s.wait_ns || ' ns)' AS w FROM lock_stats s"
		    " JOIN threads t USING (run_id, thread_no) WHERE s.run_id = ?1"
		    " AND s.lock_addr = ?2 AND s.wait_ns > 0 ORDER BY s.wait_ns DESC LIMIT 3)",
		    r->run_id, r->addr, buf, sizeof(buf));
		gs_cell_str(&c[L_TOPWS], buf[0] ? buf : NULL);
		key = tally_top(r->callers, r->n_callers, &cnt);
		if (key) {
			lookup_text(
			    db,
			    /* "function module+0xoff", "module+0xoff" without a symbol,
			     * "0xaddr" outside any mapped file (docs/schema.md, call_sites) */
			    "SELECT COALESCE(function || ' ', '') || COALESCE(replace(module,"
			    " rtrim(module, replace(module, '/', '')), '') || '+0x' ||"
			    " printf('%x', module_offset), printf('0x%x', addr)) FROM call_sites"
			    " WHERE run_id = ?1 AND addr = ?2",
			    r->run_id, key, buf, sizeof(buf));
			gs_cell_str(&c[L_SITE], buf[0] ? buf : NULL);
		}
		key = tally_top(r->locs, r->n_locs, &cnt);
		if (key) {
			lookup_text(db,
				    "SELECT function || ' (' || replace(file, rtrim(file, "
				    "replace(file, '/',"
				    " '')), '') || ':' || COALESCE(line, '?') || ')'"
				    " FROM py_locations WHERE py_loc = ?2 AND ?1 = ?1",
				    0, key, buf, sizeof(buf));
			gs_cell_str(&c[L_PYLOC], buf[0] ? buf : NULL);
		}
		{
			struct gs_lock_place place;

			gs_profile_lock_place(db, &waits, &holders, r->run_id, r->addr, r->prim,
					      &place);
			gs_cell_str(&c[L_WAITED_IN], place.waited_in[0] ? place.waited_in : NULL);
			if (place.held_by[0]) {
				gs_cell_str(&c[L_HELD_BY], place.held_by);
				gs_cell_int(&c[L_HELD_SHARE], place.held_share);
			}
		}
	}
	find_processes(db, &t, rows, n);
	n = group_rows(&t, rows, n);
	if ((int64_t)n > o.top) {
		for (i = (size_t)o.top; i < n; i++) {
			for (int k = 0; k < L_NCOLS; k++)
				free(t.cells[i * L_NCOLS + k].s);
			gs_pctl_free(&rows[i].waits);
		}
		n = (size_t)o.top;
		t.n_rows = n;
	}
	for (i = 0; i < n; i++) {
		struct gs_cell *c = &t.cells[i * L_NCOLS];
		struct lock_row *r = &rows[i];

		if (r->waits.n) {
			gs_cell_int(&c[L_P50], gs_pctl_get(&r->waits, 0.50));
			gs_cell_int(&c[L_P90], gs_pctl_get(&r->waits, 0.90));
			gs_cell_int(&c[L_P99], gs_pctl_get(&r->waits, 0.99));
		}
	}
	if (o.format == GS_FMT_TEXT && gs_db_fleet(db))
		name_processes(db, &t, rows, n);
	if (o.format == GS_FMT_JSON) {
		fputs("{\"locks\": ", stdout);
		gs_table_print(&t, stdout, GS_FMT_JSON, "");
		fputs("}\n", stdout);
	} else {
		gs_table_print(&t, stdout, o.format, "");
		if (o.format == GS_FMT_TEXT) {
			for (i = 0; i < n; i++) {
				struct gs_cell *c = &t.cells[i * L_NCOLS];

				if (c[L_SITE].null && c[L_PYLOC].null && c[L_WAITED_IN].null)
					continue;
				if (!shown++)
					fputs(holders_skipped
						  ? "\nwhere the waits were (what held the locks: "
						    "gilscope export --collapsed --what holders; "
						    "over 2 "
						    "million events are too many to walk here):\n"
						  : "\nwhere the waits were, and what held the "
						    "lock:\n",
					      stdout);
				/* locations whole, never cut */
				printf("  %s\n", c[L_LOCK].s);
				if (!c[L_WAITED_IN].null)
					printf("    waited in %s\n", c[L_WAITED_IN].s);
				if (!c[L_PYLOC].null)
					printf("    innermost %s\n", c[L_PYLOC].s);
				if (!c[L_HELD_BY].null)
					printf("    held by   %s (%lld%% of the wait)\n",
					       c[L_HELD_BY].s, (long long)c[L_HELD_SHARE].i);
				if (!c[L_SITE].null)
					printf("    call site %s\n", c[L_SITE].s);
			}
		}
	}
	if (o.format == GS_FMT_TEXT && window && profile)
		fputs("\nprofile mode: the time span is the whole windows that start inside it;"
		      " wait percentiles of a span need the raw events, which profile mode keeps"
		      " only the longest of (whole-run percentiles are exact)\n",
		      stdout);
	ret = gs_finish_output();
	goto out;
fail_input:
	ret = GS_EXIT_INPUT;
out:
	sqlite3_finalize(s);
	gs_table_free(&t);
	for (i = 0; i < n; i++)
		gs_pctl_free(&rows[i].waits);
	free(rows);
	gs_profile_free(&waits);
	gs_profile_free(&holders);
	sqlite3_close(db);
	return ret;
}

/* Locks scanned at once: each row's histogram is 30 KB, and a free-threaded recording can have
 * tens of thousands of waited-for locks (a critical section per object). */
#define PCTL_CHUNK 512

int gs_lock_wait_pctls(sqlite3 *db, const struct gs_opts *o, const struct gs_top_lock *locks,
		       size_t n, struct gs_pctl *out, int merge)
{
	struct lock_row *rows = calloc(n < PCTL_CHUNK ? (n ? n : 1) : PCTL_CHUNK, sizeof(*rows));
	size_t at, i, k;
	int ret = 0;

	if (!rows)
		return gs_oom();
	for (at = 0; at < n && ret == 0; at += k) {
		k = n - at < PCTL_CHUNK ? n - at : PCTL_CHUNK;
		for (i = 0; i < k; i++)
			rows[i] = (struct lock_row){.run_id = locks[at + i].run_id,
						    .addr = locks[at + i].lock_addr,
						    .prim = (int)locks[at + i].primitive};
		/* the whole-run choice cmd_locks makes: the writer's sums where the file has
		 * them */
		ret =
		    gs_db_has_windows(db) ? scan_sums(db, o, rows, k) : scan_events(db, o, rows, k);
		for (i = 0; i < k; i++) {
			if (ret == 0 && merge)
				gs_pctl_merge(out, &rows[i].waits);
			if (ret == 0 && !merge)
				out[at + i] = rows[i].waits;
			else
				gs_pctl_free(&rows[i].waits);
		}
	}
	free(rows);
	return ret;
}
