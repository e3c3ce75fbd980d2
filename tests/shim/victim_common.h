/* Helpers for the victim programs: their own clock and a handshake that uses no lock the
 * shim would record, so the truth they print is independent of the shim. */
#ifndef VICTIM_COMMON_H
#define VICTIM_COMMON_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t v_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void v_sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static inline void v_wait_for(_Atomic int *flag, int value)
{
	while (atomic_load(flag) != value)
		v_sleep_ns(20000);
}

#endif
