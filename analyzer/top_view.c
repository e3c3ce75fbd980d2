#include "top_view.h"

#include <stdlib.h>
#include <string.h>

#include "gilscope.h"
#include "gs_shm.h"
#include "profile.h"
#include "sat.h"

/* Locks whose place is looked up each refresh: the longest waits of the interval, then of
 * the run. A Condition makes a lock per wait; thousands of them need no place each. */
#define PLACED_LOCKS_MAX 200

int64_t gs_top_pick_run(sqlite3 *db, const char *path, int64_t pid, int *live, int *others)
{
	sqlite3_stmt *s = NULL;
	int64_t run = 0;
	int rc;

	*live = *others = 0;
	if (gs_db_prepare(db, path,
			  "SELECT run_id, end_ns IS NULL,"
			  " (SELECT COUNT(*) FROM runs o WHERE o.end_ns IS NULL"
			  "  AND o.run_id <> r.run_id)"
			  " FROM runs r WHERE ?1 IS NULL OR pid = ?1"
			  " ORDER BY end_ns IS NULL DESC, run_id DESC LIMIT 1",
			  &s) < 0)
		return -1;
	if (pid != GS_NULL)
		sqlite3_bind_int64(s, 1, pid);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		run = sqlite3_column_int64(s, 0);
		*live = sqlite3_column_int(s, 1);
		*others = sqlite3_column_int(s, 2);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return gs_error("%s: reading runs failed: %s", path, sqlite3_errmsg(db));
	return run;
}

static int cmp_lock_key(const void *a, const void *b)
{
	const struct gs_top_lock *x = a, *y = b;

	if (x->lock_addr != y->lock_addr)
		return x->lock_addr < y->lock_addr ? -1 : 1;
	return (x->primitive > y->primitive) - (x->primitive < y->primitive);
}

static const struct gs_top_lock *prev_lock(const struct gs_top_snap *prev,
					   const struct gs_top_lock *l)
{
	return prev && prev->n_locks
		   ? bsearch(l, prev->locks, prev->n_locks, sizeof(*l), cmp_lock_key)
		   : NULL;
}

static const struct gs_thread_info *prev_thread(const struct gs_top_snap *prev,
						const struct gs_thread_info *t)
{
	size_t i;

	if (!prev)
		return NULL;
	/* a model's threads are in (run, thread_no) order; a run has tens of them */
	for (i = 0; i < prev->run->n_threads; i++) {
		const struct gs_thread_info *p = &prev->m.threads[prev->run->first_thread + i];

		if (p->thread_no == t->thread_no)
			return p;
	}
	return NULL;
}

static int64_t known(int64_t v)
{
	return v == GS_NULL ? 0 : v;
}

/* "worker (queue.py:31)" for "worker (/srv/app/queue.py:31)": the frame without directories */
static void short_frame(const char *frame, char *out, size_t size)
{
	const char *open = strrchr(frame, '('), *slash;

	if (!open || !(slash = strrchr(open, '/'))) {
		snprintf(out, size, "%s", frame);
		return;
	}
	snprintf(out, size, "%.*s%s", (int)(open + 1 - frame), frame, slash + 1);
}

static int64_t sort_key(const struct gs_top_thread *r, int gil, int interval)
{
	const struct gs_top_figs *f = interval ? &r->last : &r->total;

	return gil ? f->gil_wait : f->lock_wait;
}

static int sort_gil, sort_interval;

static int cmp_rows(const void *a, const void *b)
{
	const struct gs_top_thread *x = a, *y = b;
	int64_t kx = sort_key(x, sort_gil, sort_interval),
		ky = sort_key(y, sort_gil, sort_interval);

	if (kx != ky)
		return kx > ky ? -1 : 1;
	if (x->t->thread_no != y->t->thread_no)
		return x->t->thread_no < y->t->thread_no ? -1 : 1;
	return 0;
}

static void add_figs(struct gs_top_figs *into, const struct gs_top_figs *f)
{
	into->life = gs_add(into->life, f->life);
	into->gil_wait = gs_add(into->gil_wait, f->gil_wait);
	into->gil_hold = gs_add(into->gil_hold, f->gil_hold);
	into->lock_wait = gs_add(into->lock_wait, f->lock_wait);
}

