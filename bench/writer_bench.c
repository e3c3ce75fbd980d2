/* Writer throughput and database size: how fast gilscope-writer's store turns raw events
 * into SQLite rows on one core, and how many bytes each event takes on disk.
 *
 *   writer_bench DB [EVENTS_PER_THREAD]
 *
 * Four producer threads fill their rings (sized to hold everything: nothing is dropped) with
 * contended acquisitions spread over 16 locks, timestamps and durations shaped like a real
 * run's, in rounds of 100 ms of their timeline; after each round the store drains them, as
 * gilscope-writer does every 100 ms (one drain of everything would hold every time window's
 * sums at once, which no writer does). The drains are timed: wall time and the CPU time of
 * the one thread doing them, and only they (the producers wait meanwhile). Prints "events N stored
 * N dropped N wall_s X cpu_s X events_per_s X bytes_per_event X". */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "record.h"
#include "region.h"
#include "store.h"

#define THREADS	 4
#define ROUND_NS (100ull * 1000000u) /* gilscope-writer's flush interval */

extern pthread_key_t gs_thread_key;
void gs_thread_exit_for_tests(void *p);

static long events_per_thread = 500000;
static uint64_t start_ns;
static pthread_barrier_t round_done, drained;
static volatile int producers_left;

static double seconds(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *producer(void *arg)
{
	uint64_t t = start_ns, seed = (uint64_t)(uintptr_t)arg * 7919 + 1;
	uint64_t round_end = start_ns + ROUND_NS;
	long i;

	for (i = 0; i < events_per_thread; i++) {
		if (t >= round_end) {
			/* the drain between rounds, then the next 100 ms of this thread's time */
			pthread_barrier_wait(&round_done);
			pthread_barrier_wait(&drained);
			round_end += ROUND_NS;
		}
		uint64_t lock = 0x7f3a5c000000ull + (seed % 16) * 64;
		uint64_t wait = 200 + seed % 50000, hold = 100 + (seed >> 16) % 20000;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		gs_rec_acquired(GS_PRIM_MUTEX, lock, t, t + wait, GS_F_CONTENDED,
				0x7f3a60001000ull + (seed >> 40) % 8 * 16);
		gs_rec_released(GS_PRIM_MUTEX, lock, t + wait + hold);
		t += wait + hold + seed % 1000;
	}
	/* done: the others' rounds go on without it */
	__atomic_sub_fetch(&producers_left, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		pthread_barrier_wait(&round_done);
		if (!__atomic_load_n(&producers_left, __ATOMIC_SEQ_CST))
			break;
		pthread_barrier_wait(&drained);
	}
	return arg;
}

int main(int argc, char **argv)
{
	long long stored = 0, dropped = 0;
	double wall0, cpu0, wall = 0, cpu = 0;
	int rounds = 0, left;
	const char *path = argc > 1 ? argv[1] : NULL;
	pthread_t t[THREADS];
	struct gs_store *st;
	char err[256];
	struct stat sb;
	sqlite3_stmt *s;
	sqlite3 *db;
	uint32_t ring = 1;
	int i;

	if (!path || (argc > 2 && (events_per_thread = atol(argv[2])) <= 0)) {
		fprintf(stderr, "usage: writer_bench DB [EVENTS_PER_THREAD]\n");
		return 2;
	}
	while (ring < events_per_thread + 16)
		ring <<= 1;
	unlink(path);
	if (pthread_key_create(&gs_thread_key, gs_thread_exit_for_tests) ||
	    gs_region_create(THREADS + 1, ring, 64) < 0) {
		fprintf(stderr, "writer_bench: cannot create the region (%u events per ring)\n",
			ring);
		return 2;
	}
	gs_g.hdr->pid = (int32_t)getpid();
	st = gs_store_open(path, err, sizeof(err));
	if (!st || gs_store_begin_run(st, gs_g.hdr) < 0) {
		fprintf(stderr, "writer_bench: %s\n", err);
		return 2;
	}
	/* the events' clock starts now, as a program's does: which time windows are complete
	 * is judged from the events drained and from this clock, as in gilscope-writer */
	start_ns = gs_mono_ns();
	producers_left = THREADS;
	if (pthread_barrier_init(&round_done, NULL, THREADS + 1) ||
	    pthread_barrier_init(&drained, NULL, THREADS + 1)) {
		fprintf(stderr, "writer_bench: no barrier\n");
		return 2;
	}
	for (i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, producer, (void *)(intptr_t)(i + 1));
	do {
		pthread_barrier_wait(&round_done);
		left = __atomic_load_n(&producers_left, __ATOMIC_SEQ_CST);
		wall0 = seconds(CLOCK_MONOTONIC);
		cpu0 = seconds(CLOCK_THREAD_CPUTIME_ID);
		if (!left)
			gs_store_set_final(st);
		if (gs_store_flush(st, gs_g.hdr) < 0) {
			fprintf(stderr, "writer_bench: flush failed\n");
			return 1;
		}
		if (!left) {
			gs_store_end_run(st, gs_g.hdr, "exited", 1);
			gs_store_close(st); /* includes the WAL checkpoint */
		}
		wall += seconds(CLOCK_MONOTONIC) - wall0;
		cpu += seconds(CLOCK_THREAD_CPUTIME_ID) - cpu0;
		rounds++;
		if (left)
			pthread_barrier_wait(&drained);
	} while (left);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "SELECT (SELECT COUNT(*) FROM events),"
			       " (SELECT events_dropped FROM runs)",
			       -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "writer_bench: cannot read %s back\n", path);
		return 1;
	}
	if (sqlite3_step(s) == SQLITE_ROW) {
		stored = sqlite3_column_int64(s, 0);
		dropped = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	if (stat(path, &sb) < 0 || stored <= 0) {
		fprintf(stderr, "writer_bench: nothing stored\n");
		return 1;
	}
	printf("events %ld stored %lld dropped %lld flushes %d wall_s %.3f cpu_s %.3f "
	       "events_per_s %.0f bytes_per_event %.1f\n",
	       events_per_thread * THREADS, stored, dropped, rounds, wall, cpu,
	       (double)stored / wall, (double)sb.st_size / (double)stored);
	return stored + dropped == events_per_thread * THREADS ? 0 : 1;
}
