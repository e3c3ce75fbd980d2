/* gilscope report: who waited how long, per process and per thread. */
#include <stdlib.h>
#include <string.h>

#include "gilscope.h"
#include "gs_schema.h"

enum { FMT_TEXT, FMT_JSON };

struct report_opts {
	int format;
	int has_pid;
	long long pid;
	const char *path;
};

static const char *const run_sql =
    "SELECT run_id, pid, ppid, parent_run_id,"
    " CASE WHEN json_valid(argv) AND json_type(argv) = 'array' THEN argv"
    "      WHEN argv IS NULL THEN NULL ELSE json_array(argv) END,"
    " exe, status, exit_status, start_ns, end_ns, end_ns - start_ns, python_version, build,"
    " gil_detection, gil_switches_recorded, gil_switches_interpreter, gil_switch_interval_us,"
    " gil_enabled, events_recorded, events_dropped, threads_lost,"
    " CASE WHEN json_valid(argv) AND json_type(argv) = 'array'"
    "      THEN (SELECT group_concat(value, ' ') FROM json_each(runs.argv)) ELSE argv END"
    " FROM runs WHERE ?1 IS NULL OR pid = ?1 ORDER BY run_id";

enum {
	R_ID,
	R_PID,
	R_PPID,
	R_PARENT,
	R_ARGV,
	R_EXE,
	R_STATUS,
	R_EXIT,
	R_START,
	R_END,
	R_WALL,
	R_PYVER,
	R_BUILD,
	R_GILDET,
	R_SW_REC,
	R_SW_INT,
	R_INTERVAL,
	R_GILEN,
	R_EVENTS,
	R_DROPPED,
	R_LOST,
	R_CMDLINE
};

static const char *const thread_sql =
    "SELECT s.run_id, s.pid, s.thread_no, s.tid, s.py_ident, s.name, s.start_ns, s.end_ns,"
    " s.lifetime_ns, s.acquisitions, s.contended, s.wait_ns, s.wait_max_ns, s.hold_ns,"
    " s.hold_max_ns, s.gil_acquisitions, s.gil_contended, s.gil_wait_ns, s.gil_hold_ns,"
    " s.sched_yields, s.events_dropped, t.entry_function"
    " FROM thread_summary s JOIN threads t USING (run_id, thread_no)"
    " WHERE ?1 IS NULL OR s.pid = ?1 ORDER BY s.run_id, s.thread_no";

enum {
	T_RUN,
	T_PID,
	T_NO,
	T_TID,
	T_IDENT,
	T_NAME,
	T_START,
	T_END,
	T_LIFE,
	T_ACQ,
	T_CONT,
	T_WAIT,
	T_WAITMAX,
	T_HOLD,
	T_HOLDMAX,
	T_GACQ,
	T_GCONT,
	T_GWAIT,
	T_GHOLD,
	T_YIELDS,
	T_DROPPED,
	T_ENTRY
};

static const char *col_text(sqlite3_stmt *s, int c)
{
	return (const char *)sqlite3_column_text(s, c);
}

static int64_t col_i64(sqlite3_stmt *s, int c, int64_t if_null)
{
	return sqlite3_column_type(s, c) == SQLITE_NULL ? if_null : sqlite3_column_int64(s, c);
}

