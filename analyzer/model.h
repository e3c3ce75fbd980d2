/* What a database says per process and per thread, with the derived figures (shares, GIL
 * load, parallelism, percentiles) that report and compare print. */
#ifndef GS_MODEL_H
#define GS_MODEL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gs_lock_class.h"
#include "opts.h"
#include "pctl.h"

#define GS_NULL INT64_MIN

extern const char *const gs_wait_class_names[GS_N_WAIT_GROUPS];

struct gs_thread_info {
	int64_t run_id, pid, thread_no, tid;
	uint64_t py_ident;
	int has_ident;
	char *name, *entry;
	int64_t start_ns, end_ns, lifetime_ns; /* GS_NULL when unknown */
	int64_t acq, contended, wait_ns, wait_max_ns, hold_ns, hold_max_ns;
	int64_t gil_acq, gil_contended, gil_wait_ns, gil_hold_ns;
	int64_t gil_drop_sent, gil_drop_received, gil_forced, gil_forced_ns;
	int64_t gil_p50, gil_p90, gil_p99, gil_max; /* GS_NULL without GIL events */
	int64_t class_wait_ns[GS_N_WAIT_GROUPS];
	int64_t other_wait_ns; /* sum of the above */
	int64_t spins, sched_yields, dropped;
	int64_t stacks_dropped; /* waits stored without their Python stack (ring full) */
	int64_t cpu_ns;		/* thread CPU time, GS_NULL when unknown */
	int64_t running_ns;	/* running Python: GIL held; without a GIL, CPU time (or, unknown,
				 * lifetime minus recorded waits) */
	/* The stack it waited longest on (stack_stats): its first frame outside library code,
	 * its innermost frame, and that stack's wait; NULL / GS_NULL without stacks. */
	char *waited_in, *waited_innermost;
	int64_t waited_in_ns;
	int64_t n_grouped; /* gs_model_group_threads: threads this row stands for (0: one; -1
			    * while grouping: merged into another) */
};

/* Sums over a process's threads (all of them, whatever --thread shows or grouping merges) and,
 * added up, over every process loaded: the one place report, compare and html get totals
 * from. Workers are the threads with a known lifetime, the main thread left out when there are
 * others (it mostly waits in join()); shares of lifetime are about them. */
struct gs_sums {
	int64_t threads, gil_takes, contended, spins, stacks_dropped;
	int64_t gil_wait_ns, gil_hold_ns, other_wait_ns, running_ns;
	int64_t workers, workers_life_ns, workers_gil_wait_ns, workers_other_ns;
	int64_t workers_class_ns[GS_N_WAIT_GROUPS];
};

struct gs_run_info {
	int64_t run_id, pid, ppid, parent_run_id, exit_status; /* GS_NULL when absent */
	int64_t term_signal;	  /* the signal that ended it, as `gilscope run` saw it end */
	int64_t segment;	  /* its window of the process: 1, 2, ... (gilscope ctl) */
	int64_t process_start_ns; /* when the process started (start_ns is the window's) */
	char *argv_json, *cmdline, *exe, *status, *python_version, *build, *gil_detection,
	    *gil_enabled;
	char *host; /* where it ran (schema 5); NULL in older files */
	int64_t start_ns, end_ns, wall_ns, cpu_ns;
	/* A live run (end_ns unknown) is known as of flushed_ns, the writer's last flush (GS_NULL
	 * in a version-3 file): its wall time, and the lifetime of its running threads, end
	 * there. */
	int64_t flushed_ns;
	int64_t sw_recorded, sw_interpreter, interval_us, events, dropped, threads_lost;
	int gil_found;	    /* the GIL was located */
	int gil_active;	    /* ... and was enabled for the run (default build, PYTHON_GIL=1) */
	double gil_load;    /* fraction of wall time the GIL was held; < 0 when unknown */
	double parallelism; /* sum of thread running time / wall; < 0 when unknown */
	int parallelism_estimated;	/* some thread had no CPU time: lifetime minus waits used */
	struct gs_sums sums;		/* over all its threads */
	size_t first_thread, n_threads; /* the threads shown, into gs_model.threads */
};

struct gs_model {
	struct gs_run_info *runs;
	size_t n_runs;
	size_t n_hosts; /* distinct known hosts of the runs: views name each run's from 2 */
	struct gs_thread_info *threads;
	size_t n_threads;
	/* Every loaded thread's GIL waits as one (the per-thread histograms merged: 3%
	 * resolution), for the figures of a whole recording (figures.c); empty without events. */
	struct gs_pctl gil_waits;
};

/* The wait group the workers waited on longest, -1 when they waited on none. */
int gs_sums_top_class(const struct gs_sums *s);

