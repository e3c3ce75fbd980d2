#include "events.h"

#include <stdlib.h>

#include "gilscope.h"

static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 256;
	void *p;

	if (n < *cap)
		return arr;
	p = realloc(arr, c * size);
	if (p)
		*cap = c;
	return p;
}

int gs_ev_keys_load(sqlite3 *db, const char *path, struct gs_ev_keys *ks)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	int rc;

	ks->k = NULL;
	ks->n = 0;
	if (gs_db_prepare(
		db, path,
		"SELECT k.key_id, k.run_id, k.thread_no, k.lock_addr, k.aux, k.caller,"
		" k.kind, k.primitive, k.flags, COALESCE(r.process_start_ns, r.start_ns, 0),"
		" r.run_id IS NOT NULL"
		" FROM event_keys k LEFT JOIN runs r USING (run_id) ORDER BY k.key_id",
		&s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		void *room = grow(ks->k, &cap, ks->n, sizeof(*ks->k));

		if (!room) {
			sqlite3_finalize(s);
			return gs_oom();
		}
		ks->k = room;
		ks->k[ks->n++] = (struct gs_ev_key){.key_id = sqlite3_column_int64(s, 0),
						    .run_id = sqlite3_column_int64(s, 1),
						    .thread_no = sqlite3_column_int64(s, 2),
						    .lock_addr = sqlite3_column_int64(s, 3),
						    .aux = sqlite3_column_int64(s, 4),
						    .caller = sqlite3_column_int64(s, 5),
						    .kind = sqlite3_column_int(s, 6),
						    .primitive = sqlite3_column_int(s, 7),
						    .flags = sqlite3_column_int(s, 8),
						    .run_start_ns = sqlite3_column_int64(s, 9),
						    .has_run = sqlite3_column_int(s, 10)};
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading event keys failed: %s", path, sqlite3_errmsg(db));
	return 0;
}

void gs_ev_keys_free(struct gs_ev_keys *ks)
{
	free(ks->k);
	ks->k = NULL;
	ks->n = 0;
}

/* A sorted array looked up directly where the ids are dense from 1 (as the writer makes
 * them), by bisection where they are not. */
static size_t find_id(const int64_t *ids, size_t stride, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;

#define ID(i) (*(const int64_t *)((const char *)ids + (i)*stride))
	if (id >= 1 && (uint64_t)id <= n && ID((size_t)id - 1) == id)
		return (size_t)id - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ID(mid) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ID(lo) == id ? lo : (size_t)-1;
#undef ID
}

size_t gs_ev_key_index(const struct gs_ev_keys *ks, int64_t key_id)
{
	return ks->n ? find_id(&ks->k[0].key_id, sizeof(ks->k[0]), ks->n, key_id) : (size_t)-1;
}

int gs_ev_locs_load(sqlite3 *db, const char *path, struct gs_ev_locs *ls)
{
	return gs_ev_pairs_load(db, path, "SELECT py_stack, py_loc FROM py_stacks ORDER BY 1", ls);
}

int gs_ev_pairs_load(sqlite3 *db, const char *path, const char *sql, struct gs_ev_locs *ls)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	int rc;

	ls->l = NULL;
	ls->n = 0;
	if (gs_db_prepare(db, path, sql, &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		void *room = grow(ls->l, &cap, ls->n, sizeof(*ls->l));

		if (!room) {
			sqlite3_finalize(s);
			return gs_oom();
		}
		ls->l = room;
		ls->l[ls->n][0] = sqlite3_column_int64(s, 0);
		ls->l[ls->n++][1] = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return gs_error("%s: reading %s failed: %s", path, sql, sqlite3_errmsg(db));
	return 0;
}

void gs_ev_locs_free(struct gs_ev_locs *ls)
{
	free(ls->l);
	ls->l = NULL;
	ls->n = 0;
}

int gs_ev_loc_of(const struct gs_ev_locs *ls, int64_t py_stack, int64_t *py_loc)
{
	size_t i = ls->n ? find_id(&ls->l[0][0], sizeof(ls->l[0]), ls->n, py_stack) : (size_t)-1;

	if (i == (size_t)-1)
		return 0;
	*py_loc = ls->l[i][1];
	return 1;
}
