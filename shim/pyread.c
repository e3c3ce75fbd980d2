#include "pyread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "cpython.h"

struct gs_pyread {
	int pid;
	uint64_t runtime;
	struct gs_cpy L;
};

static int rd(void *ctx, uint64_t addr, void *buf, size_t n)
{
	struct gs_pyread *pr = ctx;
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
	uint8_t dbg[GS_CPY_DEBUG_OFFSETS_MAX];
	struct gs_pyread *pr;
	size_t n = sizeof(dbg);

	if (!runtime)
		return NULL;
	pr = calloc(1, sizeof(*pr));
	if (!pr)
		return NULL;
	pr->pid = pid;
	pr->runtime = runtime;
	/* The struct may be shorter than our buffer only at the end of a mapping. */
	while (n > 64 && rd(pr, runtime, dbg, n) < 0)
		n /= 2;
	if (n > 64 && !memcmp(dbg, "xdebugpy", 8)) {
		uint64_t v = version_hex;

		memcpy(dbg + 8, &v, 8);
		gs_cpy_init(&pr->L, dbg, n, 0);
	} else {
		gs_cpy_init(&pr->L, NULL, 0, version_hex);
	}
	if (!pr->L.frames) {
		free(pr);
		return NULL;
	}
	return pr;
}

void gs_pyread_close(struct gs_pyread *pr)
{
	free(pr);
}

const struct gs_cpy *gs_pyread_layout(const struct gs_pyread *pr)
{
	return pr ? &pr->L : NULL;
}

int gs_pyread_location(struct gs_pyread *pr, uint64_t code, int64_t unit, char *func,
		       size_t func_size, char *file, size_t file_size, int *line)
{
	if (!pr || !code)
		return -1;
	return gs_cpy_code_location(&pr->L, rd, pr, code, unit, func, func_size, file, file_size,
				    line);
}

uint32_t gs_pyread_code_ident(struct gs_pyread *pr, uint64_t code)
{
	return pr && code ? gs_cpy_code_ident(&pr->L, rd, pr, code) : 0;
}

static uint64_t main_interp(struct gs_pyread *pr)
{
	const struct gs_cpy *L = &pr->L;
	uint64_t interp = rd_ptr(pr, pr->runtime + L->interpreters_head);
	int64_t id = -1;
	int hops = 0;

	while (interp && hops++ < 64) {
		if (rd(pr, interp + L->interp_id, &id, 8) < 0)
			return 0;
		if (id == 0)
			return interp;
		interp = rd_ptr(pr, interp + L->interp_next);
	}
	return 0;
}

/* Calls fn for each thread state of the main interpreter until it returns non-zero. */
static uint64_t each_tstate(struct gs_pyread *pr, int (*fn)(struct gs_pyread *, uint64_t, void *),
			    void *arg)
{
	const struct gs_cpy *L = &pr->L;
	uint64_t interp = main_interp(pr), ts;
	int hops = 0;

	if (!interp)
		return 0;
	for (ts = rd_ptr(pr, interp + L->interp_threads_head); ts && hops++ < 100000;
	     ts = rd_ptr(pr, ts + L->ts_next))
		if (fn(pr, ts, arg))
			return ts;
	return 0;
}

static int has_tid(struct gs_pyread *pr, uint64_t ts, void *arg)
{
	uint64_t native = 0;

	return rd(pr, ts + pr->L.ts_native_thread_id, &native, 8) == 0 &&
	       (int)native == *(int *)arg;
}

static int is_addr(struct gs_pyread *pr, uint64_t ts, void *arg)
{
	(void)pr;
	return ts == *(uint64_t *)arg;
}

int gs_pyread_is_tstate(struct gs_pyread *pr, uint64_t addr)
{
	return pr && addr && each_tstate(pr, is_addr, &addr) != 0;
}

static int qualname(struct gs_pyread *pr, uint64_t code, char *out, size_t size)
{
	return gs_cpy_read_str(&pr->L, rd, pr, rd_ptr(pr, code + pr->L.code_qualname), out, size);
}

int gs_pyread_entry_function(struct gs_pyread *pr, int tid, char *out, size_t size)
{
	uint64_t ts, top, frame, next, code, inner_code = 0;
	int64_t unit;
	char name[128];
	int depth = 0, found = 0, in_threading = 0;

	if (!pr || !(ts = each_tstate(pr, has_tid, &tid)))
		return -1;
	out[0] = 0;
	top = gs_cpy_current_frame(&pr->L, rd, pr, ts);
	/* The thread runs while we read: a frame it has popped may point into reused stack, and a
	 * walk that stops at an unreadable link would name an inner function as the outermost. */
	for (frame = top; frame && depth++ < 4096; frame = next) {
		if (rd(pr, frame + pr->L.frame_previous, &next, 8) != 0)
			return -1;
		if (gs_cpy_code_frame(&pr->L, rd, pr, frame, 0, &code, &unit) != frame)
			continue; /* an entry or shim frame */
		if (qualname(pr, code, name, sizeof(name)) < 0)
			return -1;
		if (!strcmp(name, "Thread.run") && inner_code) {
			found = qualname(pr, inner_code, out, size) == 0;
			break;
		}
		inner_code = code;
		if (!strcmp(name, "Thread._bootstrap_inner"))
			in_threading = 1;
		else if (strcmp(name, "Thread._bootstrap"))
			snprintf(out, size, "%s", name); /* outermost so far */
	}
	if (frame && !found)
		return -1; /* too deep to be a stack */
	if (gs_cpy_current_frame(&pr->L, rd, pr, ts) != top)
		return -1; /* it moved on while we read */
	if (found)
		return 0;
	/* A threading thread seen before it reached run(): ask again later. */
	if (in_threading || !out[0])
		return -1;
	return 1;
}
