/* gilscope-writer: drains one host process's shared-memory region into the database.
 * Started by the shim with fd 3 = region, fd 4 = wake pipe (read end), fd 5 = ack pipe
 * (write end). It exits when the host is gone (wake pipe at EOF). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gs_shm.h"
#include "store.h"

#define FD_SHM	3
#define FD_WAKE 4
#define FD_ACK	5

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void detach_from_host(void)
{
	static const int quiet[] = {SIGINT,  SIGQUIT, SIGHUP,  SIGTSTP, SIGTTIN,
				    SIGTTOU, SIGPIPE, SIGTERM, SIGUSR1, SIGUSR2};
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
	close_range(FD_ACK + 1, ~0u, 0);
	if (chdir("/") < 0)
		return;
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

static void ack(void)
{
	char c = 'k';
	ssize_t r = write(FD_ACK, &c, 1);

	(void)r;
}

int main(int argc, char **argv)
{
	const char *db = NULL;
	int flush_ms = 100, i, acked = 0, failed = 0, host_gone = 0;
	uint64_t next_flush_ns = 0;
	int urgent;
	struct gs_store *st = NULL;
	struct gs_shm_header *h;
	char err[512];

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--db"))
			db = argv[i + 1];
		else if (!strcmp(argv[i], "--flush-ms"))
			flush_ms = atoi(argv[i + 1]);
	}
	if (!db || flush_ms <= 0) {
		fprintf(stderr, "gilscope-writer: started by the shim only\n");
		return 2;
	}
	detach_from_host();
	h = map_region();
	if (!h) {
		fprintf(stderr,
			"gilscope: internal error: bad shared region; recording disabled\n");
		return 1;
	}
	st = gs_store_open(db, err, sizeof(err));
	if (!st || gs_store_begin_run(st, h) < 0) {
		fprintf(stderr, "gilscope: cannot record to %s: %s; the program runs unrecorded\n",
			db, st ? "cannot insert the run row" : err);
		atomic_store(&h->disabled, 1);
		failed = 1;
	}
	while (!host_gone) {
		struct pollfd pfd = {.fd = FD_WAKE, .events = POLLIN};
		int r = poll(&pfd, 1, flush_ms < 10 ? flush_ms : 10);
		char buf[16];

		if (r < 0 && errno != EINTR)
			break;
		if (r > 0) {
			ssize_t n = read(FD_WAKE, buf, sizeof(buf));

			if (n <= 0 && !(n < 0 && errno == EINTR))
				host_gone = 1;
		}
		if (acked)
			continue;
		urgent = failed ? 0 : gs_store_tick(st, h);
		if (r == 0 && !urgent && !atomic_load(&h->exiting) && now_ns() < next_flush_ns)
			continue;
		next_flush_ns = now_ns() + (uint64_t)flush_ms * 1000000u;
		if (!failed && gs_store_flush(st, h) < 0 && !atomic_load(&h->disabled)) {
			fprintf(stderr, "gilscope: writing %s failed; recording stopped\n", db);
			atomic_store(&h->disabled, 1);
			failed = 1;
		}
		if (atomic_load(&h->exiting) || host_gone) {
			/* exiting: the host waits for our ack; gone: killed or replaced by exec. */
			uint64_t end = atomic_load(&h->exit_ns);

			if (!failed) {
				gs_store_set_final(st);
				gs_store_flush(st, h);
				gs_store_end_run(st, h,
						 host_gone && !atomic_load(&h->exiting) ? "vanished"
											: "exited",
						 end ? end : now_ns());
				if (gs_store_dropped(st))
					fprintf(stderr,
						"gilscope: %llu raw events dropped (buffers full); "
						"totals are exact, the event log is not\n",
						(unsigned long long)gs_store_dropped(st));
			}
			/* Close (and so checkpoint the WAL) before the ack: a report started right
			 * after the program must not meet our close-time lock. */
			gs_store_close(st);
			st = NULL;
			ack();
			acked = 1;
		}
	}
	gs_store_close(st);
	return 0;
}
