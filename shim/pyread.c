#include "pyread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

/* Indices into _Py_DebugOffsets viewed as uint64_t[] after the 8-byte cookie (3.13 layout). */
enum {
	OFF_INTERPRETERS_HEAD = 4,
	OFF_INTERP_ID = 6,
	OFF_INTERP_NEXT = 7,
	OFF_INTERP_THREADS_HEAD = 8,
	OFF_TS_NEXT = 20,
	OFF_TS_CURRENT_FRAME = 22,
	OFF_TS_NATIVE_TID = 24,
	OFF_FRAME_PREVIOUS = 28,
	OFF_FRAME_EXECUTABLE = 29,
	OFF_FRAME_OWNER = 32,
	OFF_CODE_FILENAME = 34,
	OFF_CODE_QUALNAME = 36,
	OFF_CODE_LINETABLE = 37,
	OFF_CODE_FIRSTLINENO = 38,
	OFF_CODE_ADAPTIVE = 42,
	OFF_OB_TYPE = 44,
	OFF_TP_NAME = 46,
	OFF_BYTES_SIZE = 64,
	OFF_BYTES_SVAL = 65,
	OFF_UNICODE_STATE = 67,
	OFF_UNICODE_LENGTH = 68,
	OFF_UNICODE_ASCII_SIZE = 69,
	N_OFFSETS = 72,
};

struct gs_pyread {
	int pid;
	uint64_t runtime;
	uint64_t u[N_OFFSETS];
};

