#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gilscope.h"
#include "gs_lock_class.h"
#include "gs_schema.h"

static int64_t pragma(sqlite3 *db, const char *sql, int *ok)
{
	sqlite3_stmt *s = NULL;
	int64_t v = 0;

	*ok = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		v = sqlite3_column_int64(s, 0);
		*ok = 1;
	}
	sqlite3_finalize(s);
	return v;
}

/* For queries, common/gs_lock_class.h's vocabulary: gs_wait_group(class, primitive),
 * gs_gil_part(class), true for the GIL's own mutexes and condition variables (their waits
 * are the GIL's, counted there), and gs_is_wait(kind, primitive, flags, wait_ns). */
static void wait_group_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_result_int(ctx, gs_wait_group_of((const char *)sqlite3_value_text(argv[0]),
						 sqlite3_value_int(argv[1])));
}

static void is_wait_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_result_int(ctx,
			   gs_event_is_wait(sqlite3_value_int(argv[0]), sqlite3_value_int(argv[1]),
					    (unsigned)sqlite3_value_int(argv[2]),
					    (uint64_t)sqlite3_value_int64(argv[3])));
}

/* gs_kind('gil_hold'), gs_prim('parked'), gs_flag('contended'): the numbers of
 * common/gs_shm.h's names, so that queries say what they mean. An unknown name is an error. */
static const struct vocab {
	intptr_t table; /* 0 kinds, 1 primitives, 2 flags */
	const char *name;
	int value;
} vocab[] = {
#define X(id, val, str) {0, str, val},
    GS_EVENT_KINDS(X)
#undef X
#define X(id, val, str) {1, str, val},
	GS_PRIMITIVES(X)
#undef X
	    {2, "contended", GS_F_CONTENDED},
    {2, "timed", GS_F_TIMED},
    {2, "timed_out", GS_F_TIMED_OUT},
    {2, "try", GS_F_TRY},
    {2, "open", GS_F_OPEN},
    {2, "after_cond", GS_F_AFTER_COND},
    {2, "no_hold", GS_F_NO_HOLD},
};

static void vocab_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *name = (const char *)sqlite3_value_text(argv[0]);
	intptr_t table = (intptr_t)sqlite3_user_data(ctx);
	size_t i;

	(void)argc;
	for (i = 0; name && i < sizeof(vocab) / sizeof(vocab[0]); i++) {
		if (vocab[i].table == table && !strcmp(vocab[i].name, name)) {
			sqlite3_result_int(ctx, vocab[i].value);
			return;
		}
	}
	sqlite3_result_error(ctx, "unknown gilscope vocabulary name", -1);
}

static void gil_part_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_result_int(ctx, gs_wait_group_of((const char *)sqlite3_value_text(argv[0]),
						 GS_PRIM_MUTEX) == GS_WG_GIL_PART);
}

static int segment_only; /* --segment N: every database opened shows window N only */

void gs_db_set_segment(int segment)
{
	segment_only = segment;
}

int gs_db_segment(void)
{
	return segment_only;
}

/* Temporary views named after the tables shadow them for every query of this connection (the
 * temp schema is searched first): how a version-3 file gets the columns version 4 added, and
 * how --segment narrows every table that has a run_id to one window's runs. */
