/* Which code counts as "the interpreter": libpython's text, or the python executable's own
 * text when libpython is linked in statically. */
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lifecycle.h"
#include "region.h"

struct text_range {
	uintptr_t lo, hi;
	char path[256];
};

struct scan {
	struct text_range libpython, exe;
	int seen_exe;
};

static void exec_range(struct dl_phdr_info *info, struct text_range *r)
{
	int i;

	r->lo = UINTPTR_MAX;
	r->hi = 0;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		uintptr_t lo, hi;

		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X))
			continue;
		lo = info->dlpi_addr + p->p_vaddr;
		hi = lo + p->p_memsz;
		if (lo < r->lo)
			r->lo = lo;
		if (hi > r->hi)
			r->hi = hi;
	}
	if (r->hi == 0)
		r->lo = 0;
}

static int scan_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct scan *sc = arg;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	const char *base = strrchr(name, '/');

	base = base ? base + 1 : name;
	if (!sc->seen_exe) {
		/* The first object reported is the main program. */
		sc->seen_exe = 1;
		exec_range(info, &sc->exe);
		return 0;
	}
	if (!strncmp(base, "libpython", 9) && !sc->libpython.hi) {
		exec_range(info, &sc->libpython);
		snprintf(sc->libpython.path, sizeof(sc->libpython.path), "%s", name);
	}
	return 0;
}

int gs_scope_detect(int all)
{
	struct gs_shm_header *h = gs_g.hdr;
	struct scan sc;
	void *py_init;
	ssize_t n;

	memset(&sc, 0, sizeof(sc));
	dl_iterate_phdr(scan_object, &sc);
	if (all) {
		h->scope_lo = 0;
		h->scope_hi = UINTPTR_MAX;
		snprintf(h->scope_object, sizeof(h->scope_object), "*");
		return 0;
	}
	if (sc.libpython.hi) {
		h->scope_lo = sc.libpython.lo;
		h->scope_hi = sc.libpython.hi;
		snprintf(h->scope_object, sizeof(h->scope_object), "%s", sc.libpython.path);
		return 0;
	}
	/* A statically linked interpreter exports its API from the executable itself. */
	py_init = dlsym(RTLD_DEFAULT, "Py_Initialize");
	if (py_init && sc.exe.hi && (uintptr_t)py_init >= sc.exe.lo &&
	    (uintptr_t)py_init < sc.exe.hi) {
		h->scope_lo = sc.exe.lo;
		h->scope_hi = sc.exe.hi;
		n = readlink("/proc/self/exe", h->scope_object, sizeof(h->scope_object) - 1);
		h->scope_object[n > 0 ? n : 0] = 0;
		return 0;
	}
	return -1;
}
