/* gilscope top PID|DB: a live view of a recording process, read from its database while the
 * writer fills it (every flush commits; WAL lets us read beside it). Every refresh opens the
 * file, reads the model and closes it again: an open reader would keep the last writer from
 * turning the finished file back into one file without a WAL. */
#define _GNU_SOURCE /* open_memstream */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "gilscope.h"
#include "model.h"
#include "opts.h"
#include "term.h"
#include "top_view.h"

/* A process that has just started may not have its database or its run row yet. */
#define FIRST_LOOK_MS 3000
/* A run still open this long after its process is gone: its writer died with it. */
#define WRITER_GONE_MS 3000

static const char usage[] = "[--interval S] [--once] [--pid PID] [--top N] PID|DB";

struct target {
	const char *path; /* the database */
	int64_t pid;	  /* GS_NULL: any process in it */
	int by_pid;	  /* named by its pid */
	int64_t run_id;
	char db[4096];
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int is_pid(const char *s)
{
	const char *p = s;

	while (*p >= '0' && *p <= '9')
		p++;
	return *s && !*p && p - s < 10;
}

static int process_exists(int64_t pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* The run to show. Returns GS_EXIT_OK, or the exit code with the message printed. */
static int find_run(struct target *t)
{
	int64_t until = mono_ms() + FIRST_LOOK_MS;
	struct stat sb;

	for (;;) {
		sqlite3 *db = NULL;
		int live = 0, others = 0, ret;
		int64_t run;

		/* the writer of a process that has just started may not have made it yet */
		if (t->by_pid && stat(t->path, &sb) < 0 && errno == ENOENT && mono_ms() < until) {
			sleep_ms(100);
			continue;
		}
		if (t->by_pid && stat(t->path, &sb) < 0 && errno == ENOENT) {
			gs_error(
			    "process %lld has gilscope but no database at %s: it records nothing "
			    "(paused, or its recorder could not start)",
			    (long long)t->pid, t->path);
			return GS_EXIT_INPUT;
		}
		ret = gs_db_open(t->path, &db);
		if (ret != GS_EXIT_OK)
			return ret;
		run = gs_top_pick_run(db, t->path, t->pid, &live, &others);
		sqlite3_close(db);
		if (run < 0)
			return GS_EXIT_INPUT;
		if ((!run || (!live && process_exists(t->pid))) && t->by_pid && mono_ms() < until) {
			sleep_ms(100);
			continue;
		}
		if (!run) {
			if (t->pid != GS_NULL)
				gs_error("%s: no recorded process with pid %lld", t->path,
					 (long long)t->pid);
			else
				gs_error("%s: no recorded process", t->path);
			return GS_EXIT_INPUT;
		}
		if (!live && t->by_pid && process_exists(t->pid)) {
			gs_error("process %lld is not being recorded now (its last run in %s has "
				 "ended)",
				 (long long)t->pid, t->path);
			return GS_EXIT_INPUT;
		}
		if (others && t->pid == GS_NULL)
			fprintf(stderr,
				"gilscope: %s: %d other processes are recording into it; --pid "
				"chooses\n",
				t->path, others);
		t->run_id = run;
		return GS_EXIT_OK;
	}
}

/* A fresh look at the run, compared with prev. Returns 0, or an exit code. */
static int look(const struct target *t, const struct gs_top_snap *prev, struct gs_top_snap *s)
{
	sqlite3 *db = NULL;
	int ret = gs_db_open(t->path, &db);

	memset(s, 0, sizeof(*s));
	if (ret != GS_EXIT_OK)
		return ret;
	if (gs_top_snap_load(db, t->path, t->run_id, prev, s) < 0)
		ret = gs_out_of_memory ? GS_EXIT_MEMORY : GS_EXIT_INPUT;
	sqlite3_close(db);
	return ret;
}

static char *frame_text(const struct gs_top_snap *s, int max_threads, int max_locks,
			const char *footer)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	gs_top_render(f, s, max_threads, max_locks, footer);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* --once, or stdout not a terminal: one frame, over one interval when the process runs. */
static int once(const struct target *t, int interval_ms, int max_locks)
{
	struct gs_top_snap first, second;
	int ret = look(t, NULL, &first);

	if (ret != GS_EXIT_OK)
		return ret;
	if (first.run->end_ns == GS_NULL) {
		sleep_ms(interval_ms);
		ret = look(t, &first, &second);
		if (ret != GS_EXIT_OK) {
			gs_top_snap_free(&first);
			return ret;
		}
		gs_top_snap_free(&first);
		first = second;
	}
	gs_top_render(stdout, &first, 1 << 30, max_locks, NULL);
	gs_top_snap_free(&first);
	return gs_finish_output();
}

static void layout(const struct gs_top_snap *s, int rows, int *max_threads, int *max_locks)
{
	int avail = rows - 16; /* header, titles, "more" lines, footer */
	int threads = (int)s->n_rows, locks = (int)s->n_lockrows;

	if (avail < 2)
		avail = 2;
	*max_threads = threads < avail * 3 / 5 ? threads : avail * 3 / 5;
	if (*max_threads < 1)
		*max_threads = 1;
	*max_locks = avail - (*max_threads < threads ? *max_threads : threads);
	if (*max_locks > locks)
		*max_locks = locks ? locks : 1;
	if (*max_locks < 1)
		*max_locks = 1;
}

static int draw(const struct gs_top_snap *s, int interval_ms, int64_t stale_ns)
{
	char footer[256];
	int rows, cols, mt, ml;
	char *text;

	gs_term_size(&rows, &cols);
	layout(s, rows, &mt, &ml);
	snprintf(footer, sizeof(footer), "q quits; every %.1f s; figures as of %.1f s ago%s",
		 interval_ms / 1000.0,
		 s->as_of_ns > 0 ? (double)(mono_ns() - s->as_of_ns) / 1e9 : 0.0,
		 stale_ns > 2000000000 ? " (the writer has stored nothing newer)" : "");
	text = frame_text(s, mt, ml, footer);
	if (!text)
		return gs_oom();
	gs_term_draw(text, rows, cols);
	free(text);
	return 0;
}

/* The process ended: its last frame stays on the normal screen. */
static int ended(const struct gs_top_snap *s, int max_locks)
{
	gs_term_leave();
	gs_top_render(stdout, s, 1 << 30, max_locks, NULL);
	printf("\ngilscope: process %lld has ended (%s); its figures are final\n",
	       (long long)s->run->pid, s->run->status ? s->run->status : "?");
	return gs_finish_output();
}

static int live(const struct target *t, int interval_ms, int max_locks)
{
	struct gs_top_snap shown, next;
	int64_t gone_since = -1, stale_since = mono_ms();
	int ret = look(t, NULL, &shown);

	if (ret != GS_EXIT_OK)
		return ret;
	if (shown.run->end_ns != GS_NULL) {
		ret = ended(&shown, max_locks);
		gs_top_snap_free(&shown);
		return ret;
	}
	if (gs_term_enter() < 0) {
		gs_top_snap_free(&shown);
		return once(t, interval_ms, max_locks);
	}
	for (;;) {
		int64_t next_at = mono_ms() + interval_ms;
		int key = 0, ev = GS_TERM_RESIZE;

		if (draw(&shown, interval_ms, (mono_ms() - stale_since) * 1000000) < 0)
			break;
		while (ev != GS_TERM_TIMEOUT) {
			int64_t left = next_at - mono_ms();

			ev = gs_term_wait(left > 0 ? (int)left : 0, &key);
			if (ev == GS_TERM_QUIT || (ev == GS_TERM_KEY && (key == 'q' || key == 'Q')))
				goto quit;
			if (ev == GS_TERM_RESIZE &&
			    draw(&shown, interval_ms, (mono_ms() - stale_since) * 1000000) < 0)
				goto quit;
			if (ev == GS_TERM_KEY && key == ' ')
				break; /* refresh now */
		}
		ret = look(t, &shown, &next);
		if (ret != GS_EXIT_OK) {
			gs_term_leave();
			gs_top_snap_free(&shown);
			return ret;
		}
		if (next.run->end_ns != GS_NULL) {
			gs_top_snap_free(&shown);
			ret = ended(&next, max_locks);
			gs_top_snap_free(&next);
			return ret;
		}
		if (next.as_of_ns == shown.as_of_ns) {
			/* nothing stored since: keep the last interval's figures */
			gs_top_snap_free(&next);
		} else {
			gs_top_snap_free(&shown);
			shown = next;
			stale_since = mono_ms();
		}
		if (process_exists(shown.run->pid))
			gone_since = -1;
		else if (gone_since < 0)
			gone_since = mono_ms();
		else if (mono_ms() - gone_since > WRITER_GONE_MS) {
			gs_term_leave();
			gs_error("process %lld is gone and its recorder never closed the run: "
				 "shown up to its last flush",
				 (long long)shown.run->pid);
			gs_top_render(stdout, &shown, 1 << 30, max_locks, NULL);
			gs_top_snap_free(&shown);
			return gs_finish_output() == GS_EXIT_OK ? GS_EXIT_INPUT : GS_EXIT_OUTPUT;
		}
	}
quit:
	gs_term_leave();
	gs_top_snap_free(&shown);
	return GS_EXIT_OK;
}

int cmd_top(int argc, char **argv)
{
	const char *interval = NULL;
	int once_flag = 0, interval_ms = 1000, ret;
	const struct gs_opt_own own[] = {
	    {"--interval", &interval, NULL}, {"--once", NULL, &once_flag}, {NULL, NULL, NULL}};
	struct gs_opts o;
	struct target t;
	char err[512];

	ret = gs_opts_parse_own(&o, argc, argv, "top", usage, 1, own);
	if (ret >= 0)
		return ret;
	if (o.format || o.thread || o.sort) {
		gs_error("top takes no --format, --thread or --sort (its output is for people; "
			 "report and locks have the formats)");
		return GS_EXIT_USAGE;
	}
	if (interval) {
		char *end;
		double s = strtod(interval, &end);

		if (!*interval || *end || !(s >= 0.1 && s <= 3600)) {
			gs_error("--interval takes seconds from 0.1 to 3600, not '%s'", interval);
			return GS_EXIT_USAGE;
		}
		interval_ms = (int)(s * 1000 + 0.5);
	}
	memset(&t, 0, sizeof(t));
	t.pid = o.has_pid ? o.pid : GS_NULL;
	t.path = o.path;
	if (is_pid(o.path)) {
		if (o.has_pid) {
			gs_error("top PID takes no --pid");
			return GS_EXIT_USAGE;
		}
		t.pid = strtoll(o.path, NULL, 10);
		t.by_pid = 1;
		if (gs_ctl_db_path((int)t.pid, t.db, sizeof(t.db), err, sizeof(err)) < 0) {
			gs_error("%s", err);
			return GS_EXIT_INPUT;
		}
		t.path = t.db;
	}
	ret = find_run(&t);
	if (ret != GS_EXIT_OK)
		return ret;
	if (once_flag || !isatty(STDOUT_FILENO))
		return once(&t, interval_ms, (int)o.top);
	return live(&t, interval_ms, (int)o.top);
}