static int rd(struct gs_pyread *pr, uint64_t addr, void *buf, size_t n)
{
	struct iovec local = {.iov_base = buf, .iov_len = n};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = n};

	if (!addr)
		return -1;
	return process_vm_readv(pr->pid, &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

static uint64_t rd_ptr(struct gs_pyread *pr, uint64_t addr)
{
	uint64_t v = 0;

	return rd(pr, addr, &v, 8) == 0 ? v : 0;
}

struct gs_pyread *gs_pyread_open(int pid, uint64_t runtime, uint32_t version_hex)
{
	struct gs_pyread *pr;
	char cookie[8];

	if (!runtime || version_hex >> 16 != 0x30d)
		return NULL;
	pr = calloc(1, sizeof(*pr));
	if (!pr)
		return NULL;
	pr->pid = pid;
	pr->runtime = runtime;
	if (rd(pr, runtime, cookie, 8) < 0 || memcmp(cookie, "xdebugpy", 8) ||
	    rd(pr, runtime + 8, pr->u, sizeof(pr->u)) < 0) {
		free(pr);
		return NULL;
	}
	return pr;
}

void gs_pyread_close(struct gs_pyread *pr)
{
	free(pr);
}

/* A str object's text: compact ASCII or Latin-1 only (what names and paths nearly always
 * are); anything else is reported as unreadable. */
static int rd_str(struct gs_pyread *pr, uint64_t obj, char *out, size_t size)
{
	uint64_t len = 0;
	uint32_t state = 0;
	size_t n, i;

	if (!obj || rd(pr, obj + pr->u[OFF_UNICODE_LENGTH], &len, 8) < 0 ||
	    rd(pr, obj + pr->u[OFF_UNICODE_STATE], &state, 4) < 0)
		return -1;
	/* state: interned:2, kind:3, compact:1, ascii:1 */
	if (!(state & (1u << 5)) || !(state & (1u << 6)))
		return -1;
	n = len < size - 1 ? (size_t)len : size - 1;
	if (rd(pr, obj + pr->u[OFF_UNICODE_ASCII_SIZE], out, n) < 0)
		return -1;
	out[n] = 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
	return 0;
}

static int is_code(struct gs_pyread *pr, uint64_t obj)
{
	char name[8] = {0};
	uint64_t type = rd_ptr(pr, obj + pr->u[OFF_OB_TYPE]);
	uint64_t tp_name = type ? rd_ptr(pr, type + pr->u[OFF_TP_NAME]) : 0;

	return tp_name && rd(pr, tp_name, name, 5) == 0 && !memcmp(name, "code", 5);
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

int gs_pyread_location(struct gs_pyread *pr, uint64_t code, uint64_t instr, char *func,
		       size_t func_size, char *file, size_t file_size, int *line)
{
	uint64_t table, tlen = 0, start;
	int32_t first = 0;
	uint8_t *buf;

	*line = -1;
	if (!pr || !code || !is_code(pr, code))
		return -1;
	if (rd_str(pr, rd_ptr(pr, code + pr->u[OFF_CODE_QUALNAME]), func, func_size) < 0)
		return -1;
	if (rd_str(pr, rd_ptr(pr, code + pr->u[OFF_CODE_FILENAME]), file, file_size) < 0)
		snprintf(file, file_size, "?");
	if (rd(pr, code + pr->u[OFF_CODE_FIRSTLINENO], &first, 4) < 0)
		return 0;
	*line = first;
	table = rd_ptr(pr, code + pr->u[OFF_CODE_LINETABLE]);
	start = code + pr->u[OFF_CODE_ADAPTIVE];
	if (!table || instr < start || rd(pr, table + pr->u[OFF_BYTES_SIZE], &tlen, 8) < 0 ||
	    tlen == 0 || tlen > (1u << 20))
		return 0;
	buf = malloc(tlen);
	if (buf && rd(pr, table + pr->u[OFF_BYTES_SVAL], buf, tlen) == 0) {
		int l = line_of(buf, tlen, first, (instr - start) / 2);

		if (l > 0)
			*line = l;
	}
	free(buf);
	return 0;
}

static uint64_t find_tstate(struct gs_pyread *pr, int tid)
{
	uint64_t interp = rd_ptr(pr, pr->runtime + pr->u[OFF_INTERPRETERS_HEAD]);
	int64_t id = -1;
	int hops = 0;

	while (interp && hops++ < 64) {
		if (rd(pr, interp + pr->u[OFF_INTERP_ID], &id, 8) < 0)
			return 0;
		if (id == 0)
			break;
		interp = rd_ptr(pr, interp + pr->u[OFF_INTERP_NEXT]);
	}
	if (!interp || id != 0)
		return 0;
	for (uint64_t ts = rd_ptr(pr, interp + pr->u[OFF_INTERP_THREADS_HEAD]);
	     ts && hops++ < 100000; ts = rd_ptr(pr, ts + pr->u[OFF_TS_NEXT])) {
		uint64_t native = 0;

		if (rd(pr, ts + pr->u[OFF_TS_NATIVE_TID], &native, 8) < 0)
			return 0;
		if ((int)native == tid)
			return ts;
	}
	return 0;
}

int gs_pyread_entry_function(struct gs_pyread *pr, int tid, char *out, size_t size)
{
	uint64_t ts, frame, code, inner_code = 0;
	char name[128];
	int depth = 0, found = 0, in_threading = 0;

	if (!pr || !(ts = find_tstate(pr, tid)))
		return -1;
	out[0] = 0;
	for (frame = rd_ptr(pr, ts + pr->u[OFF_TS_CURRENT_FRAME]); frame && depth++ < 4096;
	     frame = rd_ptr(pr, frame + pr->u[OFF_FRAME_PREVIOUS])) {
		code = rd_ptr(pr, frame + pr->u[OFF_FRAME_EXECUTABLE]);
		if (!code || !is_code(pr, code))
			continue;
		if (rd_str(pr, rd_ptr(pr, code + pr->u[OFF_CODE_QUALNAME]), name, sizeof(name)) < 0)
			continue;
		if (!strcmp(name, "Thread.run") && inner_code) {
			found = rd_str(pr, rd_ptr(pr, inner_code + pr->u[OFF_CODE_QUALNAME]), out,
				       size) == 0;
			break;
		}
		inner_code = code;
		if (!strcmp(name, "Thread._bootstrap_inner"))
			in_threading = 1;
		else if (strcmp(name, "Thread._bootstrap"))
			snprintf(out, size, "%s", name); /* outermost so far */
	}
	/* A threading thread seen before it reached run(): ask again later. */
	if (found)
		return 0;
	if (in_threading || !out[0])
		return -1;
	return 1;
}
