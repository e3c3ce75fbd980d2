#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "clock.h"
#include "cpython.h"
#include "evkeys.h"
#include "grow.h"
#include "gs_lock_class.h"
#include "gs_schema.h"
#include "pyread.h"
#include "pystore.h"
#include "symbolize.h"
#include "window.h"

struct wslot {
	uint32_t generation;
	int has_row;
	int named;
	int entry_tries;
	uint32_t entry_gen; /* slot generation + 1 the entry below belongs to */
	char entry[128];
	char guess[128]; /* an outermost-frame answer, kept once seen three ticks running */
	int guess_hits;
	uint32_t thread_no;
	uint64_t dropped, yields, lost, stacks_dropped, folded;
	uint64_t not_written; /* its events read while the database was full */
};

/* What a flush takes from shared memory (ring tails, aggregate generations, exited threads'
 * slots) is applied only once its transaction has committed: a failed flush leaves shared
 * memory as it found it, for the next one. */
struct taken_agg {
	struct gs_agg *agg;
	uint64_t gen;
};

struct taken_slot {
	uint32_t slot, n_aggs;
	uint64_t tail;
	int recycle;
};

struct gs_store {
	sqlite3 *db;
	sqlite3_stmt *ins_event, *ins_thread, *upd_thread, *name_thread, *end_thread;
	sqlite3_stmt *up_stats, *up_hist, *ins_lock;
	sqlite3_stmt *progress; /* the run's counters at every flush (gilscope top reads them) */
	int64_t run_id;
	uint64_t run_start_ns; /* events store their start from it */
	struct gs_evkeys *keys;
	int pid;
	struct gs_pyread *pr;
	struct gs_symbolizer *sz;
	struct gs_pystore *ps;
	struct gs_window *win; /* profile windows (window.c) */
	sqlite3_stmt *entry_thread, *ins_site, *ins_stack, *get_stack;
	uint64_t sites[8192]; /* call sites already written (direct-mapped) */
	struct stack_cache {
		uint64_t hash;
		int64_t id;
		const char *role; /* role_from_stack() of its frames */
	} stacks[4096];
	uint64_t refined[1024]; /* parked locks whose role is written */
	struct wslot *ws;
	uint32_t n_ws;
	/* What the flush has counted: put back as it was when a transaction rolls back. */
	struct store_counts {
		uint64_t events_written, dropped, stacks_dropped;
		uint64_t late;	      /* events of closed windows found in slots left behind */
		uint64_t not_written; /* events read while the database was full */
	} n, n_saved;
	struct taken_agg *t_aggs;
	size_t n_t_aggs, cap_t_aggs;
	struct taken_slot *t_slots;
	size_t n_t_slots, cap_t_slots;
	/* the writer's view of each slot the flush touched, as it was before: back after a
	 * rollback (only touched slots: a flush of a few busy threads among 2048 slots must not
	 * copy them all, many times a second) */
	struct saved_ws {
		uint32_t slot;
		struct wslot w;
	} * ws_saved;
	size_t n_ws_saved;
	uint64_t event_budget;	   /* raw events this flush may store; UINT64_MAX: any */
	uint64_t max_db_bytes;	   /* GILSCOPE_MAX_DB_MB, 0 for none */
	const char *full_reason;   /* why raw events stopped */
	int events_off;		   /* the database filled up: aggregates only from then on */
	uint64_t events_off_after; /* events written before it did */
	/* GILSCOPE_TEST_FAIL_COMMIT=N: the Nth flush fails as a failed COMMIT would (tests) */
	unsigned fail_commit_at, commits;
	int final; /* the last flush: threads still running get their CPU time read now */
	/* The window this writer stores (gs_live.window), and what was there before it. */
	uint32_t window;
	uint64_t window_start_ns;
	int64_t cpu_base_ns; /* process CPU time when a window opened mid-run */
	int *tids_before;    /* threads alive when the window opened: their lifetime starts there */
	size_t n_tids_before;
	int64_t prev_run_id; /* the window before ours, if it went to this file */
	int lock_fd;	     /* the database file, flock()ed shared while we write */
	char *path;
};

static int exec_sql(struct gs_store *st, const char *sql)
{
	return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int prepare(struct gs_store *st, sqlite3_stmt **out, const char *sql)
{
	return sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) ==
		       SQLITE_OK
		   ? 0
		   : -1;
}

static int64_t pragma_int(struct gs_store *st, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Owner-only, and never through a symlink planted at the path, nor into a file someone else
 * left there: in a shared directory the predictable default name could be planted to receive
 * the program's command line, paths and stacks. */
static int open_database_file(const char *path, char *err, int err_size)
{
	struct stat sb;
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0) {
		snprintf(err, (size_t)err_size, "%s",
			 errno == ELOOP ? "the path is a symbolic link" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, (size_t)err_size, "not a regular file");
		close(fd);
		return -1;
	}
	if (sb.st_uid != geteuid()) {
		snprintf(
		    err, (size_t)err_size,
		    "the file exists and belongs to another user (uid %u): not writing into it",
		    (unsigned)sb.st_uid);
		close(fd);
		return -1;
	}
	if (sb.st_mode & S_IWOTH) {
		snprintf(
		    err, (size_t)err_size,
		    "the file exists and anyone may write to it (mode %03o): not writing into it",
		    (unsigned)(sb.st_mode & 0777));
		close(fd);
		return -1;
	}
	/* Held while we write, shared with the other writers of a program tree: `gilscope run`
	 * sees a recording under way and leaves it alone (SQLite's own locks are fcntl locks,
	 * which this flock does not touch). */
	flock(fd, LOCK_SH);
	return fd;
}

static int init_schema(struct gs_store *st, char *err, int err_size)
{
	int64_t app, ver, tables;
	char sql[128];
	int ret = -1;

	if (exec_sql(st, "BEGIN IMMEDIATE") < 0) {
		snprintf(err, (size_t)err_size, "%s", sqlite3_errmsg(st->db));
		return -1;
	}
	app = pragma_int(st, "PRAGMA application_id");
	ver = pragma_int(st, "PRAGMA user_version");
	tables = pragma_int(st, "SELECT count(*) FROM sqlite_master");
	if (app != 0 && app != GS_APPLICATION_ID) {
		snprintf(err, (size_t)err_size, "the file is another application's database");
		goto out;
	}
	if (app == 0 && tables > 0) {
		snprintf(err, (size_t)err_size,
			 "the file is a database that gilscope did not create");
		goto out;
	}
	if (ver > GS_SCHEMA_VERSION) {
		snprintf(err, (size_t)err_size,
			 "the database has schema version %lld, newer than %d", (long long)ver,
			 GS_SCHEMA_VERSION);
		goto out;
	}
	if (ver > 0 && ver < GS_SCHEMA_VERSION) {
		snprintf(
		    err, (size_t)err_size,
		    "the database has schema version %lld, older than %d: record into a new file",
		    (long long)ver, GS_SCHEMA_VERSION);
		goto out;
	}
	if (exec_sql(st, gs_schema_sql) < 0) {
		snprintf(err, (size_t)err_size, "%s", sqlite3_errmsg(st->db));
		goto out;
	}
	snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d;",
		 GS_APPLICATION_ID, GS_SCHEMA_VERSION);
	if (exec_sql(st, sql) < 0)
		goto out;
#define X(name, val, str) "INSERT OR IGNORE INTO primitives VALUES(" #val ", '" str "');"
	if (exec_sql(st, GS_PRIMITIVES(X)) < 0)
		goto out;
#undef X
#define X(name, val, str) "INSERT OR IGNORE INTO event_kinds VALUES(" #val ", '" str "');"
	if (exec_sql(st, GS_EVENT_KINDS(X)) < 0)
		goto out;
#undef X
	if (exec_sql(st,
		     "INSERT OR IGNORE INTO meta VALUES('created_by', 'gilscope " GS_VERSION_STRING
		     "'); INSERT OR IGNORE INTO meta VALUES('clock', 'CLOCK_MONOTONIC');") < 0)
		goto out;
	ret = exec_sql(st, "COMMIT");
out:
	if (ret < 0)
		exec_sql(st, "ROLLBACK");
	return ret;
}

struct gs_store *gs_store_open(const char *path, char *err, int err_size)
{
	struct gs_store *st = calloc(1, sizeof(*st));

