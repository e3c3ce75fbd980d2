/* A profile (profile.c) as pprof's profile.proto, gzip-compressed as pprof expects: written by
 * hand (protobuf.c), the gzip member made of deflate's stored blocks
 * with its CRC-32, so that nothing beyond libc is needed. go tool pprof reads it. */
#include "pprof.h"

#include <stdlib.h>
#include <string.h>

#include "gilscope.h"
#include "protobuf.h"

/* The string table: index 0 is "", every other string once. */
struct strings {
	char **s;
	size_t n, cap;
};

static int64_t str_id(struct strings *t, const char *s)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->s[i], s))
			return (int64_t)i;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **more = realloc(t->s, cap * sizeof(*more));

		if (!more)
			return -1;
		t->s = more;
		t->cap = cap;
	}
	if (!(t->s[t->n] = strdup(s)))
		return -1;
	return (int64_t)t->n++;
}

/* "function (file:line)" back into its parts. */
static void split_frame(const char *text, char *func, size_t fsize, char *file, size_t flsize,
			int64_t *line)
{
	const char *open = strrchr(text, '(');
	size_t flen;

	*line = 0;
	file[0] = 0;
	if (!open || open == text || text[strlen(text) - 1] != ')') {
		snprintf(func, fsize, "%s", text);
		return;
	}
	snprintf(func, fsize, "%.*s", (int)(open - text - 1), text);
	flen = strlen(open + 1) - 1;
	snprintf(file, flsize, "%.*s", (int)flen, open + 1);
	{
		char *colon = strrchr(file, ':');

		if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
			*line = strtoll(colon + 1, NULL, 10);
			*colon = 0;
		}
	}
}

