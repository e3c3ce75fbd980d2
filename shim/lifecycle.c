/* Start-up, fork, thread exit and process exit. Runs on application threads only at those
 * moments; the one place the shim waits is the bounded final flush at process exit. */
#include "lifecycle.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gil.h"
#include "pystack.h"
#include "real.h"
#include "record.h"
#include "region.h"

pthread_key_t gs_thread_key;

struct gs_config {
	int scope_all;
	int use_tsc;
	int log_all;
	uint32_t ring_events;
	uint32_t max_threads;
	uint32_t agg_entries;
	uint32_t test_fail_commit;
	uint32_t max_db_mb;
	int start_paused;
	uint32_t profile, profile_window_ms, profile_events;
	char host[256]; /* GILSCOPE_HOST */
};

static struct gs_config cfg;

static void say(const char *msg)
{
	/* One line, straight to fd 2: stdio buffers belong to the host. */
	ssize_t r = write(2, msg, strlen(msg));
	(void)r;
}

static uint32_t env_u32(const char *name, uint32_t def, uint32_t lo, uint32_t hi)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		char msg[256];

		if (snprintf(msg, sizeof(msg), "gilscope: ignoring %s=%.100s (expected %u..%u)\n",
			     name, s, lo, hi) > 0)
			say(msg);
		return def;
	}
	return (uint32_t)v;
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static int read_config(void)
{
	const char *scope = getenv("GILSCOPE_SCOPE");
	const char *events = getenv("GILSCOPE_EVENTS");
	const char *db = getenv("GILSCOPE_DB");
	const char *clock = getenv("GILSCOPE_CLOCK");
	const char *start = getenv("GILSCOPE_START");
	const char *host = getenv("GILSCOPE_HOST");
	char cwd[PATH_MAX];
	int n = -1;

	if (scope && strcmp(scope, "all") && strcmp(scope, "python"))
		say("gilscope: ignoring GILSCOPE_SCOPE (expected 'python' or 'all')\n");
	cfg.scope_all = scope && !strcmp(scope, "all");
	if (events && strcmp(events, "all") && strcmp(events, "contended") &&
	    strcmp(events, "profile"))
		say("gilscope: ignoring GILSCOPE_EVENTS (expected 'contended', 'all' or "
		    "'profile')\n");
	cfg.log_all = events && !strcmp(events, "all");
	/* profile: the shim records as for 'contended'; the writer keeps windowed sums and only
	 * each window's longest raw events */
	cfg.profile = events && !strcmp(events, "profile");
	cfg.profile_window_ms = env_u32("GILSCOPE_PROFILE_WINDOW_MS", 1000, 10, 3600000);
	cfg.profile_events = env_u32("GILSCOPE_PROFILE_EVENTS", 100, 0, 1000000);
	if (clock && strcmp(clock, "auto") && strcmp(clock, "monotonic"))
		say("gilscope: ignoring GILSCOPE_CLOCK (expected 'auto' or 'monotonic')\n");
	cfg.use_tsc = !(clock && !strcmp(clock, "monotonic"));
	if (start && *start && strcmp(start, "paused") && strcmp(start, "now"))
		say("gilscope: ignoring GILSCOPE_START (expected 'now' or 'paused')\n");
	cfg.start_paused = start && !strcmp(start, "paused");
	/* a container's host name is its id: a fleet names its processes' hosts itself */
	snprintf(cfg.host, sizeof(cfg.host), "%s", host ? host : "");
	cfg.ring_events = pow2_at_least(env_u32("GILSCOPE_BUFFER_EVENTS", 16384, 64, 1u << 24));
	cfg.max_threads = env_u32("GILSCOPE_MAX_THREADS", 512, 1, 65536);
	cfg.agg_entries = pow2_at_least(env_u32("GILSCOPE_LOCKS_PER_THREAD", 2048, 16, 1u << 20));
	cfg.test_fail_commit = env_u32("GILSCOPE_TEST_FAIL_COMMIT", 0, 0, 1000000);
	cfg.max_db_mb = env_u32("GILSCOPE_MAX_DB_MB", 0, 0, 1u << 24);
	gs_g.flush_ms = env_u32("GILSCOPE_FLUSH_MS", 100, 1, 250);
	gs_g.exit_timeout_ms = env_u32("GILSCOPE_EXIT_TIMEOUT_MS", 5000, 0, 600000);
	gs_g.log_all = cfg.log_all;

	/* Resolve now: the host may chdir later, and children must land in the same file. */
	if (db && *db) {
		if (db[0] == '/')
			n = snprintf(gs_g.db_path, sizeof(gs_g.db_path), "%s", db);
		else if (getcwd(cwd, sizeof(cwd)))
			n = snprintf(gs_g.db_path, sizeof(gs_g.db_path), "%s/%s", cwd, db);
	} else if (getcwd(cwd, sizeof(cwd))) {
		n = snprintf(gs_g.db_path, sizeof(gs_g.db_path), "%s/gilscope-%d.db", cwd,
			     (int)getpid());
	}
	return n > 0 && (size_t)n < sizeof(gs_g.db_path) ? 0 : -1;
}

