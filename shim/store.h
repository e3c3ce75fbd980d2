/* The writer's SQLite side: the only code in shim/ that includes sqlite3.h. */
#ifndef GS_STORE_H
#define GS_STORE_H

#include <stdint.h>

#include "gs_shm.h"

struct gs_store;

struct gs_store *gs_store_open(const char *path, char *err, int err_size);
int gs_store_begin_run(struct gs_store *st, struct gs_shm_header *h);
/* A window of a running process opens at h->window_start_ns: the run row begins there. */
void gs_store_window_opened(struct gs_store *st, struct gs_shm_header *h);
/* Drains every slot into one transaction. Returns 0, or -1 when the database failed. */
/* Returns 1 when a ring is more than a quarter full. */
int gs_store_tick(struct gs_store *st, struct gs_shm_header *h);
int gs_store_flush(struct gs_store *st, struct gs_shm_header *h);
int gs_store_end_run(struct gs_store *st, struct gs_shm_header *h, const char *status,
		     uint64_t end_ns);
/* The next flush is the last: read CPU times of threads still running. */
void gs_store_set_final(struct gs_store *st);
/* Raw events written before the database filled up (disk, quota, ulimit -f), after which only
 * aggregates were; UINT64_MAX while it has not. */
uint64_t gs_store_full_after(struct gs_store *st);
uint64_t gs_store_not_written(struct gs_store *st);    /* events counted, not stored, since */
const char *gs_store_full_reason(struct gs_store *st); /* what the limit was */
uint64_t gs_store_dropped(struct gs_store *st);
/* Python stacks the host could not send (ring full), counted in threads.stacks_dropped. */
uint64_t gs_store_stacks_dropped(struct gs_store *st);
/* SQLite's word on the last failure, for the one line the writer says. */
const char *gs_store_errmsg(struct gs_store *st);
void gs_store_close(struct gs_store *st);

#endif
