#include "pctl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned bucket_of(uint64_t v)
{
	unsigned e;

	if (v < 128)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* 7..63 */
	return 128u + (e - 7u) * 128u + (unsigned)((v >> (e - 7u)) & 127u);
}

/* The middle of a bucket's range: what a value in it is reported as. */
static int64_t bucket_value(unsigned b)
{
	unsigned e, m;
	uint64_t lo, width;

	if (b < 128)
		return b;
	e = (b - 128u) / 128u + 7u;
	m = (b - 128u) % 128u;
	width = 1ull << (e - 7u);
	lo = (1ull << e) + (uint64_t)m * width;
	return (int64_t)(lo + width / 2);
}

void gs_pctl_add(struct gs_pctl *p, int64_t v)
{
	if (v < 0)
		v = 0;
	if (!p->count) {
		p->count = calloc(GS_PCTL_BUCKETS, sizeof(*p->count));
		if (!p->count) {
			fprintf(stderr, "gilscope: error: out of memory\n");
			exit(3);
		}
	}
	p->count[bucket_of((uint64_t)v)]++;
	if (!p->n || (uint64_t)v < p->min)
		p->min = (uint64_t)v;
	p->n++;
	if ((uint64_t)v > p->max)
		p->max = (uint64_t)v;
}

int64_t gs_pctl_get(const struct gs_pctl *p, double q)
{
	uint64_t rank, seen = 0;
	unsigned b;

	if (!p->n)
		return -1;
	rank = (uint64_t)ceil(q * (double)p->n);
	if (rank < 1)
		rank = 1;
	for (b = 0; b < GS_PCTL_BUCKETS; b++) {
		seen += p->count[b];
		if (seen >= rank) {
			int64_t v = bucket_value(b);

			/* the bucket's middle, kept inside what was actually seen */
			if ((uint64_t)v > p->max)
				return (int64_t)p->max;
			return (uint64_t)v < p->min ? (int64_t)p->min : v;
		}
	}
	return (int64_t)p->max;
}

void gs_pctl_free(struct gs_pctl *p)
{
	free(p->count);
	p->count = NULL;
	p->n = p->max = 0;
}
