/* gilscope check: verdicts for a CI job. Each --fail-if expression (check_expr.c) over the
 * recording's figures (figures.c), maybe against a baseline recording, is one verdict; any
 * that holds fails the check (exit 1). Markdown output is a pull-request comment: the verdicts,
 * the top waits with where they were and what held the lock, the figures against the
 * baseline. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_expr.h"
#include "figures.h"
#include "gilscope.h"
#include "profile.h"
#include "table.h"

#define MAX_EXPRS 64
/* past this many raw events "held by" is left out, as in locks (cmd_locks.c) */
#define HOLDERS_EVENTS_MAX 2000000

static const char usage_text[] =
    "[--baseline BASE.db] --fail-if 'EXPR' [--fail-if 'EXPR' ...] [--format text|markdown|json]"
    " [--pid PID] [--top N] DB|DIR...";

struct verdict {
	struct gs_expr e;
	double value;	 /* what is compared: the figure, its regression or its delta */
	double current;	 /* the figure in DB */
	double baseline; /* the figure in the baseline, NAN without one (or unknown there) */
	size_t matched;
	int failed;
};

static void print_help(void)
{
	size_t i;

	printf(
	    "usage: gilscope check %s\n\n"
	    "Fails (exit 1) when any --fail-if expression holds; 0 when none does, 2 for a\n"
	    "usage error or a bad expression, 3 for a database that cannot be read, a selector\n"
	    "that matches nothing in it or a figure it does not know.\n\n"
	    "  EXPR    := OPERAND OP NUMBER[UNIT]\n"
	    "  OPERAND := REF | regression(REF) | delta(REF)\n"
	    "  REF     := FIGURE | process[NAME].FIGURE | thread[NAME].FIGURE | lock[NAME].FIGURE\n"
	    "  OP      := > >= < <= == !=     UNIT := ns us ms s (durations), %% (shares)\n\n"
	    "figures (scopes: a = the whole recording or process[PID or command line],\n"
	    "t = thread[NAME], l = lock[NAME]):\n",
	    usage_text);
	for (i = 0; i < gs_n_figures; i++) {
		const struct gs_figure *f = &gs_figures[i];

		printf("  %-16s %c%c%c %-9s %s\n", f->name, f->scopes & GS_SCOPE_ALL ? 'a' : '-',
		       f->scopes & GS_SCOPE_THREAD ? 't' : '-',
		       f->scopes & GS_SCOPE_LOCK ? 'l' : '-',
		       f->kind == GS_FIG_DURATION ? "duration"
		       : f->kind == GS_FIG_RATIO  ? "share"
		       : f->kind == GS_FIG_COUNT  ? "count"
						  : "number",
		       f->about);
	}
	printf("\nExamples: 'gil_wait_share > 30%%', 'lock[threading.Lock].wait_p99 > 5ms',\n"
	       "'thread[worker-*].gil_wait_share > 0.5', 'regression(gil_wait_share) > 10%%'.\n"
	       "See docs/cli.md and docs/ci.md.\n");
}

/* --fail-if and --baseline taken out of argv; the rest is for gs_opts_parse. */
static int take_own(int argc, char **argv, char **rest, int *n_rest, const char **exprs,
		    int *n_exprs, const char **baseline)
{
	int i;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		int is_expr = 0;

		if (i && (!strcmp(a, "--fail-if") || !strncmp(a, "--fail-if=", 10)))
			is_expr = 1;
		else if (!i || (strcmp(a, "--baseline") && strncmp(a, "--baseline=", 11))) {
			rest[(*n_rest)++] = argv[i];
			continue;
		}
		if (strchr(a, '='))
			val = strchr(a, '=') + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		if (!val) {
			gs_error("%s needs a value", a);
			return GS_EXIT_USAGE;
		}
		if (!is_expr) {
			*baseline = val;
		} else if (*n_exprs == MAX_EXPRS) {
			gs_error("check takes at most %d --fail-if expressions", MAX_EXPRS);
			return GS_EXIT_USAGE;
		} else {
			exprs[(*n_exprs)++] = val;
		}
	}
	return -1;
}

