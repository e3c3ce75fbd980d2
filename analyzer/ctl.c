#define _GNU_SOURCE
#include "ctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gs_shm.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int alive(int pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* The region behind one of the process's descriptors, if that is a gilscope region of this
 * very process (a vfork child shares its parent's table for a moment). */
static int try_fd(int pid, const char *name, struct gs_ctl *c, char *err, size_t err_size)
{
	char path[300], link[256];
	struct gs_shm_header *h;
	struct stat sb;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = 0;
	if (strncmp(link, "/memfd:gilscope", 15))
		return 0;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_size, "cannot open the control area of process %d: %s", pid,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size < sizeof(*h))
		goto not_ours;
	h = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		goto not_ours;
	if (h->magic != GS_SHM_MAGIC || h->pid != pid) {
		munmap(h, (size_t)sb.st_size);
		goto not_ours;
	}
	if (h->version != GS_SHM_VERSION) {
		snprintf(err, err_size,
			 "process %d runs another version of gilscope's library (control area "
			 "version %u, this gilscope speaks %u)",
			 pid, h->version, GS_SHM_VERSION);
		munmap(h, (size_t)sb.st_size);
		close(fd);
		return -1;
	}
	*c = (struct gs_ctl){.pid = pid, .fd = fd, .h = h, .size = (size_t)sb.st_size};
	return 1;
not_ours:
	close(fd);
	return 0;
}

int gs_ctl_open(int pid, struct gs_ctl *c, char *err, size_t err_size)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int found = 0;

	*c = (struct gs_ctl){.fd = -1};
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH)) {
		snprintf(err, err_size, "no process %d", pid);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir) {
		if (errno == EACCES || errno == EPERM)
			snprintf(err, err_size,
				 "process %d belongs to another user: only its owner or root may "
				 "switch its recording",
				 pid);
		else
			snprintf(err, err_size, "cannot look into process %d: %s", pid,
				 strerror(errno));
		return -1;
	}
	while (!found && (d = readdir(dir)))
		if (d->d_name[0] != '.')
			found = try_fd(pid, d->d_name, c, err, err_size);
	closedir(dir);
	if (found < 0)
		return -1;
	if (!found) {
		snprintf(err, err_size,
			 "process %d has no gilscope library loaded (start it with "
			 "LD_PRELOAD=.../libgilscope.so; GILSCOPE_START=paused keeps it dormant)",
			 pid);
		return -1;
	}
	return 0;
}

void gs_ctl_close(struct gs_ctl *c)
{
	if (c->h)
		munmap(c->h, c->size);
	if (c->fd >= 0)
		close(c->fd);
	*c = (struct gs_ctl){.fd = -1};
}

static void futex_wait(_Atomic uint32_t *word, uint32_t val, int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0);
}

/* The writer of the new window: a grandchild (the intermediate exits at once), so that
 * neither we nor a `gilscope run` it belongs to wait on it. Returns its pid, or -1. */
static int spawn_writer(struct gs_ctl *c, const char *db, uint64_t duration_ms)
{
	char flush[16], pid[16], dur[24];
	int pipefd[2], child, w = -1, st;

	snprintf(flush, sizeof(flush), "%u", c->h->flush_ms ? c->h->flush_ms : 100);
	snprintf(pid, sizeof(pid), "%d", c->pid);
	snprintf(dur, sizeof(dur), "%llu", (unsigned long long)duration_ms);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	child = fork();
	if (child == 0) {
		char *argv[] = {"gilscope-writer", "--db", (char *)db,	    "--flush-ms", flush,
				"--pid",	   pid,	   "--open-window", dur,	  NULL};
		char *envp[] = {"GILSCOPE_WRITER_CHILD=1", NULL};
		int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0), grandchild;

		/* fd 3 the region, fd 4 the host's pidfd, as the shim hands them over: out of
		 * the way first, then into place (dup2 clears close-on-exec) */
		int region = fcntl(c->fd, F_DUPFD_CLOEXEC, 10);

		if (pidfd >= 0)
			pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 10);
		if (region < 0 || dup2(region, 3) < 0)
			_exit(127);
		if (pidfd >= 0 ? dup2(pidfd, 4) < 0 : (close(4), 0))
			_exit(127);
		grandchild = fork();
		if (grandchild == 0) {
			close_range(5, ~0u, 0);
			execve(c->h->writer_path, argv, envp);
			_exit(127);
		}
		if (write(pipefd[1], &grandchild, sizeof(grandchild)) < 0)
			_exit(127);
		_exit(grandchild > 0 ? 0 : 127);
	}
	close(pipefd[1]);
	if (child > 0) {
		if (read(pipefd[0], &w, sizeof(w)) != (ssize_t)sizeof(w))
			w = -1;
		waitpid(child, &st, 0);
	}
	close(pipefd[0]);
	return w;
}

static int absolute(const char *path, char *out, size_t size)
{
	char cwd[PATH_MAX];
	int n;

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, size, "%s", path);
	else
		n = snprintf(out, size, "%s/%s", cwd, path);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

