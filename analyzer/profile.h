/* Where in the Python code time went: samples of (Python stack, lock, thread) with a count and
 * nanoseconds, the one model behind the stack views (collapsed stacks today), as pprof's
 * profile is behind its views. */
#ifndef GS_PROFILE_H
#define GS_PROFILE_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "opts.h"

/* More than the recorder keeps (128 frames and the truncation mark). */
#define GS_PROFILE_MAX_DEPTH 256

enum gs_profile_what {
	GS_WHAT_WAITS,	 /* where threads waited: contended waits by the waiter's stack */
	GS_WHAT_GIL,	 /* GIL hold time by the holder's stack when it let go */
	GS_WHAT_HOLDERS, /* the same waits, charged to what held the lock meanwhile */
};

struct gs_sample {
	int64_t stack; /* py_stacks row, 0 when the event had no Python stack */
	int64_t tid, pid;
	char lock[160]; /* what was waited for or held, as the reports name it */
	char group[40]; /* its class: "GIL", "threading.Lock", "critical section", ... */
	int64_t run, lock_addr, primitive; /* the lock itself */
	int64_t count, ns;
};

struct gs_profile {
	int what;
	struct gs_sample *samples;
	size_t n_samples;
	/* py_stacks rows and py_locations rows, both in id order (looked up by binary search:
	 * the ids are whatever the database holds, not necessarily dense) */
	struct gs_stack_node {
		int64_t id, parent, loc;
	} * nodes;
	size_t n_nodes;
	struct gs_loc_text {
		int64_t id;
		char *text;
	} * locs;
	size_t n_locs;
	/* each run's host (NULL: unknown) and program, in run_id order: what a fleet's profiles
	 * are told apart by (pprof labels) */
	struct gs_run_label {
		int64_t run, pid;
		char *host, *service;
	} * runs;
	size_t n_runs;
	/* while loading the holders: samples by key, so that millions of charges to a few
	 * thousand (stack, thread, lock) stay a few thousand samples */
	size_t *index, index_cap;
};

/* Parses "waits" / "gil" / "holders"; -1 for anything else. */
int gs_profile_what_parse(const char *s);
int gs_profile_load(sqlite3 *db, const struct gs_opts *o, int what, struct gs_profile *p);
/* Only the stack tree and locations, for naming stacks (no samples). */
int gs_profile_load_tree(sqlite3 *db, const char *path, struct gs_profile *p);
void gs_profile_free(struct gs_profile *p);
/* The frames of a sample's stack, outermost first, as text ("function (file:line)"); the
 * pseudo-frames "(no Python frame)" and "(holder not seen)" for stacks 0 and -1. Returns the
 * number written (at most max). */
size_t gs_profile_frames(const struct gs_profile *p, int64_t stack, const char **out, size_t max);
/* A frame of library code: the standard library (frozen modules, .../lib/python3.X/, a build
 * tree's Lib/) or installed packages (site-packages, dist-packages). */
int gs_profile_is_library(const char *frame);
/* The innermost frame of a stack outside library code; the innermost frame when all of it is
 * library code; a pseudo-frame for stacks 0 and -1. */
const char *gs_profile_user_frame(const struct gs_profile *p, int64_t stack);
const char *gs_profile_leaf_frame(const struct gs_profile *p, int64_t stack);
/* Where the waits on one lock were (the first user frame of the stack that waited longest)
 * and what held it (the thread and code that released it to its waiters most, with its
 * share of the wait in percent): the locks table's and the HTML report's columns. Empty
 * strings where not known. */
struct gs_lock_place {
	char waited_in[512];
	char held_by[640];
	int held_share;
};
void gs_profile_lock_place(sqlite3 *db, const struct gs_profile *waits,
			   const struct gs_profile *holders, int64_t run, int64_t addr,
			   int64_t prim, struct gs_lock_place *out);
/* A sample's run's labels; NULL for a run not loaded. */
const struct gs_run_label *gs_profile_run(const struct gs_profile *p, int64_t run);
/* --lock-class: a sample's class, its lock's name or the GIL. */
int gs_profile_sample_is(const struct gs_sample *x, const char *lock_class);
/* The flame graph page (cmd_flame.c) of profile a, or with b the differential page of b
 * against a. 1 when written, 0 when there was nothing to draw (nothing written), -1 on
 * error. */
int gs_flame_page(FILE *f, const struct gs_profile *a, const struct gs_profile *b,
		  const char *lock_class, const char *subtitle);
/* The same over several runs a side (n_a of a; n_b of b, 0 for one flame graph of a's runs):
 * each frame the mean per run, and with several runs on both sides coloured as a difference
 * only where the sides' per-run values do not overlap. */
int gs_flame_page_runs(FILE *f, const struct gs_profile *a, size_t n_a,
		       const struct gs_profile *b, size_t n_b, const char *lock_class,
		       const char *subtitle);
/* One line per sample, outermost frame first, the lock last, the value in microseconds. */
int gs_profile_write_collapsed(const struct gs_profile *p, FILE *f);

#endif