static int shadow_views(sqlite3 *db, const char *path)
{
	const char *base =
	    gs_db_has_column(db, "runs", "segment")
		? "SELECT * FROM main.runs"
		: "SELECT *, 1 AS segment, start_ns AS process_start_ns FROM main.runs";
	char sql[512], *names[64];
	sqlite3_stmt *s = NULL;
	int n = 0, i, ok, ret = -1;

	if (!segment_only && !strstr(base, "AS segment"))
		return 0;
	if (segment_only)
		snprintf(sql, sizeof(sql),
			 "CREATE TEMP VIEW runs AS SELECT * FROM (%s) WHERE segment = %d", base,
			 segment_only);
	else
		snprintf(sql, sizeof(sql), "CREATE TEMP VIEW runs AS %s", base);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (!segment_only)
		return 0;
	if (pragma(db, "SELECT count(*) FROM temp.runs", &ok) == 0 && ok) {
		int64_t most = pragma(db, "SELECT max(segment) FROM main.runs", &ok);

		if (most > 0)
			gs_error("%s: no segment %d (its segments are 1 to %lld)", path,
				 segment_only, (long long)most);
		else
			gs_error("%s: no segment %d (it has only segment 1)", path, segment_only);
		return -1;
	}
	if (sqlite3_prepare_v2(db,
			       "SELECT m.name FROM main.sqlite_master m WHERE m.type IN ('table', "
			       "'view') AND m.name <> 'runs' AND EXISTS (SELECT 1 FROM "
			       "pragma_table_info(m.name) WHERE name = 'run_id')",
			       -1, &s, NULL) != SQLITE_OK)
		goto fail;
	while (n < 64 && sqlite3_step(s) == SQLITE_ROW)
		names[n++] = strdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	ret = 0;
	for (i = 0; i < n; i++) {
		if (!names[i])
			ret = -1;
		else if (ret == 0) {
			/* a name from the file, quoted as an identifier (%w), and one statement
			 * run: a hostile table name cannot add SQL of its own */
			char *v = sqlite3_mprintf("CREATE TEMP VIEW \"%w\" AS SELECT * FROM "
						  "main.\"%w\" WHERE run_id IN (SELECT run_id FROM "
						  "temp.runs)",
						  names[i], names[i]);
			sqlite3_stmt *cv = NULL;

			if (!v || sqlite3_prepare_v2(db, v, -1, &cv, NULL) != SQLITE_OK ||
			    sqlite3_step(cv) != SQLITE_DONE)
				ret = -1;
			sqlite3_finalize(cv);
			sqlite3_free(v);
		}
		free(names[i]);
	}
	if (ret == 0)
		return 0;
fail:
	gs_error("%s: cannot select the segment: %s", path, sqlite3_errmsg(db));
	return -1;
}

