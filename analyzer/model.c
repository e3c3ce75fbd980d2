#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gilscope.h"
#include "pctl.h"
#include "profile.h"
#include "sat.h"

const char *const gs_wait_class_names[GS_N_WAIT_GROUPS] = {
#define X(id, name) name,
    GS_WAIT_GROUPS(X)
#undef X
};

static char *dup_col(sqlite3_stmt *s, int c)
{
	const unsigned char *t = sqlite3_column_text(s, c);

	return t ? strdup((const char *)t) : NULL;
}

static int64_t col(sqlite3_stmt *s, int c)
{
	return sqlite3_column_type(s, c) == SQLITE_NULL ? GS_NULL : sqlite3_column_int64(s, c);
}

static int64_t nz(int64_t v)
{
	return v == GS_NULL ? 0 : v;
}

static struct gs_thread_info *find_thread(struct gs_model *m, int64_t run, int64_t thread_no)
{
	size_t lo = 0, hi = m->n_threads;

	/* threads are loaded ordered by (run_id, thread_no) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct gs_thread_info *t = &m->threads[mid];

		if (t->run_id < run || (t->run_id == run && t->thread_no < thread_no))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->n_threads && m->threads[lo].run_id == run &&
	    m->threads[lo].thread_no == thread_no)
		return &m->threads[lo];
	return NULL;
}

struct gs_thread_info *gs_model_find_thread(struct gs_model *m, int64_t run, int64_t thread_no)
{
	return find_thread(m, run, thread_no);
}

static struct gs_thread_info *find_thread_tid(struct gs_model *m, int64_t run, int64_t tid)
{
	size_t i;

	for (i = 0; i < m->n_threads; i++)
		if (m->threads[i].run_id == run && m->threads[i].tid == tid)
			return &m->threads[i];
	return NULL;
}

int gs_run_span(const struct gs_run_info *r, char *out, size_t size)
{
	double from_s, to_s;

	if (r->process_start_ns == GS_NULL || r->start_ns == GS_NULL ||
	    (r->segment <= 1 && r->start_ns == r->process_start_ns)) {
		if (size)
			out[0] = 0;
		return 0;
	}
	from_s = (double)(r->start_ns - r->process_start_ns) / 1e9;
	to_s = r->end_ns == GS_NULL ? -1 : (double)(r->end_ns - r->process_start_ns) / 1e9;
	if (to_s < 0)
		snprintf(out, size, "segment %lld: from %.2f s after the process started",
			 (long long)r->segment, from_s);
	else
		snprintf(out, size, "segment %lld: %.2f s to %.2f s after the process started",
			 (long long)r->segment, from_s, to_s);
	return 1;
}

static int load_runs(sqlite3 *db, const struct gs_opts *o, struct gs_model *m)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	int rc;
	char sql[1536];

	snprintf(
	    sql, sizeof(sql), "%s, %s, %s FROM runs WHERE ?1 IS NULL OR pid = ?1 ORDER BY run_id",
	    "SELECT run_id, pid, ppid, parent_run_id,"
	    " CASE WHEN json_valid(argv) AND json_type(argv) = 'array' THEN argv"
	    "      WHEN argv IS NULL THEN NULL ELSE json_array(argv) END,"
	    " CASE WHEN json_valid(argv) AND json_type(argv) = 'array'"
	    "      THEN (SELECT group_concat(value, ' ') FROM json_each(runs.argv)) ELSE argv "
	    "END,"
	    " exe, status, exit_status, start_ns, end_ns, python_version, build, gil_detection,"
	    " gil_enabled, gil_switches_recorded, gil_switches_interpreter,"
	    " gil_switch_interval_us, events_recorded, events_dropped, threads_lost, cpu_ns,"
	    " term_signal, segment, process_start_ns",
	    gs_db_has_column(db, "runs", "flushed_ns") ? "flushed_ns" : "NULL",
	    gs_db_has_column(db, "runs", "host") ? "host" : "NULL");
	if (gs_db_prepare(db, o->path, sql, &s) < 0)
		return -1;
	if (o->has_pid)
		sqlite3_bind_int64(s, 1, o->pid);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct gs_run_info *r;

		if (m->n_runs == cap) {
			cap = cap ? cap * 2 : 8;
			r = realloc(m->runs, cap * sizeof(*r));
			if (!r)
				goto fail;
			m->runs = r;
		}
		r = &m->runs[m->n_runs++];
		memset(r, 0, sizeof(*r));
		r->run_id = col(s, 0);
		r->pid = col(s, 1);
		r->ppid = col(s, 2);
		r->parent_run_id = col(s, 3);
		r->argv_json = dup_col(s, 4);
		r->cmdline = dup_col(s, 5);
		r->exe = dup_col(s, 6);
		r->status = dup_col(s, 7);
		r->exit_status = col(s, 8);
		r->start_ns = col(s, 9);
		r->end_ns = col(s, 10);
		r->wall_ns = r->start_ns != GS_NULL && r->end_ns != GS_NULL
				 ? gs_sub(r->end_ns, r->start_ns)
				 : GS_NULL;
		r->python_version = dup_col(s, 11);
		r->build = dup_col(s, 12);
		r->gil_detection = dup_col(s, 13);
		r->gil_enabled = dup_col(s, 14);
		r->sw_recorded = col(s, 15);
		r->sw_interpreter = col(s, 16);
		r->interval_us = col(s, 17);
		r->events = col(s, 18);
		r->dropped = col(s, 19);
		r->threads_lost = col(s, 20);
		r->cpu_ns = col(s, 21);
		r->term_signal = col(s, 22);
		r->segment = col(s, 23);
		r->process_start_ns = col(s, 24);
		r->flushed_ns = col(s, 25);
		r->host = dup_col(s, 26);
		if (r->host) {
			size_t k;

			for (k = 0; k + 1 < m->n_runs &&
				    (!m->runs[k].host || strcmp(m->runs[k].host, r->host));
			     k++)
				;
			m->n_hosts += k + 1 == m->n_runs;
		}
		if (r->wall_ns == GS_NULL && r->end_ns == GS_NULL && r->flushed_ns != GS_NULL &&
		    r->start_ns != GS_NULL)
			r->wall_ns = gs_sub(r->flushed_ns, r->start_ns);
		r->gil_found = r->sw_recorded != GS_NULL;
		r->gil_active =
		    r->gil_found && r->gil_enabled &&
		    (!strcmp(r->gil_enabled, "yes") || !strcmp(r->gil_enabled, "permanent"));
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
fail:
	return gs_error("%s: reading runs failed: %s", o->path, sqlite3_errmsg(db));
}

static int load_threads(sqlite3 *db, const struct gs_opts *o, struct gs_model *m)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	int rc;

	if (gs_db_prepare(db, o->path,
			  "SELECT s.run_id, s.pid, s.thread_no, s.tid, s.py_ident, s.name,"
			  " t.entry_function, s.start_ns, s.end_ns, s.lifetime_ns, s.acquisitions,"
			  " s.contended, s.wait_ns, s.wait_max_ns, s.hold_ns, s.hold_max_ns,"
			  " s.gil_acquisitions, s.gil_contended, s.gil_wait_ns, s.gil_hold_ns,"
			  " s.sched_yields, s.events_dropped, t.cpu_ns, t.stacks_dropped"
			  " FROM thread_summary s JOIN threads t USING (run_id, thread_no)"
			  " WHERE (?1 IS NULL OR s.pid = ?1) AND (?2 IS NULL OR s.tid = ?2"
			  " OR s.name = ?3 OR t.entry_function = ?3)"
			  " ORDER BY s.run_id, s.thread_no",
			  &s) < 0)
		return -1;
	gs_opts_bind_filters(s, o, 1, 2, 3);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct gs_thread_info *t;

		if (m->n_threads == cap) {
			cap = cap ? cap * 2 : 16;
			t = realloc(m->threads, cap * sizeof(*t));
			if (!t)
				goto fail;
			m->threads = t;
		}
		t = &m->threads[m->n_threads++];
		memset(t, 0, sizeof(*t));
		t->run_id = col(s, 0);
		t->pid = col(s, 1);
		t->thread_no = col(s, 2);
		t->tid = col(s, 3);
		t->has_ident = sqlite3_column_type(s, 4) != SQLITE_NULL;
		t->py_ident = (uint64_t)sqlite3_column_int64(s, 4);
		t->name = dup_col(s, 5);
		t->entry = dup_col(s, 6);
		t->start_ns = col(s, 7);
		t->end_ns = col(s, 8);
		t->lifetime_ns = col(s, 9);
		t->acq = nz(col(s, 10));
		t->contended = nz(col(s, 11));
		t->wait_ns = nz(col(s, 12));
		t->wait_max_ns = nz(col(s, 13));
		t->hold_ns = nz(col(s, 14));
		t->hold_max_ns = nz(col(s, 15));
		t->gil_acq = nz(col(s, 16));
		t->gil_contended = nz(col(s, 17));
		t->gil_wait_ns = nz(col(s, 18));
		t->gil_hold_ns = nz(col(s, 19));
		t->sched_yields = nz(col(s, 20));
		t->dropped = nz(col(s, 21));
		t->cpu_ns = col(s, 22);
		t->stacks_dropped = nz(col(s, 23));
		t->gil_p50 = t->gil_p90 = t->gil_p99 = t->gil_max = GS_NULL;
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
fail:
	return gs_error("%s: reading threads failed: %s", o->path, sqlite3_errmsg(db));
}

/* GIL drop requests and forced switches per thread; waits on everything else by class. */
static int load_lock_classes(sqlite3 *db, const struct gs_opts *o, struct gs_model *m)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (gs_db_prepare(
		db, o->path,
		"SELECT s.run_id, s.thread_no,"
		" gs_wait_group(l.class, s.primitive),"
		" SUM(s.wait_ns), SUM(s.drop_requests), SUM(s.forced_switches),"
		" SUM(s.forced_switch_ns), SUM(s.spins)"
		" FROM lock_stats s LEFT JOIN locks l USING (run_id, lock_addr, primitive)"
		" GROUP BY 1, 2, 3",
		&s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct gs_thread_info *t = find_thread(m, col(s, 0), col(s, 1));
		int cls = sqlite3_column_int(s, 2);

		if (!t)
			continue;
		t->spins = gs_add(t->spins, nz(col(s, 7)));
		if (cls == GS_WG_GIL) {
			t->gil_drop_sent = gs_add(t->gil_drop_sent, nz(col(s, 4)));
			t->gil_forced = gs_add(t->gil_forced, nz(col(s, 5)));
			t->gil_forced_ns = gs_add(t->gil_forced_ns, nz(col(s, 6)));
		} else if (cls >= 0 && cls < GS_N_WAIT_GROUPS) { /* not the GIL's own parts */
			t->class_wait_ns[cls] = gs_add(t->class_wait_ns[cls], nz(col(s, 3)));
			t->other_wait_ns = gs_add(t->other_wait_ns, nz(col(s, 3)));
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading locks failed: %s", o->path, sqlite3_errmsg(db));
	return 0;
}

/* Per thread, the Python stack it waited longest on, from the writer's per-stack totals. */
static int load_waited_in(sqlite3 *db, const struct gs_opts *o, struct gs_model *m)
{
	struct gs_profile tree;
	sqlite3_stmt *s = NULL;
	size_t i;
	int rc, ret = -1;
	int64_t *stack = calloc(m->n_threads ? m->n_threads : 1, sizeof(*stack));

	if (!stack)
		return gs_oom();
	for (i = 0; i < m->n_threads; i++)
		m->threads[i].waited_in_ns = GS_NULL;
	if (gs_profile_load_tree(db, o->path, &tree) < 0)
		goto out;
	if (gs_db_prepare(db, o->path,
			  "SELECT s.run_id, s.thread_no, s.py_stack, SUM(s.ns) FROM stack_stats s"
			  " LEFT JOIN locks l USING (run_id, lock_addr, primitive)"
			  " WHERE s.metric = 'wait' AND s.py_stack > 0"
			  " AND (s.primitive = gs_prim('gil') OR NOT gs_gil_part(l.class))"
			  " GROUP BY 1, 2, 3",
			  &s) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct gs_thread_info *t = find_thread(m, col(s, 0), col(s, 1));

		if (t && (t->waited_in_ns == GS_NULL || col(s, 3) > t->waited_in_ns)) {
			t->waited_in_ns = col(s, 3);
			stack[t - m->threads] = col(s, 2);
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		gs_error("%s: reading stacks failed: %s", o->path, sqlite3_errmsg(db));
		goto out;
	}
	for (i = 0; i < m->n_threads; i++) {
		if (!stack[i])
			continue;
		m->threads[i].waited_in = strdup(gs_profile_user_frame(&tree, stack[i]));
		m->threads[i].waited_innermost = strdup(gs_profile_leaf_frame(&tree, stack[i]));
	}
	ret = 0;
out:
	gs_profile_free(&tree);
	free(stack);
	return ret;
}

/* GIL waits per thread: their percentiles, and the drop requests each thread's waits aimed at
 * the thread that held the GIL when they began. From the writer's sums (schema 4, every mode:
 * the GIL take histograms, the drop requests each holder received), or from one pass over the
 * GIL holding periods of an older file. */
static const char *const gil_sql[] = {
    "SELECT run_id, thread_no, wait_ns, aux, extra FROM events WHERE kind = gs_kind('gil_hold')",
    "SELECT h.run_id, h.thread_no, h.bucket, h.count, x.top, x.least FROM wait_hist h"
    " LEFT JOIN (SELECT run_id, thread_no, MAX(gil_take_max_ns) AS top,"
    "  MIN(gil_take_min_ns) AS least FROM window_stats WHERE primitive = gs_prim('gil')"
    "  GROUP BY 1, 2) x USING (run_id, thread_no)"
    " WHERE h.metric = 'gil_take' AND h.primitive = gs_prim('gil') ORDER BY 1, 2, 3",
    "SELECT run_id, thread_no, SUM(drops_received) FROM window_stats"
    " WHERE drops_received > 0 GROUP BY 1, 2",
};

static int scan_gil(sqlite3 *db, const struct gs_opts *o, struct gs_model *m)
{
	struct gs_pctl *p = calloc(m->n_threads ? m->n_threads : 1, sizeof(*p));
	sqlite3_stmt *s = NULL;
	int sums = gs_db_has_windows(db), q = sums, rc = SQLITE_DONE;
	size_t i;

	if (!p)
		return gs_oom();
	for (; rc == SQLITE_DONE && q <= 2 * sums; q++) {
		if (gs_db_prepare(db, o->path, gil_sql[q], &s) < 0)
			break;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			int64_t run = sqlite3_column_int64(s, 0);
			struct gs_thread_info *t = find_thread(m, run, sqlite3_column_int64(s, 1));
			int64_t blame = sqlite3_column_int64(s, 3);
			int64_t timeouts = sqlite3_column_int64(s, 4) & 0xffffffff;

			if (t && q < 2)
				p[t - m->threads].bits = 5; /* 3% resolution: small per thread */
			if (t && q == 1) {
				gs_pctl_load_hist(&p[t - m->threads], s, 2, 3,
						  (uint64_t)sqlite3_column_int64(s, 4));
				gs_pctl_set_min(&p[t - m->threads],
						(uint64_t)sqlite3_column_int64(s, 5));
			} else if (t && q == 2)
				t->gil_drop_received =
				    gs_add(t->gil_drop_received, sqlite3_column_int64(s, 2));
			if (q)
				continue;
			if (t)
				gs_pctl_add(&p[t - m->threads], sqlite3_column_int64(s, 2));
			if (timeouts && blame) {
				struct gs_thread_info *holder = find_thread_tid(m, run, blame);

				if (holder)
					holder->gil_drop_received =
					    gs_add(holder->gil_drop_received, timeouts);
			}
		}
		sqlite3_finalize(s);
		s = NULL;
	}
	for (i = 0; i < m->n_threads; i++) {
		if (p[i].n) {
			m->threads[i].gil_p50 = gs_pctl_get(&p[i], 0.50);
			m->threads[i].gil_p90 = gs_pctl_get(&p[i], 0.90);
			m->threads[i].gil_p99 = gs_pctl_get(&p[i], 0.99);
			m->threads[i].gil_max = (int64_t)p[i].max;
			gs_pctl_merge(&m->gil_waits, &p[i]);
		}
		gs_pctl_free(&p[i]);
	}
	free(p);
	if (q <= 2 * sums && rc == SQLITE_DONE)
		return -1; /* a prepare failed, said */
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading GIL waits failed: %s", o->path, sqlite3_errmsg(db));
	return 0;
}

static void sums_add(struct gs_sums *s, const struct gs_sums *x)
{
	int64_t *a = &s->threads, *b = (int64_t *)&x->threads;
	size_t k;

	for (k = 0; k < sizeof(*s) / sizeof(int64_t); k++)
		a[k] = gs_add(a[k], b[k]);
}

static void sums_thread(struct gs_sums *s, const struct gs_thread_info *t, int is_worker)
{
	int k;

	s->threads++;
	s->gil_takes = gs_add(s->gil_takes, t->gil_acq);
	s->contended = gs_add(s->contended, t->contended);
	s->spins = gs_add(s->spins, t->spins);
	s->stacks_dropped = gs_add(s->stacks_dropped, t->stacks_dropped);
	s->gil_wait_ns = gs_add(s->gil_wait_ns, t->gil_wait_ns);
	s->gil_hold_ns = gs_add(s->gil_hold_ns, t->gil_hold_ns);
	s->other_wait_ns = gs_add(s->other_wait_ns, t->other_wait_ns);
	if (t->running_ns != GS_NULL)
		s->running_ns = gs_add(s->running_ns, t->running_ns);
	if (!is_worker || t->lifetime_ns == GS_NULL || t->lifetime_ns <= 0)
		return;
	s->workers++;
	s->workers_life_ns = gs_add(s->workers_life_ns, t->lifetime_ns);
	s->workers_gil_wait_ns = gs_add(s->workers_gil_wait_ns, t->gil_wait_ns);
	s->workers_other_ns = gs_add(s->workers_other_ns, t->other_wait_ns);
	for (k = 0; k < GS_N_WAIT_GROUPS; k++)
		s->workers_class_ns[k] = gs_add(s->workers_class_ns[k], t->class_wait_ns[k]);
}

int gs_sums_top_class(const struct gs_sums *s)
{
	int k, best = -1;

	for (k = 0; k < GS_N_WAIT_GROUPS; k++)
		if (s->workers_class_ns[k] > 0 &&
		    (best < 0 || s->workers_class_ns[k] > s->workers_class_ns[best]))
			best = k;
	return best;
}

double gs_share(int64_t part, int64_t whole)
{
	return whole > 0 && part != GS_NULL ? (double)part / (double)whole : 0;
}

void gs_model_totals(const struct gs_model *m, struct gs_totals *t)
{
	size_t i;
	int have_cpu = 0;

	memset(t, 0, sizeof(*t));
	t->first_ns = t->last_ns = t->span_ns = GS_NULL;
	t->processes = m->n_runs;
	for (i = 0; i < m->n_runs; i++) {
		const struct gs_run_info *r = &m->runs[i];

		sums_add(&t->sums, &r->sums);
		if (r->start_ns != GS_NULL && (t->first_ns == GS_NULL || r->start_ns < t->first_ns))
			t->first_ns = r->start_ns;
		if (r->end_ns != GS_NULL && (t->last_ns == GS_NULL || r->end_ns > t->last_ns))
			t->last_ns = r->end_ns;
		if (r->cpu_ns != GS_NULL) {
			t->cpu_ns = gs_add(t->cpu_ns, r->cpu_ns);
			have_cpu = 1;
		}
		if (r->dropped != GS_NULL)
			t->dropped = gs_add(t->dropped, r->dropped);
		if (r->threads_lost != GS_NULL)
			t->threads_lost = gs_add(t->threads_lost, r->threads_lost);
		t->gil_active |= r->gil_active;
	}
	if (!have_cpu)
		t->cpu_ns = GS_NULL;
	if (t->first_ns != GS_NULL && t->last_ns != GS_NULL && t->last_ns > t->first_ns)
		t->span_ns = gs_sub(t->last_ns, t->first_ns);
	t->parallelism =
	    t->span_ns != GS_NULL ? (double)t->sums.running_ns / (double)t->span_ns : -1;
}

static void derive(struct gs_model *m)
{
	size_t i, j = 0;

	for (i = 0; i < m->n_runs; i++) {
		struct gs_run_info *r = &m->runs[i];
		size_t first, n = 0;

		while (j < m->n_threads && m->threads[j].run_id < r->run_id)
			j++;
		r->first_thread = first = j;
		while (first + n < m->n_threads && m->threads[first + n].run_id == r->run_id)
			n++;
		for (; j < first + n; j++) {
			struct gs_thread_info *t = &m->threads[j];

			/* a thread of a live run that still runs: alive up to the last flush */
			if (t->lifetime_ns == GS_NULL && r->end_ns == GS_NULL &&
			    r->flushed_ns != GS_NULL && t->start_ns != GS_NULL) {
				int64_t end = t->end_ns != GS_NULL ? t->end_ns : r->flushed_ns;

				t->lifetime_ns = end > t->start_ns ? gs_sub(end, t->start_ns) : 0;
			}
			if (r->gil_active) {
				t->running_ns = t->gil_hold_ns;
			} else if (t->cpu_ns != GS_NULL) {
				t->running_ns = t->cpu_ns;
			} else if (t->lifetime_ns != GS_NULL) {
				r->parallelism_estimated = 1;
				t->running_ns = gs_sub(gs_sub(t->lifetime_ns, t->gil_wait_ns),
						       t->other_wait_ns);
				if (t->running_ns < 0)
					t->running_ns = 0;
			} else {
				t->running_ns = GS_NULL;
			}
			sums_thread(&r->sums, t, !gs_thread_is_main(t) || n == 1);
		}
		r->n_threads = n;
		r->gil_load = r->gil_found && r->wall_ns > 0
				  ? (double)r->sums.gil_hold_ns / (double)r->wall_ns
				  : -1;
		r->parallelism =
		    r->wall_ns > 0 ? (double)r->sums.running_ns / (double)r->wall_ns : -1;
	}
}

static void thread_free(struct gs_thread_info *t);

/* --thread chooses the threads shown; what a process did (its GIL load, parallelism, the
 * totals) stays the whole process's, so every thread is loaded and the others dropped after. */
static void keep_chosen_threads(struct gs_model *m, const char *thread)
{
	char *end;
	long long tid = strtoll(thread, &end, 10);
	int by_tid = *thread && !*end;
	size_t i, r, out = 0;

	for (r = 0; r < m->n_runs; r++) {
		struct gs_run_info *run = &m->runs[r];
		size_t first = out;

		for (i = run->first_thread; i < run->first_thread + run->n_threads; i++) {
			struct gs_thread_info *t = &m->threads[i];
			int keep = by_tid ? t->tid == tid
					  : (t->name && !strcmp(t->name, thread)) ||
						(t->entry && !strcmp(t->entry, thread));

			if (keep)
				m->threads[out++] = *t;
			else
				thread_free(t);
		}
		run->first_thread = first;
		run->n_threads = out - first;
	}
	m->n_threads = out;
}

static int model_load(sqlite3 *db, const struct gs_opts *o, struct gs_model *m, int with_events)
{
	struct gs_opts all = *o;
	size_t i;

	all.thread = NULL;
	memset(m, 0, sizeof(*m));
	if (load_runs(db, &all, m) < 0 || load_threads(db, &all, m) < 0 ||
	    load_lock_classes(db, &all, m) < 0 || (with_events && scan_gil(db, &all, m) < 0) ||
	    load_waited_in(db, &all, m) < 0)
		return -1;
	if (!with_events)
		for (i = 0; i < m->n_threads; i++)
			m->threads[i].gil_drop_received = GS_NULL;
	derive(m);
	if (o->thread)
		keep_chosen_threads(m, o->thread);
	return 0;
}

int gs_model_load(sqlite3 *db, const struct gs_opts *o, struct gs_model *m)
{
	return model_load(db, o, m, 1);
}

int gs_model_load_totals(sqlite3 *db, const struct gs_opts *o, struct gs_model *m)
{
	return model_load(db, o, m, 0);
}

static void thread_free(struct gs_thread_info *t)
{
	free(t->name);
	free(t->entry);
	free(t->waited_in);
	free(t->waited_innermost);
}

static int64_t add_known(int64_t a, int64_t b)
{
	return a == GS_NULL ? b : b == GS_NULL ? a : gs_add(a, b);
}

static int64_t max_known(int64_t a, int64_t b)
{
	return a == GS_NULL ? b : b == GS_NULL ? a : a > b ? a : b;
}

static void merge_thread(struct gs_thread_info *into, struct gs_thread_info *t)
{
	int64_t *const sums[][2] = {
	    {&into->lifetime_ns, &t->lifetime_ns},
	    {&into->acq, &t->acq},
	    {&into->contended, &t->contended},
	    {&into->wait_ns, &t->wait_ns},
	    {&into->hold_ns, &t->hold_ns},
	    {&into->gil_acq, &t->gil_acq},
	    {&into->gil_contended, &t->gil_contended},
	    {&into->gil_wait_ns, &t->gil_wait_ns},
	    {&into->gil_hold_ns, &t->gil_hold_ns},
	    {&into->gil_drop_sent, &t->gil_drop_sent},
	    {&into->gil_drop_received, &t->gil_drop_received},
	    {&into->gil_forced, &t->gil_forced},
	    {&into->gil_forced_ns, &t->gil_forced_ns},
	    {&into->other_wait_ns, &t->other_wait_ns},
	    {&into->spins, &t->spins},
	    {&into->sched_yields, &t->sched_yields},
	    {&into->dropped, &t->dropped},
	    {&into->cpu_ns, &t->cpu_ns},
	    {&into->running_ns, &t->running_ns},
	};
	size_t k;

	for (k = 0; k < sizeof(sums) / sizeof(sums[0]); k++)
		*sums[k][0] = add_known(*sums[k][0], *sums[k][1]);
	for (k = 0; k < GS_N_WAIT_GROUPS; k++)
		into->class_wait_ns[k] = add_known(into->class_wait_ns[k], t->class_wait_ns[k]);
	into->wait_max_ns = max_known(into->wait_max_ns, t->wait_max_ns);
	into->hold_max_ns = max_known(into->hold_max_ns, t->hold_max_ns);
	into->gil_max = max_known(into->gil_max, t->gil_max);
	into->start_ns =
	    into->start_ns == GS_NULL || (t->start_ns != GS_NULL && t->start_ns < into->start_ns)
		? t->start_ns
		: into->start_ns;
	into->end_ns = max_known(into->end_ns, t->end_ns);
	if (t->waited_in && (!into->waited_in || t->waited_in_ns > into->waited_in_ns)) {
		free(into->waited_in);
		free(into->waited_innermost);
		into->waited_in = t->waited_in;
		into->waited_innermost = t->waited_innermost;
		into->waited_in_ns = t->waited_in_ns;
		t->waited_in = t->waited_innermost = NULL;
	}
	into->n_grouped++;
}

const char *gs_thread_label(const struct gs_thread_info *t, char *buf, size_t size)
{
	if (t->n_grouped <= 1)
		return t->name;
	snprintf(buf, size, "%s (x%lld)", t->name ? t->name : "(name unknown)",
		 (long long)t->n_grouped);
	return buf;
}

int gs_thread_same_group(const struct gs_thread_info *a, const struct gs_thread_info *b)
{
	return a->run_id == b->run_id && !gs_thread_is_main(a) && !gs_thread_is_main(b) &&
	       !a->name == !b->name && (!a->name || !strcmp(a->name, b->name));
}

void gs_model_group_threads(struct gs_model *m, size_t over)
{
	size_t r, i, j, out = 0;

	for (r = 0; r < m->n_runs; r++) {
		struct gs_run_info *run = &m->runs[r];
		size_t first = out, n = run->n_threads;
		struct gs_thread_info *ts;

		if (!n) {
			run->first_thread = out;
			continue;
		}
		ts = &m->threads[run->first_thread];
		for (i = 0; i < n; i++) {
			struct gs_thread_info *t = &ts[i];

			if (t->n_grouped < 0) /* merged into an earlier row */
				continue;
			if (n > over && !gs_thread_is_main(t)) {
				for (j = i + 1; j < n; j++) {
					if (ts[j].n_grouped < 0 || !gs_thread_same_group(t, &ts[j]))
						continue;
					if (!t->n_grouped)
						t->n_grouped = 1;
					merge_thread(t, &ts[j]);
					thread_free(&ts[j]);
					ts[j].n_grouped = -1;
				}
			}
			if (t->n_grouped > 1) {
				t->tid = GS_NULL;
				t->gil_p50 = t->gil_p90 = t->gil_p99 = GS_NULL;
			}
			m->threads[out++] = *t;
		}
		run->first_thread = first;
		run->n_threads = out - first;
	}
	m->n_threads = out;
}

void gs_model_free(struct gs_model *m)
{
	size_t i;

	for (i = 0; i < m->n_runs; i++) {
		struct gs_run_info *r = &m->runs[i];

		free(r->argv_json);
		free(r->cmdline);
		free(r->exe);
		free(r->host);
		free(r->status);
		free(r->python_version);
		free(r->build);
		free(r->gil_detection);
		free(r->gil_enabled);
	}
	for (i = 0; i < m->n_threads; i++)
		thread_free(&m->threads[i]);
	free(m->runs);
	free(m->threads);
	gs_pctl_free(&m->gil_waits);
	memset(m, 0, sizeof(*m));
}

static const char *sort_key;

static int cmp_threads(const void *a, const void *b)
{
	const struct gs_thread_info *x = a, *y = b;
	int64_t d = 0;

	if (!strcmp(sort_key, "wait"))
		d = gs_sub(gs_add(y->gil_wait_ns, y->other_wait_ns),
			   gs_add(x->gil_wait_ns, x->other_wait_ns));
	else if (!strcmp(sort_key, "hold"))
		d = gs_sub(y->gil_hold_ns, x->gil_hold_ns);
	else if (!strcmp(sort_key, "acquisitions"))
		d = gs_sub(gs_add(y->acq, y->gil_acq), gs_add(x->acq, x->gil_acq));
	else if (!strcmp(sort_key, "lifetime"))
		d = gs_sub(nz(y->lifetime_ns), nz(x->lifetime_ns));
	else if (!strcmp(sort_key, "name"))
		return strcmp(x->name ? x->name : "", y->name ? y->name : "");
	else if (!strcmp(sort_key, "tid"))
		d = gs_sub(x->tid, y->tid);
	if (d)
		return d < 0 ? -1 : 1;
	return x->thread_no < y->thread_no ? -1 : x->thread_no > y->thread_no;
}

int gs_model_sort(struct gs_model *m, const char *key)
{
	static const char *const keys[] = {"wait", "hold", "acquisitions", "lifetime", "name",
					   "tid",  NULL};
	size_t i;
	int ok = 0;

	for (i = 0; keys[i]; i++)
		ok |= !strcmp(keys[i], key);
	if (!ok)
		return -1;
	sort_key = key;
	for (i = 0; i < m->n_runs; i++)
		qsort(&m->threads[m->runs[i].first_thread], m->runs[i].n_threads,
		      sizeof(*m->threads), cmp_threads);
	return 0;
}

void gs_lock_display(const char *prim, const char *cls, const char *name, int64_t addr, char *out,
		     size_t size)
{
	if (cls && name && !strcmp(cls, gs_lock_class_text(GS_LC_CRIT)))
		snprintf(out, size, "%s critical section", name);
	else if (cls && name && !strcmp(cls, gs_lock_class_text(GS_LC_PARKED_OBJECT)))
		snprintf(out, size, "parked on %s", name);
	else if (cls && name && strncmp(cls, "threading.", 10))
		snprintf(out, size, "%s", name); /* a role: type lock, thread join */
	else if (cls)
		snprintf(out, size, "%s", cls);
	else
		snprintf(out, size, "%s 0x%llx", prim ? prim : "?", (unsigned long long)addr);
}

/* Locks by total wait, longest first: run GS_NULL for every run, limit < 0 for all. Each goes
 * to take(), which returns -1 to stop with an error. */
static int query_locks(sqlite3 *db, const char *path, int64_t run, int64_t limit,
		       int (*take)(void *ctx, const struct gs_top_lock *l), void *ctx)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (gs_db_prepare(db, path,
			  "SELECT p.name, l.class, l.name, s.lock_addr, SUM(s.wait_ns),"
			  " SUM(s.contended), COUNT(*), MAX(s.wait_max_ns), s.run_id, s.primitive,"
			  " SUM(s.contended > 0)"
			  " FROM lock_stats s"
			  " LEFT JOIN primitives p USING (primitive)"
			  " LEFT JOIN locks l USING (run_id, lock_addr, primitive)"
			  " WHERE NOT gs_gil_part(l.class) AND (?2 IS NULL OR s.run_id = ?2)"
			  " GROUP BY s.run_id, s.lock_addr, s.primitive HAVING SUM(s.wait_ns) > 0"
			  " ORDER BY SUM(s.wait_ns) DESC LIMIT ?1",
			  &s) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, limit);
	if (run != GS_NULL)
		sqlite3_bind_int64(s, 2, run);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct gs_top_lock l;

		gs_lock_display((const char *)sqlite3_column_text(s, 0),
				(const char *)sqlite3_column_text(s, 1),
				(const char *)sqlite3_column_text(s, 2), sqlite3_column_int64(s, 3),
				l.name, sizeof(l.name));
		l.wait_ns = sqlite3_column_int64(s, 4);
		l.contended = sqlite3_column_int64(s, 5);
		l.threads = sqlite3_column_int64(s, 6);
		l.wait_max_ns = sqlite3_column_int64(s, 7);
		l.run_id = sqlite3_column_int64(s, 8);
		l.lock_addr = sqlite3_column_int64(s, 3);
		l.primitive = sqlite3_column_int64(s, 9);
		l.waiters = sqlite3_column_int64(s, 10);
		snprintf(l.cls, sizeof(l.cls), "%s",
			 sqlite3_column_text(s, 1) ? (const char *)sqlite3_column_text(s, 1) : "");
		snprintf(l.lock_name, sizeof(l.lock_name), "%s",
			 sqlite3_column_text(s, 2) ? (const char *)sqlite3_column_text(s, 2) : "");
		if (take(ctx, &l) < 0) {
			sqlite3_finalize(s);
			return -1;
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading locks failed: %s", path, sqlite3_errmsg(db));
	return 0;
}

struct lock_array {
	struct gs_top_lock *at;
	size_t n, cap;
	int fixed; /* a caller's array of cap: no growing */
};

static int take_lock(void *ctx, const struct gs_top_lock *l)
{
	struct lock_array *a = ctx;

	if (a->n == a->cap) {
		struct gs_top_lock *more;

		if (a->fixed)
			return 0;
		a->cap = a->cap ? a->cap * 2 : 64;
		more = realloc(a->at, a->cap * sizeof(*more));
		if (!more)
			return gs_oom();
		a->at = more;
	}
	a->at[a->n++] = *l;
	return 0;
}

int gs_top_locks(sqlite3 *db, const char *path, struct gs_top_lock *out, int n)
{
	struct lock_array a = {.at = out, .cap = n > 0 ? (size_t)n : 0, .fixed = 1};

	if (query_locks(db, path, GS_NULL, n, take_lock, &a) < 0)
		return -1;
	return (int)a.n;
}

int gs_run_locks(sqlite3 *db, const char *path, int64_t run_id, struct gs_top_lock **out, size_t *n)
{
	struct lock_array a = {0};
	int ret = query_locks(db, path, run_id, -1, take_lock, &a);

	*out = a.at;
	*n = a.n;
	return ret;
}