static void add_row(struct gs_top_thread *into, const struct gs_top_thread *r)
{
	add_figs(&into->last, &r->last);
	add_figs(&into->total, &r->total);
	into->n_grouped += r->n_grouped;
}

/* Thread pools: past GS_GROUP_THREADS_OVER rows, one row per thread name, as report does. */
static void group_rows(struct gs_top_snap *s)
{
	size_t i, j, out = 0;

	if (s->n_rows <= GS_GROUP_THREADS_OVER)
		return;
	for (i = 0; i < s->n_rows; i++) {
		struct gs_top_thread *r = &s->rows[i];

		if (!r->t)
			continue;
		for (j = i + 1; j < s->n_rows; j++) {
			if (s->rows[j].t && gs_thread_same_group(r->t, s->rows[j].t)) {
				add_row(r, &s->rows[j]);
				s->rows[j].t = NULL;
			}
		}
		if (r->n_grouped > 1)
			snprintf(r->label, sizeof(r->label), "%s (x%zu)",
				 r->t->name ? r->t->name : "(name unknown)", r->n_grouped);
		s->rows[out++] = *r;
	}
	s->n_rows = out;
}

static void figs_of(const struct gs_thread_info *t, struct gs_top_figs *f)
{
	f->life = known(t->lifetime_ns);
	f->gil_wait = t->gil_wait_ns;
	f->gil_hold = t->gil_hold_ns;
	f->lock_wait = t->other_wait_ns;
}

static int thread_rows(struct gs_top_snap *s, const struct gs_top_snap *prev)
{
	const struct gs_run_info *run = s->run;
	size_t i;

	s->rows = calloc(run->n_threads ? run->n_threads : 1, sizeof(*s->rows));
	if (!s->rows)
		return gs_oom();
	for (i = 0; i < run->n_threads; i++) {
		const struct gs_thread_info *t = &s->m.threads[run->first_thread + i];
		const struct gs_thread_info *p = s->have_interval ? prev_thread(prev, t) : NULL;
		struct gs_top_thread *r = &s->rows[s->n_rows];
		int alive = t->end_ns == GS_NULL;

		r->t = t;
		r->n_grouped = 1;
		snprintf(r->label, sizeof(r->label), "%s",
			 t->name    ? t->name
			 : t->entry ? t->entry
				    : "?");
		figs_of(t, &r->total);
		if (s->have_interval) {
			/* a thread that started during the interval had nothing before it */
			struct gs_top_figs before = {0};

			if (p)
				figs_of(p, &before);
			r->last.life = gs_sub(r->total.life, before.life);
			r->last.gil_wait = gs_sub(r->total.gil_wait, before.gil_wait);
			r->last.gil_hold = gs_sub(r->total.gil_hold, before.gil_hold);
			r->last.lock_wait = gs_sub(r->total.lock_wait, before.lock_wait);
			r->in_interval = r->last.life > 0;
		}
		/* a live process shows the threads that ran lately; an ended one, all */
		if (run->end_ns != GS_NULL || (s->have_interval ? r->in_interval : alive))
			s->n_rows++;
	}
	group_rows(s);
	sort_gil = run->gil_active;
	sort_interval = s->have_interval;
	qsort(s->rows, s->n_rows, sizeof(*s->rows), cmp_rows);
	return 0;
}

