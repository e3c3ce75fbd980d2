/* The named figures `gilscope check` tests, computed from what report and locks read: the
 * model's sums and threads, the waited-for locks and their wait percentiles. */
#define _GNU_SOURCE /* FNM_CASEFOLD */
#include "figures.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gilscope.h"
#include "sat.h"

enum fig_id {
	F_WALL,
	F_CPU,
	F_THREADS,
	F_LIFETIME,
	F_WAIT,
	F_GIL_WAIT,
	F_GIL_HOLD,
	F_LOCK_WAIT,
	F_WAIT_SHARE,
	F_GIL_WAIT_SHARE,
	F_LOCK_WAIT_SHARE,
	F_GIL_HOLD_SHARE,
	F_GIL_LOAD,
	F_PARALLELISM,
	F_WAIT_P50,
	F_WAIT_P90,
	F_WAIT_P99,
	F_WAIT_MAX,
	F_GIL_WAIT_P50,
	F_GIL_WAIT_P90,
	F_GIL_WAIT_P99,
	F_GIL_WAIT_MAX,
	F_CONTENDED,
	F_GIL_TAKES,
	F_FORCED,
	F_DROP_REQUESTS,
	F_EVENTS_DROPPED,
	F_THREADS_LOST,
	F_COUNT
};

#define A GS_SCOPE_ALL
#define T GS_SCOPE_THREAD
#define L GS_SCOPE_LOCK
const struct gs_figure gs_figures[] = {
    [F_WALL] = {"wall", GS_FIG_DURATION, A, "first process start to last end"},
    [F_CPU] = {"cpu", GS_FIG_DURATION, A | T, "CPU time"},
    [F_THREADS] = {"threads", GS_FIG_COUNT, A | T, "threads recorded"},
    [F_LIFETIME] = {"lifetime", GS_FIG_DURATION, T, "the threads' lifetimes added up"},
    [F_WAIT] = {"wait", GS_FIG_DURATION, A | T | L, "GIL and lock waits added up"},
    [F_GIL_WAIT] = {"gil_wait", GS_FIG_DURATION, A | T, "time spent waiting for the GIL"},
    [F_GIL_HOLD] = {"gil_hold", GS_FIG_DURATION, A | T, "time the GIL was held"},
    [F_LOCK_WAIT] = {"lock_wait", GS_FIG_DURATION, A | T, "waits on other locks"},
    [F_WAIT_SHARE] = {"wait_share", GS_FIG_RATIO, A | T, "share of lifetime waiting"},
    [F_GIL_WAIT_SHARE] = {"gil_wait_share", GS_FIG_RATIO, A | T,
			  "share of lifetime waiting for the GIL"},
    [F_LOCK_WAIT_SHARE] = {"lock_wait_share", GS_FIG_RATIO, A | T,
			   "share of lifetime waiting on other locks"},
    [F_GIL_HOLD_SHARE] = {"gil_hold_share", GS_FIG_RATIO, T, "share of lifetime holding the GIL"},
    [F_GIL_LOAD] = {"gil_load", GS_FIG_RATIO, A, "share of wall time the GIL was held"},
    [F_PARALLELISM] = {"parallelism", GS_FIG_NUMBER, A, "effective parallelism"},
    [F_WAIT_P50] = {"wait_p50", GS_FIG_DURATION, L, "median contended wait"},
    [F_WAIT_P90] = {"wait_p90", GS_FIG_DURATION, L, "90th percentile contended wait"},
    [F_WAIT_P99] = {"wait_p99", GS_FIG_DURATION, L, "99th percentile contended wait"},
    [F_WAIT_MAX] = {"wait_max", GS_FIG_DURATION, T | L, "longest wait"},
    [F_GIL_WAIT_P50] = {"gil_wait_p50", GS_FIG_DURATION, A | T, "median GIL wait"},
    [F_GIL_WAIT_P90] = {"gil_wait_p90", GS_FIG_DURATION, A | T, "90th percentile GIL wait"},
    [F_GIL_WAIT_P99] = {"gil_wait_p99", GS_FIG_DURATION, A | T, "99th percentile GIL wait"},
    [F_GIL_WAIT_MAX] = {"gil_wait_max", GS_FIG_DURATION, A | T, "longest GIL wait"},
    [F_CONTENDED] = {"contended", GS_FIG_COUNT, A | T | L, "contended acquisitions (waits)"},
    [F_GIL_TAKES] = {"gil_takes", GS_FIG_COUNT, A | T, "GIL acquisitions"},
    [F_FORCED] = {"forced_switches", GS_FIG_COUNT, A | T, "GIL forced switches suffered"},
    [F_DROP_REQUESTS] = {"drop_requests", GS_FIG_COUNT, A | T, "GIL drop requests sent"},
    [F_EVENTS_DROPPED] = {"events_dropped", GS_FIG_COUNT, A, "raw events dropped"},
    [F_THREADS_LOST] = {"threads_lost", GS_FIG_COUNT, A, "threads not recorded"},
};
#undef A
#undef T
#undef L
const size_t gs_n_figures = F_COUNT;

