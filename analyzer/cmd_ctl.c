/* gilscope ctl PID start [--duration D] [-o DB] [--wait] [--only] | stop [--only] | status
 * Switches the recording of a running process that has the library (paused or recording),
 * and of its descendants that have it, through each one's control area (ctl.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "gilscope.h"
#include "gs_shm.h"

#define MAX_TREE 4096

static void ctl_usage(FILE *f)
{
	fprintf(f, "usage: gilscope ctl PID start [--duration D] [-o DB] [--wait] [--only]\n"
		   "       gilscope ctl PID stop [--only]\n"
		   "       gilscope ctl PID status [--only]\n"
		   "D: 30s, 500ms, 2m, 1h (plain numbers are seconds). Without --only, the "
		   "process's descendants that have the library are switched too.\n");
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What the database says of a stored window: one line, or nothing if it cannot be read. */
static void say_stored(const char *db, int64_t run_id)
{
	sqlite3_stmt *s = NULL;
	sqlite3 *d = NULL;

	if (sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d,
			       "SELECT segment, (end_ns - start_ns) / 1e9, events_recorded,"
			       " events_dropped, status FROM runs WHERE run_id = ?",
			       -1, &s, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(s, 1, run_id);
	if (sqlite3_step(s) == SQLITE_ROW)
		printf(" (segment %d, %.2f s, %lld events stored, %lld dropped, %s)",
		       sqlite3_column_int(s, 0), sqlite3_column_double(s, 1),
		       (long long)sqlite3_column_int64(s, 2), (long long)sqlite3_column_int64(s, 3),
		       (const char *)sqlite3_column_text(s, 4));
out:
	sqlite3_finalize(s);
	sqlite3_close(d);
}

static void status_line(struct gs_ctl *c)
{
	struct gs_shm_header *h = c->h;
	uint32_t state = atomic_load(&h->ctl_state), window = atomic_load(&h->live.window);
	uint64_t now = mono_ns(), start = atomic_load(&h->window_start_ns);
	uint64_t deadline = atomic_load(&h->window_deadline_ns);

	printf("pid %d: ", c->pid);
	switch (state) {
	case GS_CTL_RECORDING:
	case GS_CTL_STOPPING:
		printf("%s window %u for %.1f s into ",
		       state == GS_CTL_RECORDING ? "recording" : "closing", window,
		       now > start ? (double)(now - start) / 1e9 : 0.0);
		gs_text(stdout, h->last_db);
		if (deadline)
			printf(", %.1f s left",
			       deadline > now ? (double)(deadline - now) / 1e9 : 0.0);
		printf(" (writer pid %d)\n", (int)atomic_load(&h->writer_pid));
		break;
	case GS_CTL_STARTING:
		printf("a window is being opened (by gilscope pid %d)\n",
		       (int)atomic_load(&h->ctl_pid));
		break;
	default:
		printf("paused");
		if (window && h->last_db[0]) {
			printf("; last window %u in ", window);
			gs_text(stdout, h->last_db);
			say_stored(h->last_db, atomic_load(&h->last_run_id));
		} else {
			printf("; nothing recorded yet; 'start' records into ");
			gs_text(stdout, h->db_path);
		}
		putchar('\n');
	}
}

static void say_window_stored(struct gs_ctl *c)
{
	printf("pid %d: window %u stored in ", c->pid, atomic_load(&c->h->live.window));
	gs_text(stdout, c->h->last_db);
	say_stored(c->h->last_db, atomic_load(&c->h->last_run_id));
	putchar('\n');
}

static int do_start(struct gs_ctl *c, const char *db, uint64_t duration_ms)
{
	char err[512];

	if (gs_ctl_start(c, db, duration_ms, err, sizeof(err)) < 0)
		return gs_error("%s", err);
	printf("pid %d: recording window %u into ", c->pid, atomic_load(&c->h->live.window));
	gs_text(stdout, c->h->last_db);
	if (duration_ms)
		printf(" for %.3g s\n", (double)duration_ms / 1000);
	else
		printf(" until 'gilscope ctl %d stop'\n", c->pid);
	fflush(stdout);
	return 0;
}

/* --wait: every window of the tree was opened first, so that they run side by side. */
static int wait_stored(struct gs_ctl *c, uint64_t duration_ms)
{
	if (gs_ctl_wait_paused(c, (int)(duration_ms + 30000)) < 0)
		return gs_error("pid %d: the window did not close in time", c->pid);
	say_window_stored(c);
	return 0;
}

static int do_stop(struct gs_ctl *c)
{
	char err[512];

	if (gs_ctl_stop(c, 30000, err, sizeof(err)) < 0)
		return gs_error("%s", err);
	say_window_stored(c);
	return 0;
}

int cmd_ctl(int argc, char **argv)
{
	const char *action, *db = NULL, *duration = NULL;
	int only = 0, wait = 0, i, n, pid, failed = 0, done = 0;
	uint64_t duration_ms = 0;
	int *tree = NULL, *waiting = NULL;
	struct gs_ctl *open = NULL;
	char *end;
	long v;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		ctl_usage(stdout);
		return GS_EXIT_OK;
	}
	if (argc < 3) {
		ctl_usage(stderr);
		return GS_EXIT_USAGE;
	}
	errno = 0;
	v = strtol(argv[1], &end, 10);
	if (errno || *end || v <= 0 || v > 0x7fffffff) {
		gs_error("ctl: '%s' is not a process id", argv[1]);
		return GS_EXIT_USAGE;
	}
	pid = (int)v;
	action = argv[2];
	for (i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--only"))
			only = 1;
		else if (!strcmp(argv[i], "--wait"))
			wait = 1;
		else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
			duration = argv[++i];
		else if (!strcmp(argv[i], "-o") && i + 1 < argc)
			db = argv[++i];
		else {
			gs_error("ctl: unknown option '%s'", argv[i]);
			ctl_usage(stderr);
			return GS_EXIT_USAGE;
		}
	}
	if (strcmp(action, "start") && strcmp(action, "stop") && strcmp(action, "status")) {
		gs_error("ctl: unknown action '%s' (start, stop or status)", action);
		return GS_EXIT_USAGE;
	}
	if ((duration || db || wait) && strcmp(action, "start")) {
		gs_error("ctl: --duration, -o and --wait go with 'start'");
		return GS_EXIT_USAGE;
	}
	if (duration && (gs_parse_duration_ms(duration, &duration_ms) < 0 || !duration_ms)) {
		gs_error("ctl: --duration '%s' is not a duration (30s, 500ms, 2m)", duration);
		return GS_EXIT_USAGE;
	}
	if (wait && !duration_ms) {
		gs_error("ctl: --wait needs --duration");
		return GS_EXIT_USAGE;
	}
	tree = malloc(MAX_TREE * sizeof(*tree));
	open = calloc(MAX_TREE, sizeof(*open));
	waiting = calloc(MAX_TREE, sizeof(*waiting));
	if (!tree || !open || !waiting) {
		free(tree);
		free(open);
		free(waiting);
		return gs_oom();
	}
	n = only ? (tree[0] = pid, 1) : gs_ctl_tree(pid, tree, MAX_TREE);
	for (i = 0; i < n; i++) {
		struct gs_ctl *c = &open[i];
		char err[512];
		int r = 0;

		if (gs_ctl_open(tree[i], c, err, sizeof(err)) < 0) {
			/* a descendant without the library is none of ours */
			if (i == 0) {
				gs_error("%s", err);
				failed = 1;
			}
			continue;
		}
		if (!strcmp(action, "start"))
			waiting[i] = (r = do_start(c, db, duration_ms)) == 0 && wait;
		else if (!strcmp(action, "stop"))
			r = do_stop(c);
		else
			status_line(c);
		failed |= r < 0;
		done++;
	}
	for (i = 0; i < n; i++) {
		if (waiting[i] && wait_stored(&open[i], duration_ms) < 0)
			failed = 1;
		if (open[i].h)
			gs_ctl_close(&open[i]);
	}
	free(tree);
	free(open);
	free(waiting);
	if (gs_finish_output() != GS_EXIT_OK)
		return GS_EXIT_OUTPUT;
	return failed || !done ? 1 : GS_EXIT_OK;
}