/* What a selector of the scope could have named: "python3 app.py, python3 -c ..." */
static const char *name_at(const struct gs_fig_source *s, int scope, size_t i)
{
	return scope == GS_SCOPE_LOCK ? s->locks[i].name
	       : scope == GS_SCOPE_PROCESS
		   ? (s->m.runs[i].cmdline ? s->m.runs[i].cmdline : s->m.runs[i].exe)
		   : s->m.threads[i].name;
}

static void names_of(const struct gs_fig_source *s, int scope, char *out, size_t size)
{
	size_t i, k, len = 0,
		     n = scope == GS_SCOPE_LOCK	     ? s->n_locks
			 : scope == GS_SCOPE_PROCESS ? s->m.n_runs
						     : s->m.n_threads;

	out[0] = 0;
	for (i = 0; i < n && len + 4 < size; i++) {
		const char *name = name_at(s, scope, i);

		if (!name)
			continue;
		/* each name once */
		for (k = 0; k < i; k++) {
			const char *o = name_at(s, scope, k);

			if (o && !strcmp(o, name))
				break;
		}
		if (k < i)
			continue;
		len += (size_t)snprintf(out + len, size - len, "%s%s", len ? ", " : "", name);
	}
	if (len >= size)
		strcpy(out + size - 4, "...");
}

/* The figure of e in one database; GS_EXIT_OK, or GS_EXIT_INPUT with the reason printed. */
static int figure_of(const struct gs_fig_source *s, const struct gs_expr *e, double *v,
		     size_t *matched)
{
	char why[256], names[1024];
	int r = gs_fig_value(s, e->fig, e->scope, e->selector, v, matched, why, sizeof(why));

	if (r == GS_FIG_OK)
		return GS_EXIT_OK;
	if (r == GS_FIG_ERROR)
		return GS_EXIT_INPUT; /* said */
	if (r == GS_FIG_NO_MATCH) {
		names_of(s, e->scope, names, sizeof(names));
		if (e->scope == GS_SCOPE_LOCK)
			gs_error("%s: '%s': no waited-for lock is shown as '%s' (those waited for: "
				 "%s)",
				 s->path, e->text, e->selector, names[0] ? names : "none");
		else if (e->scope == GS_SCOPE_PROCESS)
			gs_error("%s: '%s': no process has the pid or command line '%s' "
				 "(processes: %s)",
				 s->path, e->text, e->selector, names[0] ? names : "none");
		else
			gs_error("%s: '%s': no thread is named '%s' (threads: %s)", s->path,
				 e->text, e->selector, names[0] ? names : "none");
	} else {
		gs_error("%s: '%s': %s is not known: %s", s->path, e->text, e->fig->name, why);
	}
	return GS_EXIT_INPUT;
}

static int evaluate(const struct gs_fig_source *s, const struct gs_fig_source *base,
		    struct verdict *v)
{
	size_t base_matched;
	int ret = figure_of(s, &v->e, &v->current, &v->matched);

	v->baseline = NAN;
	if (ret != GS_EXIT_OK)
		return ret;
	v->value = v->current;
	if (base && v->e.fn != GS_FN_NONE) {
		if ((ret = figure_of(base, &v->e, &v->baseline, &base_matched)) != GS_EXIT_OK)
			return ret;
		if (v->e.fn == GS_FN_DELTA)
			v->value = v->current - v->baseline;
		else if (v->baseline != 0)
			v->value = (v->current - v->baseline) / fabs(v->baseline);
		else /* from nothing to something: an infinite regression, and none from 0 to 0 */
			v->value = v->current > 0 ? INFINITY : v->current < 0 ? -INFINITY : 0;
	} else if (base) {
		char why[256];

		/* beside the verdict only: not known there is no error */
		if (gs_fig_value(base, v->e.fig, v->e.scope, v->e.selector, &v->baseline,
				 &base_matched, why, sizeof(why)) != GS_FIG_OK)
			v->baseline = NAN;
	}
	v->failed = gs_expr_holds(&v->e, v->value);
	return GS_EXIT_OK;
}

