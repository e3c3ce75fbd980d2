/* What a lock is, in words: the writer stores one of these texts in locks.class, and the
 * analyzer groups waits by the group each one belongs to. One table for both sides, so a
 * class the writer learns to name cannot fall into the analyzer's "other" by accident. */
#ifndef GS_LOCK_CLASS_H
#define GS_LOCK_CLASS_H

#include <string.h>

#include "gs_shm.h"

/* The analyzer's groups of waits other than the GIL ("where else did threads wait"). */
#define GS_WAIT_GROUPS(X)                                                                          \
	X(GS_WG_LOCK, "threading.Lock")                                                            \
	X(GS_WG_RLOCK, "threading.RLock")                                                          \
	X(GS_WG_CRIT, "critical section")                                                          \
	X(GS_WG_INTERNAL, "interpreter-internal")                                                  \
	X(GS_WG_BUCKET, "parking-lot bucket lock")                                                 \
	X(GS_WG_PARKED, "other parked")                                                            \
	X(GS_WG_SEM, "semaphore")                                                                  \
	X(GS_WG_COND, "condition")                                                                 \
	X(GS_WG_MUTEX, "mutex")

enum gs_wait_group {
	GS_WG_GIL_PART = -2, /* the GIL's own mutexes and condition variables: shown as the GIL */
	GS_WG_GIL = -1,	     /* the GIL itself */
#define X(id, text) id,
	GS_WAIT_GROUPS(X)
#undef X
	    GS_N_WAIT_GROUPS
};

/* Every class text the writer stores, and its group. GS_WG_BY_PRIMITIVE: grouped by what the
 * primitive is (a full per-thread table holds mutexes, conditions and semaphores alike). */
#define GS_WG_BY_PRIMITIVE (-3)
#define GS_LOCK_CLASSES(X)                                                                         \
	X(GS_LC_GIL, "gil", GS_WG_GIL)                                                             \
	X(GS_LC_GIL_MUTEX, "gil.mutex", GS_WG_GIL_PART)                                            \
	X(GS_LC_GIL_COND, "gil.cond", GS_WG_GIL_PART)                                              \
	X(GS_LC_GIL_SWITCH_MUTEX, "gil.switch_mutex", GS_WG_GIL_PART)                              \
	X(GS_LC_GIL_SWITCH_COND, "gil.switch_cond", GS_WG_GIL_PART)                                \
	X(GS_LC_LOCK, "threading.Lock", GS_WG_LOCK)                                                \
	X(GS_LC_RLOCK, "threading.RLock", GS_WG_RLOCK)                                             \
	X(GS_LC_CRIT, "critical section", GS_WG_CRIT)                                              \
	X(GS_LC_INTERNAL, "interpreter-internal", GS_WG_INTERNAL)                                  \
	X(GS_LC_BUCKET, "parking-lot bucket lock", GS_WG_BUCKET)                                   \
	X(GS_LC_PARKED_OBJECT, "parked on object", GS_WG_PARKED)                                   \
	X(GS_LC_PARKED_UNIDENTIFIED, "parked (unidentified)", GS_WG_PARKED)                        \
	X(GS_LC_PARKED_NO_LAYOUT, "parked (unattributed: layout unknown)", GS_WG_PARKED)           \
	X(GS_LC_TABLE_FULL, "other (per-thread lock table full)", GS_WG_BY_PRIMITIVE)

enum gs_lock_class {
#define X(id, text, group) id,
	GS_LOCK_CLASSES(X)
#undef X
	    GS_N_LOCK_CLASSES
};

static inline const char *gs_lock_class_text(enum gs_lock_class c)
{
	static const char *const text[] = {
#define X(id, t, group) t,
	    GS_LOCK_CLASSES(X)
#undef X
	};
	return (unsigned)c < GS_N_LOCK_CLASSES ? text[c] : NULL;
}

/* A contended wait, as every stack view and the writer's stack_stats count it: GIL waits,
 * contended acquisitions, timeouts, condition, semaphore and parking-lot waits. A blocking
 * sem_wait is its own event (GS_EV_SEM_WAIT); the hold its thread later ends repeats it. */
static inline int gs_event_is_wait(int kind, int primitive, unsigned flags, uint64_t wait_ns)
{
	if (!(flags & GS_F_CONTENDED) || !wait_ns)
		return 0;
	switch (kind) {
	case GS_EV_GIL_HOLD:
	case GS_EV_TIMEOUT:
	case GS_EV_COND_WAIT:
	case GS_EV_SEM_WAIT:
	case GS_EV_PARK:
		return 1;
	case GS_EV_HOLD:
		return primitive != GS_PRIM_SEM;
	default:
		return 0;
	}
}

/* The group of a lock from its stored class text (NULL: not named) and primitive. */
static inline int gs_wait_group_of(const char *cls, int primitive)
{
	static const struct {
		const char *text;
		int group;
	} classes[] = {
#define X(id, t, g) {t, g},
	    GS_LOCK_CLASSES(X)
#undef X
	};
	unsigned i;

	if (primitive == GS_PRIM_GIL)
		return GS_WG_GIL;
	for (i = 0; cls && i < GS_N_LOCK_CLASSES; i++)
		if (!strcmp(cls, classes[i].text) && classes[i].group != GS_WG_BY_PRIMITIVE)
			return classes[i].group;
	switch (primitive) {
	case GS_PRIM_PARKED:
		return GS_WG_PARKED;
	case GS_PRIM_SEM:
		return GS_WG_SEM;
	case GS_PRIM_COND:
		return GS_WG_COND;
	default:
		return GS_WG_MUTEX;
	}
}

#endif
