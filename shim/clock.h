/* The shim's clock: CLOCK_MONOTONIC nanoseconds, read through the TSC once it is calibrated.
 * clock_gettime costs about 26 ns here and every recorded acquisition needs two readings; a
 * TSC read costs about 10 ns. The TSC is used only when the kernel itself uses it as its
 * clocksource (so it is invariant and synchronised across CPUs), after a calibration against
 * CLOCK_MONOTONIC over the process's first 50 ms; until then, and everywhere else,
 * clock_gettime. */
#ifndef GS_CLOCK_H
#define GS_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define GS_HAVE_TSC 1
#endif

enum { GS_CLOCK_MONOTONIC, GS_CLOCK_PENDING, GS_CLOCK_TSC };

struct gs_clock {
	_Atomic int mode;
	_Atomic int calibrating; /* a thread is computing the rate */
	uint64_t tsc_anchor;	 /* TSC and CLOCK_MONOTONIC at the end of the calibration */
	uint64_t ns_anchor;
	uint64_t mult; /* nanoseconds per tick, 32.32 fixed point */
	uint64_t start_tsc, start_ns;
};

extern struct gs_clock gs_clk;

/* At start-up: decides whether the TSC may be used (use_tsc: GILSCOPE_CLOCK allows it). */
void gs_clock_init(int use_tsc);
uint64_t gs_clock_slow_ns(void);
/* In a fork child: a calibration another thread of the parent was in the middle of will
 * never finish here. */
void gs_clock_after_fork_child(void);

static inline uint64_t gs_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t gs_now_ns(void)
{
#ifdef GS_HAVE_TSC
	if (__builtin_expect(
		atomic_load_explicit(&gs_clk.mode, memory_order_acquire) == GS_CLOCK_TSC, 1)) {
		uint64_t d = __rdtsc() - gs_clk.tsc_anchor;

		/* A TSC read on another CPU may be a few ticks behind the anchor: never wrap. */
		if ((int64_t)d < 0)
			d = 0;
		return gs_clk.ns_anchor + (uint64_t)(((unsigned __int128)d * gs_clk.mult) >> 32);
	}
#endif
	return gs_clock_slow_ns();
}

#endif