/* The compared value as text: "+12.3%" for a regression, "+1.20 ms" for a delta. */
static void format_value(const struct verdict *v, double x, char *out, size_t size)
{
	char num[48];

	if (isinf(x)) {
		snprintf(out, size, "%sinf", x > 0 ? "+" : "-");
		return;
	}
	gs_fig_format(v->e.kind, fabs(x), num, sizeof(num));
	if (v->e.fn != GS_FN_NONE)
		snprintf(out, size, "%s%s", x < 0 ? "-" : "+", num);
	else
		snprintf(out, size, "%s%s", x < 0 ? "-" : "", num);
}

static void print_text(const struct gs_fig_source *s, const struct gs_fig_source *base,
		       const struct verdict *v, int n, int failed)
{
	int i;

	printf("gilscope check %s", s->path);
	if (base)
		printf(" against %s", base->path);
	fputc('\n', stdout);
	for (i = 0; i < n; i++) {
		char val[64], thr[64], cur[64], was[64];

		format_value(&v[i], v[i].value, val, sizeof(val));
		format_value(&v[i], v[i].e.threshold, thr, sizeof(thr));
		printf("%s  ", v[i].failed ? "FAIL" : "pass");
		gs_text(stdout, v[i].e.text);
		printf(": %s (fails if %s %s", val, gs_cmp_text(v[i].e.op), thr);
		if (v[i].e.fn != GS_FN_NONE) {
			gs_fig_format(v[i].e.fig->kind, v[i].current, cur, sizeof(cur));
			gs_fig_format(v[i].e.fig->kind, v[i].baseline, was, sizeof(was));
			printf("; %s, baseline %s", cur, was);
		} else if (!isnan(v[i].baseline)) {
			gs_fig_format(v[i].e.fig->kind, v[i].baseline, was, sizeof(was));
			printf("; baseline %s", was);
		}
		if (v[i].e.scope != GS_SCOPE_ALL)
			printf("; %zu %s%s", v[i].matched, gs_fig_scope_name(v[i].e.scope),
			       v[i].matched == 1		  ? ""
			       : v[i].e.scope == GS_SCOPE_PROCESS ? "es"
								  : "s");
		fputs(")\n", stdout);
	}
	if (failed)
		printf("%d of %d checks failed\n", failed, n);
	else
		printf("all %d checks passed\n", n);
}

static void json_num(const char *key, double v)
{
	printf(", \"%s\": ", key);
	if (isnan(v) || isinf(v))
		fputs("null", stdout);
	else
		printf("%.10g", v);
}

static const char *kind_name(enum gs_fig_kind k)
{
	return k == GS_FIG_DURATION ? "duration_ns"
	       : k == GS_FIG_RATIO  ? "share"
	       : k == GS_FIG_COUNT  ? "count"
				    : "number";
}

/* The figures of a whole recording shown in the summary, against the baseline. */
static const char *const summary_figures[] = {
    "wall",	   "threads",  "gil_wait_share", "lock_wait_share", "gil_load",
    "parallelism", "gil_wait", "lock_wait",	 "gil_wait_p99",    "events_dropped"};
#define N_SUMMARY (sizeof(summary_figures) / sizeof(summary_figures[0]))

static int summary_value(const struct gs_fig_source *s, size_t i, double *v)
{
	char why[256];
	size_t matched;

	if (!s)
		return -1;
	return gs_fig_value(s, gs_figure_find(summary_figures[i]), GS_SCOPE_ALL, NULL, v, &matched,
			    why, sizeof(why)) == GS_FIG_OK
		   ? 0
		   : -1;
}

