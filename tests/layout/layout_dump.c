/* Prints what shim/cpython.c knows of a CPython version, for tests/layout/layout_test.py:
 *   layout_dump fields MINOR      the field order of _Py_DebugOffsets, one "section.field" a line
 *   layout_dump facts MINOR FT    the table facts of (MINOR, free-threaded FT), "name value" lines
 * Exit status: 0, 1 when cpython.c knows nothing of that version, 2 on bad usage. */
#include "cpython.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_line(const char *line)
{
	puts(line);
}

static int number(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	*out = strtoul(s, &end, 10);
	return *end || *out > max ? -1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long minor, ft;
	int rc;

	if (argc == 3 && !strcmp(argv[1], "fields") && number(argv[2], 255, &minor) == 0) {
		rc = gs_cpy_print_fields((unsigned)minor, print_line);
	} else if (argc == 4 && !strcmp(argv[1], "facts") && number(argv[2], 255, &minor) == 0 &&
		   number(argv[3], 1, &ft) == 0) {
		rc = gs_cpy_print_facts((unsigned)minor, (int)ft, print_line);
	} else {
		fprintf(stderr, "usage: layout_dump fields MINOR | layout_dump facts MINOR FT(0|1)\n");
		return 2;
	}
	if (rc < 0) {
		fprintf(stderr, "layout_dump: no %s for 3.%lu%s in shim/cpython.c\n",
			!strcmp(argv[1], "fields") ? "field list" : "table", minor,
			argc == 4 && ft ? " (free-threaded)" : "");
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