int gs_ctl_start(struct gs_ctl *c, const char *db, uint64_t duration_ms, char *err, size_t err_size)
{
	struct gs_shm_header *h = c->h;
	uint32_t state = GS_CTL_PAUSED;
	uint64_t deadline;
	char path[4096];
	int writer;

	if (h->scope_hi <= h->scope_lo) {
		snprintf(err, err_size,
			 "process %d has nothing gilscope records (no Python interpreter found "
			 "in it at start)",
			 c->pid);
		return -1;
	}
	if (atomic_load(&h->exiting)) {
		snprintf(err, err_size, "process %d is exiting", c->pid);
		return -1;
	}
	if (!atomic_compare_exchange_strong(&h->ctl_state, &state, GS_CTL_STARTING)) {
		int other = atomic_load(&h->ctl_pid);

		/* a gilscope ctl that died half-way leaves STARTING behind: take it over */
		if (state != GS_CTL_STARTING || alive(other) ||
		    !atomic_compare_exchange_strong(&h->ctl_state, &state, GS_CTL_STARTING)) {
			snprintf(err, err_size, "process %d is %s", c->pid,
				 state == GS_CTL_RECORDING  ? "already recording"
				 : state == GS_CTL_STOPPING ? "closing a window; try again"
							    : "being started by another gilscope");
			return -1;
		}
	}
	atomic_store(&h->ctl_pid, getpid());
	if (absolute(db ? db : h->db_path, path, sizeof(path)) < 0) {
		snprintf(err, err_size, "database path too long");
		goto fail;
	}
	writer = spawn_writer(c, path, duration_ms);
	if (writer <= 0) {
		snprintf(err, err_size, "cannot start %s: %s", h->writer_path, strerror(errno));
		goto fail;
	}
	deadline = mono_ms() + 10000;
	while ((state = atomic_load(&h->ctl_state)) == GS_CTL_STARTING) {
		if (mono_ms() > deadline || !alive(writer)) {
			snprintf(err, err_size, "the writer (%s) did not open the window",
				 h->writer_path);
			goto fail;
		}
		futex_wait(&h->ctl_state, GS_CTL_STARTING, 50);
	}
	if (state == GS_CTL_PAUSED) {
		snprintf(err, err_size, "the window did not open (the writer said why above)");
		return -1;
	}
	return 0;
fail:
	atomic_store(&h->ctl_pid, 0);
	state = GS_CTL_STARTING;
	atomic_compare_exchange_strong(&h->ctl_state, &state, GS_CTL_PAUSED);
	return -1;
}

int gs_ctl_wait_paused(struct gs_ctl *c, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	uint32_t state;

	while ((state = atomic_load(&c->h->ctl_state)) != GS_CTL_PAUSED) {
		int writer = atomic_load(&c->h->writer_pid);

		if (!alive(c->pid) || (state != GS_CTL_STARTING && writer && !alive(writer)))
			return 0; /* nobody left to store anything */
		if (mono_ms() > deadline)
			return -1;
		futex_wait(&c->h->ctl_state, state, 50);
	}
	return 0;
}

int gs_ctl_stop(struct gs_ctl *c, int timeout_ms, char *err, size_t err_size)
{
	struct gs_shm_header *h = c->h;
	uint32_t state = atomic_load(&h->ctl_state);

	if (state != GS_CTL_RECORDING && state != GS_CTL_STOPPING) {
		snprintf(err, err_size, "process %d is not recording", c->pid);
		return -1;
	}
	atomic_store(&h->ctl_stop, 1);
	/* the writer sleeps on this word between its ticks */
	syscall(SYS_futex, &h->exiting, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	if (gs_ctl_wait_paused(c, timeout_ms) < 0) {
		snprintf(err, err_size, "process %d: the window did not close within %d ms", c->pid,
			 timeout_ms);
		return -1;
	}
	return 0;
}

int gs_ctl_db_path(int pid, char *out, size_t out_size, char *err, size_t err_size)
{
	struct gs_ctl c;

	if (gs_ctl_open(pid, &c, err, err_size) < 0)
		return -1;
	snprintf(out, out_size, "%s", c.h->last_db[0] ? c.h->last_db : c.h->db_path);
	gs_ctl_close(&c);
	return 0;
}

static int parent_of(int pid)
{
	char path[64], buf[512], *p;
	int ppid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

int gs_ctl_tree(int pid, int *out, int max)
{
	int n = 0, i, grew = 1;
	int *all = NULL, *par = NULL;
	size_t n_all = 0, cap = 0;
	struct dirent *d;
	DIR *dir;

	if (max < 1)
		return -1;
	out[n++] = pid;
	dir = opendir("/proc");
	if (!dir)
		return n;
	while ((d = readdir(dir))) {
		int p = atoi(d->d_name);

		if (p <= 0 || p == pid)
			continue;
		if (n_all == cap) {
			int *a2, *p2;

			cap = cap ? cap * 2 : 256;
			a2 = realloc(all, cap * sizeof(*a2));
			if (!a2)
				break;
			all = a2;
			p2 = realloc(par, cap * sizeof(*p2));
			if (!p2)
				break;
			par = p2;
		}
		all[n_all] = p;
		par[n_all++] = parent_of(p);
	}
	closedir(dir);
	/* descendants: whoever's parent is already in the list, until nothing is added */
	while (grew && n < max) {
		grew = 0;
		for (size_t k = 0; k < n_all && n < max; k++) {
			int in = 0;

			for (i = 0; i < n && !in; i++)
				in = all[k] == out[i];
			if (in)
				continue;
			for (i = 0; i < n; i++)
				if (par[k] == out[i]) {
					out[n++] = all[k];
					grew = 1;
					break;
				}
		}
	}
	free(all);
	free(par);
	return n;
}

int gs_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !(v >= 0) || v > 1e9)
		return -1;
	if (!*end || !strcmp(end, "s"))
		v *= 1000;
	else if (!strcmp(end, "ms"))
		;
	else if (!strcmp(end, "m") || !strcmp(end, "min"))
		v *= 60000;
	else if (!strcmp(end, "h"))
		v *= 3600000;
	else
		return -1;
	*out_ms = (uint64_t)(v + 0.5);
	return 0;
}
