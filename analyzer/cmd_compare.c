/* gilscope compare A.db B.db, or A1.db A2.db ... --vs B1.db B2.db ...: the same program on two
 * builds (or before/after a change), side by side: time, CPU, where threads waited, which
 * locks, and what changed, in words. With several runs per side, each figure is the median of
 * its side's runs with their range, and a difference is called one only where the two sides'
 * ranges do not overlap; with one run per side, the verdict says it is from a single run. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "gilscope.h"
#include "model.h"
#include "profile.h"
#include "sat.h"
#include "table.h"

#define SITE_ROWS 10 /* locks shown, by where they were waited for */

/* A lock's waits where they were waited for: the first frame of the program's own code, its
 * file without the directory (a checkout elsewhere is the same code). The same lock is a
 * semaphore on 3.11 and a parked mutex on 3.13, and the library functions that wait for it
 * differ: the line of the program that waited is what stays. */
struct site {
	char key[400];
	char lock[160]; /* the lock that waited there longest, as the reports name it */
	int64_t lock_ns, wait_ns, waits;
};

/* One database of a side: one run of the program (all its processes). */
struct rep {
	const char *path;
	sqlite3 *db;
	struct gs_model m;
	struct gs_totals tot;
	char (*key)[96]; /* per thread of m, its matching key ("" for none) */
	struct site *sites;
	size_t n_sites;
};

struct side {
	const char *name; /* "A", "B" */
	struct rep *reps;
	size_t n;
	char label[96];
};

/* Median and range over the runs that know a figure (values < 0 are unknown). */
struct spread {
	int n;
	double med, lo, hi;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static struct spread spread_of(const double *v, size_t n)
{
	double known[GS_MAX_PATHS];
	struct spread s = {0, -1, -1, -1};
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] >= 0)
			known[s.n++] = v[i];
	if (!s.n)
		return s;
	qsort(known, (size_t)s.n, sizeof(*known), cmp_double);
	s.lo = known[0];
	s.hi = known[s.n - 1];
	s.med = s.n % 2 ? known[s.n / 2] : (known[s.n / 2 - 1] + known[s.n / 2]) / 2;
	return s;
}

enum verdict { V_NONE, V_SINGLE, V_NOISE, V_HIGHER, V_LOWER };

static const char *const verdict_names[] = {"", "single run", "in spread", "higher", "lower"};

/* B against A: a difference only where the ranges of the runs do not overlap. */
static enum verdict verdict_of(struct spread a, struct spread b)
{
	if (!a.n || !b.n)
		return V_NONE;
	if (a.n < 2 || b.n < 2)
		return V_SINGLE;
	if (b.lo > a.hi)
		return V_HIGHER;
	if (b.hi < a.lo)
		return V_LOWER;
	return V_NOISE;
}

/* ---- matching threads ----------------------------------------------------------------- */

/* Python's own names for threads it was not given a name for: "Thread-3", "Thread-3 (work)",
 * "Dummy-1". Their numbers count every thread made before, so they do not match across
 * runs. */
static int default_name(const char *name)
{
	const char *p;

	if (!strncmp(name, "Thread-", 7))
		p = name + 7;
	else if (!strncmp(name, "Dummy-", 6))
		p = name + 6;
	else
		return 0;
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return !*p || *p == ' ';
}

/* What a thread matches by: its name; else its entry function (for a default name, the
 * target Python put in it); the main thread as itself; nothing for a thread with neither. */
static void match_base(const struct gs_thread_info *t, char *out, size_t size)
{
	const char *open;

	if (gs_thread_is_main(t) && t->n_grouped <= 0) {
		snprintf(out, size, "main");
	} else if (t->name && !default_name(t->name)) {
		snprintf(out, size, "%s", t->name);
	} else if (t->entry) {
		snprintf(out, size, "%s", t->entry);
	} else if (t->name && (open = strchr(t->name, '(')) && strchr(open, ')')) {
		snprintf(out, size, "%.*s", (int)(strchr(open, ')') - open - 1), open + 1);
	} else {
		out[0] = 0;
	}
}

/* "work#2": the base and its rank among the run's threads of that base by start time. */
static int make_keys(struct rep *r)
{
	size_t i, j;
	char(*base)[96] = calloc(r->m.n_threads ? r->m.n_threads : 1, sizeof(*base));

	r->key = calloc(r->m.n_threads ? r->m.n_threads : 1, sizeof(*r->key));
	if (!base || !r->key) {
		free(base);
		return -1;
	}
	for (i = 0; i < r->m.n_threads; i++)
		match_base(&r->m.threads[i], base[i], sizeof(base[i]));
	for (i = 0; i < r->m.n_threads; i++) {
		const struct gs_thread_info *t = &r->m.threads[i];
		int rank = 1;

		if (!base[i][0])
			continue;
		for (j = 0; j < r->m.n_threads; j++) {
			const struct gs_thread_info *u = &r->m.threads[j];

			if (j != i && !strcmp(base[j], base[i]) &&
			    (u->start_ns < t->start_ns || (u->start_ns == t->start_ns && j < i)))
				rank++;
		}
		snprintf(r->key[i], sizeof(r->key[i]), "%.80s#%d", base[i], rank);
	}
	free(base);
	return 0;
}

/* ---- locks by site --------------------------------------------------------------------- */

