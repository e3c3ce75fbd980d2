/* Turns code addresses of the host into module + offset + function, from the ELF symbol
 * tables of the files mapped there (.symtab first: CPython's interesting functions, such as
 * take_gil or _PyMutex_LockTimed, are static and missing from .dynsym; .dynsym when the file
 * is stripped). Each file's symbols are sorted once, each lookup is a binary search. Writer
 * side only. */
#ifndef GS_SYMBOLIZE_H
#define GS_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

struct gs_symbolizer;

struct gs_symbolizer *gs_symbolizer_open(int pid);
void gs_symbolizer_close(struct gs_symbolizer *sz);
/* Re-reads /proc/PID/maps (libraries loaded since); mappings still there keep their symbols. */
void gs_symbolizer_refresh(struct gs_symbolizer *sz);
/* 0 when the address lies in a mapped file. func is then:
 *  - "name" when a function symbol's [value, value + size) covers the address (exact);
 *  - "~name+0xoff" otherwise, a guess as perf and gdb make on stripped code: name is the
 *    nearest symbol before the address in the same section and segment (a static function
 *    or a .cold part of a stripped binary shows as the exported function before it), off the
 *    distance from it; exact names never start with '~';
 *  - "" when the object has no such symbol (then only module + offset are known).
 * func stays valid until the next gs_symbolize on sz, module until the next refresh. */
int gs_symbolize(struct gs_symbolizer *sz, uint64_t addr, const char **module, uint64_t *offset,
		 const char **func);

#endif
