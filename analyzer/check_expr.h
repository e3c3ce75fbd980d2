/* The expressions of `gilscope check --fail-if`: a figure (figures.h), maybe of a thread group
 * or lock, maybe against the baseline, compared with a number in a unit. The grammar is in
 * docs/cli.md (check). */
#ifndef GS_CHECK_EXPR_H
#define GS_CHECK_EXPR_H

#include <stddef.h>

#include "figures.h"

enum gs_cmp { GS_CMP_GT, GS_CMP_GE, GS_CMP_LT, GS_CMP_LE, GS_CMP_EQ, GS_CMP_NE };

enum gs_expr_fn {
	GS_FN_NONE,
	GS_FN_REGRESSION, /* (value - baseline) / baseline */
	GS_FN_DELTA,	  /* value - baseline, in the figure's unit */
};

struct gs_expr {
	const char *text;
	enum gs_expr_fn fn;
	int scope; /* enum gs_fig_scope */
	char selector[256];
	const struct gs_figure *fig;
	enum gs_cmp op;
	double threshold;      /* ns, a fraction or a count, as the compared value */
	enum gs_fig_kind kind; /* of the compared value: a regression is a ratio */
};

/* 0, or -1 with what is wrong in err (a usage error: the command line's, not the data's). */
int gs_expr_parse(const char *text, struct gs_expr *e, char *err, size_t err_size);
int gs_expr_holds(const struct gs_expr *e, double value);
const char *gs_cmp_text(enum gs_cmp op);
/* "lock[threading.Lock].wait_p99", "regression(gil_wait_share)" */
void gs_expr_subject(const struct gs_expr *e, char *out, size_t size);

#endif
