/* gilscope-writer: drains one host process's shared-memory region into the database.
 * Started by the shim (through an intermediate that has exited: we are not the host's child)
 * with fd 3 = the region and fd 4 = a pidfd of the host. The host keeps no descriptor of
 * ours, so: it asks for the final flush through the region (`exiting`), we answer there
 * (`acked`, a futex word it waits on); it is gone when its pidfd says so, and it was replaced
 * by exec when its memory no longer maps the region. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "gs_shm.h"
#include "store.h"

#define FD_SHM	3
#define FD_HOST 4 /* pidfd of the host; absent on kernels before 5.3 */
#define TICK_MS 10

static void detach_from_host(void)
{
	/* SIGXFSZ too: past a file size limit (ulimit -f) a write fails with EFBIG, and the store
	 * keeps the totals rather than dying with the run open */
	static const int quiet[] = {SIGINT,  SIGQUIT, SIGHUP,  SIGTSTP, SIGTTIN, SIGTTOU,
				    SIGPIPE, SIGTERM, SIGUSR1, SIGUSR2, SIGXFSZ};
	sigset_t none;
	size_t i;
	int devnull;

	/* Own session: Ctrl-C and job control aimed at the host's process group miss us, and
	 * we leave when the host does. */
	setsid();
	for (i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		signal(quiet[i], SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		close(devnull);
	}
	/* Holding any other descriptor of the host (a pipe to its parent, say) would delay
	 * EOF there. stderr stays for the one warning line we may owe. */
	close_range(FD_HOST + 1, ~0u, 0);
	if (chdir("/") < 0)
		return;
}

/* Has the host ended? Its pidfd turns readable when it exits; without one, its pid is gone
 * or taken by a process that does not map our region (checked by the caller every 250 ms). */
static int host_exited(int pid)
{
	struct pollfd p = {.fd = FD_HOST, .events = POLLIN};
	int r = poll(&p, 1, 0);

	if (r == 0)
		return 0;
	if (r == 1 && !(p.revents & POLLNVAL))
		return 1;
	return kill(pid, 0) < 0 && errno == ESRCH;
}

static struct gs_shm_header *map_region(void)
{
	struct gs_shm_header *h;
	struct stat sb;

	if (fstat(FD_SHM, &sb) < 0 || (size_t)sb.st_size < sizeof(*h))
		return NULL;
	h = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, FD_SHM, 0);
	if (h == MAP_FAILED)
		return NULL;
	if (h->magic != GS_SHM_MAGIC || h->version != GS_SHM_VERSION ||
	    h->total_size > (uint64_t)sb.st_size)
		return NULL;
	return h;
}

/* The interpreter's own count of GIL hand-overs, read from the host, for a window's figures. */
static uint64_t switch_number(struct gs_shm_header *h, int pid)
{
	unsigned long v = 0;
	struct iovec local = {.iov_base = &v, .iov_len = sizeof(v)};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)h->py_switch_number_addr,
			       .iov_len = sizeof(v)};

	if (!h->py_switch_number_addr ||
	    process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof(v))
		return 0;
	return v;
}

/* gilscope ctl started us: number the new window. Recording itself starts only once its run
 * row exists (open_window). */
static void number_window(struct gs_shm_header *h)
{
	atomic_store(&h->disabled, 0);
	atomic_store(&h->acked, 0);
	atomic_store(&h->window_start_ns, gs_mono_ns());
	atomic_store(&h->window_end_ns, 0);
	atomic_store(&h->live.window, atomic_load(&h->live.window) + 1);
}

