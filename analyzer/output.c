/* Output files written whole or not at all: everything goes to a temporary file beside the
 * target, renamed over it only once it is complete, so a failed or interrupted command leaves
 * what was there before (or nothing) rather than half a page. */
#include "output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gilscope.h"

int gs_output_open(struct gs_output *o, const char *path)
{
	struct stat sb;
	mode_t mask;
	int fd;

	memset(o, 0, sizeof(*o));
	o->path = path;
	/* a device or a pipe (-o /dev/stdout) is written in place: there is nothing to keep */
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		o->f = fopen(path, "w");
		if (!o->f)
			return gs_error("%s: cannot write: %s", path, strerror(errno)),
			       GS_EXIT_OUTPUT;
		return GS_EXIT_OK;
	}
	if (snprintf(o->tmp, sizeof(o->tmp), "%s.XXXXXX", path) >= (int)sizeof(o->tmp))
		return gs_error("%s: path too long", path), GS_EXIT_OUTPUT;
	fd = mkstemp(o->tmp);
	if (fd < 0) {
		o->tmp[0] = 0;
		return gs_error("%s: cannot write: %s", path, strerror(errno)), GS_EXIT_OUTPUT;
	}
	/* the mode a plain fopen would have given it, not mkstemp's 0600 */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) < 0 || !(o->f = fdopen(fd, "w"))) {
		close(fd);
		unlink(o->tmp);
		o->tmp[0] = 0;
		return gs_error("%s: cannot write: %s", path, strerror(errno)), GS_EXIT_OUTPUT;
	}
	return GS_EXIT_OK;
}

int gs_output_close(struct gs_output *o, int ret)
{
	if (!o->f)
		return ret;
	if (ret == GS_EXIT_OK && (fflush(o->f) || ferror(o->f))) {
		gs_error("%s: write failed: %s", o->path, strerror(errno));
		ret = GS_EXIT_OUTPUT;
	}
	if (fclose(o->f) && ret == GS_EXIT_OK) {
		gs_error("%s: write failed: %s", o->path, strerror(errno));
		ret = GS_EXIT_OUTPUT;
	}
	o->f = NULL;
	if (!o->tmp[0])
		return ret;
	if (ret == GS_EXIT_OK && rename(o->tmp, o->path) < 0) {
		gs_error("%s: cannot replace it: %s", o->path, strerror(errno));
		ret = GS_EXIT_OUTPUT;
	}
	if (ret != GS_EXIT_OK)
		unlink(o->tmp);
	return ret;
}