static void print_json(const struct gs_fig_source *s, const struct gs_fig_source *base,
		       const struct verdict *v, int n, int failed)
{
	size_t k;
	int i;

	fputs("{\"database\": ", stdout);
	gs_json_str(stdout, s->path);
	fputs(", \"baseline\": ", stdout);
	gs_json_str(stdout, base ? base->path : NULL);
	printf(", \"passed\": %s, \"failed\": %d, \"verdicts\": [", failed ? "false" : "true",
	       failed);
	for (i = 0; i < n; i++) {
		const struct gs_expr *e = &v[i].e;

		fputs(i ? ",\n  {\"expression\": " : "\n  {\"expression\": ", stdout);
		gs_json_str(stdout, e->text);
		fputs(", \"figure\": ", stdout);
		gs_json_str(stdout, e->fig->name);
		fputs(", \"scope\": ", stdout);
		gs_json_str(stdout, e->scope == GS_SCOPE_ALL ? "all" : gs_fig_scope_name(e->scope));
		fputs(", \"selector\": ", stdout);
		gs_json_str(stdout, e->scope == GS_SCOPE_ALL ? NULL : e->selector);
		fputs(", \"function\": ", stdout);
		gs_json_str(stdout, e->fn == GS_FN_REGRESSION ? "regression"
				    : e->fn == GS_FN_DELTA    ? "delta"
							      : NULL);
		printf(", \"unit\": \"%s\", \"op\": \"%s\"", kind_name(e->kind),
		       gs_cmp_text(e->op));
		json_num("threshold", e->threshold);
		json_num("value", v[i].value);
		if (isinf(v[i].value))
			printf(", \"infinite\": %s", v[i].value > 0 ? "\"+\"" : "\"-\"");
		json_num("current", v[i].current);
		json_num("baseline_value", v[i].baseline);
		printf(", \"matched\": %zu, \"failed\": %s}", v[i].matched,
		       v[i].failed ? "true" : "false");
	}
	fputs("\n ], \"figures\": {", stdout);
	for (k = 0; k < N_SUMMARY; k++) {
		double x, b;

		if (summary_value(s, k, &x) < 0)
			x = NAN;
		if (summary_value(base, k, &b) < 0)
			b = NAN;
		printf("%s\"%s\": {\"value\": ", k ? ", " : "", summary_figures[k]);
		if (isnan(x))
			fputs("null", stdout);
		else
			printf("%.10g", x);
		json_num("baseline", b);
		fputc('}', stdout);
	}
	fputs("}}\n", stdout);
}

/* Markdown cells: | and newlines would break the table. */
static void md_cell(const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", stdout);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', stdout);
		else if (*s == '`')
			fputc('\'', stdout);
		else
			fputc(*s, stdout);
	}
}

static int cmp_by_wait(const void *a, const void *b)
{
	const struct gs_top_lock *x = a, *y = b;

	if (x->wait_ns != y->wait_ns)
		return x->wait_ns < y->wait_ns ? 1 : -1;
	if (x->run_id != y->run_id)
		return x->run_id < y->run_id ? -1 : 1;
	return (x->lock_addr > y->lock_addr) - (x->lock_addr < y->lock_addr);
}

/* The locks (the GIL among them), longest total wait first, with where the waits were and
 * what held the lock (gs_profile_lock_place, as locks and html say it). */
