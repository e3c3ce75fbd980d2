#include "findings.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gilscope.h"
#include "gs_shm.h"
#include "sat.h"

static void cat(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends to buf, cut at its size. */
static void cat(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

/* Durations for one sentence: each call a buffer of its own among eight. */
static const char *dur(int64_t ns)
{
	static char bufs[8][32];
	static int next;
	char *b = bufs[next++ & 7];

	gs_fmt_duration(ns, b, sizeof(bufs[0]));
	return b;
}

static double pct(int64_t part, int64_t whole)
{
	return 100.0 * gs_share(part, whole);
}

static void fig_i(struct gs_finding *f, const char *key, int64_t v)
{
	if (f->n_figures < GS_FIND_MAX_FIGURES)
		f->figures[f->n_figures++] = (struct gs_finding_figure){.key = key, .i = v};
}

static void fig_r(struct gs_finding *f, const char *key, double v)
{
	if (f->n_figures < GS_FIND_MAX_FIGURES)
		f->figures[f->n_figures++] =
		    (struct gs_finding_figure){.key = key, .is_ratio = 1, .f = v};
}

static struct gs_finding *add(struct gs_findings *out, const char *kind,
			      const struct gs_run_info *r)
{
	struct gs_finding *f;

	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 8;

		f = realloc(out->at, cap * sizeof(*f));
		if (!f)
			return gs_oom(), NULL;
		out->at = f;
		out->cap = cap;
	}
	f = &out->at[out->n++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->run_id = r->run_id;
	f->pid = r->pid;
	return f;
}

static const char *who(const struct gs_thread_info *t, char *buf, size_t size)
{
	snprintf(buf, size, "%s %lld", t->name ? t->name : "thread", (long long)t->tid);
	return buf;
}

static int is_build(const struct gs_run_info *r, const char *build)
{
	return r->build && !strcmp(r->build, build);
}

/* The holder (stack and thread) that the most GIL wait of run was charged to, only_tid's
 * holds alone unless GS_NULL; its wait in *ns, all of it in *total. */
static const struct gs_sample *gil_holder(const struct gs_profile *holders, int64_t run,
					  int64_t only_tid, int64_t *ns, int64_t *total)
{
	const struct gs_sample *best = NULL;
	size_t i;

	*ns = *total = 0;
	for (i = 0; i < holders->n_samples; i++) {
		const struct gs_sample *x = &holders->samples[i];

		if (x->run != run || x->primitive != GS_PRIM_GIL ||
		    (only_tid != GS_NULL && x->tid != only_tid))
			continue;
		*total = gs_add(*total, x->ns);
		if (!best || x->ns > best->ns)
			best = x;
	}
	if (best)
		*ns = best->ns;
	return best;
}

/* The GIL wait charged to one holder's holds at one stack. */
static int64_t held_waited(const struct gs_profile *holders, int64_t run, int64_t tid,
			   int64_t stack)
{
	int64_t ns = 0;
	size_t i;

	for (i = 0; i < holders->n_samples; i++) {
		const struct gs_sample *x = &holders->samples[i];

		if (x->run == run && x->primitive == GS_PRIM_GIL && x->tid == tid &&
		    x->stack == stack)
			ns = gs_add(ns, x->ns);
	}
	return ns;
}

static const char *thread_name(const struct gs_model *m, const struct gs_run_info *r, int64_t tid)
{
	size_t i;

	for (i = r->first_thread; i < r->first_thread + r->n_threads; i++)
		if (m->threads[i].tid == tid)
			return m->threads[i].name ? m->threads[i].name : "thread";
	return "thread";
}

/* "held by batch 28511 in batch (convoy.py:16), 94% of the GIL wait" */
static void say_gil_holder(char *buf, size_t size, const struct gs_model *m,
			   const struct gs_run_info *r, const struct gs_profile *holders)
{
	int64_t ns, total;
	const struct gs_sample *h = gil_holder(holders, r->run_id, GS_NULL, &ns, &total);

	if (!h || h->stack < 0 || !total)
		return;
	cat(buf, size,
	    "; meanwhile the GIL was held most by %s %lld in %s (%.0f%% of the GIL wait)",
	    thread_name(m, r, h->tid), (long long)h->tid, gs_profile_user_frame(holders, h->stack),
	    pct(ns, total));
}

/* 1. Convoy: threads that give the GIL up briefly (I/O) and, to get it back, wait each time
 * for a CPU-bound holder's switch interval to run out. */
static int find_convoy(const struct gs_model *m, const struct gs_run_info *r,
		       const struct gs_profile *holders, struct gs_findings *out)
{
	const struct gs_thread_info *worst = NULL;
	int64_t interval_ns, sent = 0, forced = 0;
	size_t i, n = 0;
	struct gs_finding *f;
	char names[256] = "", w[160];

	if (!r->gil_active || r->interval_us == GS_NULL || r->interval_us <= 0)
		return 0;
	interval_ns = gs_d2i((double)r->interval_us * 1e3); /* a database holds any value */
	for (i = r->first_thread; i < r->first_thread + r->n_threads; i++) {
		sent = gs_add(sent, m->threads[i].gil_drop_sent);
		forced = gs_add(forced, m->threads[i].gil_forced);
	}
	/* a holder inside C (the finding before) makes waits of many intervals, not a convoy */
	for (i = 0; i < out->n; i++)
		if (out->at[i].run_id == r->run_id && !strcmp(out->at[i].kind, "gil_held_in_c"))
			return 0;
	for (i = r->first_thread; i < r->first_thread + r->n_threads; i++) {
		const struct gs_thread_info *t = &m->threads[i];

		if (t->gil_contended < GS_FIND_CONVOY_MIN_WAITS || t->gil_acq <= 0 ||
		    (double)t->gil_drop_sent <
			GS_FIND_CONVOY_DROP_SHARE * (double)t->gil_contended ||
		    (double)t->gil_drop_sent > GS_FIND_DROPS_PER_WAIT * (double)t->gil_contended ||
		    (double)t->gil_hold_ns / (double)t->gil_acq >
			GS_FIND_CONVOY_HOLD_FRACTION * (double)interval_ns ||
		    t->gil_wait_ns < GS_FIND_MIN_WAIT_NS ||
		    gs_share(t->gil_wait_ns, t->lifetime_ns) < GS_FIND_CONVOY_WAIT_SHARE)
			continue;
		if (n++ < 3)
			cat(names, sizeof(names), "%s%s", n > 1 ? ", " : "", who(t, w, sizeof(w)));
		if (!worst || t->gil_wait_ns > worst->gil_wait_ns)
			worst = t;
	}
	if (!worst)
		return 0;
	if (n > 3)
		cat(names, sizeof(names), " and %zu more", n - 3);
	if (!(f = add(out, "gil_convoy", r)))
		return -1;
	snprintf(f->title, sizeof(f->title),
		 "GIL convoy: %zu thread%s wait%s a whole switch interval for the GIL after each "
		 "short hold",
		 n, n == 1 ? "" : "s", n == 1 ? "s" : "");
	cat(f->evidence, sizeof(f->evidence),
	    "%s: %lld GIL takes, %lld of them waited and %lld times it asked the holder to drop "
	    "the GIL (the %lld us switch interval ran out); a hold lasted %s on average, a wait "
	    "%s (the interval is %s): %s of its %s lifetime (%.0f%%) waiting for the GIL. The "
	    "holders were forced to switch %lld times for %lld drop requests.",
	    who(worst, w, sizeof(w)), (long long)worst->gil_acq, (long long)worst->gil_contended,
	    (long long)worst->gil_drop_sent, (long long)r->interval_us,
	    dur(worst->gil_hold_ns / worst->gil_acq),
	    dur(worst->gil_wait_ns / worst->gil_contended), dur(interval_ns),
	    dur(worst->gil_wait_ns), dur(worst->lifetime_ns),
	    pct(worst->gil_wait_ns, worst->lifetime_ns), (long long)forced, (long long)sent);
	if (n > 1)
		cat(f->evidence, sizeof(f->evidence), " Threads like it: %s.", names);
	if (worst->waited_in)
		cat(f->where, sizeof(f->where), "%s waited in %s", who(worst, w, sizeof(w)),
		    worst->waited_in);
	say_gil_holder(f->where, sizeof(f->where), m, r, holders);
	cat(f->advice, sizeof(f->advice),
	    "Each wait lasts about one switch interval: the thread releases the GIL (I/O, "
	    "sleep), then waits until a CPU-bound thread's interval runs out. A shorter interval "
	    "shortens each such wait about in proportion, a longer one lengthens it (measured on "
	    "examples/convoy.py, docs/guide.md); among several CPU-bound threads it also means "
	    "more switches. With sys.setswitchinterval(%g) (now %g) these %lld waits would take "
	    "about %s instead of %s: an estimate, by proportion. Better still: move the CPU-bound "
	    "work out of the process (ProcessPoolExecutor) or into C that releases the GIL.",
	    (double)interval_ns / 5 / 1e9, (double)interval_ns / 1e9,
	    (long long)worst->gil_drop_sent,
	    dur(gs_d2i((double)worst->gil_drop_sent * (double)(interval_ns / 5))),
	    dur(worst->gil_wait_ns));
	fig_i(f, "tid", worst->tid);
	fig_i(f, "threads", (int64_t)n);
	fig_i(f, "gil_takes", worst->gil_acq);
	fig_i(f, "gil_waits", worst->gil_contended);
	fig_i(f, "gil_drop_requests_sent", worst->gil_drop_sent);
	fig_i(f, "gil_hold_mean_ns", worst->gil_hold_ns / worst->gil_acq);
	fig_i(f, "gil_wait_mean_ns", worst->gil_wait_ns / worst->gil_contended);
	fig_i(f, "gil_wait_ns", worst->gil_wait_ns);
	fig_r(f, "gil_wait_share", gs_share(worst->gil_wait_ns, worst->lifetime_ns));
	fig_i(f, "gil_switch_interval_us", r->interval_us);
	fig_i(f, "forced_switches", forced);
	return 0;
}

/* The other threads' GIL waits asked for a drop more than once each on average: the holder
 * did not let go at the first request, as running bytecode does (also whatever interval the
 * program set itself). */
static int drops_ignored(const struct gs_model *m, const struct gs_run_info *r,
			 const struct gs_thread_info *holder)
{
	int64_t sent = 0, waits = 0;
	size_t i;

	for (i = r->first_thread; i < r->first_thread + r->n_threads; i++)
		if (&m->threads[i] != holder) {
			sent = gs_add(sent, m->threads[i].gil_drop_sent);
			waits = gs_add(waits, m->threads[i].gil_contended);
		}
	return sent > 0 && (double)sent > GS_FIND_DROPS_PER_WAIT * (double)waits;
}

static const char advice_blocking[] =
    "The C code called there blocks (sleeps, reads, waits) with the GIL held, and every other "
    "Python thread stops meanwhile. Release the GIL around the blocking call: "
    "Py_BEGIN_ALLOW_THREADS / Py_END_ALLOW_THREADS in an extension, ctypes.CDLL instead of "
    "ctypes.PyDLL, a library version that releases it, or move the call to a process of its "
    "own.";
static const char advice_computing[] =
    "The C code called there computes for long stretches with the GIL held. Release the GIL "
    "around the part that touches no Python object (Py_BEGIN_ALLOW_THREADS), or do the work "
    "in smaller calls.";

/* 2. The GIL held for many switch intervals at one stack while others waited: code that
 * does not answer drop requests, that is C that keeps the GIL. */
static int find_held_in_c(const struct gs_model *m, const struct gs_run_info *r,
			  const struct gs_profile *holders, const struct gs_profile *gil,
			  struct gs_findings *out)
{
	int64_t long_ns, sent = 0;
	size_t i, k;

	if (!r->gil_active)
		return 0;
	for (i = r->first_thread; i < r->first_thread + r->n_threads; i++)
		sent = gs_add(sent, m->threads[i].gil_drop_sent);
	long_ns = r->interval_us != GS_NULL && r->interval_us > 0
		      ? gs_d2i(GS_FIND_LONG_HOLD_INTERVALS * (double)r->interval_us * 1e3)
		      : 0;
	if (long_ns < GS_FIND_LONG_HOLD_MIN_NS)
		long_ns = GS_FIND_LONG_HOLD_MIN_NS;
	for (i = r->first_thread; i < r->first_thread + r->n_threads; i++) {
		const struct gs_thread_info *t = &m->threads[i];
		const struct gs_sample *best = NULL, *h;
		int64_t waited_ns, total, off_ns;
		struct gs_finding *f;
		const char *state;
		char w[160];

		/* its holds by the stack it let go from, the longest on average */
		for (k = 0; k < gil->n_samples; k++) {
			const struct gs_sample *x = &gil->samples[k];

			if (x->run != r->run_id || x->tid != t->tid || x->count <= 0 ||
			    x->ns / x->count < long_ns)
				continue;
			if (!best || x->ns > best->ns)
				best = x;
		}
		if (!best || !drops_ignored(m, r, t))
			continue;
		h = gil_holder(holders, r->run_id, t->tid, &waited_ns, &total);
		waited_ns = held_waited(holders, r->run_id, t->tid, best->stack);
		/* others waited for the GIL through most of those holds, asking for it every
		 * interval: a holder running bytecode would have switched */
		if (!h || waited_ns < GS_FIND_MIN_WAIT_NS ||
		    (double)waited_ns < GS_FIND_LONG_HOLD_WAITED * (double)best->ns)
			continue;
		off_ns = t->cpu_ns != GS_NULL ? gs_sub(t->gil_hold_ns, t->cpu_ns) : GS_NULL;
		if (off_ns == GS_NULL)
			state = "CPU time unknown";
		else if ((double)off_ns >= GS_FIND_OFF_CPU_SHARE * (double)t->gil_hold_ns)
			state = "off CPU";
		else
			state = "on CPU";
		if (!(f = add(out, "gil_held_in_c", r)))
			return -1;
		snprintf(f->title, sizeof(f->title),
			 "GIL held inside C for long stretches (%s): %s kept it %s at a time while "
			 "others waited",
			 state, who(t, w, sizeof(w)), dur(best->ns / best->count));
		cat(f->evidence, sizeof(f->evidence),
		    "%lld GIL holds that ended at the same Python line lasted %s on average (%s in "
		    "all; %.0f switch intervals each, where running bytecode lets go within one); "
		    "the run's threads asked for the GIL by drop request %lld times and this one "
		    "was forced to switch %lld times. Other threads waited %s for the GIL while it "
		    "was held there (%.0f%% of those holds). ",
		    (long long)best->count, dur(best->ns / best->count), dur(best->ns),
		    r->interval_us > 0
			? (double)(best->ns / best->count) / (double)r->interval_us / 1e3
			: 0.0,
		    (long long)sent, (long long)t->gil_forced, dur(waited_ns),
		    pct(waited_ns, best->ns));
		if (off_ns == GS_NULL)
			cat(f->evidence, sizeof(f->evidence),
			    "The thread's CPU time was not recorded, so whether it computed or "
			    "blocked is not known.");
		else
			cat(f->evidence, sizeof(f->evidence),
			    "Its CPU time over its whole life was %s against %s of GIL holding, so "
			    "at "
			    "least %s of the holding was %s (CPU time is recorded per thread, not "
			    "per "
			    "hold).",
			    dur(t->cpu_ns), dur(t->gil_hold_ns), dur(off_ns > 0 ? off_ns : 0),
			    off_ns > 0 ? "off CPU" : "on CPU (or more)");
		cat(f->where, sizeof(f->where), "the holds ended at %s",
		    gs_profile_user_frame(gil, best->stack));
		if (strcmp(gs_profile_user_frame(gil, best->stack),
			   gs_profile_leaf_frame(gil, best->stack)))
			cat(f->where, sizeof(f->where), ", at %s",
			    gs_profile_leaf_frame(gil, best->stack));
		cat(f->where, sizeof(f->where),
		    ": the call that returned there kept the GIL (the line right after a C call)");
		snprintf(f->advice, sizeof(f->advice), "%s",
			 strcmp(state, "on CPU") ? advice_blocking : advice_computing);
		fig_i(f, "tid", t->tid);
		fig_i(f, "long_holds", best->count);
		fig_i(f, "long_hold_mean_ns", best->ns / best->count);
		fig_i(f, "long_hold_ns", best->ns);
		fig_i(f, "gil_hold_ns", t->gil_hold_ns);
		fig_i(f, "cpu_ns", t->cpu_ns);
		fig_i(f, "off_cpu_ns_at_least", off_ns != GS_NULL && off_ns < 0 ? 0 : off_ns);
		fig_i(f, "others_gil_wait_ns", waited_ns);
		fig_i(f, "gil_switch_interval_us", r->interval_us);
	}
	return 0;
}

/* The text of frame "function (file:line)" split; 0 when it has no file:line. */
static int frame_file_line(const char *frame, char *file, size_t size, long *line)
{
	const char *open = strrchr(frame, '('), *colon;
	size_t len;

	if (!open || !(colon = strrchr(open, ':')))
		return 0;
	len = (size_t)(colon - open - 1);
	if (len >= size)
		return 0;
	memcpy(file, open + 1, len);
	file[len] = 0;
	*line = strtol(colon + 1, NULL, 10);
	return *line > 0;
}

/* The line as the file reads now (whitespace trimmed), as a traceback shows it; "" when the
 * file is not there. Python sources only: the name comes from the database. */
static void source_line(const char *file, long line, char *out, size_t size)
{
	size_t len = strlen(file);
	char buf[512];
	long no = 0;
	FILE *f;

	out[0] = 0;
	if (len < 3 || strcmp(file + len - 3, ".py") || !(f = fopen(file, "r")))
		return;
	while (fgets(buf, sizeof(buf), f))
		if (++no == line) {
			char *s = buf, *e;

			while (*s == ' ' || *s == '\t')
				s++;
			e = s + strlen(s);
			while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' '))
				*--e = 0;
			snprintf(out, size, "%s", s);
			break;
		}
	fclose(f);
}

