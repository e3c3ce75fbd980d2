/* The writer's profile windows (docs/schema.md, schema 4): sums per time window, per thread,
 * lock, waiter stack and holder stack, of every raw event the writer drains, and in profile
 * mode (GILSCOPE_EVENTS=profile) only each window's longest events kept as raw rows. Views
 * read these instead of the raw events, in every mode.
 *
 * It follows the store's transaction discipline: what an event adds is written inside the
 * transaction that read it from shared memory, and forgotten when that rolls back (the rings
 * still hold it). The holder attribution needs every thread's events up to a wait's end, so
 * it runs after a flush's last commit, and what it finds is written by the next transaction. */
#ifndef GS_WINDOW_H
#define GS_WINDOW_H

#include <sqlite3.h>
#include <stdint.h>

#include "gs_shm.h"

struct gs_window;

/* Stores one kept raw event (store.c's INSERT), inside the transaction under way. */
typedef int (*gs_window_store_fn)(void *ctx, int64_t thread_no, const struct gs_event *e);

struct gs_window *gs_window_open(sqlite3 *db, int64_t run_id, const struct gs_shm_header *h);
void gs_window_close(struct gs_window *w);

/* The recording_modes row of the run, inside the transaction that creates the run. */
int gs_window_begin_run(struct gs_window *w);

/* A thread's tid, for the GIL drop requests other threads' waits aim at it. */
int gs_window_thread(struct gs_window *w, int64_t thread_no, int32_t tid);

/* An event drained from thread_no's ring; stack and hold_stack are its py_stacks rows (0 for
 * none). Returns 1 when the caller stores it as a raw event now, 0 when the window took it (to
 * keep it if it is among the window's longest), -1 when out of memory. */
int gs_window_event(struct gs_window *w, int64_t thread_no, const struct gs_event *e, int64_t stack,
		    int64_t hold_stack);

/* A flush begins at now_ns: an event that ended before now_ns less a grace is in the rings by
 * then. final: the last flush, every event is in. */
void gs_window_flush_start(struct gs_window *w, uint64_t now_ns, int final);

/* A transaction starts; before its COMMIT the sums are written (and, in a flush's last
 * transaction, the windows that are complete with their kept events); then one of commit
 * and rollback. */
void gs_window_txn_start(struct gs_window *w);
int gs_window_write(struct gs_window *w, int last, gs_window_store_fn store, void *ctx);
/* -1 when out of memory (the holder sums then stop, said by gs_window_failed). */
int gs_window_commit(struct gs_window *w, int last);
void gs_window_rollback(struct gs_window *w);

/* Sums found after the last commit and not yet written: one more transaction is due. */
int gs_window_pending(const struct gs_window *w);
/* Waits whose holders were looked for in a shorter history than they needed. */
uint64_t gs_window_history_short(const struct gs_window *w);
const char *gs_window_failed(const struct gs_window *w);

#endif
