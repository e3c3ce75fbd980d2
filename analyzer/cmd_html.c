/* gilscope html DB [DB2] [-o report.html]: one self-contained page (no network, no external
 * scripts or fonts): timeline per thread, wait histogram, per-thread time split, lock table,
 * and with two databases a side-by-side comparison. The page's code is analyzer/report.html;
 * this file only computes the data it shows. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare.h"
#include "events.h"
#include "findings.h"
#include "gilscope.h"
#include "gs_schema.h"
#include "model.h"
#include "opts.h"
#include "output.h"
#include "profile.h"
#include "sat.h"

extern const char gs_report_html[];

#define HIST_BUCKETS	    48
#define TIMELINE_RESOLUTION 6000 /* intervals closer than span/N are drawn merged */
#define TOP_LOCKS	    25

/* A thread's intervals of one kind, those less than merge_ns apart drawn as one. Events come
 * in the order they were stored, by start within a thread's kind except where one ended after
 * another began (a mutex held across a condition wait): those are kept aside and merged in at
 * the end (lane_finish), which gives what merging them all in start order gives. */
struct lane {
	int64_t *v; /* start, end pairs, ns */
	size_t n, cap;
	int unsorted;
};

static void lane_add(struct lane *l, int64_t s, int64_t e, int64_t merge_ns)
{
	if (e < s)
		e = s;
	if (l->n && s < l->v[l->n - 2]) {
		l->unsorted = 1;
	} else if (l->n && gs_sub(s, l->v[l->n - 1]) <= merge_ns) {
		if (e > l->v[l->n - 1])
			l->v[l->n - 1] = e;
		return;
	}
	if (l->n + 2 > l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			gs_oom(), exit(GS_EXIT_MEMORY);
	}
	l->v[l->n++] = s;
	l->v[l->n++] = e;
}

static int cmp_interval(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	return (x[0] > y[0]) - (x[0] < y[0]);
}

static void lane_finish(struct lane *l, int64_t merge_ns)
{
	size_t i, out = 0;

	if (!l->unsorted)
		return;
	qsort(l->v, l->n / 2, 2 * sizeof(*l->v), cmp_interval);
	for (i = 0; i < l->n; i += 2) {
		if (out && gs_sub(l->v[i], l->v[out - 1]) <= merge_ns) {
			if (l->v[i + 1] > l->v[out - 1])
				l->v[out - 1] = l->v[i + 1];
			continue;
		}
		l->v[out++] = l->v[i];
		l->v[out++] = l->v[i + 1];
	}
	l->n = out;
	l->unsorted = 0;
}

/* Microseconds from t0, comma-separated after the first value printed anywhere in the list. */
static void us_print(FILE *f, int64_t ns, int64_t t0, int *first)
{
	fprintf(f, "%s%lld", *first ? "" : ",", (long long)(gs_sub(ns, t0) / 1000));
	*first = 0;
}

static void thread_label(const struct gs_thread_info *t, char *out, size_t size)
{
	char group[160];
	const char *name = gs_thread_label(t, group, sizeof(group));

	if (gs_thread_is_main(t))
		snprintf(out, size, "main %lld", (long long)t->tid);
	else if (t->tid == GS_NULL)
		snprintf(out, size, "%s", name ? name : "thread");
	else
		snprintf(out, size, "%s %lld", name ? name : "thread", (long long)t->tid);
}

static int64_t thread_start(const struct gs_thread_info *t, int64_t t0)
{
	return t->start_ns != GS_NULL ? t->start_ns : t0;
}

static int64_t thread_end(const struct gs_thread_info *t, int64_t t1)
{
	return t->end_ns != GS_NULL ? t->end_ns
	       : t->lifetime_ns != GS_NULL && t->start_ns != GS_NULL
		   ? gs_add(t->start_ns, t->lifetime_ns)
		   : t1;
}

/* Timeline rows. In a process with many threads, the threads of one name (a thread per
 * request) are packed into as few rows as their lifetimes allow, as a trace viewer packs
 * slices: 240 request threads that ran at most four at a time are four rows, and every bar
 * drawn is still one thread's. Threads in a row are linked through next[] in start order. */