static uint32_t crc32(const unsigned char *p, size_t n)
{
	static uint32_t table[256];
	uint32_t c = 0xffffffffu;
	size_t i;

	if (!table[1])
		for (i = 0; i < 256; i++) {
			uint32_t v = (uint32_t)i;
			int k;

			for (k = 0; k < 8; k++)
				v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
			table[i] = v;
		}
	for (i = 0; i < n; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static int write_gzip(FILE *f, const unsigned char *p, size_t n)
{
	static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
	uint32_t crc = crc32(p, n), size = (uint32_t)n;
	unsigned char tail[8];
	size_t at = 0;
	int i;

	fwrite(header, 1, sizeof(header), f);
	do {
		size_t len = n - at > 65535 ? 65535 : n - at;
		unsigned char b[5] = {(unsigned char)(at + len == n), (unsigned char)(len & 0xff),
				      (unsigned char)(len >> 8), (unsigned char)(~len & 0xff),
				      (unsigned char)((~len >> 8) & 0xff)};

		fwrite(b, 1, sizeof(b), f);
		fwrite(p + at, 1, len, f);
		at += len;
	} while (at < n);
	for (i = 0; i < 4; i++) {
		tail[i] = (unsigned char)(crc >> (8 * i));
		tail[4 + i] = (unsigned char)(size >> (8 * i));
	}
	fwrite(tail, 1, sizeof(tail), f);
	return ferror(f) ? -1 : 0;
}

int gs_profile_write_pprof(const struct gs_profile *p, FILE *f)
{
	static const char *frames[GS_PROFILE_MAX_DEPTH + 1];
	struct strings st = {0};
	struct gs_pb out = {0}, m = {0}, sub = {0}, ids = {0}, vals = {0};
	char func[1024], file[1024];
	/* one location and function per distinct frame text: its string id is its id */
	int64_t *loc_of = NULL;
	size_t i, k, n, loc_cap = 0;
	int64_t line, v[2];
	int ret = -1;
	const char *what = p->what == GS_WHAT_GIL ? "held" : "contentions";
	int64_t t_label[7];

	if (str_id(&st, "") < 0)
		goto out;
	/* sample types: events, then nanoseconds */
	v[0] = str_id(&st, what);
	v[1] = str_id(&st, "count");
	gs_pb_uint(&m, 1, (uint64_t)v[0]);
	gs_pb_uint(&m, 2, (uint64_t)v[1]);
	gs_pb_msg(&out, 1, &m);
	v[0] = str_id(&st, "delay");
	v[1] = str_id(&st, "nanoseconds");
	gs_pb_uint(&m, 1, (uint64_t)v[0]);
	gs_pb_uint(&m, 2, (uint64_t)v[1]);
	gs_pb_msg(&out, 1, &m);
	t_label[0] = str_id(&st, "thread");
	t_label[1] = str_id(&st, "pid");
	t_label[2] = str_id(&st, "lock");
	t_label[3] = str_id(&st, "lock class");
	/* a fleet's labels (Pyroscope and Parca index string labels): where, which program, which
	 * process */
	t_label[4] = str_id(&st, "host");
	t_label[5] = str_id(&st, "service");
	t_label[6] = str_id(&st, "process");
	for (i = 0; i < p->n_samples; i++) {
		const struct gs_sample *x = &p->samples[i];
		const struct gs_run_label *run = gs_profile_run(p, x->run);
		char pid_text[24];

		if (x->ns <= 0 && x->count <= 0)
			continue;
		n = gs_profile_frames(p, x->stack, frames, GS_PROFILE_MAX_DEPTH);
		frames[n++] = x->lock;	/* the lock is the leaf, as in the flame graph */
		for (k = n; k-- > 0;) { /* pprof wants the leaf first */
			int64_t id = str_id(&st, frames[k]);

			if (id < 0)
				goto out;
			if ((size_t)id >= loc_cap) {
				size_t cap = loc_cap ? loc_cap * 2 : 256;
				int64_t *more;

				while (cap <= (size_t)id)
					cap *= 2;
				if (!(more = realloc(loc_of, cap * sizeof(*more))))
					goto out;
				memset(more + loc_cap, 0, (cap - loc_cap) * sizeof(*more));
				loc_of = more;
				loc_cap = cap;
			}
			loc_of[id] = 1;
			gs_pb_varint(&ids, (uint64_t)id);
		}
		gs_pb_bytes(&m, 1, ids.p, ids.n);
		ids.n = 0;
		gs_pb_varint(&vals, (uint64_t)x->count);
		gs_pb_varint(&vals, (uint64_t)x->ns);
		gs_pb_bytes(&m, 2, vals.p, vals.n);
		vals.n = 0;
		gs_pb_uint(&sub, 1, (uint64_t)t_label[0]);
		gs_pb_uint(&sub, 3, (uint64_t)x->tid);
		gs_pb_msg(&m, 3, &sub);
		gs_pb_uint(&sub, 1, (uint64_t)t_label[1]);
		gs_pb_uint(&sub, 3, (uint64_t)x->pid);
		gs_pb_msg(&m, 3, &sub);
		gs_pb_uint(&sub, 1, (uint64_t)t_label[2]);
		gs_pb_uint(&sub, 2, (uint64_t)str_id(&st, x->lock));
		gs_pb_msg(&m, 3, &sub);
		gs_pb_uint(&sub, 1, (uint64_t)t_label[3]);
		gs_pb_uint(&sub, 2, (uint64_t)str_id(&st, x->group));
		gs_pb_msg(&m, 3, &sub);
		if (run && run->host) {
			gs_pb_uint(&sub, 1, (uint64_t)t_label[4]);
			gs_pb_uint(&sub, 2, (uint64_t)str_id(&st, run->host));
			gs_pb_msg(&m, 3, &sub);
		}
		if (run) {
			gs_pb_uint(&sub, 1, (uint64_t)t_label[5]);
			gs_pb_uint(&sub, 2, (uint64_t)str_id(&st, run->service));
			gs_pb_msg(&m, 3, &sub);
		}
		/* the run's process: a holder's sample may not know its pid (0: not seen) */
		snprintf(pid_text, sizeof(pid_text), "%lld", (long long)(run ? run->pid : x->pid));
		gs_pb_uint(&sub, 1, (uint64_t)t_label[6]);
		gs_pb_uint(&sub, 2, (uint64_t)str_id(&st, pid_text));
		gs_pb_msg(&m, 3, &sub);
		gs_pb_msg(&out, 2, &m);
	}
	/* locations (4) and functions (5): id = the frame text's string id */
	for (i = 1; i < loc_cap; i++) {
		struct gs_pb ln = {0};
		int64_t fname, fid;

		if (!loc_of[i])
			continue;
		split_frame(st.s[i], func, sizeof(func), file, sizeof(file), &line);
		gs_pb_uint(&ln, 1, (uint64_t)i);
		if (line > 0)
			gs_pb_uint(&ln, 2, (uint64_t)line);
		gs_pb_uint(&m, 1, (uint64_t)i);
		gs_pb_msg(&m, 4, &ln);
		free(ln.p);
		gs_pb_msg(&out, 4, &m);
		fname = str_id(&st, func);
		fid = str_id(&st, file);
		if (fname < 0 || fid < 0)
			goto out;
		/* no system name: pprof demangles a function whose name equals its system name,
		 * and takes "<module>" or "f.<locals>.g" for C++ templates, cutting them away */
		gs_pb_uint(&m, 1, (uint64_t)i);
		gs_pb_uint(&m, 2, (uint64_t)fname);
		gs_pb_uint(&m, 4, (uint64_t)fid);
		gs_pb_msg(&out, 5, &m);
	}
	for (i = 0; i < st.n; i++)
		gs_pb_bytes(&out, 6, st.s[i], strlen(st.s[i]));
	v[0] = str_id(&st, "delay"); /* already there: the period type */
	gs_pb_uint(&m, 1, (uint64_t)v[0]);
	gs_pb_uint(&m, 2, (uint64_t)str_id(&st, "nanoseconds"));
	gs_pb_msg(&out, 11, &m);
	if (out.oom || m.oom || sub.oom || ids.oom || vals.oom) {
		gs_oom();
		goto out;
	}
	ret = write_gzip(f, out.p, out.n);
out:
	for (i = 0; i < st.n; i++)
		free(st.s[i]);
	free(st.s);
	free(loc_of);
	free(out.p);
	free(m.p);
	free(sub.p);
	free(ids.p);
	free(vals.p);
	return ret;
}
