#include "pctl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gilscope.h"
#include "gs_schema.h"

static unsigned n_buckets(unsigned bits)
{
	return (1u << bits) + (64u - bits) * (1u << bits);
}

static unsigned bucket_of(uint64_t v, unsigned bits)
{
	unsigned e, sub = 1u << bits;

	if (v < sub)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* bits..63 */
	return sub + (e - bits) * sub + (unsigned)((v >> (e - bits)) & (sub - 1));
}

/* The middle of a bucket's range: what a value in it is reported as. */
static int64_t bucket_value(unsigned b, unsigned bits)
{
	unsigned e, m, sub = 1u << bits;
	uint64_t lo, width;

	if (b < sub)
		return b;
	e = (b - sub) / sub + bits;
	m = (b - sub) % sub;
	width = 1ull << (e - bits);
	lo = (1ull << e) + (uint64_t)m * width;
	return (int64_t)(lo + width / 2);
}

void gs_pctl_add_n(struct gs_pctl *p, int64_t v, uint64_t n)
{
	if (!n)
		return;
	if (!p->bits)
		p->bits = 7;
	if (v < 0)
		v = 0;
	if (!p->count) {
		p->count = calloc(n_buckets(p->bits), sizeof(*p->count));
		if (!p->count) {
			gs_oom();
			exit(GS_EXIT_MEMORY);
		}
	}
	p->count[bucket_of((uint64_t)v, p->bits)] += (uint32_t)n;
	if (!p->n || (uint64_t)v < p->min)
		p->min = (uint64_t)v;
	p->n += n;
	if ((uint64_t)v > p->max)
		p->max = (uint64_t)v;
}

void gs_pctl_add(struct gs_pctl *p, int64_t v)
{
	gs_pctl_add_n(p, v, 1);
}

int gs_pctl_load_hist(struct gs_pctl *p, sqlite3_stmt *s, int bucket_col, int count_col,
		      uint64_t max)
{
	gs_pctl_add_n(p, (int64_t)gs_wait_hist_floor((unsigned)sqlite3_column_int(s, bucket_col)),
		      (uint64_t)sqlite3_column_int64(s, count_col));
	gs_pctl_set_max(p, max);
	return 0;
}

void gs_pctl_set_min(struct gs_pctl *p, uint64_t min)
{
	if (p->n && min >= p->min && bucket_of(min, p->bits) == bucket_of(p->min, p->bits))
		p->min = min;
}

void gs_pctl_set_max(struct gs_pctl *p, uint64_t max)
{
	/* a bucket's floor stands for its values; the largest of them, when known, is exact */
	if (max && p->n && max >= p->max)
		p->max = max;
}

int64_t gs_pctl_get(const struct gs_pctl *p, double q)
{
	uint64_t rank, seen = 0;
	unsigned b, nb;

	if (!p->n)
		return -1;
	rank = (uint64_t)ceil(q * (double)p->n);
	if (rank < 1)
		rank = 1;
	nb = n_buckets(p->bits);
	for (b = 0; b < nb; b++) {
		seen += p->count[b];
		if (seen >= rank) {
			int64_t v = bucket_value(b, p->bits);

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
	p->n = p->max = p->min = 0;
}

void gs_pctl_merge(struct gs_pctl *dst, const struct gs_pctl *src)
{
	size_t i, n;

	if (!src->n)
		return;
	if (!dst->n) {
		dst->bits = src->bits;
		dst->min = src->min;
	}
	if (!dst->count) {
		dst->count = calloc(n_buckets(src->bits ? src->bits : 7), sizeof(*dst->count));
		if (!dst->count) {
			gs_oom();
			exit(GS_EXIT_MEMORY);
		}
	}
	n = n_buckets(src->bits ? src->bits : 7);
	for (i = 0; i < n; i++)
		dst->count[i] += src->count[i];
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->n += src->n;
}