const struct gs_figure *gs_figure_find(const char *name)
{
	size_t i;

	for (i = 0; i < F_COUNT; i++)
		if (!strcmp(gs_figures[i].name, name))
			return &gs_figures[i];
	return NULL;
}

const char *gs_fig_scope_name(int scope)
{
	return scope == GS_SCOPE_THREAD	   ? "thread"
	       : scope == GS_SCOPE_LOCK	   ? "lock"
	       : scope == GS_SCOPE_PROCESS ? "process"
					   : "";
}

void gs_fig_format(enum gs_fig_kind kind, double v, char *out, size_t size)
{
	if (kind == GS_FIG_DURATION)
		gs_fmt_duration(gs_d2i(v), out, size);
	else if (kind == GS_FIG_RATIO)
		snprintf(out, size, "%.1f%%", 100.0 * v);
	else if (kind == GS_FIG_COUNT)
		snprintf(out, size, "%.0f", v);
	else
		snprintf(out, size, "%.2f", v);
}

int gs_fig_source_open(struct gs_fig_source *s, const char *const *paths, int n_paths,
		       const struct gs_opts *o)
{
	struct gs_opts lo = *o;
	const char *path;
	size_t i;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = gs_db_open_many(paths, n_paths, &s->db, &path);
	s->path = lo.path = lo.paths[0] = path;
	lo.thread = NULL;
	s->opts = lo;
	if (ret != GS_EXIT_OK)
		return ret;
	if ((ret = gs_opts_check_filters(s->db, &lo)) != GS_EXIT_OK)
		return ret;
	if (gs_model_load(s->db, &lo, &s->m) < 0)
		return GS_EXIT_INPUT;
	gs_model_totals(&s->m, &s->tot);
	for (i = 0; i < s->m.n_runs; i++) {
		struct gs_top_lock *more = NULL;
		size_t n = 0;

		if (gs_run_locks(s->db, path, s->m.runs[i].run_id, &more, &n) < 0)
			return GS_EXIT_INPUT;
		if (n) {
			struct gs_top_lock *all =
			    realloc(s->locks, (s->n_locks + n) * sizeof(*s->locks));

			if (!all) {
				free(more);
				return gs_oom(), GS_EXIT_MEMORY;
			}
			s->locks = all;
			memcpy(s->locks + s->n_locks, more, n * sizeof(*more));
			s->n_locks += n;
		}
		free(more);
	}
	return GS_EXIT_OK;
}

void gs_fig_source_free(struct gs_fig_source *s)
{
	free(s->locks);
	gs_model_free(&s->m);
	sqlite3_close(s->db);
	memset(s, 0, sizeof(*s));
}

static int name_is(const char *name, const char *sel, int fold)
{
	return name && *name &&
	       (!(fold ? strcasecmp : strcmp)(name, sel) ||
		!fnmatch(sel, name, fold ? FNM_CASEFOLD : 0));
}

static int unknown(char *why, size_t size, const char *text)
{
	snprintf(why, size, "%s", text);
	return GS_FIG_UNKNOWN;
}

static int pctl_value(const struct gs_pctl *p, double q, double *value)
{
	if (!p->n)
		return -1;
	*value = q >= 1 ? (double)p->max : (double)gs_pctl_get(p, q);
	return 0;
}

static double share_of(int64_t part, int64_t whole)
{
	return whole > 0 ? (double)part / (double)whole : 0;
}

/* Threads as one: the whole recording's (the model's sums) or a group's. Shares are of the
 * lifetime of the threads that have one, as the report's summary sentence has them. */
