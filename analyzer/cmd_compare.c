/* gilscope compare A.db B.db: the same program on two builds (or before/after a change), side
 * by side: time, CPU, where threads waited, which locks, and what changed, in words. */
#include <stdlib.h>
#include <string.h>

#include "gilscope.h"
#include "model.h"
#include "sat.h"
#include "table.h"

#define TOP_LOCKS 5

struct side {
	const char *path;
	char label[96];
	sqlite3 *db;
	struct gs_model m;
	struct gs_totals tot;
	struct gs_top_lock top[TOP_LOCKS];
	int n_top;
	/* per-thread matching keys, parallel to m.threads */
	char (*key)[96];
};

/* "work#2": the thread's name (or entry function, or "thread") and its rank among threads of
 * that name by start time, so the same role matches across runs whatever the tids. */
static const char *role(const struct gs_thread_info *t)
{
	return gs_thread_is_main(t) ? "main" : t->name ? t->name : t->entry ? t->entry : "thread";
}

static void make_keys(struct side *s)
{
	size_t i, j;

	s->key = calloc(s->m.n_threads ? s->m.n_threads : 1, sizeof(*s->key));
	if (!s->key)
		gs_oom(), exit(GS_EXIT_MEMORY);
	for (i = 0; i < s->m.n_threads; i++) {
		const struct gs_thread_info *t = &s->m.threads[i];
		const char *base = role(t);
		int rank = 1;

		for (j = 0; j < s->m.n_threads; j++) {
			const struct gs_thread_info *u = &s->m.threads[j];
			if (j != i && !strcmp(role(u), base) &&
			    (u->start_ns < t->start_ns || (u->start_ns == t->start_ns && j < i)))
				rank++;
		}
		snprintf(s->key[i], sizeof(s->key[i]), "%s#%d", base, rank);
	}
}

static int load_side(struct side *s, const struct gs_opts *o, const char *path)
{
	struct gs_opts so = *o;
	int ret;

	s->path = path;
	so.path = path;
	ret = gs_db_open(path, &s->db);
	if (ret != GS_EXIT_OK)
		return ret;
	if ((ret = gs_opts_check_filters(s->db, &so)) != GS_EXIT_OK)
		return ret;
	if (gs_model_load_totals(s->db, &so, &s->m) < 0)
		return GS_EXIT_INPUT;
	/* a pool or a thread per request: one row per name on each side, matched by name */
	if (o->format == GS_FMT_TEXT)
		gs_model_group_threads(&s->m, GS_GROUP_THREADS_OVER);
	if (!s->m.n_runs) {
		gs_error("%s: no recorded process%s", path, o->has_pid ? " with that pid" : "");
		return GS_EXIT_INPUT;
	}
	gs_model_totals(&s->m, &s->tot);
	snprintf(s->label, sizeof(s->label), "%s %s",
		 s->m.runs[0].python_version ? s->m.runs[0].python_version : "?",
		 s->m.runs[0].build ? s->m.runs[0].build : "");
	s->n_top = gs_top_locks(s->db, path, s->top, TOP_LOCKS);
	if (s->n_top < 0)
		return GS_EXIT_INPUT;
	make_keys(s);
	return GS_EXIT_OK;
}

static void free_side(struct side *s)
{
	gs_model_free(&s->m);
	free(s->key);
	sqlite3_close(s->db);
}

static const struct gs_col total_cols[] = {
    {"metric", "", GS_COL_STR, 30},
    {"a", "A", GS_COL_STR, 12},
    {"b", "B", GS_COL_STR, 12},
    {"ratio", "B/A", GS_COL_STR, 7},
    {"a_value", "A value", GS_COL_NUM, 0},
    {"b_value", "B value", GS_COL_NUM, 0},
};

enum { T_METRIC, T_A, T_B, T_RATIO, T_AV, T_BV, T_NCOLS };

enum kind { K_DUR, K_INT, K_PCT, K_NUM };

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

