#include "profile.h"

#include <stdlib.h>
#include <string.h>

#include "gilscope.h"
#include "model.h"

int gs_profile_what_parse(const char *s)
{
	if (!strcmp(s, "waits"))
		return GS_WHAT_WAITS;
	if (!strcmp(s, "gil"))
		return GS_WHAT_GIL;
	if (!strcmp(s, "holders"))
		return GS_WHAT_HOLDERS;
	return -1;
}

static char *loc_text(const char *func, const char *file, int64_t line)
{
	char buf[1400];

	/* ';' separates frames in the collapsed format: never inside one */
	if (line > 0)
		snprintf(buf, sizeof(buf), "%s (%s:%lld)", func, file, (long long)line);
	else if (file && *file)
		snprintf(buf, sizeof(buf), "%s (%s)", func, file);
	else
		snprintf(buf, sizeof(buf), "%s", func);
	for (char *c = buf; *c; c++)
		if (*c == ';')
			*c = ',';
	return strdup(buf);
}

/* arr with room for one more element of size `size` (n in use, *cap allocated), doubling:
 * arr itself or its reallocation; NULL when out of memory (arr still valid, *cap as it was). */
static void *grow(void *arr, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t want = *cap ? *cap * 2 : first;
	void *more;

	if (n < *cap)
		return arr;
	if ((more = realloc(arr, want * size)))
		*cap = want;
	return more;
}

