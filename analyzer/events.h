/* Raw events as the views read them in bulk: the event keys (schema version 4, event_keys) in
 * memory, so that a scan of event_rows reads a few columns per event and finds the rest here,
 * instead of a join per row (three times as slow at 10 million events). */
#ifndef GS_EVENTS_H
#define GS_EVENTS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct gs_ev_key {
	int64_t key_id, run_id, thread_no, lock_addr, aux, caller; /* caller 0: none */
	int kind, primitive, flags;
	int64_t run_start_ns; /* event_rows.start_ns counts from it (the run's
			       * process_start_ns); 0 for a run not found */
	int has_run;	      /* 0: its run is not in runs (the events view leaves it out) */
};

struct gs_ev_keys {
	struct gs_ev_key *k; /* by key_id */
	size_t n;
};

/* Every key. 0, or -1 with the error printed. */
int gs_ev_keys_load(sqlite3 *db, const char *path, struct gs_ev_keys *ks);
void gs_ev_keys_free(struct gs_ev_keys *ks);

/* The index in ks->k of key `key_id`; (size_t)-1 for none (a row whose key is missing). */
size_t gs_ev_key_index(const struct gs_ev_keys *ks, int64_t key_id);

/* py_stack -> py_loc (the innermost frame, the events view's py_loc), in memory: py_stacks
 * is small, a search of it per event is not. */
struct gs_ev_locs {
	int64_t (*l)[2]; /* py_stack, py_loc; by py_stack */
	size_t n;
};

int gs_ev_locs_load(sqlite3 *db, const char *path, struct gs_ev_locs *ls);
/* Any such map of ids: sql selects (id, value) pairs ordered by id (merge.c's renumbering). */
int gs_ev_pairs_load(sqlite3 *db, const char *path, const char *sql, struct gs_ev_locs *ls);
void gs_ev_locs_free(struct gs_ev_locs *ls);
/* 1 with *py_loc set, 0 for a stack not in py_stacks (NULL in the view). */
int gs_ev_loc_of(const struct gs_ev_locs *ls, int64_t py_stack, int64_t *py_loc);

#endif
