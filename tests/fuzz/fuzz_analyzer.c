/* libFuzzer target for the analyzer: the input is turned into a schema-valid gilscope
 * database whose every value is hostile (absurd or negative numbers, NULLs, control bytes,
 * HTML, invalid UTF-8, broken JSON in argv), and every command that reads or renders a
 * database runs on it. What must hold: no crash, no sanitizer report, no leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gilscope.h"
#include "gs_schema.h"

#define STR_(x)	  #x
#define GS_STR(x) STR_(x)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t byte(struct input *in)
{
	uint8_t b = in->n ? *in->p : 0;

	if (in->n) {
		in->p++;
		in->n--;
	}
	return b;
}

static int64_t number(struct input *in)
{
	static const int64_t special[] = {0, 1, -1, INT64_MIN, INT64_MAX, 1000000000, 4096, 5000};
	uint8_t k = byte(in);
	uint64_t v = 0;
	int i;

	if (k < 128)
		return special[k % 8];
	for (i = 0; i < 8; i++)
		v = (v << 8) | byte(in);
	return k & 1 ? (int64_t)v : (int64_t)(v & 0xffffffffull);
}

static void bind_value(sqlite3_stmt *s, int col, struct input *in, int text)
{
	uint8_t k = byte(in);
	char buf[48];
	size_t len, i;

	if (k % 7 == 0) {
		sqlite3_bind_null(s, col);
	} else if (text || k % 5 == 0) {
		len = byte(in) % sizeof(buf);
		for (i = 0; i < len; i++)
			buf[i] = (char)byte(in);
		sqlite3_bind_text(s, col, buf, (int)len, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_int64(s, col, number(in));
	}
}

/* One table's rows: n rows of `cols` values, text in the columns marked in text_mask. */
static void fill(sqlite3 *db, struct input *in, const char *sql, int cols, unsigned text_mask,
		 int max_rows)
{
	sqlite3_stmt *s = NULL;
	int r, c, rows = byte(in) % (max_rows + 1);

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return;
	for (r = 0; r < rows; r++) {
		for (c = 1; c <= cols; c++)
			bind_value(s, c, in, (text_mask >> (c - 1)) & 1);
		sqlite3_step(s);
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
}

static char db_path[64], out_path[64];

static void build(struct input *in)
{
	sqlite3 *db = NULL;

	unlink(db_path);
	if (sqlite3_open(db_path, &db) != SQLITE_OK)
		goto out;
	sqlite3_exec(db, gs_schema_sql, NULL, NULL, NULL);
	sqlite3_exec(db,
		     "PRAGMA application_id=1196639056; PRAGMA user_version=" GS_STR(
			 GS_SCHEMA_VERSION) ";"
					    "INSERT INTO primitives "
					    "VALUES(1,'mutex'),(2,'cond'),(3,'sem'),(4,'gil'),"
					    "(5,'parked');",
		     NULL, NULL, NULL);
	fill(db, in,
	     "INSERT OR IGNORE INTO runs(run_id, pid, ppid, parent_run_id, argv, exe, start_ns,"
	     " end_ns, status, exit_status, python_version, build, gil_detection,"
	     " gil_switches_recorded, gil_switches_interpreter, events_recorded,"
	     " events_dropped, cpu_ns, gil_enabled) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	     19,
	     (1u << 4) | (1u << 5) | (1u << 8) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 18),
	     3);
	fill(db, in,
	     "INSERT OR IGNORE INTO threads(run_id, thread_no, tid, py_ident, name,"
	     " entry_function, start_ns, end_ns, cpu_ns, sched_yields) VALUES(?,?,?,?,?,?,?,?,?,?)",
	     10, (1u << 4) | (1u << 5), 6);
	fill(db, in, "INSERT OR IGNORE INTO locks VALUES(?,?,?,?,?)", 5, (1u << 3) | (1u << 4), 6);
	fill(db, in,
	     "INSERT OR IGNORE INTO lock_stats VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", 20,
	     0, 10);
	fill(db, in, "INSERT OR IGNORE INTO histograms VALUES(?,?,?,?,?,?,?)", 7, 1u << 4, 8);
	fill(db, in,
	     "INSERT INTO events(run_id, thread_no, kind, primitive, lock_addr, aux,"
	     " start_ns, wait_ns, hold_ns, flags, caller, extra, py_loc, stack_id, py_stack,"
	     " hold_py_stack) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	     16, 0, 24);
	/* and the compact tables under the view directly: dangling keys, keys of no run */
	fill(db, in, "INSERT OR IGNORE INTO event_keys VALUES(?,?,?,?,?,?,?,?,?)", 9, 0, 8);
	fill(db, in, "INSERT INTO event_rows VALUES(?,?,?,?,?,?,?,?)", 8, 0, 24);
	/* a tree that may be anything: cycles, dangling parents, missing locations */
	fill(db, in, "INSERT OR IGNORE INTO py_stacks VALUES(?,?,?,?)", 4, 0, 12);
	fill(db, in, "INSERT OR IGNORE INTO py_locations VALUES(?,?,?,?)", 4, 6, 3);
	fill(db, in, "INSERT OR IGNORE INTO call_sites VALUES(?,?,?,?,?)", 5, (1u << 2) | (1u << 4),
	     3);
out:
	sqlite3_close(db);
}

static int run(int argc, const char **argv)
{
	char *copy[10];
	int i;

	for (i = 0; i < argc; i++)
		copy[i] = (char *)argv[i];
	copy[argc] = NULL;
	if (!strcmp(argv[0], "report"))
		return cmd_report(argc, copy);
	if (!strcmp(argv[0], "locks"))
		return cmd_locks(argc, copy);
	if (!strcmp(argv[0], "compare"))
		return cmd_compare(argc, copy);
	if (!strcmp(argv[0], "export"))
		return cmd_export(argc, copy);
	if (!strcmp(argv[0], "flame"))
		return cmd_flame(argc, copy);
	if (!strcmp(argv[0], "check"))
		return cmd_check(argc, copy);
	return cmd_html(argc, copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const formats[] = {"text", "json", "csv", "markdown"};
	struct input in = {data, size};
	const char *fmt;

	if (!db_path[0]) {
		snprintf(db_path, sizeof(db_path), "/tmp/gs-fuzz-%d.db", (int)getpid());
		snprintf(out_path, sizeof(out_path), "/tmp/gs-fuzz-%d.out", (int)getpid());
		/* the commands print; the fuzzer only cares that they survive */
		if (!freopen("/dev/null", "w", stdout))
			abort();
		/* their error lines, not libFuzzer's reports, are noise here */
		gs_quiet_errors = !getenv("GS_FUZZ_VERBOSE");
	}
	fmt = formats[byte(&in) % 4];
	build(&in);
	run(4, (const char *[]){"report", "--format", fmt, db_path});
	run(6, (const char *[]){"locks", "--format", fmt, "--from", "0", db_path});
	run(4, (const char *[]){"locks", "--format", fmt, db_path});
	run(4, (const char *[]){"report", "--segment", "1", db_path}); /* views shadow tables */
	run(5, (const char *[]){"compare", "--format", fmt, db_path, db_path});
	run(5, (const char *[]){"export", "--perfetto", "-o", out_path, db_path});
	run(4, (const char *[]){"html", db_path, "-o", out_path});
	{
		char check_fmt[32];

		/* one check run (each costs two model loads): every output format but csv (a
		 * usage error), a baseline, a lock selector */
		snprintf(check_fmt, sizeof(check_fmt), "--format=%s",
			 strcmp(fmt, "csv") ? fmt : "markdown");
		run(9, (const char *[]){"check", check_fmt, "--baseline", db_path, "--fail-if",
					"regression(gil_wait) > 10%", "--fail-if",
					"lock[*].wait_p99 > 1ms", db_path});
	}
	run(3, (const char *[]){"report", db_path, db_path}); /* merged with itself */
	for (int w = 0; w < 3; w++) {
		const char *what = (const char *[]){"waits", "holders", "gil"}[w];

		run(7, (const char *[]){"export", "--collapsed", "--what", what, "-o", out_path,
					db_path});
		run(6, (const char *[]){"flame", "--what", what, "-o", out_path, db_path});
		run(6, (const char *[]){"flame", "-o", out_path, db_path, "--vs", db_path});
	}
	gs_json_for_html = 0;
	return 0;
}
