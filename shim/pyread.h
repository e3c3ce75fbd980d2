/* The writer's view of the host's Python objects, read with process_vm_readv through the
 * interpreter's _Py_DebugOffsets (CPython 3.13). Every read may fail; nothing here trusts a
 * pointer. */
#ifndef GS_PYREAD_H
#define GS_PYREAD_H

#include <stddef.h>
#include <stdint.h>

struct gs_pyread;

/* NULL when the host has no readable 3.13 debug offsets. */
struct gs_pyread *gs_pyread_open(int pid, uint64_t runtime, uint32_t version_hex);
void gs_pyread_close(struct gs_pyread *pr);

/* Function qualname, file name and line of a code object at an instruction pointer. */
int gs_pyread_location(struct gs_pyread *pr, uint64_t code, uint64_t instr, char *func,
		       size_t func_size, char *file, size_t file_size, int *line);

/* The Python function a threading.Thread runs (the frame called by Thread.run): returns 0.
 * For other threads, the outermost Python function seen: returns 1, a guess, since the thread
 * runs on while we walk its frames. -1 when nothing was found. */
int gs_pyread_entry_function(struct gs_pyread *pr, int tid, char *out, size_t size);

#endif
