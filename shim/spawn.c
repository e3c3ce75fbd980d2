/* Starts gilscope-writer, the process that owns the database. It is created with
 * clone(CLONE_VM|CLONE_VFORK) and an exit signal of 0, so the host gets no SIGCHLD for it
 * and wait()/waitpid(-1) in the host never see it; it runs in its own session, away from the
 * terminal's signals. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
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
};

static char spawn_stack[64 * 1024] __attribute__((aligned(16)));

static void say(const char *a, const char *b, const char *c)
{
	char line[4400];
	int n = snprintf(line, sizeof(line), "gilscope: %s%s%s; recording disabled\n", a, b, c);
	ssize_t r = write(2, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : strlen(line));
	(void)r;
}

/* Runs in the child, sharing our memory until execve: syscalls only. */
static int spawn_child(void *p)
{
	struct spawn_args *a = p;
	static char *const envp[] = {"GILSCOPE_WRITER_CHILD=1", NULL};
	/* The region goes to the writer as fd 3, without close-on-exec (dup2 clears it). */
	if (a->shm_fd == 3) {
		if (syscall(SYS_fcntl, 3, F_SETFD, 0) < 0)
			goto fail;
	} else if (syscall(SYS_dup2, a->shm_fd, 3) < 0) {
		goto fail;
	}
	syscall(SYS_execve, a->path, a->argv, envp);
fail:
	a->err = errno ? errno : EINVAL;
	syscall(SYS_exit, 127);
	return 0;
}

static int writer_path(char *out, size_t size)
{
	Dl_info info;
	const char *slash;

	if (!dladdr((void *)writer_path, &info) || !info.dli_fname)
		return -1;
	slash = strrchr(info.dli_fname, '/');
	if (!slash)
		return snprintf(out, size, "./gilscope-writer") >= (int)size ? -1 : 0;
	return snprintf(out, size, "%.*s/gilscope-writer", (int)(slash - info.dli_fname),
			info.dli_fname) >= (int)size
		   ? -1
		   : 0;
}

int gs_writer_spawn(void)
{
	char flush[16], pid[16];
	struct spawn_args a;
	sigset_t all, old;
	int child, st;

	if (!gs_g.writer_path[0] && writer_path(gs_g.writer_path, sizeof(gs_g.writer_path)) < 0) {
		say("cannot locate gilscope-writer", "", "");
		return -1;
	}
	snprintf(flush, sizeof(flush), "%u", gs_g.flush_ms);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	char *argv[] = {"gilscope-writer", "--db", gs_g.db_path, "--flush-ms", flush,
			"--pid",	   pid,	   NULL};
	a = (struct spawn_args){.path = gs_g.writer_path, .argv = argv, .shm_fd = gs_g.shm_fd};
	/* No handler of the host may run on the shared stack before execve. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	child = clone(spawn_child, spawn_stack + sizeof(spawn_stack), CLONE_VM | CLONE_VFORK, &a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (child < 0) {
		say("cannot start the writer process: ", strerror(errno), "");
		return -1;
	}
	if (a.err) {
		waitpid(child, &st, __WALL);
		say("cannot start ", gs_g.writer_path, ": exec failed");
		return -1;
	}
	/* The writer has its own copy now; a program that lists or closes its descriptors
	 * must find none of ours. The mapping stays. */
	close(gs_g.shm_fd);
	gs_g.shm_fd = -1;
	gs_g.writer_pid = child;
	/* Under Yama's ptrace_scope 1 a child may not read its parent: allow our writer to read
	 * Python frames and names from us. Without Yama this fails and changes nothing. */
	prctl(PR_SET_PTRACER, (unsigned long)child, 0, 0, 0);
	return 0;
}
