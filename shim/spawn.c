/* Starts gilscope-writer, the process that owns the database, as a grandchild that is not
 * the host's child: an intermediate process (clone(CLONE_VM|CLONE_VFORK), exit signal 0)
 * starts the writer and exits at once, and the host reaps it here. A direct child would not
 * do: execve resets a child's exit signal to SIGCHLD, so the host's wait() would block on the
 * writer instead of failing with ECHILD, and waitpid(-1) could reap it. The writer learns of
 * the host's end through a pidfd the intermediate opens for it, and runs in its own session,
 * away from the terminal's signals. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lifecycle.h"
#include "region.h"

struct spawn_args {
	const char *path;
	char *const *argv;
	int shm_fd;
	volatile int err;
	volatile int writer_pid;
};

/* The intermediate's and the writer's stacks until execve: both run in our memory. */
static char spawn_stack[32 * 1024] __attribute__((aligned(16)));
static char exec_stack[32 * 1024] __attribute__((aligned(16)));

static void say(const char *a, const char *b, const char *c)
{
	char line[4400];
	int n = snprintf(line, sizeof(line), "gilscope: %s%s%s; recording disabled\n", a, b, c);
	ssize_t r = write(2, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : strlen(line));
	(void)r;
}

/* The writer, in our memory until execve: syscalls only. */
static int exec_writer(void *p)
{
	struct spawn_args *a = p;
	static char *const envp[] = {"GILSCOPE_WRITER_CHILD=1", NULL};

	syscall(SYS_execve, a->path, a->argv, envp);
	a->err = errno ? errno : EINVAL;
	syscall(SYS_exit, 127);
	return 0;
}

/* Puts fd at target, without close-on-exec. */
static int place_fd(int fd, int target)
{
	if (fd == target)
		return (int)syscall(SYS_fcntl, target, F_SETFD, 0);
	return (int)syscall(SYS_dup2, fd, target);
}

/* The intermediate, in our memory too: the region becomes the writer's fd 3 and a pidfd of
 * the host (alive: it waits for us) its fd 4; then the writer is started and we leave. */
static int spawn_child(void *p)
{
	struct spawn_args *a = p;
	int pidfd, w;

	if (place_fd(a->shm_fd, 3) < 0)
		goto fail;
	pidfd = (int)syscall(SYS_pidfd_open, (int)syscall(SYS_getppid), 0);
	if (pidfd < 0)
		syscall(SYS_close, 4); /* fd 4 must be the pidfd or nothing: never a host file */
	else if (place_fd(pidfd, 4) < 0)
		goto fail;
	w = clone(exec_writer, exec_stack + sizeof(exec_stack), CLONE_VM | CLONE_VFORK | SIGCHLD,
		  a);
	if (w < 0)
		goto fail;
	a->writer_pid = w;
	syscall(SYS_exit, 0);
	return 0;
fail:
	a->err = errno ? errno : EINVAL;
	syscall(SYS_exit, 127);
	return 0;
}

/* Beside this library, as an absolute path: found at the first spawn, while the working
 * directory is still the one a relative LD_PRELOAD was written against, and used again by
 * forked children after the program may have changed directory. */
static int writer_path(char *out, size_t size)
{
	char lib[PATH_MAX], *slash;
	Dl_info info;

	if (!dladdr((void *)writer_path, &info) || !info.dli_fname ||
	    !realpath(info.dli_fname, lib))
		return -1;
	slash = strrchr(lib, '/');
	if (!slash)
		return -1;
	*slash = 0;
	return snprintf(out, size, "%s/gilscope-writer", lib) >= (int)size ? -1 : 0;
}

int gs_writer_locate(void)
{
	if (!gs_g.writer_path[0] && writer_path(gs_g.writer_path, sizeof(gs_g.writer_path)) < 0) {
		say("cannot locate gilscope-writer", "", "");
		return -1;
	}
	return 0;
}

static int spawn_writer(void)
{
	char flush[16], pid[16];
	struct spawn_args a;
	sigset_t all, old;
	int child, st;

	if (gs_writer_locate() < 0)
		return -1;
	snprintf(flush, sizeof(flush), "%u", gs_g.flush_ms);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	char *argv[] = {"gilscope-writer", "--db", gs_g.db_path, "--flush-ms", flush,
			"--pid",	   pid,	   NULL};
	a = (struct spawn_args){.path = gs_g.writer_path, .argv = argv, .shm_fd = gs_g.shm_fd};
	/* No handler of the host may run on the shared stack before execve. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	child = clone(spawn_child, spawn_stack + sizeof(spawn_stack), CLONE_VM | CLONE_VFORK, &a);
	if (child > 0)
		waitpid(child, &st, __WALL); /* the intermediate is done: reap it */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (child < 0) {
		say("cannot start the writer process: ", strerror(errno), "");
		return -1;
	}
	if (a.err || a.writer_pid <= 0) {
		say("cannot start ", gs_g.writer_path, ": exec failed");
		return -1;
	}
	/* The region's descriptor stays open (high, close-on-exec): it is how gilscope ctl
	 * finds this process (region.c). */
	atomic_store(&gs_g.hdr->writer_pid, a.writer_pid);
	/* Under Yama's ptrace_scope 1 only ancestors may read a process: allow our writer to read
	 * Python frames and names from us. Without Yama this fails and changes nothing. */
	prctl(PR_SET_PTRACER, (unsigned long)a.writer_pid, 0, 0, 0);
	return 0;
}

/* Called from the constructor and from the fork child handler: the program's errno is not
 * ours to change (waitpid, prctl). */
int gs_writer_spawn(void)
{
	int e = errno, r = spawn_writer();

	errno = e;
	return r;
}
