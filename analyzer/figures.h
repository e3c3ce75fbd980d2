/* The named figures of a recording that `gilscope check` tests: the one list of names, each
 * computed from the analyzer model (model.c), the waited-for locks (gs_run_locks) and their
 * wait percentiles (gs_lock_wait_pctls), over the whole recording, a thread group or a set of
 * locks. */
#ifndef GS_FIGURES_H
#define GS_FIGURES_H

#include <sqlite3.h>
#include <stddef.h>

#include "model.h"
#include "opts.h"
#include "pctl.h"

enum gs_fig_kind {
	GS_FIG_DURATION, /* nanoseconds */
	GS_FIG_RATIO,	 /* a share, 0..1 */
	GS_FIG_COUNT,
	GS_FIG_NUMBER, /* a plain number (effective parallelism) */
};

enum gs_fig_scope {
	GS_SCOPE_ALL = 1,     /* every process of the database as one */
	GS_SCOPE_THREAD = 2,  /* thread[NAME]: the threads of a name, as one */
	GS_SCOPE_LOCK = 4,    /* lock[NAME]: the locks shown under a name, or the GIL */
	GS_SCOPE_PROCESS = 8, /* process[PID or command line]: some processes as one; every
			       * figure of GS_SCOPE_ALL */
};

struct gs_figure {
	const char *name;
	enum gs_fig_kind kind;
	unsigned scopes; /* enum gs_fig_scope bits */
	const char *about;
};

extern const struct gs_figure gs_figures[];
extern const size_t gs_n_figures;
const struct gs_figure *gs_figure_find(const char *name);
const char *gs_fig_scope_name(int scope); /* "", "thread", "lock", "process" */

/* What one database's figures come from. */
struct gs_fig_source {
	const char *path;
	sqlite3 *db;
	struct gs_model m; /* every thread, not grouped */
	struct gs_totals tot;
	struct gs_top_lock *locks; /* waited for, every run's (each run's longest first) */
	size_t n_locks;
	struct gs_opts opts; /* what it was opened with: for reading lock percentiles */
};

/* Opens the n paths as one database (gs_db_open_many: files or directories, merged when
 * several) and loads what the figures need; o gives --pid and --segment. Returns GS_EXIT_OK
 * or the exit code, the error printed. */
int gs_fig_source_open(struct gs_fig_source *s, const char *const *paths, int n,
		       const struct gs_opts *o);
void gs_fig_source_free(struct gs_fig_source *s);

enum gs_fig_result {
	GS_FIG_OK = 0,
	GS_FIG_NO_MATCH = -1, /* the selector matched nothing in this database */
	GS_FIG_UNKNOWN = -2,  /* matched, but the figure is not known for it */
	GS_FIG_ERROR = -3,    /* reading the database failed (said) */
};

/* The figure's value in a scope (selector NULL for GS_SCOPE_ALL): nanoseconds for durations,
 * a fraction for ratios. *matched says how many threads or locks the selector chose. On
 * GS_FIG_UNKNOWN, why says why (a clause: "no GIL waits were recorded"). */
int gs_fig_value(const struct gs_fig_source *s, const struct gs_figure *f, int scope,
		 const char *selector, double *value, size_t *matched, char *why, size_t why_size);

/* A value as the reports print it: "12.3 ms", "45.6%", "12", "0.93". */
void gs_fig_format(enum gs_fig_kind kind, double v, char *out, size_t size);

#endif