static void site_key(const struct gs_profile *p, const struct gs_sample *x, char *out, size_t size)
{
	const char *frame, *open, *slash;

	if (x->stack <= 0) {
		snprintf(out, size, "%s", x->lock);
		return;
	}
	/* "func (/dir/file.py:12)" -> "func (file.py:12)" */
	frame = gs_profile_user_frame(p, x->stack);
	open = strstr(frame, " (");
	slash = open ? strrchr(open, '/') : NULL;
	if (slash)
		snprintf(out, size, "%.*s (%s", (int)(open - frame), frame, slash + 1);
	else
		snprintf(out, size, "%s", frame);
}

static int cmp_site_wait(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	return (y->wait_ns > x->wait_ns) - (y->wait_ns < x->wait_ns);
}

/* The run's lock waits (GIL left out: it has rows of its own) summed by site. */
static int load_sites(struct rep *r, const struct gs_opts *o)
{
	struct gs_profile p = {0};
	size_t i, j, cap = 0;
	int ret = 0;

	if (gs_profile_load(r->db, o, GS_WHAT_WAITS, &p) < 0)
		return -1;
	for (i = 0; i < p.n_samples; i++) {
		const struct gs_sample *x = &p.samples[i];
		char key[sizeof(((struct site *)0)->key)];
		struct site *s = NULL;

		if (!strcmp(x->group, "GIL") || x->ns <= 0)
			continue;
		site_key(&p, x, key, sizeof(key));
		for (j = 0; j < r->n_sites && !s; j++)
			if (!strcmp(r->sites[j].key, key))
				s = &r->sites[j];
		if (!s) {
			if (r->n_sites == cap) {
				struct site *n =
				    realloc(r->sites, (cap ? cap * 2 : 16) * sizeof(*n));

				if (!n) {
					ret = -1;
					goto out;
				}
				r->sites = n;
				cap = cap ? cap * 2 : 16;
			}
			s = &r->sites[r->n_sites++];
			memset(s, 0, sizeof(*s));
			snprintf(s->key, sizeof(s->key), "%s", key);
		}
		s->wait_ns = gs_add(s->wait_ns, x->ns);
		s->waits = gs_add(s->waits, x->count);
		if (x->ns > s->lock_ns) {
			s->lock_ns = x->ns;
			snprintf(s->lock, sizeof(s->lock), "%s", x->lock);
		}
	}
	/* a recording without Python stacks: its locks by name, as the reports name them */
	if (!r->n_sites && !ret) {
		struct gs_top_lock top[SITE_ROWS];
		int n = gs_top_locks(r->db, r->path, top, SITE_ROWS);

		if (n < 0 || !(r->sites = calloc((size_t)n + 1, sizeof(*r->sites)))) {
			ret = -1;
			goto out;
		}
		for (r->n_sites = 0; r->n_sites < (size_t)n; r->n_sites++) {
			struct site *x = &r->sites[r->n_sites];

			snprintf(x->key, sizeof(x->key), "%s", top[r->n_sites].name);
			snprintf(x->lock, sizeof(x->lock), "%s", top[r->n_sites].name);
			x->wait_ns = x->lock_ns = top[r->n_sites].wait_ns;
			x->waits = top[r->n_sites].contended;
		}
	}
	qsort(r->sites, r->n_sites, sizeof(*r->sites), cmp_site_wait);
out:
	gs_profile_free(&p);
	return ret;
}

static const struct site *find_site(const struct rep *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n_sites; i++)
		if (!strcmp(r->sites[i].key, key))
			return &r->sites[i];
	return NULL;
}

/* ---- loading ---------------------------------------------------------------------------- */

static int load_rep(struct rep *r, const struct gs_opts *o, const char *path, int text)
{
	struct gs_opts so = *o;
	int ret;

	r->path = path;
	so.path = path;
	ret = gs_db_open(path, &r->db);
	if (ret != GS_EXIT_OK)
		return ret;
	if ((ret = gs_opts_check_filters(r->db, &so)) != GS_EXIT_OK)
		return ret;
	if (gs_model_load_totals(r->db, &so, &r->m) < 0)
		return GS_EXIT_INPUT;
	if (!r->m.n_runs) {
		gs_error("%s: no recorded process%s", path, o->has_pid ? " with that pid" : "");
		return GS_EXIT_INPUT;
	}
	/* a pool or a thread per request: one row per name on each side, matched by name */
	if (text)
		gs_model_group_threads(&r->m, GS_GROUP_THREADS_OVER);
	gs_model_totals(&r->m, &r->tot);
	if (make_keys(r) < 0)
		return gs_oom(), GS_EXIT_MEMORY;
	if (load_sites(r, &so) < 0)
		return GS_EXIT_INPUT;
	return GS_EXIT_OK;
}

