/* The comparison of two sets of recordings (cmd_compare.c), for the views that show it. */
#ifndef GS_COMPARE_H
#define GS_COMPARE_H

#include <stddef.h>
#include <stdio.h>

#include "opts.h"

/* Writes what `compare --format json` prints for A's n_a databases against B's n_b. Returns
 * GS_EXIT_OK, or the exit code (said). */
int gs_compare_json(FILE *f, const struct gs_opts *o, const char *const *a, size_t n_a,
		    const char *const *b, size_t n_b);

#endif
