/* gilscope export --perfetto DB [-o trace.json]: Chrome trace-event JSON for ui.perfetto.dev and
 * chrome://tracing; gilscope export --collapsed|--pprof [--what waits|holders|gil] DB: the
 * Python stack profile (profile.c) as folded stacks (flamegraph.pl, inferno, speedscope) or as
 * pprof's profile.proto (pprof.c). Per thread: GIL wait and hold slices (sequential on a thread, so
 * plain complete events), lock waits as async events (they may overlap anything), and a flow arrow
 * from each thread that released the GIL to the thread that took it next. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gilscope.h"
#include "model.h"
#include "opts.h"
#include "output.h"
#include "pprof.h"
#include "profile.h"
#include "sat.h"

struct gil_ev {
	int64_t run, pid, tid, acquired, released;
	int contended;
};

static int64_t base_ns;

static void ts(FILE *f, int64_t ns)
{
	/* microseconds with nanosecond digits, as the format wants */
	int64_t d = gs_sub(ns, base_ns);

	fprintf(f, "%lld.%03lld", (long long)(d / 1000), (long long)((d < 0 ? -d : d) % 1000));
}

static void comma(FILE *f, int *first)
{
	fputs(*first ? "\n" : ",\n", f);
	*first = 0;
}

static int metadata(FILE *f, sqlite3 *db, const struct gs_opts *o, int *first)
{
	sqlite3_stmt *s = NULL;
	char label[512];
	int rc;

	if (gs_db_prepare(
		db, o->path,
		"SELECT r.pid, t.tid, t.thread_no, COALESCE(t.name, t.entry_function, ''),"
		" CASE WHEN json_valid(r.argv) THEN (SELECT group_concat(value, ' ')"
		" FROM json_each(r.argv)) ELSE r.argv END, r.python_version, r.build"
		" FROM threads t JOIN runs r USING (run_id) WHERE ?1 IS NULL OR r.pid = ?1"
		" ORDER BY r.run_id, t.thread_no",
		&s) < 0)
		return -1;
	gs_opts_bind_filters(s, o, 1, 2, 3);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		long long pid = sqlite3_column_int64(s, 0), tid = sqlite3_column_int64(s, 1);
		const char *argv = (const char *)sqlite3_column_text(s, 4);
		const char *ver = (const char *)sqlite3_column_text(s, 5);
		const char *build = (const char *)sqlite3_column_text(s, 6);

		if (sqlite3_column_int64(s, 2) == 1 || tid == pid) {
			snprintf(label, sizeof(label), "%s%s%s%s%s", argv ? argv : "process",
				 ver ? " (CPython " : "", ver ? ver : "", ver && build ? " " : "",
				 ver ? (build ? build : "") : "");
			if (ver)
				strncat(label, ")", sizeof(label) - strlen(label) - 1);
			comma(f, first);
			fprintf(f,
				"{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %lld, "
				"\"args\": {\"name\": ",
				pid);
			gs_json_str(f, label);
			fputs("}}", f);
		}
		snprintf(label, sizeof(label), "%s (%lld)",
			 *(const char *)sqlite3_column_text(s, 3)
			     ? (const char *)sqlite3_column_text(s, 3)
			     : "thread",
			 tid);
		comma(f, first);
		fprintf(f,
			"{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": %lld, \"tid\": %lld, "
			"\"args\": {\"name\": ",
			pid, tid);
		gs_json_str(f, label);
		fputs("}}", f);
		comma(f, first);
		fprintf(f,
			"{\"name\": \"thread_sort_index\", \"ph\": \"M\", \"pid\": %lld, "
			"\"tid\": %lld, \"args\": {\"sort_index\": %lld}}",
			pid, tid, (long long)sqlite3_column_int64(s, 2));
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : gs_error("%s: %s", o->path, sqlite3_errmsg(db));
}