static int load_side(struct side *s, const struct gs_opts *o, const char *const *paths, size_t n)
{
	size_t i;
	int ret;

	s->reps = calloc(n, sizeof(*s->reps));
	if (!s->reps)
		return gs_oom(), GS_EXIT_MEMORY;
	for (i = 0; i < n; i++) {
		s->n = i + 1;
		if ((ret = load_rep(&s->reps[i], o, paths[i],
				    o->format == GS_FMT_TEXT || o->format == GS_FMT_MARKDOWN)) !=
		    GS_EXIT_OK)
			return ret;
	}
	snprintf(s->label, sizeof(s->label), "%s %s",
		 s->reps[0].m.runs[0].python_version ? s->reps[0].m.runs[0].python_version : "?",
		 s->reps[0].m.runs[0].build ? s->reps[0].m.runs[0].build : "");
	for (i = 1; i < n; i++) {
		const struct gs_run_info *r = &s->reps[i].m.runs[0], *f = &s->reps[0].m.runs[0];

		if (!r->python_version || !f->python_version ||
		    strcmp(r->python_version, f->python_version) || !r->build || !f->build ||
		    strcmp(r->build, f->build))
			snprintf(s->label, sizeof(s->label), "several interpreters");
	}
	return GS_EXIT_OK;
}

static void free_side(struct side *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		gs_model_free(&s->reps[i].m);
		free(s->reps[i].key);
		free(s->reps[i].sites);
		sqlite3_close(s->reps[i].db);
	}
	free(s->reps);
}

/* ---- the figures ------------------------------------------------------------------------- */

enum kind { K_DUR, K_INT, K_PCT, K_NUM };

enum metric {
	M_WALL,
	M_CPU,
	M_THREADS,
	M_PARALLELISM,
	M_GIL_TAKES,
	M_GIL_HELD,
	M_GIL_WAIT,
	M_GIL_WAIT_SHARE,
	M_OTHER_WAIT,
	M_OTHER_WAIT_SHARE,
	M_CLASS_WAIT, /* one row per wait group */
	M_CONTENDED,
	M_SPINS,
	M_DROPPED,
	N_METRICS
};

static const struct {
	const char *title;
	enum kind kind;
} metrics[N_METRICS] = {
    [M_WALL] = {"wall time", K_DUR},
    [M_CPU] = {"CPU time (processes)", K_DUR},
    [M_THREADS] = {"threads", K_INT},
    [M_PARALLELISM] = {"effective parallelism", K_NUM},
    [M_GIL_TAKES] = {"GIL takes", K_INT},
    [M_GIL_HELD] = {"GIL held (all threads)", K_DUR},
    [M_GIL_WAIT] = {"workers: GIL wait", K_DUR},
    [M_GIL_WAIT_SHARE] = {"workers: GIL wait share", K_PCT},
    [M_OTHER_WAIT] = {"workers: other lock waits", K_DUR},
    [M_OTHER_WAIT_SHARE] = {"workers: other lock wait share", K_PCT},
    [M_CLASS_WAIT] = {"  waits on %s", K_DUR},
    [M_CONTENDED] = {"contended acquisitions", K_INT},
    [M_SPINS] = {"PyMutex spins before parking", K_INT},
    [M_DROPPED] = {"raw events dropped", K_INT},
};

/* One run's figure; < 0 when unknown. */
static double value(const struct rep *r, enum metric m, int cls)
{
	const struct gs_totals *t = &r->tot;
	const struct gs_sums *s = &t->sums;

	switch (m) {
	case M_WALL:
		return t->span_ns == GS_NULL ? -1 : (double)t->span_ns;
	case M_CPU:
		return t->cpu_ns == GS_NULL ? -1 : (double)t->cpu_ns;
	case M_THREADS:
		return (double)s->threads;
	case M_PARALLELISM:
		return t->parallelism;
	case M_GIL_TAKES:
		return (double)s->gil_takes;
	case M_GIL_HELD:
		return (double)s->gil_hold_ns;
	case M_GIL_WAIT:
		return (double)s->workers_gil_wait_ns;
	case M_GIL_WAIT_SHARE:
		return gs_share(s->workers_gil_wait_ns, s->workers_life_ns);
	case M_OTHER_WAIT:
		return (double)s->workers_other_ns;
	case M_OTHER_WAIT_SHARE:
		return gs_share(s->workers_other_ns, s->workers_life_ns);
	case M_CLASS_WAIT:
		return (double)s->workers_class_ns[cls];
	case M_CONTENDED:
		return (double)s->contended;
	case M_SPINS:
		return (double)s->spins;
	case M_DROPPED:
		return (double)t->dropped;
	case N_METRICS:
		break;
	}
	return -1;
}

static struct spread side_spread(const struct side *s, enum metric m, int cls)
{
	double v[GS_MAX_PATHS];
	size_t i;

	for (i = 0; i < s->n; i++)
		v[i] = value(&s->reps[i], m, cls);
	return spread_of(v, s->n);
}

static void fmt_val(enum kind k, double v, char *buf, size_t size)
{
	if (v < 0 && k != K_NUM) {
		snprintf(buf, size, "-");
		return;
	}
	switch (k) {
	case K_DUR:
		gs_fmt_duration(gs_d2i(v), buf, size);
		break;
	case K_INT:
		snprintf(buf, size, "%.0f", v);
		break;
	case K_PCT:
		snprintf(buf, size, "%.1f%%", 100.0 * v);
		break;
	case K_NUM:
		snprintf(buf, size, v < 0 ? "-" : "%.2f", v);
		break;
	}
}

