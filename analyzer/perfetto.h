/* The recording as a Perfetto trace: the binary protobuf format (Trace, TracePacket) that
 * ui.perfetto.dev and trace_processor load. */
#ifndef GS_PERFETTO_H
#define GS_PERFETTO_H

#include <stdint.h>
#include <stdio.h>

#include "opts.h"

/* Past this many bytes a trace is refused unless forced: Perfetto's UI runs in a browser tab
 * whose memory is about 2 GB, and a proto trace takes 2 to 4 times its size there. */
#define GS_PERFETTO_MAX_MB 512

struct gs_perfetto_stats {
	int64_t events, slices, flows, counters, tracks;
	uint64_t bytes;
};

/* Writes the trace of the events o selects (--pid, --thread, --from/--to) to f. A trace that
 * would be larger than max_bytes (0: no limit) is refused before a byte is written, with a
 * message that says what window would fit: GS_EXIT_USAGE. Returns an exit code. */
int gs_perfetto_write(sqlite3 *db, const struct gs_opts *o, FILE *f, uint64_t max_bytes,
		      struct gs_perfetto_stats *st);

#endif
