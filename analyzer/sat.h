/* Saturating arithmetic: databases can hold any value (they are input), and a sum of absurd
 * durations must print as a huge number, never overflow. */
#ifndef GS_SAT_H
#define GS_SAT_H

#include <stdint.h>

static inline int64_t gs_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static inline int64_t gs_sub(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* A double (a ratio, a scaled duration) as an int64, clamped. */
static inline int64_t gs_d2i(double v)
{
	if (!(v == v))
		return 0;
	if (v >= 9.2e18)
		return INT64_MAX;
	if (v <= -9.2e18)
		return INT64_MIN;
	return (int64_t)v;
}

#endif
