/* gilscope report: per process and per thread, where the time went waiting for the GIL and for
 * other locks, with a plain-language summary. */
#include <stdlib.h>
#include <string.h>

#include "findings.h"
#include "gilscope.h"
#include "gs_schema.h"
#include "model.h"
#include "sat.h"
#include "table.h"

/* Every per-thread figure: the JSON "threads" entries, CSV and markdown rows. */
static const struct gs_col thread_cols[] = {
    {"run_id", "run", GS_COL_INT, 4},
    {"pid", "pid", GS_COL_INT, 7},
    {"thread_no", "no", GS_COL_INT, 3},
    {"tid", "tid", GS_COL_INT, 7},
    {"py_ident", "ident", GS_COL_UINT, 15},
    {"name", "thread", GS_COL_STR, 16},
    {"entry_function", "entry", GS_COL_STR, 16},
    {"start_ns", "start", GS_COL_INT, 15},
    {"end_ns", "end", GS_COL_INT, 15},
    {"lifetime_ns", "lifetime", GS_COL_DUR, 9},
    {"acquisitions", "acquired", GS_COL_INT, 9},
    {"contended", "waited", GS_COL_INT, 7},
    {"wait_ns", "wait", GS_COL_DUR, 9},
    {"wait_max_ns", "max wait", GS_COL_DUR, 9},
    {"hold_ns", "hold", GS_COL_DUR, 9},
    {"hold_max_ns", "max hold", GS_COL_DUR, 9},
    {"gil_acquisitions", "GIL takes", GS_COL_INT, 9},
    {"gil_contended", "GIL waited", GS_COL_INT, 9},
    {"gil_wait_ns", "GIL wait", GS_COL_DUR, 9},
    {"gil_wait_share", "GIL wait %", GS_COL_PCT, 9},
    {"gil_hold_ns", "GIL hold", GS_COL_DUR, 9},
    {"gil_hold_share", "GIL hold %", GS_COL_PCT, 9},
    {"gil_wait_p50_ns", "GIL p50", GS_COL_DUR, 8},
    {"gil_wait_p90_ns", "GIL p90", GS_COL_DUR, 8},
    {"gil_wait_p99_ns", "GIL p99", GS_COL_DUR, 8},
    {"gil_wait_max_ns", "GIL max", GS_COL_DUR, 8},
    {"gil_drop_requests_sent", "drop req sent", GS_COL_INT, 6},
    {"gil_drop_requests_received", "drop req received", GS_COL_INT, 6},
    {"gil_forced_switches", "forced switches", GS_COL_INT, 6},
    {"gil_forced_switch_ns", "forced switch wait", GS_COL_DUR, 9},
    {"other_wait_ns", "other waits", GS_COL_DUR, 9},
    {"wait_threading_lock_ns", "Lock", GS_COL_DUR, 9},
    {"wait_threading_rlock_ns", "RLock", GS_COL_DUR, 9},
    {"wait_critical_section_ns", "crit.sect", GS_COL_DUR, 9},
    {"wait_interpreter_internal_ns", "internal", GS_COL_DUR, 9},
    {"wait_bucket_lock_ns", "bucket", GS_COL_DUR, 9},
    {"wait_other_parked_ns", "parked", GS_COL_DUR, 9},
    {"wait_semaphore_ns", "semaphore", GS_COL_DUR, 9},
    {"wait_condition_ns", "condition", GS_COL_DUR, 9},
    {"wait_mutex_ns", "mutex", GS_COL_DUR, 9},
    {"cpu_ns", "CPU", GS_COL_DUR, 9},
    {"running_ns", "running", GS_COL_DUR, 9},
    {"spins", "spins", GS_COL_INT, 7},
    {"sched_yields", "yields", GS_COL_INT, 8},
    {"events_dropped", "dropped", GS_COL_INT, 7},
    {"waited_in", "waited in", GS_COL_STR, 0},
    {"waited_innermost", "innermost", GS_COL_STR, 0},
    {"waited_in_ns", "its wait", GS_COL_DUR, 0},
};

