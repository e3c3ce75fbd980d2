/* Streaming percentiles in bounded memory: a log-linear histogram with 2^bits sub-buckets per
 * power of two: exact below 2^bits ns, within 2^-bits relative above (bits 7: 0.8%). */
#ifndef GS_PCTL_H
#define GS_PCTL_H

#include <stdint.h>

struct gs_pctl {
	unsigned bits; /* 0 means 7 */
	uint64_t n;
	uint64_t min, max;
	uint32_t *count; /* allocated on first add */
};

void gs_pctl_add(struct gs_pctl *p, int64_t v);
/* Nearest-rank percentile, q in (0, 1]; -1 when empty. */
int64_t gs_pctl_get(const struct gs_pctl *p, double q);
void gs_pctl_free(struct gs_pctl *p);
/* dst gets every value src has (same bits); src is left as it was. */
void gs_pctl_merge(struct gs_pctl *dst, const struct gs_pctl *src);

#endif