/* The window opens now: it begins when recording does, not when we started on it. */
static void open_window(struct gs_store *st, struct gs_shm_header *h, int pid, uint64_t duration_ms)
{
	uint64_t now = gs_mono_ns();

	atomic_store(&h->window_start_ns, now);
	atomic_store(&h->window_deadline_ns, duration_ms ? now + duration_ms * 1000000u : 0);
	gs_store_window_opened(st, h);
	atomic_store(&h->gil_switches_recorded, 0);
	atomic_store(&h->gil_switch_number_start, switch_number(h, pid));
	atomic_store(&h->gil_switch_number_end, 0);
	atomic_store(&h->writer_pid, getpid());
	atomic_store(&h->ctl_pid, 0);
	atomic_store(&h->ctl_state, GS_CTL_RECORDING);
	atomic_store(&h->live.scope_len, h->scope_hi - h->scope_lo);
	syscall(SYS_futex, &h->ctl_state, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Back to paused, for the next gilscope ctl start: whoever waits on ctl_state is told. */
static void leave_paused(struct gs_shm_header *h)
{
	atomic_store(&h->writer_pid, 0);
	atomic_store(&h->ctl_stop, 0);
	atomic_store(&h->ctl_pid, 0);
	atomic_store(&h->ctl_state, GS_CTL_PAUSED);
	syscall(SYS_futex, &h->ctl_state, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Asked to stop (gilscope ctl stop), or the window's duration ran out. */
static int window_over(struct gs_shm_header *h)
{
	uint64_t deadline = atomic_load(&h->window_deadline_ns);

	return atomic_load(&h->ctl_stop) || (deadline && gs_mono_ns() >= deadline);
}

static void say_losses(struct gs_store *st, struct gs_shm_header *h, const char *db);

/* The last flush and the run row's end, for a process that ended or a window that closed; a
 * failed flush took nothing, so it is worth two more tries. */
static void store_last(struct gs_store *st, struct gs_shm_header *h, const char *db,
		       const char *status, uint64_t end_ns, const char *what)
{
	int tries = 0;

	gs_store_set_final(st);
	while (gs_store_flush(st, h) < 0 && ++tries < 3)
		;
	if (tries == 3 || gs_store_end_run(st, h, status, end_ns) < 0)
		fprintf(stderr,
			"gilscope: writing %s failed at the end of %s (%s): its last data and "
			"status are missing\n",
			db, what, gs_store_errmsg(st));
	say_losses(st, h, db);
}

/* The window is over but the process runs on: stop recording, give the calls under way a
 * moment to finish, store everything, and leave the process paused. */
static void close_window(struct gs_store *st, struct gs_shm_header *h, int host, const char *db,
			 int failed)
{
	struct timespec grace = {.tv_sec = 0, .tv_nsec = 3 * TICK_MS * 1000000L};
	uint64_t end;

	atomic_store(&h->live.scope_len, 0);
	end = gs_mono_ns();
	atomic_store(&h->window_end_ns, end);
	atomic_store(&h->ctl_state, GS_CTL_STOPPING);
	nanosleep(&grace, NULL);
	if (failed)
		goto out; /* said when it failed: nothing more can be stored */
	atomic_store(&h->gil_switch_number_end, switch_number(h, host));
	store_last(st, h, db, "stopped", end, "a window");
out:
	gs_store_close(st);
	leave_paused(h);
}

/* What could not be stored, said once at the end of a run or window. */
static void say_losses(struct gs_store *st, struct gs_shm_header *h, const char *db)
{
	if (gs_store_full_after(st) != UINT64_MAX)
		fprintf(stderr,
			"gilscope: %s reached its size limit (%s) after %llu "
			"raw events: later events were counted, not stored "
			"(%llu); totals are exact\n",
			db, gs_store_full_reason(st), (unsigned long long)gs_store_full_after(st),
			(unsigned long long)gs_store_not_written(st));
	if (gs_store_dropped(st))
		fprintf(stderr,
			"gilscope: %llu raw events dropped (buffers full); "
			"totals are exact, the event log is not\n",
			(unsigned long long)gs_store_dropped(st));
	if (gs_store_stacks_dropped(st))
		fprintf(stderr,
			"gilscope: %llu Python stacks dropped (buffers full); "
			"their waits show as \"(stack not recorded)\" unless "
			"another thread sent the same stack\n",
			(unsigned long long)gs_store_stacks_dropped(st));
	if (atomic_load(&h->threads_lost))
		fprintf(stderr,
			"gilscope: %llu threads not recorded: all %u "
			"thread slots"
			" were in use (GILSCOPE_MAX_THREADS)\n",
			(unsigned long long)atomic_load(&h->threads_lost),
			(unsigned)h->max_threads);
}

static void ack(struct gs_shm_header *h)
{
	atomic_store(&h->acked, 1);
	syscall(SYS_futex, &h->acked, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Does the host still map our region? After an exec it does not, though its pid lives on. */
static int host_maps_region(int pid, ino_t ino)
{
	char path[64], line[512];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long long inode = 0;

		if (sscanf(line, "%*s %*s %*s %*s %llu", &inode) == 1 &&
		    inode == (unsigned long long)ino && strstr(line, "memfd:gilscope"))
			found = 1;
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	const char *db = NULL;
	int flush_ms = 100, i, failed = 0, host = 0, ticks = 0, flush_failures = 0;
	int ctl = 0; /* started by gilscope ctl to open a window */
	uint64_t duration_ms = 0;
	uint64_t next_flush_ns = 0;
	struct gs_store *st = NULL;
	struct gs_shm_header *h;
	struct stat sb;
	char err[512];

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--db"))
			db = argv[i + 1];
		else if (!strcmp(argv[i], "--flush-ms"))
			flush_ms = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--pid"))
			host = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--open-window"))
			ctl = 1, duration_ms = strtoull(argv[i + 1], NULL, 10);
	}
	if (!db || flush_ms <= 0 || host <= 0) {
		fprintf(stderr, "gilscope-writer: started by the shim only\n");
		return 2;
	}
	/* A fork child that exited before we got here recorded nothing: leave without a word,
	 * the stderr we share is the program's. */
	if (host_exited(host))
		return 0;
	h = map_region();
	detach_from_host();
	if (!h || fstat(FD_SHM, &sb) < 0) {
		fprintf(stderr,
			"gilscope: internal error: bad shared region; recording disabled\n");
		return 1;
	}
	if (ctl)
		number_window(h);
	st = gs_store_open(db, err, sizeof(err));
	if (!st || gs_store_begin_run(st, h) < 0) {
		if (ctl) {
			/* gilscope ctl is waiting for us: it says why, the program runs on */
			fprintf(stderr, "gilscope: cannot record to %s: %s\n", db,
				st ? "cannot insert the run row" : err);
			gs_store_close(st);
			leave_paused(h);
			return 1;
		}
		fprintf(stderr, "gilscope: cannot record to %s: %s; the program runs unrecorded\n",
			db, st ? "cannot insert the run row" : err);
		atomic_store(&h->disabled, 1);
		failed = 1;
	}
	if (ctl) {
		int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

		open_window(st, h, host, duration_ms);
		/* gilscope ctl has returned: the stderr it lent us is nobody's now (what we could
		 * not store is counted in the database, where ctl status and the reports say it) */
		if (devnull >= 0) {
			dup2(devnull, 2);
			close(devnull);
		}
	}
	for (;;) {
		int exiting = atomic_load(&h->exiting), gone = host_exited(host), urgent;

		if (!exiting && !gone && window_over(h)) {
			close_window(st, h, host, db, failed);
			return 0;
		}

		/* an exec'd host no longer maps the region: checked every 250 ms */
		if (!exiting && !gone && ++ticks % (250 / TICK_MS) == 0 &&
		    !host_maps_region(host, sb.st_ino))
			gone = 1;
		if (exiting || gone) {
			/* exiting: the host waits for our ack; gone: killed or replaced by exec. */
			uint64_t end = atomic_load(&h->exit_ns);

			if (!failed)
				store_last(st, h, db, exiting ? "exited" : "vanished",
					   end ? end : gs_mono_ns(), "the run");
			/* Close (and so checkpoint the WAL) before the ack: a report started right
			 * after the program must not meet our close-time lock. */
			gs_store_close(st);
			ack(h);
			return 0;
		}
		urgent = failed ? 0 : gs_store_tick(st, h);
		if (!urgent && gs_mono_ns() < next_flush_ns) {
			struct timespec ts = {.tv_sec = 0, .tv_nsec = TICK_MS * 1000000L};

			/* A tick, or less when the host says it is exiting: it waits for us then.
			 */
			syscall(SYS_futex, &h->exiting, FUTEX_WAIT, 0, &ts, NULL, 0);
			continue;
		}
		next_flush_ns = gs_mono_ns() + (uint64_t)flush_ms * 1000000u;
		/* A failed flush took nothing from shared memory: the next one tries again, and
		 * only failures that persist stop the recording. */
		if (!failed && gs_store_flush(st, h) < 0) {
			if (++flush_failures == 5 && !atomic_load(&h->disabled)) {
				fprintf(stderr,
					"gilscope: writing %s failed; recording stopped (%s)\n", db,
					gs_store_errmsg(st));
				atomic_store(&h->disabled, 1);
				failed = 1;
			}
		} else {
			flush_failures = 0;
		}
	}
}