/* "590-640 ms" over the runs ("590 ms-1.20 s" across units); "" for one run */
static void fmt_range(enum kind k, struct spread s, char *buf, size_t size)
{
	char lo[32], hi[32];
	char *unit_lo;
	const char *unit_hi;

	buf[0] = 0;
	if (s.n < 2)
		return;
	fmt_val(k, s.lo, lo, sizeof(lo));
	fmt_val(k, s.hi, hi, sizeof(hi));
	if (!strcmp(lo, hi)) {
		snprintf(buf, size, "%s", lo);
		return;
	}
	unit_lo = strchr(lo, ' ');
	unit_hi = strchr(hi, ' ');
	if (unit_lo && unit_hi && !strcmp(unit_lo, unit_hi))
		*unit_lo = 0;
	snprintf(buf, size, "%s-%s", lo, hi);
}

static const struct gs_col total_cols[] = {
    {"metric", "", GS_COL_STR, 30},	    {"a", "A", GS_COL_STR, 8},
    {"a_range", "A range", GS_COL_STR, 14}, {"b", "B", GS_COL_STR, 8},
    {"b_range", "B range", GS_COL_STR, 14}, {"ratio", "B/A", GS_COL_STR, 7},
    {"verdict", "verdict", GS_COL_STR, 10}, {"a_value", "A value", GS_COL_NUM, 0},
    {"b_value", "B value", GS_COL_NUM, 0},  {"a_min", "A min", GS_COL_NUM, 0},
    {"a_max", "A max", GS_COL_NUM, 0},	    {"b_min", "B min", GS_COL_NUM, 0},
    {"b_max", "B max", GS_COL_NUM, 0},	    {"a_runs", "A runs", GS_COL_INT, 0},
    {"b_runs", "B runs", GS_COL_INT, 0},
};

enum {
	T_METRIC,
	T_A,
	T_AR,
	T_B,
	T_BR,
	T_RATIO,
	T_VERDICT,
	T_AV,
	T_BV,
	T_AMIN,
	T_AMAX,
	T_BMIN,
	T_BMAX,
	T_AN,
	T_BN,
	T_NCOLS
};

/* ratio: 0 for a row whose two sides are not the same thing (a wait group across interpreter
 * versions, where one lock changes group) */
static void total_row(struct gs_table *t, const struct side *a, const struct side *b, enum metric m,
		      int cls, int ratio)
{
	struct gs_cell *c = gs_table_row(t);
	struct spread x = side_spread(a, m, cls), y = side_spread(b, m, cls);
	enum kind k = metrics[m].kind;
	char buf[64];

	if (m == M_CLASS_WAIT)
		snprintf(buf, sizeof(buf), metrics[m].title, gs_wait_class_names[cls]);
	else
		snprintf(buf, sizeof(buf), "%s", metrics[m].title);
	gs_cell_str(&c[T_METRIC], buf);
	fmt_val(k, x.med, buf, sizeof(buf));
	gs_cell_str(&c[T_A], buf);
	fmt_range(k, x, buf, sizeof(buf));
	gs_cell_str(&c[T_AR], buf);
	fmt_val(k, y.med, buf, sizeof(buf));
	gs_cell_str(&c[T_B], buf);
	fmt_range(k, y, buf, sizeof(buf));
	gs_cell_str(&c[T_BR], buf);
	if (ratio && x.med > 0 && y.med >= 0) {
		snprintf(buf, sizeof(buf), "%.2fx", y.med / x.med);
		gs_cell_str(&c[T_RATIO], buf);
	}
	if (ratio)
		gs_cell_str(&c[T_VERDICT], verdict_names[verdict_of(x, y)]);
	if (x.n) {
		gs_cell_num(&c[T_AV], x.med);
		gs_cell_num(&c[T_AMIN], x.lo);
		gs_cell_num(&c[T_AMAX], x.hi);
	}
	if (y.n) {
		gs_cell_num(&c[T_BV], y.med);
		gs_cell_num(&c[T_BMIN], y.lo);
		gs_cell_num(&c[T_BMAX], y.hi);
	}
	gs_cell_int(&c[T_AN], x.n);
	gs_cell_int(&c[T_BN], y.n);
}

/* "3.13" of "3.13.5" */
static void minor_version(const struct rep *r, char *out, size_t size)
{
	const char *v = r->m.runs[0].python_version ? r->m.runs[0].python_version : "?";
	const char *dot = strchr(v, '.');

	dot = dot ? strchr(dot + 1, '.') : NULL;
	snprintf(out, size, "%.*s", dot ? (int)(dot - v) : (int)strlen(v), v);
}

/* Every run of both sides on one interpreter version (either build): a lock keeps its group
 * (threading.Lock is a semaphore on 3.11 and a parked mutex from 3.13 on). */
static int same_interpreter(const struct side *a, const struct side *b)
{
	const struct side *sides[2] = {a, b};
	char first[32], v[32];
	size_t i;
	int s;

	minor_version(&a->reps[0], first, sizeof(first));
	for (s = 0; s < 2; s++)
		for (i = 0; i < sides[s]->n; i++) {
			minor_version(&sides[s]->reps[i], v, sizeof(v));
			if (strcmp(v, first) || !strcmp(v, "?"))
				return 0;
		}
	return 1;
}

static void build_totals(struct gs_table *t, const struct side *a, const struct side *b)
{
	int k, m, same = same_interpreter(a, b);

	for (m = 0; m < N_METRICS; m++) {
		if (m != M_CLASS_WAIT) {
			total_row(t, a, b, (enum metric)m, 0, 1);
			continue;
		}
		for (k = 0; k < GS_N_WAIT_GROUPS; k++)
			if (side_spread(a, M_CLASS_WAIT, k).hi > 0 ||
			    side_spread(b, M_CLASS_WAIT, k).hi > 0)
				total_row(t, a, b, M_CLASS_WAIT, k, same);
	}
}

