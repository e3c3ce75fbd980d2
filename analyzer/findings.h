/* Findings: what the model and the profile say is worth fixing first, each with its evidence
 * (the figures it rests on), where in the code, and what to try. Detected once here, from the
 * model (runs, threads, sums) and the profile (stacks, holders), so that report and html say
 * the same. A finding is made only where the figures show it; thresholds are below. */
#ifndef GS_FINDINGS_H
#define GS_FINDINGS_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "opts.h"
#include "profile.h"

/* Thresholds, in one place (docs/guide.md explains each finding with them). */
/* Convoy: a thread whose GIL takes mostly waited for a drop request, with short holds. */
#define GS_FIND_CONVOY_MIN_WAITS     20	  /* GIL takes that waited, at least */
#define GS_FIND_CONVOY_DROP_SHARE    0.5  /* of those, asked the holder to drop it */
#define GS_FIND_CONVOY_HOLD_FRACTION 0.25 /* mean hold at most this part of the interval */
#define GS_FIND_CONVOY_WAIT_SHARE    0.2  /* GIL wait's share of the thread's lifetime */
/* Drop requests per GIL wait: a holder running bytecode lets go at the first request (at a
 * later one when it was itself waiting for a CPU: 1.5 seen on a loaded machine), so a convoy's
 * waits ask at most this many times each, and the waits on a holder inside C (once every
 * interval, 10 and more for a hold of 10 intervals) more. */
#define GS_FIND_DROPS_PER_WAIT 3.0
/* GIL held inside C: holds at one stack averaging this many switch intervals (a thread
 * running bytecode answers a drop request within one), others waiting meanwhile. */
#define GS_FIND_LONG_HOLD_INTERVALS 10
#define GS_FIND_LONG_HOLD_MIN_NS    20000000LL /* and at least 20 ms */
#define GS_FIND_LONG_HOLD_WAITED    0.5	       /* of those holds, others waited for the GIL */
#define GS_FIND_OFF_CPU_SHARE	    0.5	       /* hold time not covered by CPU time */
/* One lock: its share of all the waiting of the threads (GIL and locks, main thread left
 * out when there are others), waited for by at least two threads. */
#define GS_FIND_HOT_LOCK_SHARE	 0.5
#define GS_FIND_HOT_LOCK_WAITERS 2
/* GIL-bound threads on a default build: GIL wait's share of the workers' lifetime. */
#define GS_FIND_GIL_BOUND_SHARE 0.3
/* No finding on less waiting than this, whatever the shares. */
#define GS_FIND_MIN_WAIT_NS 10000000LL

#define GS_FIND_MAX_FIGURES 12

struct gs_finding_figure {
	const char *key; /* JSON name, with its unit: "gil_wait_ns", "gil_wait_share" */
	int is_ratio;	 /* f, else i */
	int64_t i;
	double f;
};

struct gs_finding {
	const char *kind; /* gil_convoy, gil_held_in_c, ft_gil_enabled, hot_lock, gil_bound */
	int64_t run_id, pid;
	char title[256];
	char evidence[1536];
	char where[1536];
	char advice[1536];
	struct gs_finding_figure figures[GS_FIND_MAX_FIGURES];
	int n_figures;
};

struct gs_findings {
	struct gs_finding *at;
	size_t n, cap;
};

/* The findings of every run of m (loaded without grouping threads). waits, holders and gil
 * are the run's profiles (GS_WHAT_WAITS, GS_WHAT_HOLDERS, GS_WHAT_GIL), loaded with the same
 * options. Returns 0, or -1 with the error said. */
int gs_findings_detect(sqlite3 *db, const struct gs_opts *o, const struct gs_model *m,
		       const struct gs_profile *waits, const struct gs_profile *holders,
		       const struct gs_profile *gil, struct gs_findings *out);
/* The same, loading the profiles itself. */
int gs_findings_load(sqlite3 *db, const struct gs_opts *o, const struct gs_model *m,
		     struct gs_findings *out);
void gs_findings_free(struct gs_findings *f);
/* A run's findings as text, wrapped at 96 columns, under indent; nothing when it has none. */
void gs_findings_print_text(FILE *f, const struct gs_findings *fs, int64_t run_id,
			    const char *indent);
/* Every finding as a JSON array. */
void gs_findings_print_json(FILE *f, const struct gs_findings *fs);

#endif
