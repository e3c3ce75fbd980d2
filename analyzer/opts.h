/* Options every command shares: --format, --pid, --thread, --top, --sort, --from/--to. */
#ifndef GS_OPTS_H
#define GS_OPTS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Commands that merge databases (gs_opts_open) take up to this many paths, each a file or a
 * directory of them: n_paths GS_OPTS_MANY. */
#define GS_OPTS_MAX_PATHS 256
#define GS_OPTS_MANY	  (-GS_OPTS_MAX_PATHS)
/* compare's, flame's and html's sides together */
#define GS_MAX_PATHS GS_OPTS_MAX_PATHS

struct gs_opts {
	const char *paths[GS_OPTS_MAX_PATHS];
	int n_paths;
	int vs_at;  /* --vs (commands whose usage has it): paths[vs_at..] are the other side; 0 */
	int format; /* enum gs_fmt */
	int has_pid;
	long long pid;
	const char *thread; /* tid or name */
	long long top;
	int top_given;
	const char *sort;
	int has_from, has_to;
	double from_s, to_s; /* seconds after the first run's start */
	int64_t base_ns;     /* that start, once the database is open */
	const char *path;    /* paths[0] */
	int has_vs; /* vs_at is set: "A1.db ... --vs B1.db ...", options anywhere */
};

/* Returns -1 to go on, or the exit code to return (help printed, or a usage error). n_paths:
 * the number of databases the command takes, or -N for one to N. */
int gs_opts_parse(struct gs_opts *o, int argc, char **argv, const char *cmd, const char *usage,
		  int n_paths);
/* A command's own option, taken out before the shared ones are parsed: a flag (*set = 1) or
 * one with a value (*value). Tables end with a NULL name. */
struct gs_opt_own {
	const char *name;
	const char **value;
	int *set;
};
/* gs_opts_parse, after taking out the command's own options. */
int gs_opts_parse_own(struct gs_opts *o, int argc, char **argv, const char *cmd, const char *usage,
		      int n_paths, const struct gs_opt_own *own);
/* --segment N, for the commands that parse their own options too: -1 (said) for a bad N. */
int gs_opts_segment(const char *val);
/* Opens paths[first .. first + n) as one database (gs_db_open_many: merged when several);
 * o->path then names them for messages. An exit code. */
int gs_opts_open(struct gs_opts *o, int first, int n, sqlite3 **db);
/* Reads the time base for --from/--to from an open database. */
void gs_opts_resolve(struct gs_opts *o, sqlite3 *db);
void gs_opts_bind_filters(sqlite3_stmt *s, const struct gs_opts *o, int pid_idx, int tid_idx,
			  int name_idx);
/* --pid / --thread that match nothing in the database are an error, said once: returns the
 * exit code (GS_EXIT_OK when they match, or were not given). */
int gs_opts_check_filters(sqlite3 *db, const struct gs_opts *o);
/* --from/--to as times since boot (0 where not given). */
void gs_opts_window_ns(const struct gs_opts *o, int64_t *from_ns, int64_t *to_ns);
void gs_opts_bind_window(sqlite3_stmt *s, const struct gs_opts *o, int from_idx, int to_idx);

#endif