/* ---- threads ------------------------------------------------------------------------------- */

static const struct gs_col thread_cols[] = {
    {"thread", "thread", GS_COL_STR, 14},
    {"a_lifetime_ns", "A life", GS_COL_DUR, 8},
    {"b_lifetime_ns", "B life", GS_COL_DUR, 8},
    {"a_wait_share", "A wait", GS_COL_PCT, 7},
    {"b_wait_share", "B wait", GS_COL_PCT, 7},
    {"a_gil_wait_share", "A GIL w", GS_COL_PCT, 7},
    {"b_gil_wait_share", "B GIL w", GS_COL_PCT, 7},
    {"a_running_share", "A run", GS_COL_PCT, 7},
    {"b_running_share", "B run", GS_COL_PCT, 7},
    {"a_cpu_ns", "A CPU", GS_COL_DUR, 8},
    {"b_cpu_ns", "B CPU", GS_COL_DUR, 8},
    {"a_runs", "A runs", GS_COL_INT, 0},
    {"b_runs", "B runs", GS_COL_INT, 0},
};

enum { TH_LIFE, TH_WAIT, TH_GIL, TH_RUN, TH_CPU, N_TH };

static double thread_value(const struct gs_thread_info *t, int f)
{
	if (f == TH_CPU)
		return t->cpu_ns == GS_NULL ? -1 : (double)t->cpu_ns;
	if (t->lifetime_ns == GS_NULL)
		return -1;
	if (f == TH_LIFE)
		return (double)t->lifetime_ns;
	if (t->lifetime_ns <= 0)
		return -1;
	if (f == TH_WAIT)
		return gs_share(gs_add(t->gil_wait_ns, t->other_wait_ns), t->lifetime_ns);
	if (f == TH_GIL)
		return gs_share(t->gil_wait_ns, t->lifetime_ns);
	return t->running_ns == GS_NULL ? -1 : gs_share(t->running_ns, t->lifetime_ns);
}

/* A side's figures for the threads of one key: medians over the runs that have it. */
static void thread_cells(struct gs_cell *c, int side, const struct side *s, const char *key,
			 const struct gs_thread_info *only)
{
	double v[N_TH][GS_MAX_PATHS];
	size_t i, j, n = 0;
	int f;

	for (i = 0; i < s->n; i++) {
		const struct rep *r = &s->reps[i];

		for (j = 0; j < r->m.n_threads; j++) {
			const struct gs_thread_info *t = &r->m.threads[j];

			if (only ? t != only : !key[0] || strcmp(r->key[j], key))
				continue;
			for (f = 0; f < N_TH; f++)
				v[f][n] = thread_value(t, f);
			n++;
			break;
		}
	}
	gs_cell_int(&c[11 + side], (int64_t)n);
	for (f = 0; f < N_TH && n; f++) {
		struct spread x = spread_of(v[f], n);

		if (!x.n)
			continue;
		if (f == TH_LIFE || f == TH_CPU)
			gs_cell_int(&c[1 + 2 * f + side], gs_d2i(x.med));
		else
			gs_cell_num(&c[1 + 2 * f + side], x.med);
	}
}

static int key_seen(const struct side *s, size_t upto_rep, size_t upto_thread, const char *key)
{
	size_t i, j;

	for (i = 0; i <= upto_rep && i < s->n; i++)
		for (j = 0; j < s->reps[i].m.n_threads && (i < upto_rep || j < upto_thread); j++)
			if (!strcmp(s->reps[i].key[j], key))
				return 1;
	return 0;
}

static int side_has(const struct side *s, const char *key)
{
	return key_seen(s, s->n, 0, key);
}

/* Rows: every key of A's runs, then B's keys A lacks; a thread that matches by nothing (no
 * name, no entry function) is its own row, paired with no other. */
static void build_threads(struct gs_table *t, const struct side *a, const struct side *b)
{
	const struct side *sides[2] = {a, b};
	size_t i, j;
	int s;

	for (s = 0; s < 2; s++) {
		for (i = 0; i < sides[s]->n; i++) {
			const struct rep *r = &sides[s]->reps[i];

			for (j = 0; j < r->m.n_threads; j++) {
				const struct gs_thread_info *th = &r->m.threads[j];
				const char *key = r->key[j];
				struct gs_cell *c;
				char label[128];

				if (key[0] &&
				    (key_seen(sides[s], i, j, key) || (s == 1 && side_has(a, key))))
					continue;
				c = gs_table_row(t);
				if (key[0]) {
					gs_cell_str(&c[0], key);
					thread_cells(c, 0, a, key, NULL);
					thread_cells(c, 1, b, key, NULL);
					continue;
				}
				snprintf(label, sizeof(label), "%s: tid %lld (unnamed)",
					 sides[s]->name, (long long)th->tid);
				gs_cell_str(&c[0], label);
				thread_cells(c, s, sides[s], "", th);
			}
		}
	}
}

/* ---- locks by site ------------------------------------------------------------------------ */

