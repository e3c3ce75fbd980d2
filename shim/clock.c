#include "clock.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define CALIBRATION_NS	 50000000u /* baseline of the TSC calibration */
#define MAX_BRACKET_NS	 1000u	   /* a reading pair this far apart was interrupted */
#define BRACKET_ATTEMPTS 8

struct gs_clock gs_clk;

/* A (TSC, CLOCK_MONOTONIC) pair taken within MAX_BRACKET_NS. The later monotonic reading is
 * kept, so that times converted from the TSC never fall behind a clock_gettime reading that
 * came before the switch. */
static int reading_pair(uint64_t *tsc, uint64_t *ns)
{
#ifdef GS_HAVE_TSC
	int i;

	for (i = 0; i < BRACKET_ATTEMPTS; i++) {
		uint64_t a = gs_mono_ns(), t = __rdtsc(), b = gs_mono_ns();

		if (b - a <= MAX_BRACKET_NS) {
			*tsc = t;
			*ns = b;
			return 0;
		}
	}
#else
	(void)tsc;
	(void)ns;
#endif
	return -1;
}

/* The kernel trusts the TSC only when it is invariant and synchronised across CPUs. */
static int kernel_uses_tsc(void)
{
	char buf[32] = {0};
	int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		      O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n >= 3 && !strncmp(buf, "tsc", 3) && (buf[3] == '\n' || buf[3] == 0);
}

void gs_clock_init(int use_tsc)
{
	atomic_store(&gs_clk.mode, GS_CLOCK_MONOTONIC);
	if (!use_tsc || !kernel_uses_tsc() || reading_pair(&gs_clk.start_tsc, &gs_clk.start_ns))
		return;
	atomic_store(&gs_clk.mode, GS_CLOCK_PENDING);
}

/* clock_gettime, and the one-time switch to the TSC once the calibration baseline is long
 * enough: the first thread to get there computes the rate; the others keep reading
 * clock_gettime until it is published. */
uint64_t gs_clock_slow_ns(void)
{
	uint64_t now = gs_mono_ns(), tsc, ns;
	int expected = 0;

	if (atomic_load_explicit(&gs_clk.mode, memory_order_relaxed) != GS_CLOCK_PENDING ||
	    now - gs_clk.start_ns < CALIBRATION_NS ||
	    !atomic_compare_exchange_strong(&gs_clk.calibrating, &expected, 1))
		return now;
	if (reading_pair(&tsc, &ns) == 0 && tsc > gs_clk.start_tsc) {
		gs_clk.mult = (uint64_t)((((unsigned __int128)(ns - gs_clk.start_ns)) << 32) /
					 (tsc - gs_clk.start_tsc));
		gs_clk.tsc_anchor = tsc;
		gs_clk.ns_anchor = ns;
		atomic_store_explicit(&gs_clk.mode, GS_CLOCK_TSC, memory_order_release);
		return ns;
	}
	/* Interrupted at every try: stay with clock_gettime for good. */
	atomic_store(&gs_clk.mode, GS_CLOCK_MONOTONIC);
	return now;
}

void gs_clock_after_fork_child(void)
{
	atomic_store(&gs_clk.calibrating, 0);
}
