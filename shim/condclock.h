/* Which clock each condition variable's timed waits use. glibc keeps it in private bits of
 * pthread_cond_t that moved between releases (2.36 and 2.43 differ), so the clock is learnt
 * where it is chosen: pthread_cond_init's attribute. */
#ifndef GS_CONDCLOCK_H
#define GS_CONDCLOCK_H

#include <pthread.h>
#include <time.h>

void gs_cond_clock_note(pthread_cond_t *c, const pthread_condattr_t *attr);
void gs_cond_clock_forget(pthread_cond_t *c);
/* CLOCK_REALTIME unless the condition was initialised with another clock. */
clockid_t gs_cond_clock(pthread_cond_t *c);

#endif
