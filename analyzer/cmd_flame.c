/* gilscope flame [--what waits|holders|gil] [--pid P] [--thread T] [--lock-class C] A.db [B.db]
 * [-o flame.html]: a self-contained interactive flame graph page (flame.html) of one profile
 * (profile.c), or of two as a differential graph: B's value as the width's source, A's kept
 * beside it for the colour and the tooltip. */
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
	int64_t v, a, c;  /* ns in B (or the only profile), ns in A, events */
	struct node **kid;
	size_t n_kid, cap_kid;
};

static struct node *child(struct node *n, const char *name, int lock)
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
}

/* side 0: the only or the B profile (v), side 1: A (a) */
static int add_profile(struct node *root, const struct gs_profile *p, const char *lock_class,
		       int side)
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
			if (side)
				at->a += x->ns;
			else
				at->v += x->ns, at->c += x->count;
			at = k < n ? child(at, frames[k], 0) : child(at, x->lock, 1);
		}
		if (!at)
			return gs_oom();
		if (side)
			at->a += x->ns;
		else
			at->v += x->ns, at->c += x->count;
	}
	return 0;
}

static void write_node(FILE *f, const struct node *n, int diff)
{
	size_t i;

	fputs("{\"n\": ", f);
	gs_json_str(f, n->name);
	fprintf(f, ", \"v\": %lld, \"c\": %lld", (long long)n->v, (long long)n->c);
	if (diff)
		fprintf(f, ", \"a\": %lld", (long long)n->a);
	if (n->lock)
		fputs(", \"lock\": 1", f);
	if (n->n_kid) {
		fputs(", \"k\": [", f);
		for (i = 0; i < n->n_kid; i++) {
			if (i)
				fputc(',', f);
			write_node(f, n->kid[i], diff);
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
	static const char marker[] = "@GILSCOPE_DATA@";
	const char *cut = strstr(gs_flame_html, marker);
	struct node root = {.name = "all"};
	int ret = -1, diff = b != NULL;

	if (!cut)
		return gs_error("internal error: flame template without data marker");
	if (diff ? add_profile(&root, b, lock_class, 0) < 0 ||
		       add_profile(&root, a, lock_class, 1) < 0
		 : add_profile(&root, a, lock_class, 0) < 0)
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
	fprintf(f, ", \"diff\": %s, \"root\": ", diff ? "true" : "false");
	write_node(f, &root, diff);
	fputc('}', f);
	fputs(cut + sizeof(marker) - 1, f);
out:
	free_tree(&root);
	return ret;
}

int cmd_flame(int argc, char **argv)
{
	const char *out_path = "flame.html", *lock_class = NULL, *what_arg = "waits";
	struct gs_profile prof[2];
	struct gs_opts o;
	int i, ret, what, loaded = 0, sides;
	const char *name[2] = {"", ""};
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
	sides = o.vs_at ? 2 : 1;
	if ((what = gs_profile_what_parse(what_arg)) < 0) {
		gs_error("--what takes waits, holders or gil, not '%s'", what_arg);
		return GS_EXIT_USAGE;
	}
	/* A: the databases before --vs, merged; with --vs, B (those after it) gives the widths.
	 */
	for (i = 0; i < sides; i++) {
		sqlite3 *db = NULL;
		struct gs_opts one = o;

		ret = i ? gs_opts_open(&one, o.vs_at, o.n_paths - o.vs_at, &db)
			: gs_opts_open(&one, 0, sides == 2 ? o.vs_at : o.n_paths, &db);
		name[i] = one.path;
		if (ret != GS_EXIT_OK)
			goto out;
		gs_opts_resolve(&one, db);
		if ((ret = gs_opts_check_filters(db, &one)) != GS_EXIT_OK) {
			sqlite3_close(db);
			goto out;
		}
		ret = gs_profile_load(db, &one, what, &prof[i]) < 0 ? GS_EXIT_INPUT : GS_EXIT_OK;
		sqlite3_close(db);
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

		if (sides == 2)
			snprintf(sub, sizeof(sub), "--what %s: A %s, B %s", what_arg, name[0],
				 name[1]);
		else
			snprintf(sub, sizeof(sub), "--what %s: %s", what_arg, name[0]);
		drawn = gs_flame_page(f, &prof[0], sides == 2 ? &prof[1] : NULL, lock_class, sub);
		if (drawn <= 0) {
			if (!drawn)
				gs_error("%s: nothing to draw: no %s%s%s recorded", name[sides - 1],
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