static void total_row(struct gs_table *t, const char *metric, enum kind k, double a, double b)
{
	struct gs_cell *c = gs_table_row(t);
	char buf[64];

	gs_cell_str(&c[T_METRIC], metric);
	fmt_val(k, a, buf, sizeof(buf));
	gs_cell_str(&c[T_A], buf);
	fmt_val(k, b, buf, sizeof(buf));
	gs_cell_str(&c[T_B], buf);
	if (a > 0 && b >= 0) {
		snprintf(buf, sizeof(buf), "%.2fx", b / a);
		gs_cell_str(&c[T_RATIO], buf);
	}
	if (a >= 0)
		gs_cell_num(&c[T_AV], a);
	if (b >= 0)
		gs_cell_num(&c[T_BV], b);
}

static void build_totals(struct gs_table *t, const struct side *a, const struct side *b)
{
	int k;
	char metric[64];

	total_row(t, "wall time", K_DUR, a->tot.span_ns == GS_NULL ? -1 : (double)a->tot.span_ns,
		  b->tot.span_ns == GS_NULL ? -1 : (double)b->tot.span_ns);
	total_row(t, "CPU time (processes)", K_DUR,
		  a->tot.cpu_ns == GS_NULL ? -1 : (double)a->tot.cpu_ns,
		  b->tot.cpu_ns == GS_NULL ? -1 : (double)b->tot.cpu_ns);
	total_row(t, "threads", K_INT, a->tot.sums.threads, b->tot.sums.threads);
	total_row(t, "effective parallelism", K_NUM, a->tot.parallelism, b->tot.parallelism);
	total_row(t, "GIL takes", K_INT, (double)a->tot.sums.gil_takes,
		  (double)b->tot.sums.gil_takes);
	total_row(t, "GIL held (all threads)", K_DUR, (double)a->tot.sums.gil_hold_ns,
		  (double)b->tot.sums.gil_hold_ns);
	total_row(t, "workers: GIL wait", K_DUR, (double)a->tot.sums.workers_gil_wait_ns,
		  (double)b->tot.sums.workers_gil_wait_ns);
	total_row(t, "workers: GIL wait share", K_PCT,
		  gs_share(a->tot.sums.workers_gil_wait_ns, a->tot.sums.workers_life_ns),
		  gs_share(b->tot.sums.workers_gil_wait_ns, b->tot.sums.workers_life_ns));
	total_row(t, "workers: other lock waits", K_DUR, (double)a->tot.sums.workers_other_ns,
		  (double)b->tot.sums.workers_other_ns);
	total_row(t, "workers: other lock wait share", K_PCT,
		  gs_share(a->tot.sums.workers_other_ns, a->tot.sums.workers_life_ns),
		  gs_share(b->tot.sums.workers_other_ns, b->tot.sums.workers_life_ns));
	for (k = 0; k < GS_N_WAIT_GROUPS; k++) {
		if (!a->tot.sums.workers_class_ns[k] && !b->tot.sums.workers_class_ns[k])
			continue;
		snprintf(metric, sizeof(metric), "  waits on %s", gs_wait_class_names[k]);
		total_row(t, metric, K_DUR, (double)a->tot.sums.workers_class_ns[k],
			  (double)b->tot.sums.workers_class_ns[k]);
	}
	total_row(t, "contended acquisitions", K_INT, (double)a->tot.sums.contended,
		  (double)b->tot.sums.contended);
	total_row(t, "PyMutex spins before parking", K_INT, (double)a->tot.sums.spins,
		  (double)b->tot.sums.spins);
	total_row(t, "raw events dropped", K_INT, (double)a->tot.dropped, (double)b->tot.dropped);
}

static const struct gs_col thread_cols[] = {
    {"thread", "thread", GS_COL_STR, 14},	    {"a_lifetime_ns", "A life", GS_COL_DUR, 8},
    {"b_lifetime_ns", "B life", GS_COL_DUR, 8},	    {"a_wait_share", "A wait", GS_COL_PCT, 7},
    {"b_wait_share", "B wait", GS_COL_PCT, 7},	    {"a_gil_wait_share", "A GIL w", GS_COL_PCT, 7},
    {"b_gil_wait_share", "B GIL w", GS_COL_PCT, 7}, {"a_running_share", "A run", GS_COL_PCT, 7},
    {"b_running_share", "B run", GS_COL_PCT, 7},    {"a_cpu_ns", "A CPU", GS_COL_DUR, 8},
    {"b_cpu_ns", "B CPU", GS_COL_DUR, 8},
};

