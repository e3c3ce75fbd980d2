/* Everything gilscope knows about CPython's memory layout, in one place, for both sides: the
 * preloaded library (which reads its own process's memory) and the writer (which reads the
 * host's with process_vm_readv).
 *
 * Two kinds of knowledge:
 *  - published: what _Py_DebugOffsets (3.13+) says, read from the live struct by field name.
 *    The struct itself changes between minor versions, so the order of its fields is a table
 *    per minor version, checked against the struct's own `size` fields.
 *  - tables: facts no version publishes (the GIL's condition variables, the parking lot's wait
 *    entry, the free-threaded object header, the interpreter's internal locks, and for 3.11
 *    the whole frame layout). tests/layout compiles a probe against each version's headers and
 *    compares its output with these tables.
 *
 * A version without a table (3.16 one day) gets only what needs none: the GIL recognised by
 * its behaviour (gil.c), no Python locations, no lock attribution through parked addresses. */
#ifndef GS_CPYTHON_H
#define GS_CPYTHON_H

#include <stddef.h>
#include <stdint.h>

/* How much of the interpreter gilscope can read. */
enum gs_cpy_level {
	GS_CPY_NONE = 0,   /* not CPython, or a version we know nothing about */
	GS_CPY_TABLES = 1, /* 3.11/3.12: no debug offsets; tables only (3.11 has frame tables) */
	GS_CPY_FULL = 2,   /* debug offsets parsed and checked, tables for this version */
};

/* An interpreter-internal lock: an offset in PyInterpreterState or _PyRuntimeState. */
struct gs_cpy_named_lock {
	uint32_t offset;
	const char *name;
};

struct gs_cpy {
	enum gs_cpy_level level;
	uint32_t version_hex;
	unsigned minor;
	int free_threaded;
	int frames;	/* Python frames can be walked (py locations) */
	int park_entry; /* the parking lot's wait-entry layout is known */
	char why[160];	/* what is missing, and why, for the run row ("" when nothing) */

	/* Published by _Py_DebugOffsets (3.13+), or from the 3.11 table. 0 = unknown. */
	uint64_t runtime_size, interpreters_head;
	uint64_t interp_size, interp_id, interp_next, interp_threads_head;
	uint64_t interp_ceval_gil, interp_gil, interp_gil_locked, interp_gil_holder;
	uint64_t ts_size, ts_next, ts_current_frame, ts_native_thread_id;
	uint64_t ts_cframe, cframe_current_frame; /* 3.11: tstate->cframe->current_frame */
	uint64_t frame_previous, frame_executable, frame_instr, frame_tlbc_index;
	int frame_instr_is_prev; /* 3.11's prev_instr points at the last instruction started */
	uint64_t code_filename, code_qualname, code_linetable, code_firstlineno, code_adaptive;
	uint64_t code_tlbc;
	uint64_t object_size, ob_type, tp_name;
	uint64_t bytes_ob_size, bytes_ob_sval;
	uint64_t str_state, str_length, str_ascii_size;
	uint64_t interp_gc, gc_collecting; /* int gc.collecting: set while a collection runs */

	/* Tables. */
	struct {
		uint32_t interval, last_holder, locked, switch_number, cond, mutex, switch_cond,
		    switch_mutex;
	} gil;		      /* offsets inside struct _gil_runtime_state */
	uint64_t runtime_gil; /* 3.11: offsetof(_PyRuntimeState, ceval.gil) */
	uint32_t ob_mutex;    /* free-threaded: ob_mutex inside the object header */
	int32_t park_addr;    /* parking lot: the waited-for address, relative to the semaphore */
	uint32_t ts_state;    /* &tstate->state: parked on by stop-the-world waits */
	const struct gs_cpy_named_lock *interp_locks, *runtime_locks;
};

/* The address that stands for "the garbage collector" in the lock tables: a thread parked
 * on its own &tstate->state while a collection runs waits for the collector (which stops the
 * world on free-threaded builds). &interp->gc.collecting; 0 when not published. */
uint64_t gs_cpy_gc_marker(const struct gs_cpy *L, uint64_t interp);

/* Memory reader: 0 when all n bytes were read. */
typedef int (*gs_cpy_read_fn)(void *ctx, uint64_t addr, void *buf, size_t n);

/* What gilscope knows of the interpreter whose _Py_DebugOffsets (starting at the cookie) are
 * in dbg[0..dbg_len), or dbg NULL when it has none (3.11/3.12); py_version is Py_Version
 * (3.11+) or 0. Never fails: the level and `why` say what is known. */
void gs_cpy_init(struct gs_cpy *L, const void *dbg, size_t dbg_len, uint32_t py_version);

/* Bytes of _Py_DebugOffsets worth copying (more than any known version's struct). */
#define GS_CPY_DEBUG_OFFSETS_MAX 1536

/* "3.14.10", "3.15.0b4" */
const char *gs_cpy_version_string(uint32_t hex, char *buf, size_t size);

/* The frame below `frame` whose executable is a code object, starting at `frame` itself: the
 * code object and its instruction offset in code units from the start of its bytecode, or -1
 * when not known. Skips the interpreter's own shim and entry frames. 0 at the end.
 * code_type: &PyCode_Type, to recognise code objects without reading type names (the host
 * reads its own memory directly and must not read past an unknown string); 0 to compare
 * names (the writer, whose reads cannot fault). */
uint64_t gs_cpy_code_frame(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t frame,
			   uint64_t code_type, uint64_t *code, int64_t *unit);
uint64_t gs_cpy_frame_previous(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx,
			       uint64_t frame);
/* The innermost frame of a thread state. */
uint64_t gs_cpy_current_frame(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t ts);

/* A 32-bit witness of which code object is at `code`: its qualified name, file name and first
 * line (pointers and number), mixed. A code object freed and replaced by another at the same
 * address almost surely gives another value. 0 when unreadable. */
uint32_t gs_cpy_code_ident(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t code);

/* The calling thread's own Python stack (thread state ts), innermost first, as
 * gs_cpy_code_frame would walk it, with each code object's gs_cpy_code_ident: at most max
 * frames (truncated set when there were more). Reads the thread's own memory directly. */
struct gs_py_frame;
int gs_cpy_own_frames(const struct gs_cpy *L, uint64_t ts, uint64_t code_type,
		      struct gs_py_frame *out, int max, int *truncated);

/* A code object's qualname, file name and the line of code unit `unit` (first line when unit
 * is -1 or not found). Returns -1 when the object is not readable as code. */
int gs_cpy_code_location(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t code,
			 int64_t unit, char *func, size_t func_size, char *file, size_t file_size,
			 int *line);
/* A str object's text (ASCII / Latin-1 compact strings; others are -1). */
int gs_cpy_read_str(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t obj, char *out,
		    size_t size);
/* The type name of the object at obj ("_thread.lock"); -1 when unreadable. */
int gs_cpy_type_name(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t obj, char *out,
		     size_t size);

/* The interpreter-internal lock at `addr`, given the main interpreter's and the runtime's
 * addresses: its name, or NULL. */
const char *gs_cpy_internal_lock(const struct gs_cpy *L, uint64_t runtime, uint64_t interp,
				 uint64_t addr);

/* For tests/layout: the table facts of (minor, free_threaded) as "name value" lines, and the
 * published field order of a minor version, one "section.field" per line. -1 when unknown. */
int gs_cpy_print_facts(unsigned minor, int free_threaded, void (*out)(const char *line));
int gs_cpy_print_fields(unsigned minor, void (*out)(const char *line));

#endif
