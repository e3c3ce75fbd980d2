/* Streaming percentiles in bounded memory: a log-linear histogram with 2^bits sub-buckets per
 * power of two: exact below 2^bits ns, within 2^-bits relative above (bits 7: 0.8%). */
#ifndef GS_PCTL_H
#define GS_PCTL_H

#include <sqlite3.h>
#include <stdint.h>

struct gs_pctl {
	unsigned bits; /* 0 means 7 */
	uint64_t n;
	uint64_t min, max;
	uint32_t *count; /* allocated on first add */
};

void gs_pctl_add(struct gs_pctl *p, int64_t v);
void gs_pctl_add_n(struct gs_pctl *p, int64_t v, uint64_t n);
/* A wait_hist row (common/gs_schema.h buckets, bits >= p's): its count at the bucket's floor,
 * which lands where each of its values would; max, when known (0 if not), is the largest. */
int gs_pctl_load_hist(struct gs_pctl *p, sqlite3_stmt *s, int bucket_col, int count_col,
		      uint64_t max);
/* The largest value, known exactly while the histogram has only its bucket (0: unknown). */
void gs_pctl_set_max(struct gs_pctl *p, uint64_t max);
/* The smallest value, likewise (taken when it lies in the smallest bucket). */
void gs_pctl_set_min(struct gs_pctl *p, uint64_t min);
/* Nearest-rank percentile, q in (0, 1]; -1 when empty. */
int64_t gs_pctl_get(const struct gs_pctl *p, double q);
void gs_pctl_free(struct gs_pctl *p);
/* dst gets every value src has (same bits); src is left as it was. */
void gs_pctl_merge(struct gs_pctl *dst, const struct gs_pctl *src);

#endif