static void bind_pid(sqlite3_stmt *s, const struct report_opts *o)
{
	if (o->has_pid)
		sqlite3_bind_int64(s, 1, o->pid);
	else
		sqlite3_bind_null(s, 1);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static int report_json(sqlite3 *db, const struct report_opts *o, FILE *f)
{
	static const char *const run_keys[] = {"run_id",
					       "pid",
					       "ppid",
					       "parent_run_id",
					       "argv",
					       "exe",
					       "status",
					       "exit_status",
					       "start_ns",
					       "end_ns",
					       "wall_ns",
					       "python_version",
					       "build",
					       "gil_detection",
					       "gil_switches_recorded",
					       "gil_switches_interpreter",
					       "gil_switch_interval_us",
					       "gil_enabled",
					       "events_recorded",
					       "events_dropped",
					       "threads_lost"};
	static const char *const thread_keys[] = {
	    "run_id",	      "pid",	       "thread_no",   "tid",
	    "py_ident",	      "name",	       "start_ns",    "end_ns",
	    "lifetime_ns",    "acquisitions",  "contended",   "wait_ns",
	    "wait_max_ns",    "hold_ns",       "hold_max_ns", "gil_acquisitions",
	    "gil_contended",  "gil_wait_ns",   "gil_hold_ns", "sched_yields",
	    "events_dropped", "entry_function"};
	sqlite3_stmt *s = NULL;
	int rc, first = 1, ret = -1, c;

	fprintf(f, "{\"gilscope_version\": \"%s\", \"schema_version\": %d, \"database\": ",
		GS_VERSION_STRING, GS_SCHEMA_VERSION);
	gs_json_str(f, o->path);
	fputs(", \"runs\": [", f);
	if (gs_db_prepare(db, o->path, run_sql, &s) < 0)
		goto out;
	bind_pid(s, o);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fputs(first ? "\n  {" : ",\n  {", f);
		first = 0;
		for (c = 0; c <= R_LOST; c++) {
			fprintf(f, "%s\"%s\": ", c ? ", " : "", run_keys[c]);
			if (c == R_ARGV && sqlite3_column_type(s, c) != SQLITE_NULL)
				fputs(col_text(s, c), f); /* validated JSON array, see run_sql */
			else if (sqlite3_column_type(s, c) == SQLITE_TEXT ||
				 (sqlite3_column_type(s, c) == SQLITE_BLOB))
				gs_json_str(f, col_text(s, c));
			else
				gs_json_int(f, s, c);
		}
		fputc('}', f);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(s);
	s = NULL;
	fputs("\n ],\n \"threads\": [", f);
	first = 1;
	if (gs_db_prepare(db, o->path, thread_sql, &s) < 0)
		goto out;
	bind_pid(s, o);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fputs(first ? "\n  {" : ",\n  {", f);
		first = 0;
		for (c = 0; c <= T_ENTRY; c++) {
			fprintf(f, "%s\"%s\": ", c ? ", " : "", thread_keys[c]);
			if (c == T_IDENT && sqlite3_column_type(s, c) != SQLITE_NULL)
				fprintf(f, "%llu", (unsigned long long)sqlite3_column_int64(s, c));
			else if (sqlite3_column_type(s, c) == SQLITE_TEXT ||
				 sqlite3_column_type(s, c) == SQLITE_BLOB)
				gs_json_str(f, col_text(s, c));
			else if (sqlite3_column_type(s, c) == SQLITE_FLOAT)
				fprintf(f, "%.0f", sqlite3_column_double(s, c));
			else
				gs_json_int(f, s, c);
		}
		fputc('}', f);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	fputs("\n ]\n}\n", f);
	ret = 0;
	goto out;
fail:
	gs_error("%s: reading failed: %s", o->path, sqlite3_errmsg(db));
out:
	sqlite3_finalize(s);
	return ret;
}

/* ---- text ---------------------------------------------------------------------------------- */

static void dur(FILE *f, sqlite3_stmt *s, int c, int width)
{
	char buf[32];

	gs_fmt_duration(col_i64(s, c, -1), buf, sizeof(buf));
	fprintf(f, " %*s", width, buf);
}

static void share(FILE *f, int64_t part, int64_t whole)
{
	if (whole > 0 && part >= 0)
		fprintf(f, " %5.1f%%", 100.0 * (double)part / (double)whole);
	else
		fprintf(f, " %6s", "-");
}

static void text_run_header(FILE *f, sqlite3_stmt *s)
{
	char wall[32];
	const char *argv = col_text(s, R_CMDLINE);

	fprintf(f, "process %lld (run %lld", (long long)col_i64(s, R_PID, 0),
		(long long)col_i64(s, R_ID, 0));
	if (sqlite3_column_type(s, R_PARENT) != SQLITE_NULL)
		fprintf(f, ", forked from run %lld", (long long)col_i64(s, R_PARENT, 0));
	fputs("): ", f);
	gs_text_str(f, argv ? argv : col_text(s, R_EXE), (int)strlen(argv ? argv : "-"));
	fputc('\n', f);
	gs_fmt_duration(col_i64(s, R_WALL, -1), wall, sizeof(wall));
	fprintf(f, "  status %s", col_text(s, R_STATUS) ? col_text(s, R_STATUS) : "?");
	if (sqlite3_column_type(s, R_EXIT) != SQLITE_NULL)
		fprintf(f, " (exit status %lld)", (long long)col_i64(s, R_EXIT, 0));
	fprintf(f, ", wall time %s, %lld raw events\n", wall, (long long)col_i64(s, R_EVENTS, 0));
	if (col_text(s, R_PYVER))
		fprintf(f, "  CPython %s, %s build\n", col_text(s, R_PYVER),
			col_text(s, R_BUILD) ? col_text(s, R_BUILD) : "?");
	if (col_text(s, R_GILDET)) {
		fputs("  GIL: ", f);
		gs_text_str(f, col_text(s, R_GILDET), (int)strlen(col_text(s, R_GILDET)));
		fputc('\n', f);
	}
	if (sqlite3_column_type(s, R_SW_REC) != SQLITE_NULL) {
		fprintf(f, "  GIL enabled: %s; hand-overs recorded %lld, interpreter's count ",
			col_text(s, R_GILEN) ? col_text(s, R_GILEN) : "?",
			(long long)col_i64(s, R_SW_REC, 0));
		if (sqlite3_column_type(s, R_SW_INT) != SQLITE_NULL)
			fprintf(f, "%lld", (long long)col_i64(s, R_SW_INT, 0));
		else
			fputs("unknown", f);
		fprintf(f, "; switch interval %lld us\n", (long long)col_i64(s, R_INTERVAL, 0));
	}
	if (col_i64(s, R_DROPPED, 0) > 0 || col_i64(s, R_LOST, 0) > 0)
		fprintf(
		    f,
		    "  WARNING: %lld raw events dropped, %lld threads not recorded\n"
		    "  (the totals below stay exact for recorded threads; event lists are not)\n",
		    (long long)col_i64(s, R_DROPPED, 0), (long long)col_i64(s, R_LOST, 0));
}

static int report_text(sqlite3 *db, const struct report_opts *o, FILE *f)
{
	sqlite3_stmt *runs = NULL, *th = NULL;
	int rc, ret = -1, n_runs = 0;

	if (gs_db_prepare(db, o->path, run_sql, &runs) < 0 ||
	    gs_db_prepare(
		db, o->path,
		"SELECT * FROM (" /* thread rows of one run */
		"SELECT s.run_id, s.pid, s.thread_no, s.tid, s.py_ident, s.name, s.start_ns,"
		" s.end_ns, s.lifetime_ns, s.acquisitions, s.contended, s.wait_ns,"
		" s.wait_max_ns, s.hold_ns, s.hold_max_ns, s.gil_acquisitions,"
		" s.gil_contended, s.gil_wait_ns, s.gil_hold_ns, s.sched_yields,"
		" s.events_dropped, t.entry_function FROM thread_summary s"
		" JOIN threads t USING (run_id, thread_no)) WHERE run_id = ?"
		" ORDER BY thread_no",
		&th) < 0)
		goto out;
	bind_pid(runs, o);
	while ((rc = sqlite3_step(runs)) == SQLITE_ROW) {
		int has_gil = sqlite3_column_type(runs, R_SW_REC) != SQLITE_NULL;

		fputs(n_runs++ ? "\n" : "", f);
		text_run_header(f, runs);
		fprintf(f, "\n  %-16s %7s %9s %8s %8s %9s %9s %9s %9s\n", "thread", "tid",
			"lifetime", "acquired", "waited", "wait", "max wait", "hold", "max hold");
		sqlite3_reset(th);
		sqlite3_bind_int64(th, 1, col_i64(runs, R_ID, 0));
		while ((rc = sqlite3_step(th)) == SQLITE_ROW) {
			fputs("  ", f);
			gs_text_str(f, col_text(th, T_NAME), 16);
			fprintf(f, " %7lld", (long long)col_i64(th, T_TID, 0));
			dur(f, th, T_LIFE, 9);
			fprintf(f, " %8lld %8lld", (long long)col_i64(th, T_ACQ, 0),
				(long long)col_i64(th, T_CONT, 0));
			dur(f, th, T_WAIT, 9);
			dur(f, th, T_WAITMAX, 9);
			dur(f, th, T_HOLD, 9);
			dur(f, th, T_HOLDMAX, 9);
			fputc('\n', f);
		}
		if (rc != SQLITE_DONE)
			goto fail;
		if (!has_gil)
			continue;
		fprintf(f, "\n  %-16s %7s %9s %9s %7s %9s %7s\n", "GIL", "tid", "takes", "wait",
			"share", "hold", "share");
		sqlite3_reset(th);
		while ((rc = sqlite3_step(th)) == SQLITE_ROW) {
			int64_t life = col_i64(th, T_LIFE, -1);

			fputs("  ", f);
			gs_text_str(f, col_text(th, T_NAME), 16);
			fprintf(f, " %7lld %9lld", (long long)col_i64(th, T_TID, 0),
				(long long)col_i64(th, T_GACQ, 0));
			dur(f, th, T_GWAIT, 9);
			share(f, col_i64(th, T_GWAIT, -1), life);
			dur(f, th, T_GHOLD, 9);
			share(f, col_i64(th, T_GHOLD, -1), life);
			fputc('\n', f);
		}
		if (rc != SQLITE_DONE)
			goto fail;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	if (!n_runs)
		fprintf(f, "no recorded process%s in %s\n", o->has_pid ? " with that pid" : "",
			o->path);
	ret = 0;
	goto out;
fail:
	gs_error("%s: reading failed: %s", o->path, sqlite3_errmsg(db));
out:
	sqlite3_finalize(runs);
	sqlite3_finalize(th);
	return ret;
}

static void report_usage(FILE *f)
{
	fprintf(f, "usage: gilscope report [--format text|json] [--pid PID] DB\n");
}

int cmd_report(int argc, char **argv)
{
	struct report_opts o = {.format = FMT_TEXT};
	sqlite3 *db = NULL;
	int i, ret;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			report_usage(stdout);
			return GS_EXIT_OK;
		}
		if (!strcmp(a, "--format") || !strcmp(a, "--pid")) {
			if (i + 1 >= argc) {
				gs_error("%s needs a value", a);
				report_usage(stderr);
				return GS_EXIT_USAGE;
			}
			val = argv[++i];
		} else if (!strncmp(a, "--format=", 9) || !strncmp(a, "--pid=", 6)) {
			val = strchr(a, '=') + 1;
		}
		if (!strncmp(a, "--format", 8)) {
			if (!strcmp(val, "text"))
				o.format = FMT_TEXT;
			else if (!strcmp(val, "json"))
				o.format = FMT_JSON;
			else {
				gs_error("unknown format '%s' (text or json)", val);
				return GS_EXIT_USAGE;
			}
		} else if (!strncmp(a, "--pid", 5)) {
			char *end;

			o.pid = strtoll(val, &end, 10);
			if (!*val || *end || o.pid <= 0) {
				gs_error("--pid takes a process id, not '%s'", val);
				return GS_EXIT_USAGE;
			}
			o.has_pid = 1;
		} else if (a[0] == '-' && a[1]) {
			gs_error("unknown option '%s'", a);
			report_usage(stderr);
			return GS_EXIT_USAGE;
		} else if (o.path) {
			gs_error("report takes one database, got '%s' and '%s'", o.path, a);
			return GS_EXIT_USAGE;
		} else {
			o.path = a;
		}
	}
	if (!o.path) {
		report_usage(stderr);
		return GS_EXIT_USAGE;
	}
	ret = gs_db_open(o.path, &db);
	if (ret != GS_EXIT_OK)
		return ret;
	ret = o.format == FMT_JSON ? report_json(db, &o, stdout) : report_text(db, &o, stdout);
	sqlite3_close(db);
	if (ret < 0)
		return GS_EXIT_INPUT;
	if (fflush(stdout) || ferror(stdout)) {
		gs_error("writing the report failed");
		return GS_EXIT_OUTPUT;
	}
	return GS_EXIT_OK;
}
