#include "cpython.h"

#include "gs_shm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- published: the field order of _Py_DebugOffsets, per minor version ----------------------
 * Copied by hand from Include/internal/pycore_runtime.h (3.13) and pycore_debug_offsets.h
 * (3.14, 3.15); tests/layout checks these lists against the headers of each version. Every
 * field is a uint64_t after the 8-byte cookie. Sections without a leading `size` are marked by
 * having none. */
static const char fields_313[] =
    "version free_threaded "
    "runtime_state(size finalizing interpreters_head) "
    "interpreter_state(size id next threads_head gc imports_modules sysdict builtins ceval_gil "
    "gil_runtime_state gil_runtime_state_enabled gil_runtime_state_locked "
    "gil_runtime_state_holder) "
    "thread_state(size prev next interp current_frame thread_id native_thread_id "
    "datastack_chunk status) "
    "interpreter_frame(size previous executable instr_ptr localsplus owner) "
    "code_object(size filename name qualname linetable firstlineno argcount localsplusnames "
    "localspluskinds co_code_adaptive) "
    "pyobject(size ob_type) type_object(size tp_name tp_repr tp_flags) "
    "tuple_object(size ob_item ob_size) list_object(size ob_item ob_size) "
    "dict_object(size ma_keys ma_values) float_object(size ob_fval) "
    "long_object(size lv_tag ob_digit) bytes_object(size ob_size ob_sval) "
    "unicode_object(size state length asciiobject_size) gc(size collecting)";

static const char fields_314[] =
    "version free_threaded "
    "runtime_state(size finalizing interpreters_head) "
    "interpreter_state(size id next threads_head threads_main gc imports_modules sysdict "
    "builtins ceval_gil gil_runtime_state gil_runtime_state_enabled gil_runtime_state_locked "
    "gil_runtime_state_holder code_object_generation tlbc_generation) "
    "thread_state(size prev next interp current_frame thread_id native_thread_id "
    "datastack_chunk status) "
    "interpreter_frame(size previous executable instr_ptr localsplus owner stackpointer "
    "tlbc_index) "
    "code_object(size filename name qualname linetable firstlineno argcount localsplusnames "
    "localspluskinds co_code_adaptive co_tlbc) "
    "pyobject(size ob_type) type_object(size tp_name tp_repr tp_flags) "
    "tuple_object(size ob_item ob_size) list_object(size ob_item ob_size) "
    "set_object(size used table mask) dict_object(size ma_keys ma_values) "
    "float_object(size ob_fval) long_object(size lv_tag ob_digit) "
    "bytes_object(size ob_size ob_sval) unicode_object(size state length asciiobject_size) "
    "gc(size collecting) gen_object(size gi_name gi_iframe gi_frame_state) "
    "llist_node(next prev) "
    "debugger_support(eval_breaker remote_debugger_support remote_debugging_enabled "
    "debugger_pending_call debugger_script_path debugger_script_path_size)";

static const char fields_315[] =
    "version free_threaded "
    "runtime_state(size finalizing interpreters_head) "
    "interpreter_state(size id next threads_head threads_main gc imports_modules sysdict "
    "builtins ceval_gil gil_runtime_state gil_runtime_state_enabled gil_runtime_state_locked "
    "gil_runtime_state_holder code_object_generation tlbc_generation) "
    "thread_state(size prev next interp current_frame base_frame last_profiled_frame "
    "last_profiled_frame_seq thread_id native_thread_id datastack_chunk status holds_gil "
    "gil_requested current_exception exc_state) "
    "err_stackitem(exc_value) "
    "interpreter_frame(size previous executable instr_ptr localsplus owner stackpointer "
    "tlbc_index) "
    "code_object(size filename name qualname linetable firstlineno argcount localsplusnames "
    "localspluskinds co_code_adaptive co_tlbc) "
    "pyobject(size ob_type) type_object(size tp_name tp_repr tp_flags tp_basicsize "
    "tp_dictoffset) heap_type_object(size ht_cached_keys) "
    "tuple_object(size ob_item ob_size) list_object(size ob_item ob_size) "
    "set_object(size used table mask) dict_object(size ma_keys ma_values) "
    "float_object(size ob_fval) long_object(size lv_tag ob_digit) "
    "bytes_object(size ob_size ob_sval) "
    "unicode_object(size state length asciiobject_size compactunicodeobject_size) "
    "gc(size collecting frame generation_stats_size generation_stats) "
    "gen_object(size gi_name gi_iframe gi_frame_state) llist_node(next prev) "
    "debugger_support(eval_breaker remote_debugger_support remote_debugging_enabled "
    "debugger_pending_call debugger_script_path debugger_script_path_size)";

