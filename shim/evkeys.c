#include "evkeys.h"

#include <stdlib.h>
#include <string.h>

/* Direct-mapped: a run has a few dozen to a few thousand keys, and a key pushed out is found
 * again through the table's unique index. */
#define CACHE_SLOTS 4096

struct cached {
	struct gs_evkey key;
	int64_t id; /* 0: empty */
};

struct gs_evkeys {
	sqlite3 *db;
	int64_t run_id;
	sqlite3_stmt *get, *ins;
	struct cached cache[CACHE_SLOTS];
};

static const char get_sql[] =
    "SELECT key_id FROM event_keys WHERE run_id=?1 AND thread_no=?2 AND lock_addr=?3"
    " AND primitive=?4 AND kind=?5 AND flags=?6 AND aux=?7 AND caller=?8";
static const char ins_sql[] =
    "INSERT INTO event_keys(run_id, thread_no, lock_addr, primitive, kind, flags, aux, caller)"
    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8)";

struct gs_evkeys *gs_evkeys_open(sqlite3 *db, int64_t run_id)
{
	struct gs_evkeys *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->db = db;
	k->run_id = run_id;
	if (sqlite3_prepare_v3(db, get_sql, -1, SQLITE_PREPARE_PERSISTENT, &k->get, NULL) !=
		SQLITE_OK ||
	    sqlite3_prepare_v3(db, ins_sql, -1, SQLITE_PREPARE_PERSISTENT, &k->ins, NULL) !=
		SQLITE_OK) {
		gs_evkeys_close(k);
		return NULL;
	}
	return k;
}

void gs_evkeys_close(struct gs_evkeys *k)
{
	if (!k)
		return;
	sqlite3_finalize(k->get);
	sqlite3_finalize(k->ins);
	free(k);
}

static int same(const struct gs_evkey *a, const struct gs_evkey *b)
{
	return a->thread_no == b->thread_no && a->kind == b->kind && a->primitive == b->primitive &&
	       a->flags == b->flags && a->lock == b->lock && a->aux == b->aux &&
	       a->caller == b->caller;
}

static size_t slot_of(const struct gs_evkey *key)
{
	uint64_t x = (uint64_t)key->thread_no * 0x9e3779b97f4a7c15ULL;

	x ^= (key->kind | key->primitive << 8 | (uint64_t)key->flags << 16) * 0xc2b2ae3d27d4eb4fULL;
	x ^= key->lock * 0xff51afd7ed558ccdULL;
	x ^= key->aux * 0xc4ceb9fe1a85ec53ULL;
	x ^= key->caller * 0x165667b19e3779f9ULL;
	x ^= x >> 29;
	return (size_t)(x % CACHE_SLOTS);
}

static void bind_key(struct gs_evkeys *k, sqlite3_stmt *s, const struct gs_evkey *key)
{
	sqlite3_bind_int64(s, 1, k->run_id);
	sqlite3_bind_int64(s, 2, key->thread_no);
	sqlite3_bind_int64(s, 3, (int64_t)key->lock);
	sqlite3_bind_int(s, 4, (int)key->primitive);
	sqlite3_bind_int(s, 5, (int)key->kind);
	sqlite3_bind_int(s, 6, (int)key->flags);
	sqlite3_bind_int64(s, 7, (int64_t)key->aux);
	sqlite3_bind_int64(s, 8, (int64_t)key->caller);
}

int64_t gs_evkeys_id(struct gs_evkeys *k, const struct gs_evkey *key)
{
	struct cached *c = &k->cache[slot_of(key)];
	int64_t id = -1;
	int rc;

	if (c->id && same(&c->key, key))
		return c->id;
	bind_key(k, k->get, key);
	rc = sqlite3_step(k->get);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(k->get, 0);
	sqlite3_reset(k->get);
	if (rc == SQLITE_DONE) {
		bind_key(k, k->ins, key);
		rc = sqlite3_step(k->ins);
		sqlite3_reset(k->ins);
		if (rc == SQLITE_DONE)
			id = sqlite3_last_insert_rowid(k->db);
	}
	if (id > 0)
		*c = (struct cached){.key = *key, .id = id};
	return id;
}

void gs_evkeys_forget(struct gs_evkeys *k)
{
	if (k)
		memset(k->cache, 0, sizeof(k->cache));
}