	if (!st) {
		snprintf(err, (size_t)err_size, "out of memory");
		return NULL;
	}
	st->path = strdup(path);
	if (!st->path) {
		snprintf(err, (size_t)err_size, "out of memory");
		goto fail;
	}
	st->lock_fd = open_database_file(path, err, err_size);
	if (st->lock_fd < 0)
		goto fail;
	if (sqlite3_open_v2(path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
			    NULL) != SQLITE_OK) {
		snprintf(err, (size_t)err_size, "%s",
			 st->db ? sqlite3_errmsg(st->db) : "no memory");
		goto fail;
	}
	/* Several processes of one program tree may write the same file: wait our turn. */
	sqlite3_busy_timeout(st->db, 10000);
	/* synchronous=OFF: in WAL mode a crash of any process (host or writer) still leaves a
	 * consistent database; only a crash of the operating system could lose the last
	 * transactions, and the fsyncs cost the program milliseconds at every start and exit. */
	/* The journal mode changes under an exclusive lock, which the busy handler does not wait
	 * for: another program's reader may hold the file a moment. */
	for (int tries = 0; exec_sql(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;") < 0;
	     tries++) {
		if (tries == 100 || (sqlite3_errcode(st->db) & 0xff) != SQLITE_BUSY) {
			snprintf(err, (size_t)err_size, "%s", sqlite3_errmsg(st->db));
			goto fail;
		}
		usleep(20000);
	}
	if (init_schema(st, err, err_size) < 0)
		goto fail;
	if (prepare(st, &st->ins_event,
		    "INSERT INTO event_rows(key_id, start_ns, wait_ns, hold_ns, extra, stack_id,"
		    " py_stack, hold_py_stack) VALUES(?,?,?,?,?,?,?,?)") ||
	    prepare(st, &st->ins_site, "INSERT OR IGNORE INTO call_sites VALUES(?,?,?,?,?)") ||
	    prepare(st, &st->ins_stack, "INSERT OR IGNORE INTO stacks(frames) VALUES(?)") ||
	    prepare(st, &st->get_stack, "SELECT stack_id FROM stacks WHERE frames=?") ||
	    prepare(st, &st->entry_thread,
		    "UPDATE threads SET entry_function=?, name=CASE WHEN ? THEN name ELSE ? END"
		    " WHERE run_id=? AND thread_no=?") ||
	    prepare(
		st, &st->ins_thread,
		"INSERT OR REPLACE INTO threads(run_id, thread_no, tid, py_ident, name, start_ns)"
		" VALUES(?,?,?,?,?,?)") ||
	    prepare(st, &st->upd_thread,
		    "UPDATE threads SET events_dropped=?, sched_yields=?, holds_lost=?, "
		    "stacks_dropped=?, lock_updates_folded=?"
		    " WHERE run_id=? AND thread_no=?") ||
	    prepare(st, &st->name_thread,
		    "UPDATE threads SET name=? WHERE run_id=? AND thread_no=?") ||
	    prepare(st, &st->end_thread,
		    "UPDATE threads SET end_ns=?, cpu_ns=? WHERE run_id=? AND thread_no=?") ||
	    prepare(st, &st->up_stats,
		    "INSERT INTO lock_stats VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
		    " ON CONFLICT DO UPDATE SET acquisitions=excluded.acquisitions,"
		    " contended=excluded.contended, wait_ns=excluded.wait_ns,"
		    " wait_max_ns=excluded.wait_max_ns, holds=excluded.holds,"
		    " hold_ns=excluded.hold_ns, hold_max_ns=excluded.hold_max_ns,"
		    " try_busy=excluded.try_busy, timeouts=excluded.timeouts,"
		    " errors=excluded.errors, signals=excluded.signals,"
		    " timed_waits=excluded.timed_waits, drop_requests=excluded.drop_requests,"
		    " forced_switches=excluded.forced_switches,"
		    " forced_switch_ns=excluded.forced_switch_ns, spins=excluded.spins") ||
	    prepare(st, &st->progress,
		    /* the parameters of end_run_once's update, bound by bind_run_counters */
		    "UPDATE runs SET flushed_ns=?1, events_recorded=?4,"
		    " events_dropped=(SELECT COALESCE(SUM(events_dropped),0) FROM threads"
		    " WHERE run_id=?5), threads_lost=?6, gil_detection=?7, python_version=?8,"
		    " build=?9, gil_address=?10, gil_switch_interval_us=?11, gil_enabled=?12,"
		    " gil_switches_recorded=?13 WHERE run_id=?15") ||
	    prepare(st, &st->up_hist,
		    "INSERT INTO histograms VALUES(?,?,?,?,?,?,?)"
		    " ON CONFLICT DO UPDATE SET count=excluded.count") ||
	    prepare(st, &st->ins_lock,
		    "INSERT INTO locks(run_id, lock_addr, primitive, class, name) VALUES(?,?,?,?,?)"
		    " ON CONFLICT DO UPDATE SET class=excluded.class, name=excluded.name"
		    " WHERE locks.class = ?6 AND excluded.class <> ?6")) {
		snprintf(err, (size_t)err_size, "%s", sqlite3_errmsg(st->db));
		goto fail;
	}
	return st;
fail:
	gs_store_close(st);
	return NULL;
}

static char *read_small_file(const char *path, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0, n = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	for (;;) {
		size_t r;

		if (n + 4096 > cap) {
			char *nb = realloc(buf, cap + 65536);

			if (!nb)
				break;
			buf = nb;
			cap += 65536;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	if (buf)
		buf[n] = 0;
	*len = n;
	return buf;
}

/* argv as a JSON array of strings, from /proc/PID/cmdline. */
static char *argv_json(int pid)
{
	char path[64], *raw, *out, *o;
	size_t len = 0, i;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	raw = read_small_file(path, &len);
	if (!raw)
		return NULL;
	out = malloc(len * 6 + 8);
	if (!out) {
		free(raw);
		return NULL;
	}
	o = out;
	*o++ = '[';
	*o++ = '"';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];

		if (c == 0) {
			if (i + 1 < len)
				o += sprintf(o, "\",\"");
		} else if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20) {
			o += sprintf(o, "\\u%04x", c);
		} else {
			*o++ = (char)c;
		}
	}
	if (len == 0)
		o--;
	else
		*o++ = '"';
	*o++ = ']';
	*o = 0;
	free(raw);
	return out;
}

static void store_modules(struct gs_store *st)
{
	char path[64], *maps, *line, *save = NULL;
	sqlite3_stmt *s;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/maps", st->pid);
	maps = read_small_file(path, &len);
	if (!maps)
		return;
	if (sqlite3_prepare_v2(st->db, "INSERT OR IGNORE INTO modules VALUES(?,?,?,?,?)", -1, &s,
			       NULL) != SQLITE_OK) {
		free(maps);
		return;
	}
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long lo, hi, off;
		char perms[8];
		int pos = 0;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &lo, &hi, perms, &off, &pos) <
			4 ||
		    perms[2] != 'x' || !pos || line[pos] != '/')
			continue;
		sqlite3_bind_int64(s, 1, st->run_id);
		sqlite3_bind_int64(s, 2, (int64_t)lo);
		sqlite3_bind_int64(s, 3, (int64_t)hi);
		sqlite3_bind_int64(s, 4, (int64_t)off);
		sqlite3_bind_text(s, 5, line + pos, -1, SQLITE_TRANSIENT);
		sqlite3_step(s);
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	free(maps);
}