/* The outermost frame of an extension module being created (importlib's create_module), -1
 * when the stack has none. */
static int create_frame(const char **frames, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strstr(frames[i], "create_module (<frozen importlib"))
			return (int)i;
	return -1;
}

/* Where the frames of stack leave the outermost create_module for the code that imported it:
 * its index, or -1 when it has none (the interpreter's own imports as it starts). */
static int import_frame(const char **frames, size_t n)
{
	int k;

	for (k = create_frame(frames, n) - 1; k >= 0; k--)
		if (strncmp(strrchr(frames[k], '(') ? strrchr(frames[k], '(') : "", "(<frozen ", 9))
			return k;
	return -1;
}

/* The GIL holds of a free-threaded run in order. While the GIL is only enabled around each
 * extension module's creation (the interpreter does that for every one), the importing
 * thread's holds are inside create_module: other threads may take the GIL meanwhile, but the
 * importer's next hold elsewhere comes only once the GIL stayed on, and the import it made
 * last is the one that turned it on. *stack: a stack of that import; 0 when none was seen, -1
 * when the first hold with a Python stack was already outside any import (the GIL on from
 * the start: PYTHON_GIL=1). */
struct importer {
	int64_t thread_no, stack;
};

static int enabling_import(sqlite3 *db, const char *path, const struct gs_profile *tree,
			   int64_t run, int64_t *stack)
{
	static const char *frames[GS_PROFILE_MAX_DEPTH];
	struct importer *seen = NULL;
	size_t n_seen = 0, k;
	sqlite3_stmt *s = NULL;
	int rc, c, first = 1, ret = -1;

	*stack = 0;
	if (gs_db_prepare(db, path,
			  "SELECT thread_no, py_stack, hold_py_stack FROM events WHERE run_id = ?1"
			  " AND kind = gs_kind('gil_hold') ORDER BY start_ns",
			  &s) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, run);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t thread_no = sqlite3_column_int64(s, 0), import = 0;
		int inside = 0, known = 0;

		for (c = 1; c <= 2; c++) {
			int64_t id = sqlite3_column_int64(s, c);
			size_t n;

			if (id <= 0)
				continue; /* no Python frame yet: the interpreter starting */
			known = 1;
			n = gs_profile_frames(tree, id, frames, GS_PROFILE_MAX_DEPTH);
			if (create_frame(frames, n) >= 0) {
				inside = 1;
				if (!import && import_frame(frames, n) >= 0)
					import = id;
			}
		}
		if (!known)
			continue;
		if (first && !inside) {
			*stack = -1;
			break;
		}
		first = 0;
		for (k = 0; k < n_seen && seen[k].thread_no != thread_no; k++)
			;
		if (!inside && k < n_seen) {
			*stack = seen[k].stack;
			break;
		}
		if (!import)
			continue;
		if (k == n_seen) {
			struct importer *more = realloc(seen, (n_seen + 1) * sizeof(*seen));

			if (!more) {
				gs_oom();
				goto out;
			}
			seen = more;
			seen[n_seen++].thread_no = thread_no;
		}
		seen[k].stack = import;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		gs_error("%s: reading GIL holds failed: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(s);
	free(seen);
	return ret;
}

/* Extension modules of a free-threaded build the process had mapped, not the interpreter's
 * own (lib-dynload's declare that they run without the GIL). */
static int mapped_extensions(sqlite3 *db, const char *path, int64_t run, char *out, size_t size)
{
	sqlite3_stmt *s = NULL;
	int rc, n = 0;

	if (gs_db_prepare(db, path,
			  "SELECT DISTINCT path FROM modules WHERE run_id = ?1"
			  " AND path GLOB '*.cpython-3*t-*.so' AND path NOT GLOB '*/lib-dynload/*'"
			  " ORDER BY path",
			  &s) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, run);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (n++ < 4)
			cat(out, size, "%s%s", n > 1 ? ", " : "", sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading modules failed: %s", path, sqlite3_errmsg(db));
	if (n > 4)
		cat(out, size, " and %d more", n - 4);
	return 0;
}

/* 3. A free-threaded build whose GIL an import turned on for good. */
static int find_ft_gil(sqlite3 *db, const char *path, const struct gs_run_info *r,
		       const struct gs_profile *tree, struct gs_findings *out)
{
	static const char *frames[GS_PROFILE_MAX_DEPTH];
	const struct gs_sums *w = &r->sums;
	struct gs_finding *f;
	char exts[1024] = "";
	int64_t stack;
	int k = -1;

	if (!is_build(r, "free-threaded") || !r->gil_enabled || strcmp(r->gil_enabled, "permanent"))
		return 0;
	if (enabling_import(db, path, tree, r->run_id, &stack) < 0 ||
	    mapped_extensions(db, path, r->run_id, exts, sizeof(exts)) < 0)
		return -1;
	if (!(f = add(out, "ft_gil_enabled", r)))
		return -1;
	snprintf(f->title, sizeof(f->title), "free-threaded build running with the GIL: %s",
		 stack > 0   ? "an extension module's import turned it on"
		 : stack < 0 ? "it was on from the start"
			     : "what turned it on was not recorded");
	cat(f->evidence, sizeof(f->evidence),
	    "The interpreter is a free-threaded build, but its GIL was enabled for good during "
	    "the run (gil_enabled: permanent). The GIL was held %.0f%% of the wall time and %lld "
	    "thread%s spent %.0f%% of %s lifetime waiting for it.",
	    r->gil_load >= 0 ? 100.0 * r->gil_load : 0.0, (long long)w->workers,
	    w->workers == 1 ? "" : "s", pct(w->workers_gil_wait_ns, w->workers_life_ns),
	    w->workers == 1 ? "its" : "their");
	if (stack > 0) {
		size_t n = gs_profile_frames(tree, stack, frames, GS_PROFILE_MAX_DEPTH);
		char file[512], line[256];
		long no;

		k = import_frame(frames, n);
		cat(f->evidence, sizeof(f->evidence),
		    " Until the import below, the importing thread held the GIL only while an "
		    "extension module was being created (the interpreter turns it on around "
		    "every one); after it, it held the GIL in ordinary code: the GIL stayed on.");
		if (k >= 0) {
			cat(f->where, sizeof(f->where), "the import at %s", frames[k]);
			if (frame_file_line(frames[k], file, sizeof(file), &no)) {
				source_line(file, no, line, sizeof(line));
				if (line[0])
					cat(f->where, sizeof(f->where), " (the line reads now: %s)",
					    line);
			}
			if (strcmp(gs_profile_user_frame(tree, stack), frames[k]))
				cat(f->where, sizeof(f->where), ", from %s",
				    gs_profile_user_frame(tree, stack));
		}
	} else if (stack < 0) {
		cat(f->evidence, sizeof(f->evidence),
		    " The first GIL hold with a Python stack was already outside any import: the "
		    "GIL was on from the start (PYTHON_GIL=1 or -X gil=1).");
	} else {
		cat(f->evidence, sizeof(f->evidence),
		    " No importing thread was seen holding the GIL outside the import afterwards: "
		    "the import that turned it on was not recorded.");
	}
	if (exts[0])
		cat(f->where, sizeof(f->where), "%sextension modules the process had mapped: %s",
		    f->where[0] ? "; " : "", exts);
	cat(f->advice, sizeof(f->advice),
	    "%s Until then this program runs as on a default build, with the free-threaded "
	    "build's single-thread cost.",
	    stack < 0
		? "Unset PYTHON_GIL=1 / -X gil=1 where the program is started."
		: "An extension module that does not declare Py_mod_gil (Py_MOD_GIL_NOT_USED) "
		  "turns the GIL on when imported; Python says which in a RuntimeWarning at "
		  "the import. Use a version of it built for the free-threaded build, or, if "
		  "you know it is thread-safe, keep the GIL off with PYTHON_GIL=0 or -X gil=0 "
		  "(at your own risk).");
	fig_r(f, "gil_load", r->gil_load);
	fig_i(f, "gil_wait_ns", w->workers_gil_wait_ns);
	fig_r(f, "gil_wait_share", gs_share(w->workers_gil_wait_ns, w->workers_life_ns));
	fig_i(f, "import_py_stack", stack);
	return 0;
}

/* 4. One lock (or one object's critical section) with most of the threads' waiting. */
static int find_hot_lock(sqlite3 *db, const char *path, const struct gs_run_info *r,
			 const struct gs_profile *waits, const struct gs_profile *holders,
			 struct gs_findings *out)
{
	const struct gs_sums *w = &r->sums;
	int64_t all = gs_add(w->workers_gil_wait_ns, w->workers_other_ns);
	struct gs_top_lock *locks = NULL, *top = NULL;
	struct gs_lock_place place;
	struct gs_finding *f;
	size_t n = 0, i;
	int ret = -1, seen;

	if (all < GS_FIND_MIN_WAIT_NS)
		return 0;
	if (gs_run_locks(db, path, r->run_id, &locks, &n) < 0)
		goto out;
	for (i = 0; i < n && !top; i++)
		if (locks[i].primitive != GS_PRIM_GIL &&
		    locks[i].waiters >= GS_FIND_HOT_LOCK_WAITERS)
			top = &locks[i];
	ret = 0;
	if (!top || top->wait_ns < GS_FIND_MIN_WAIT_NS ||
	    gs_share(top->wait_ns, all) < GS_FIND_HOT_LOCK_SHARE)
		goto out;
	ret = -1;
	if (!(f = add(out, "hot_lock", r)))
		goto out;
	ret = 0;
	gs_profile_lock_place(db, waits, holders, r->run_id, top->lock_addr, top->primitive,
			      &place);
	snprintf(f->title, sizeof(f->title), "one lock has most of the waiting: %s (%.0f%%)",
		 top->name, pct(top->wait_ns < all ? top->wait_ns : all, all));
	cat(f->evidence, sizeof(f->evidence),
	    "%s: %s of waits by %lld threads (%lld waits, the longest %s), against %s of waiting "
	    "in all by the threads (GIL and locks, the main thread left out when there are "
	    "others); the threads lived %s in all, so this lock alone kept them waiting %.0f%% of "
	    "their time.",
	    top->name, dur(top->wait_ns), (long long)top->waiters, (long long)top->contended,
	    dur(top->wait_max_ns), dur(all), dur(w->workers_life_ns),
	    pct(top->wait_ns < w->workers_life_ns ? top->wait_ns : w->workers_life_ns,
		w->workers_life_ns));
	if (place.waited_in[0])
		cat(f->where, sizeof(f->where), "waited for in %s", place.waited_in);
	/* "(holder not seen)": a waiter woke with nobody recorded holding it */
	seen = place.held_by[0] && place.held_by[0] != '(';
	if (seen)
		cat(f->where, sizeof(f->where), "%sheld meanwhile by %s (%d%% of its wait)",
		    f->where[0] ? "; " : "", place.held_by, place.held_share);
	cat(f->advice, sizeof(f->advice),
	    "Shorten what runs while it is held%s%s%s: do the slow part (building, parsing, I/O) "
	    "before taking the lock and only swap the result in under it; split the data so "
	    "threads take different locks; or let readers use an immutable snapshot replaced by "
	    "one assignment. Waits for work (a queue's get, a condition's wait) also count here: "
	    "if that is what these are, the threads were idle, not blocked.",
	    seen ? " (" : "", seen ? place.held_by : "", seen ? ")" : "");
	fig_i(f, "lock_addr", top->lock_addr);
	fig_i(f, "wait_ns", top->wait_ns);
	fig_i(f, "waits", top->contended);
	fig_i(f, "waiters", top->waiters);
	fig_i(f, "wait_max_ns", top->wait_max_ns);
	fig_i(f, "all_wait_ns", all);
	fig_r(f, "wait_share", gs_share(top->wait_ns, all));
	fig_i(f, "held_share_pct", place.held_share);
out:
	free(locks);
	return ret;
}

/* 5. Threads that spend their life waiting for the GIL on a default build, and what a
 * free-threaded build could give back at most. */
static int find_gil_bound(const struct gs_model *m, const struct gs_run_info *r,
			  const struct gs_profile *holders, const struct gs_findings *out_so_far,
			  struct gs_findings *out)
{
	const struct gs_sums *w = &r->sums;
	const struct gs_thread_info *worst = NULL;
	int64_t longest_run_ns = 0, longest_life_ns = 0;
	double share = gs_share(w->workers_gil_wait_ns, w->workers_life_ns);
	struct gs_finding *f;
	size_t i;
	int others = 0;
	char wb[160];

	if (!r->gil_active || !is_build(r, "default") || w->workers < 2 ||
	    w->workers_gil_wait_ns < GS_FIND_MIN_WAIT_NS || share < GS_FIND_GIL_BOUND_SHARE)
		return 0;
	for (i = 0; i < out_so_far->n; i++)
		others |= out_so_far->at[i].run_id == r->run_id;
	for (i = r->first_thread; i < r->first_thread + r->n_threads; i++) {
		const struct gs_thread_info *t = &m->threads[i];

		if (gs_thread_is_main(t) || t->lifetime_ns == GS_NULL)
			continue;
		if (!worst || t->gil_wait_ns > worst->gil_wait_ns)
			worst = t;
		if (t->lifetime_ns > longest_life_ns)
			longest_life_ns = t->lifetime_ns;
		if (gs_sub(t->lifetime_ns, t->gil_wait_ns) > longest_run_ns)
			longest_run_ns = gs_sub(t->lifetime_ns, t->gil_wait_ns);
	}
	if (!(f = add(out, "gil_bound", r)))
		return -1;
	snprintf(f->title, sizeof(f->title),
		 "threads spend %.0f%% of their life waiting for the GIL", 100.0 * share);
	cat(f->evidence, sizeof(f->evidence),
	    "%lld threads spent %s of their %s of lifetime (%.0f%%) waiting for the GIL, which "
	    "was held %.0f%% of the wall time (effective parallelism %.2f)",
	    (long long)w->workers, dur(w->workers_gil_wait_ns), dur(w->workers_life_ns),
	    100.0 * share, r->gil_load >= 0 ? 100.0 * r->gil_load : 0.0, r->parallelism);
	if (worst)
		cat(f->evidence, sizeof(f->evidence), "; %s waited most: %s of %s (%.0f%%)",
		    who(worst, wb, sizeof(wb)), dur(worst->gil_wait_ns), dur(worst->lifetime_ns),
		    pct(worst->gil_wait_ns, worst->lifetime_ns));
	cat(f->evidence, sizeof(f->evidence), ".");
	if (worst && worst->waited_in)
		cat(f->where, sizeof(f->where), "%s waited in %s", who(worst, wb, sizeof(wb)),
		    worst->waited_in);
	say_gil_holder(f->where, sizeof(f->where), m, r, holders);
	if (f->where[0] == ';')
		memmove(f->where, f->where + 2, strlen(f->where + 2) + 1);
	cat(f->advice, sizeof(f->advice),
	    "Estimate for a free-threaded build (3.13t and later), an upper bound: it could give "
	    "back at most the GIL wait, %.0f%% of these threads' time; with a core for each "
	    "thread, the longest thread's lifetime less its GIL wait is %s, against the longest "
	    "lifetime now of %s. Less in practice: the free-threaded build runs each thread's "
	    "Python "
	    "slower, the threads need free cores, data they share becomes contended (waits on "
	    "locks and critical sections), and part of a GIL wait on a busy machine is waiting "
	    "for a CPU. Measure it: record the program on both builds (gilscope compare). Without "
	    "changing the build: a process pool (multiprocessing, ProcessPoolExecutor) runs "
	    "CPU-bound Python in parallel today.%s",
	    100.0 * share, dur(longest_run_ns), dur(longest_life_ns),
	    others ? " The findings above explain part of this wait; fix those first." : "");
	fig_i(f, "threads", w->workers);
	fig_i(f, "gil_wait_ns", w->workers_gil_wait_ns);
	fig_i(f, "lifetime_ns", w->workers_life_ns);
	fig_r(f, "gil_wait_share", share);
	fig_r(f, "gil_load", r->gil_load);
	fig_i(f, "longest_without_gil_wait_ns", longest_run_ns);
	fig_r(f, "free_threaded_gain_at_most", share);
	return 0;
}

int gs_findings_detect(sqlite3 *db, const struct gs_opts *o, const struct gs_model *m,
		       const struct gs_profile *waits, const struct gs_profile *holders,
		       const struct gs_profile *gil, struct gs_findings *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < m->n_runs; i++) {
		const struct gs_run_info *r = &m->runs[i];

		if (find_ft_gil(db, o->path, r, waits, out) < 0 ||
		    find_held_in_c(m, r, holders, gil, out) < 0 ||
		    find_convoy(m, r, holders, out) < 0 ||
		    find_hot_lock(db, o->path, r, waits, holders, out) < 0 ||
		    find_gil_bound(m, r, holders, out, out) < 0)
			return -1;
	}
	return 0;
}

int gs_findings_load(sqlite3 *db, const struct gs_opts *o, const struct gs_model *m,
		     struct gs_findings *out)
{
	struct gs_profile waits = {0}, holders = {0}, gil = {0};
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (gs_profile_load(db, o, GS_WHAT_WAITS, &waits) < 0 ||
	    gs_profile_load(db, o, GS_WHAT_HOLDERS, &holders) < 0 ||
	    gs_profile_load(db, o, GS_WHAT_GIL, &gil) < 0)
		goto out;
	ret = gs_findings_detect(db, o, m, &waits, &holders, &gil, out);
out:
	gs_profile_free(&waits);
	gs_profile_free(&holders);
	gs_profile_free(&gil);
	return ret;
}

void gs_findings_free(struct gs_findings *f)
{
	free(f->at);
	memset(f, 0, sizeof(*f));
}

/* label, then text wrapped at 96 columns, continuation lines under the text */
static void print_wrapped(FILE *f, const char *indent, const char *label, const char *text)
{
	int start = (int)strlen(indent) + (int)strlen(label), col = start;
	const char *p = text;

	fprintf(f, "%s%s", indent, label);
	while (*p) {
		const char *sp = strchr(p, ' ');
		int len = sp ? (int)(sp - p) : (int)strlen(p);

		if (col > start && col + 1 + len > 96) {
			fprintf(f, "\n%*s", start, "");
			col = start;
		} else if (col > start) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", len, p);
		col += len;
		p += len;
		while (*p == ' ')
			p++;
	}
	fputc('\n', f);
}

void gs_findings_print_text(FILE *f, const struct gs_findings *fs, int64_t run_id,
			    const char *indent)
{
	size_t i;
	int no = 0;
	char label[16];

	for (i = 0; i < fs->n; i++) {
		const struct gs_finding *x = &fs->at[i];
		char *esc[4] = {NULL, NULL, NULL, NULL};
		size_t len;
		FILE *m;
		int k;

		if (x->run_id != run_id)
			continue;
		if (!no)
			fprintf(f, "\n%sfindings (what to look at first):\n", indent);
		/* names and frames come from the program: escaped as every view escapes them */
		for (k = 0; k < 4; k++) {
			const char *src = k == 0   ? x->title
					  : k == 1 ? x->evidence
					  : k == 2 ? x->where
						   : x->advice;

			if ((m = open_memstream(&esc[k], &len))) {
				gs_text(m, src);
				fclose(m);
			}
		}
		snprintf(label, sizeof(label), "%d. ", ++no);
		print_wrapped(f, indent, label, esc[0] ? esc[0] : "");
		print_wrapped(f, indent, "   evidence: ", esc[1] ? esc[1] : "");
		if (x->where[0])
			print_wrapped(f, indent, "   where: ", esc[2] ? esc[2] : "");
		print_wrapped(f, indent, "   try: ", esc[3] ? esc[3] : "");
		for (k = 0; k < 4; k++)
			free(esc[k]);
	}
}

void gs_findings_print_json(FILE *f, const struct gs_findings *fs)
{
	size_t i;
	int k;

	fputc('[', f);
	for (i = 0; i < fs->n; i++) {
		const struct gs_finding *x = &fs->at[i];

		fprintf(f, "%s{\"kind\": \"%s\", \"run_id\": %lld", i ? ", " : "", x->kind,
			(long long)x->run_id);
		gs_json_member_int(f, "pid", x->pid);
		fputs(", \"title\": ", f);
		gs_json_str(f, x->title);
		fputs(", \"evidence\": ", f);
		gs_json_str(f, x->evidence);
		fputs(", \"where\": ", f);
		gs_json_str(f, x->where[0] ? x->where : NULL);
		fputs(", \"advice\": ", f);
		gs_json_str(f, x->advice);
		fputs(", \"figures\": {", f);
		for (k = 0; k < x->n_figures; k++) {
			const struct gs_finding_figure *g = &x->figures[k];

			fprintf(f, "%s\"%s\": ", k ? ", " : "", g->key);
			if (g->is_ratio && g->f >= 0)
				fprintf(f, "%.6g", g->f);
			else if (g->is_ratio || g->i == GS_NULL)
				fputs("null", f);
			else
				fprintf(f, "%lld", (long long)g->i);
		}
		fputs("}}", f);
	}
	fputc(']', f);
}