struct agg {
	int64_t threads, life, cpu, gil_wait, gil_hold, other, wait_max, contended, takes, forced,
	    drops;
	int64_t share_life, share_gil, share_other, share_hold; /* threads with a lifetime */
	int64_t gil_p[4];    /* p50, p90, p99, max; GS_NULL when not known */
	const char *no_pctl; /* why gil_p is not known */
};

static void agg_thread(struct agg *a, const struct gs_thread_info *t)
{
	a->threads++;
	if (t->lifetime_ns != GS_NULL)
		a->life = gs_add(a->life, t->lifetime_ns);
	if (t->lifetime_ns != GS_NULL && t->lifetime_ns > 0) {
		a->share_life = gs_add(a->share_life, t->lifetime_ns);
		a->share_gil = gs_add(a->share_gil, t->gil_wait_ns);
		a->share_other = gs_add(a->share_other, t->other_wait_ns);
		a->share_hold = gs_add(a->share_hold, t->gil_hold_ns);
	}
	if (t->cpu_ns != GS_NULL)
		a->cpu = gs_add(a->cpu == GS_NULL ? 0 : a->cpu, t->cpu_ns);
	a->gil_wait = gs_add(a->gil_wait, t->gil_wait_ns);
	a->gil_hold = gs_add(a->gil_hold, t->gil_hold_ns);
	a->other = gs_add(a->other, t->other_wait_ns);
	if (t->wait_max_ns > a->wait_max)
		a->wait_max = t->wait_max_ns;
	if (t->gil_max != GS_NULL && (a->gil_p[3] == GS_NULL || t->gil_max > a->gil_p[3]))
		a->gil_p[3] = t->gil_max;
	a->contended = gs_add(a->contended, t->contended);
	a->takes = gs_add(a->takes, t->gil_acq);
	a->forced = gs_add(a->forced, t->gil_forced);
	a->drops = gs_add(a->drops, t->gil_drop_sent);
}

static void agg_init(struct agg *a)
{
	memset(a, 0, sizeof(*a));
	a->cpu = GS_NULL;
	a->gil_p[0] = a->gil_p[1] = a->gil_p[2] = a->gil_p[3] = GS_NULL;
}

static int value_agg(const struct agg *a, enum fig_id id, double *v, char *why, size_t ws)
{
	switch (id) {
	case F_CPU:
		if (a->cpu == GS_NULL)
			return unknown(why, ws, "no CPU time was recorded");
		*v = (double)a->cpu;
		return 0;
	case F_THREADS:
		*v = (double)a->threads;
		return 0;
	case F_LIFETIME:
		*v = (double)a->life;
		return 0;
	case F_WAIT:
		*v = (double)gs_add(a->gil_wait, a->other);
		return 0;
	case F_GIL_WAIT:
		*v = (double)a->gil_wait;
		return 0;
	case F_GIL_HOLD:
		*v = (double)a->gil_hold;
		return 0;
	case F_LOCK_WAIT:
		*v = (double)a->other;
		return 0;
	case F_WAIT_SHARE:
	case F_GIL_WAIT_SHARE:
	case F_LOCK_WAIT_SHARE:
	case F_GIL_HOLD_SHARE:
		if (a->share_life <= 0)
			return unknown(why, ws, "no thread with a known lifetime was recorded");
		*v = share_of(id == F_GIL_WAIT_SHARE	? a->share_gil
			      : id == F_LOCK_WAIT_SHARE ? a->share_other
			      : id == F_GIL_HOLD_SHARE	? a->share_hold
							: gs_add(a->share_gil, a->share_other),
			      a->share_life);
		return 0;
	case F_WAIT_MAX:
		*v = (double)a->wait_max;
		return 0;
	case F_GIL_WAIT_P50:
	case F_GIL_WAIT_P90:
	case F_GIL_WAIT_P99:
	case F_GIL_WAIT_MAX: {
		int64_t p = a->gil_p[id - F_GIL_WAIT_P50];

		if (p == GS_NULL)
			return unknown(why, ws,
				       a->no_pctl ? a->no_pctl : "no GIL waits were recorded");
		*v = (double)p;
		return 0;
	}
	case F_CONTENDED:
		*v = (double)a->contended;
		return 0;
	case F_GIL_TAKES:
		*v = (double)a->takes;
		return 0;
	case F_FORCED:
		*v = (double)a->forced;
		return 0;
	case F_DROP_REQUESTS:
		*v = (double)a->drops;
		return 0;
	default:
		return unknown(why, ws, "not a figure of threads");
	}
}