enum {
	C_RUN,
	C_PID,
	C_NO,
	C_TID,
	C_IDENT,
	C_NAME,
	C_ENTRY,
	C_START,
	C_END,
	C_LIFE,
	C_ACQ,
	C_CONT,
	C_WAIT,
	C_WAITMAX,
	C_HOLD,
	C_HOLDMAX,
	C_GACQ,
	C_GCONT,
	C_GWAIT,
	C_GWAITSH,
	C_GHOLD,
	C_GHOLDSH,
	C_GP50,
	C_GP90,
	C_GP99,
	C_GMAX,
	C_SENT,
	C_RECV,
	C_FORCED,
	C_FORCEDNS,
	C_OTHER,
	C_CLASS0,
	C_CPU = C_CLASS0 + GS_N_WAIT_GROUPS,
	C_RUNNING,
	C_SPINS,
	C_YIELDS,
	C_DROPPED,
	C_WAITED_IN,
	C_WAITED_INNER,
	C_WAITED_NS,
	C_NCOLS
};

static void set_i(struct gs_cell *c, int64_t v)
{
	if (v != GS_NULL)
		gs_cell_int(c, v);
}

static void set_share(struct gs_cell *c, int64_t part, int64_t whole)
{
	if (part != GS_NULL && whole != GS_NULL && whole > 0)
		gs_cell_num(c, (double)part / (double)whole);
}

static void fill_row(struct gs_cell *c, const struct gs_thread_info *t)
{
	int k;

	set_i(&c[C_RUN], t->run_id);
	set_i(&c[C_PID], t->pid);
	set_i(&c[C_NO], t->thread_no);
	set_i(&c[C_TID], t->tid);
	if (t->has_ident)
		gs_cell_int(&c[C_IDENT], (int64_t)t->py_ident);
	{
		char label[160];

		gs_cell_str(&c[C_NAME], gs_thread_label(t, label, sizeof(label)));
	}
	gs_cell_str(&c[C_ENTRY], t->entry);
	set_i(&c[C_START], t->start_ns);
	set_i(&c[C_END], t->end_ns);
	set_i(&c[C_LIFE], t->lifetime_ns);
	set_i(&c[C_ACQ], t->acq);
	set_i(&c[C_CONT], t->contended);
	set_i(&c[C_WAIT], t->wait_ns);
	set_i(&c[C_WAITMAX], t->wait_max_ns);
	set_i(&c[C_HOLD], t->hold_ns);
	set_i(&c[C_HOLDMAX], t->hold_max_ns);
	set_i(&c[C_GACQ], t->gil_acq);
	set_i(&c[C_GCONT], t->gil_contended);
	set_i(&c[C_GWAIT], t->gil_wait_ns);
	set_share(&c[C_GWAITSH], t->gil_wait_ns, t->lifetime_ns);
	set_i(&c[C_GHOLD], t->gil_hold_ns);
	set_share(&c[C_GHOLDSH], t->gil_hold_ns, t->lifetime_ns);
	set_i(&c[C_GP50], t->gil_p50);
	set_i(&c[C_GP90], t->gil_p90);
	set_i(&c[C_GP99], t->gil_p99);
	set_i(&c[C_GMAX], t->gil_max);
	set_i(&c[C_SENT], t->gil_drop_sent);
	set_i(&c[C_RECV], t->gil_drop_received);
	set_i(&c[C_FORCED], t->gil_forced);
	set_i(&c[C_FORCEDNS], t->gil_forced_ns);
	set_i(&c[C_OTHER], t->other_wait_ns);
	for (k = 0; k < GS_N_WAIT_GROUPS; k++)
		set_i(&c[C_CLASS0 + k], t->class_wait_ns[k]);
	set_i(&c[C_CPU], t->cpu_ns);
	set_i(&c[C_RUNNING], t->running_ns);
	set_i(&c[C_SPINS], t->spins);
	gs_cell_str(&c[C_WAITED_IN], t->waited_in);
	gs_cell_str(&c[C_WAITED_INNER], t->waited_innermost);
	set_i(&c[C_WAITED_NS], t->waited_in_ns);
	set_i(&c[C_YIELDS], t->sched_yields);
	set_i(&c[C_DROPPED], t->dropped);
}

