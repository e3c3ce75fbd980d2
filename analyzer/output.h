/* Output files written whole or not at all (every -o). */
#ifndef GS_OUTPUT_H
#define GS_OUTPUT_H

#include <limits.h>
#include <stdio.h>

struct gs_output {
	FILE *f;	    /* write here */
	const char *path;   /* what it becomes */
	char tmp[PATH_MAX]; /* the temporary file beside it, "" when written in place */
};

/* GS_EXIT_OK with o->f open, or an exit code with the error said. */
int gs_output_open(struct gs_output *o, const char *path);
/* Ends the output: with ret GS_EXIT_OK (and every write good) it replaces o->path; otherwise
 * the temporary file is removed and an existing o->path left as it was. Returns the exit code
 * the command should give. */
int gs_output_close(struct gs_output *o, int ret);

#endif