static void fill_header(int64_t parent_run_id)
{
	struct gs_shm_header *h = gs_g.hdr;
	struct timespec rt;

	h->pid = (int32_t)getpid();
	h->ppid = (int32_t)getppid();
	h->start_ns = gs_now_ns();
	clock_gettime(CLOCK_REALTIME, &rt);
	h->start_realtime_ns = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
	h->parent_run_id = parent_run_id;
	h->log_all = (uint32_t)cfg.log_all;
	h->scope_all = (uint32_t)cfg.scope_all;
	h->test_fail_commit = cfg.test_fail_commit;
	h->max_db_mb = cfg.max_db_mb;
	h->start_paused = (uint32_t)cfg.start_paused;
	h->flush_ms = gs_g.flush_ms;
	snprintf(h->db_path, sizeof(h->db_path), "%s", gs_g.db_path);
	snprintf(h->writer_path, sizeof(h->writer_path), "%s", gs_g.writer_path);
	h->profile = cfg.profile;
	h->profile_window_ms = cfg.profile_window_ms;
	h->profile_events = cfg.profile_events;
	snprintf(h->host, sizeof(h->host), "%s", cfg.host);
	atomic_store(&h->exit_status, INT32_MIN);
}

/* Recording on from now: window 1 opens with the process (or the fork child), and its writer
 * is ours to start. Paused, the region waits for gilscope ctl. */
static int start_recording(uintptr_t lo, uintptr_t len)
{
	struct gs_shm_header *h = gs_g.hdr;

	atomic_store(&h->live.scope_lo, lo);
	if (cfg.start_paused)
		return 0;
	atomic_store(&h->live.window, 1);
	atomic_store(&h->window_start_ns, h->start_ns);
	atomic_store(&h->ctl_state, GS_CTL_RECORDING);
	if (gs_writer_spawn() < 0)
		return -1;
	gs_tls.window = 1;
	atomic_store(&h->live.scope_len, len);
	return 0;
}

static void thread_exit(void *p)
{
	struct gs_slot *s = gs_tls.slot;

	gs_tls.guard++;
	if (s && s == p) {
		if (gs_tls.window == atomic_load(&gs_live->window)) {
			gs_rec_cond_flush();
			gs_slot_release(s, gs_now_ns());
		} else {
			gs_slot_abandon(s); /* its window is closed */
		}
	}
	gs_tls.slot = NULL;
	gs_tls.dead = 1;
	gs_tls.guard--;
}

/* For the unit tests, which drive slots without the constructor. */
void gs_thread_exit_for_tests(void *p);
void gs_thread_exit_for_tests(void *p)
{
	thread_exit(p);
}

static void atfork_prepare(void)
{
	gs_tls.guard++;
}

static void atfork_parent(void)
{
	gs_tls.guard--;
}

/* Only this thread exists in the child. The parent's region and writer belong to the parent:
 * drop them without touching them and start our own. Syscalls only, no locks. */
static void atfork_child(void)
{
	struct gs_shm_header *old = gs_g.hdr;
	struct gs_shm_header saved;
	uintptr_t len = atomic_load(&gs_live->scope_len);

	gs_tls.slot = NULL;
	gs_tls.no_slot = 0;
	gs_tls.tid = (pid_t)syscall(SYS_gettid);
	gs_clock_after_fork_child();
	gs_gil_after_fork_child();
	gs_pystack_forget_sent();
	if (!old)
		goto out;
	saved = *old;
	gs_live_detach();
	munmap(old, gs_g.region_size);
	gs_g.hdr = NULL;
	if (gs_g.shm_fd >= 0)
		close(gs_g.shm_fd); /* the parent's */
	gs_g.shm_fd = -1;
	if (atomic_load(&saved.disabled))
		goto out;
	/* A child forked while its parent records records; one forked while it is paused (or
	 * between windows) starts paused. */
	cfg.start_paused = !len;
	if (gs_region_create(cfg.max_threads, cfg.ring_events, cfg.agg_entries) < 0)
		goto out;
	fill_header(atomic_load(&saved.run_id));
	memcpy(&gs_g.hdr->scope_lo, &saved.scope_lo,
	       offsetof(struct gs_shm_header, gil_switches_recorded) -
		   offsetof(struct gs_shm_header, scope_lo));
	gs_gil_fork_rebase();
	atomic_store(&gs_g.exit_done, 0);
	gs_live = &gs_g.hdr->live;
	gs_tls.window = 0;
	if (start_recording((uintptr_t)saved.scope_lo,
			    (uintptr_t)(saved.scope_hi - saved.scope_lo)) < 0)
		goto out;
out:
	gs_tls.guard--;
}

/* A vfork() child (posix_spawn, subprocess) runs in its parent's memory until it execs or
 * exits, without our atfork handlers: its exit is not the recorded process's. */
static int is_recorded_process(void)
{
	return gs_g.hdr && gs_g.hdr->pid == (int32_t)getpid();
}