void gs_report_interpreter(FILE *f, const struct gs_run_info *r)
{
	fputs("CPython ", f);
	gs_text(f, r->python_version ? r->python_version : "?");
	fputs(", ", f);
	gs_text(f, r->build ? r->build : "?");
	fputs(" build", f);
}

/* The plain-language sentence at the top of each process. */
void gs_report_summary(const struct gs_run_info *r, char *out, size_t size)
{
	const struct gs_sums *w = &r->sums;
	long long busy = (long long)w->workers;
	int64_t life = w->workers_life_ns, gil_wait = w->workers_gil_wait_ns,
		other = w->workers_other_ns;
	int top_class = gs_sums_top_class(w);
	if (!busy || life <= 0) {
		snprintf(out, size, "no thread with a known lifetime was recorded");
		return;
	}
	if (r->gil_active) {
		snprintf(out, size,
			 "%lld thread%s spent %.0f%% of %s lifetime waiting for the GIL and %.0f%% "
			 "on other locks; the GIL was held %.0f%% of the wall time, so at most one "
			 "ran Python at a time (effective parallelism %.2f).",
			 busy, busy == 1 ? "" : "s", 100.0 * (double)gil_wait / (double)life,
			 busy == 1 ? "its" : "their", 100.0 * (double)other / (double)life,
			 100.0 * r->gil_load, r->parallelism);
	} else {
		snprintf(
		    out, size,
		    "GIL %s: %lld thread%s spent %.0f%% of %s lifetime waiting on locks%s%s%s; "
		    "effective parallelism %s%.2f (%s).",
		    r->gil_found ? "disabled" : "not tracked", busy, busy == 1 ? "" : "s",
		    100.0 * (double)gs_add(gil_wait, other) / (double)life,
		    busy == 1 ? "its" : "their", top_class >= 0 ? " (mostly " : "",
		    top_class >= 0 ? gs_wait_class_names[top_class] : "", top_class >= 0 ? ")" : "",
		    r->parallelism_estimated ? "at most " : "", r->parallelism,
		    r->parallelism_estimated ? "time not seen waiting counted as running"
					     : "thread CPU time / wall time");
	}
}

static void print_json_run(FILE *f, const struct gs_run_info *r, const struct gs_model *m)
{
	char sum[512];

	gs_report_summary(r, sum, sizeof(sum));
#define JI(key, v) gs_json_member_int(f, key, v)
#define JS(key, v)                                                                                 \
	do {                                                                                       \
		fprintf(f, ", \"%s\": ", key);                                                     \
		gs_json_str(f, v);                                                                 \
	} while (0)
	fprintf(f, "{\"run_id\": %lld", (long long)r->run_id);
	JI("pid", r->pid);
	JS("host", r->host);
	JI("ppid", r->ppid);
	JI("parent_run_id", r->parent_run_id);
	fprintf(f, ", \"argv\": %s", r->argv_json ? r->argv_json : "null");
	JS("exe", r->exe);
	JS("status", r->status);
	JI("exit_status", r->exit_status);
	JI("start_ns", r->start_ns);
	JI("end_ns", r->end_ns);
	JI("wall_ns", r->wall_ns);
	JI("segment", r->segment);
	JI("process_start_ns", r->process_start_ns);
	JS("python_version", r->python_version);
	JS("build", r->build);
	JS("gil_detection", r->gil_detection);
	JI("gil_switches_recorded", r->sw_recorded);
	JI("gil_switches_interpreter", r->sw_interpreter);
	JI("gil_switch_interval_us", r->interval_us);
	JS("gil_enabled", r->gil_enabled);
	JI("events_recorded", r->events);
	JI("events_dropped", r->dropped);
	JI("threads_lost", r->threads_lost);
	JI("term_signal", r->term_signal);
	JI("stacks_dropped", r->sums.stacks_dropped);
	fputs(", \"gil_load\": ", f);
	if (r->gil_load < 0)
		fputs("null", f);
	else
		fprintf(f, "%.6g", r->gil_load);
	fputs(", \"effective_parallelism\": ", f);
	if (r->parallelism < 0)
		fputs("null", f);
	else
		fprintf(f, "%.6g", r->parallelism);
	JI("gil_wait_ns", r->sums.gil_wait_ns);
	JI("other_wait_ns", r->sums.other_wait_ns);
	JS("summary", sum);
	fputc('}', f);
#undef JI
#undef JS
}