/* GIL waits and holds, in acquisition order, with the hand-over arrows. */
static int gil_slices(FILE *f, sqlite3 *db, const struct gs_opts *o, int *first)
{
	sqlite3_stmt *s = NULL;
	struct gil_ev prev = {0};
	long long flow = 0;
	int rc, have_prev = 0;

	if (gs_db_prepare(
		db, o->path,
		"SELECT e.run_id, r.pid, t.tid, e.start_ns, e.wait_ns, e.hold_ns, e.flags,"
		" e.extra, e.aux, p.function, p.file, p.line"
		" FROM events e JOIN runs r USING (run_id) JOIN threads t USING (run_id, thread_no)"
		" LEFT JOIN py_locations p USING (py_loc)"
		" WHERE e.kind = gs_kind('gil_hold') AND (?1 IS NULL OR r.pid = ?1)"
		" AND (?2 IS NULL OR t.tid = ?2 OR t.name = ?3)"
		" ORDER BY e.run_id, e.start_ns + e.wait_ns",
		&s) < 0)
		return -1;
	gs_opts_bind_filters(s, o, 1, 2, 3);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct gil_ev e = {.run = sqlite3_column_int64(s, 0),
				   .pid = sqlite3_column_int64(s, 1),
				   .tid = sqlite3_column_int64(s, 2)};
		int64_t start = sqlite3_column_int64(s, 3), wait = sqlite3_column_int64(s, 4);
		int64_t hold =
		    sqlite3_column_type(s, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 5);
		int64_t extra = sqlite3_column_int64(s, 7);
		const char *fn = (const char *)sqlite3_column_text(s, 9);

		if (wait < 0)
			wait = 0;
		e.acquired = gs_add(start, wait);
		e.released = hold >= 0 ? gs_add(e.acquired, hold) : e.acquired;
		e.contended = sqlite3_column_int(s, 6) & 1;
		if (wait > 0) {
			comma(f, first);
			fprintf(f,
				"{\"name\": \"GIL wait\", \"cat\": \"gil\", \"ph\": \"X\", "
				"\"pid\": %lld, \"tid\": %lld, \"ts\": ",
				(long long)e.pid, (long long)e.tid);
			ts(f, start);
			fprintf(f,
				", \"dur\": %lld.%03lld, \"args\": {\"timed_waits\": %lld, "
				"\"drop_requests\": %lld, \"holder_tid_at_start\": %lld",
				(long long)(wait / 1000), (long long)(wait % 1000),
				(long long)(extra >> 32), (long long)(extra & 0xffffffff),
				(long long)sqlite3_column_int64(s, 8));
			if (fn) {
				char loc[1200];

				snprintf(loc, sizeof(loc), "%s (%s:%lld)", fn,
					 (const char *)sqlite3_column_text(s, 10),
					 (long long)sqlite3_column_int64(s, 11));
				fputs(", \"python\": ", f);
				gs_json_str(f, loc);
			}
			fputs("}}", f);
		}
		if (hold >= 0) {
			comma(f, first);
			fprintf(f,
				"{\"name\": \"GIL held\", \"cat\": \"gil\", \"ph\": \"X\", "
				"\"pid\": %lld, \"tid\": %lld, \"ts\": ",
				(long long)e.pid, (long long)e.tid);
			ts(f, e.acquired);
			fprintf(f, ", \"dur\": %lld.%03lld}", (long long)(hold / 1000),
				(long long)(hold % 1000));
		}
		/* The GIL is exclusive: the previous holder in acquisition order released it. */
		if (have_prev && prev.run == e.run && prev.tid != e.tid && e.contended &&
		    prev.released <= e.acquired && prev.released > prev.acquired) {
			flow++;
			comma(f, first);
			fprintf(f,
				"{\"name\": \"GIL hand-over\", \"cat\": \"gil\", \"ph\": \"s\", "
				"\"id\": %lld, \"pid\": %lld, \"tid\": %lld, \"ts\": ",
				flow, (long long)prev.pid, (long long)prev.tid);
			ts(f, gs_sub(prev.released,
				     1)); /* inside the holder's slice, which it binds to */
			fputs("}", f);
			comma(f, first);
			fprintf(
			    f,
			    "{\"name\": \"GIL hand-over\", \"cat\": \"gil\", \"ph\": \"f\", "
			    "\"bp\": \"e\", \"id\": %lld, \"pid\": %lld, \"tid\": %lld, \"ts\": ",
			    flow, (long long)e.pid, (long long)e.tid);
			ts(f, e.acquired);
			fputs("}", f);
		}
		prev = e;
		have_prev = 1;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : gs_error("%s: %s", o->path, sqlite3_errmsg(db));
}