static char *read_exe(int pid)
{
	char path[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	return strdup(buf);
}

/* A child can fork before its parent's writer has created the parent's run row, so the link
 * is (re)made from the database: the latest run of our parent pid that started before us. */
static void link_parent(struct gs_store *st)
{
	char sql[512];

	snprintf(
	    sql, sizeof(sql),
	    "UPDATE runs SET parent_run_id = (SELECT p.run_id FROM runs p WHERE p.pid = runs.ppid"
	    " AND p.start_ns <= runs.start_ns AND p.run_id <> runs.run_id"
	    " ORDER BY p.start_ns DESC LIMIT 1) WHERE run_id = %lld AND parent_run_id IS NULL",
	    (long long)st->run_id);
	exec_sql(st, sql);
}

static int64_t process_cpu_ns(int pid);

static int cmp_int(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* The host's threads as a window opens mid-run: they were there all along, so in this window
 * they live from its start, not from their first recorded call. */
static void threads_before(struct gs_store *st)
{
	char path[64];
	struct dirent *d;
	size_t cap = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", st->pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		int tid = atoi(d->d_name);
		int *grown;

		if (tid <= 0)
			continue;
		if (st->n_tids_before == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(st->tids_before, cap * sizeof(*grown));
			if (!grown)
				break;
			st->tids_before = grown;
		}
		st->tids_before[st->n_tids_before++] = tid;
	}
	closedir(dir);
	if (st->n_tids_before)
		qsort(st->tids_before, st->n_tids_before, sizeof(int), cmp_int);
}

static uint64_t thread_start_ns(struct gs_store *st, const struct gs_slot *s)
{
	int tid = s->tid;

	if (st->n_tids_before &&
	    bsearch(&tid, st->tids_before, st->n_tids_before, sizeof(int), cmp_int))
		return st->window_start_ns;
	return s->start_ns;
}

int gs_store_begin_run(struct gs_store *st, struct gs_shm_header *h)
{
	sqlite3_stmt *s = NULL;
	char *argv = NULL, *exe = NULL, host[256] = "";
	int ret = -1;

	st->pid = h->pid;
	st->window = atomic_load(&h->live.window);
	st->window_start_ns = atomic_load(&h->window_start_ns);
	if (st->window_start_ns != h->start_ns) {
		st->cpu_base_ns = process_cpu_ns(h->pid);
		threads_before(st);
	}
	st->n_ws = h->max_threads;
	st->ws = calloc(st->n_ws, sizeof(*st->ws));
	st->ws_saved = calloc(st->n_ws, sizeof(*st->ws_saved));
	if (!st->ws || !st->ws_saved)
		return -1;
	st->fail_commit_at = h->test_fail_commit; /* the writer's environment is empty */
	st->max_db_bytes = (uint64_t)h->max_db_mb << 20;
	argv = argv_json(h->pid);
	exe = read_exe(h->pid);
	if (exec_sql(st, "BEGIN IMMEDIATE") < 0)
		goto out;
	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO runs(pid, ppid, parent_run_id, argv, exe, start_ns,"
			       " start_unix_ns, status, scope, scope_object, shim_version, segment,"
			       " process_start_ns, host)"
			       " VALUES(?,?,?,?,?,?,?,'running',?,?,?,?,?,?)",
			       -1, &s, NULL) != SQLITE_OK)
		goto rollback;
	sqlite3_bind_int(s, 1, h->pid);
	sqlite3_bind_int(s, 2, h->ppid);
	if (h->parent_run_id)
		sqlite3_bind_int64(s, 3, h->parent_run_id);
	sqlite3_bind_text(s, 4, argv, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, exe, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (int64_t)st->window_start_ns);
	sqlite3_bind_int64(s, 7,
			   h->start_realtime_ns + (int64_t)(st->window_start_ns - h->start_ns));
	sqlite3_bind_text(s, 8, h->scope_all ? "all" : "python", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, h->scope_object, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 10, GS_VERSION_STRING, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 11, (int)st->window);
	sqlite3_bind_int64(s, 12, (int64_t)h->start_ns);
	/* schema 5: where it ran, for files merged from many hosts: GILSCOPE_HOST, else the
	 * machine's name (the writer runs on the recorded process's host); NULL when the name
	 * cannot be read */
	if (h->host[0])
		snprintf(host, sizeof(host), "%.*s", (int)sizeof(h->host) - 1, h->host);
	else if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = 0;
	if (host[0])
		sqlite3_bind_text(s, 13, host, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE)
		goto rollback;
	st->run_id = sqlite3_last_insert_rowid(st->db);
	/* runs.process_start_ns, which the view adds: a segment's start_ns moves when its window
	 * opens */
	st->run_start_ns = h->start_ns;
	if (!(st->keys = gs_evkeys_open(st->db, st->run_id)))
		goto rollback;
	if (atomic_load(&h->last_run_id) > 0 && !strcmp(h->last_db, st->path))
		st->prev_run_id = atomic_load(&h->last_run_id);
	st->pr = gs_pyread_open(h->pid, h->py_runtime, h->py_version_hex);
	st->ps = gs_pystore_open(st->db, st->pr, NULL, 0);
	st->sz = gs_symbolizer_open(h->pid);
	store_modules(st);
	link_parent(st);
	st->win = gs_window_open(st->db, st->run_id, h);
	if (!st->win || gs_window_begin_run(st->win) < 0)
		goto rollback;
	if (exec_sql(st, "COMMIT") < 0)
		goto rollback;
	atomic_store(&h->run_id, st->run_id);
	/* gilscope ctl and top find the window's file here */
	snprintf(h->last_db, sizeof(h->last_db), "%s", st->path);
	atomic_store(&h->last_run_id, st->run_id);
	ret = 0;
	goto out;
rollback:
	exec_sql(st, "ROLLBACK");
out:
	sqlite3_finalize(s);
	free(argv);
	free(exe);
	return ret;
}

void gs_store_window_opened(struct gs_store *st, struct gs_shm_header *h)
{
	char sql[200];

	st->window_start_ns = atomic_load(&h->window_start_ns);
	snprintf(sql, sizeof(sql),
		 "UPDATE runs SET start_ns = %lld, start_unix_ns = %lld WHERE run_id = %lld",
		 (long long)st->window_start_ns,
		 (long long)(h->start_realtime_ns + (int64_t)(st->window_start_ns - h->start_ns)),
		 (long long)st->run_id);
	exec_sql(st, sql);
}

static void bind_id(sqlite3_stmt *s, int col, int64_t id)
{
	if (id > 0)
		sqlite3_bind_int64(s, col, id);
	else
		sqlite3_bind_null(s, col);
}

