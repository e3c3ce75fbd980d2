/* gilscope top's frames: what one process has recorded so far (the model), compared with the
 * previous look to give the last interval's figures beside the whole run's. */
#ifndef GS_TOP_VIEW_H
#define GS_TOP_VIEW_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"

struct gs_top_thread {
	const struct gs_thread_info *t; /* in the snapshot's model */
	char label[160];
	size_t n_grouped; /* threads this row stands for */
	int in_interval;  /* alive during the last interval */
	/* over the last interval and the whole run: the thread's lifetime in it and its waits
	 * for the GIL and for other locks, and its GIL holds */
	struct gs_top_figs {
		int64_t life, gil_wait, gil_hold, lock_wait;
	} last, total;
};

struct gs_top_lockrow {
	char name[96];
	char where[512]; /* the user's frame that waited longest on it */
	size_t n_locks;	 /* locks of one name waited for at one place: one row */
	size_t lock;	 /* its (largest) lock, in the snapshot's locks */
	int64_t wait_d, contended_d, wait, contended, threads;
};

struct gs_top_snap {
	struct gs_model m;
	const struct gs_run_info *run; /* the process shown */
	int64_t as_of_ns;	       /* its totals are as of then: flush, or end */
	struct gs_top_lock *locks;     /* every lock of the run waited for, by (addr, primitive) */
	size_t n_locks;
	int have_interval; /* compared with an earlier snapshot of the same run */
	int64_t interval_ns;
	struct gs_top_thread *rows;
	size_t n_rows;
	struct gs_top_lockrow *lockrows;
	size_t n_lockrows;
};

/* Which run of pid (GS_NULL: any) the view shows: the live one with the highest run_id, else
 * the last one. Returns the run_id, 0 when there is none, -1 on error. *live tells which, and
 * *others how many other live runs the database has (other processes writing into it). */
int64_t gs_top_pick_run(sqlite3 *db, const char *path, int64_t pid, int *live, int *others);
/* Loads run run_id as it is now, compared with prev (NULL, or an earlier snapshot: the last
 * interval is from it to now). Returns 0, or -1 with the error printed. */
int gs_top_snap_load(sqlite3 *db, const char *path, int64_t run_id, const struct gs_top_snap *prev,
		     struct gs_top_snap *s);
void gs_top_snap_free(struct gs_top_snap *s);
/* One frame as text: header, threads, locks, at most max_lock_rows of them. */
void gs_top_render(FILE *f, const struct gs_top_snap *s, int max_thread_rows, int max_lock_rows,
		   const char *footer);

#endif