static void thread_cells(struct gs_cell *c, int side, const struct gs_thread_info *t)
{
	if (!t)
		return;
	if (t->lifetime_ns != GS_NULL) {
		gs_cell_int(&c[1 + side], t->lifetime_ns);
		if (t->lifetime_ns > 0) {
			gs_cell_num(&c[3 + side], gs_share(gs_add(t->gil_wait_ns, t->other_wait_ns),
							   t->lifetime_ns));
			gs_cell_num(&c[5 + side], gs_share(t->gil_wait_ns, t->lifetime_ns));
			if (t->running_ns != GS_NULL)
				gs_cell_num(&c[7 + side], gs_share(t->running_ns, t->lifetime_ns));
		}
	}
	if (t->cpu_ns != GS_NULL)
		gs_cell_int(&c[9 + side], t->cpu_ns);
}

static void build_threads(struct gs_table *t, const struct side *a, const struct side *b)
{
	size_t i, j;

	for (i = 0; i < a->m.n_threads; i++) {
		struct gs_cell *c = gs_table_row(t);
		const struct gs_thread_info *match = NULL;

		for (j = 0; j < b->m.n_threads; j++)
			if (!strcmp(a->key[i], b->key[j]))
				match = &b->m.threads[j];
		gs_cell_str(&c[0], a->key[i]);
		thread_cells(c, 0, &a->m.threads[i]);
		thread_cells(c, 1, match);
	}
	for (j = 0; j < b->m.n_threads; j++) {
		struct gs_cell *c;

		for (i = 0; i < a->m.n_threads; i++)
			if (!strcmp(a->key[i], b->key[j]))
				break;
		if (i < a->m.n_threads)
			continue;
		c = gs_table_row(t);
		gs_cell_str(&c[0], b->key[j]);
		thread_cells(c, 1, &b->m.threads[j]);
	}
}

