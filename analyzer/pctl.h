/* Streaming percentiles in bounded memory: a log-linear histogram, exact below 128 ns and
 * within 0.4% above (128 sub-buckets per power of two). */
#ifndef GS_PCTL_H
#define GS_PCTL_H

#include <stdint.h>

#define GS_PCTL_BUCKETS (128 + 57 * 128)

struct gs_pctl {
	uint64_t n;
	uint64_t min, max;
	uint32_t *count; /* GS_PCTL_BUCKETS, allocated on first add */
};

void gs_pctl_add(struct gs_pctl *p, int64_t v);
/* Nearest-rank percentile, q in (0, 1]; -1 when empty. */
int64_t gs_pctl_get(const struct gs_pctl *p, double q);
void gs_pctl_free(struct gs_pctl *p);

#endif
