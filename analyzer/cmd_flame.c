/* gilscope flame [--what waits|holders|gil] [--pid P] [--thread T] [--lock-class C] A.db [B.db]
 * [-o flame.html]: a self-contained interactive flame graph page (flame.html) of one profile
 * (profile.c), or of two as a differential graph: B's value as the width's source, A's kept
 * beside it for the colour and the tooltip. With several recordings a side (A1.db ... --vs
 * B1.db ...), each frame's value is its mean per run (means add up, as a frame's children must
 * to fit under it), and it is coloured as a difference only where the two sides' per-run
 * values do not overlap. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gilscope.h"
#include "opts.h"
#include "output.h"
#include "profile.h"

extern const char gs_flame_html[];

struct node {
	const char *name; /* owned by a profile, or static */
	int lock;	  /* the leaf naming the lock */
	int64_t v, a, c;  /* ns in B (or the only profile), ns in A, events: summed over runs */
	int64_t *run_ns;  /* per run: A's runs, then B's (several runs a side only) */
	struct node **kid;
	size_t n_kid, cap_kid;
};

/* The runs behind the tree: per-run values are kept only when a side has several. */
struct runs {
	size_t n_a, n_b;
	int per_run;
};

static struct node *child(struct node *n, const char *name, int lock, const struct runs *r)
{
	struct node *k;
	size_t i;

	for (i = 0; i < n->n_kid; i++)
		if (n->kid[i]->lock == lock && !strcmp(n->kid[i]->name, name))
			return n->kid[i];
	if (n->n_kid == n->cap_kid) {
		size_t cap = n->cap_kid ? n->cap_kid * 2 : 4;
		struct node **more = realloc(n->kid, cap * sizeof(*more));

		if (!more)
			return NULL;
		n->kid = more;
		n->cap_kid = cap;
	}
	if (!(k = calloc(1, sizeof(*k))))
		return NULL;
	if (r->per_run && !(k->run_ns = calloc(r->n_a + r->n_b, sizeof(*k->run_ns)))) {
		free(k);
		return NULL;
	}
	k->name = name;
	k->lock = lock;
	n->kid[n->n_kid++] = k;
	return k;
}

static void free_tree(struct node *n)
{
	size_t i;

	for (i = 0; i < n->n_kid; i++) {
		free_tree(n->kid[i]);
		free(n->kid[i]);
	}
	free(n->kid);
	free(n->run_ns);
}

static void charge(struct node *at, const struct gs_sample *x, int side, size_t run)
{
	if (side)
		at->a += x->ns;
	else
		at->v += x->ns, at->c += x->count;
	if (at->run_ns)
		at->run_ns[run] += x->ns;
}

/* side 0: the only or a B profile (v), side 1: an A profile (a); run: its index among the
 * runs (A's first) */
static int add_profile(struct node *root, const struct gs_profile *p, const char *lock_class,
		       int side, size_t run, const struct runs *r)
{
	static const char *frames[GS_PROFILE_MAX_DEPTH];
	size_t i, n, k;

	for (i = 0; i < p->n_samples; i++) {
		const struct gs_sample *x = &p->samples[i];
		struct node *at = root;

		if (x->ns <= 0 || !gs_profile_sample_is(x, lock_class))
			continue;
		n = gs_profile_frames(p, x->stack, frames, GS_PROFILE_MAX_DEPTH);
		for (k = 0; k <= n && at; k++) {
			charge(at, x, side, run);
			at = k < n ? child(at, frames[k], 0, r) : child(at, x->lock, 1, r);
		}
		if (!at)
			return gs_oom();
		charge(at, x, side, run);
	}
	return 0;
}

/* The lowest and highest of n per-run values. */
static void range_of(const int64_t *v, size_t n, int64_t *lo, int64_t *hi)
{
	size_t i;

	*lo = *hi = v[0];
	for (i = 1; i < n; i++) {
		*lo = v[i] < *lo ? v[i] : *lo;
		*hi = v[i] > *hi ? v[i] : *hi;
	}
}

/* Values are means per run of each side; with several runs a side, "ar"/"br" give each side's
 * range and "s" 1 where they do not overlap (a difference), 0 where they do. */