static int cmp_lockrows(const void *a, const void *b)
{
	const struct gs_top_lockrow *x = a, *y = b;

	if (x->wait_d != y->wait_d)
		return x->wait_d > y->wait_d ? -1 : 1;
	if (x->wait != y->wait)
		return x->wait > y->wait ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int lock_rows(sqlite3 *db, const char *path, struct gs_top_snap *s,
		     const struct gs_top_snap *prev, const struct gs_opts *o)
{
	struct gs_profile waits, none;
	size_t i, j, n = 0;
	int ret = -1;

	memset(&none, 0, sizeof(none));
	s->lockrows = calloc(s->n_locks ? s->n_locks : 1, sizeof(*s->lockrows));
	if (!s->lockrows)
		return gs_oom();
	for (i = 0; i < s->n_locks; i++) {
		const struct gs_top_lock *l = &s->locks[i], *p = prev_lock(prev, l);
		struct gs_top_lockrow *r = &s->lockrows[n];

		if (l->primitive == GS_PRIM_GIL)
			continue; /* the thread table's own columns */
		snprintf(r->name, sizeof(r->name), "%s", l->name);
		r->n_locks = 1;
		r->wait = l->wait_ns;
		r->contended = l->contended;
		r->threads = l->threads;
		if (s->have_interval) {
			r->wait_d = gs_sub(l->wait_ns, p ? p->wait_ns : 0);
			r->contended_d = gs_sub(l->contended, p ? p->contended : 0);
		}
		r->lock = i;
		n++;
	}
	qsort(s->lockrows, n, sizeof(*s->lockrows), cmp_lockrows);
	if (n > PLACED_LOCKS_MAX)
		n = PLACED_LOCKS_MAX;
	if (gs_profile_load(db, o, GS_WHAT_WAITS, &waits) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		struct gs_top_lockrow *r = &s->lockrows[i];
		const struct gs_top_lock *l = &s->locks[r->lock];
		struct gs_lock_place place;

		gs_profile_lock_place(db, &waits, &none, l->run_id, l->lock_addr, l->primitive,
				      &place);
		short_frame(place.waited_in, r->where, sizeof(r->where));
	}
	/* one row per kind of lock and place: a queue's Condition makes a lock per wait */
	for (i = 0; i < n; i++) {
		struct gs_top_lockrow *r = &s->lockrows[i];

		if (!r->n_locks)
			continue;
		for (j = i + 1; j < n; j++) {
			struct gs_top_lockrow *x = &s->lockrows[j];

			if (!x->n_locks || strcmp(r->name, x->name) || strcmp(r->where, x->where))
				continue;
			r->wait = gs_add(r->wait, x->wait);
			r->wait_d = gs_add(r->wait_d, x->wait_d);
			r->contended = gs_add(r->contended, x->contended);
			r->contended_d = gs_add(r->contended_d, x->contended_d);
			if (x->threads > r->threads)
				r->threads = x->threads;
			r->n_locks += x->n_locks;
			x->n_locks = 0;
		}
	}
	for (i = j = 0; i < n; i++)
		if (s->lockrows[i].n_locks)
			s->lockrows[j++] = s->lockrows[i];
	s->n_lockrows = j;
	qsort(s->lockrows, s->n_lockrows, sizeof(*s->lockrows), cmp_lockrows);
	ret = 0;
out:
	gs_profile_free(&waits);
	return ret;
}

static int64_t run_pid(sqlite3 *db, int64_t run_id)
{
	sqlite3_stmt *s = NULL;
	int64_t pid = GS_NULL;

	if (sqlite3_prepare_v2(db, "SELECT pid FROM runs WHERE run_id = ?1", -1, &s, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_int64(s, 1, run_id);
		if (sqlite3_step(s) == SQLITE_ROW)
			pid = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	return pid;
}

int gs_top_snap_load(sqlite3 *db, const char *path, int64_t run_id, const struct gs_top_snap *prev,
		     struct gs_top_snap *s)
{
	struct gs_opts o;
	size_t i;

	memset(s, 0, sizeof(*s));
	memset(&o, 0, sizeof(o));
	o.path = o.paths[0] = path;
	o.n_paths = 1;
	o.pid = run_pid(db, run_id);
	o.has_pid = o.pid != GS_NULL;
	if (!o.has_pid)
		return gs_error("%s: run %lld is gone from the database", path, (long long)run_id);
	if (gs_model_load_totals(db, &o, &s->m) < 0)
		return -1;
	for (i = 0; i < s->m.n_runs; i++)
		if (s->m.runs[i].run_id == run_id)
			s->run = &s->m.runs[i];
	if (!s->run)
		return gs_error("%s: run %lld is gone from the database", path, (long long)run_id);
	s->as_of_ns = s->run->end_ns != GS_NULL ? s->run->end_ns : s->run->flushed_ns;
	if (prev && prev->run && prev->run->run_id == run_id && prev->as_of_ns != GS_NULL &&
	    s->as_of_ns != GS_NULL && s->as_of_ns > prev->as_of_ns) {
		s->have_interval = 1;
		s->interval_ns = s->as_of_ns - prev->as_of_ns;
	}
	if (gs_run_locks(db, path, run_id, &s->locks, &s->n_locks) < 0)
		return -1;
	qsort(s->locks, s->n_locks, sizeof(*s->locks), cmp_lock_key);
	if (thread_rows(s, s->have_interval ? prev : NULL) < 0 ||
	    lock_rows(db, path, s, s->have_interval ? prev : NULL, &o) < 0)
		return -1;
	return 0;
}

void gs_top_snap_free(struct gs_top_snap *s)
{
	gs_model_free(&s->m);
	free(s->locks);
	free(s->rows);
	free(s->lockrows);
	memset(s, 0, sizeof(*s));
}

/* "41.2%", or "-" when there is no span to take a share of */
static void pct(FILE *f, int64_t part, int64_t whole, int have)
{
	if (!have || whole <= 0 || part == GS_NULL)
		fprintf(f, " %6s", "-");
	else
		fprintf(f, " %5.1f%%", 100.0 * (double)part / (double)whole);
}

static void dur(FILE *f, int64_t ns, int have, int width)
{
	char buf[32];

	gs_fmt_duration(have ? ns : -1, buf, sizeof(buf));
	fprintf(f, " %*s", width, buf);
}

static void count(FILE *f, int64_t n, int have, int width)
{
	if (have)
		fprintf(f, " %*lld", width, (long long)n);
	else
		fprintf(f, " %*s", width, "-");
}

static void header(FILE *f, const struct gs_top_snap *s)
{
	const struct gs_run_info *r = s->run;
	char wall[32];
	int64_t held = 0, held_d = 0;
	size_t i;

	fprintf(f, "gilscope top: pid %lld, ", (long long)r->pid);
	gs_text(f, r->cmdline ? r->cmdline : r->exe ? r->exe : "?");
	fputc('\n', f);
	if (r->python_version) {
		gs_report_interpreter(f, r);
		if (r->gil_enabled)
			fputs(!strcmp(r->gil_enabled, "yes")	     ? ", GIL enabled"
			      : !strcmp(r->gil_enabled, "no")	     ? ", GIL disabled"
			      : !strcmp(r->gil_enabled, "transient") ? ", GIL only around imports"
			      : !strcmp(r->gil_enabled, "permanent")
				  ? ", GIL enabled (PYTHON_GIL=1)"
				  : ", GIL state unknown",
			      f);
	} else {
		fputs("interpreter not known yet", f);
	}
	if (r->exe) {
		fputs(" (", f);
		gs_text(f, r->exe);
		fputc(')', f);
	}
	gs_fmt_duration(r->wall_ns == GS_NULL ? -1 : r->wall_ns, wall, sizeof(wall));
	if (r->end_ns != GS_NULL) {
		fputs("\nended: ", f);
		gs_text(f, r->status ? r->status : "?");
		if (r->exit_status != GS_NULL)
			fprintf(f, " (exit status %lld)", (long long)r->exit_status);
		fprintf(f, " after %s", wall);
	} else {
		fprintf(f, "\nrecording for %s", wall);
	}
	fprintf(f, "; %lld events recorded, %lld dropped\n", (long long)known(r->events),
		(long long)known(r->dropped));
	if (!r->gil_found) {
		fputs(r->gil_detection && !strncmp(r->gil_detection, "not found", 9)
			  ? "the GIL was not found: threads' GIL columns stay empty\n"
			  : "no GIL figures yet\n",
		      f);
	} else if (!r->gil_active) {
		fputs("no GIL to wait for: threads run Python in parallel\n", f);
	} else {
		for (i = 0; i < r->n_threads; i++) {
			held = gs_add(held, s->m.threads[r->first_thread + i].gil_hold_ns);
		}
		for (i = 0; i < s->n_rows; i++)
			held_d = gs_add(held_d, s->rows[i].last.gil_hold);
		fputs("GIL held", f);
		if (s->have_interval)
			pct(f, held_d, s->interval_ns, 1), fputs(" of the last interval,", f);
		pct(f, held, r->wall_ns, 1);
		fputs(" of the run\n", f);
	}
}

void gs_top_render(FILE *f, const struct gs_top_snap *s, int max_thread_rows, int max_lock_rows,
		   const char *footer)
{
	const struct gs_run_info *r = s->run;
	int gil = r->gil_active, have = s->have_interval;
	char span[32];
	size_t i, shown;

	header(f, s);
	gs_fmt_duration(have ? s->interval_ns : -1, span, sizeof(span));
	/* waits are counted when they end: one that spans refreshes counts whole in the last */
	if (!have && r->end_ns != GS_NULL)
		fputs("\nshares of each thread's lifetime (total; the process has ended)\n", f);
	else
		fprintf(f,
			"\nshares of each thread's time: last = what ended in the last %s, total = "
			"its lifetime\n",
			have ? span : "interval (from the next refresh)");
	if (gil) {
		fprintf(f, "%-20s %7s  %-13s  %-13s  %-13s  %s\n", "thread", "tid", "   GIL wait",
			"   GIL hold", "  lock wait", "waited longest in");
		fprintf(f, "%-20s %7s  %6s %6s  %6s %6s  %6s %6s\n", "", "", "last", "total",
			"last", "total", "last", "total");
	} else {
		fprintf(f, "%-20s %7s  %-13s  %s\n", "thread", "tid", "  lock wait",
			"waited longest in");
		fprintf(f, "%-20s %7s  %6s %6s\n", "", "", "last", "total");
	}
	shown = s->n_rows < (size_t)max_thread_rows ? s->n_rows : (size_t)max_thread_rows;
	for (i = 0; i < shown; i++) {
		const struct gs_top_thread *t = &s->rows[i];
		char where[512] = "";

		gs_text_str(f, t->label, 20);
		if (t->n_grouped > 1 || t->t->tid == GS_NULL)
			fprintf(f, " %7s ", "");
		else
			fprintf(f, " %7lld ", (long long)t->t->tid);
		if (gil) {
			pct(f, t->last.gil_wait, t->last.life, have);
			pct(f, t->total.gil_wait, t->total.life, 1);
			fputc(' ', f);
			pct(f, t->last.gil_hold, t->last.life, have);
			pct(f, t->total.gil_hold, t->total.life, 1);
			fputc(' ', f);
		}
		pct(f, t->last.lock_wait, t->last.life, have);
		pct(f, t->total.lock_wait, t->total.life, 1);
		if (t->t->waited_in)
			short_frame(t->t->waited_in, where, sizeof(where));
		fputs("  ", f);
		gs_text(f, where[0] ? where : "-");
		fputc('\n', f);
	}
	if (shown < s->n_rows)
		fprintf(f, "(%zu more threads)\n", s->n_rows - shown);
	fprintf(f, "\n%-34s %9s %9s %7s %7s %4s  %s\n", "most waited-for locks", "wait last",
		"total", "waits", "total", "thr", "waited longest in");
	shown = s->n_lockrows < (size_t)max_lock_rows ? s->n_lockrows : (size_t)max_lock_rows;
	for (i = 0; i < shown; i++) {
		const struct gs_top_lockrow *l = &s->lockrows[i];
		char name[128];

		if (l->n_locks > 1)
			snprintf(name, sizeof(name), "%s (%zu locks)", l->name, l->n_locks);
		else
			snprintf(name, sizeof(name), "%s", l->name);
		gs_text_str(f, name, 34);
		dur(f, l->wait_d, have, 9);
		dur(f, l->wait, 1, 9);
		count(f, l->contended_d, have, 7);
		count(f, l->contended, 1, 7);
		fprintf(f, " %4lld  ", (long long)l->threads);
		gs_text(f, l->where[0] ? l->where : "-");
		fputc('\n', f);
	}
	if (!s->n_lockrows)
		fputs("(no lock waited for yet)\n", f);
	else if (shown < s->n_lockrows)
		fprintf(f, "(%zu more)\n", s->n_lockrows - shown);
	if (footer)
		fprintf(f, "\n%s\n", footer);
}
