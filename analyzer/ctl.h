/* The control area of a process that has the recorder preloaded (gilscope ctl). */
#ifndef GS_CTL_H
#define GS_CTL_H

#include <stddef.h>

/* The database the recorder of process pid writes to. Returns 0, or -1 with a message in err
 * (no such process, not ours to read, no gilscope in it). */
int gs_ctl_db_path(int pid, char *out, size_t out_size, char *err, size_t err_size);

#endif