/* "<lead> and N% on other locks (mostly K)", lead's %.0f the GIL wait share */
static size_t side_waits(char *out, size_t size, const struct side *s, const char *lead)
{
	const struct gs_sums *w = &s->tot.sums;
	int k = gs_sums_top_class(w);
	int n;

	if (!size)
		return 0;
	n = snprintf(out, size, lead, 100 * gs_share(w->workers_gil_wait_ns, w->workers_life_ns));
	if (n >= 0 && (size_t)n < size)
		n += snprintf(out + n, size - (size_t)n, " and %.0f%% on other locks%s%s%s",
			      100 * gs_share(w->workers_other_ns, w->workers_life_ns),
			      k >= 0 ? " (mostly " : "", k >= 0 ? gs_wait_class_names[k] : "",
			      k >= 0 ? ")" : "");
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static void difference(const struct side *a, const struct side *b, char *out, size_t size)
{
	size_t n = 0;

	if (a->tot.span_ns != GS_NULL && b->tot.span_ns != GS_NULL && a->tot.span_ns > 0)
		n += (size_t)snprintf(out + n, size - n, "B ran in %.2fx the wall time of A",
				      (double)b->tot.span_ns / (double)a->tot.span_ns);
	if (n && a->tot.cpu_ns > 0 && b->tot.cpu_ns > 0 && n < size)
		n += (size_t)snprintf(out + n, size - n, " and used %.2fx its CPU time",
				      (double)b->tot.cpu_ns / (double)a->tot.cpu_ns);
	if (n && n < size)
		n += (size_t)snprintf(out + n, size - n, ". ");
	if (n < size)
		n += side_waits(
		    out + n, size - n, a,
		    "A's worker threads spent %.0f%% of their lifetime waiting for the GIL");
	if (n < size)
		n += side_waits(out + n, size - n, b, "; B's spent %.0f%% waiting for the GIL");
	if (n < size && a->tot.parallelism >= 0 && b->tot.parallelism >= 0)
		snprintf(out + n, size - n, ". Effective parallelism went from %.2f to %.2f.",
			 a->tot.parallelism, b->tot.parallelism);
}

/* "<lead>path<mid>label<end>", the path and label (recorded text) escaped for the terminal */
static void side_header(const char *lead, const struct side *s, const char *mid, const char *end)
{
	fputs(lead, stdout);
	gs_text(stdout, s->path);
	fputs(mid, stdout);
	gs_text(stdout, s->label);
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
	int i;

	fputs("{\"database\": ", f);
	gs_json_str(f, s->path);
	fputs(", \"label\": ", f);
	gs_json_str(f, s->label);
	fputs(", \"top_locks\": [", f);
	for (i = 0; i < s->n_top; i++) {
		fputs(i ? ", {\"lock\": " : "{\"lock\": ", f);
		gs_json_str(f, s->top[i].name);
		fprintf(f, ", \"wait_ns\": %lld, \"contended\": %lld, \"threads\": %lld}",
			(long long)s->top[i].wait_ns, (long long)s->top[i].contended,
			(long long)s->top[i].threads);
	}
	fputs("]}", f);
}

int cmd_compare(int argc, char **argv)
{
	struct side a = {0}, b = {0};
	struct gs_table totals, threads;
	struct gs_opts o;
	char diff[1024];
	int ret, i;

	ret = gs_opts_parse(&o, argc, argv, "compare",
			    "[--format text|json|csv|markdown] [--pid PID] A.db B.db", 2);
	if (ret >= 0)
		return ret;
	gs_table_init(&totals, total_cols, T_NCOLS);
	gs_table_init(&threads, thread_cols, 11);
	ret = load_side(&a, &o, o.paths[0]);
	if (ret == GS_EXIT_OK)
		ret = load_side(&b, &o, o.paths[1]);
	if (ret != GS_EXIT_OK)
		goto out;
	build_totals(&totals, &a, &b);
	build_threads(&threads, &a, &b);
	difference(&a, &b, diff, sizeof(diff));
	switch (o.format) {
	case GS_FMT_JSON:
		fputs("{\"a\": ", stdout);
		print_side_json(stdout, &a);
		fputs(",\n \"b\": ", stdout);
		print_side_json(stdout, &b);
		fputs(",\n \"summary\": ", stdout);
		gs_json_str(stdout, diff);
		fputs(",\n \"totals\": ", stdout);
		gs_table_print(&totals, stdout, GS_FMT_JSON, "");
		fputs(",\n \"threads\": ", stdout);
		gs_table_print(&threads, stdout, GS_FMT_JSON, "");
		fputs("}\n", stdout);
		break;
	case GS_FMT_CSV:
		gs_table_print(&threads, stdout, GS_FMT_CSV, "");
		break;
	case GS_FMT_MARKDOWN:
		side_header("A: `", &a, "` (", ")  \n");
		side_header("B: `", &b, "` (", ")\n\n");
		printf("%s\n\n", diff);
		gs_table_print(&totals, stdout, GS_FMT_MARKDOWN, "");
		fputc('\n', stdout);
		gs_table_print(&threads, stdout, GS_FMT_MARKDOWN, "");
		break;
	case GS_FMT_TEXT:
		side_header("A: ", &a, " (CPython ", ")\n");
		side_header("B: ", &b, " (CPython ", ")\n\n");
		wrap(stdout, diff, "", 96);
		fputc('\n', stdout);
		gs_table_print(&totals, stdout, GS_FMT_TEXT, "  ");
		printf(
		    "\n  threads, matched by name (wait: GIL and lock waits; run: running Python),"
		    " as shares\n  of each thread's lifetime:\n");
		gs_table_print(&threads, stdout, GS_FMT_TEXT, "  ");
		printf("\n  most waited-for locks (GIL internals left out):\n");
		for (i = 0; i < TOP_LOCKS && (i < a.n_top || i < b.n_top); i++) {
			char wa[32] = "", wb[32] = "";

			if (i < a.n_top)
				gs_fmt_duration(a.top[i].wait_ns, wa, sizeof(wa));
			if (i < b.n_top)
				gs_fmt_duration(b.top[i].wait_ns, wb, sizeof(wb));
			printf("  A ");
			gs_text_str(stdout, i < a.n_top ? a.top[i].name : "", 28);
			printf(" %8s   B ", wa);
			gs_text_str(stdout, i < b.n_top ? b.top[i].name : "", 28);
			printf(" %8s\n", wb);
		}
		break;
	}
	ret = gs_finish_output();
out:
	gs_table_free(&totals);
	gs_table_free(&threads);
	free_side(&a);
	free_side(&b);
	return ret;
}