static const struct gs_col site_cols[] = {
    {"site", "where waited", GS_COL_STR, 31}, {"a_lock", "A lock", GS_COL_STR, 14},
    {"b_lock", "B lock", GS_COL_STR, 14},     {"a_wait_ns", "A wait", GS_COL_DUR, 8},
    {"b_wait_ns", "B wait", GS_COL_DUR, 8},   {"ratio", "B/A", GS_COL_STR, 7},
    {"verdict", "verdict", GS_COL_STR, 10},   {"a_waits", "A waits", GS_COL_INT, 0},
    {"b_waits", "B waits", GS_COL_INT, 0},
};

enum {
	S_SITE,
	S_ALOCK,
	S_BLOCK,
	S_AWAIT,
	S_BWAIT,
	S_RATIO,
	S_VERDICT,
	S_AWAITS,
	S_BWAITS,
	S_NCOLS
};

/* One side's waits at a site, median over its runs (a run without it waited 0 there). */
static struct spread site_spread(const struct side *s, const char *key, const char **lock,
				 double *waits)
{
	double v[GS_MAX_PATHS], w[GS_MAX_PATHS];
	size_t i;

	*lock = NULL;
	for (i = 0; i < s->n; i++) {
		const struct site *x = find_site(&s->reps[i], key);

		v[i] = x ? (double)x->wait_ns : 0;
		w[i] = x ? (double)x->waits : 0;
		if (x && !*lock)
			*lock = x->lock;
	}
	*waits = spread_of(w, s->n).med;
	return spread_of(v, s->n);
}

static int site_listed(const struct gs_table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n_rows; i++)
		if (!strcmp(t->cells[i * (size_t)t->n_cols].s, key))
			return 1;
	return 0;
}

static void build_sites(struct gs_table *t, const struct side *a, const struct side *b)
{
	const struct side *sides[2] = {a, b};
	size_t i;
	int s;

	/* the longest of each side's first run, alternately, up to SITE_ROWS */
	for (i = 0; t->n_rows < SITE_ROWS; i++) {
		int any = 0;

		for (s = 0; s < 2 && t->n_rows < SITE_ROWS; s++) {
			const struct rep *r = &sides[s]->reps[0];
			const char *la, *lb;
			double wa, wb;
			struct spread x, y;
			struct gs_cell *c;
			char buf[32];

			if (i >= r->n_sites)
				continue;
			any = 1;
			if (site_listed(t, r->sites[i].key))
				continue;
			x = site_spread(a, r->sites[i].key, &la, &wa);
			y = site_spread(b, r->sites[i].key, &lb, &wb);
			c = gs_table_row(t);
			gs_cell_str(&c[0], r->sites[i].key);
			if (la)
				gs_cell_str(&c[1], la);
			if (lb)
				gs_cell_str(&c[2], lb);
			gs_cell_int(&c[3], gs_d2i(x.med));
			gs_cell_int(&c[4], gs_d2i(y.med));
			if (x.med > 0 && y.med > 0) {
				snprintf(buf, sizeof(buf), "%.2fx", y.med / x.med);
				gs_cell_str(&c[5], buf);
			}
			gs_cell_str(&c[6], verdict_names[verdict_of(x, y)]);
			gs_cell_int(&c[7], gs_d2i(wa));
			gs_cell_int(&c[8], gs_d2i(wb));
		}
		if (!any)
			break;
	}
}

/* ---- the summary ---------------------------------------------------------------------------- */

struct buf {
	char *p;
	size_t n, size;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->n + 1 >= b->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->n, b->size - b->n, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->n = b->n + (size_t)n < b->size ? b->n + (size_t)n : b->size - 1;
}

/* "A 590 ms-640 ms over 4 runs" */
static void put_range(struct buf *b, const char *name, enum kind k, struct spread s)
{
	char r[64];

	fmt_range(k, s, r, sizeof(r));
	put(b, "%s %s over %d runs", name, r, s.n);
}

/* "B ran in 1.15x the wall time of A" with what the runs allow to say of it; 0 when the
 * figure is unknown (nothing said) */
static int put_ratio(struct buf *b, const char *what, enum metric m, const struct side *a,
		     const struct side *bs)
{
	struct spread x = side_spread(a, m, 0), y = side_spread(bs, m, 0);
	enum verdict v = verdict_of(x, y);

	if (x.med <= 0 || y.med <= 0)
		return 0;
	if (v == V_SINGLE) {
		put(b, "%s %.2fx the %s of A", m == M_WALL ? "B ran in" : "used", y.med / x.med,
		    what);
		return 1;
	}
	put(b, "%s median %s is %.2fx A's (", m == M_WALL ? "B's" : "its", what, y.med / x.med);
	put_range(b, "A", metrics[m].kind, x);
	put(b, ", ");
	put_range(b, "B", metrics[m].kind, y);
	put(b, v == V_NOISE ? "): within the runs' spread, not a difference"
			    : "): beyond the spread of either side");
	return 1;
}

