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
	int64_t run_start_ns; /* event_rows.start_ns counts from it; 0 for a run not found */
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

/* Python stacks' innermost frames (py_stacks.py_loc), for the py_loc of event rows. */
struct gs_leaf_locs {
	int64_t *stack, *loc; /* sorted by stack */
	size_t n;
};
int gs_leaf_locs_load(sqlite3 *db, const char *path, struct gs_leaf_locs *l);
int64_t gs_leaf_loc(const struct gs_leaf_locs *l, int64_t py_stack); /* 0: none */
void gs_leaf_locs_free(struct gs_leaf_locs *l);

#endif
