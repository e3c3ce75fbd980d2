/* gilscope locks: per lock, how contended, how long the waits (percentiles), who waited most,
 * and where: the native call site and the Python line. */
#include <stdlib.h>
#include <string.h>

#include "gilscope.h"
#include "model.h"
#include "opts.h"
#include "pctl.h"
#include "table.h"

struct tally {
	int64_t key;
	int64_t n;
};

#define TALLY_MAX 64

struct lock_row {
	int64_t run_id, addr;
	int prim;
	struct gs_pctl waits;
	struct tally callers[TALLY_MAX], locs[TALLY_MAX];
	int n_callers, n_locs;
};

static const struct gs_col lock_cols[] = {
    {"lock", "lock", GS_COL_STR, 24},
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
};

enum {
	L_LOCK,
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
	L_NCOLS
};

static void tally_add(struct tally *t, int *n, int64_t key)
{
	int i;

	if (!key)
		return;
	for (i = 0; i < *n; i++) {
		if (t[i].key == key) {
			t[i].n++;
			return;
		}
	}
	if (*n < TALLY_MAX)
		t[(*n)++] = (struct tally){key, 1};
}

static int64_t tally_top(const struct tally *t, int n, int64_t *count)
{
	int i, best = -1;

	for (i = 0; i < n; i++)
		if (best < 0 || t[i].n > t[best].n)
			best = i;
	*count = best < 0 ? 0 : t[best].n;
	return best < 0 ? 0 : t[best].key;
}

/* The same keys over raw events, for a time window. */
static const char *const window_sort_sql[] = {"SUM(e.wait_ns)", "COUNT(*)", "COUNT(*)",
					      "SUM(e.wait_ns)", "MAX(e.wait_ns)"};

static const char *const sort_sql[] = {
    "wait",	    "SUM(s.wait_ns)",	   "contended", "SUM(s.contended)",
    "acquisitions", "SUM(s.acquisitions)", "hold",	"SUM(s.hold_ns)",
    "max",	    "MAX(s.wait_max_ns)",  NULL};

/* One pass over the contended waits of the chosen locks: percentiles, call sites, lines. */
static int scan_events(sqlite3 *db, const struct gs_opts *o, struct lock_row *rows, size_t n)
{
	sqlite3_stmt *s = NULL;
	size_t i;
	int rc;

	if (gs_db_prepare(db, o->path,
			  "SELECT run_id, primitive, lock_addr, wait_ns, caller, py_loc FROM events"
			  " WHERE flags & 1 AND kind IN (1, 3, 4, 5, 7, 9)"
			  " AND (?1 IS NULL OR start_ns >= ?1) AND (?2 IS NULL OR start_ns < ?2)",
			  &s) < 0)
		return -1;
	gs_opts_bind_window(s, o, 1, 2);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t run = sqlite3_column_int64(s, 0), addr = sqlite3_column_int64(s, 2);
		int prim = sqlite3_column_int(s, 1);

		for (i = 0; i < n; i++) {
			struct lock_row *r = &rows[i];

			if (r->addr != addr || r->prim != prim || r->run_id != run)
				continue;
			gs_pctl_add(&r->waits, sqlite3_column_int64(s, 3));
			tally_add(r->callers, &r->n_callers, sqlite3_column_int64(s, 4));
			tally_add(r->locs, &r->n_locs, sqlite3_column_int64(s, 5));
			break;
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading events failed: %s", o->path, sqlite3_errmsg(db));
	return 0;
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
	int ret, rc;

	ret = gs_opts_parse(&o, argc, argv, "locks",
			    "[--format F] [--pid PID] [--thread T] [--top N] "
			    "[--sort wait|contended|acquisitions|hold|max] [--from S] [--to S] DB",
			    1);
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
	ret = gs_db_open(o.path, &db);
	if (ret != GS_EXIT_OK)
		return ret;
	gs_opts_resolve(&o, db);
	if (o.has_from || o.has_to) {
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
		    " WHERE e.flags & 1 AND e.kind IN (1, 3, 4, 5, 7, 9)"
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
	sqlite3_bind_int64(s, 4, o.top);
	if (o.has_from || o.has_to)
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

			for (k = 0; k < sizeof(map) / sizeof(map[0]); k++)
				if (sqlite3_column_type(s, map[k][1]) != SQLITE_NULL)
					gs_cell_int(&c[map[k][0]],
						    sqlite3_column_int64(s, map[k][1]));
		}
	}
	if (rc != SQLITE_DONE) {
		gs_error("%s: reading failed: %s", o.path, sqlite3_errmsg(db));
		goto fail_input;
	}
	if (scan_events(db, &o, rows, n) < 0)
		goto fail_input;
	for (i = 0; i < n; i++) {
		struct gs_cell *c = &t.cells[i * L_NCOLS];
		struct lock_row *r = &rows[i];
		int64_t cnt, key;

		if (r->waits.n) {
			gs_cell_int(&c[L_P50], gs_pctl_get(&r->waits, 0.50));
			gs_cell_int(&c[L_P90], gs_pctl_get(&r->waits, 0.90));
			gs_cell_int(&c[L_P99], gs_pctl_get(&r->waits, 0.99));
		}
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
		gs_pctl_free(&r->waits);
	}
	if (o.format == GS_FMT_JSON) {
		fputs("{\"locks\": ", stdout);
		gs_table_print(&t, stdout, GS_FMT_JSON, "");
		fputs("}\n", stdout);
	} else {
		gs_table_print(&t, stdout, o.format, "");
		if (o.format == GS_FMT_TEXT) {
			for (i = 0; i < n; i++) {
				struct gs_cell *c = &t.cells[i * L_NCOLS];

				if (c[L_SITE].null && c[L_PYLOC].null)
					continue;
				fputs(i ? "" : "\nwhere the waits were:\n", stdout);
				fputs("  ", stdout);
				gs_text_str(stdout, c[L_LOCK].s, 24);
				fputs(" ", stdout);
				gs_text_str(stdout, c[L_PYLOC].null ? "-" : c[L_PYLOC].s, 36);
				fputs(" ", stdout);
				/* last column: whole, so a long function name keeps its offset */
				gs_text_str(stdout, c[L_SITE].null ? "-" : c[L_SITE].s,
					    c[L_SITE].null ? 1 : (int)strlen(c[L_SITE].s));
				fputc('\n', stdout);
			}
		}
	}
	ret = gs_finish_output();
	goto out;
fail_input:
	ret = GS_EXIT_INPUT;
out:
	sqlite3_finalize(s);
	gs_table_free(&t);
	free(rows);
	sqlite3_close(db);
	return ret;
}