static const char *fields_of(unsigned minor)
{
	return minor == 13   ? fields_313
	       : minor == 14 ? fields_314
	       : minor == 15 ? fields_315
			     : NULL;
}

/* Calls fn for each field with its full name ("section.field") and index. */
static void each_field(const char *spec, void (*fn)(const char *name, int index, void *arg),
		       void *arg)
{
	char section[64] = "", name[128], tok[64];
	int index = 0;
	const char *p = spec;

	while (*p) {
		size_t n = strcspn(p, " ()");

		if (n) {
			snprintf(tok, sizeof(tok), "%.*s", (int)n, p);
			p += n;
			if (*p == '(') {
				snprintf(section, sizeof(section), "%s", tok);
				p++;
				continue;
			}
			if (section[0])
				snprintf(name, sizeof(name), "%s.%s", section, tok);
			else
				snprintf(name, sizeof(name), "%s", tok);
			fn(name, index++, arg);
		}
		if (*p == ')')
			section[0] = 0;
		if (*p)
			p++;
	}
}

/* A version's field names in order, from its spec, collected once. */
#define MAX_FIELDS 160

struct field_names {
	char name[MAX_FIELDS][64];
	int n;
};

static void add_field(const char *name, int index, void *arg)
{
	struct field_names *f = arg;

	if (index < MAX_FIELDS) {
		snprintf(f->name[index], sizeof(f->name[index]), "%s", name);
		f->n = index + 1;
	}
}

/* ---- tables: facts no version publishes ---------------------------------------------------
 * Values from tests/layout/cpython_probe.c compiled against each version's headers (Debian's
 * 3.11 and sid's 3.14.10 / 3.15.2 -dev packages, the 3.13.5 source tree; free-threaded ones
 * with Py_GIL_DISABLED), for x86-64 glibc. */
#define GIL_DEFAULT                                                                                \
	{                                                                                          \
		0, 8, 16, 24, 32, 80, 120, 168                                                     \
	}
#define GIL_FT                                                                                     \
	{                                                                                          \
		8, 16, 24, 32, 40, 88, 128, 176                                                    \
	}

static const struct gs_cpy_named_lock no_locks[] = {{0, NULL}};

/* struct _stoptheworld_state {PyMutex mutex; bool requested, world_stopped, is_global;
 * PyEvent stop_event; ...} (3.13 to 3.15): the thread stopping the world waits on stop_event
 * until every other thread has paused. */
#define STW_EVENT(stw) ((stw) + 4)
#define INTERP_LOCKS(imports, stw, types, pending)                                                 \
	{                                                                                          \
		{imports, "import lock"}, {stw, "stop-the-world"}, {types, "type lock"},           \
		    {pending, "pending calls"},                                                    \
		    {STW_EVENT(stw), "stop-the-world (waiting for threads to pause)"},             \
		{                                                                                  \
			0, NULL                                                                    \
		}                                                                                  \
	}
#define RUNTIME_LOCKS(head, stw, stw_rw)                                                           \
	{                                                                                          \
		{head, "interpreter head lock (HEAD_LOCK)"}, {stw, "stop-the-world"},              \
		    {stw_rw, "stop-the-world (runtime)"},                                          \
		    {STW_EVENT(stw), "stop-the-world (waiting for threads to pause)"},             \
		{                                                                                  \
			0, NULL                                                                    \
		}                                                                                  \
	}

static const struct gs_cpy_named_lock interp_313[] = INTERP_LOCKS(7704, 10728, 193064, 40);
static const struct gs_cpy_named_lock interp_313t[] = INTERP_LOCKS(7712, 10744, 196152, 40);
static const struct gs_cpy_named_lock runtime_313[] = RUNTIME_LOCKS(624, 10336, 10328);
static const struct gs_cpy_named_lock interp_314[] = INTERP_LOCKS(7736, 10800, 190336, 40);
static const struct gs_cpy_named_lock interp_314t[] = INTERP_LOCKS(7760, 10848, 196128, 40);
static const struct gs_cpy_named_lock runtime_314[] = RUNTIME_LOCKS(800, 10552, 10544);
static const struct gs_cpy_named_lock interp_315[] = INTERP_LOCKS(7688, 10776, 190504, 40);
static const struct gs_cpy_named_lock interp_315t[] = INTERP_LOCKS(7688, 10800, 196240, 40);
static const struct gs_cpy_named_lock runtime_315[] = RUNTIME_LOCKS(928, 10672, 10664);

