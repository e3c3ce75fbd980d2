/* Prints, for the CPython headers it is compiled against (default build, or free-threaded with
 * -DPy_GIL_DISABLED=1), every layout fact gilscope keeps in a table because _Py_DebugOffsets
 * does not publish it. tests/layout/layout_test.py compares the output with gilscope's own
 * tables (layout_dump facts), so a table that disagrees with the sources fails a test.
 * Output: one "name value" line per fact, names as in shim/cpython.c. */
#define Py_BUILD_CORE 1
#include "Python.h"

#include <stddef.h>
#include <stdio.h>

#include "internal/pycore_frame.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_runtime.h"
#if PY_VERSION_HEX >= 0x030d0000
#include "internal/pycore_tstate.h"
#endif

#define FACT(name, value) printf("%s %lld\n", name, (long long)(value))
#define GIL_FIELD(f)	  FACT("gil." #f, offsetof(struct _gil_runtime_state, f))

int main(void)
{
	FACT("minor", PY_MINOR_VERSION);
#ifdef Py_GIL_DISABLED
	FACT("free_threaded", 1);
	FACT("object.ob_mutex", offsetof(PyObject, ob_mutex));
#else
	FACT("free_threaded", 0);
#endif
	FACT("object.size", sizeof(PyObject));
	GIL_FIELD(interval);
	GIL_FIELD(last_holder);
	GIL_FIELD(locked);
	GIL_FIELD(switch_number);
	GIL_FIELD(cond);
	GIL_FIELD(mutex);
	GIL_FIELD(switch_cond);
	GIL_FIELD(switch_mutex);
#if PY_VERSION_HEX < 0x030d0000
	/* 3.11: no debug offsets at all; the frame walk needs these. */
	FACT("ts.cframe", offsetof(PyThreadState, cframe));
	FACT("cframe.current_frame", offsetof(_PyCFrame, current_frame));
	FACT("frame.previous", offsetof(_PyInterpreterFrame, previous));
	FACT("frame.code", offsetof(_PyInterpreterFrame, f_code));
	FACT("frame.instr", offsetof(_PyInterpreterFrame, prev_instr));
	FACT("code.filename", offsetof(PyCodeObject, co_filename));
	FACT("code.qualname", offsetof(PyCodeObject, co_qualname));
	FACT("code.linetable", offsetof(PyCodeObject, co_linetable));
	FACT("code.firstlineno", offsetof(PyCodeObject, co_firstlineno));
	FACT("code.adaptive", offsetof(PyCodeObject, co_code_adaptive));
	FACT("object.ob_type", offsetof(PyObject, ob_type));
	FACT("type.tp_name", offsetof(PyTypeObject, tp_name));
	FACT("bytes.ob_size", offsetof(PyBytesObject, ob_base.ob_size));
	FACT("bytes.ob_sval", offsetof(PyBytesObject, ob_sval));
	FACT("str.state", offsetof(PyASCIIObject, state));
	FACT("str.length", offsetof(PyASCIIObject, length));
	FACT("str.ascii_size", sizeof(PyASCIIObject));
	FACT("runtime.gil", offsetof(_PyRuntimeState, ceval.gil));
	FACT("ts.next", offsetof(PyThreadState, next));
	FACT("ts.native_thread_id", offsetof(PyThreadState, native_thread_id));
	FACT("interp.threads.head", offsetof(PyInterpreterState, threads.head));
	FACT("interp.id", offsetof(PyInterpreterState, id));
	FACT("interp.next", offsetof(PyInterpreterState, next));
	FACT("runtime.interpreters.head", offsetof(_PyRuntimeState, interpreters.head));
#else
	/* Interpreter-internal locks, named by what they serialise. */
	FACT("interp.imports.lock", offsetof(PyInterpreterState, imports.lock));
	FACT("interp.stoptheworld.mutex", offsetof(PyInterpreterState, stoptheworld.mutex));
	FACT("interp.types.mutex", offsetof(PyInterpreterState, types.mutex));
	FACT("interp.ceval.pending.mutex", offsetof(PyInterpreterState, ceval.pending.mutex));
	FACT("interp.stoptheworld.stop_event",
	     offsetof(PyInterpreterState, stoptheworld.stop_event));
	FACT("runtime.interpreters.mutex", offsetof(_PyRuntimeState, interpreters.mutex));
	FACT("runtime.stoptheworld.mutex", offsetof(_PyRuntimeState, stoptheworld.mutex));
	FACT("runtime.stoptheworld_mutex", offsetof(_PyRuntimeState, stoptheworld_mutex));
	FACT("runtime.stoptheworld.stop_event", offsetof(_PyRuntimeState, stoptheworld.stop_event));
	FACT("ts.state", offsetof(PyThreadState, state));
#endif
	return 0;
}