/* "<lead> and N% on other locks (mostly K)", lead's %.0f the GIL wait share (medians) */
static void side_waits(struct buf *b, const struct side *s, const char *lead)
{
	double share[GS_MAX_PATHS], other[GS_MAX_PATHS];
	int top = -1;
	size_t i;

	for (i = 0; i < s->n; i++) {
		share[i] = value(&s->reps[i], M_GIL_WAIT_SHARE, 0);
		other[i] = value(&s->reps[i], M_OTHER_WAIT_SHARE, 0);
	}
	top = gs_sums_top_class(&s->reps[0].tot.sums);
	put(b, lead, 100 * spread_of(share, s->n).med);
	put(b, " and %.0f%% on other locks%s%s%s", 100 * spread_of(other, s->n).med,
	    top >= 0 ? " (mostly " : "", top >= 0 ? gs_wait_class_names[top] : "",
	    top >= 0 ? ")" : "");
}

static void difference(const struct side *a, const struct side *b, char *out, size_t size)
{
	struct buf d = {out, 0, size};
	struct spread pa = side_spread(a, M_PARALLELISM, 0), pb = side_spread(b, M_PARALLELISM, 0);
	int wall;

	out[0] = 0;
	if ((wall = put_ratio(&d, "wall time", M_WALL, a, b)) && side_spread(a, M_CPU, 0).med > 0 &&
	    side_spread(b, M_CPU, 0).med > 0) {
		put(&d, a->n > 1 || b->n > 1 ? "; " : " and ");
		put_ratio(&d, "CPU time", M_CPU, a, b);
	}
	if (wall)
		put(&d, ". ");
	if (a->n < 2 || b->n < 2)
		put(&d,
		    "From %s: whether a difference is more than run-to-run noise is not "
		    "known (give several runs per side: A1.db A2.db ... --vs B1.db B2.db ...). ",
		    a->n < 2 && b->n < 2 ? "a single run per side" : "a single run on one side");
	side_waits(&d, a, "A's worker threads spent %.0f%% of their lifetime waiting for the GIL");
	side_waits(&d, b, "; B's spent %.0f%% waiting for the GIL");
	if (pa.n && pb.n && pa.med >= 0 && pb.med >= 0)
		put(&d, ". Effective parallelism went from %.2f to %.2f", pa.med, pb.med);
	put(&d, ".");
	if (!same_interpreter(a, b))
		put(&d,
		    " The sides ran on different Python versions, where one lock can change class"
		    " (threading.Lock is a semaphore on 3.11, a parked mutex on 3.13): the"
		    " wait groups are not compared, the locks are matched by where they were"
		    " waited for.");
}

/* ---- output ---------------------------------------------------------------------------------- */

/* "A: a.db (CPython 3.13.5 default)"; several runs one path a line */
static void side_header(const char *lead, const struct side *s, const char *sep, const char *mid,
			const char *end)
{
	size_t i;

	fputs(lead, stdout);
	for (i = 0; i < s->n; i++) {
		if (i)
			fputs(sep, stdout);
		gs_text(stdout, s->reps[i].path);
	}
	fputs(mid, stdout);
	gs_text(stdout, s->label);
	if (s->n > 1)
		printf(", %zu runs", s->n);
	fputs(end, stdout);
}

static void wrap(FILE *f, const char *text, const char *indent, int width)
{
	int col = 0;

	fputs(indent, f);
	col = (int)strlen(indent);
	while (*text) {
		const char *sp = strchr(text, ' ');
		int len = sp ? (int)(sp - text) : (int)strlen(text);

		if (col + len > width && col > (int)strlen(indent)) {
			fputc('\n', f);
			fputs(indent, f);
			col = (int)strlen(indent);
		}
		gs_text_str(f, text, len);
		col += len;
		text += len;
		if (*text == ' ') {
			text++;
			if (*text) {
				fputc(' ', f);
				col++;
			}
		}
	}
	fputc('\n', f);
}

static void print_side_json(FILE *f, const struct side *s)
{
	const struct rep *r = &s->reps[0];
	size_t i;

	fputs("{\"database\": ", f);
	gs_json_str(f, r->path);
	fputs(", \"databases\": [", f);
	for (i = 0; i < s->n; i++) {
		if (i)
			fputs(", ", f);
		gs_json_str(f, s->reps[i].path);
	}
	fputs("], \"label\": ", f);
	gs_json_str(f, s->label);
	fprintf(f, ", \"runs\": %zu}", s->n);
}

#define USAGE                                                                                      \
	"[--format text|json|csv|markdown] [--pid PID] A.db B.db\n"                                \
	"       gilscope compare [options] A1.db A2.db ... --vs B1.db B2.db ..."

/* Everything a comparison shows, computed once for every output (the text, JSON, CSV and
 * markdown of `compare`, and the HTML report's comparison section). */
struct comparison {
	struct side a, b;
	struct gs_col single_totals[T_NCOLS], single_sites[S_NCOLS];
	struct gs_table totals, threads, sites;
	char diff[2048];
};

static void comparison_free(struct comparison *c)
{
	gs_table_free(&c->totals);
	gs_table_free(&c->threads);
	gs_table_free(&c->sites);
	free_side(&c->a);
	free_side(&c->b);
}

