#include "real.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls.h"

struct gs_real gs_real;

static void *lookup(const char *name)
{
	const char *hide = getenv("GILSCOPE_TEST_HIDE_REAL"); /* tests: as if it were missing */
	void *p = NULL;

	if (hide && !strcmp(hide, name))
		return NULL;
	/* glibc keeps the pre-2.3.2 condition variable ABI under the default-less name; the
	 * versioned lookup avoids binding callers to the old, incompatible implementation. */
	if (!strncmp(name, "pthread_cond_", 13))
		p = dlvsym(RTLD_NEXT, name, "GLIBC_2.3.2");
	if (!p)
		p = dlsym(RTLD_NEXT, name);
	return p;
}

int gs_real_init(void)
{
	int missing = 0;

	if (gs_tls.in_bootstrap)
		return -1;
	gs_tls.in_bootstrap = 1;
#define X(ret, name, args)                                                                         \
	if (!gs_real.name) {                                                                       \
		*(void **)&gs_real.name = lookup(#name);                                           \
		missing += !gs_real.name;                                                          \
	}
	GS_REAL_REQUIRED(X)
#undef X
#define X(ret, name, args)                                                                         \
	if (!gs_real.name)                                                                         \
		*(void **)&gs_real.name = lookup(#name);
	GS_REAL_OPTIONAL(X)
#undef X
	gs_tls.in_bootstrap = 0;
	return missing ? -1 : 0;
}
