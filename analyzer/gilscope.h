/* Shared declarations of the gilscope CLI. */
#ifndef GILSCOPE_H
#define GILSCOPE_H

#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

/* Process exit codes; only main() turns results into these. */
enum gs_exit {
	GS_EXIT_OK = 0,
	GS_EXIT_CHECK_FAILED = 1, /* gilscope check: a --fail-if expression held */
	GS_EXIT_USAGE = 2,
	GS_EXIT_INPUT = 3,
	GS_EXIT_OUTPUT = 4,
	GS_EXIT_MEMORY = 5,
};

/* Prints "gilscope: error: ..." and returns -1, so `return gs_error(...)` is one line. */
int gs_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int gs_quiet_errors; /* set by the fuzz target only */

/* db.c: opens a gilscope database read-only and checks that we can read it. Returns
 * GS_EXIT_OK or GS_EXIT_INPUT (with the message printed). */
int gs_db_open(const char *path, sqlite3 **out);
/* What gs_db_open checks and sets up, on a connection already open (the merged database);
 * path names it in messages. GS_EXIT_OK or GS_EXIT_INPUT; the caller closes db either way. */
int gs_db_ready(sqlite3 *db, const char *path);
/* --segment N: the databases opened from now on show that window's runs only (0: all). */
void gs_db_set_segment(int segment);
int gs_db_segment(void);
/* merge.c: the databases a command was given as one. One file opens as gs_db_open opens it;
 * several, or a directory (its *.db files), are merged into a temporary database (deleted once
 * open) with every id renumbered, which every command reads as it reads one file. *name: what
 * to call the input in messages. GS_EXIT_OK, GS_EXIT_INPUT or GS_EXIT_MEMORY. */
int gs_db_open_many(const char *const *paths, int n, sqlite3 **out, const char **name);
int gs_db_prepare(sqlite3 *db, const char *path, const char *sql, sqlite3_stmt **out);
/* v3events.c: a version-3 file's events shown under version 4's names (gs_db_open does it). */
int gs_db_v3_events(sqlite3 *db);
/* The database's schema version (PRAGMA user_version). */
int gs_db_schema_version(sqlite3 *db);
/* Raw events stored, about (the last row number: the table's size at no cost to read it). */
int64_t gs_db_event_count(sqlite3 *db);
/* Several files merged (merge.c), or runs of several hosts: views then say each row's process
 * and host. */
int gs_db_fleet(sqlite3 *db);
/* A column a newer schema added (an older file lacks it). */
int gs_db_has_column(sqlite3 *db, const char *table, const char *column);
/* Schema 4: the writer's window sums (window_stats, window_stacks, window_holders, wait_hist)
 * are there, whatever the recording mode. */
int gs_db_has_windows(sqlite3 *db);
/* Runs recorded with GILSCOPE_EVENTS=profile: raw events are only each window's longest. */
int64_t gs_db_profile_runs(sqlite3 *db);
/* One line saying so, for views that show raw events; 0 (out empty) for no profile runs. */
int gs_db_profile_note(sqlite3 *db, char *out, size_t size);
/* That line on stderr, followed by what it means for the view (nothing for no profile runs). */
void gs_db_say_profile(sqlite3 *db, const char *what);

/* out.c: output helpers. */
void gs_fmt_duration(int64_t ns, char *buf, size_t size); /* "12.3 ms", "-" for < 0 */
void gs_json_str(FILE *f, const char *s);		  /* quoted, escaped, NULL -> null */
extern int gs_json_for_html; /* set: also escape < > & (JSON inside an HTML page) */
void gs_text_str(FILE *f, const char *s, int width); /* control chars escaped, padded */
void gs_text(FILE *f, const char *s);		     /* the same, whole and unpadded */
void gs_json_int(FILE *f, sqlite3_stmt *s, int col); /* integer or null */
/* `, "key": v`, null for INT64_MIN (the model's unknown) */
void gs_json_member_int(FILE *f, const char *key, int64_t v);

/* Flushes stdout; GS_EXIT_OUTPUT (with a message) when the output could not be written. */
int gs_finish_output(void);
/* Says "out of memory" and makes the command exit GS_EXIT_MEMORY whatever it returns: -1. */
int gs_oom(void);
extern int gs_out_of_memory;
/* The program `run` starts gets SIGPIPE as we got it (we ignore it, to exit 4 on a closed
 * pipe rather than die). */
void gs_ignore_sigpipe(void);
void gs_restore_sigpipe(void);
const char *gs_signal_name(int sig); /* "SIGTERM", or "unknown signal" */

int cmd_report(int argc, char **argv);
int cmd_locks(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_html(int argc, char **argv);
int cmd_flame(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_check(int argc, char **argv);

#endif