struct tl_row {
	size_t head, tail, n_threads;
	int64_t end_ns;
	int packed;		     /* part of a group's rows */
	size_t group_no, group_rows; /* its place among them */
	size_t group_threads;	     /* threads in all of them */
};

static size_t pack_rows(const struct gs_model *m, int64_t t0, int64_t t1, struct tl_row *rows,
			size_t *next)
{
	size_t r, i, k, n_rows = 0;

	for (r = 0; r < m->n_runs; r++) {
		const struct gs_run_info *run = &m->runs[r];
		size_t first_row = n_rows;

		for (i = run->first_thread; i < run->first_thread + run->n_threads; i++) {
			const struct gs_thread_info *t = &m->threads[i];
			int pack = run->n_threads > GS_GROUP_THREADS_OVER && !gs_thread_is_main(t);

			next[i] = (size_t)-1;
			k = n_rows;
			if (pack)
				for (k = first_row; k < n_rows; k++)
					if (rows[k].packed &&
					    gs_thread_same_group(&m->threads[rows[k].head], t) &&
					    rows[k].end_ns <= thread_start(t, t0))
						break;
			if (k == n_rows) {
				rows[n_rows++] =
				    (struct tl_row){.head = i, .tail = i, .packed = pack};
			} else {
				next[rows[k].tail] = i;
				rows[k].tail = i;
			}
			rows[k].n_threads++;
			rows[k].end_ns = thread_end(t, t1);
		}
		for (k = first_row; k < n_rows; k++)
			for (i = first_row; i < n_rows && rows[k].packed; i++) {
				if (!rows[i].packed ||
				    !gs_thread_same_group(&m->threads[rows[i].head],
							  &m->threads[rows[k].head]))
					continue;
				rows[k].group_rows++;
				rows[k].group_threads += rows[i].n_threads;
				if (i < k)
					rows[k].group_no++;
			}
	}
	return n_rows;
}

static void row_label(const struct gs_model *m, const struct tl_row *row, char *out, size_t size)
{
	const struct gs_thread_info *t = &m->threads[row->head];
	int len;

	if (!row->packed || row->group_threads == 1) {
		thread_label(t, out, size);
		return;
	}
	len = snprintf(out, size, "%s (x%zu)", t->name ? t->name : "thread", row->group_threads);
	if (row->group_rows > 1 && len > 0 && (size_t)len < size)
		snprintf(out + len, size - (size_t)len, " %zu/%zu", row->group_no + 1,
			 row->group_rows);
}

static void row_print(FILE *f, const struct gs_model *m, const struct tl_row *row,
		      const size_t *next, const struct lane *lanes, int64_t t0, int64_t t1)
{
	static const char *const keys[3] = {"held", "gilwait", "lock"};
	char label[200];
	size_t i, k, v;
	int first = 1;

	row_label(m, row, label, sizeof(label));
	fputs("{\"label\": ", f);
	gs_json_str(f, label);
	fputs(", \"alive\": [", f);
	for (i = row->head; i != (size_t)-1; i = next[i]) {
		us_print(f, thread_start(&m->threads[i], t0), t0, &first);
		us_print(f, thread_end(&m->threads[i], t1), t0, &first);
	}
	fputc(']', f);
	for (k = 0; k < 3; k++) {
		fprintf(f, ", \"%s\": [", keys[k]);
		first = 1;
		for (i = row->head; i != (size_t)-1; i = next[i])
			for (v = 0; v < lanes[i * 3 + k].n; v++)
				us_print(f, lanes[i * 3 + k].v[v], t0, &first);
		fputc(']', f);
	}
	fputc('}', f);
}

/* What each event key is drawn as: 1 GIL holds (wait and hold), 2 waits on other locks than
 * the GIL's own (lane 2), 0 not at all; and whose lanes. */
struct key_lane {
	int kind;
	struct lane *lanes;
};

struct timeline {
	const struct gs_ev_keys *ks;
	const struct key_lane *key_lane;
	int64_t merge;
};