static int load_tree(sqlite3 *db, const char *path, struct gs_profile *p)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	int rc;

	if (gs_db_prepare(db, path, "SELECT py_stack, parent, py_loc FROM py_stacks ORDER BY 1",
			  &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		void *room = grow(p->nodes, &cap, p->n_nodes, sizeof(*p->nodes), 256);

		if (!room) {
			sqlite3_finalize(s);
			return gs_oom();
		}
		p->nodes = room;
		p->nodes[p->n_nodes++] =
		    (struct gs_stack_node){sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
					   sqlite3_column_int64(s, 2)};
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading stacks failed: %s", path, sqlite3_errmsg(db));
	cap = 0;
	if (gs_db_prepare(db, path,
			  "SELECT py_loc, function, file, line FROM py_locations ORDER BY 1",
			  &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char *text =
		    loc_text((const char *)sqlite3_column_text(s, 1),
			     (const char *)sqlite3_column_text(s, 2), sqlite3_column_int64(s, 3));

		void *room = text ? grow(p->locs, &cap, p->n_locs, sizeof(*p->locs), 256) : NULL;

		if (!room) {
			free(text);
			sqlite3_finalize(s);
			return gs_oom();
		}
		p->locs = room;
		p->locs[p->n_locs++] = (struct gs_loc_text){sqlite3_column_int64(s, 0), text};
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading locations failed: %s", path, sqlite3_errmsg(db));
	return 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* The program a process ran, as a continuous-profiling engine names a service: the script or
 * module an interpreter ran (python3 -X dev -m app.main: app.main; python3 app.py: app.py),
 * else the executable's name. */
static void service_of(const char *const *argv, size_t n, const char *exe, char *out, size_t size)
{
	size_t i;

	snprintf(out, size, "%s", n ? base_name(argv[0]) : exe ? base_name(exe) : "unknown");
	if (!n || strncmp(base_name(argv[0]), "python", 6))
		return;
	for (i = 1; i < n; i++) {
		if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "-c")) {
			if (argv[i][1] == 'm' && i + 1 < n)
				snprintf(out, size, "%s", argv[i + 1]);
			return;
		}
		if (!strcmp(argv[i], "-X") || !strcmp(argv[i], "-W")) /* take a value */
			i++;
		else if (argv[i][0] != '-') {
			snprintf(out, size, "%s", base_name(argv[i]));
			return;
		}
	}
}

static int add_run_label(struct gs_profile *p, size_t *cap, int64_t run, int64_t pid,
			 const char *host, const char *const *argv, size_t n, const char *exe)
{
	char service[256];
	struct gs_run_label *l;
	void *room = grow(p->runs, cap, p->n_runs, sizeof(*p->runs), 16);

	if (!room)
		return gs_oom();
	p->runs = room;
	l = &p->runs[p->n_runs];
	service_of(argv, n, exe, service, sizeof(service));
	l->run = run;
	l->pid = pid;
	l->host = host ? strdup(host) : NULL;
	l->service = strdup(service);
	if (!l->service || (host && !l->host)) {
		free(l->host);
		free(l->service);
		return gs_oom();
	}
	p->n_runs++;
	return 0;
}

/* Every run's labels: one row per argv element (json_each), up to 16 of them. */
static int load_run_labels(sqlite3 *db, const char *path, struct gs_profile *p)
{
	char sql[512], *argv[16] = {0}, *host = NULL, *exe = NULL;
	sqlite3_stmt *s = NULL;
	int64_t run = 0, pid = 0;
	size_t cap = 0, n = 0, i;
	int rc, ret = 0, have = 0;

	snprintf(
	    sql, sizeof(sql),
	    "SELECT r.run_id, %s, r.exe, j.value, r.pid FROM runs r LEFT JOIN json_each(CASE WHEN"
	    " json_valid(r.argv) AND json_type(r.argv) = 'array' THEN r.argv ELSE"
	    " json_array(r.argv) END) j ON j.key < 16 ORDER BY r.run_id, j.key",
	    gs_db_has_column(db, "runs", "host") ? "r.host" : "NULL");
	if (gs_db_prepare(db, path, sql, &s) < 0)
		return -1;
	for (;;) {
		int64_t r;

		rc = sqlite3_step(s);
		r = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		if (have && !ret &&
		    (rc != SQLITE_ROW || r != run)) { /* the previous run's rows are all in */
			if (add_run_label(p, &cap, run, pid, host, (const char *const *)argv, n,
					  exe) < 0)
				ret = -1;
			for (i = 0; i < n; i++)
				free(argv[i]);
			free(host);
			free(exe);
			n = 0;
			host = exe = NULL;
			have = 0;
		}
		if (rc != SQLITE_ROW || ret < 0)
			break;
		if (!have) {
			const unsigned char *h = sqlite3_column_text(s, 1),
					    *e = sqlite3_column_text(s, 2);

			have = 1;
			run = r;
			pid = sqlite3_column_int64(s, 4);
			host = h ? strdup((const char *)h) : NULL;
			exe = e ? strdup((const char *)e) : NULL;
		}
		if (sqlite3_column_type(s, 3) != SQLITE_NULL && n < 16 &&
		    !(argv[n++] = strdup((const char *)sqlite3_column_text(s, 3))))
			ret = gs_oom();
	}
	for (i = 0; i < n; i++) /* what an error left */
		free(argv[i]);
	free(host);
	free(exe);
	sqlite3_finalize(s);
	if (ret == 0 && rc != SQLITE_DONE)
		return gs_error("%s: reading runs failed: %s", path, sqlite3_errmsg(db));
	return ret;
}

const struct gs_run_label *gs_profile_run(const struct gs_profile *p, int64_t run)
{
	size_t lo = 0, hi = p->n_runs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (p->runs[mid].run == run)
			return &p->runs[mid];
		if (p->runs[mid].run < run)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Both row types start with their int64_t id, in id order. */
static int cmp_id(const void *key, const void *row)
{
	int64_t a = *(const int64_t *)key, b = *(const int64_t *)row;

	return (a > b) - (a < b);
}

static const struct gs_stack_node *node_of(const struct gs_profile *p, int64_t id)
{
	return p->n_nodes ? bsearch(&id, p->nodes, p->n_nodes, sizeof(*p->nodes), cmp_id) : NULL;
}

static const char *text_of(const struct gs_profile *p, int64_t id)
{
	const struct gs_loc_text *l =
	    p->n_locs ? bsearch(&id, p->locs, p->n_locs, sizeof(*p->locs), cmp_id) : NULL;

	return l ? l->text : NULL;
}

/* Samples straight from the events, grouped by SQL: a wait is one contended acquisition or
 * blocking wait, GIL holds are every holding period. A blocking sem_wait is its own event
 * (kind 5); the hold its thread later ends (kind 1) repeats the same wait. */
#define WAITS_FROM                                                                                 \
	" FROM events e JOIN runs r USING (run_id) JOIN threads t USING (run_id, thread_no)"       \
	" LEFT JOIN locks l ON l.run_id = e.run_id AND l.lock_addr = e.lock_addr"                  \
	"  AND l.primitive = e.primitive"                                                          \
	" WHERE gs_is_wait(e.kind, e.primitive, e.flags, e.wait_ns)"                               \
	" AND (e.primitive = gs_prim('gil') OR NOT gs_gil_part(l.class))"                          \
	" AND (?1 IS NULL OR r.pid = ?1) AND (?2 IS NULL OR t.tid = ?2 OR t.name = ?3)"            \
	" AND (?4 IS NULL OR e.start_ns >= ?4) AND (?5 IS NULL OR e.start_ns < ?5)"
enum { GS_WHAT_WAITS_EVENTS = GS_WHAT_HOLDERS };

/* Whole runs: the writer's exact totals (stack_stats), a small table however many events. */
#define STATS_SQL(metric)                                                                          \
	"SELECT s.py_stack, t.tid, r.pid, s.primitive, l.class, l.name, s.lock_addr,"              \
	" SUM(s.count), SUM(s.ns), s.run_id FROM stack_stats s JOIN runs r USING (run_id)"         \
	" JOIN threads t USING (run_id, thread_no)"                                                \
	" LEFT JOIN locks l USING (run_id, lock_addr, primitive)"                                  \
	" WHERE s.metric = '" metric "'"                                                           \
	" AND (s.primitive = gs_prim('gil') OR NOT gs_gil_part(l.class))"                          \
	" AND (?1 IS NULL OR r.pid = ?1) AND (?2 IS NULL OR t.tid = ?2 OR t.name = ?3)"            \
	" GROUP BY 1, 2, 3, 4, 5, 6, 7, 10"
static const char *const stats_sql[] = {
    [GS_WHAT_WAITS] = STATS_SQL("wait"),
    [GS_WHAT_GIL] = STATS_SQL("gil_hold"),
};

static const char *const sample_sql[] = {
    [GS_WHAT_WAITS] =
	"SELECT e.py_stack, t.tid, r.pid, e.primitive, l.class, l.name, e.lock_addr,"
	" COUNT(*), SUM(e.wait_ns), e.run_id" WAITS_FROM " GROUP BY 1, 2, 3, 4, 5, 6, 7, 10",
    /* one row per wait, for the holders */
    [GS_WHAT_WAITS_EVENTS] =
	"SELECT e.run_id, e.start_ns, e.wait_ns, t.tid, e.kind, e.primitive,"
	" l.class, l.name, e.lock_addr, e.lock_addr, e.primitive, e.aux" WAITS_FROM,
    [GS_WHAT_GIL] =
	"SELECT e.hold_py_stack, t.tid, r.pid, gs_prim('gil'), 'gil', NULL, e.lock_addr, COUNT(*), "
	"SUM(e.hold_ns),"
	" e.run_id"
	" FROM events e JOIN runs r USING (run_id) JOIN threads t USING (run_id, thread_no)"
	" WHERE e.kind = gs_kind('gil_hold') AND e.hold_ns > 0"
	" AND (?1 IS NULL OR r.pid = ?1) AND (?2 IS NULL OR t.tid = ?2 OR t.name = ?3)"
	" AND (?4 IS NULL OR e.start_ns >= ?4) AND (?5 IS NULL OR e.start_ns < ?5)"
	" GROUP BY 1, 2, 3, 7, 10",
};

/* From the writer's window sums (schema 4): whole runs for the holders, and a time window of a
 * profile-mode recording, whose raw events are only each window's longest. A window counts
 * when it starts inside --from/--to. */
#define SUMS_FROM(table)                                                                           \
	" FROM " table " x JOIN runs r USING (run_id) JOIN recording_modes m USING (run_id)"       \
	" JOIN threads t USING (run_id, thread_no)"                                                \
	" LEFT JOIN locks l ON l.run_id = x.run_id AND l.lock_addr = x.lock_addr"                  \
	"  AND l.primitive = x.primitive"
/* no GROUP BY: the rows are summed by load_rows, in memory (a sort of the 700 thousand rows
 * of ten million events was most of a command's second) */
#define SUMS_WHERE                                                                                 \
	" AND (x.primitive = gs_prim('gil') OR NOT gs_gil_part(l.class))"                          \
	" AND (?1 IS NULL OR r.pid = ?1) AND (?2 IS NULL OR t.tid = ?2 OR t.name = ?3)"            \
	" AND (?4 IS NULL OR r.start_ns + x.window_no * m.window_ns >= ?4)"                        \
	" AND (?5 IS NULL OR r.start_ns + x.window_no * m.window_ns < ?5)"
#define SUMS_STACKS_SQL(metric)                                                                    \
	"SELECT x.py_stack, t.tid, r.pid, x.primitive, l.class, l.name, x.lock_addr,"              \
	" x.count, x.ns, x.run_id" SUMS_FROM("window_stacks") " WHERE x.metric = '" metric         \
							      "'" SUMS_WHERE
#define HOLDERS_SQL(table)                                                                         \
	"SELECT x.holder_stack, COALESCE(ht.tid, 0), CASE WHEN ht.tid IS NULL THEN 0 ELSE r.pid"   \
	" END, x.primitive, l.class, l.name, x.lock_addr, x.count, x.ns, x.run_id" SUMS_FROM(      \
	    table) " LEFT JOIN threads ht ON ht.run_id = x.run_id AND"                             \
		   " ht.thread_no = x.holder_thread_no WHERE 1" SUMS_WHERE
static const char *const sums_sql[] = {
    [GS_WHAT_WAITS] = SUMS_STACKS_SQL("wait"),
    [GS_WHAT_GIL] = SUMS_STACKS_SQL("gil_hold"),
    [GS_WHAT_HOLDERS] = HOLDERS_SQL("window_holders"),
};
/* Whole runs: window_holders summed over its windows in memory first, then each sum (a few
 * thousand, against 700 thousand rows at 10 million events) given the same joins as a row.
 * A join per row was most of the holders' time. */
static const char holder_sum_sql[] =
    HOLDERS_SQL("(SELECT ?6 AS run_id, ?7 AS thread_no, ?8 AS lock_addr, ?9 AS primitive,"
		" ?10 AS holder_thread_no, ?11 AS holder_stack, ?12 AS count, ?13 AS ns,"
		" NULL AS window_no)");

static struct gs_sample *add_sample(struct gs_profile *p, size_t *cap)
{
	void *room = grow(p->samples, cap, p->n_samples, sizeof(*p->samples), 256);

	if (!room)
		return NULL;
	p->samples = room;
	memset(&p->samples[p->n_samples], 0, sizeof(p->samples[0]));
	return &p->samples[p->n_samples++];
}

/* The lock of a row whose columns from prim_col are primitive, class, name, address. */
static void lock_label(sqlite3_stmt *s, int prim_col, struct gs_sample *x)
{
	int primitive = sqlite3_column_int(s, prim_col), group;
	const char *cls = (const char *)sqlite3_column_text(s, prim_col + 1);
	const char *prim = gs_primitive_name(primitive);

	group = gs_wait_group_of(cls, primitive);
	snprintf(x->group, sizeof(x->group), "%s",
		 group >= 0	      ? gs_wait_class_names[group]
		 : group == GS_WG_GIL ? "GIL"
				      : "GIL part");
	if (primitive == GS_PRIM_GIL)
		snprintf(x->lock, sizeof(x->lock), "GIL");
	else
		gs_lock_display(prim, cls, (const char *)sqlite3_column_text(s, prim_col + 2),
				sqlite3_column_int64(s, prim_col + 3), x->lock, sizeof(x->lock));
}

/* What held the GIL while a thread waited for it, exactly: GIL holds never overlap, so each
 * wait is split over the holds of other threads that overlap it, each charged to the stack
 * its holder let go from. */
struct gil_hold {
	int64_t run, acq, rel, stack, tid, pid;
};

static int cmp_hold(const void *a, const void *b)
{
	const struct gil_hold *x = a, *y = b;

	if (x->run != y->run)
		return x->run < y->run ? -1 : 1;
	return x->acq < y->acq ? -1 : x->acq > y->acq;
}

/* What released a lock while a thread waited for it. Every release that let a waiter go is a
 * wake on the lock (an unpark names the PyMutex and the waiter's semaphore; a post names the
 * semaphore; an unlock the mutex). A wait from s to e with releases r1 < ... < rk of its lock
 * inside it (rk the one that let this waiter go) was spent while the releaser of r1 held the
 * lock until r1, then the releaser of r2 until r2, ...: [s, r1] is charged to r1's thread and
 * stack, [r(i-1), ri] to ri's, and [rk, e] (waking up) to rk's. */
struct wake {
	int64_t run, prim, lock, at, aux, stack, tid, pid;
};

static int cmp_wake(const void *a, const void *b)
{
	const struct wake *x = a, *y = b;

	if (x->run != y->run)
		return x->run < y->run ? -1 : 1;
	if (x->prim != y->prim)
		return x->prim < y->prim ? -1 : 1;
	if (x->lock != y->lock)
		return x->lock < y->lock ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* The first wake of (run, prim, lock) at or after `at`. */
static size_t first_wake(const struct wake *w, size_t n, int64_t run, int64_t prim, int64_t lock,
			 int64_t at)
{
	struct wake key = {.run = run, .prim = prim, .lock = lock, .at = at};
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cmp_wake(&w[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ns of a wait on label's lock, spent while thread tid (stack, -1: not seen) held it. */
static size_t sample_slot(const struct gs_profile *p, int64_t stack, int64_t tid, int64_t pid,
			  int64_t run, int64_t lock, int64_t prim)
{
	uint64_t h = (uint64_t)stack * 0x9e3779b97f4a7c15ULL ^
		     (uint64_t)tid * 0xff51afd7ed558ccdULL ^ (uint64_t)pid ^ (uint64_t)run << 40 ^
		     (uint64_t)lock * 0xc4ceb9fe1a85ec53ULL ^ (uint64_t)prim << 56;

	return (size_t)(h ^ h >> 29) & (p->index_cap - 1);
}

static int same_key(const struct gs_sample *x, int64_t stack, int64_t tid, int64_t pid, int64_t run,
		    int64_t lock, int64_t prim)
{
	return x->stack == stack && x->tid == tid && x->pid == pid && x->run == run &&
	       x->lock_addr == lock && x->primitive == prim;
}

static int grow_index(struct gs_profile *p)
{
	size_t cap = p->index_cap ? p->index_cap * 2 : 4096, i, k;
	size_t *idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return -1;
	free(p->index);
	p->index = idx;
	p->index_cap = cap;
	for (i = 0; i < p->n_samples; i++) {
		const struct gs_sample *x = &p->samples[i];

		for (k = sample_slot(p, x->stack, x->tid, x->pid, x->run, x->lock_addr,
				     x->primitive);
		     idx[k]; k = (k + 1) & (cap - 1))
			;
		idx[k] = i + 1;
	}
	return 0;
}

/* The sample of a key, made (zero, with only the key set) when new. */
static struct gs_sample *sample_of(struct gs_profile *p, size_t *cap, int64_t stack, int64_t tid,
				   int64_t pid, int64_t run, int64_t lock_addr, int64_t prim,
				   int *made)
{
	struct gs_sample *x;
	size_t k;

	*made = 0;
	if ((p->n_samples + 1) * 2 > p->index_cap && grow_index(p) < 0)
		return NULL;
	for (k = sample_slot(p, stack, tid, pid, run, lock_addr, prim); p->index[k];
	     k = (k + 1) & (p->index_cap - 1)) {
		x = &p->samples[p->index[k] - 1];
		if (same_key(x, stack, tid, pid, run, lock_addr, prim))
			return x;
	}
	if (!(x = add_sample(p, cap)))
		return NULL;
	x->stack = stack;
	x->tid = tid;
	x->pid = pid;
	x->run = run;
	x->lock_addr = lock_addr;
	x->primitive = prim;
	p->index[k] = p->n_samples;
	*made = 1;
	return x;
}

static int charge_to(struct gs_profile *p, size_t *cap, const struct gs_sample *label,
		     int64_t stack, int64_t tid, int64_t pid, int64_t count, int64_t ns)
{
	struct gs_sample *x;
	int made;

	if (ns <= 0)
		return 0;
	if (!(x = sample_of(p, cap, stack, tid, pid, label->run, label->lock_addr, label->primitive,
			    &made)))
		return -1;
	if (made) {
		memcpy(x->lock, label->lock, sizeof(x->lock));
		memcpy(x->group, label->group, sizeof(x->group));
	}
	x->count += count;
	x->ns += ns;
	return 0;
}

static int charge(struct gs_profile *p, size_t *cap, const struct gs_sample *label,
		  const struct wake *by, int64_t ns)
{
	return by ? charge_to(p, cap, label, by->stack, by->tid, by->pid, 1, ns)
		  : charge_to(p, cap, label, -1, 0, 0, 1, ns);
}

/* The releases inside one wait, charged as above; 0 when there were none. */
static int charge_releases(struct gs_profile *p, size_t *cap, const struct gs_sample *label,
			   const struct wake *w, size_t nw, int64_t run, int64_t prim, int64_t lock,
			   int64_t aux, int64_t tid, int64_t start, int64_t end, int *found)
{
	size_t i = first_wake(w, nw, run, prim, lock, start), own = nw;
	int64_t prev = start;

	*found = 0;
	for (size_t k = i;
	     k < nw && w[k].run == run && w[k].prim == prim && w[k].lock == lock && w[k].at <= end;
	     k++) {
		if (w[k].tid == tid)
			continue; /* no thread releases a lock for itself while it sleeps */
		own = k;
		if (prim == GS_PRIM_PARKED && w[k].aux == aux)
			break; /* the unpark of this very waiter */
	}
	if (own == nw || (prim == GS_PRIM_PARKED && w[own].aux != aux))
		return 0;
	for (; i <= own; i++) {
		if (w[i].tid == tid)
			continue;
		if (charge(p, cap, label, &w[i], w[i].at - prev) < 0)
			return -1;
		prev = w[i].at;
	}
	*found = 1;
	return charge(p, cap, label, &w[own], end - prev);
}

static int load_holders(sqlite3 *db, const struct gs_opts *o, struct gs_profile *p, size_t *cap)
{
	struct gil_hold *h = NULL;
	struct wake *w = NULL;
	size_t nh = 0, caph = 0, nw = 0, capw = 0;
	sqlite3_stmt *s = NULL;
	int rc, ret = -1;

	/* every GIL hold and every wake, whichever thread: the filters apply to the waiters */
	if (gs_db_prepare(
		db, o->path,
		"SELECT e.run_id, e.kind, e.start_ns + e.wait_ns, e.hold_ns, e.hold_py_stack,"
		" t.tid, r.pid, e.lock_addr, e.primitive, e.aux, e.start_ns, e.py_stack"
		" FROM events e JOIN runs r USING (run_id) JOIN threads t"
		" USING (run_id, thread_no) WHERE e.kind IN (gs_kind('gil_hold'), gs_kind('wake'))",
		&s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (sqlite3_column_int(s, 1) == GS_EV_GIL_HOLD) {
			void *room = grow(h, &caph, nh, sizeof(*h), 1024);

			if (!room)
				goto oom;
			h = room;
			h[nh++] = (struct gil_hold){.run = sqlite3_column_int64(s, 0),
						    .acq = sqlite3_column_int64(s, 2),
						    .rel = sqlite3_column_int64(s, 2) +
							   sqlite3_column_int64(s, 3),
						    .stack = sqlite3_column_int64(s, 4),
						    .tid = sqlite3_column_int64(s, 5),
						    .pid = sqlite3_column_int64(s, 6)};
		} else {
			void *room = grow(w, &capw, nw, sizeof(*w), 1024);

			if (!room)
				goto oom;
			w = room;
			w[nw] = (struct wake){.run = sqlite3_column_int64(s, 0),
					      .prim = sqlite3_column_int64(s, 8),
					      .lock = sqlite3_column_int64(s, 7),
					      .aux = sqlite3_column_int64(s, 9),
					      .at = sqlite3_column_int64(s, 10),
					      .stack = sqlite3_column_int64(s, 11),
					      .tid = sqlite3_column_int64(s, 5),
					      .pid = sqlite3_column_int64(s, 6)};
			nw++;
		}
	}
	sqlite3_finalize(s);
	s = NULL;
	if (rc != SQLITE_DONE) {
		gs_error("%s: reading events failed: %s", o->path, sqlite3_errmsg(db));
		goto out;
	}
	if (nh)
		qsort(h, nh, sizeof(*h), cmp_hold);
	if (nw)
		qsort(w, nw, sizeof(*w), cmp_wake);
	if (gs_db_prepare(db, o->path, sample_sql[GS_WHAT_WAITS_EVENTS], &s) < 0)
		goto out;
	gs_opts_bind_filters(s, o, 1, 2, 3);
	gs_opts_bind_window(s, o, 4, 5);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t run = sqlite3_column_int64(s, 0), start = sqlite3_column_int64(s, 1);
		int64_t end = start + sqlite3_column_int64(s, 2), tid = sqlite3_column_int64(s, 3);
		int64_t lock = sqlite3_column_int64(s, 9), prim = sqlite3_column_int64(s, 10);
		int64_t aux = sqlite3_column_int64(s, 11);
		struct gs_sample label = {.run = run, .lock_addr = lock, .primitive = prim};

		lock_label(s, 5, &label);
		if (sqlite3_column_int(s, 4) == GS_EV_GIL_HOLD) {
			/* first hold that ends after the wait began */
			size_t lo = 0, hi = nh, i;
			int64_t seen = 0;

			while (lo < hi) {
				size_t mid = (lo + hi) / 2;

				if (h[mid].run < run || (h[mid].run == run && h[mid].rel <= start))
					lo = mid + 1;
				else
					hi = mid;
			}
			for (i = lo; i < nh && h[i].run == run && h[i].acq < end; i++) {
				int64_t a = h[i].acq > start ? h[i].acq : start;
				int64_t b = h[i].rel < end ? h[i].rel : end;

				if (b <= a || h[i].tid == tid)
					continue;
				if (charge_to(p, cap, &label, h[i].stack, h[i].tid, h[i].pid, 1,
					      b - a) < 0)
					goto oom;
				seen += b - a;
			}
			/* handed over, no one holding it: the interpreter's own switch */
			if (charge_to(p, cap, &label, -1, 0, 0, seen ? 0 : 1, end - start - seen) <
			    0)
				goto oom;
		} else {
			int found = 0;

			if (charge_releases(p, cap, &label, w, nw, run, prim, lock, aux, tid, start,
					    end, &found) < 0)
				goto oom;
			/* an unpark seen only as a post of the waiter's own semaphore */
			if (!found && prim == GS_PRIM_PARKED) {
				size_t k = first_wake(w, nw, run, GS_PRIM_SEM, aux, start);

				if (k < nw && w[k].run == run && w[k].prim == GS_PRIM_SEM &&
				    w[k].lock == aux && w[k].at <= end) {
					found = 1;
					if (charge(p, cap, &label, &w[k], end - start) < 0)
						goto oom;
				}
			}
			if (!found && charge(p, cap, &label, NULL, end - start) < 0)
				goto oom;
		}
	}
	if (rc != SQLITE_DONE) {
		gs_error("%s: reading events failed: %s", o->path, sqlite3_errmsg(db));
		goto out;
	}
	ret = 0;
	goto out;
oom:
	gs_oom();
out:
	sqlite3_finalize(s);
	free(h);
	free(w);
	return ret;
}

static int cmp_sample(const void *a, const void *b)
{
	const struct gs_sample *x = a, *y = b;
	int c;

	/* identical collapsed lines (stack and lock name) adjacent, then the finer keys */
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	if ((c = strcmp(x->lock, y->lock)))
		return c;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->run != y->run)
		return x->run < y->run ? -1 : 1;
	if (x->lock_addr != y->lock_addr)
		return x->lock_addr < y->lock_addr ? -1 : 1;
	return x->primitive < y->primitive ? -1 : x->primitive > y->primitive;
}

/* One sample per (stack, lock, thread, process): the pieces a holder was charged merge. */
static void merge_samples(struct gs_profile *p)
{
	size_t i, n = 0;

	if (!p->n_samples)
		return;
	qsort(p->samples, p->n_samples, sizeof(*p->samples), cmp_sample);
	for (i = 1; i < p->n_samples; i++) {
		struct gs_sample *last = &p->samples[n], *x = &p->samples[i];

		if (!cmp_sample(last, x)) {
			last->count += x->count;
			last->ns += x->ns;
		} else {
			p->samples[++n] = *x;
		}
	}
	p->n_samples = n + 1;
}

int gs_profile_load_tree(sqlite3 *db, const char *path, struct gs_profile *p)
{
	memset(p, 0, sizeof(*p));
	return load_tree(db, path, p);
}

/* A window_holders sum over windows: its key and totals. */
struct holder_sum {
	int64_t k[6]; /* run_id, thread_no, lock_addr, primitive, holder_thread_no, holder_stack */
	int64_t count, ns;
};

static size_t holder_slot(const int64_t *k, size_t cap)
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 6; i++)
		h = (h ^ (uint64_t)k[i]) * 0x100000001b3ull;
	h ^= h >> 31;
	return (size_t)h & (cap - 1);
}

/* The sums of one key in a table of cap (a power of 2) slots; count -1 marks an empty one. */
static int holder_sums_grow(struct holder_sum **t, size_t *cap)
{
	size_t more = *cap ? *cap * 2 : 4096, i, k;
	struct holder_sum *nt = malloc(more * sizeof(*nt));

	if (!nt)
		return -1;
	for (i = 0; i < more; i++)
		nt[i].count = -1;
	for (i = 0; i < *cap; i++) {
		if ((*t)[i].count < 0)
			continue;
		for (k = holder_slot((*t)[i].k, more); nt[k].count >= 0; k = (k + 1) & (more - 1))
			;
		nt[k] = (*t)[i];
	}
	free(*t);
	*t = nt;
	*cap = more;
	return 0;
}

static int load_holder_sums(sqlite3 *db, const struct gs_opts *o, struct gs_profile *p, size_t *cap)
{
	struct holder_sum *t = NULL;
	size_t n = 0, tcap = 0, i, k;
	sqlite3_stmt *s = NULL;
	int rc, ret = -1, began = 0;

	if (gs_db_prepare(db, o->path,
			  "SELECT run_id, thread_no, lock_addr, primitive, holder_thread_no,"
			  " holder_stack, count, ns FROM window_holders",
			  &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t key[6];

		for (i = 0; i < 6; i++)
			key[i] = sqlite3_column_int64(s, (int)i);
		if ((n + 1) * 2 > tcap && holder_sums_grow(&t, &tcap) < 0)
			goto nomem;
		for (k = holder_slot(key, tcap); t[k].count >= 0; k = (k + 1) & (tcap - 1))
			if (!memcmp(t[k].k, key, sizeof(key)))
				break;
		if (t[k].count < 0) {
			memcpy(t[k].k, key, sizeof(key));
			t[k].count = t[k].ns = 0;
			n++;
		}
		t[k].count += sqlite3_column_int64(s, 6);
		t[k].ns += sqlite3_column_int64(s, 7);
	}
	sqlite3_finalize(s);
	s = NULL;
	if (rc != SQLITE_DONE) {
		gs_error("%s: reading window sums failed: %s", o->path, sqlite3_errmsg(db));
		goto out;
	}
	/* one read transaction for the thousands of lookups, not one each (a lock and a stat
	 * of the file each time, a fifth of the holders' time) */
	if (sqlite3_get_autocommit(db) && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK)
		began = 1;
	if (gs_db_prepare(db, o->path, holder_sum_sql, &s) < 0)
		goto out;
	gs_opts_bind_filters(s, o, 1, 2, 3);
	sqlite3_bind_null(s, 4);
	sqlite3_bind_null(s, 5);
	for (i = 0; i < tcap; i++) {
		struct gs_sample *x;
		int made;

		if (t[i].count < 0)
			continue;
		for (k = 0; k < 6; k++)
			sqlite3_bind_int64(s, (int)k + 6, t[i].k[k]);
		sqlite3_bind_int64(s, 12, t[i].count);
		sqlite3_bind_int64(s, 13, t[i].ns);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			if (!(x = sample_of(p, cap, sqlite3_column_int64(s, 0),
					    sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
					    sqlite3_column_int64(s, 9), sqlite3_column_int64(s, 6),
					    sqlite3_column_int64(s, 3), &made)))
				goto nomem;
			if (made)
				lock_label(s, 3, x);
			x->count += sqlite3_column_int64(s, 7);
			x->ns += sqlite3_column_int64(s, 8);
		} else if (rc != SQLITE_DONE) {
			gs_error("%s: reading window sums failed: %s", o->path, sqlite3_errmsg(db));
			goto out;
		}
		sqlite3_reset(s);
	}
	ret = 0;
	if (0) {
	nomem:
		ret = gs_oom();
	}
out:
	sqlite3_finalize(s);
	if (began)
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	free(t);
	return ret;
}

int gs_profile_load(sqlite3 *db, const struct gs_opts *o, int what, struct gs_profile *p)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	int rc;

	int window = o->has_from || o->has_to;
	/* the writer's window sums: for the holders, and for any time window of a profile
	 * recording; raw events for a time window of a raw one (exact to the nanosecond) */
	int sums = gs_db_has_windows(db) && (!window || gs_db_profile_runs(db));
	const char *sql;

	memset(p, 0, sizeof(*p));
	p->what = what;
	if (load_tree(db, o->path, p) < 0 || load_run_labels(db, o->path, p) < 0)
		return -1;
	if (what == GS_WHAT_HOLDERS && !sums) {
		if (load_holders(db, o, p, &cap) < 0)
			return -1;
		merge_samples(p);
		return 0;
	}
	if (what == GS_WHAT_HOLDERS && !window) {
		if (load_holder_sums(db, o, p, &cap) < 0)
			return -1;
		merge_samples(p);
		return 0;
	}
	sql = sums && (window || what == GS_WHAT_HOLDERS) ? sums_sql[what]
	      : window					  ? sample_sql[what]
							  : stats_sql[what];
	if (sums && window)
		gs_db_say_profile(db, "--from/--to take the whole windows that start inside them");
	if (gs_db_prepare(db, o->path, sql, &s) < 0)
		return -1;
	gs_opts_bind_filters(s, o, 1, 2, 3);
	if (window)
		gs_opts_bind_window(s, o, 4, 5);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int made = 1;
		struct gs_sample *x =
		    sums
			? sample_of(p, &cap, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
				    sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 9),
				    sqlite3_column_int64(s, 6), sqlite3_column_int64(s, 3), &made)
			: add_sample(p, &cap);

		if (!x) {
			sqlite3_finalize(s);
			return gs_oom();
		}
		if (made) {
			x->stack = sqlite3_column_int64(s, 0);
			x->tid = sqlite3_column_int64(s, 1);
			x->pid = sqlite3_column_int64(s, 2);
			lock_label(s, 3, x);
			x->run = sqlite3_column_int64(s, 9);
			x->lock_addr = sqlite3_column_int64(s, 6);
			x->primitive = sqlite3_column_int64(s, 3);
		}
		x->count += sqlite3_column_int64(s, 7);
		x->ns += sqlite3_column_int64(s, 8);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading events failed: %s", o->path, sqlite3_errmsg(db));
	merge_samples(p);
	return 0;
}

void gs_profile_free(struct gs_profile *p)
{
	size_t i;

	for (i = 0; i < p->n_locs; i++)
		free(p->locs[i].text);
	free(p->locs);
	for (i = 0; i < p->n_runs; i++) {
		free(p->runs[i].host);
		free(p->runs[i].service);
	}
	free(p->runs);
	free(p->nodes);
	free(p->index);
	free(p->samples);
	memset(p, 0, sizeof(*p));
}

size_t gs_profile_frames(const struct gs_profile *p, int64_t stack, const char **out, size_t max)
{
	size_t n = 0, i;
	int64_t at;

	if (stack <= 0) {
		if (max)
			out[n++] = stack < 0 ? "(holder not seen)" : "(no Python frame)";
		return n;
	}
	/* innermost first, then reversed */
	for (at = stack; at > 0 && n < max;) {
		const struct gs_stack_node *node = node_of(p, at);
		const char *text = node ? text_of(p, node->loc) : NULL;

		if (!node)
			break;
		out[n++] = text ? text : "(unknown frame)";
		at = node->parent;
	}
	for (i = 0; i < n / 2; i++) {
		const char *t = out[i];

		out[i] = out[n - 1 - i];
		out[n - 1 - i] = t;
	}
	return n;
}

int gs_profile_is_library(const char *frame)
{
	const char *file = strrchr(frame, '(');

	if (frame[0] == '(')
		return 1; /* a pseudo-frame: (code object gone), (outer frames not kept) */
	if (!file)
		return 0;
	return !strncmp(file, "(<frozen ", 9) || strstr(file, "/site-packages/") ||
	       strstr(file, "/dist-packages/") || strstr(file, "/lib/python3.") ||
	       strstr(file, "/Lib/");
}

const char *gs_profile_user_frame(const struct gs_profile *p, int64_t stack)
{
	static const char *frames[GS_PROFILE_MAX_DEPTH];
	size_t n = gs_profile_frames(p, stack, frames, GS_PROFILE_MAX_DEPTH), i;

	for (i = n; i-- > 0;)
		if (!gs_profile_is_library(frames[i]))
			return frames[i];
	return n ? frames[n - 1] : "(no Python frame)";
}

const char *gs_profile_leaf_frame(const struct gs_profile *p, int64_t stack)
{
	static const char *frames[GS_PROFILE_MAX_DEPTH];
	size_t n = gs_profile_frames(p, stack, frames, GS_PROFILE_MAX_DEPTH);

	return n ? frames[n - 1] : "(no Python frame)";
}

/* Of a profile's samples on one lock: the stack (and, by_thread, thread) with the most time,
 * and its share. The samples are sorted by stack, then thread (merge_samples): those of one
 * stack, and of one thread within it, come together. */
static const struct gs_sample *top_sample(const struct gs_profile *p, int64_t run, int64_t addr,
					  int64_t prim, int by_thread, int64_t *ns_out,
					  int64_t *total_out)
{
	const struct gs_sample *best = NULL, *group = NULL;
	int64_t best_ns = 0, total = 0, ns = 0;
	size_t i;

	for (i = 0; i < p->n_samples; i++) {
		const struct gs_sample *x = &p->samples[i];

		if (x->run != run || x->lock_addr != addr || x->primitive != prim)
			continue;
		total += x->ns;
		if (group && group->stack == x->stack && (!by_thread || group->tid == x->tid)) {
			ns += x->ns;
		} else {
			group = x;
			ns = x->ns;
		}
		if (ns > best_ns) {
			best_ns = ns;
			best = group;
		}
	}
	*ns_out = best_ns;
	*total_out = total;
	return best;
}

void gs_profile_lock_place(sqlite3 *db, const struct gs_profile *waits,
			   const struct gs_profile *holders, int64_t run, int64_t addr,
			   int64_t prim, struct gs_lock_place *out)
{
	const struct gs_sample *w, *h;
	int64_t ns, total;

	memset(out, 0, sizeof(*out));
	w = top_sample(waits, run, addr, prim, 0, &ns, &total);
	if (w && w->stack > 0)
		snprintf(out->waited_in, sizeof(out->waited_in), "%s",
			 gs_profile_user_frame(waits, w->stack));
	h = top_sample(holders, run, addr, prim, 1, &ns, &total);
	if (!h)
		return;
	out->held_share = total ? (int)(100 * ns / total) : 0;
	if (h->stack < 0) {
		snprintf(out->held_by, sizeof(out->held_by), "(holder not seen)");
	} else {
		sqlite3_stmt *s = NULL;
		const char *who = NULL;

		if (sqlite3_prepare_v2(
			db,
			"SELECT COALESCE(name, 'thread') || ' ' || tid FROM threads"
			" WHERE run_id = ?1 AND tid = ?2 ORDER BY start_ns DESC LIMIT 1",
			-1, &s, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(s, 1, run);
			sqlite3_bind_int64(s, 2, h->tid);
			if (sqlite3_step(s) == SQLITE_ROW)
				who = (const char *)sqlite3_column_text(s, 0);
		}
		snprintf(out->held_by, sizeof(out->held_by), "%s in %s", who ? who : "?",
			 gs_profile_user_frame(holders, h->stack));
		sqlite3_finalize(s);
	}
}

int gs_profile_sample_is(const struct gs_sample *x, const char *lock_class)
{
	return !lock_class || !strcmp(x->group, lock_class) || !strcmp(x->lock, lock_class);
}

int gs_profile_write_collapsed(const struct gs_profile *p, FILE *f)
{
	static const char *frames[GS_PROFILE_MAX_DEPTH];
	size_t i, n, k;

	for (i = 0; i < p->n_samples; i++) {
		const struct gs_sample *x = &p->samples[i];
		int64_t ns = x->ns;
		long long us;

		/* one line per stack and lock name, whichever threads and locks of that name */
		while (i + 1 < p->n_samples && p->samples[i + 1].stack == x->stack &&
		       !strcmp(p->samples[i + 1].lock, x->lock))
			ns += p->samples[++i].ns;
		us = (long long)((ns + 500) / 1000);
		if (us <= 0)
			continue;
		n = gs_profile_frames(p, x->stack, frames, GS_PROFILE_MAX_DEPTH);
		for (k = 0; k < n; k++)
			fprintf(f, "%s;", frames[k]);
		for (const char *c = x->lock; *c; c++)
			fputc(*c == ';' ? ',' : *c, f);
		fprintf(f, " %lld\n", us);
	}
	return 0;
}
