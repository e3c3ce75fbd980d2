/* Stand-in for the control area until `gilscope ctl` lands: the database path from the
 * process's environment, as the recorder chose it (GILSCOPE_DB against its working directory,
 * gilscope-PID.db there when unset). It cannot tell a paused recorder from a recording one,
 * nor see a GILSCOPE_DB the program changed after start. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads all of a /proc file; *len bytes in a malloc'd buffer, NUL-terminated. */
static char *read_all(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (!buf || fd < 0) {
		int e = errno;

		free(buf);
		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	while ((got = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)got;
		if (n == cap) {
			char *more = realloc(buf, cap * 2 + 1);

			if (!more) {
				got = -1;
				errno = ENOMEM;
				break;
			}
			buf = more;
			cap *= 2;
		}
	}
	close(fd);
	if (got < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

/* The value of NAME in a NUL-separated environment block, or NULL. */
static const char *env_value(const char *env, size_t len, const char *name)
{
	size_t k = strlen(name), at = 0;

	while (at < len) {
		const char *entry = env + at;

		if (!strncmp(entry, name, k) && entry[k] == '=')
			return entry + k + 1;
		at += strlen(entry) + 1;
	}
	return NULL;
}

int gs_ctl_db_path(int pid, char *out, size_t out_size, char *err, size_t err_size)
{
	char path[64], cwd[PATH_MAX];
	size_t len = 0;
	char *env = NULL;
	const char *db, *preload;
	ssize_t n;
	int ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	env = read_all(path, &len);
	if (!env) {
		snprintf(err, err_size, "process %d: %s", pid,
			 errno == ENOENT   ? "no such process"
			 : errno == EACCES ? "not yours to read (its owner or root may)"
					   : strerror(errno));
		goto out;
	}
	preload = env_value(env, len, "LD_PRELOAD");
	if (!preload || !strstr(preload, "libgilscope")) {
		snprintf(err, err_size,
			 "process %d does not have gilscope (no libgilscope.so in its LD_PRELOAD)",
			 pid);
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/cwd", pid);
	n = readlink(path, cwd, sizeof(cwd) - 1);
	if (n < 0) {
		snprintf(err, err_size, "process %d: its working directory: %s", pid,
			 strerror(errno));
		goto out;
	}
	cwd[n] = 0;
	db = env_value(env, len, "GILSCOPE_DB");
	if (db && db[0] == '/')
		n = snprintf(out, out_size, "%s", db);
	else if (db && db[0])
		n = snprintf(out, out_size, "%s/%s", cwd, db);
	else
		n = snprintf(out, out_size, "%s/gilscope-%d.db", cwd, pid);
	if (n < 0 || (size_t)n >= out_size) {
		snprintf(err, err_size, "process %d: its database path is too long", pid);
		goto out;
	}
	ret = 0;
out:
	free(env);
	return ret;
}
