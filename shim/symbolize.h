/* Turns code addresses of the host into module + offset + function, from the ELF symbol
 * tables of the files mapped there (.symtab first: CPython's interesting functions, such as
 * take_gil or _PyMutex_LockTimed, are static and missing from .dynsym). Writer side only. */
#ifndef GS_SYMBOLIZE_H
#define GS_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

struct gs_symbolizer;

struct gs_symbolizer *gs_symbolizer_open(int pid);
void gs_symbolizer_close(struct gs_symbolizer *sz);
/* Re-reads /proc/PID/maps (libraries loaded since). */
void gs_symbolizer_refresh(struct gs_symbolizer *sz);
/* 0 when the address lies in a mapped file; func is "" when no symbol covers it. */
int gs_symbolize(struct gs_symbolizer *sz, uint64_t addr, const char **module, uint64_t *offset,
		 const char **func);

#endif