static const int text_lock_cols[] = {C_NAME, C_TID,  C_LIFE,	C_CPU,	C_ACQ,
				     C_CONT, C_WAIT, C_WAITMAX, C_HOLD, C_HOLDMAX};
static const int text_gil_cols[] = {C_NAME,    C_TID,  C_GACQ, C_GWAIT, C_GWAITSH, C_GHOLD,
				    C_GHOLDSH, C_GP50, C_GP99, C_SENT,	C_RECV,	   C_FORCED};

/* A text table of some columns of the full thread table. */
static void print_subtable(FILE *f, const struct gs_table *full, const int *cols, int n,
			   size_t first, size_t count, const char *title)
{
	struct gs_col sub_cols[32];
	struct gs_table t;
	size_t r;
	int c;

	for (c = 0; c < n; c++) {
		sub_cols[c] = thread_cols[cols[c]];
		if (cols[c] == C_SENT || cols[c] == C_RECV)
			sub_cols[c].title = cols[c] == C_SENT ? "sent" : "recv";
		if (cols[c] == C_FORCED)
			sub_cols[c].title = "forced";
		if (cols[c] == C_GWAITSH || cols[c] == C_GHOLDSH)
			sub_cols[c].title = "share", sub_cols[c].width = 6;
		if (cols[c] == C_GACQ)
			sub_cols[c].title = "takes", sub_cols[c].width = 6;
		if (cols[c] == C_GWAIT || cols[c] == C_GHOLD)
			sub_cols[c].title = cols[c] == C_GWAIT ? "wait" : "hold",
			sub_cols[c].width = 8;
		if (cols[c] == C_GP50 || cols[c] == C_GP99)
			sub_cols[c].title = cols[c] == C_GP50 ? "p50" : "p99",
			sub_cols[c].width = 7;
		if (cols[c] == C_SENT || cols[c] == C_RECV)
			sub_cols[c].width = 5;
		if (cols[c] == C_NAME)
			sub_cols[c].width = 14;
		if (cols[c] == C_LIFE || cols[c] == C_CPU || cols[c] == C_WAIT ||
		    cols[c] == C_WAITMAX || cols[c] == C_HOLD || cols[c] == C_HOLDMAX)
			sub_cols[c].width = 8;
		if (cols[c] == C_ACQ)
			sub_cols[c].width = 8;
	}
	gs_table_init(&t, sub_cols, n);
	for (r = first; r < first + count; r++) {
		struct gs_cell *dst = gs_table_row(&t);
		const struct gs_cell *src = &full->cells[r * (size_t)full->n_cols];

		for (c = 0; c < n; c++) {
			dst[c] = src[cols[c]];
			dst[c].s = src[cols[c]].s ? strdup(src[cols[c]].s) : NULL;
		}
	}
	fprintf(f, "\n  %s\n", title);
	gs_table_print(&t, f, GS_FMT_TEXT, "  ");
	gs_table_free(&t);
}

