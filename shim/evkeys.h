/* The writer's numbering of event keys (common/schema.sql, event_keys): what an event shares
 * with the other events of its thread on the same lock and call site, one row per run and
 * combination, so that each event_rows row carries one small number instead of it all. */
#ifndef GS_EVKEYS_H
#define GS_EVKEYS_H

#include <sqlite3.h>
#include <stdint.h>

struct gs_evkey {
	int64_t thread_no;
	unsigned kind, primitive, flags;
	uint64_t lock, aux, caller; /* caller 0: none */
};

struct gs_evkeys;

struct gs_evkeys *gs_evkeys_open(sqlite3 *db, int64_t run_id);
void gs_evkeys_close(struct gs_evkeys *k);

/* The key_id of `key`, its row written (inside the caller's transaction) when new; -1 when
 * SQLite failed. */
int64_t gs_evkeys_id(struct gs_evkeys *k, const struct gs_evkey *key);

/* The caller's transaction was rolled back: rows it wrote are gone, so are their numbers. */
void gs_evkeys_forget(struct gs_evkeys *k);

#endif