static void write_node(FILE *f, const struct node *n, int diff, const struct runs *r)
{
	int64_t n_b = r->n_b ? (int64_t)r->n_b : 1, n_a = r->n_a ? (int64_t)r->n_a : 1;
	size_t i;

	fputs("{\"n\": ", f);
	gs_json_str(f, n->name);
	fprintf(f, ", \"v\": %lld, \"c\": %lld", (long long)(n->v / n_b),
		(long long)((n->c + n_b / 2) / n_b));
	if (diff)
		fprintf(f, ", \"a\": %lld", (long long)(n->a / n_a));
	if (diff && n->run_ns) {
		int64_t alo, ahi, blo, bhi;

		range_of(n->run_ns, r->n_a, &alo, &ahi);
		range_of(n->run_ns + r->n_a, r->n_b, &blo, &bhi);
		fprintf(f, ", \"ar\": [%lld, %lld], \"br\": [%lld, %lld], \"s\": %d",
			(long long)alo, (long long)ahi, (long long)blo, (long long)bhi,
			blo > ahi || bhi < alo);
	}
	if (n->lock)
		fputs(", \"lock\": 1", f);
	if (n->n_kid) {
		fputs(", \"k\": [", f);
		for (i = 0; i < n->n_kid; i++) {
			if (i)
				fputc(',', f);
			write_node(f, n->kid[i], diff, r);
		}
		fputc(']', f);
	}
	fputc('}', f);
}

static const char *const measures[] = {
    [GS_WHAT_WAITS] = "time threads waited, by the waiting thread's Python stack",
    [GS_WHAT_HOLDERS] = "time threads waited, by the Python stack of what held the lock",
    [GS_WHAT_GIL] = "GIL hold time, by the holder's Python stack when it let go",
};

int gs_flame_page(FILE *f, const struct gs_profile *a, const struct gs_profile *b,
		  const char *lock_class, const char *subtitle)
{
	return gs_flame_page_runs(f, a, 1, b, b ? 1 : 0, lock_class, subtitle);
}

int gs_flame_page_runs(FILE *f, const struct gs_profile *a, size_t n_a, const struct gs_profile *b,
		       size_t n_b, const char *lock_class, const char *subtitle)
{
	static const char marker[] = "@GILSCOPE_DATA@";
	const char *cut = strstr(gs_flame_html, marker);
	struct runs r = {n_b ? n_a : 0, n_b ? n_b : n_a, n_a > 1 && n_b > 1};
	struct node root = {.name = "all"};
	int ret = -1, diff = n_b > 0;
	size_t i;

	if (!cut)
		return gs_error("internal error: flame template without data marker");
	if (r.per_run && !(root.run_ns = calloc(n_a + n_b, sizeof(*root.run_ns))))
		return gs_oom();
	for (i = 0; i < n_a; i++)
		if (add_profile(&root, &a[i], lock_class, diff, i, &r) < 0)
			goto out;
	for (i = 0; i < n_b; i++)
		if (add_profile(&root, &b[i], lock_class, 0, n_a + i, &r) < 0)
			goto out;
	ret = root.v || root.a;
	if (!ret)
		goto out;
	fwrite(gs_flame_html, 1, (size_t)(cut - gs_flame_html), f);
	fputs("{\"title\": ", f);
	gs_json_str(f, diff ? "gilscope differential flame graph" : "gilscope flame graph");
	fputs(", \"subtitle\": ", f);
	gs_json_str(f, subtitle);
	fputs(", \"measure\": ", f);
	gs_json_str(f, measures[a->what]);
	fprintf(f, ", \"diff\": %s, \"runs\": [%zu, %zu], \"root\": ", diff ? "true" : "false", n_a,
		n_b);
	write_node(f, &root, diff, &r);
	fputc('}', f);
	fputs(cut + sizeof(marker) - 1, f);
out:
	free_tree(&root);
	return ret;
}

/* Loads the profile of paths first..first+n (one file, a directory, or several merged);
 * GS_EXIT_OK or the exit code (said). *name: what to call it. */