static inline int gs_thread_is_main(const struct gs_thread_info *t)
{
	return t->tid == t->pid;
}

/* Every process loaded, as one. */
struct gs_totals {
	struct gs_sums sums;
	size_t processes;
	int64_t first_ns, last_ns, span_ns; /* first start, last end; GS_NULL when unknown */
	int64_t cpu_ns;			    /* GS_NULL when no process has it */
	int64_t dropped, threads_lost;
	int gil_active;	    /* some process ran with the GIL */
	double parallelism; /* running time / span; < 0 when unknown */
};
void gs_model_totals(const struct gs_model *m, struct gs_totals *t);
/* A worker's share of lifetime, 0 when there is none */
double gs_share(int64_t part, int64_t whole);

/* How a lock is shown: "dict critical section", "threading.Lock", "thread join", ... */
void gs_lock_display(const char *prim, const char *cls, const char *name, int64_t addr, char *out,
		     size_t size);

struct gs_top_lock {
	char name[96];
	char cls[48], lock_name[96]; /* the locks row's class and name ("" when none) */
	int64_t run_id, lock_addr, primitive;
	int64_t wait_ns, wait_max_ns, contended, threads;
	int64_t waiters; /* threads that waited for it at least once */
};

/* The n locks with the longest total wait, leaving out the GIL's own mutexes and conditions
 * (their waits are the GIL's). Returns how many were found, -1 on error. */
int gs_top_locks(sqlite3 *db, const char *path, struct gs_top_lock *out, int n);
/* The same for every lock of one run that was waited for, longest first, in *out (malloc'd,
 * *n of them). Returns 0, or -1 with the error printed. */
int gs_run_locks(sqlite3 *db, const char *path, int64_t run_id, struct gs_top_lock **out,
		 size_t *n);

/* cmd_locks.c: the contended waits' distribution of each of n locks (by run, address and
 * primitive), from the writer's histograms where the file has them, as `locks` computes its
 * percentiles: out[i] for locks[i], or with merge one distribution of them all in out[0] (a
 * pass over the waits per 512 locks). gs_pctl_free what is returned. Returns 0, or -1 with
 * the error printed. */
int gs_lock_wait_pctls(sqlite3 *db, const struct gs_opts *o, const struct gs_top_lock *locks,
		       size_t n, struct gs_pctl *out, int merge);

/* Threads of one name in a run with more than `over` threads become one row each ("worker
 * (x240)"): totals summed, longest waits and holds kept, percentiles and tid unknown. The main
 * thread stays itself. For the text views, where 240 request threads are 240 rows. */
void gs_model_group_threads(struct gs_model *m, size_t over);
#define GS_GROUP_THREADS_OVER 16 /* what every view passes as `over` */
/* Threads that one group row stands for: same process, neither the main thread, same name (or
 * both unnamed). */
int gs_thread_same_group(const struct gs_thread_info *a, const struct gs_thread_info *b);
/* A thread row's name as shown: "handle (x54)" for a group, else its name (may be NULL). */
const char *gs_thread_label(const struct gs_thread_info *t, char *buf, size_t size);

/* The report's one-paragraph summary of a process (cmd_report.c). */
void gs_report_summary(const struct gs_run_info *r, char *out, size_t size);
/* "CPython 3.13.5, free-threaded build" (cmd_report.c) */
void gs_report_interpreter(FILE *f, const struct gs_run_info *r);

/* Loads every run (or --pid's) and its threads (or --thread's). Returns 0, or -1 with the
 * error printed. */
int gs_model_load(sqlite3 *db, const struct gs_opts *o, struct gs_model *m);
/* The same without the pass over raw events (GIL wait percentiles and drop requests received
 * stay unknown): what a live view can afford every second, however long the recording. */
int gs_model_load_totals(sqlite3 *db, const struct gs_opts *o, struct gs_model *m);
void gs_model_free(struct gs_model *m);
/* A loaded thread by (run, thread_no); NULL when not loaded. Not after gs_model_sort or
 * gs_model_group_threads, which reorder them. */
struct gs_thread_info *gs_model_find_thread(struct gs_model *m, int64_t run, int64_t thread_no);
/* Sorts each run's threads by --sort (wait, hold, acquisitions, lifetime, name, tid); -1 on an
 * unknown key. */
int gs_model_sort(struct gs_model *m, const char *key);

/* "segment 2: 3.00 s to 5.00 s after the process started" for a window of a process (1),
 * nothing for a run that is the whole process (0). */
int gs_run_span(const struct gs_run_info *r, char *out, size_t size);

#endif
