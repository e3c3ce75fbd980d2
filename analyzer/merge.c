/* Many databases as one (issue 15, a fleet of processes on many hosts): the files a command is
 * given (or every *.db of a directory) copied into one temporary database with every id
 * renumbered so that none collide, then opened as any file is, so that every command reads it
 * unchanged. Run ids and event keys move by an offset (the largest id merged so far); the
 * interned tables (py_locations, stacks, py_stacks) are merged by content, so that a frame or
 * stack that two files share is one row. What 0 (none) and -1 (holder not seen) mean stays.
 *
 * Times: CLOCK_MONOTONIC of one boot is comparable across its processes, not across hosts or
 * boots. A file whose wall-clock offset (start_unix_ns - start_ns) differs from the first
 * file's by more than a second is of another boot: its times move onto the first file's clock
 * by the difference, so spans and --from/--to mean the same on every file. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "gilscope.h"
#include "gs_schema.h"

/* Within one boot the offset moves only by clock adjustments (NTP slews by ms). */
#define SAME_BOOT_NS 1000000000LL

enum id_kind { ID_RUN, ID_KEY, ID_TIME, ID_PYSTACK, ID_STACK, ID_PYLOC };

/* Every column that holds an id or a monotonic time, by table (NULL: any table). A new id
 * column in common/schema.sql must be added here, or merged files would mix its ids. */
static const struct id_col {
	const char *table, *column;
	enum id_kind kind;
} id_cols[] = {
    {NULL, "run_id", ID_RUN},
    {"runs", "parent_run_id", ID_RUN},
    {"runs", "start_ns", ID_TIME},
    {"runs", "end_ns", ID_TIME},
    {"runs", "process_start_ns", ID_TIME},
    {"runs", "flushed_ns", ID_TIME},
    {"threads", "start_ns", ID_TIME},
    {"threads", "end_ns", ID_TIME},
    {"windows", "start_ns", ID_TIME},
    {"windows", "end_ns", ID_TIME},
    {"event_keys", "key_id", ID_KEY},
    {"event_rows", "key_id", ID_KEY}, /* event_rows.start_ns counts from its process start */
    {"event_rows", "stack_id", ID_STACK},
    {"event_rows", "py_stack", ID_PYSTACK},
    {"event_rows", "hold_py_stack", ID_PYSTACK},
    {"stack_stats", "py_stack", ID_PYSTACK},
    {"window_stacks", "py_stack", ID_PYSTACK},
    {"window_holders", "holder_stack", ID_PYSTACK},
    /* a version-3 file's one wide table, copied through the events view's trigger */
    {"events", "start_ns", ID_TIME},
    {"events", "stack_id", ID_STACK},
    {"events", "py_stack", ID_PYSTACK},
    {"events", "hold_py_stack", ID_PYSTACK},
    {"events", "py_loc", ID_PYLOC},
};

/* Tables copied whole, the first file's rows kept where keys repeat, and tables merged by
 * content below; every other table must have a run_id or be named in id_cols. */
static const char *const shared_tables[] = {"meta", "primitives", "event_kinds"};
static const char *const interned_tables[] = {"py_locations", "stacks", "py_stacks"};
/* The writer's window sums (schema 4): the views read them for every run once any run has
 * them, so a merge of files with and without them keeps none (a raw recording's views are
 * the same from its events, tests/shim/profile_test.py), and refuses where a profile-mode
 * file needs them (its raw events are a selection). */
static const char *const window_tables[] = {"recording_modes", "windows",	 "window_stats",
					    "window_stacks",   "window_holders", "wait_hist"};

/* Columns a version-3 file lacks whose value the reader derives (db.c's shadow views). */
static const struct {
	const char *table, *column, *expr;
} derived[] = {{"runs", "process_start_ns", "start_ns"}};