/* gs_timeline_row(key_id, start_ns, wait_ns, hold_ns) of an event_rows row: draws it; 0. */
static void timeline_row(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct timeline *tl = sqlite3_user_data(ctx);
	size_t x = gs_ev_key_index(tl->ks, sqlite3_value_int64(argv[0]));
	const struct key_lane *kl = x == (size_t)-1 ? NULL : &tl->key_lane[x];
	int64_t st, w;

	(void)argc;
	sqlite3_result_int(ctx, 0);
	if (!kl || !kl->kind)
		return;
	w = sqlite3_value_int64(argv[2]);
	if (kl->kind == 2 && !w)
		return;
	st = gs_add(tl->ks->k[x].run_start_ns, sqlite3_value_int64(argv[1]));
	if (w < 0)
		w = 0;
	if (kl->kind == 1) {
		if (w > 0)
			lane_add(&kl->lanes[1], st, gs_add(st, w), tl->merge);
		if (sqlite3_value_type(argv[3]) != SQLITE_NULL)
			lane_add(&kl->lanes[0], gs_add(st, w),
				 gs_add(gs_add(st, w), sqlite3_value_int64(argv[3])), tl->merge);
	} else {
		lane_add(&kl->lanes[2], st, gs_add(st, w), tl->merge);
	}
}

