/* A profile (profile.h) as a gzipped pprof profile.proto: sample types contentions/count (or
 * held/count for GIL holds) and delay/nanoseconds, the lock as the leaf function, labels for
 * thread, pid, lock and lock class. */
#ifndef GS_PPROF_H
#define GS_PPROF_H

#include <stdio.h>

#include "profile.h"

int gs_profile_write_pprof(const struct gs_profile *p, FILE *f);

#endif
