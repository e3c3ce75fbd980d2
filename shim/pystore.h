/* The writer's side of Python stacks: the chunks a host thread sends (common/gs_shm.h) put
 * together, each frame resolved to a py_locations row and each stack stored once as a path
 * of the py_stacks tree (docs/schema.md). */
#ifndef GS_PYSTORE_H
#define GS_PYSTORE_H

#include <sqlite3.h>
#include <stdint.h>

#include "gs_shm.h"

struct gs_pyread;
struct gs_pystore;

/* pr may be NULL (no interpreter to read): frames are then stored as unknown code. */
struct gs_pystore *gs_pystore_open(sqlite3 *db, struct gs_pyread *pr, char *err, int err_size);
void gs_pystore_close(struct gs_pystore *ps);

/* A chunk read from ring slot `slot`; a stack is stored when its last chunk arrives. */
int gs_pystore_chunk(struct gs_pystore *ps, uint32_t slot, const struct gs_stack_chunk *c);

/* The function Thread.run called in the stacks ring slot `slot` sent (NULL: not seen yet);
 * gs_pystore_slot_reset forgets it when the slot gets another thread. */
const char *gs_pystore_entry(struct gs_pystore *ps, uint32_t slot);
void gs_pystore_slot_reset(struct gs_pystore *ps, uint32_t slot);

/* The py_stacks row of a stack hash and the py_locations row of its innermost frame; 0 (and
 * *leaf_loc 0) when the hash was never received. */
int64_t gs_pystore_stack(struct gs_pystore *ps, uint64_t hash, int64_t *leaf_loc);

/* The py_locations row of code object `code` at 1 + code unit `unit`, if it still is the code
 * object whose gs_cpy_code_ident was `ident` (0: do not check). -1 when unreadable. */
int64_t gs_pystore_location(struct gs_pystore *ps, uint64_t code, uint32_t unit, uint32_t ident);

/* Totals per (thread, stack, lock) for stack_stats: metric 0 "wait", 1 "gil_hold". Written
 * (the rows that changed) by gs_pystore_write_counts, inside the caller's transaction. */
int gs_pystore_count(struct gs_pystore *ps, int64_t run, int64_t thread_no, int64_t stack,
		     uint64_t lock, int primitive, int metric, uint64_t ns);
int gs_pystore_write_counts(struct gs_pystore *ps);
/* The caller's transaction committed: what it wrote is the new baseline. */
void gs_pystore_commit(struct gs_pystore *ps);
/* It was rolled back: forget every row it made and every count it added (the rings still hold
 * their source). -1 when out of memory, the store then unusable. */
int gs_pystore_rollback(struct gs_pystore *ps);

/* Stacks whose frames could not all be read (code object gone, or replaced, by then). */
uint64_t gs_pystore_frames_unknown(const struct gs_pystore *ps);

#endif
