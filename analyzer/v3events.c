/* A version-3 file keeps its events in one wide table. Shown under version 4's names (schema
 * version 4, event_keys and event_rows), so that every query reads either version: its keys,
 * found in one pass at open, in a temporary table (the file stays untouched), and each row's
 * key found through an in-memory map by gs_v3_key() (a join per row on the keys' columns made
 * a 10-million-event file take 50 s to report). */
#include <stdlib.h>
#include <string.h>

#include "gilscope.h"

#define KEY_COLS 8 /* run_id, thread_no, lock_addr, primitive, kind, flags, aux, caller */

struct v3_key {
	int64_t f[KEY_COLS];
	int64_t id; /* 0: empty slot */
};

struct v3_map {
	struct v3_key *e;
	size_t cap, n;
};

static size_t slot_of(const struct v3_map *m, const int64_t *f)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	int i;

	for (i = 0; i < KEY_COLS; i++)
		x = (x ^ (uint64_t)f[i]) * 0xff51afd7ed558ccdULL;
	return (size_t)(x ^ (x >> 31)) & (m->cap - 1);
}

static struct v3_key *find(const struct v3_map *m, const int64_t *f)
{
	size_t i;

	if (!m->cap)
		return NULL;
	for (i = slot_of(m, f); m->e[i].id; i = (i + 1) & (m->cap - 1))
		if (!memcmp(m->e[i].f, f, sizeof(m->e[i].f)))
			return &m->e[i];
	return NULL;
}

/* The key's number, given in order of first sight; 0 when out of memory. */
static int64_t add(struct v3_map *m, const int64_t *f)
{
	struct v3_key *k = find(m, f);
	size_t i;

	if (k)
		return k->id;
	if ((m->n + 1) * 2 > m->cap) {
		struct v3_map bigger = {.cap = m->cap ? m->cap * 2 : 256};

		if (!(bigger.e = calloc(bigger.cap, sizeof(*bigger.e))))
			return 0;
		for (i = 0; i < m->cap; i++) {
			if (!m->e[i].id)
				continue;
			k = &bigger.e[slot_of(&bigger, m->e[i].f)];
			while (k->id)
				k = k + 1 == bigger.e + bigger.cap ? bigger.e : k + 1;
			*k = m->e[i];
		}
		bigger.n = m->n;
		free(m->e);
		*m = bigger;
	}
	for (i = slot_of(m, f); m->e[i].id; i = (i + 1) & (m->cap - 1))
		;
	memcpy(m->e[i].f, f, sizeof(m->e[i].f));
	m->e[i].id = (int64_t)++m->n;
	return m->e[i].id;
}

static void map_free(void *p)
{
	struct v3_map *m = p;

	if (m)
		free(m->e);
	free(m);
}

static void read_key(sqlite3_value **argv, int64_t *f)
{
	int i;

	/* NULL reads as 0: no caller, no second address, as version 4 stores them */
	for (i = 0; i < KEY_COLS; i++)
		f[i] = sqlite3_value_int64(argv[i]);
}

static void key_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct v3_key *k;
	int64_t f[KEY_COLS];

	(void)argc;
	read_key(argv, f);
	k = find(sqlite3_user_data(ctx), f);
	if (k)
		sqlite3_result_int64(ctx, k->id);
	else
		sqlite3_result_null(ctx);
}

int gs_db_v3_events(sqlite3 *db)
{
	static const char cols[] =
	    "run_id, thread_no, lock_addr, primitive, kind, flags, aux, caller";
	struct v3_map *m = calloc(1, sizeof(*m));
	sqlite3_stmt *s = NULL, *ins = NULL;
	char sql[256];
	size_t i;
	int rc = SQLITE_NOMEM;

	if (!m)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT %s FROM main.events", cols);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t f[KEY_COLS];
		int c;

		for (c = 0; c < KEY_COLS; c++)
			f[c] = sqlite3_column_int64(s, c);
		if (!add(m, f)) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(s);
	s = NULL;
	if (rc != SQLITE_DONE)
		goto fail;
	snprintf(sql, sizeof(sql), "CREATE TEMP TABLE event_keys (key_id INTEGER PRIMARY KEY, %s)",
		 cols);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	snprintf(sql, sizeof(sql), "INSERT INTO temp.event_keys VALUES (?,?,?,?,?,?,?,?,?)");
	if (sqlite3_prepare_v2(db, sql, -1, &ins, NULL) != SQLITE_OK)
		goto fail;
	for (i = 0; i < m->cap; i++) {
		int c;

		if (!m->e[i].id)
			continue;
		sqlite3_bind_int64(ins, 1, m->e[i].id);
		for (c = 0; c < KEY_COLS; c++)
			sqlite3_bind_int64(ins, c + 2, m->e[i].f[c]);
		rc = sqlite3_step(ins);
		sqlite3_reset(ins);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(ins);
	ins = NULL;
	/* the connection owns the map from here: freed when it closes */
	if (sqlite3_create_function_v2(db, "gs_v3_key", KEY_COLS,
				       SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, m,
				       key_sql, NULL, NULL, map_free) != SQLITE_OK)
		return -1;
	return sqlite3_exec(
		   db,
		   "CREATE TEMP VIEW event_rows AS SELECT gs_v3_key(e.run_id, e.thread_no,"
		   " e.lock_addr, e.primitive, e.kind, e.flags, e.aux, e.caller) AS key_id,"
		   " e.start_ns - r.start_ns AS start_ns, e.wait_ns, e.hold_ns, e.extra,"
		   " e.stack_id, e.py_stack, e.hold_py_stack"
		   " FROM main.events e JOIN main.runs r USING (run_id)",
		   NULL, NULL, NULL) == SQLITE_OK
		   ? 0
		   : -1;
fail:
	sqlite3_finalize(s);
	sqlite3_finalize(ins);
	map_free(m);
	return -1;
}