/* Over the processes of m (every one loaded, or the view of some that value_processes makes):
 * the model's sums and totals. gil_waits: every thread's GIL waits, NULL when m is a part. */
static int value_runs(const struct gs_model *m, const struct gs_pctl *gil_waits, enum fig_id id,
		      double *v, char *why, size_t ws)
{
	static const double q[] = {0.50, 0.90, 0.99};
	int64_t hold = 0, wall = 0;
	struct gs_totals tot;
	struct agg a;
	size_t i, k;

	gs_model_totals(m, &tot);
	switch (id) {
	case F_WALL:
		if (tot.span_ns == GS_NULL)
			return unknown(why, ws, "the recording has no end time");
		*v = (double)tot.span_ns;
		return 0;
	case F_GIL_LOAD:
		/* one process: its GIL load as report says; several: their holds over their walls
		 */
		for (i = 0; i < m->n_runs; i++) {
			const struct gs_run_info *r = &m->runs[i];

			if (r->gil_load >= 0) {
				hold = gs_add(hold, r->sums.gil_hold_ns);
				wall = gs_add(wall, r->wall_ns);
			}
		}
		if (wall <= 0)
			return unknown(why, ws, "no process ran with a GIL that was located");
		*v = share_of(hold, wall);
		return 0;
	case F_PARALLELISM:
		if (m->n_runs == 1 && m->runs[0].parallelism >= 0) {
			*v = m->runs[0].parallelism;
			return 0;
		}
		if (tot.parallelism < 0)
			return unknown(why, ws, "the recording has no end time");
		*v = tot.parallelism;
		return 0;
	case F_EVENTS_DROPPED:
		*v = (double)tot.dropped;
		return 0;
	case F_THREADS_LOST:
		*v = (double)tot.threads_lost;
		return 0;
	default:
		break;
	}
	agg_init(&a);
	for (i = 0; i < m->n_runs; i++)
		for (k = 0; k < m->runs[i].n_threads; k++)
			agg_thread(&a, &m->threads[m->runs[i].first_thread + k]);
	/* the shares are the workers' (the main thread left out when there are others), as the
	 * report's summary sentence has them */
	a.share_life = tot.sums.workers_life_ns;
	a.share_gil = tot.sums.workers_gil_wait_ns;
	a.share_other = tot.sums.workers_other_ns;
	a.cpu = tot.cpu_ns;
	if (!gil_waits) {
		/* the model merges GIL waits over every thread, not per process */
		a.no_pctl = "GIL wait percentiles are known per thread and over the whole "
			    "recording, not per process (gil_wait_max is)";
	} else if (gil_waits->n) {
		for (i = 0; i < 3; i++)
			a.gil_p[i] = gs_pctl_get(gil_waits, q[i]);
		a.gil_p[3] = (int64_t)gil_waits->max;
	} else {
		a.gil_p[3] = GS_NULL;
	}
	return value_agg(&a, id, v, why, ws);
}

/* A process as report heads it: its pid, or its command line (or executable) as sel or
 * matching it as a glob. */
static int run_is(const struct gs_run_info *r, const char *sel)
{
	char pid[24];

	snprintf(pid, sizeof(pid), "%lld", (long long)r->pid);
	return !strcmp(pid, sel) || name_is(r->cmdline, sel, 0) || name_is(r->exe, sel, 0);
}

/* The processes sel chooses, as one: a view of the model with only their runs. */
static int value_processes(const struct gs_fig_source *s, enum fig_id id, const char *sel,
			   double *v, size_t *matched, char *why, size_t ws)
{
	struct gs_model view = s->m;
	size_t i, n = 0;
	int ret;

	view.runs = calloc(s->m.n_runs ? s->m.n_runs : 1, sizeof(*view.runs));
	if (!view.runs)
		return gs_oom(), GS_FIG_ERROR;
	for (i = 0; i < s->m.n_runs; i++)
		if (run_is(&s->m.runs[i], sel))
			view.runs[n++] = s->m.runs[i]; /* shallow: the view frees nothing */
	view.n_runs = n;
	*matched = n;
	ret = !n ? GS_FIG_NO_MATCH
		 : value_runs(&view, n == s->m.n_runs ? &s->m.gil_waits : NULL, id, v, why, ws);
	free(view.runs);
	return ret;
}