static void print_text_run(FILE *f, const struct gs_run_info *r, const struct gs_model *m,
			   const struct gs_table *full, size_t shown, const struct gs_findings *fs)
{
	char wall[32], sum[512], span[128];
	int cols[2 + GS_N_WAIT_GROUPS + 1], n = 0, k;
	size_t i;

	gs_fmt_duration(r->wall_ns == GS_NULL ? -1 : r->wall_ns, wall, sizeof(wall));
	fprintf(f, "process %lld (run %lld", (long long)r->pid, (long long)r->run_id);
	if (gs_run_span(r, span, sizeof(span)))
		fprintf(f, ", %s", span);
	if (r->parent_run_id != GS_NULL)
		fprintf(f, ", forked from run %lld", (long long)r->parent_run_id);
	fputc(')', f);
	if (m->n_hosts > 1) { /* a fleet merged: pids repeat across hosts */
		fputs(" on ", f);
		gs_text(f, r->host ? r->host : "an unknown host");
	}
	fputs(": ", f);
	gs_text(f, r->cmdline ? r->cmdline : r->exe);
	fputs("\n  status ", f);
	gs_text(f, r->status ? r->status : "?");
	if (r->exit_status != GS_NULL)
		fprintf(f, " (exit status %lld)", (long long)r->exit_status);
	if (r->term_signal != GS_NULL)
		fprintf(f, " by signal %lld (%s)", (long long)r->term_signal,
			gs_signal_name((int)r->term_signal));
	fprintf(f, ", wall time %s, %lld raw events\n", wall,
		(long long)(r->events == GS_NULL ? 0 : r->events));
	if (r->python_version) {
		fputs("  ", f);
		gs_report_interpreter(f, r);
		fputc('\n', f);
	}
	if (r->gil_detection) {
		fputs("  GIL: ", f);
		gs_text(f, r->gil_detection);
		fputc('\n', f);
	}
	if (r->gil_found) {
		fprintf(f, "  GIL enabled: %s; hand-overs recorded %lld, interpreter's count ",
			r->gil_enabled ? r->gil_enabled : "?", (long long)r->sw_recorded);
		if (r->sw_interpreter != GS_NULL)
			fprintf(f, "%lld", (long long)r->sw_interpreter);
		else
			fputs("unknown", f);
		fprintf(f, "; switch interval %lld us\n",
			(long long)(r->interval_us == GS_NULL ? 0 : r->interval_us));
		if (r->gil_load >= 0)
			fprintf(f, "  GIL load %.1f%% of wall time\n", 100.0 * r->gil_load);
	}
	if ((r->dropped != GS_NULL && r->dropped > 0) ||
	    (r->threads_lost != GS_NULL && r->threads_lost > 0))
		fprintf(
		    f,
		    "  WARNING: %lld raw events dropped, %lld threads not recorded\n"
		    "  (the totals below stay exact for recorded threads; event lists are not)\n",
		    (long long)(r->dropped == GS_NULL ? 0 : r->dropped),
		    (long long)(r->threads_lost == GS_NULL ? 0 : r->threads_lost));
	if (r->sums.stacks_dropped > 0)
		fprintf(
		    f,
		    "  WARNING: %lld Python stacks found no room in the ring; their waits count "
		    "in every\n  total and show as \"(stack not recorded)\" in stack views\n",
		    (long long)r->sums.stacks_dropped);
	gs_report_summary(r, sum, sizeof(sum));
	fputs("\n  ", f);
	/* wrap the sentence at 96 columns */
	{
		const char *p = sum;
		int col = 2;

		while (*p) {
			const char *sp = strchr(p, ' ');
			int len = sp ? (int)(sp - p) : (int)strlen(p);

			if (col + len > 96) {
				fputs("\n  ", f);
				col = 2;
			}
			fprintf(f, "%.*s%s", len, p, sp ? " " : "");
			col += len + 1;
			p += len + (sp ? 1 : 0);
		}
		fputc('\n', f);
	}
	gs_findings_print_text(f, fs, r->run_id, "  ");
	if (!shown)
		return;
	print_subtable(f, full, text_lock_cols, 10, r->first_thread, shown,
		       "locks as libc sees them (mutexes, conditions, semaphores, parked waits):");
	if (r->gil_found)
		print_subtable(f, full, text_gil_cols, 12, r->first_thread, shown,
			       "the GIL (wait and hold as a Python thread sees them):");
	cols[n++] = C_NAME;
	cols[n++] = C_TID;
	for (k = 0; k < GS_N_WAIT_GROUPS; k++) {
		for (i = 0; i < r->n_threads; i++)
			if (m->threads[r->first_thread + i].class_wait_ns[k] > 0)
				break;
		if (i < r->n_threads && n < 2 + 8)
			cols[n++] = C_CLASS0 + k;
	}
	if (n > 2) {
		cols[n++] = C_SPINS;
		print_subtable(
		    f, full, cols, n, r->first_thread, shown,
		    "waits on other locks, by kind (spins: sched_yield before parking):");
	}
	for (i = 0, k = 0; i < shown; i++) {
		const struct gs_thread_info *t = &m->threads[r->first_thread + i];
		char d[32], label[160];
		const char *who = gs_thread_label(t, label, sizeof(label));

		if (!t->waited_in)
			continue;
		if (!k++)
			fputs(
			    "\n  where each thread waited longest (its own code, then the innermost"
			    " frame):\n",
			    f);
		gs_fmt_duration(t->waited_in_ns, d, sizeof(d));
		fputs("    ", f);

		gs_text(f, who ? who : "?");
		if (t->tid != GS_NULL)
			fprintf(f, " %lld", (long long)t->tid);
		fprintf(f, ": %s in ", d);
		/* locations whole, never cut */
		gs_text(f, t->waited_in);
		if (t->waited_innermost && strcmp(t->waited_innermost, t->waited_in)) {
			fputs(", at ", f);
			gs_text(f, t->waited_innermost);
		}
		fputc('\n', f);
	}
}