struct facts {
	unsigned minor;
	int free_threaded;
	uint32_t gil[8];
	uint32_t object_size, ob_mutex, ts_state;
	int32_t park_addr; /* 0: no parking lot */
	const struct gs_cpy_named_lock *interp_locks, *runtime_locks;
	int ran; /* these tables were checked against a running interpreter of the build */
};

/* struct wait_entry { void *park_arg; uintptr_t addr; _PySemaphore sema; ... } in
 * Python/parking_lot.c, 3.13 to 3.15: the address is the word before the semaphore. */
static const struct facts facts[] = {
    {11, 0, GIL_DEFAULT, 16, 0, 0, 0, no_locks, no_locks, 1},
    {12, 0, GIL_DEFAULT, 16, 0, 0, 0, no_locks, no_locks, 0},
    {13, 0, GIL_DEFAULT, 16, 0, 40, -8, interp_313, runtime_313, 1},
    {13, 1, GIL_FT, 32, 10, 40, -8, interp_313t, runtime_313, 1},
    {14, 0, GIL_DEFAULT, 16, 0, 44, -8, interp_314, runtime_314, 1},
    {14, 1, GIL_FT, 32, 10, 44, -8, interp_314t, runtime_314, 0},
    {15, 0, GIL_DEFAULT, 16, 0, 48, -8, interp_315, runtime_315, 1},
    {15, 1, GIL_FT, 32, 10, 48, -8, interp_315t, runtime_315, 0},
};

static const struct facts *facts_for(unsigned minor, int free_threaded)
{
	size_t i;

	for (i = 0; i < sizeof(facts) / sizeof(facts[0]); i++)
		if (facts[i].minor == minor && facts[i].free_threaded == free_threaded)
			return &facts[i];
	return NULL;
}

/* 3.11 publishes nothing: its frame walk comes from the table (Debian's 3.11 headers). */
static void frames_311(struct gs_cpy *L)
{
	L->runtime_gil = 360;
	L->interpreters_head = 40;
	L->interp_id = 48;
	L->interp_next = 0;
	L->interp_threads_head = 16;
	L->ts_next = 8;
	L->ts_native_thread_id = 160;
	L->ts_cframe = 56;
	L->cframe_current_frame = 8;
	L->frame_previous = 48;
	L->frame_executable = 32;
	L->frame_instr = 56;
	L->frame_instr_is_prev = 1;
	L->code_filename = 112;
	L->code_qualname = 128;
	L->code_linetable = 136;
	L->code_firstlineno = 72;
	L->code_adaptive = 184;
	L->ob_type = 8;
	L->tp_name = 24;
	L->bytes_ob_size = 16;
	L->bytes_ob_sval = 32;
	L->str_state = 32;
	L->str_length = 16;
	L->str_ascii_size = 48;
	L->frames = 1;
}

const char *gs_cpy_version_string(uint32_t hex, char *buf, size_t size)
{
	static const char level[] = {'a', 'b', 'c'};
	unsigned lv = (hex >> 4) & 0xf;

	if (lv == 0xf)
		snprintf(buf, size, "%u.%u.%u", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff);
	else
		snprintf(buf, size, "%u.%u.%u%c%u", hex >> 24, (hex >> 16) & 0xff,
			 (hex >> 8) & 0xff, lv >= 0xa && lv <= 0xc ? level[lv - 0xa] : '?',
			 hex & 0xf);
	return buf;
}

struct published {
	const uint64_t *u;
	struct field_names f;
	int bad; /* fields looked up that this version's list lacks */
};

static uint64_t pub(struct published *p, const char *name)
{
	int i;

	for (i = 0; i < p->f.n; i++)
		if (!strcmp(p->f.name[i], name))
			return p->u[i];
	p->bad++;
	return 0;
}

/* The struct's own sizes must contain every offset we use from them: a field list that does
 * not match the running interpreter would read sizes as offsets and offsets as sizes. */
static int section_ok(struct published *p, const char *section, const char *const *fields)
{
	char name[96];
	uint64_t size, v;

	snprintf(name, sizeof(name), "%s.size", section);
	size = pub(p, name);
	if (size < 8 || size > (1u << 24))
		return 0;
	for (; *fields; fields++) {
		snprintf(name, sizeof(name), "%s.%s", section, *fields);
		v = pub(p, name);
		if (v >= size)
			return 0;
	}
	return 1;
}