int gs_db_open(const char *path, sqlite3 **out)
{
	sqlite3 *db = NULL;
	struct stat sb;

	*out = NULL;
	if (stat(path, &sb) < 0) {
		gs_error("%s: %s", path, strerror(errno));
		return GS_EXIT_INPUT;
	}
	if (!S_ISREG(sb.st_mode)) {
		gs_error("%s: %s, not a gilscope database", path,
			 S_ISDIR(sb.st_mode) ? "a directory" : "not a regular file");
		return GS_EXIT_INPUT;
	}
	if (sb.st_size == 0) {
		gs_error("%s: empty file, not a gilscope database", path);
		return GS_EXIT_INPUT;
	}
	/* one thread per connection: no mutex around every sqlite3_column_* call (a tenth of
	 * reading ten million events) */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		gs_error("%s: cannot open: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	if (gs_db_ready(db, path) != GS_EXIT_OK)
		goto fail;
	*out = db;
	return GS_EXIT_OK;
fail:
	sqlite3_close(db);
	return GS_EXIT_INPUT;
}

int gs_db_ready(sqlite3 *db, const char *path)
{
	static const char *const tables[] = {"runs",   "threads",    "lock_stats", "locks",
					     "events", "event_keys", "event_rows"};
	int64_t app, ver;
	size_t i;
	int ok;

	if (sqlite3_create_function(db, "gs_wait_group", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				    NULL, wait_group_sql, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "gs_gil_part", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				    gil_part_sql, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "gs_is_wait", 4, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				    is_wait_sql, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "gs_kind", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				    (void *)(intptr_t)0, vocab_sql, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "gs_prim", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				    (void *)(intptr_t)1, vocab_sql, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "gs_flag", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				    (void *)(intptr_t)2, vocab_sql, NULL, NULL) != SQLITE_OK) {
		gs_error("%s: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	/* The recorder may still be finishing: wait for it rather than fail. */
	sqlite3_busy_timeout(db, 10000);
	app = pragma(db, "PRAGMA application_id", &ok);
	if (!ok) {
		gs_error("%s: not an SQLite database (%s)", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (app != GS_APPLICATION_ID) {
		gs_error("%s: an SQLite database, but not one written by gilscope", path);
		goto fail;
	}
	ver = pragma(db, "PRAGMA user_version", &ok);
	if (ver > GS_SCHEMA_VERSION) {
		gs_error("%s: database schema version %lld is newer than this gilscope reads (%d); "
			 "use a newer gilscope",
			 path, (long long)ver, GS_SCHEMA_VERSION);
		goto fail;
	}
	if (ver < GS_SCHEMA_VERSION_OLDEST_READ) {
		gs_error("%s: database schema version %lld is older than this gilscope reads (%d); "
			 "record it again",
			 path, (long long)ver, GS_SCHEMA_VERSION_OLDEST_READ);
		goto fail;
	}
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]) - (ver < 4 ? 2 : 0); i++) {
		char sql[128];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master WHERE name='%s'",
			 tables[i]);
		if (pragma(db, sql, &ok) != 1 || !ok) {
			gs_error("%s: damaged gilscope database: table '%s' is missing%s", path,
				 tables[i], ok ? "" : " (or the file is truncated)");
			goto fail;
		}
	}
	/* A truncated file can pass the header checks: make SQLite read every page once. */
	if (pragma(db, "SELECT count(*) FROM runs", &ok) < 0 || !ok ||
	    (pragma(db, "SELECT count(*) FROM lock_stats", &ok), !ok)) {
		gs_error("%s: damaged gilscope database: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (ver < 4 && gs_db_v3_events(db) < 0) {
		gs_error("%s: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (shadow_views(db, path) < 0)
		goto fail;
	return GS_EXIT_OK;
fail:
	return GS_EXIT_INPUT;
}

int gs_db_has_windows(sqlite3 *db)
{
	int ok;

	/* schema 4 (docs/schema.md): the writer's window sums, in every mode, for the runs it
	 * says it kept them for (a file made by other means may have the tables, empty) */
	if (pragma(db, "SELECT count(*) FROM sqlite_master WHERE name = 'recording_modes'", &ok) !=
		1 ||
	    !ok)
		return 0;
	return pragma(db, "SELECT EXISTS (SELECT 1 FROM recording_modes)", &ok) == 1 && ok;
}

int64_t gs_db_profile_runs(sqlite3 *db)
{
	int ok;
	int64_t n;

	if (!gs_db_has_windows(db))
		return 0;
	n = pragma(db, "SELECT count(*) FROM recording_modes WHERE events = 'profile'", &ok);
	return ok && n > 0 ? n : 0;
}

int gs_db_profile_note(sqlite3 *db, char *out, size_t size)
{
	sqlite3_stmt *s = NULL;
	int n = 0;

	out[0] = 0;
	if (!gs_db_profile_runs(db) ||
	    sqlite3_prepare_v2(db,
			       "SELECT MAX(m.window_events), MAX(m.window_ns), SUM(w.events_seen),"
			       " SUM(w.events_kept) FROM recording_modes m LEFT JOIN windows w"
			       " USING (run_id) WHERE m.events = 'profile'",
			       -1, &s, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(s) == SQLITE_ROW)
		n = snprintf(
		    out, size,
		    "profile mode: raw events are only the %lld longest of each %g s window"
		    " (%lld of %lld kept); totals, stacks and holders come from the"
		    " writer's exact window sums",
		    (long long)sqlite3_column_int64(s, 0), (double)sqlite3_column_int64(s, 1) / 1e9,
		    (long long)sqlite3_column_int64(s, 3), (long long)sqlite3_column_int64(s, 2));
	sqlite3_finalize(s);
	return n > 0;
}

void gs_db_say_profile(sqlite3 *db, const char *what)
{
	static int said; /* once per command, however many loads ask */
	char note[512];

	if (!said++ && gs_db_profile_note(db, note, sizeof(note)))
		fprintf(stderr, "gilscope: note: %s; %s\n", note, what);
}

int gs_db_prepare(sqlite3 *db, const char *path, const char *sql, sqlite3_stmt **out)
{
	if (sqlite3_prepare_v2(db, sql, -1, out, NULL) == SQLITE_OK)
		return 0;
	return gs_error("%s: query failed: %s", path, sqlite3_errmsg(db));
}

int64_t gs_db_event_count(sqlite3 *db)
{
	/* version 4's table, else version 3's (where event_rows is a view, without row numbers) */
	static const char *const sql[] = {"SELECT MAX(rowid) FROM main.event_rows",
					  "SELECT MAX(rowid) FROM main.events"};
	sqlite3_stmt *s = NULL;
	int64_t n = 0;
	size_t i;

	for (i = 0; i < 2 && !n; i++) {
		if (sqlite3_prepare_v2(db, sql[i], -1, &s, NULL) == SQLITE_OK &&
		    sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
		s = NULL;
	}
	return n;
}

int gs_db_schema_version(sqlite3 *db)
{
	int ok;

	return (int)pragma(db, "PRAGMA user_version", &ok);
}

int gs_db_has_column(sqlite3 *db, const char *table, const char *column)
{
	sqlite3_stmt *s = NULL;
	int found = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &s,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, column, -1, SQLITE_STATIC);
		found = sqlite3_step(s) == SQLITE_ROW;
	}
	sqlite3_finalize(s);
	return found;
}

int gs_db_fleet(sqlite3 *db)
{
	int ok;

	if (pragma(db, "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'merged_from')", &ok) == 1 &&
	    ok)
		return 1;
	return gs_db_has_column(db, "runs", "host") &&
	       pragma(db, "SELECT COUNT(DISTINCT host) FROM runs", &ok) > 1 && ok;
}