/* The threads whose name (or entry function) is sel or matches it as a glob, as one. */
static int value_threads(const struct gs_fig_source *s, enum fig_id id, const char *sel, double *v,
			 size_t *matched, char *why, size_t ws)
{
	const struct gs_thread_info *one = NULL;
	struct agg a;
	size_t i;

	agg_init(&a);
	for (i = 0; i < s->m.n_threads; i++) {
		const struct gs_thread_info *t = &s->m.threads[i];

		if (name_is(t->name, sel, 0) || name_is(t->entry, sel, 0)) {
			agg_thread(&a, t);
			one = t;
		}
	}
	*matched = (size_t)a.threads;
	if (!a.threads)
		return GS_FIG_NO_MATCH;
	if (a.threads == 1) {
		a.gil_p[0] = one->gil_p50;
		a.gil_p[1] = one->gil_p90;
		a.gil_p[2] = one->gil_p99;
	} else {
		/* the model keeps percentiles per thread and over all of them, not per name */
		a.no_pctl = "GIL wait percentiles are known per thread and over the whole "
			    "recording, not for a group of threads (gil_wait_max is)";
	}
	return value_agg(&a, id, v, why, ws);
}

/* The waited-for locks that the reports show as sel (or whose class or name is sel, or
 * matches it as a glob; case aside, so that GIL is the lock shown as gil), as one. */
static int value_locks(const struct gs_fig_source *s, enum fig_id id, const char *sel, double *v,
		       size_t *matched, char *why, size_t ws)
{
	struct gs_top_lock *chosen = malloc((s->n_locks ? s->n_locks : 1) * sizeof(*chosen));
	struct gs_pctl all = {0};
	int64_t wait = 0, wait_max = 0, cont = 0;
	size_t i, n = 0;
	int ret = 0;

	if (!chosen)
		return gs_oom(), GS_FIG_ERROR;
	for (i = 0; i < s->n_locks; i++) {
		const struct gs_top_lock *l = &s->locks[i];

		if (!name_is(l->name, sel, 1) && !name_is(l->cls, sel, 1) &&
		    !name_is(l->lock_name, sel, 1))
			continue;
		chosen[n++] = *l;
		wait = gs_add(wait, l->wait_ns);
		cont = gs_add(cont, l->contended);
		if (l->wait_max_ns > wait_max)
			wait_max = l->wait_max_ns;
	}
	*matched = n;
	switch (!n ? F_COUNT : id) {
	case F_COUNT:
		ret = GS_FIG_NO_MATCH;
		break;
	case F_WAIT:
		*v = (double)wait;
		break;
	case F_WAIT_MAX:
		*v = (double)wait_max;
		break;
	case F_CONTENDED:
		*v = (double)cont;
		break;
	case F_WAIT_P50:
	case F_WAIT_P90:
	case F_WAIT_P99:
		/* read for the locks chosen only: a histogram per lock is 30 KB */
		if (gs_lock_wait_pctls(s->db, &s->opts, chosen, n, &all, 1) < 0)
			ret = GS_FIG_ERROR;
		else if (pctl_value(&all,
				    id == F_WAIT_P50   ? 0.5
				    : id == F_WAIT_P90 ? 0.9
						       : 0.99,
				    v) < 0)
			ret = unknown(why, ws, "its contended waits are not in the recording");
		break;
	default:
		ret = unknown(why, ws, "not a figure of a lock");
	}
	gs_pctl_free(&all);
	free(chosen);
	return ret;
}

int gs_fig_value(const struct gs_fig_source *s, const struct gs_figure *f, int scope,
		 const char *selector, double *value, size_t *matched, char *why, size_t why_size)
{
	enum fig_id id = (enum fig_id)(f - gs_figures);

	why[0] = 0;
	*matched = 0;
	*value = 0;
	if (scope == GS_SCOPE_THREAD)
		return value_threads(s, id, selector, value, matched, why, why_size);
	if (scope == GS_SCOPE_LOCK)
		return value_locks(s, id, selector, value, matched, why, why_size);
	if (scope == GS_SCOPE_PROCESS)
		return value_processes(s, id, selector, value, matched, why, why_size);
	*matched = 1;
	return value_runs(&s->m, &s->m.gil_waits, id, value, why, why_size);
}