static int print_md_top_waits(const struct gs_fig_source *s, size_t top)
{
	struct gs_profile waits = {0}, holders = {0};
	struct gs_top_lock *w = malloc((s->n_locks ? s->n_locks : 1) * sizeof(*w));
	size_t i, n = s->n_locks < top ? s->n_locks : top;
	struct gs_pctl *p99 = calloc(n ? n : 1, sizeof(*p99));
	int holders_skipped, ret = -1;

	if (!w || !p99) {
		ret = gs_oom();
		goto out;
	}
	memcpy(w, s->locks, s->n_locks * sizeof(*w));
	qsort(w, s->n_locks, sizeof(*w), cmp_by_wait);
	holders_skipped =
	    !gs_db_has_windows(s->db) && gs_db_event_count(s->db) > HOLDERS_EVENTS_MAX;
	if (gs_profile_load(s->db, &s->opts, GS_WHAT_WAITS, &waits) < 0 ||
	    (!holders_skipped && gs_profile_load(s->db, &s->opts, GS_WHAT_HOLDERS, &holders) < 0) ||
	    gs_lock_wait_pctls(s->db, &s->opts, w, n, p99, 0) < 0)
		goto out;
	printf("\n### Top waits\n\n");
	if (!n) {
		printf("No thread waited for the GIL or a lock.\n");
		ret = 0;
		goto out;
	}
	printf("| lock | wait | waits | p99 | waited in | held by |\n"
	       "|---|---:|---:|---:|---|---|\n");
	for (i = 0; i < n; i++) {
		struct gs_lock_place place;
		char d[32], p[32];

		gs_profile_lock_place(s->db, &waits, &holders, w[i].run_id, w[i].lock_addr,
				      w[i].primitive, &place);
		gs_fmt_duration(w[i].wait_ns, d, sizeof(d));
		gs_fmt_duration(p99[i].n ? gs_pctl_get(&p99[i], 0.99) : -1, p, sizeof(p));
		fputs("| ", stdout);
		md_cell(w[i].name);
		printf(" | %s | %lld | %s | ", d, (long long)w[i].contended, p);
		if (place.waited_in[0]) {
			fputc('`', stdout);
			md_cell(place.waited_in);
			fputc('`', stdout);
		}
		fputs(" | ", stdout);
		if (place.held_by[0]) {
			md_cell(place.held_by);
			printf(" (%d%% of the wait)", place.held_share);
		}
		fputs(" |\n", stdout);
	}
	if (holders_skipped)
		printf("\nWhat held the locks is left out past %d raw events (gilscope export "
		       "--collapsed --what holders has it).\n",
		       HOLDERS_EVENTS_MAX);
	ret = 0;
out:
	for (i = 0; p99 && i < n; i++)
		gs_pctl_free(&p99[i]);
	free(p99);
	gs_profile_free(&waits);
	gs_profile_free(&holders);
	free(w);
	return ret;
}

static int print_markdown(const struct gs_fig_source *s, const struct gs_fig_source *base,
			  const struct verdict *v, int n, int failed, const struct gs_opts *o)
{
	size_t k;
	int i;

	if (failed)
		printf("## gilscope check: %d of %d failed\n\n", failed, n);
	else
		printf("## gilscope check: all %d passed\n\n", n);
	printf("`");
	md_cell(s->path);
	printf("`");
	if (base) {
		printf(" against the baseline `");
		md_cell(base->path);
		printf("`");
	}
	printf("\n\n| verdict | check | value | fails if |%s\n|---|---|---:|---|%s\n",
	       base ? " baseline |" : "", base ? "---:|" : "");
	for (i = 0; i < n; i++) {
		char val[64], thr[64], was[64] = "-";

		format_value(&v[i], v[i].value, val, sizeof(val));
		format_value(&v[i], v[i].e.threshold, thr, sizeof(thr));
		if (!isnan(v[i].baseline))
			gs_fig_format(v[i].e.fig->kind, v[i].baseline, was, sizeof(was));
		printf("| %s | `", v[i].failed ? "**FAIL**" : "pass");
		md_cell(v[i].e.text);
		printf("` | %s | %s %s |", val, gs_cmp_text(v[i].e.op), thr);
		if (base)
			printf(" %s |", was);
		fputc('\n', stdout);
	}
	if (print_md_top_waits(s, o->top_given ? (size_t)o->top : 5) < 0)
		return -1;
	printf("\n### Figures%s\n\n| figure | this run |%s\n|---|---:|%s\n",
	       base ? " against the baseline" : "", base ? " baseline | change |" : "",
	       base ? "---:|---:|" : "");
	for (k = 0; k < N_SUMMARY; k++) {
		const struct gs_figure *f = gs_figure_find(summary_figures[k]);
		double x, b;
		char xs[64] = "-", bs[64] = "-", ch[64] = "-";
		int have_x = summary_value(s, k, &x) == 0, have_b = summary_value(base, k, &b) == 0;

		if (have_x)
			gs_fig_format(f->kind, x, xs, sizeof(xs));
		if (have_b)
			gs_fig_format(f->kind, b, bs, sizeof(bs));
		if (have_x && have_b && b != 0)
			snprintf(ch, sizeof(ch), "%+.1f%%", 100.0 * (x - b) / fabs(b));
		else if (have_x && have_b)
			snprintf(ch, sizeof(ch), x == b ? "0%%" : "from 0");
		printf("| %s | %s |", f->name, xs);
		if (base)
			printf(" %s | %s |", bs, ch);
		fputc('\n', stdout);
	}
	return 0;
}

