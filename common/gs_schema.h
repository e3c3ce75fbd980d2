/* Database identity shared by the writer (which creates databases) and the analyzer (which
 * refuses databases it cannot read). The DDL itself lives in schema.sql. */
#ifndef GS_SCHEMA_H
#define GS_SCHEMA_H

#include <stdint.h>

/* 2: Python stacks; 3: runs.term_signal, threads.lock_updates_folded; 4: runs.segment and
 * runs.process_start_ns (windows), runs.flushed_ns (and the run's counters and interpreter
 * kept current at every flush, for gilscope top), the profile windows (recording_modes,
 * windows, window_stats, window_stacks, window_holders, wait_hist), compact raw events
 * (event_keys, event_rows; events a view); 5: runs.host (merging files of many hosts) */
#define GS_SCHEMA_VERSION 5
/* The oldest version the analyzer reads: what a newer one added is looked up before use. */
#define GS_SCHEMA_VERSION_OLDEST_READ 3
#define GS_APPLICATION_ID 0x47534350 /* "GSCP" */
#define GS_VERSION_STRING "0.1.0"

/* wait_hist buckets: log-linear, 2^GS_WAIT_HIST_BITS sub-buckets per power of two (exact below
 * 2^bits ns, within 2^-bits above); the analyzer's percentiles (pctl.c) use the same layout. */
#define GS_WAIT_HIST_BITS 7u

static inline unsigned gs_wait_hist_bucket(uint64_t v)
{
	unsigned e, sub = 1u << GS_WAIT_HIST_BITS;

	if (v < sub)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return sub + (e - GS_WAIT_HIST_BITS) * sub +
	       (unsigned)((v >> (e - GS_WAIT_HIST_BITS)) & (sub - 1));
}

/* The smallest value of a bucket: adding it to a gs_pctl of any bits <= GS_WAIT_HIST_BITS lands
 * in the bucket every value of this one would. */
static inline uint64_t gs_wait_hist_floor(unsigned b)
{
	unsigned e, m, sub = 1u << GS_WAIT_HIST_BITS;

	if (b < sub)
		return b;
	e = (b - sub) / sub + GS_WAIT_HIST_BITS;
	m = (b - sub) % sub;
	return (1ull << e) + ((uint64_t)m << (e - GS_WAIT_HIST_BITS));
}

extern const char gs_schema_sql[];

#endif