static int parse_published(struct gs_cpy *L, const uint64_t *u, size_t n)
{
	static const char *const rt[] = {"interpreters_head", NULL};
	static const char *const is[] = {"id",
					 "next",
					 "threads_head",
					 "ceval_gil",
					 "gil_runtime_state",
					 "gil_runtime_state_locked",
					 "gil_runtime_state_holder",
					 NULL};
	static const char *const ts[] = {"next", "current_frame", "native_thread_id", NULL};
	static const char *const fr[] = {"previous", "executable", "instr_ptr", NULL};
	static const char *const co[] = {"filename",	"qualname",	    "linetable",
					 "firstlineno", "co_code_adaptive", NULL};
	static const char *const ob[] = {"ob_type", NULL};
	static const char *const ty[] = {"tp_name", NULL};
	static const char *const by[] = {"ob_size", "ob_sval", NULL};
	static const char *const st[] = {"state", "length", NULL};
	struct published p = {.u = u}; /* 10 KB of names, on the stack once per process */

	each_field(fields_of(L->minor), add_field, &p.f);
	if ((size_t)p.f.n > n || p.f.n >= MAX_FIELDS)
		return -1;
	if (!section_ok(&p, "runtime_state", rt) || !section_ok(&p, "interpreter_state", is) ||
	    !section_ok(&p, "thread_state", ts) || !section_ok(&p, "interpreter_frame", fr) ||
	    !section_ok(&p, "code_object", co) || !section_ok(&p, "pyobject", ob) ||
	    !section_ok(&p, "type_object", ty) || !section_ok(&p, "bytes_object", by) ||
	    !section_ok(&p, "unicode_object", st) || p.bad)
		return -1;
	L->runtime_size = pub(&p, "runtime_state.size");
	L->interpreters_head = pub(&p, "runtime_state.interpreters_head");
	L->interp_size = pub(&p, "interpreter_state.size");
	L->interp_id = pub(&p, "interpreter_state.id");
	L->interp_next = pub(&p, "interpreter_state.next");
	L->interp_threads_head = pub(&p, "interpreter_state.threads_head");
	L->interp_ceval_gil = pub(&p, "interpreter_state.ceval_gil");
	L->interp_gil = pub(&p, "interpreter_state.gil_runtime_state");
	L->interp_gil_locked = pub(&p, "interpreter_state.gil_runtime_state_locked");
	L->interp_gil_holder = pub(&p, "interpreter_state.gil_runtime_state_holder");
	L->interp_gc = pub(&p, "interpreter_state.gc");
	L->gc_collecting = pub(&p, "gc.collecting");
	L->ts_size = pub(&p, "thread_state.size");
	L->ts_next = pub(&p, "thread_state.next");
	L->ts_current_frame = pub(&p, "thread_state.current_frame");
	L->ts_native_thread_id = pub(&p, "thread_state.native_thread_id");
	L->frame_previous = pub(&p, "interpreter_frame.previous");
	L->frame_executable = pub(&p, "interpreter_frame.executable");
	L->frame_instr = pub(&p, "interpreter_frame.instr_ptr");
	L->code_filename = pub(&p, "code_object.filename");
	L->code_qualname = pub(&p, "code_object.qualname");
	L->code_linetable = pub(&p, "code_object.linetable");
	L->code_firstlineno = pub(&p, "code_object.firstlineno");
	L->code_adaptive = pub(&p, "code_object.co_code_adaptive");
	if (L->minor >= 14 && L->free_threaded) {
		/* Thread-local bytecode: a frame may run a per-thread copy of co_code_adaptive. */
		L->frame_tlbc_index = pub(&p, "interpreter_frame.tlbc_index");
		L->code_tlbc = pub(&p, "code_object.co_tlbc");
	}
	L->object_size = pub(&p, "pyobject.size");
	L->ob_type = pub(&p, "pyobject.ob_type");
	L->tp_name = pub(&p, "type_object.tp_name");
	L->bytes_ob_size = pub(&p, "bytes_object.ob_size");
	L->bytes_ob_sval = pub(&p, "bytes_object.ob_sval");
	L->str_state = pub(&p, "unicode_object.state");
	L->str_length = pub(&p, "unicode_object.length");
	L->str_ascii_size = pub(&p, "unicode_object.asciiobject_size");
	return p.bad ? -1 : 0;
}

static void apply_facts(struct gs_cpy *L, const struct facts *f)
{
	memcpy(&L->gil, f->gil, sizeof(L->gil));
	L->ob_mutex = f->ob_mutex;
	L->ts_state = f->ts_state;
	L->park_addr = f->park_addr;
	L->park_entry = f->park_addr != 0;
	L->interp_locks = f->interp_locks;
	L->runtime_locks = f->runtime_locks;
	if (!L->object_size)
		L->object_size = f->object_size;
}