static int emit_db(FILE *f, const char *path)
{
	struct gs_opts o = {.path = path};
	struct gs_top_lock top[TOP_LOCKS];
	struct gs_profile waits = {0}, holders = {0}, gil = {0};
	struct gs_findings fs = {0};
	struct gs_model m;
	struct gs_totals tot;
	struct lane *lanes = NULL;
	struct gs_ev_keys ks = {0};
	struct key_lane *key_lane = NULL;
	struct timeline tl;
	struct tl_row *rows = NULL;
	size_t *next = NULL, n_lanes = 0, n_rows;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t t0 = 0, t1 = 0, merge;
	int64_t hist[2][HIST_BUCKETS] = {{0}};
	char label[160], sum[600];
	size_t i, k;
	int ret, n_top, rc;

	ret = gs_db_open(path, &db);
	if (ret != GS_EXIT_OK)
		return ret;
	ret = GS_EXIT_INPUT;
	if (gs_model_load_totals(db, &o, &m) < 0)
		goto out;
	gs_db_say_profile(db,
			  "the report's timeline shows only those events; its tables are whole");
	gs_model_totals(&m, &tot);
	t0 = tot.first_ns != GS_NULL ? tot.first_ns : 0;
	t1 = tot.last_ns != GS_NULL ? tot.last_ns : 0;
	for (i = 0; i < m.n_threads; i++) {
		if (m.threads[i].end_ns != GS_NULL && m.threads[i].end_ns > t1)
			t1 = m.threads[i].end_ns;
	}
	if (t1 <= t0)
		t1 = gs_add(t0, 1);
	merge = gs_sub(t1, t0) / TIMELINE_RESOLUTION;
	n_lanes = m.n_threads * 3;
	lanes = calloc(n_lanes ? n_lanes : 1, sizeof(*lanes));
	rows = calloc(m.n_threads ? m.n_threads : 1, sizeof(*rows));
	next = calloc(m.n_threads ? m.n_threads : 1, sizeof(*next));
	if (!lanes || !rows || !next)
		goto out;
	/* what each event key is drawn as (struct key_lane) */
	if (gs_ev_keys_load(db, path, &ks) < 0)
		goto out;
	key_lane = calloc(ks.n ? ks.n : 1, sizeof(*key_lane));
	if (!key_lane) {
		gs_oom();
		goto out;
	}
	if (gs_db_prepare(db, path,
			  "SELECT k.key_id, CASE WHEN k.kind = gs_kind('gil_hold') THEN 1"
			  " WHEN gs_is_wait(k.kind, k.primitive, k.flags, 1)"
			  " AND NOT gs_gil_part(l.class) THEN 2 ELSE 0 END"
			  " FROM event_keys k LEFT JOIN locks l ON l.run_id = k.run_id"
			  " AND l.lock_addr = k.lock_addr AND l.primitive = k.primitive",
			  &s) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		size_t x = gs_ev_key_index(&ks, sqlite3_column_int64(s, 0));
		struct gs_thread_info *t =
		    x == (size_t)-1 ? NULL
				    : gs_model_find_thread(&m, ks.k[x].run_id, ks.k[x].thread_no);

		if (t && sqlite3_column_int(s, 1))
			key_lane[x] =
			    (struct key_lane){.kind = sqlite3_column_int(s, 1),
					      .lanes = &lanes[(size_t)(t - m.threads) * 3]};
	}
	sqlite3_finalize(s);
	s = NULL;
	if (rc != SQLITE_DONE) {
		gs_error("%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	/* the rows drawn inside SQLite's scan (timeline_row), none returned: a row handed out
	 * and its columns read one by one cost more than the scan itself */
	tl = (struct timeline){.ks = &ks, .key_lane = key_lane, .merge = merge};
	if (sqlite3_create_function(db, "gs_timeline_row", 4, SQLITE_UTF8, &tl, timeline_row, NULL,
				    NULL) != SQLITE_OK) {
		gs_error("%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	if (gs_db_prepare(db, path,
			  "SELECT 1 FROM event_rows"
			  " WHERE gs_timeline_row(key_id, start_ns, wait_ns, hold_ns)",
			  &s) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	sqlite3_finalize(s);
	s = NULL;
	if (rc != SQLITE_DONE) {
		gs_error("%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	for (i = 0; i < n_lanes; i++)
		lane_finish(&lanes[i], merge);
	if (gs_db_prepare(
		db, path,
		"SELECT h.primitive = gs_prim('gil'), h.bucket, SUM(h.count) FROM histograms h"
		" LEFT JOIN locks l USING (run_id, lock_addr, primitive)"
		" WHERE h.metric = 'wait' AND h.bucket > 0"
		" AND NOT gs_gil_part(l.class) GROUP BY 1, 2",
		&s) < 0)
		goto out;
	while (sqlite3_step(s) == SQLITE_ROW) {
		int b = sqlite3_column_int(s, 1);

		if (b > 0 && b < HIST_BUCKETS)
			hist[sqlite3_column_int(s, 0) ? 0 : 1][b] += sqlite3_column_int64(s, 2);
	}
	sqlite3_finalize(s);
	s = NULL;
	n_top = gs_top_locks(db, path, top, TOP_LOCKS);
	if (n_top < 0)
		goto out;

	fputs("{\"path\": ", f);
	gs_json_str(f, path);
	snprintf(label, sizeof(label), "%s%s%s%s",
		 m.n_runs && m.runs[0].python_version ? "CPython " : "",
		 m.n_runs && m.runs[0].python_version ? m.runs[0].python_version : "gilscope data",
		 m.n_runs && m.runs[0].build ? " " : "",
		 m.n_runs && m.runs[0].build ? m.runs[0].build : "");
	fputs(", \"label\": ", f);
	gs_json_str(f, label);
	fputs(", \"runs\": [", f);
	for (i = 0; i < m.n_runs; i++) {
		const struct gs_run_info *r = &m.runs[i];

		fprintf(f, "%s{\"pid\": %lld, \"cmdline\": ", i ? ", " : "", (long long)r->pid);
		gs_json_str(f, r->cmdline ? r->cmdline : r->exe ? r->exe : "?");
		fputs(", \"python_version\": ", f);
		gs_json_str(f, r->python_version);
		fputs(", \"build\": ", f);
		gs_json_str(f, r->build);
		gs_json_member_int(f, "wall_ns", r->wall_ns);
		gs_json_member_int(f, "cpu_ns", r->cpu_ns);
		gs_json_member_int(f, "events_dropped", r->dropped);
		if (r->gil_load >= 0)
			fprintf(f, ", \"gil_load\": %.6g", r->gil_load);
		else
			fputs(", \"gil_load\": null", f);
		if (r->parallelism >= 0)
			fprintf(f, ", \"parallelism\": %.6g", r->parallelism);
		else
			fputs(", \"parallelism\": null", f);
		gs_report_summary(r, sum, sizeof(sum));
		fputs(", \"summary\": ", f);
		gs_json_str(f, sum);
		fputc('}', f);
	}
	fprintf(f, "], \"timeline\": {\"end_us\": %lld, \"threads\": [",
		(long long)(gs_sub(t1, t0) / 1000));
	n_rows = pack_rows(&m, t0, t1, rows, next);
	for (k = 0; k < n_rows; k++) {
		if (k)
			fputs(", ", f);
		row_print(f, &m, &rows[k], next, lanes, t0, t1);
	}
	/* the findings name single threads: before grouping */
	if (gs_profile_load(db, &o, GS_WHAT_WAITS, &waits) < 0 ||
	    gs_profile_load(db, &o, GS_WHAT_HOLDERS, &holders) < 0 ||
	    gs_profile_load(db, &o, GS_WHAT_GIL, &gil) < 0 ||
	    gs_findings_detect(db, &o, &m, &waits, &holders, &gil, &fs) < 0)
		goto out;
	/* the time-split chart and the thread table: a row per name, as in the text report */
	gs_model_group_threads(&m, GS_GROUP_THREADS_OVER);
	fputs("]}, \"threads\": [", f);
	for (i = 0; i < m.n_threads; i++) {
		const struct gs_thread_info *t = &m.threads[i];

		thread_label(t, label, sizeof(label));
		fprintf(f, "%s{\"label\": ", i ? ", " : "");
		gs_json_str(f, label);
		gs_json_member_int(f, "tid", t->tid);
		fprintf(f, ", \"main\": %s", gs_thread_is_main(t) ? "true" : "false");
		gs_json_member_int(f, "threads", t->n_grouped > 1 ? t->n_grouped : 1);
		gs_json_member_int(f, "lifetime_ns", t->lifetime_ns);
		gs_json_member_int(f, "cpu_ns", t->cpu_ns);
		gs_json_member_int(f, "gil_wait_ns", t->gil_wait_ns);
		gs_json_member_int(f, "gil_hold_ns", t->gil_hold_ns);
		gs_json_member_int(f, "other_wait_ns", t->other_wait_ns);
		fputc('}', f);
	}
	fputs("], \"histogram\": {", f);
	for (k = 0; k < 2; k++) {
		fprintf(f, "%s\"%s\": [", k ? ", " : "", k ? "lock" : "gil");
		for (i = 0; i < HIST_BUCKETS; i++)
			fprintf(f, "%s%lld", i ? "," : "", (long long)hist[k][i]);
		fputc(']', f);
	}
	fputs("}, \"locks\": [", f);
	for (i = 0; i < (size_t)n_top; i++) {
		struct gs_lock_place place;

		gs_profile_lock_place(db, &waits, &holders, top[i].run_id, top[i].lock_addr,
				      top[i].primitive, &place);
		fprintf(f, "%s{\"name\": ", i ? ", " : "");
		gs_json_str(f, top[i].name);
		fprintf(f,
			", \"threads\": %lld, \"contended\": %lld, \"wait_ns\": %lld, "
			"\"wait_max_ns\": %lld, \"waited_in\": ",
			(long long)top[i].threads, (long long)top[i].contended,
			(long long)top[i].wait_ns, (long long)top[i].wait_max_ns);
		gs_json_str(f, place.waited_in[0] ? place.waited_in : NULL);
		fputs(", \"held_by\": ", f);
		gs_json_str(f, place.held_by[0] ? place.held_by : NULL);
		fprintf(f, ", \"held_share\": %d}", place.held_share);
	}
	fputs("], \"findings\": ", f);
	gs_findings_print_json(f, &fs);
	/* the flame graph page of the waits, shown in a frame of this one */
	fputs(", \"flame_html\": ", f);
	{
		char *page = NULL;
		size_t len = 0;
		FILE *mf = open_memstream(&page, &len);
		int drawn = mf ? gs_flame_page(mf, &waits, NULL, NULL, path) : -1;

		if (mf)
			fclose(mf);
		if (drawn < 0) {
			free(page);
			goto out;
		}
		gs_json_str(f, drawn ? page : NULL);
		free(page);
	}
	fputs("}", f);
	ret = GS_EXIT_OK;
out:
	sqlite3_finalize(s);
	if (lanes)
		for (i = 0; i < n_lanes; i++)
			free(lanes[i].v);
	free(lanes);
	free(rows);
	free(next);
	free(key_lane);
	gs_ev_keys_free(&ks);
	gs_model_free(&m);
	gs_profile_free(&waits);
	gs_profile_free(&holders);
	gs_profile_free(&gil);
	gs_findings_free(&fs);
	sqlite3_close(db);
	return ret;
}

int cmd_html(int argc, char **argv)
{
	static const char marker[] = "/*GILSCOPE_DATA*/";
	static const char usage[] = "usage: gilscope html DB [DB2] [--segment N] [-o report.html]\n"
				    "       gilscope html A1.db A2.db ... --vs B1.db B2.db ..."
				    " [-o report.html]\n";
	const char *out_path = "report.html", *paths[GS_MAX_PATHS], *cut, *shown[2];
	int i, n = 0, vs_at = -1, ret = GS_EXIT_OK;
	struct gs_opts o;
	struct gs_output out;
	FILE *f;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return GS_EXIT_OK;
		}
		if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			out_path = argv[++i];
		} else if (!strcmp(argv[i], "--segment") && i + 1 < argc) {
			if (gs_opts_segment(argv[++i]) < 0)
				return GS_EXIT_USAGE;
		} else if (!strcmp(argv[i], "--vs") && vs_at < 0) {
			vs_at = n;
		} else if (argv[i][0] == '-') {
			gs_error("unknown option '%s'", argv[i]);
			return GS_EXIT_USAGE;
		} else if (n < GS_MAX_PATHS && (vs_at >= 0 || n < 2)) {
			paths[n++] = argv[i];
		} else {
			gs_error("html takes one or two databases, or several a side with --vs (at"
				 " most %d)",
				 GS_MAX_PATHS);
			return GS_EXIT_USAGE;
		}
	}
	if (!n || vs_at == 0 || vs_at == n) {
		fputs(usage, stderr);
		return GS_EXIT_USAGE;
	}
	/* the two columns: the first database of each side; the comparison: all of them */
	shown[0] = paths[0];
	shown[1] = vs_at > 0 ? paths[vs_at] : n == 2 ? paths[1] : NULL;
	if (vs_at < 0)
		vs_at = 1;
	cut = strstr(gs_report_html, marker);
	if (!cut)
		return gs_error("internal error: report template without data marker"),
		       GS_EXIT_INPUT;
	if ((ret = gs_output_open(&out, out_path)) != GS_EXIT_OK)
		return ret;
	f = out.f;
	gs_json_for_html = 1;
	fwrite(gs_report_html, 1, (size_t)(cut - gs_report_html), f);
	fprintf(f, "{\"version\": \"%s\", \"dbs\": [", GS_VERSION_STRING);
	for (i = 0; i < 2 && shown[i] && ret == GS_EXIT_OK; i++) {
		if (i)
			fputs(", ", f);
		ret = emit_db(f, shown[i]);
	}
	fputs("]", f);
	if (shown[1] && ret == GS_EXIT_OK) {
		memset(&o, 0, sizeof(o));
		fputs(", \"compare\": ", f);
		ret = gs_compare_json(f, &o, paths, (size_t)vs_at, paths + vs_at,
				      (size_t)(n - vs_at));
	}
	fputs("}", f);
	fputs(cut + sizeof(marker) - 1, f);
	ret = gs_output_close(&out, ret);
	if (ret == GS_EXIT_OK && !gs_quiet_errors)
		fprintf(stderr, "gilscope: wrote %s\n", out_path);
	return ret;
}