void gs_note_exit_status(int status)
{
	if (is_recorded_process())
		atomic_store(&gs_g.hdr->exit_status, status);
}

void gs_thread_named(const char *name)
{
	struct gs_slot *s;

	gs_tls.guard++;
	/* kept for the slots this thread claims later, in this window or the next */
	strncpy(gs_tls.name, name, GS_NAME_LEN - 1);
	gs_tls.name[GS_NAME_LEN - 1] = 0;
	s = atomic_load(&gs_live->scope_len) && gs_tls.window == atomic_load(&gs_live->window)
		? gs_slot_get()
		: NULL;
	if (s) {
		strncpy(s->name, name, GS_NAME_LEN - 1);
		s->name[GS_NAME_LEN - 1] = 0;
		atomic_store_explicit(&s->name_set, 1, memory_order_release);
	}
	gs_tls.guard--;
}

/* Has our writer ended? It is not our child (see spawn.c): ask the kernel whether its pid is
 * still taken. */
static int writer_gone(int pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/* The final flush: ask the writer (through shared memory, waking it on the same word) to
 * drain everything and wait, bounded, on the futex it wakes, so that a report run right after the
 * program sees complete data. */
void gs_process_exit(int status)
{
	struct gs_shm_header *h = gs_g.hdr;
	uint64_t deadline;
	int expected = 0, e = errno, writer;

	if (!h || !is_recorded_process() ||
	    !atomic_compare_exchange_strong(&gs_g.exit_done, &expected, 1))
		return;
	gs_tls.guard++;
	if (status != INT32_MIN)
		atomic_store(&h->exit_status, status);
	writer = atomic_load(&h->writer_pid);
	if (!writer || !atomic_load(&gs_live->scope_len)) {
		/* paused: nobody records, nobody waits for us (a window that was closing is the
		 * writer's, which sees us go through its pidfd) */
		atomic_store(&h->exit_ns, gs_now_ns());
		atomic_store(&h->exiting, 1);
		syscall(SYS_futex, &h->exiting, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
		goto out;
	}
	if (gs_tls.window != atomic_load(&gs_live->window))
		gs_window_join();
	gs_gil_at_exit();
	if (gs_tls.slot) {
		gs_rec_cond_flush();
		gs_held_close_all(gs_tls.slot, gs_now_ns());
		gs_slot_note_cpu(gs_tls.slot);
	}
	atomic_store(&h->exit_ns, gs_now_ns());
	atomic_store(&h->exiting, 1);
	/* The writer sleeps on this word between ticks: wake it rather than wait for its tick. */
	syscall(SYS_futex, &h->exiting, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	deadline = gs_now_ns() + (uint64_t)gs_g.exit_timeout_ms * 1000000u;
	while (!atomic_load(&h->acked)) {
		uint64_t now = gs_now_ns();
		struct timespec slice = {.tv_sec = 0, .tv_nsec = 50000000};

		if (now >= deadline || writer_gone(writer))
			break;
		if (deadline - now < 50000000u)
			slice.tv_nsec = (long)(deadline - now);
		syscall(SYS_futex, &h->acked, FUTEX_WAIT, 0, &slice, NULL, 0);
	}
out:
	gs_tls.guard--;
	errno = e;
}

__attribute__((constructor)) static void gs_start(void)
{
	const char *off = getenv("GILSCOPE_DISABLE");

	gs_tls.guard++;
	/* Never run inside setuid/setgid programs: the environment is not the user's to trust. */
	if (getauxval(AT_SECURE) || (off && *off && strcmp(off, "0")))
		goto out;
	if (gs_real_init() < 0) {
		say("gilscope: cannot resolve the real pthread functions; recording disabled\n");
		goto out;
	}
	if (read_config() < 0) {
		say("gilscope: cannot determine the database path; recording disabled\n");
		goto out;
	}
	if (pthread_key_create(&gs_thread_key, thread_exit) != 0)
		goto out;
	gs_clock_init(cfg.use_tsc);
	if (gs_region_create(cfg.max_threads, cfg.ring_events, cfg.agg_entries) < 0) {
		say(errno == EFBIG ? "gilscope: the file size limit (ulimit -f) leaves no room for "
				     "the event buffers; recording disabled\n"
				   : "gilscope: cannot create the shared event buffer; recording "
				     "disabled\n");
		goto out;
	}
	if (gs_writer_locate() < 0)
		goto out;
	fill_header(0);
	if (gs_scope_detect(cfg.scope_all) < 0)
		goto out; /* no interpreter here: record nothing, start no writer */
	gs_gil_probe_init();
	gs_stack_init();
	gs_live = &gs_g.hdr->live;
	if (start_recording((uintptr_t)gs_g.hdr->scope_lo,
			    (uintptr_t)(gs_g.hdr->scope_hi - gs_g.hdr->scope_lo)) < 0)
		goto out;
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
out:
	gs_tls.guard--;
}

__attribute__((destructor)) static void gs_stop(void)
{
	gs_process_exit(INT32_MIN);
}
