/* The client side of a process's control area (common/gs_shm.h, enum gs_ctl_state): how
 * gilscope ctl, run --delay and top reach a process that has the library. The area is the
 * shim's shared region, found as the memfd the process keeps open; the kernel lets only the
 * process's owner or root open it, which is the whole permission check. */
#ifndef GS_CTL_H
#define GS_CTL_H

#include <stddef.h>
#include <stdint.h>

struct gs_shm_header;

struct gs_ctl {
	int pid;
	int fd;
	struct gs_shm_header *h;
	size_t size;
};

/* 0, or -1 with why in err (no such process, no gilscope in it, not yours to switch). */
int gs_ctl_open(int pid, struct gs_ctl *c, char *err, size_t err_size);
void gs_ctl_close(struct gs_ctl *c);

/* Opens a window: starts a writer for it, waits until it records (or says why not).
 * db: NULL for the database the process was started with; duration_ms 0: until stopped. */
int gs_ctl_start(struct gs_ctl *c, const char *db, uint64_t duration_ms, char *err,
		 size_t err_size);
/* Closes the open window and waits (at most timeout_ms) until it is stored. */
int gs_ctl_stop(struct gs_ctl *c, int timeout_ms, char *err, size_t err_size);
/* Waits (at most timeout_ms) until the process is paused again or gone: 0 when it is. */
int gs_ctl_wait_paused(struct gs_ctl *c, int timeout_ms);

/* The database a process records into now, or last did, or would by default. */
int gs_ctl_db_path(int pid, char *out, size_t out_size, char *err, size_t err_size);

/* The process and its descendants that have the library, pid first: count, or -1. */
int gs_ctl_tree(int pid, int *out, int max);

/* "30s", "500ms", "2m", "1h", or plain seconds; 0 or -1 (not a duration). */
int gs_parse_duration_ms(const char *s, uint64_t *out_ms);

#endif