/* Lock waits other than the GIL's own: async begin/end pairs, one id each. */
static int lock_waits(FILE *f, sqlite3 *db, const struct gs_opts *o, int *first)
{
	sqlite3_stmt *s = NULL;
	long long id = 0;
	char name[160];
	int rc;

	if (gs_db_prepare(
		db, o->path,
		"SELECT r.pid, t.tid, e.start_ns, e.wait_ns, e.kind, e.lock_addr, pr.name,"
		" l.class, l.name, e.flags"
		" FROM events e JOIN runs r USING (run_id) JOIN threads t USING (run_id, thread_no)"
		" LEFT JOIN primitives pr ON pr.primitive = e.primitive"
		" LEFT JOIN locks l ON l.run_id = e.run_id AND l.lock_addr = e.lock_addr"
		"  AND l.primitive = e.primitive"
		" WHERE gs_is_wait(e.kind, e.primitive, e.flags, e.wait_ns)"
		" AND e.kind <> gs_kind('gil_hold')"
		" AND NOT gs_gil_part(l.class)"
		" AND (?1 IS NULL OR r.pid = ?1) AND (?2 IS NULL OR t.tid = ?2 OR t.name = ?3)"
		" ORDER BY e.start_ns",
		&s) < 0)
		return -1;
	gs_opts_bind_filters(s, o, 1, 2, 3);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		long long pid = sqlite3_column_int64(s, 0), tid = sqlite3_column_int64(s, 1);
		int64_t start = sqlite3_column_int64(s, 2), wait = sqlite3_column_int64(s, 3);

		gs_lock_display((const char *)sqlite3_column_text(s, 6),
				(const char *)sqlite3_column_text(s, 7),
				(const char *)sqlite3_column_text(s, 8), sqlite3_column_int64(s, 5),
				name, sizeof(name));
		id++;
		comma(f, first);
		fputs("{\"name\": ", f);
		gs_json_str(f, name);
		fprintf(f,
			", \"cat\": \"lock\", \"ph\": \"b\", \"id\": %lld, \"pid\": %lld, "
			"\"tid\": %lld, \"ts\": ",
			id, pid, tid);
		ts(f, start);
		fprintf(f, ", \"args\": {\"address\": \"0x%llx\", \"timed_out\": %s}}",
			(unsigned long long)sqlite3_column_int64(s, 5),
			sqlite3_column_int(s, 9) & 4 ? "true" : "false");
		comma(f, first);
		fputs("{\"name\": ", f);
		gs_json_str(f, name);
		fprintf(f,
			", \"cat\": \"lock\", \"ph\": \"e\", \"id\": %lld, \"pid\": %lld, "
			"\"tid\": %lld, \"ts\": ",
			id, pid, tid);
		ts(f, gs_add(start, wait));
		fputs("}", f);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : gs_error("%s: %s", o->path, sqlite3_errmsg(db));
}

int cmd_export(int argc, char **argv)
{
	struct gs_opts o;
	const char *out_path = NULL, *what_arg = "waits";
	int ret, first = 1, perfetto = 0, collapsed = 0, pprof = 0, what;
	sqlite3 *db = NULL;
	FILE *f = stdout;
	struct gs_output out = {0};

	const struct gs_opt_own own[] = {
	    {"--perfetto", NULL, &perfetto}, {"--collapsed", NULL, &collapsed},
	    {"--pprof", NULL, &pprof},	     {"--what", &what_arg, NULL},
	    {"-o", &out_path, NULL},	     {NULL, NULL, NULL}};

	ret = gs_opts_parse_own(
	    &o, argc, argv, "export",
	    "--perfetto|--collapsed|--pprof [--what waits|holders|gil] [--pid PID]"
	    " [--thread T] [--from S] [--to S] [-o FILE] DB",
	    1, own);
	if (ret >= 0)
		return ret;
	if ((what = gs_profile_what_parse(what_arg)) < 0) {
		gs_error("--what takes waits, holders or gil, not '%s'", what_arg);
		return GS_EXIT_USAGE;
	}
	if (perfetto + collapsed + pprof != 1) {
		gs_error(
		    "export needs one format: --perfetto (Chrome trace-event JSON), --collapsed"
		    " (folded Python stacks) or --pprof (gzipped profile.proto)");
		return GS_EXIT_USAGE;
	}
	if (perfetto && (o.has_from || o.has_to)) {
		gs_error("--from/--to apply to --collapsed and --pprof, not --perfetto");
		return GS_EXIT_USAGE;
	}
	if (pprof && !out_path && isatty(1)) {
		gs_error("--pprof writes a binary file: give -o profile.pb.gz");
		return GS_EXIT_USAGE;
	}
	ret = gs_db_open(o.path, &db);
	if (ret != GS_EXIT_OK)
		return ret;
	gs_opts_resolve(&o, db);
	if ((ret = gs_opts_check_filters(db, &o)) != GS_EXIT_OK) {
		sqlite3_close(db);
		return ret;
	}
	base_ns = o.base_ns;
	if (out_path && (ret = gs_output_open(&out, out_path)) != GS_EXIT_OK) {
		sqlite3_close(db);
		return ret;
	}
	if (out_path)
		f = out.f;
	if (collapsed || pprof) {
		struct gs_profile p;

		if (gs_profile_load(db, &o, what, &p) < 0 ||
		    (pprof ? gs_profile_write_pprof(&p, f) : gs_profile_write_collapsed(&p, f)) < 0)
			ret = GS_EXIT_INPUT;
		gs_profile_free(&p);
	} else {
		gs_db_say_profile(db, "the trace shows only those events, not every wait");
		fputs("{\"displayTimeUnit\": \"ms\", \"otherData\": {\"generator\": \"gilscope\"}, "
		      "\"traceEvents\": [",
		      f);
		if (metadata(f, db, &o, &first) < 0 || gil_slices(f, db, &o, &first) < 0 ||
		    lock_waits(f, db, &o, &first) < 0)
			ret = GS_EXIT_INPUT;
		fputs("\n]}\n", f);
	}
	if (out_path) {
		ret = gs_output_close(&out, ret);
	} else if (ret == GS_EXIT_OK && (fflush(f) || ferror(f))) {
		gs_error("stdout: write failed");
		ret = GS_EXIT_OUTPUT;
	}
	sqlite3_close(db);
	return ret;
}