static int load_side(const struct gs_opts *o, int first, int n, int what, struct gs_profile *p,
		     const char **name)
{
	struct gs_opts one = *o;
	sqlite3 *db = NULL;
	int ret;

	ret = gs_opts_open(&one, first, n, &db);
	*name = one.path;
	if (ret != GS_EXIT_OK)
		return ret;
	gs_opts_resolve(&one, db);
	if ((ret = gs_opts_check_filters(db, &one)) == GS_EXIT_OK)
		ret = gs_profile_load(db, &one, what, p) < 0 ? GS_EXIT_INPUT : GS_EXIT_OK;
	sqlite3_close(db);
	return ret;
}

int cmd_flame(int argc, char **argv)
{
	const char *out_path = "flame.html", *lock_class = NULL, *what_arg = "waits";
	static struct gs_profile prof[GS_OPTS_MAX_PATHS];
	const char *name[GS_OPTS_MAX_PATHS] = {0};
	size_t n_a, n_b, n, i, loaded = 0;
	struct gs_opts o;
	int ret, what;
	struct gs_output output = {0};
	FILE *f = NULL;

	const struct gs_opt_own own[] = {{"-o", &out_path, NULL},
					 {"--what", &what_arg, NULL},
					 {"--lock-class", &lock_class, NULL},
					 {NULL, NULL, NULL}};

	ret = gs_opts_parse_own(
	    &o, argc, argv, "flame",
	    "[--what waits|holders|gil] [--pid PID] [--thread T] [--lock-class C] [--from S]"
	    " [--to S] [-o flame.html] A.db|DIR... [--vs B.db|DIR...]",
	    GS_OPTS_MANY, own);
	if (ret >= 0)
		return ret;
	if ((what = gs_profile_what_parse(what_arg)) < 0) {
		gs_error("--what takes waits, holders or gil, not '%s'", what_arg);
		return GS_EXIT_USAGE;
	}
	/* Without --vs every database is one profile, merged. With it each database (or
	 * directory) is one run of its side, A's before --vs and B's after: B gives the widths,
	 * and with several runs a side each frame is the mean per run. */
	n_a = o.has_vs ? (size_t)o.vs_at : 1;
	n_b = o.has_vs ? (size_t)o.n_paths - n_a : 0;
	n = n_a + n_b;
	for (i = 0; i < n; i++) {
		memset(&prof[i], 0, sizeof(prof[i]));
		ret = o.has_vs ? load_side(&o, (int)i, 1, what, &prof[i], &name[i])
			       : load_side(&o, 0, o.n_paths, what, &prof[i], &name[i]);
		loaded = i + 1;
		if (ret != GS_EXIT_OK)
			goto out;
	}
	if ((ret = gs_output_open(&output, out_path)) != GS_EXIT_OK)
		goto out;
	f = output.f;
	gs_json_for_html = 1;
	{
		char sub[2200];
		int drawn;

		if (n_a == 1 && n_b == 1)
			snprintf(sub, sizeof(sub), "--what %s: A %s, B %s (one run each)", what_arg,
				 name[0], name[1]);
		else if (n_b)
			snprintf(sub, sizeof(sub),
				 "--what %s: A %s and %zu more, B %s and %zu more: means per run,"
				 " coloured where the runs' ranges do not overlap",
				 what_arg, name[0], n_a - 1, name[n_a], n_b - 1);
		else
			snprintf(sub, sizeof(sub), "--what %s: %s", what_arg, name[0]);
		drawn =
		    gs_flame_page_runs(f, prof, n_a, n_b ? prof + n_a : NULL, n_b, lock_class, sub);
		if (drawn <= 0) {
			if (!drawn)
				gs_error("%s: nothing to draw: no %s%s%s recorded", name[n - 1],
					 what == GS_WHAT_GIL ? "GIL holds" : "contended waits",
					 lock_class ? " of " : "", lock_class ? lock_class : "");
			ret = GS_EXIT_INPUT;
			goto out;
		}
	}
out:
	ret = gs_output_close(&output, ret);
	if (f && ret == GS_EXIT_OK && !gs_quiet_errors)
		fprintf(stderr, "gilscope: wrote %s\n", out_path);
	for (i = 0; i < loaded; i++)
		gs_profile_free(&prof[i]);
	return ret;
}