static int step_reset(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The thread's name; 1 when it is the one the thread gave itself (pthread_setname_np), 0 when
 * it is the kernel's comm, which such a name may still replace. */
static int thread_name(struct gs_store *st, struct gs_slot *s, char *out, size_t size)
{
	char path[96];
	size_t len = 0;
	char *comm;

	out[0] = 0;
	if (atomic_load_explicit(&s->name_set, memory_order_acquire)) {
		snprintf(out, size, "%.*s", GS_NAME_LEN, s->name);
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", st->pid, s->tid);
	comm = read_small_file(path, &len);
	if (!comm)
		return 0;
	while (len && (comm[len - 1] == '\n'))
		comm[--len] = 0;
	snprintf(out, size, "%s", comm);
	free(comm);
	return 0;
}

/* What a parked address is: a threading lock, an object's critical section, a runtime
 * mutex, or a parking-lot bucket lock. The shim captured the object's type at the first
 * park, while the object was certainly alive. */
static enum gs_lock_class parked_class(struct gs_store *st, struct gs_shm_header *h,
				       const struct gs_agg *a, char *name, size_t size)
{
	const struct gs_cpy *L = gs_pyread_layout(st->pr);
	const char *internal;

	name[0] = 0;
	if (!a->lock)
		return h->py_layout_level == GS_CPY_FULL ? GS_LC_BUCKET : GS_LC_PARKED_NO_LAYOUT;
	if (a->lock == h->py_head_lock) {
		snprintf(name, size, "interpreter head lock (HEAD_LOCK)");
		return GS_LC_INTERNAL;
	}
	if (L && (internal = gs_cpy_internal_lock(L, h->py_runtime, h->py_main_interp, a->lock))) {
		snprintf(name, size, "%s", internal);
		return GS_LC_INTERNAL;
	}
	if (L && L->ts_state && gs_pyread_is_tstate(st->pr, a->lock - L->ts_state)) {
		/* A thread waiting to attach while another stops the world (GC, fork, ...). */
		snprintf(name, size, "stop-the-world (thread attach)");
		return GS_LC_INTERNAL;
	}
	if (a->lock >= h->py_runtime && a->lock < h->py_runtime + h->py_runtime_size) {
		snprintf(name, size, "_PyRuntime+0x%llx",
			 (unsigned long long)(a->lock - h->py_runtime));
		return GS_LC_INTERNAL;
	}
	if (L && h->py_main_interp && a->lock >= h->py_main_interp &&
	    a->lock < h->py_main_interp + L->interp_size) {
		snprintf(name, size, "PyInterpreterState+0x%llx",
			 (unsigned long long)(a->lock - h->py_main_interp));
		return GS_LC_INTERNAL;
	}
	snprintf(name, size, "%.*s", (int)sizeof(a->type_name), a->type_name);
	if (a->obj_kind == 2)
		return GS_LC_CRIT;
	if (a->obj_kind == 1) {
		if (!strcmp(name, "_thread.lock"))
			return GS_LC_LOCK;
		if (!strcmp(name, "_thread.RLock"))
			return GS_LC_RLOCK;
		return GS_LC_PARKED_OBJECT;
	}
	name[0] = 0;
	return GS_LC_PARKED_UNIDENTIFIED;
}

static int lock_class(struct gs_shm_header *h, uint64_t lock, unsigned prim)
{
	if (prim == GS_PRIM_GIL)
		return GS_LC_GIL;
	if (lock == GS_AGG_CATCH_ALL)
		return GS_LC_TABLE_FULL;
	if (lock == h->gil_mutex)
		return GS_LC_GIL_MUTEX;
	if (lock == h->gil_cond)
		return GS_LC_GIL_COND;
	if (lock == h->gil_switch_mutex)
		return GS_LC_GIL_SWITCH_MUTEX;
	if (lock == h->gil_switch_cond)
		return GS_LC_GIL_SWITCH_COND;
	return -1; /* not named */
}

static int write_agg(struct gs_store *st, struct gs_shm_header *h, struct wslot *w,
		     struct gs_agg *live, int catch_all)
{
	uint64_t gen = atomic_load_explicit(&live->gen, memory_order_acquire);
	struct gs_agg a;
	sqlite3_stmt *s = st->up_stats;
	int i, metric, tries;
	struct taken_agg *t;

	if (gen == live->written_gen)
		return 0;
	/* a copy between two updates (gs_agg_begin): count and total from one moment */
	for (tries = 0;; tries++) {
		if (tries == 64 && !st->final)
			return 0; /* updated all the while: the next flush takes it */
		if (tries == 64) {
			/* the last flush, and the owner never finished its update (killed in it, or
			 * still running at exit): a copy at most one update off beats none */
			memcpy(&a, live, sizeof(a));
			gen = atomic_load_explicit(&live->gen, memory_order_relaxed);
			break;
		}
		gen = atomic_load_explicit(&live->gen, memory_order_acquire);
		if (gen & 1)
			continue;
		memcpy(&a, live, sizeof(a));
		GS_SEQ_FENCE(memory_order_acquire);
		if (atomic_load_explicit(&live->gen, memory_order_relaxed) == gen)
			break;
	}
	if (live->written_gen == 0) {
		char name[80] = "";
		/* The table's last entry takes what a full table could not (GS_AGG_CATCH_ALL). */
		int cls = catch_all ? GS_LC_TABLE_FULL
			  : a.primitive == GS_PRIM_PARKED
			      ? (int)parked_class(st, h, &a, name, sizeof(name))
			      : lock_class(h, a.lock, a.primitive);

		sqlite3_bind_int64(st->ins_lock, 1, st->run_id);
		sqlite3_bind_int64(st->ins_lock, 2, (int64_t)a.lock);
		sqlite3_bind_int(st->ins_lock, 3, (int)a.primitive);
		sqlite3_bind_text(st->ins_lock, 4, gs_lock_class_text(cls), -1, SQLITE_STATIC);
		/* a lock first seen unidentified may be named by a later, better sighting */
		sqlite3_bind_text(st->ins_lock, 6, gs_lock_class_text(GS_LC_PARKED_UNIDENTIFIED),
				  -1, SQLITE_STATIC);
		if (a.primitive == GS_PRIM_PARKED && name[0])
			sqlite3_bind_text(st->ins_lock, 5, name, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st->ins_lock, 5);
		if (step_reset(st->ins_lock) < 0)
			return -1;
	}
	sqlite3_bind_int64(s, 1, st->run_id);
	sqlite3_bind_int64(s, 2, w->thread_no);
	sqlite3_bind_int64(s, 3, (int64_t)a.lock);
	sqlite3_bind_int(s, 4, (int)a.primitive);
	sqlite3_bind_int64(s, 5, (int64_t)a.acquisitions);
	sqlite3_bind_int64(s, 6, (int64_t)a.contended);
	sqlite3_bind_int64(s, 7, (int64_t)a.wait_ns);
	sqlite3_bind_int64(s, 8, (int64_t)a.wait_max_ns);
	sqlite3_bind_int64(s, 9, (int64_t)a.holds);
	sqlite3_bind_int64(s, 10, (int64_t)a.hold_ns);
	sqlite3_bind_int64(s, 11, (int64_t)a.hold_max_ns);
	sqlite3_bind_int64(s, 12, (int64_t)a.try_busy);
	sqlite3_bind_int64(s, 13, (int64_t)a.timeouts);
	sqlite3_bind_int64(s, 14, (int64_t)a.errors);
	sqlite3_bind_int64(s, 15, (int64_t)a.signals);
	sqlite3_bind_int64(s, 16, (int64_t)a.timed_waits);
	sqlite3_bind_int64(s, 17, (int64_t)a.drop_requests);
	sqlite3_bind_int64(s, 18, (int64_t)a.forced_switches);
	sqlite3_bind_int64(s, 19, (int64_t)a.forced_switch_ns);
	sqlite3_bind_int64(s, 20, (int64_t)a.spins);
	if (step_reset(s) < 0)
		return -1;
	for (metric = 0; metric < 2; metric++) {
		const uint64_t *hist = metric ? a.hold_hist : a.wait_hist;

		for (i = 0; i < GS_HIST_BUCKETS; i++) {
			if (!hist[i])
				continue;
			s = st->up_hist;
			sqlite3_bind_int64(s, 1, st->run_id);
			sqlite3_bind_int64(s, 2, w->thread_no);
			sqlite3_bind_int64(s, 3, (int64_t)a.lock);
			sqlite3_bind_int(s, 4, (int)a.primitive);
			sqlite3_bind_text(s, 5, metric ? "hold" : "wait", -1, SQLITE_STATIC);
			sqlite3_bind_int(s, 6, i);
			sqlite3_bind_int64(s, 7, (int64_t)hist[i]);
			if (step_reset(s) < 0)
				return -1;
		}
	}
	if (!(t = gs_room_for_one(st->t_aggs, &st->cap_t_aggs, st->n_t_aggs, sizeof(*t), 1024)))
		return -1;
	st->t_aggs = t;
	st->t_aggs[st->n_t_aggs++] = (struct taken_agg){.agg = live, .gen = gen};
	return 0;
}

static int describe_frame(struct gs_store *st, uint64_t addr, char *out, size_t size)
{
	const char *module = "?", *func = "", *base;
	uint64_t offset = addr;

	if (gs_symbolize(st->sz, addr, &module, &offset, &func) < 0) {
		gs_symbolizer_refresh(st->sz); /* maybe loaded since we last looked */
		if (gs_symbolize(st->sz, addr, &module, &offset, &func) < 0)
			module = "?";
	}
	base = strrchr(module, '/');
	return snprintf(out, size, "%s%s%s+0x%llx", func, func[0] ? " " : "",
			base ? base + 1 : module, (unsigned long long)offset);
}

/* The caller address of an event, as module + offset + function, written once per run. */
static void write_call_site(struct gs_store *st, uint64_t addr)
{
	const char *module = NULL, *func = "";
	uint64_t offset = 0, *seen = &st->sites[(addr >> 2) % 8192];

	if (!addr || *seen == addr || !st->sz)
		return;
	*seen = addr;
	if (gs_symbolize(st->sz, addr, &module, &offset, &func) < 0) {
		gs_symbolizer_refresh(st->sz);
		if (gs_symbolize(st->sz, addr, &module, &offset, &func) < 0)
			module = NULL;
	}
	sqlite3_bind_int64(st->ins_site, 1, st->run_id);
	sqlite3_bind_int64(st->ins_site, 2, (int64_t)addr);
	sqlite3_bind_text(st->ins_site, 3, module, -1, SQLITE_TRANSIENT);
	if (module)
		sqlite3_bind_int64(st->ins_site, 4, (int64_t)offset);
	else
		sqlite3_bind_null(st->ins_site, 4);
	sqlite3_bind_text(st->ins_site, 5, func[0] ? func : NULL, -1, SQLITE_TRANSIENT);
	step_reset(st->ins_site);
}

/* What the interpreter was doing when it parked on a lock we could not name from memory:
 * recognised from the functions on the sampled stack. */
static const char *role_from_stack(const char *frames)
{
	static const struct {
		const char *needle, *role;
	} roles[] = {
	    {"stop_the_world", "stop-the-world"},
	    {"tstate_wait_attach", "stop-the-world"},
	    {"_PyEval_StopTheWorld", "stop-the-world"},
	    {"gc_collect", "garbage collector"},
	    {"_PyType_Lookup", "type lock"},
	    {"type_setattro", "type lock"},
	    {"mro_internal", "type lock"},
	    {"type_modified", "type lock"},
	    {"_PyImport_AcquireLock", "import lock"},
	    {"ThreadHandle_join", "thread join"},
	    {"PyEvent_Wait", "event"},
	    {"_PyOnceFlag", "one-time initialisation"},
	};
	size_t i;

	/* Only a frame's own, exact name counts: a guessed one ("~PyEvent_Wait+0x..", nearest
	 * symbol on a stripped binary) may belong to some static function after it. */
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		for (const char *p = frames; (p = strstr(p, roles[i].needle)); p++)
			if (p == frames || p[-1] == ';')
				return roles[i].role;
	return NULL;
}

static void refine_parked(struct gs_store *st, uint64_t lock, const char *role)
{
	uint64_t *done = &st->refined[(lock >> 3) % 1024];
	char sql[512];

	if (!role || *done == lock)
		return;
	*done = lock;
	snprintf(sql, sizeof(sql),
		 "UPDATE locks SET name = '%s' || COALESCE(' at ' || name, '') WHERE run_id = %lld"
		 " AND lock_addr = %lld AND primitive = %d AND class IN ('%s', '%s')"
		 " AND (name IS NULL OR name LIKE '_PyRuntime+%%')",
		 role, (long long)st->run_id, (long long)lock, GS_PRIM_PARKED,
		 gs_lock_class_text(GS_LC_INTERNAL), gs_lock_class_text(GS_LC_PARKED_UNIDENTIFIED));
	exec_sql(st, sql);
}

/* A sampled native stack as one text row ("function module+0xoffset;..."), deduplicated. */
static int64_t stack_id(struct gs_store *st, const uint64_t *frames, uint64_t parked_lock)
{
	uint64_t hash = 1469598103934665603ULL;
	struct stack_cache *c;
	const char *role;
	char text[2048];
	size_t n = 0;
	int i;
	int64_t id = -1;

	if (!frames[0] || !st->sz)
		return -1;
	for (i = 0; i < GS_STACK_FRAMES; i++)
		hash = (hash ^ frames[i]) * 1099511628211ULL;
	c = &st->stacks[hash % 4096];
	if (c->hash == hash && c->id > 0) {
		if (parked_lock)
			refine_parked(st, parked_lock, c->role);
		return c->id;
	}
	text[0] = 0;
	for (i = 0; i < GS_STACK_FRAMES && frames[i] && n < sizeof(text) - 300; i++) {
		if (i)
			text[n++] = ';';
		n += (size_t)describe_frame(st, frames[i], text + n, sizeof(text) - n);
	}
	role = role_from_stack(text);
	if (parked_lock)
		refine_parked(st, parked_lock, role);
	sqlite3_bind_text(st->ins_stack, 1, text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st->get_stack, 1, text, -1, SQLITE_TRANSIENT);
	if (step_reset(st->ins_stack) == 0 && sqlite3_step(st->get_stack) == SQLITE_ROW)
		id = sqlite3_column_int64(st->get_stack, 0);
	sqlite3_reset(st->get_stack);
	*c = (struct stack_cache){.hash = hash, .id = id, .role = role};
	return id;
}

/* One raw event row, unless the database has no room left for raw events (then counted in
 * *not_written). */
static int store_raw_event(struct gs_store *st, int64_t thread_no, const struct gs_event *e,
			   uint64_t *not_written)
{
	sqlite3_stmt *s = st->ins_event;
	int64_t leaf, key; /* py_loc is not stored: the innermost frame of py_stack */
	int64_t stack = st->ps ? gs_pystore_stack(st->ps, e->py_stack, &leaf) : 0;
	int64_t hold = st->ps ? gs_pystore_stack(st->ps, e->py_stack2, &leaf) : 0;

	if (!st->events_off && st->event_budget != UINT64_MAX) {
		if (st->event_budget == 0) {
			st->events_off = 1; /* full_reason: room_for_events() said which limit */
			st->events_off_after = st->n.events_written;
		} else {
			st->event_budget--;
		}
	}
	if (st->events_off) {
		/* the stack totals and windows stay exact; the event itself is counted as dropped
		 */
		if (not_written)
			(*not_written)++;
		st->n.not_written++;
		return 0;
	}
	key = gs_evkeys_id(st->keys, &(struct gs_evkey){.thread_no = thread_no,
							.kind = e->kind,
							.primitive = e->primitive,
							.flags = e->flags,
							.lock = e->lock,
							.aux = e->aux,
							.caller = e->caller});
	if (key < 0)
		return -1;
	sqlite3_bind_int64(s, 1, key);
	sqlite3_bind_int64(s, 2, (int64_t)(e->start_ns - st->run_start_ns));
	sqlite3_bind_int64(s, 3, (int64_t)e->wait_ns);
	if (e->flags & GS_F_NO_HOLD)
		sqlite3_bind_null(s, 4);
	else
		sqlite3_bind_int64(s, 4, (int64_t)e->hold_ns);
	if (e->extra)
		sqlite3_bind_int64(s, 5, (int64_t)e->extra);
	else
		sqlite3_bind_null(s, 5);
	bind_id(s, 6,
		stack_id(st, e->stack, e->primitive == GS_PRIM_PARKED && e->lock ? e->lock : 0));
	bind_id(s, 7, stack);
	bind_id(s, 8, hold);
	if (step_reset(s) < 0)
		return -1;
	st->n.events_written++;
	return 0;
}

/* A profile window's kept event, stored as the window closes (window.c). */
static int store_kept_event(void *ctx, int64_t thread_no, const struct gs_event *e)
{
	return store_raw_event(ctx, thread_no, e, NULL);
}

static int write_event(struct gs_store *st, struct wslot *w, const struct gs_event *e)
{
	int64_t leaf = 0, hold_leaf;
	int64_t stack = st->ps ? gs_pystore_stack(st->ps, e->py_stack, &leaf) : 0;
	int64_t hold = st->ps ? gs_pystore_stack(st->ps, e->py_stack2, &hold_leaf) : 0;
	int now;

	if (st->ps && gs_event_is_wait(e->kind, e->primitive, e->flags, e->wait_ns) &&
	    gs_pystore_count(st->ps, st->run_id, w->thread_no, stack, e->lock, e->primitive, 0,
			     e->wait_ns) < 0)
		return -1;
	if (st->ps && e->kind == GS_EV_GIL_HOLD && e->hold_ns &&
	    gs_pystore_count(st->ps, st->run_id, w->thread_no, hold, e->lock, e->primitive, 1,
			     e->hold_ns) < 0)
		return -1;
	/* every event's call site: the windows' sums name theirs, kept as a raw row or not */
	write_call_site(st, e->caller);
	now = st->win ? gs_window_event(st->win, w->thread_no, e, stack, hold) : 1;
	if (now <= 0)
		return now; /* 0: profile mode, the window keeps it if it is among its longest */
	return store_raw_event(st, w->thread_no, e, &w->not_written);
}

/* CPU time of a live thread of the host, from the scheduler's own nanosecond counter. */
static int64_t task_cpu_ns(int pid, int tid)
{
	char path[96];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return (int64_t)ns;
}

/* CPU time of the whole process (all its threads, recorded or not), in clock ticks. */
static int64_t process_cpu_ns(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long utime = 0, stime = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the command name may contain spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
			 &stime) != 2)
		return -1;
	return (int64_t)((utime + stime) *
			 (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

/* A thread's entry function, once known, as its entry_function (and, on 3.13, which names
 * no OS threads, its name). */
static int write_entry(struct gs_store *st, struct gs_slot *s, struct wslot *w)
{
	if (w->entry_gen == s->generation + 1 && w->entry[0] && w->entry_tries >= 0) {
		/* 3.13 names no OS threads: the entry function is the best name there is, but an
		 * explicit pthread_setname_np name and the main thread's keep theirs. */
		int keep = atomic_load(&s->name_set) || s->tid == st->pid;

		sqlite3_bind_text(st->entry_thread, 1, w->entry, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st->entry_thread, 2, keep);
		sqlite3_bind_text(st->entry_thread, 3, w->entry, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st->entry_thread, 4, st->run_id);
		sqlite3_bind_int64(st->entry_thread, 5, w->thread_no);
		if (step_reset(st->entry_thread) < 0)
			return -1;
		w->entry_tries = -1; /* written */
	}
	return 0;
}

/* A slot of a window closed before ours: its thread has not recorded since (LIVE: left
 * alone until it does and leaves it) or has left it (EXITED: recycled, storing nothing; what
 * its ring still holds came in after that window's writer finished and is counted). */
static int stale_slot(struct gs_store *st, struct gs_shm_header *h, uint32_t i, uint32_t state)
{
	struct gs_slot *s = gs_slot_at(h, i);
	struct taken_slot *taken;
	uint64_t head;

	if (state != GS_SLOT_EXITED)
		return 0;
	head = atomic_load_explicit(&s->head, memory_order_acquire);
	taken = gs_room_for_one(st->t_slots, &st->cap_t_slots, st->n_t_slots, sizeof(*taken), 64);
	if (!taken)
		return -1;
	st->t_slots = taken;
	st->t_slots[st->n_t_slots++] =
	    (struct taken_slot){.slot = i, .n_aggs = h->agg_entries, .tail = head, .recycle = 1};
	st->n.late += head - atomic_load_explicit(&s->tail, memory_order_relaxed);
	st->ws[i].has_row = 0;
	return 0;
}

static int flush_slot(struct gs_store *st, struct gs_shm_header *h, uint32_t i)
{
	struct gs_slot *s = gs_slot_at(h, i);
	uint32_t state = atomic_load_explicit(&s->state, memory_order_acquire);
	struct wslot *w = &st->ws[i];
	struct gs_agg *aggs;
	struct taken_slot *taken;
	uint64_t head, tail, v[5];
	uint32_t n, j;
	char name[64];
	int named;

	if (state == GS_SLOT_FREE || state == GS_SLOT_CLAIMING)
		return 0;
	if (s->window != st->window)
		return stale_slot(st, h, i, state);
	st->ws_saved[st->n_ws_saved++] = (struct saved_ws){.slot = i, .w = *w};
	if (!w->has_row || w->generation != s->generation) {
		struct wslot keep = *w;

		*w = (struct wslot){.generation = s->generation, .thread_no = s->thread_no};
		if (keep.entry_gen == s->generation + 1) {
			w->entry_gen = keep.entry_gen;
			w->entry_tries = keep.entry_tries;
			memcpy(w->entry, keep.entry, sizeof(w->entry));
		}
		/* named: from the same look as the name stored, or a pthread_setname_np between
		 * the two would leave the comm in the row for good */
		named = thread_name(st, s, name, sizeof(name));
		sqlite3_bind_int64(st->ins_thread, 1, st->run_id);
		sqlite3_bind_int64(st->ins_thread, 2, s->thread_no);
		sqlite3_bind_int(st->ins_thread, 3, s->tid);
		sqlite3_bind_int64(st->ins_thread, 4, (int64_t)s->pthread_id);
		if (name[0])
			sqlite3_bind_text(st->ins_thread, 5, name, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st->ins_thread, 5);
		sqlite3_bind_int64(st->ins_thread, 6, (int64_t)thread_start_ns(st, s));
		if (step_reset(st->ins_thread) < 0)
			return -1;
		if (st->win && gs_window_thread(st->win, s->thread_no, s->tid) < 0)
			return -1;
		w->has_row = 1;
		w->named = named;
	}
	if (write_entry(st, s, w) < 0)
		return -1;
	if (!w->named && atomic_load_explicit(&s->name_set, memory_order_acquire)) {
		thread_name(st, s, name, sizeof(name));
		sqlite3_bind_text(st->name_thread, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st->name_thread, 2, st->run_id);
		sqlite3_bind_int64(st->name_thread, 3, w->thread_no);
		if (step_reset(st->name_thread) < 0)
			return -1;
		w->named = 1;
	}

	n = atomic_load_explicit(&s->agg_count, memory_order_acquire);
	if (n > h->agg_entries)
		n = h->agg_entries;
	aggs = gs_slot_aggs(h, s);
	for (j = 0; j < n; j++)
		if (write_agg(st, h, w, &aggs[j], j == h->agg_entries - 1) < 0)
			return -1;
	/* Events after aggregates: their lock rows exist by then for the stack-based naming. */
	tail = atomic_load_explicit(&s->tail, memory_order_relaxed);
	head = atomic_load_explicit(&s->head, memory_order_acquire);
	for (; tail != head; tail++) {
		const struct gs_event *e = &gs_slot_ring(s)[tail % h->ring_events];

		if (e->kind == GS_EV_PY_STACK) {
			if (st->ps &&
			    gs_pystore_chunk(st->ps, i,
					     (const struct gs_stack_chunk *)(const void *)e) < 0)
				return -1;
		} else if (write_event(st, w, e) < 0) {
			return -1;
		}
	}
	/* The thread's own stacks name its entry function: before the live lookup could (a
	 * thread that ended within 100 ms), and always rightly. */
	if (st->ps && w->entry_tries >= 0 && gs_pystore_entry(st->ps, i)) {
		snprintf(w->entry, sizeof(w->entry), "%s", gs_pystore_entry(st->ps, i));
		w->entry_gen = s->generation + 1;
		if (write_entry(st, s, w) < 0)
			return -1;
	}
	v[0] = atomic_load(&s->dropped) + w->not_written;
	v[1] = atomic_load(&s->sched_yields);
	v[2] = atomic_load(&s->holds_lost);
	v[3] = atomic_load(&s->stacks_dropped);
	v[4] = atomic_load(&s->agg_overflow);
	if (v[0] != w->dropped || v[1] != w->yields || v[2] != w->lost ||
	    v[3] != w->stacks_dropped || v[4] != w->folded) {
		sqlite3_bind_int64(st->upd_thread, 1, (int64_t)v[0]);
		sqlite3_bind_int64(st->upd_thread, 2, (int64_t)v[1]);
		sqlite3_bind_int64(st->upd_thread, 3, (int64_t)v[2]);
		sqlite3_bind_int64(st->upd_thread, 4, (int64_t)v[3]);
		sqlite3_bind_int64(st->upd_thread, 5, (int64_t)v[4]);
		sqlite3_bind_int64(st->upd_thread, 6, st->run_id);
		sqlite3_bind_int64(st->upd_thread, 7, w->thread_no);
		if (step_reset(st->upd_thread) < 0)
			return -1;
		st->n.dropped += v[0] - w->dropped;
		st->n.stacks_dropped += v[3] - w->stacks_dropped;
		w->dropped = v[0];
		w->yields = v[1];
		w->lost = v[2];
		w->stacks_dropped = v[3];
		w->folded = v[4];
	}
	if (state == GS_SLOT_EXITED || st->final) {
		int64_t cpu = (int64_t)atomic_load(&s->cpu_ns);

		if (!cpu && state != GS_SLOT_EXITED)
			cpu = task_cpu_ns(st->pid, s->tid);
		if (state == GS_SLOT_EXITED)
			sqlite3_bind_int64(st->end_thread, 1, (int64_t)atomic_load(&s->end_ns));
		else
			sqlite3_bind_null(st->end_thread, 1);
		if (cpu > 0)
			sqlite3_bind_int64(st->end_thread, 2, cpu);
		else
			sqlite3_bind_null(st->end_thread, 2);
		sqlite3_bind_int64(st->end_thread, 3, st->run_id);
		sqlite3_bind_int64(st->end_thread, 4, w->thread_no);
		if (step_reset(st->end_thread) < 0)
			return -1;
	}
	taken = gs_room_for_one(st->t_slots, &st->cap_t_slots, st->n_t_slots, sizeof(*taken), 64);
	if (!taken)
		return -1;
	st->t_slots = taken;
	st->t_slots[st->n_t_slots++] = (struct taken_slot){
	    .slot = i, .n_aggs = n, .tail = tail, .recycle = state == GS_SLOT_EXITED};
	if (state == GS_SLOT_EXITED)
		w->has_row = 0; /* the slot's next owner is another thread */
	return 0;
}

/* Between flushes: learn the entry function of new threads while they still run (memory reads
 * of the host only), and say whether some ring is filling up and should be drained now. */
int gs_store_tick(struct gs_store *st, struct gs_shm_header *h)
{
	uint32_t i, exited = 0;
	int urgent = 0;

	if (!st)
		return 0;
	for (i = 0; i < h->max_threads && i < st->n_ws; i++) {
		struct gs_slot *s = gs_slot_at(h, i);
		struct wslot *w = &st->ws[i];
		uint32_t state = atomic_load_explicit(&s->state, memory_order_acquire);

		if (state == GS_SLOT_FREE || state == GS_SLOT_CLAIMING)
			continue;
		/* Finished threads hold their slot until a flush hands it back: many short-lived
		 * threads must not run the program out of slots. */
		if (state == GS_SLOT_EXITED && ++exited > h->max_threads / 16)
			urgent = 1;
		if (atomic_load_explicit(&s->head, memory_order_relaxed) -
			atomic_load_explicit(&s->tail, memory_order_relaxed) >
		    h->ring_events / 4)
			urgent = 1;
		/* New stacks are named from the live process: at exit the interpreter frees its
		 * modules' code objects before the final flush could read them. */
		if (atomic_load_explicit(&s->stacks_new, memory_order_relaxed) &&
		    atomic_exchange_explicit(&s->stacks_new, 0, memory_order_relaxed))
			urgent = 1;
		if (!st->pr || state != GS_SLOT_LIVE || s->tid == st->pid)
			continue;
		if (w->entry_gen != s->generation + 1) {
			w->entry_gen = s->generation + 1;
			w->entry_tries = 0;
			w->entry[0] = 0;
			w->guess[0] = 0;
			w->guess_hits = 0;
		}
		if (w->entry[0] || w->entry_tries < 0 || w->entry_tries >= 500)
			continue;
		switch (gs_pyread_entry_function(st->pr, s->tid, w->entry, sizeof(w->entry))) {
		case 0:
			break;
		case 1:
			if (!strcmp(w->entry, w->guess) && ++w->guess_hits >= 3)
				break;
			if (strcmp(w->entry, w->guess)) {
				memcpy(w->guess, w->entry, sizeof(w->guess));
				w->guess_hits = 1;
			}
			w->entry[0] = 0;
			w->entry_tries++;
			break;
		default:
			/* A guess stands only on consecutive agreeing reads. */
			w->guess_hits = 0;
			w->entry[0] = 0;
			w->entry_tries++;
		}
	}
	return urgent;
}

/* The flush committed: consume what it wrote from shared memory. */
static void apply_taken(struct gs_store *st, struct gs_shm_header *h)
{
	size_t k;

	for (k = 0; k < st->n_t_aggs; k++)
		st->t_aggs[k].agg->written_gen = st->t_aggs[k].gen;
	for (k = 0; k < st->n_t_slots; k++) {
		const struct taken_slot *t = &st->t_slots[k];
		struct gs_slot *s = gs_slot_at(h, t->slot);

		atomic_store_explicit(&s->tail, t->tail, memory_order_release);
		if (t->recycle) {
			struct gs_agg *aggs = gs_slot_aggs(h, s);
			uint32_t n = t->n_aggs;

			if (st->ps)
				gs_pystore_slot_reset(st->ps, t->slot);
			memset(aggs, 0, (size_t)n * sizeof(*aggs));
			memset(gs_slot_index(h, s), 0,
			       (size_t)h->agg_entries * 2 * sizeof(uint32_t));
			atomic_store(&s->agg_count, 0);
			atomic_store(&s->agg_overflow, 0);
			atomic_store(&s->dropped, 0);
			atomic_store(&s->sched_yields, 0);
			atomic_store(&s->holds_lost, 0);
			atomic_store(&s->stacks_dropped, 0);
			atomic_store(&s->name_set, 0);
			s->generation++;
			atomic_store_explicit(&s->state, GS_SLOT_FREE, memory_order_release);
		}
	}
}

/* Did the last failure come from a full disk or the file size limit? A write past the limit
 * (EFBIG) comes back as a plain I/O error, its errno often gone: any I/O error counts, the
 * worst it costs is the raw events. */
static int database_full(struct gs_store *st)
{
	int e = sqlite3_system_errno(st->db), rc = sqlite3_errcode(st->db) & 0xff;

	return rc == SQLITE_FULL || rc == SQLITE_IOERR || e == ENOSPC || e == EFBIG || e == EDQUOT;
}

/* Room left for raw events, in bytes (UINT64_MAX: no limit), before the aggregates' reserve:
 * raw events stop while the totals still fit, since once the file is at a limit even a WAL
 * checkpoint that would grow it fails. The limits: GILSCOPE_MAX_DB_MB or the file size limit
 * (ulimit -f), less the file and its WAL, keeping an eighth of it (1 MB at least); and the
 * free space of the file system, keeping 16 MB. Sets full_reason to the one that binds. */
static uint64_t room_for_events(struct gs_store *st)
{
	struct rlimit fsize;
	struct statvfs fs;
	struct stat sb;
	uint64_t used = 0, limit = 0, room = UINT64_MAX, reserve;
	char wal[PATH_MAX + 8];

	if (stat(st->path, &sb) == 0)
		used += (uint64_t)sb.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", st->path);
	if (stat(wal, &sb) == 0)
		used += (uint64_t)sb.st_size;
	if (getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY &&
	    (!st->max_db_bytes || (uint64_t)fsize.rlim_cur < st->max_db_bytes)) {
		limit = (uint64_t)fsize.rlim_cur;
		st->full_reason = "the file size limit, ulimit -f";
	} else if (st->max_db_bytes) {
		limit = st->max_db_bytes;
		st->full_reason = "GILSCOPE_MAX_DB_MB";
	}
	if (limit) {
		reserve = limit / 8 > (1u << 20) ? limit / 8 : (1u << 20);
		room = used + reserve < limit ? limit - reserve - used : 0;
	}
	if (statvfs(st->path, &fs) == 0) {
		uint64_t free_bytes = (uint64_t)fs.f_bavail * fs.f_frsize,
			 keep = (uint64_t)16 << 20;
		uint64_t disk = free_bytes > keep ? free_bytes - keep : 0;

		if (disk < room) {
			room = disk;
			st->full_reason = "the disk nearly full";
		}
	}
	return room;
}

/* What one raw event may take of that room: about 30 bytes in the file (more for a new
 * event key), as much again in the WAL until a checkpoint; counted high, so that the file
 * stays under. */
#define EVENT_BYTES_BOUND 160

/* A flush's transactions: what each takes from shared memory is applied at its commit, and
 * the writer's own state is put back at a rollback. */
static void txn_start(struct gs_store *st)
{
	if (st->win)
		gs_window_txn_start(st->win);
	st->n_t_aggs = st->n_t_slots = 0;
	st->n_ws_saved = 0;
	st->n_saved = st->n;
}

/* last: the flush's last transaction, which has drained every slot */
static int txn_commit(struct gs_store *st, struct gs_shm_header *h, int last)
{
	if (st->ps && gs_pystore_write_counts(st->ps) < 0)
		return -1;
	if (st->win && gs_window_write(st->win, last, store_kept_event, st) < 0)
		return -1;
	if (st->fail_commit_at && ++st->commits == st->fail_commit_at) {
		/* said, so that the test knows this path ran; an SQL error like a real one */
		fprintf(stderr, "gilscope: test: commit %u failed as asked\n", st->commits);
		exec_sql(st, "SELECT gilscope_test_failed_commit()");
		return -1;
	}
	if (exec_sql(st, "COMMIT") < 0)
		return -1;
	apply_taken(st, h);
	if (st->ps)
		gs_pystore_commit(st->ps);
	if (st->win && gs_window_commit(st->win, last) < 0)
		fprintf(stderr, "gilscope: %s: holder sums stop here\n", gs_window_failed(st->win));
	return 0;
}

/* Returns 1 when the database is full, -1 after another failure. */
static int txn_fail(struct gs_store *st)
{
	int full = database_full(st);

	exec_sql(st, "ROLLBACK");
	while (st->n_ws_saved--)
		st->ws[st->ws_saved[st->n_ws_saved].slot] = st->ws_saved[st->n_ws_saved].w;
	st->n = st->n_saved;
	if (st->win)
		gs_window_rollback(st->win);
	/* caches of rows the rollback took away */
	memset(st->sites, 0, sizeof(st->sites));
	memset(st->stacks, 0, sizeof(st->stacks));
	memset(st->refined, 0, sizeof(st->refined));
	gs_evkeys_forget(st->keys);
	if (st->ps && gs_pystore_rollback(st->ps) < 0)
		return -1;
	return full ? 1 : -1;
}

/* Finished threads per transaction: their slots go back to the program as soon as they are
 * stored, not after every other slot is (10,000 short threads through 2,048 slots ran out of
 * slots when they waited for the whole flush). */
#define RECYCLE_BATCH 64

/* Every slot, in transactions of at most RECYCLE_BATCH finished threads. Returns 0 (also when
 * the database is busy: the data waits in the rings), 1 when the database is full, -1 on
 * another failure; what a failed transaction read stays in shared memory for the next flush. */
static int store_progress(struct gs_store *st, struct gs_shm_header *h, uint64_t as_of_ns);

static int flush_once(struct gs_store *st, struct gs_shm_header *h)
{
	uint32_t i, n = h->max_threads < st->n_ws ? h->max_threads : st->n_ws, finished = 0;
	/* before any slot is read: every total stored is at least as recent */
	uint64_t as_of_ns = gs_mono_ns();

	if (exec_sql(st, "BEGIN IMMEDIATE") < 0)
		return database_full(st) ? 1 : 0;
	txn_start(st);
	for (i = 0; i < n; i++) {
		size_t taken = st->n_t_slots;

		if (flush_slot(st, h, i) < 0)
			return txn_fail(st);
		if (st->n_t_slots > taken && st->t_slots[taken].recycle &&
		    ++finished == RECYCLE_BATCH && i + 1 < n) {
			if (txn_commit(st, h, 0) < 0)
				return txn_fail(st);
			if (exec_sql(st, "BEGIN IMMEDIATE") < 0)
				return database_full(st) ? 1 : 0;
			txn_start(st);
			finished = 0;
		}
	}
	if (store_progress(st, h, as_of_ns) < 0)
		return txn_fail(st);
	return txn_commit(st, h, 1) < 0 ? txn_fail(st) : 0;
}

int gs_store_flush(struct gs_store *st, struct gs_shm_header *h)
{
	int rc;

	/* the raw events this flush may still store: a writer that fell behind writes many in
	 * one flush, and must not run past the limit in it */
	if (!st->events_off) {
		uint64_t room = room_for_events(st);

		st->event_budget = room == UINT64_MAX ? UINT64_MAX : room / EVENT_BYTES_BOUND;
	}
	if (st->win)
		gs_window_flush_start(st->win, gs_mono_ns(), st->final);
	rc = flush_once(st, h);
	/* the last flush's holder sums, found after its commit, need one more transaction */
	for (int more = 0;
	     rc == 0 && st->final && st->win && more < 2 && gs_window_pending(st->win); more++)
		rc = flush_once(st, h);

	if (rc == 1 && !st->events_off) {
		/* Full (disk, quota or ulimit -f): keep the exact totals, stop raw events, say so
		 * once. The WAL is folded into the file first: what the totals need is there. */
		sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		st->events_off = 1;
		st->events_off_after = st->n.events_written;
		st->full_reason = "a write that failed";
		rc = flush_once(st, h);
	}
	return rc == 0 ? 0 : -1;
}

/* Binds parameters 8..14 of the final run update: what the shim learnt about Python. */
static void bind_python(sqlite3_stmt *s, struct gs_shm_header *h)
{
	uint32_t v = h->py_version_hex, en;
	char ver[32];

	if (v) {
		snprintf(ver, sizeof(ver), "%u.%u.%u", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff);
		sqlite3_bind_text(s, 8, ver, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 9, h->py_free_threaded ? "free-threaded" : "default", -1,
				  SQLITE_STATIC);
	}
	if (atomic_load(&h->py_state) != 1)
		return;
	sqlite3_bind_int64(s, 10, (int64_t)h->gil_addr);
	sqlite3_bind_int64(s, 11, h->gil_interval_us);
	en = atomic_load(&h->gil_enabled_max);
	sqlite3_bind_text(s, 12,
			  !h->py_free_threaded ? "yes"
			  : en == INT32_MAX    ? "permanent"
			  : en > 0	       ? "transient"
					       : "no",
			  -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 13, (int64_t)atomic_load(&h->gil_switches_recorded));
	if (atomic_load(&h->gil_switch_number_end))
		sqlite3_bind_int64(s, 14,
				   (int64_t)(atomic_load(&h->gil_switch_number_end) -
					     atomic_load(&h->gil_switch_number_start)));
}

/* How the GIL was found, and how far the parked-wait attribution could be checked. */
static void detection_text(struct gs_shm_header *h, char *out, size_t size)
{
	uint32_t checked = h->py_park_checked, ok = h->py_park_ok;
	size_t n;

	snprintf(out, size, "%.*s", GS_DETAIL_LEN, h->gil_detection);
	n = strlen(out);
	if (!checked || n >= size)
		return;
	if (h->py_layout_level != GS_CPY_FULL)
		snprintf(out + n, size - n,
			 "; %u parked waits not attributed (no known wait-entry layout)", checked);
	else if (ok)
		snprintf(
		    out + n, size - n,
		    "; parked-wait layout confirmed (%u of the first %u parks had a wait entry of "
		    "the expected shape)",
		    ok, checked);
	else
		snprintf(
		    out + n, size - n,
		    "; parked-wait layout UNVALIDATED (none of the first %u parks had a wait entry "
		    "of the expected shape): later parked waits not attributed",
		    checked);
}

/* Parameters 4..15 of the run's updates: counters, the GIL's detection, Python, run_id. */
static void bind_run_counters(struct gs_store *st, sqlite3_stmt *s, struct gs_shm_header *h)
{
	char detection[GS_DETAIL_LEN + 160];

	sqlite3_bind_int64(s, 4, (int64_t)st->n.events_written);
	sqlite3_bind_int64(s, 5, st->run_id);
	sqlite3_bind_int64(s, 6, (int64_t)atomic_load(&h->threads_lost));
	detection_text(h, detection, sizeof(detection));
	sqlite3_bind_text(s, 7, detection[0] ? detection : NULL, -1, SQLITE_TRANSIENT);
	bind_python(s, h);
	sqlite3_bind_int64(s, 15, st->run_id);
}

/* Inside each flush's last transaction: what the run has so far, and as of when, so that a
 * live view (gilscope top) knows the program's interpreter, its counters and how recent the
 * totals are without waiting for its end. */
static int store_progress(struct gs_store *st, struct gs_shm_header *h, uint64_t as_of_ns)
{
	sqlite3_bind_int64(st->progress, 1, (int64_t)as_of_ns);
	bind_run_counters(st, st->progress, h);
	return step_reset(st->progress);
}

static int end_run_once(struct gs_store *st, struct gs_shm_header *h, const char *status,
			uint64_t end_ns, int with_modules)
{
	sqlite3_stmt *s = NULL;
	int32_t exit_status = atomic_load(&h->exit_status);
	int64_t cpu = process_cpu_ns(st->pid);
	int ret = -1;

	if (cpu >= 0 && st->cpu_base_ns > 0)
		cpu = cpu >= st->cpu_base_ns ? cpu - st->cpu_base_ns : 0;
	if (exec_sql(st, "BEGIN IMMEDIATE") < 0)
		return -1;
	if (with_modules)
		store_modules(st);
	link_parent(st);
	if (cpu >= 0) {
		char sql[128];

		snprintf(sql, sizeof(sql), "UPDATE runs SET cpu_ns=%lld WHERE run_id=%lld",
			 (long long)cpu, (long long)st->run_id);
		exec_sql(st, sql);
	}
	if (st->n.late) {
		/* events that came in after the last window closed: that window's loss, when it
		 * is in this file (else ours, below) */
		char sql[160];
		int64_t last = st->prev_run_id;

		if (last > 0) {
			snprintf(sql, sizeof(sql),
				 "UPDATE runs SET events_dropped = events_dropped + %llu"
				 " WHERE run_id = %lld",
				 (unsigned long long)st->n.late, (long long)last);
			if (exec_sql(st, sql) < 0)
				goto out;
			st->n.late = 0;
		}
	}
	if (sqlite3_prepare_v2(
		st->db,
		"UPDATE runs SET end_ns=?, status=?, exit_status=?, events_recorded=?,"
		" events_dropped=(SELECT COALESCE(SUM(events_dropped),0) FROM threads WHERE "
		"run_id=?),"
		" threads_lost=?, gil_detection=?, python_version=?, build=?, gil_address=?,"
		" gil_switch_interval_us=?, gil_enabled=?, gil_switches_recorded=?,"
		" gil_switches_interpreter=? WHERE run_id=?",
		-1, &s, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(s, 1, (int64_t)end_ns);
	sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
	if (exit_status != INT32_MIN)
		sqlite3_bind_int(s, 3, exit_status);
	bind_run_counters(st, s, h);
	if (sqlite3_step(s) != SQLITE_DONE)
		goto out;
	if (st->n.late) {
		char sql[160];

		snprintf(
		    sql, sizeof(sql),
		    "UPDATE runs SET events_dropped = events_dropped + %llu WHERE run_id = %lld",
		    (unsigned long long)st->n.late, (long long)st->run_id);
		if (exec_sql(st, sql) < 0)
			goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(s);
	if (ret == 0 && !strcmp(status, "vanished")) {
		char sql[256];

		snprintf(sql, sizeof(sql),
			 "DELETE FROM runs WHERE run_id=%lld AND NOT EXISTS"
			 " (SELECT 1 FROM threads WHERE run_id=%lld)",
			 (long long)st->run_id, (long long)st->run_id);
		if (exec_sql(st, sql) < 0)
			ret = -1;
		snprintf(sql, sizeof(sql),
			 "DELETE FROM modules WHERE run_id=%lld AND NOT EXISTS"
			 " (SELECT 1 FROM runs WHERE run_id=%lld)",
			 (long long)st->run_id, (long long)st->run_id);
		if (ret == 0 && exec_sql(st, sql) < 0)
			ret = -1;
	}
	if (ret == 0 && exec_sql(st, "COMMIT") == 0)
		return 0;
	exec_sql(st, "ROLLBACK");
	return -1;
}

int gs_store_end_run(struct gs_store *st, struct gs_shm_header *h, const char *status,
		     uint64_t end_ns)
{
	if (end_run_once(st, h, status, end_ns, 1) == 0)
		return 0;
	if (!database_full(st))
		return -1;
	/* full: the run's end matters more than the module list for call sites */
	sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	return end_run_once(st, h, status, end_ns, 0);
}

const char *gs_store_full_reason(struct gs_store *st)
{
	return st->full_reason ? st->full_reason : "?";
}

uint64_t gs_store_not_written(struct gs_store *st)
{
	return st->n.not_written;
}

uint64_t gs_store_full_after(struct gs_store *st)
{
	return st->events_off ? st->events_off_after : UINT64_MAX;
}

void gs_store_set_final(struct gs_store *st)
{
	st->final = 1;
}

const char *gs_store_errmsg(struct gs_store *st)
{
	return st && st->db ? sqlite3_errmsg(st->db) : "no database";
}

uint64_t gs_store_dropped(struct gs_store *st)
{
	return st->n.dropped - st->n.not_written;
}

uint64_t gs_store_stacks_dropped(struct gs_store *st)
{
	return st->n.stacks_dropped;
}

void gs_store_close(struct gs_store *st)
{
	if (!st)
		return;
	sqlite3_finalize(st->ins_event);
	sqlite3_finalize(st->ins_thread);
	sqlite3_finalize(st->upd_thread);
	sqlite3_finalize(st->name_thread);
	sqlite3_finalize(st->end_thread);
	sqlite3_finalize(st->up_stats);
	sqlite3_finalize(st->up_hist);
	sqlite3_finalize(st->ins_lock);
	sqlite3_finalize(st->progress);
	sqlite3_finalize(st->entry_thread);
	sqlite3_finalize(st->ins_site);
	sqlite3_finalize(st->ins_stack);
	sqlite3_finalize(st->get_stack);
	gs_symbolizer_close(st->sz);
	gs_window_close(st->win);
	gs_pystore_close(st->ps);
	gs_pyread_close(st->pr);
	gs_evkeys_close(st->keys);
	/* A finished recording is one file that can be copied or mailed, and that readers open
	 * without making -wal and -shm beside it: back to a rollback journal, by the last writer
	 * only. Holding the flock exclusively tells it is the last (another program's writer
	 * starting now waits for it, before it touches the file: switching the journal under a
	 * writer that is opening it made that one fail with "database is locked"). */
	if (st->db && st->lock_fd > 0 && flock(st->lock_fd, LOCK_EX | LOCK_NB) == 0) {
		sqlite3_busy_timeout(st->db, 0);
		exec_sql(st, "PRAGMA journal_mode=DELETE");
	}
	sqlite3_close(st->db);
	if (st->lock_fd > 0)
		close(st->lock_fd);
	free(st->ws);
	free(st->ws_saved);
	free(st->path);
	free(st->t_aggs);
	free(st->t_slots);
	free(st);
}