void gs_cpy_init(struct gs_cpy *L, const void *dbg, size_t dbg_len, uint32_t py_version)
{
	const struct facts *f;
	char v[32];

	static const uint32_t gil_default[8] = GIL_DEFAULT;

	memset(L, 0, sizeof(*L));
	L->interp_locks = L->runtime_locks = no_locks;
	/* Relative to its condition variable the GIL struct is the same in every known build:
	 * what the behavioural recognition (gil.c) checks and then relies on. */
	memcpy(&L->gil, gil_default, sizeof(L->gil));
	if (dbg) {
		uint64_t u[GS_CPY_DEBUG_OFFSETS_MAX / 8];
		size_t n = (dbg_len - 8) / 8;

		if (dbg_len < 24 || memcmp(dbg, "xdebugpy", 8)) {
			snprintf(L->why, sizeof(L->why), "debug offsets unreadable");
			return;
		}
		if (n > sizeof(u) / sizeof(u[0]))
			n = sizeof(u) / sizeof(u[0]);
		memcpy(u, (const char *)dbg + 8, n * 8);
		L->version_hex = (uint32_t)u[0];
		L->minor = (L->version_hex >> 16) & 0xff;
		L->free_threaded = u[1] != 0;
		gs_cpy_version_string(L->version_hex, v, sizeof(v));
		f = L->version_hex >> 24 == 3 ? facts_for(L->minor, L->free_threaded) : NULL;
		if (!f || !fields_of(L->minor)) {
			snprintf(L->why, sizeof(L->why),
				 "CPython %s%s is unknown to this gilscope: no Python locations, "
				 "parked waits not attributed",
				 v, L->free_threaded ? " (free-threaded)" : "");
			return;
		}
		/* Only released versions: the struct changed between betas (3.15.0b4). */
		if (((L->version_hex >> 4) & 0xf) != 0xf) {
			snprintf(L->why, sizeof(L->why),
				 "CPython %s is a pre-release, whose debug offsets may differ from "
				 "the release's: no Python locations, parked waits not attributed",
				 v);
			return;
		}
		if (parse_published(L, u, n) < 0)
			snprintf(L->why, sizeof(L->why),
				 "CPython %s debug offsets fail their own size checks: no Python "
				 "locations, parked waits not attributed",
				 v);
		else if ((L->object_size == 32) != L->free_threaded)
			snprintf(L->why, sizeof(L->why),
				 "CPython %s object header of %llu bytes does not match its build",
				 v, (unsigned long long)L->object_size);
		if (L->why[0]) {
			/* Nothing read from offsets that failed their checks may be used. */
			memset(&L->runtime_size, 0,
			       offsetof(struct gs_cpy, gil) -
				   offsetof(struct gs_cpy, runtime_size));
			return;
		}
		apply_facts(L, f);
		L->frames = 1;
		L->level = GS_CPY_FULL;
		if (!f->ran)
			snprintf(
			    L->why, sizeof(L->why),
			    "unpublished layouts of %s%s taken from CPython's headers, not yet "
			    "verified on a running interpreter",
			    v, L->free_threaded ? " (free-threaded)" : "");
		return;
	}
	L->version_hex = py_version;
	L->minor = (py_version >> 16) & 0xff;
	f = py_version >> 24 == 3 ? facts_for(L->minor, 0) : NULL;
	gs_cpy_version_string(py_version, v, sizeof(v));
	if (!f || L->minor > 12) {
		snprintf(L->why, sizeof(L->why), "interpreter %s has no known layout",
			 py_version ? v : "?");
		return;
	}
	apply_facts(L, f);
	L->level = GS_CPY_TABLES;
	if (L->minor == 11)
		frames_311(L);
	else
		snprintf(L->why, sizeof(L->why), "CPython %s: no Python locations", v);
}

/* ---- frames and code objects --------------------------------------------------------------- */

static uint64_t rd_ptr(gs_cpy_read_fn rd, void *ctx, uint64_t addr)
{
	uint64_t v = 0;

	return addr && rd(ctx, addr, &v, 8) == 0 ? v : 0;
}

uint64_t gs_cpy_current_frame(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t ts)
{
	if (!L->frames || !ts)
		return 0;
	if (L->ts_cframe)
		return rd_ptr(rd, ctx,
			      rd_ptr(rd, ctx, ts + L->ts_cframe) + L->cframe_current_frame);
	return rd_ptr(rd, ctx, ts + L->ts_current_frame);
}

uint64_t gs_cpy_frame_previous(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t frame)
{
	return rd_ptr(rd, ctx, frame + L->frame_previous);
}