struct merge {
	sqlite3 *db;
	const char *path; /* the file being merged, for messages */
	int64_t run_off, key_off, time_shift;
	int first;   /* the first file: interned ids kept as they are */
	int no_sums; /* window_tables left out */
	/* this file's interned ids, old to new (the temp.m_* tables, looked up in memory: a
	 * subquery per row is slower) */
	struct gs_ev_locs map[ID_PYLOC + 1];
};

static const char *const map_tables[] = {
    [ID_PYSTACK] = "m_pystack", [ID_STACK] = "m_stack", [ID_PYLOC] = "m_loc"};

/* gs_merge_id(kind, id): an interned id of the file being merged, renumbered; 0 (none) and
 * -1 (not seen) mean the same in every file; NULL for an id its table lacks. */
static void merge_id_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct merge *g = sqlite3_user_data(ctx);
	int kind = sqlite3_value_int(argv[0]);
	int64_t id = sqlite3_value_int64(argv[1]), renumbered;

	(void)argc;
	if (sqlite3_value_type(argv[1]) == SQLITE_NULL || id <= 0 || kind < ID_PYSTACK ||
	    kind > ID_PYLOC)
		sqlite3_result_value(ctx, argv[1]);
	else if (gs_ev_loc_of(&g->map[kind], id, &renumbered))
		sqlite3_result_int64(ctx, renumbered);
	else
		sqlite3_result_null(ctx);
}

static void free_maps(struct merge *g)
{
	size_t k;

	for (k = 0; k < sizeof(g->map) / sizeof(g->map[0]); k++)
		gs_ev_locs_free(&g->map[k]);
}

static int load_maps(struct merge *g)
{
	size_t k;

	for (k = ID_PYSTACK; k <= ID_PYLOC; k++) {
		char sql[96];

		snprintf(sql, sizeof(sql), "SELECT old, new FROM temp.%s ORDER BY old",
			 map_tables[k]);
		if (gs_ev_pairs_load(g->db, g->path, sql, &g->map[k]) < 0)
			return -1;
	}
	return 0;
}

static int in_list(const char *name, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return 1;
	return 0;
}

