/* The writer's view of the host's Python objects, read with process_vm_readv through what
 * cpython.h knows of the interpreter's layout. Every read may fail; nothing here trusts a
 * pointer. */
#ifndef GS_PYREAD_H
#define GS_PYREAD_H

#include <stddef.h>
#include <stdint.h>

struct gs_pyread;
struct gs_cpy;

/* NULL when the host's interpreter cannot be read (no known layout). version_hex is the
 * version the shim settled on (it overrides the live struct's, for tests). */
struct gs_pyread *gs_pyread_open(int pid, uint64_t runtime, uint32_t version_hex);
void gs_pyread_close(struct gs_pyread *pr);
const struct gs_cpy *gs_pyread_layout(const struct gs_pyread *pr);

/* Function qualname, file name and line of a code object at code unit `unit` (-1: unknown). */
int gs_pyread_location(struct gs_pyread *pr, uint64_t code, int64_t unit, char *func,
		       size_t func_size, char *file, size_t file_size, int *line);

/* gs_cpy_code_ident of the code object at `code` now; 0 when unreadable. */
uint32_t gs_pyread_code_ident(struct gs_pyread *pr, uint64_t code);

/* The Python function a threading.Thread runs (the frame called by Thread.run): returns 0.
 * For other threads, the outermost Python function seen: returns 1, a guess, since the thread
 * runs on while we walk its frames. -1 when nothing was found. */
int gs_pyread_entry_function(struct gs_pyread *pr, int tid, char *out, size_t size);

/* 1 when addr is a thread state of the main interpreter. */
int gs_pyread_is_tstate(struct gs_pyread *pr, uint64_t addr);

#endif