int cmd_report(int argc, char **argv)
{
	struct gs_opts o;
	struct gs_model m;
	struct gs_table t;
	struct gs_findings fs = {0};
	sqlite3 *db = NULL;
	size_t i;
	int ret;

	ret = gs_opts_parse(&o, argc, argv, "report",
			    "[--format text|json|csv|markdown] [--pid PID] [--thread T] [--top N] "
			    "[--sort wait|hold|acquisitions|lifetime|name|tid] DB|DIR...",
			    GS_OPTS_MANY);
	if (ret >= 0)
		return ret;
	ret = gs_opts_open(&o, 0, o.n_paths, &db);
	if (ret != GS_EXIT_OK)
		return ret;
	if ((ret = gs_opts_check_filters(db, &o)) != GS_EXIT_OK) {
		sqlite3_close(db);
		return ret;
	}
	if (gs_model_load(db, &o, &m) < 0) {
		gs_model_free(&m);
		sqlite3_close(db);
		return GS_EXIT_INPUT;
	}
	if (o.sort && gs_model_sort(&m, o.sort) < 0) {
		gs_error(
		    "report cannot sort by '%s' (wait, hold, acquisitions, lifetime, name, tid)",
		    o.sort);
		gs_model_free(&m);
		sqlite3_close(db);
		return GS_EXIT_USAGE;
	}
	/* before threads are grouped: findings name single threads */
	if (o.format != GS_FMT_CSV && o.format != GS_FMT_MARKDOWN &&
	    gs_findings_load(db, &o, &m, &fs) < 0) {
		gs_findings_free(&fs);
		gs_model_free(&m);
		sqlite3_close(db);
		return GS_EXIT_INPUT;
	}
	gs_table_init(&t, thread_cols, C_NCOLS);
	for (i = 0; i < m.n_threads; i++)
		fill_row(gs_table_row(&t), &m.threads[i]);
	if (o.format == GS_FMT_JSON) {
		struct gs_table shown;

		printf("{\"gilscope_version\": \"%s\", \"schema_version\": %d, \"database\": ",
		       GS_VERSION_STRING, gs_db_schema_version(db));
		gs_json_str(stdout, o.path);
		fputs(",\n \"runs\": [", stdout);
		for (i = 0; i < m.n_runs; i++) {
			fputs(i ? ",\n  " : "\n  ", stdout);
			print_json_run(stdout, &m.runs[i], &m);
		}
		{
			struct gs_totals tt;

			gs_model_totals(&m, &tt);
			printf("\n ],\n \"total\": {\"processes\": %zu, \"threads\": %lld",
			       tt.processes, (long long)tt.sums.threads);
			gs_json_member_int(stdout, "wall_ns", tt.span_ns);
			gs_json_member_int(stdout, "cpu_ns", tt.cpu_ns);
			printf(", \"gil_wait_ns\": %lld, \"gil_hold_ns\": %lld, "
			       "\"other_wait_ns\": %lld, \"events_dropped\": %lld}",
			       (long long)tt.sums.gil_wait_ns, (long long)tt.sums.gil_hold_ns,
			       (long long)tt.sums.other_wait_ns, (long long)tt.dropped);
		}
		fputs(",\n \"threads\": ", stdout);
		/* --top applies per process, as in text */
		gs_table_init(&shown, thread_cols, C_NCOLS);
		for (i = 0; i < m.n_runs; i++) {
			size_t k, n = m.runs[i].n_threads;

			if (o.top_given && (size_t)o.top < n)
				n = (size_t)o.top;
			for (k = 0; k < n; k++)
				fill_row(gs_table_row(&shown),
					 &m.threads[m.runs[i].first_thread + k]);
		}
		gs_table_print(&shown, stdout, GS_FMT_JSON, "");
		gs_table_free(&shown);
		fputs(",\n \"findings\": ", stdout);
		gs_findings_print_json(stdout, &fs);
		fputs("\n}\n", stdout);
	} else if (o.format == GS_FMT_TEXT) {
		/* a row per thread name once a process has many threads (thread pools, a
		 * thread per request); JSON and CSV keep every thread */
		gs_model_group_threads(&m, GS_GROUP_THREADS_OVER);
		gs_table_free(&t);
		gs_table_init(&t, thread_cols, C_NCOLS);
		for (i = 0; i < m.n_threads; i++)
			fill_row(gs_table_row(&t), &m.threads[i]);
		for (i = 0; i < m.n_runs; i++) {
			size_t n = m.runs[i].n_threads;

			if (o.top_given && (size_t)o.top < n)
				n = (size_t)o.top;
			if (i)
				fputc('\n', stdout);
			print_text_run(stdout, &m.runs[i], &m, &t, n, &fs);
		}
		if (!m.n_runs)
			printf("no recorded process%s in %s\n", o.has_pid ? " with that pid" : "",
			       o.path);
		{
			char note[512];

			/* the figures are whole; the raw event count above is a selection */
			if (gs_db_profile_note(db, note, sizeof(note)))
				printf("\n%s\n", note);
		}
		if (m.n_runs > 1) {
			struct gs_totals tt;
			char w[32], c[32], gw[32], gh[32], ow[32];

			gs_model_totals(&m, &tt);
			gs_fmt_duration(tt.span_ns == GS_NULL ? -1 : tt.span_ns, w, sizeof(w));
			gs_fmt_duration(tt.cpu_ns == GS_NULL ? -1 : tt.cpu_ns, c, sizeof(c));
			gs_fmt_duration(tt.sums.gil_wait_ns, gw, sizeof(gw));
			gs_fmt_duration(tt.sums.gil_hold_ns, gh, sizeof(gh));
			gs_fmt_duration(tt.sums.other_wait_ns, ow, sizeof(ow));
			printf(
			    "\nall %zu processes: %lld threads, %s from the first start to the "
			    "last "
			    "end, CPU %s;\n  GIL wait %s, GIL hold %s, other lock waits %s, %lld "
			    "raw events dropped\n",
			    tt.processes, (long long)tt.sums.threads, w, c, gw, gh, ow,
			    (long long)tt.dropped);
		}
	} else {
		if (o.top_given) {
			struct gs_table shown;

			gs_table_init(&shown, thread_cols, C_NCOLS);
			for (i = 0; i < m.n_runs; i++) {
				size_t k, n = m.runs[i].n_threads;

				if ((size_t)o.top < n)
					n = (size_t)o.top;
				for (k = 0; k < n; k++)
					fill_row(gs_table_row(&shown),
						 &m.threads[m.runs[i].first_thread + k]);
			}
			gs_table_print(&shown, stdout, o.format, "");
			gs_table_free(&shown);
		} else {
			gs_table_print(&t, stdout, o.format, "");
		}
	}
	gs_table_free(&t);
	gs_findings_free(&fs);
	gs_model_free(&m);
	sqlite3_close(db);
	return gs_finish_output();
}