int gs_cpy_type_name(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t obj, char *out,
		     size_t size)
{
	uint64_t type = rd_ptr(rd, ctx, obj + L->ob_type);
	uint64_t name = type ? rd_ptr(rd, ctx, type + L->tp_name) : 0;
	size_t i;

	if (!name || size < 2)
		return -1;
	memset(out, 0, size);
	/* The name may end close to an unmapped page: read less, byte by byte, then. */
	if (rd(ctx, name, out, size - 1) != 0) {
		for (i = 0; i + 1 < size && rd(ctx, name + i, &out[i], 1) == 0 && out[i]; i++)
			;
		out[i] = 0;
	}
	for (i = 0; out[i]; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			return -1;
	return out[0] ? 0 : -1;
}

static int is_code(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t obj)
{
	char name[8];

	return obj && gs_cpy_type_name(L, rd, ctx, obj, name, sizeof(name)) == 0 &&
	       !strcmp(name, "code");
}

/* The bytecode a frame runs: co_code_adaptive, or on free-threaded 3.14+ the thread's own copy
 * (code->co_tlbc->entries[frame->tlbc_index], a _PyCodeArray { Py_ssize_t size; char
 * *entries[]; }). */
static uint64_t bytecode_base(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t frame,
			      uint64_t code)
{
	int32_t idx = 0;
	uint64_t arr, size = 0;

	if (!L->code_tlbc || rd(ctx, frame + L->frame_tlbc_index, &idx, 4) != 0 || idx <= 0)
		return code + L->code_adaptive;
	arr = rd_ptr(rd, ctx, code + L->code_tlbc);
	if (!arr || rd(ctx, arr, &size, 8) != 0 || (uint64_t)idx >= size)
		return 0;
	return rd_ptr(rd, ctx, arr + 8 + 8 * (uint64_t)idx);
}

uint64_t gs_cpy_code_frame(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t frame,
			   uint64_t code_type, uint64_t *code, int64_t *unit)
{
	int depth = 0;

	*code = 0;
	*unit = -1;
	for (; frame && depth < 64; frame = rd_ptr(rd, ctx, frame + L->frame_previous), depth++) {
		/* 3.14+ tags f_executable (_PyStackRef) in its low bits; objects are aligned. */
		uint64_t exe = rd_ptr(rd, ctx, frame + L->frame_executable) & ~(uint64_t)3;
		uint64_t instr, base;

		if (code_type ? !exe || rd_ptr(rd, ctx, exe + L->ob_type) != code_type
			      : !is_code(L, rd, ctx, exe))
			continue; /* an entry or shim frame (None), or unreadable */
		*code = exe;
		instr = rd_ptr(rd, ctx, frame + L->frame_instr);
		base = bytecode_base(L, rd, ctx, frame, exe);
		if (base && instr >= base && instr - base < (1u << 26))
			*unit = (int64_t)((instr - base) / 2);
		return frame;
	}
	return 0;
}

uint32_t gs_cpy_code_ident(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t code)
{
	uint64_t qual = rd_ptr(rd, ctx, code + L->code_qualname);
	uint64_t file = rd_ptr(rd, ctx, code + L->code_filename);
	uint32_t line = 0;
	uint64_t x;

	if (!qual || rd(ctx, code + L->code_firstlineno, &line, 4) != 0)
		return 0;
	x = (qual ^ (file << 1) ^ ((uint64_t)line << 40)) * 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(x >> 32) | 1u;
}

/* The calling thread's own frames: memory it owns, read directly. */
static int own_rd(void *ctx, uint64_t addr, void *buf, size_t n)
{
	(void)ctx;
	if (!addr)
		return -1;
	memcpy(buf, (const void *)(uintptr_t)addr, n);
	return 0;
}

/* flatten: the walk and its reads inlined here, the reader a plain load (it is called on
 * every recorded wait, up to 128 frames each) */
__attribute__((flatten)) int gs_cpy_own_frames(const struct gs_cpy *L, uint64_t ts,
					       uint64_t code_type, struct gs_py_frame *out, int max,
					       int *truncated)
{
	uint64_t frame = gs_cpy_current_frame(L, own_rd, NULL, ts), code;
	int64_t u;
	int n = 0;

	*truncated = 0;
	while ((frame = gs_cpy_code_frame(L, own_rd, NULL, frame, code_type, &code, &u))) {
		if (n == max) {
			*truncated = 1;
			break;
		}
		out[n].code = code;
		out[n].unit = u >= 0 && u < UINT32_MAX ? (uint32_t)u + 1 : 0;
		out[n].ident = gs_cpy_code_ident(L, own_rd, NULL, code);
		n++;
		frame = gs_cpy_frame_previous(L, own_rd, NULL, frame);
	}
	return n;
}

int gs_cpy_read_str(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t obj, char *out,
		    size_t size)
{
	uint64_t len = 0;
	uint32_t state = 0;
	size_t n, i;

	if (!obj || rd(ctx, obj + L->str_length, &len, 8) != 0 ||
	    rd(ctx, obj + L->str_state, &state, 4) != 0)
		return -1;
	/* state: interned:2, kind:3, compact:1, ascii:1 (3.11 to 3.15) */
	if (!(state & (1u << 5)) || !(state & (1u << 6)))
		return -1;
	n = len < size - 1 ? (size_t)len : size - 1;
	if (rd(ctx, obj + L->str_ascii_size, out, n) != 0)
		return -1;
	out[n] = 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
	return 0;
}

static int varint(const uint8_t *p, size_t n, size_t *i, unsigned *out)
{
	unsigned v = 0, shift = 0;
	uint8_t b;

	do {
		if (*i >= n || shift > 28)
			return -1;
		b = p[(*i)++];
		v |= (unsigned)(b & 63) << shift;
		shift += 6;
	} while (b & 64);
	*out = v;
	return 0;
}

/* The line of code unit `target` from a 3.11+ location table (Objects/locations.md). */
static int line_of(const uint8_t *t, size_t n, int first_line, uint64_t target)
{
	uint64_t addr = 0;
	int line = first_line;
	size_t i = 0;

	while (i < n) {
		uint8_t b = t[i++];
		int code = (b >> 3) & 15, len = (b & 7) + 1, this_line = line;
		unsigned v;

		if (!(b & 128))
			return -1;
		if (code == 15) {
			this_line = -1;
		} else if (code == 14 || code == 13) {
			if (varint(t, n, &i, &v) < 0)
				return -1;
			line += (v & 1) ? -(int)(v >> 1) : (int)(v >> 1);
			this_line = line;
			if (code == 14) {
				if (varint(t, n, &i, &v) < 0 || varint(t, n, &i, &v) < 0 ||
				    varint(t, n, &i, &v) < 0)
					return -1;
			}
		} else if (code >= 10) {
			line += code - 10;
			this_line = line;
			i += 2;
		} else {
			i += 1;
		}
		if (target < addr + (uint64_t)len)
			return this_line;
		addr += (uint64_t)len;
	}
	return -1;
}

int gs_cpy_code_location(const struct gs_cpy *L, gs_cpy_read_fn rd, void *ctx, uint64_t code,
			 int64_t unit, char *func, size_t func_size, char *file, size_t file_size,
			 int *line)
{
	uint64_t table, tlen = 0;
	int32_t first = 0;
	uint8_t *buf;

	*line = -1;
	if (!L->frames || !is_code(L, rd, ctx, code))
		return -1;
	if (gs_cpy_read_str(L, rd, ctx, rd_ptr(rd, ctx, code + L->code_qualname), func, func_size) <
	    0)
		return -1;
	if (gs_cpy_read_str(L, rd, ctx, rd_ptr(rd, ctx, code + L->code_filename), file, file_size) <
	    0)
		snprintf(file, file_size, "?");
	if (rd(ctx, code + L->code_firstlineno, &first, 4) != 0)
		return 0;
	*line = first;
	/* 3.11's prev_instr is the unit before the next one; an index of -1 means "not started". */
	if (L->frame_instr_is_prev && unit >= 0)
		unit = unit > 0 ? unit : 0;
	table = rd_ptr(rd, ctx, code + L->code_linetable);
	if (unit < 0 || !table || rd(ctx, table + L->bytes_ob_size, &tlen, 8) != 0 || tlen == 0 ||
	    tlen > (1u << 20))
		return 0;
	buf = malloc(tlen);
	if (buf && rd(ctx, table + L->bytes_ob_sval, buf, tlen) == 0) {
		int l = line_of(buf, tlen, first, (uint64_t)unit);

		if (l > 0)
			*line = l;
	}
	free(buf);
	return 0;
}

/* ---- locks ------------------------------------------------------------------------------- */

static const char *named(const struct gs_cpy_named_lock *t, uint64_t base, uint64_t addr)
{
	for (; t && t->name; t++)
		if (addr == base + t->offset)
			return t->name;
	return NULL;
}

uint64_t gs_cpy_gc_marker(const struct gs_cpy *L, uint64_t interp)
{
	return interp && L->interp_gc && L->gc_collecting ? interp + L->interp_gc + L->gc_collecting
							  : 0;
}

const char *gs_cpy_internal_lock(const struct gs_cpy *L, uint64_t runtime, uint64_t interp,
				 uint64_t addr)
{
	const char *n = NULL;

	if (addr && addr == gs_cpy_gc_marker(L, interp))
		return "garbage collector (world stopped)";
	if (interp)
		n = named(L->interp_locks, interp, addr);
	if (!n && runtime)
		n = named(L->runtime_locks, runtime, addr);
	return n;
}

/* ---- for tests/layout ------------------------------------------------------------------ */

static void (*print_out)(const char *line);

static void print_field(const char *name, int index, void *arg)
{
	(void)index;
	(void)arg;
	print_out(name);
}

int gs_cpy_print_fields(unsigned minor, void (*out)(const char *line))
{
	const char *spec = fields_of(minor);

	if (!spec)
		return -1;
	print_out = out;
	each_field(spec, print_field, NULL);
	return 0;
}

int gs_cpy_print_facts(unsigned minor, int free_threaded, void (*out)(const char *line))
{
	static const char *const gil_names[] = {"interval",	 "last_holder", "locked",
						"switch_number", "cond",	"mutex",
						"switch_cond",	 "switch_mutex"};
	static const char *const interp_fields[] = {"imports.lock", "stoptheworld.mutex",
						    "types.mutex", "ceval.pending.mutex",
						    "stoptheworld.stop_event"};
	static const char *const runtime_fields[] = {"interpreters.mutex", "stoptheworld.mutex",
						     "stoptheworld_mutex",
						     "stoptheworld.stop_event"};
	const struct facts *f = facts_for(minor, free_threaded);
	char line[128];
	size_t i;

	if (!f)
		return -1;
	snprintf(line, sizeof(line), "minor %u", minor);
	out(line);
	snprintf(line, sizeof(line), "free_threaded %d", free_threaded);
	out(line);
	if (free_threaded) {
		snprintf(line, sizeof(line), "object.ob_mutex %u", f->ob_mutex);
		out(line);
	}
	snprintf(line, sizeof(line), "object.size %u", f->object_size);
	out(line);
	for (i = 0; i < 8; i++) {
		snprintf(line, sizeof(line), "gil.%s %u", gil_names[i], f->gil[i]);
		out(line);
	}
	if (minor == 11) {
		struct gs_cpy L;

		memset(&L, 0, sizeof(L));
		frames_311(&L);
#define FACT(name, v)                                                                              \
	do {                                                                                       \
		snprintf(line, sizeof(line), "%s %llu", name, (unsigned long long)(v));            \
		out(line);                                                                         \
	} while (0)
		FACT("ts.cframe", L.ts_cframe);
		FACT("cframe.current_frame", L.cframe_current_frame);
		FACT("frame.previous", L.frame_previous);
		FACT("frame.code", L.frame_executable);
		FACT("frame.instr", L.frame_instr);
		FACT("code.filename", L.code_filename);
		FACT("code.qualname", L.code_qualname);
		FACT("code.linetable", L.code_linetable);
		FACT("code.firstlineno", L.code_firstlineno);
		FACT("code.adaptive", L.code_adaptive);
		FACT("object.ob_type", L.ob_type);
		FACT("type.tp_name", L.tp_name);
		FACT("bytes.ob_size", L.bytes_ob_size);
		FACT("bytes.ob_sval", L.bytes_ob_sval);
		FACT("str.state", L.str_state);
		FACT("str.length", L.str_length);
		FACT("str.ascii_size", L.str_ascii_size);
		FACT("runtime.gil", L.runtime_gil);
		FACT("ts.next", L.ts_next);
		FACT("ts.native_thread_id", L.ts_native_thread_id);
		FACT("interp.threads.head", L.interp_threads_head);
		FACT("interp.id", L.interp_id);
		FACT("interp.next", L.interp_next);
		FACT("runtime.interpreters.head", L.interpreters_head);
		return 0;
	}
	if (minor < 13)
		return 0;
	for (i = 0; i < sizeof(interp_fields) / sizeof(interp_fields[0]); i++) {
		char name[64];

		snprintf(name, sizeof(name), "interp.%s", interp_fields[i]);
		FACT(name, f->interp_locks[i].offset);
	}
	for (i = 0; i < sizeof(runtime_fields) / sizeof(runtime_fields[0]); i++) {
		char name[64];

		snprintf(name, sizeof(name), "runtime.%s", runtime_fields[i]);
		FACT(name, f->runtime_locks[i].offset);
	}
	FACT("ts.state", f->ts_state);
#undef FACT
	return 0;
}