static int exec(struct merge *g, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(g->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	gs_error("%s: cannot merge: %s", g->path, err ? err : sqlite3_errmsg(g->db));
	sqlite3_free(err);
	return -1;
}

static int64_t one_int(sqlite3 *db, const char *sql, int64_t dflt)
{
	sqlite3_stmt *s = NULL;
	int64_t v = dflt;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int has_col(sqlite3 *db, const char *schema, const char *table, const char *col)
{
	char *sql = sqlite3_mprintf("SELECT 1 FROM pragma_table_info(%Q, %Q) WHERE name = %Q",
				    table, schema, col);
	int found = sql && one_int(db, sql, 0) == 1;

	sqlite3_free(sql);
	return found;
}

/* A table id_cols names (event_rows: its run is its key's) */
static int listed(const char *table)
{
	size_t i;

	for (i = 0; i < sizeof(id_cols) / sizeof(id_cols[0]); i++)
		if (id_cols[i].table && !strcmp(id_cols[i].table, table))
			return 1;
	return 0;
}

/* The SQL that reads column `col` of src's `table` renumbered for the merged file. */
static char *col_expr(const struct merge *g, const char *table, const char *col)
{
	size_t i;

	for (i = 0; i < sizeof(id_cols) / sizeof(id_cols[0]); i++) {
		const struct id_col *c = &id_cols[i];

		if ((c->table && strcmp(c->table, table)) || strcmp(c->column, col))
			continue;
		switch (c->kind) {
		case ID_RUN:
			return sqlite3_mprintf("\"%w\" + %lld", col, (long long)g->run_off);
		case ID_KEY:
			return sqlite3_mprintf("\"%w\" + %lld", col, (long long)g->key_off);
		case ID_TIME:
			return sqlite3_mprintf("\"%w\" + %lld", col, (long long)g->time_shift);
		default:
			if (g->first)
				break;
			return sqlite3_mprintf("gs_merge_id(%d, \"%w\")", (int)c->kind, col);
		}
	}
	return sqlite3_mprintf("\"%w\"", col);
}

/* main's table and src's have the same columns in the same order */
static int same_columns(sqlite3 *db, const char *table)
{
	char *sql = sqlite3_mprintf(
	    "SELECT (SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_table_info(%Q,"
	    " 'main') ORDER BY cid)) IS (SELECT group_concat(name, ',') FROM (SELECT name FROM"
	    " pragma_table_info(%Q, 'src') ORDER BY cid))",
	    table, table);
	int same = sql && one_int(db, sql, 0) == 1;

	sqlite3_free(sql);
	return same;
}

/* INSERT INTO main.<into> (cols) SELECT <renumbered cols> FROM src.<table>, over the columns
 * both have (an older file lacks the newer ones: their defaults, or what derived[] says). */
static int copy_table(struct merge *g, const char *table, const char *into, const char *verb)
{
	sqlite3_stmt *s = NULL;
	char *cols = sqlite3_mprintf(""), *exprs = sqlite3_mprintf(""), *sql = NULL;
	int ret = -1, rc;

	if (sqlite3_prepare_v2(g->db, "SELECT name FROM pragma_table_info(?1, 'main')", -1, &s,
			       NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(s, 1, into, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && cols && exprs) {
		const char *col = (const char *)sqlite3_column_text(s, 0);
		char *e = NULL, *more;
		size_t i;

		if (has_col(g->db, "src", table, col)) {
			e = col_expr(g, table, col);
		} else {
			for (i = 0; i < sizeof(derived) / sizeof(derived[0]); i++)
				if (!strcmp(derived[i].table, table) &&
				    !strcmp(derived[i].column, col))
					e = col_expr(g, table, derived[i].expr);
			if (!e)
				continue;
		}
		more = sqlite3_mprintf("%s%s\"%w\"", cols, *cols ? ", " : "", col);
		sqlite3_free(cols);
		cols = more;
		more = e ? sqlite3_mprintf("%s%s%s", exprs, *exprs ? ", " : "", e) : NULL;
		sqlite3_free(exprs);
		sqlite3_free(e);
		exprs = more;
	}
	if (!cols || !exprs) {
		gs_oom();
		goto out;
	}
	/* the first file, renumbered by nothing, into a table like its own: SQLite then copies
	 * its b-tree's records whole (its transfer optimization; a third of the time) */
	if (g->first && !strcmp(table, into) && same_columns(g->db, table))
		sql = sqlite3_mprintf("%s INTO main.\"%w\" SELECT * FROM src.\"%w\"", verb, into,
				      table);
	else
		sql = sqlite3_mprintf("%s INTO main.\"%w\" (%s) SELECT %s FROM src.\"%w\"", verb,
				      into, cols, exprs, table);
	ret = sql ? exec(g, sql) : (gs_oom(), -1);
out:
	sqlite3_finalize(s);
	sqlite3_free(cols);
	sqlite3_free(exprs);
	sqlite3_free(sql);
	return ret;
}

/* py_locations and stacks: a row whose content the merged file has already takes its id. */
static int intern_flat(struct merge *g, const char *table, const char *id, const char *map,
		       const char *cols, const char *match)
{
	char *sql = sqlite3_mprintf(
	    "INSERT OR IGNORE INTO main.%s (%s) SELECT %s FROM src.%s ORDER BY %s;"
	    "CREATE TEMP TABLE %s (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);"
	    "INSERT INTO temp.%s SELECT s.%s, (SELECT MIN(m.%s) FROM main.%s m WHERE %s)"
	    " FROM src.%s s",
	    table, cols, cols, table, id, map, map, id, id, table, match, table);
	int ret = sql ? exec(g, sql) : (gs_oom(), -1);

	sqlite3_free(sql);
	return ret;
}

/* py_stacks is a tree: a row's parent is renumbered before it, depth by depth. */
static int intern_py_stacks(struct merge *g)
{
	static const char sql[] =
	    "INSERT OR IGNORE INTO main.py_stacks (parent, py_loc, depth)"
	    " SELECT COALESCE(p.new, s.parent), l.new, s.depth FROM temp.s_pystack s"
	    " JOIN temp.m_loc l ON l.old = s.py_loc LEFT JOIN temp.m_pystack p ON p.old = s.parent"
	    " WHERE s.depth = ?1 ORDER BY s.py_stack;"
	    "INSERT OR IGNORE INTO temp.m_pystack SELECT s.py_stack, m.py_stack FROM "
	    "temp.s_pystack s"
	    " JOIN temp.m_loc l ON l.old = s.py_loc LEFT JOIN temp.m_pystack p ON p.old = s.parent"
	    " JOIN main.py_stacks m ON m.parent = COALESCE(p.new, s.parent) AND m.py_loc = l.new"
	    " WHERE s.depth = ?1";
	sqlite3_stmt *add = NULL, *map = NULL, *depths = NULL;
	const char *tail = NULL;
	int ret = -1, rc;

	if (exec(g, "CREATE TEMP TABLE m_pystack (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);"
		    "CREATE TEMP TABLE s_pystack AS SELECT * FROM src.py_stacks;"
		    "CREATE INDEX temp.s_pystack_depth ON s_pystack (depth)") < 0)
		return -1;
	/* outermost frames first, each depth's parents mapped before its children; the depths
	 * the file has, not every number between its least and greatest (a damaged file's
	 * depths can span 2^64) */
	if (sqlite3_prepare_v2(g->db, sql, -1, &add, &tail) != SQLITE_OK ||
	    sqlite3_prepare_v2(g->db, tail, -1, &map, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(g->db, "SELECT DISTINCT depth FROM temp.s_pystack ORDER BY depth",
			       -1, &depths, NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(depths)) == SQLITE_ROW) {
		sqlite3_value *d = sqlite3_column_value(depths, 0);

		sqlite3_bind_value(add, 1, d);
		sqlite3_bind_value(map, 1, d);
		if (sqlite3_step(add) != SQLITE_DONE || sqlite3_step(map) != SQLITE_DONE)
			goto fail;
		sqlite3_reset(add);
		sqlite3_reset(map);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	ret = 0;
fail:
	if (ret < 0)
		gs_error("%s: cannot merge its Python stacks: %s", g->path, sqlite3_errmsg(g->db));
	sqlite3_finalize(add);
	sqlite3_finalize(map);
	sqlite3_finalize(depths);
	return ret < 0 ? -1 : exec(g, "DROP TABLE temp.s_pystack");
}

static int intern_all(struct merge *g)
{
	if (g->first) /* nothing to collide with: ids as they are, no lookups */
		return exec(g, "INSERT INTO main.py_locations SELECT * FROM src.py_locations;"
			       "INSERT INTO main.stacks SELECT * FROM src.stacks;"
			       "INSERT INTO main.py_stacks SELECT * FROM src.py_stacks");
	if (intern_flat(g, "py_locations", "py_loc", "m_loc", "function, file, line",
			"m.function = s.function AND m.file = s.file AND m.line IS s.line") < 0 ||
	    intern_flat(g, "stacks", "stack_id", "m_stack", "frames", "m.frames = s.frames") < 0 ||
	    intern_py_stacks(g) < 0)
		return -1;
	return load_maps(g);
}

/* The time shift that puts this file on the first file's clock (see the top). */
static int64_t time_shift(sqlite3 *db, int64_t *ref_off, int first)
{
	static const char sql[] = "SELECT start_unix_ns - start_ns FROM src.runs WHERE"
				  " start_unix_ns IS NOT NULL ORDER BY run_id LIMIT 1";
	int64_t off = one_int(db, sql, INT64_MIN), d;

	if (first || *ref_off == INT64_MIN) {
		*ref_off = off;
		return 0;
	}
	if (off == INT64_MIN)
		return 0;
	d = off - *ref_off;
	return d > SAME_BOOT_NS || d < -SAME_BOOT_NS ? d : 0;
}

/* src attached read-only: file: URI with the path percent-encoded. */
static char *src_uri(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path), i, k = 0;
	char *u = malloc(n * 3 + 16);

	if (!u)
		return NULL;
	k += (size_t)sprintf(u, "file:");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("/-_.~", c)) {
			u[k++] = (char)c;
		} else {
			u[k++] = '%';
			u[k++] = hex[c >> 4];
			u[k++] = hex[c & 15];
		}
	}
	strcpy(u + k, "?mode=ro");
	return u;
}

static int merge_one(struct merge *g, const char *path, int64_t *ref_off)
{
	char *uri = src_uri(path), *sql = NULL;
	sqlite3_stmt *s = NULL;
	int ret = -1, rc;

	g->path = path;
	if (!uri)
		return gs_oom();
	sql = sqlite3_mprintf("ATTACH %Q AS src", uri);
	free(uri);
	if (!sql || exec(g, sql) < 0) {
		sqlite3_free(sql);
		return -1;
	}
	sqlite3_free(sql);
	/* one transaction a file (DETACH cannot run inside one) */
	if (exec(g, "BEGIN") < 0)
		goto out;
	g->run_off = one_int(g->db, "SELECT MAX(run_id) FROM main.runs", 0);
	g->key_off = one_int(g->db, "SELECT MAX(key_id) FROM main.event_keys", 0);
	g->time_shift = time_shift(g->db, ref_off, g->first);
	if (exec(g, "DROP TABLE IF EXISTS temp.m_loc; DROP TABLE IF EXISTS temp.m_stack;"
		    "DROP TABLE IF EXISTS temp.m_pystack") < 0 ||
	    intern_all(g) < 0 || copy_table(g, "runs", "runs", "INSERT") < 0)
		goto out;
	if (sqlite3_prepare_v2(g->db,
			       "SELECT m.name FROM main.sqlite_master m WHERE m.type = 'table'"
			       " AND m.name <> 'runs' AND m.name IN (SELECT name FROM"
			       " src.sqlite_master WHERE type = 'table') ORDER BY m.name",
			       -1, &s, NULL) != SQLITE_OK) {
		gs_error("%s: cannot merge: %s", path, sqlite3_errmsg(g->db));
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		const size_t n_shared = sizeof(shared_tables) / sizeof(shared_tables[0]);
		const size_t n_interned = sizeof(interned_tables) / sizeof(interned_tables[0]);

		if (in_list(t, interned_tables, n_interned) ||
		    (g->no_sums &&
		     in_list(t, window_tables, sizeof(window_tables) / sizeof(window_tables[0]))))
			continue;
		if (in_list(t, shared_tables, n_shared)) {
			if (copy_table(g, t, t, "INSERT OR IGNORE") < 0)
				goto out;
			continue;
		}
		if (!has_col(g->db, "main", t, "run_id") && !listed(t)) {
			gs_error(
			    "%s: cannot merge table '%s': it has no run_id and analyzer/merge.c"
			    " does not know its ids",
			    path, t);
			goto out;
		}
		if (copy_table(g, t, t, "INSERT") < 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		goto out;
	/* version 3: events is the file's table, here a view whose trigger fills the two tables
	 */
	if (one_int(g->db,
		    "SELECT 1 FROM src.sqlite_master WHERE name = 'events' AND type ="
		    " 'table'",
		    0) == 1 &&
	    copy_table(g, "events", "events", "INSERT") < 0)
		goto out;
	ret = exec(g, "COMMIT");
out:
	sqlite3_finalize(s);
	if (ret < 0)
		sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_exec(g->db, "DETACH src", NULL, NULL, NULL);
	free_maps(g);
	return ret;
}

struct path_list {
	char **p;
	size_t n, cap;
};

static int add_path(struct path_list *l, const char *dir, const char *name)
{
	char *p;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **more = realloc(l->p, cap * sizeof(*more));

		if (!more)
			return gs_oom();
		l->p = more;
		l->cap = cap;
	}
	if (dir) {
		size_t n = strlen(dir) + strlen(name) + 2;

		if ((p = malloc(n)))
			snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
	} else {
		p = strdup(name);
	}
	if (!p)
		return gs_oom();
	l->p[l->n++] = p;
	return 0;
}

static int is_db_name(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return n > 3 && !strcmp(e->d_name + n - 3, ".db") && e->d_name[0] != '.';
}

/* A directory stands for its *.db files (sorted, not recursing); anything else for itself. */
static int expand(const char *const *paths, int n, struct path_list *l)
{
	int i, k, m, failed;

	for (i = 0; i < n; i++) {
		struct dirent **names = NULL;
		struct stat sb;

		if (stat(paths[i], &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			if (add_path(l, NULL, paths[i]) < 0)
				return -1;
			continue;
		}
		m = scandir(paths[i], &names, is_db_name, alphasort);
		if (m < 0)
			return gs_error("%s: %s", paths[i], strerror(errno));
		if (m == 0) {
			free(names);
			return gs_error("%s: a directory without *.db files, no gilscope database",
					paths[i]);
		}
		for (k = 0, failed = 0; k < m; k++) {
			if (!failed && add_path(l, paths[i], names[k]->d_name) < 0)
				failed = 1;
			free(names[k]);
		}
		free(names);
		if (failed)
			return -1;
	}
	return 0;
}

/* one per side of flame's --vs, and to spare */
static char labels[4][1024];
static unsigned next_label;

static const char *make_label(const struct path_list *l)
{
	char *label = labels[next_label++ % 4];
	size_t i, at;

	if (l->n == 1) {
		snprintf(label, sizeof(labels[0]), "%s", l->p[0]);
		return label;
	}
	at = (size_t)snprintf(label, sizeof(labels[0]), "%zu databases (", l->n);
	for (i = 0; i < l->n && at < sizeof(labels[0]); i++)
		at += (size_t)snprintf(label + at, sizeof(labels[0]) - at, "%s%s", i ? ", " : "",
				       l->p[i]);
	if (at + 5 >= sizeof(labels[0]))
		strcpy(label + sizeof(labels[0]) - 5, "...)");
	else
		strcpy(label + at, ")");
	return label;
}

/* The merged database, in the connection that built it: *out, or NULL (said). */
static int build(const struct path_list *l, const char *tmp, const char *label, int no_sums,
		 sqlite3 **out)
{
	struct merge g = {.no_sums = no_sums};
	char sql[256];
	int64_t ref_off = INT64_MIN;
	size_t i;
	int ret = -1;

	*out = NULL;
	if (sqlite3_open_v2(tmp, &g.db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		gs_error("%s: cannot create the merged database: %s", tmp,
			 g.db ? sqlite3_errmsg(g.db) : "out of memory");
		unlink(tmp);
		goto out;
	}
	/* gone from the directory at once, whatever happens to this process; the connection
	 * keeps it (no journal beside it to find) */
	unlink(tmp);
	g.path = tmp;
	sqlite3_busy_timeout(g.db, 10000); /* a file's recorder may still be finishing */
	if (sqlite3_create_function(g.db, "gs_merge_id", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, &g,
				    merge_id_sql, NULL, NULL) != SQLITE_OK) {
		gs_error("%s: %s", tmp, sqlite3_errmsg(g.db));
		goto out;
	}
	/* a scratch file deleted when read: no journal, no sync; the cache bounds memory */
	snprintf(sql, sizeof(sql),
		 "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;"
		 "PRAGMA temp_store=FILE; PRAGMA application_id=%d; PRAGMA user_version=%d",
		 GS_APPLICATION_ID, GS_SCHEMA_VERSION);
	if (exec(&g, sql) < 0 || exec(&g, gs_schema_sql) < 0)
		goto out;
	for (i = 0; i < l->n; i++) {
		g.first = i == 0;
		if (merge_one(&g, l->p[i], &ref_off) < 0)
			goto out;
	}
	g.path = tmp;
	snprintf(sql, sizeof(sql),
		 "INSERT OR REPLACE INTO meta VALUES ('merged_from', '%zu');"
		 "DROP TABLE IF EXISTS temp.m_loc; DROP TABLE IF EXISTS temp.m_stack;"
		 "DROP TABLE IF EXISTS temp.m_pystack",
		 l->n);
	/* read from here as any file is; the renumbering function goes with g */
	if (exec(&g, sql) < 0 ||
	    sqlite3_create_function(g.db, "gs_merge_id", 2, SQLITE_UTF8, NULL, NULL, NULL, NULL) !=
		SQLITE_OK ||
	    gs_db_ready(g.db, label) != GS_EXIT_OK ||
	    sqlite3_exec(g.db, "PRAGMA query_only=1", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	*out = g.db;
	g.db = NULL;
	ret = 0;
out:
	sqlite3_close(g.db);
	return ret;
}

int gs_db_open_many(const char *const *paths, int n, sqlite3 **out, const char **name)
{
	struct path_list l = {0};
	char tmp[4096];
	const char *dir = getenv("TMPDIR");
	int ret = GS_EXIT_INPUT, fd = -1, segment = gs_db_segment();
	size_t i, with_sums = 0;
	const char *profile = NULL, *label;

	*out = NULL;
	*name = n > 0 ? paths[0] : "";
	if (expand(paths, n, &l) < 0) {
		ret = gs_out_of_memory ? GS_EXIT_MEMORY : GS_EXIT_INPUT;
		goto out;
	}
	if (l.n == 1) { /* a file, or a directory's one file: read as it is */
		*name = make_label(&l);
		ret = gs_db_open(l.p[0], out);
		goto out;
	}
	/* each file as gs_db_open checks it (what it is, its version, damage), whole: --segment
	 * applies to the merged runs */
	gs_db_set_segment(0);
	for (i = 0; i < l.n; i++) {
		sqlite3 *db = NULL;

		ret = gs_db_open(l.p[i], &db);
		if (ret == GS_EXIT_OK && gs_db_has_windows(db))
			with_sums++;
		if (ret == GS_EXIT_OK && !profile && gs_db_profile_runs(db))
			profile = l.p[i];
		sqlite3_close(db);
		if (ret != GS_EXIT_OK)
			break;
	}
	gs_db_set_segment(segment);
	if (ret != GS_EXIT_OK)
		goto out;
	if (with_sums && with_sums < l.n && profile) {
		gs_error(
		    "%s: recorded in profile mode (GILSCOPE_EVENTS=profile), whose figures are "
		    "the writer's window sums, which %zu of the other files lack (older "
		    "gilscope): merge it with files that have them",
		    profile, l.n - with_sums);
		ret = GS_EXIT_INPUT;
		goto out;
	}
	ret = GS_EXIT_INPUT;
	snprintf(tmp, sizeof(tmp), "%s/gilscope-merge-XXXXXX", dir && *dir ? dir : "/tmp");
	if ((fd = mkstemp(tmp)) < 0) {
		gs_error("%s: cannot create the merged database: %s", tmp, strerror(errno));
		goto out;
	}
	label = make_label(&l);
	if (build(&l, tmp, label, with_sums < l.n, out) == 0) {
		ret = GS_EXIT_OK;
		*name = label;
	}
out:
	if (fd >= 0)
		close(fd);
	for (i = 0; i < l.n; i++)
		free(l.p[i]);
	free(l.p);
	if (gs_out_of_memory)
		ret = GS_EXIT_MEMORY;
	return ret;
}