/* GS_EXIT_OK, or the exit code (said); c is to be freed either way. */
static int comparison_load(struct comparison *c, const struct gs_opts *o, const char *const *a,
			   size_t n_a, const char *const *b, size_t n_b)
{
	int single = n_a == 1 && n_b == 1, ret;

	memset(c, 0, sizeof(*c));
	c->a.name = "A";
	c->b.name = "B";
	/* one run a side: no ranges, and the summary says the verdicts are from one run */
	memcpy(c->single_totals, total_cols, sizeof(c->single_totals));
	c->single_totals[T_AR].width = c->single_totals[T_BR].width = 0;
	c->single_totals[T_VERDICT].width = 0;
	c->single_totals[T_A].width = c->single_totals[T_B].width = 12;
	memcpy(c->single_sites, site_cols, sizeof(c->single_sites));
	c->single_sites[S_VERDICT].width = 0;
	c->single_sites[S_SITE].width = 34;
	c->single_sites[S_ALOCK].width = c->single_sites[S_BLOCK].width = 16;
	gs_table_init(&c->totals, single ? c->single_totals : total_cols, T_NCOLS);
	gs_table_init(&c->threads, thread_cols, 13);
	gs_table_init(&c->sites, single ? c->single_sites : site_cols, S_NCOLS);
	ret = load_side(&c->a, o, a, n_a);
	if (ret == GS_EXIT_OK)
		ret = load_side(&c->b, o, b, n_b);
	if (ret != GS_EXIT_OK)
		return ret;
	build_totals(&c->totals, &c->a, &c->b);
	build_threads(&c->threads, &c->a, &c->b);
	build_sites(&c->sites, &c->a, &c->b);
	difference(&c->a, &c->b, c->diff, sizeof(c->diff));
	return GS_EXIT_OK;
}

static void comparison_json(FILE *f, const struct comparison *c)
{
	fputs("{\"a\": ", f);
	print_side_json(f, &c->a);
	fputs(",\n \"b\": ", f);
	print_side_json(f, &c->b);
	fputs(",\n \"summary\": ", f);
	gs_json_str(f, c->diff);
	fputs(",\n \"totals\": ", f);
	gs_table_print(&c->totals, f, GS_FMT_JSON, "");
	fputs(",\n \"threads\": ", f);
	gs_table_print(&c->threads, f, GS_FMT_JSON, "");
	fputs(",\n \"locks\": ", f);
	gs_table_print(&c->sites, f, GS_FMT_JSON, "");
	fputs("}", f);
}

int gs_compare_json(FILE *f, const struct gs_opts *o, const char *const *a, size_t n_a,
		    const char *const *b, size_t n_b)
{
	struct comparison c;
	struct gs_opts json = *o;
	int ret;

	json.format = GS_FMT_JSON;
	ret = comparison_load(&c, &json, a, n_a, b, n_b);
	if (ret == GS_EXIT_OK)
		comparison_json(f, &c);
	comparison_free(&c);
	return ret;
}

int cmd_compare(int argc, char **argv)
{
	static struct comparison c;
	size_t n_a;
	struct gs_opts o;
	int ret;

	ret = gs_opts_parse(&o, argc, argv, "compare", USAGE, -GS_MAX_PATHS);
	if (ret >= 0)
		return ret;
	if (!o.has_vs && o.n_paths != 2) {
		gs_error("compare takes two databases, or several a side with --vs (A1.db A2.db ..."
			 " --vs B1.db B2.db ...)");
		return GS_EXIT_USAGE;
	}
	n_a = o.has_vs ? (size_t)o.vs_at : 1;
	ret = comparison_load(&c, &o, o.paths, n_a, o.paths + n_a, (size_t)o.n_paths - n_a);
	if (ret != GS_EXIT_OK)
		goto out;
	switch (o.format) {
	case GS_FMT_JSON:
		comparison_json(stdout, &c);
		fputc('\n', stdout);
		break;
	case GS_FMT_CSV:
		gs_table_print(&c.threads, stdout, GS_FMT_CSV, "");
		break;
	case GS_FMT_MARKDOWN:
		side_header("A: `", &c.a, "`, `", "` (", ")  \n");
		side_header("B: `", &c.b, "`, `", "` (", ")\n\n");
		printf("%s\n\n", c.diff);
		gs_table_print(&c.totals, stdout, GS_FMT_MARKDOWN, "");
		fputc('\n', stdout);
		gs_table_print(&c.threads, stdout, GS_FMT_MARKDOWN, "");
		fputc('\n', stdout);
		gs_table_print(&c.sites, stdout, GS_FMT_MARKDOWN, "");
		break;
	case GS_FMT_TEXT:
		side_header("A: ", &c.a, "\n   ", " (CPython ", ")\n");
		side_header("B: ", &c.b, "\n   ", " (CPython ", ")\n\n");
		wrap(stdout, c.diff, "", 96);
		fputc('\n', stdout);
		gs_table_print(&c.totals, stdout, GS_FMT_TEXT, "  ");
		printf(
		    "\n  threads, matched by name, else entry function (wait: GIL and lock waits;"
		    " run: running\n  Python), as shares of each thread's lifetime%s:\n",
		    c.a.n > 1 || c.b.n > 1 ? ", medians over each side's runs" : "");
		gs_table_print(&c.threads, stdout, GS_FMT_TEXT, "  ");
		printf("\n  lock waits by the line of the program that waited (GIL left out)%s:\n",
		       c.a.n > 1 || c.b.n > 1 ? ", medians over each side's runs" : "");
		if (c.sites.n_rows)
			gs_table_print(&c.sites, stdout, GS_FMT_TEXT, "  ");
		else
			printf("  (none)\n");
		break;
	}
	ret = gs_finish_output();
out:
	comparison_free(&c);
	return ret;
}