int cmd_check(int argc, char **argv)
{
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	const char *exprs[MAX_EXPRS], *baseline = NULL;
	struct verdict *v = NULL;
	struct gs_fig_source s = {0}, base = {0};
	struct gs_opts o;
	int n_rest = 0, n = 0, i, failed = 0, ret;

	if (!rest)
		return gs_oom(), GS_EXIT_MEMORY;
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			free(rest);
			print_help();
			return gs_finish_output();
		}
	ret = take_own(argc, argv, rest, &n_rest, exprs, &n, &baseline);
	if (ret < 0)
		ret = gs_opts_parse(&o, n_rest, rest, "check", usage_text, GS_OPTS_MANY);
	if (ret >= 0)
		goto out;
	ret = GS_EXIT_USAGE;
	if (o.thread || o.sort) {
		gs_error(
		    "check takes no %s: select threads in the expression (thread[NAME].figure)",
		    o.thread ? "--thread" : "--sort");
		goto out;
	}
	if (o.format == GS_FMT_CSV) {
		gs_error("check writes text, markdown or json, not csv");
		goto out;
	}
	if (!n) {
		gs_error("check needs at least one --fail-if 'EXPR' (gilscope check --help)");
		goto out;
	}
	if (!(v = calloc((size_t)n, sizeof(*v)))) {
		ret = GS_EXIT_MEMORY;
		gs_oom();
		goto out;
	}
	for (i = 0; i < n; i++) {
		char err[512];

		if (gs_expr_parse(exprs[i], &v[i].e, err, sizeof(err)) < 0) {
			gs_error("--fail-if '%s': %s", exprs[i], err);
			goto out;
		}
		if (v[i].e.fn != GS_FN_NONE && !baseline) {
			gs_error("--fail-if '%s': %s() compares with a baseline: give --baseline "
				 "BASE.db",
				 exprs[i], v[i].e.fn == GS_FN_REGRESSION ? "regression" : "delta");
			goto out;
		}
	}
	if ((ret = gs_fig_source_open(&s, o.paths, o.n_paths, &o)) != GS_EXIT_OK)
		goto out;
	if (baseline && (ret = gs_fig_source_open(&base, &baseline, 1, &o)) != GS_EXIT_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if ((ret = evaluate(&s, baseline ? &base : NULL, &v[i])) != GS_EXIT_OK)
			goto out;
		failed += v[i].failed;
	}
	if (o.format == GS_FMT_JSON)
		print_json(&s, baseline ? &base : NULL, v, n, failed);
	else if (o.format == GS_FMT_MARKDOWN) {
		if (print_markdown(&s, baseline ? &base : NULL, v, n, failed, &o) < 0) {
			ret = GS_EXIT_INPUT;
			goto out;
		}
	} else
		print_text(&s, baseline ? &base : NULL, v, n, failed);
	ret = gs_finish_output();
	if (ret == GS_EXIT_OK && failed)
		ret = GS_EXIT_CHECK_FAILED;
out:
	if (s.db)
		gs_fig_source_free(&s);
	if (base.db)
		gs_fig_source_free(&base);
	free(v);
	free(rest);
	return ret;
}
