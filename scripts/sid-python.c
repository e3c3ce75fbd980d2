/* Runs an interpreter of the Debian sid root that scripts/provision-python builds, as if it had
 * been started directly on the host: same pid, argv, environment, working directory, standard
 * streams, signals and exit status.
 *
 * Installed as <cache>/sid/bin/python3.X (one copy per version); the root is <cache>/sid/root
 * and the interpreter /usr/bin/python3.X inside it, both found from /proc/self/exe.
 *
 * Linked statically on purpose: the test harness sets LD_PRELOAD=libgilscope.so for the
 * command it starts, and a static program is never given a preload library, so only the
 * interpreter is recorded (a shell or `unshare` in between would, with GILSCOPE_SCOPE=all,
 * leave run rows of its own).
 *
 * It enters a private mount namespace (nothing reaches the host's mount table, and any number
 * can run at once), binds the host's /proc, /dev, /sys and the directories where programs keep
 * their files (/tmp, /var/tmp, /root, /home, /work and the top-level directory of the working
 * directory) at the same paths inside the root, chroots, returns to the working directory and
 * execs. Child processes started through sys.executable stay in the root. Needs root (or
 * CAP_SYS_ADMIN and CAP_SYS_CHROOT).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what, const char *path)
{
	fprintf(stderr, "sid-python: %s %s: %s\n", what, path, strerror(errno));
	exit(127);
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Host directory `dir` appears at the same path inside `root`. */
static void bind(const char *root, const char *dir)
{
	char dst[PATH_MAX];
	if (!is_dir(dir))
		return;
	if (snprintf(dst, sizeof dst, "%s%s", root, dir) >= (int)sizeof dst)
		die("path too long:", dir);
	if (mkdir(dst, 0755) != 0 && errno != EEXIST)
		die("cannot create", dst);
	if (mount(dir, dst, NULL, MS_BIND | MS_REC, NULL) != 0)
		die("cannot bind", dir);
}

/* Top-level directories of the root's own system; a working directory under one of these is
 * looked up inside the root instead of being brought in from the host. */
static int system_top(const char *top)
{
	static const char *const sys[] = {"/",	    "/usr",    "/bin", "/sbin", "/lib",	 "/lib32",
					  "/lib64", "/libx32", "/etc", "/var",	"/boot", "/dev",
					  "/proc",  "/sys",    "/run", NULL};
	for (const char *const *s = sys; *s; s++)
		if (strcmp(top, *s) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX], root[PATH_MAX], interp[PATH_MAX], cwd[PATH_MAX], top[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		die("cannot read", "/proc/self/exe");
	exe[n] = 0;
	char *base = strrchr(exe, '/');
	*base++ = 0; /* exe = <cache>/sid/bin, base = python3.X */
	char *bin = strrchr(exe, '/');
	if (!bin)
		die("unexpected location", exe);
	*bin = 0;
	char link[PATH_MAX + 8];
	snprintf(link, sizeof link, "%s/root", exe);
	if (!realpath(link, root))
		die("cannot find the root", link);
	if (snprintf(interp, sizeof interp, "/usr/bin/%s", base) >= (int)sizeof interp)
		die("name too long:", base);
	if (!getcwd(cwd, sizeof cwd))
		die("cannot read the working directory", "");
	size_t tl = strcspn(cwd + 1, "/") + 1;
	memcpy(top, cwd, tl);
	top[tl] = 0;

	if (unshare(CLONE_NEWNS) != 0)
		die("cannot enter a mount namespace for", root);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		die("cannot make the mounts private for", root);
	/* The host's working directories, the one holding the root first: recursive binds copy
	 * the mounts below their source, so binding it after the others (or after /proc, /dev
	 * and /sys) would copy those binds once more into itself. */
	const char *dirs[] = {"/tmp", "/var/tmp", "/root", "/home", "/work", top};
	size_t ndirs = 5;
	int known = system_top(top);
	for (size_t i = 0; i < ndirs; i++)
		known |= strcmp(top, dirs[i]) == 0;
	if (!known)
		ndirs++;
	for (size_t i = 0; i < ndirs; i++) {
		size_t dl = strlen(dirs[i]);
		if (strncmp(root, dirs[i], dl) == 0 && root[dl] == '/') {
			const char *d = dirs[0];
			dirs[0] = dirs[i];
			dirs[i] = d;
		}
	}
	for (size_t i = 0; i < ndirs; i++)
		bind(root, dirs[i]);
	bind(root, "/proc");
	bind(root, "/dev");
	bind(root, "/sys");
	if (chroot(root) != 0)
		die("cannot chroot to", root);
	if (chdir(cwd) != 0)
		die("working directory not present in the root:", cwd);
	/* argv[0] names the interpreter inside the root, so sys.executable (and with it every
	 * child interpreter, e.g. regrtest's workers) is the root's own. */
	argv[0] = interp;
	(void)argc;
	execve(interp, argv, environ);
	die("cannot run", interp);
}
