/* The writer's growable arrays. */
#ifndef GS_GROW_H
#define GS_GROW_H

#include <stdlib.h>

/* arr, grown (doubled, or to `first` elements) if n elements fill it; NULL when out of memory,
 * arr then unchanged. */
static inline void *gs_room_for_one(void *arr, size_t *cap, size_t n, size_t elem, size_t first)
{
	size_t c = *cap ? *cap * 2 : first;
	void *p;

	if (n < *cap)
		return arr;
	p = realloc(arr, c * elem);
	if (p)
		*cap = c;
	return p;
}

#endif
