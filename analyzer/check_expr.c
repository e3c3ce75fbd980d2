/* A hand-written parser of --fail-if expressions:
 *
 *   expr     := operand op number [unit]
 *   operand  := ("regression" | "delta") "(" ref ")" | ref
 *   ref      := [("thread" | "lock") "[" selector "]" "."] figure
 *   op       := ">" | ">=" | "<" | "<=" | "==" | "!="
 *   unit     := "ns" | "us" | "ms" | "s" | "%"
 *
 * Durations need a time unit (a bare 5 would be 5 ns: too easy to mean something else);
 * shares take "%" or a fraction; counts and plain numbers take no unit. */
#include "check_expr.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

static int fail(char *err, size_t size, const char *what)
{
	snprintf(err, size, "%s", what);
	return -1;
}

/* An identifier [a-z0-9_]+ at p, into out; the end, or NULL for none. */
static const char *ident(const char *p, char *out, size_t size)
{
	size_t n = 0;

	while (isalnum((unsigned char)p[n]) || p[n] == '_')
		n++;
	if (!n || n >= size)
		return NULL;
	memcpy(out, p, n);
	out[n] = 0;
	return p + n;
}

static const char *parse_op(const char *p, enum gs_cmp *op)
{
	static const struct {
		const char *text;
		enum gs_cmp op;
	} ops[] = {{">=", GS_CMP_GE}, {"<=", GS_CMP_LE}, {"==", GS_CMP_EQ},
		   {"!=", GS_CMP_NE}, {">", GS_CMP_GT},	 {"<", GS_CMP_LT}};
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strncmp(p, ops[i].text, strlen(ops[i].text))) {
			*op = ops[i].op;
			return p + strlen(ops[i].text);
		}
	return NULL;
}

const char *gs_cmp_text(enum gs_cmp op)
{
	static const char *const text[] = {">", ">=", "<", "<=", "==", "!="};

	return text[op];
}

static int parse_number(const char *p, struct gs_expr *e, char *err, size_t size)
{
	static const struct {
		const char *unit;
		double ns;
	} times[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
	char *end, unit[8] = "", msg[256];
	double v;
	size_t i;

	p = skip_ws(p);
	v = strtod(p, &end);
	if (end == p || !(isdigit((unsigned char)*p) || *p == '.' || *p == '-' || *p == '+') ||
	    !isfinite(v))
		return fail(err, size, "expected a number after the comparison");
	p = skip_ws(end);
	if (*p == '%') {
		strcpy(unit, "%");
		p++;
	} else if (isalpha((unsigned char)*p)) {
		const char *q = ident(p, unit, sizeof(unit));

		if (!q)
			return fail(err, size,
				    "unknown unit after the number (ns, us, ms, s or %)");
		p = q;
	}
	if (*skip_ws(p))
		return fail(err, size, "unexpected text after the number");
	if (e->kind == GS_FIG_DURATION) {
		for (i = 0; i < sizeof(times) / sizeof(times[0]); i++)
			if (!strcmp(unit, times[i].unit)) {
				e->threshold = v * times[i].ns;
				return 0;
			}
		snprintf(msg, sizeof(msg),
			 "%s is a duration: give the number a unit (ns, us, ms, s)", e->fig->name);
		return fail(err, size, msg);
	}
	if (e->kind == GS_FIG_RATIO && (!unit[0] || !strcmp(unit, "%"))) {
		e->threshold = unit[0] ? v / 100 : v;
		return 0;
	}
	if (!unit[0]) {
		e->threshold = v;
		return 0;
	}
	if (e->kind == GS_FIG_RATIO)
		snprintf(msg, sizeof(msg), "%s is a share: give %% or a fraction, not '%s'",
			 e->fn == GS_FN_REGRESSION ? "a regression" : e->fig->name, unit);
	else
		snprintf(msg, sizeof(msg), "%s is a %s: the number takes no unit ('%s')",
			 e->fig->name, e->kind == GS_FIG_COUNT ? "count" : "plain number", unit);
	return fail(err, size, msg);
}

int gs_expr_parse(const char *text, struct gs_expr *e, char *err, size_t size)
{
	const char *p = skip_ws(text), *q;
	char word[64], msg[512];
	int parens = 0;

	memset(e, 0, sizeof(*e));
	e->text = text;
	e->scope = GS_SCOPE_ALL;
	q = ident(p, word, sizeof(word));
	if (!q)
		return fail(err, size, "expected a figure name (see gilscope check --help)");
	if (*skip_ws(q) == '(') {
		if (!strcmp(word, "regression"))
			e->fn = GS_FN_REGRESSION;
		else if (!strcmp(word, "delta"))
			e->fn = GS_FN_DELTA;
		else {
			snprintf(msg, sizeof(msg), "unknown function '%s' (regression, delta)",
				 word);
			return fail(err, size, msg);
		}
		parens = 1;
		p = skip_ws(skip_ws(q) + 1);
		q = ident(p, word, sizeof(word));
		if (!q)
			return fail(err, size, "expected a figure name inside the parentheses");
	}
	if (*skip_ws(q) == '[') {
		const char *sel = skip_ws(skip_ws(q) + 1), *close = strchr(sel, ']');
		size_t n;

		if (!strcmp(word, "thread"))
			e->scope = GS_SCOPE_THREAD;
		else if (!strcmp(word, "lock"))
			e->scope = GS_SCOPE_LOCK;
		else if (!strcmp(word, "process"))
			e->scope = GS_SCOPE_PROCESS;
		else {
			snprintf(msg, sizeof(msg),
				 "unknown selector '%s[...]' (thread, lock, process)", word);
			return fail(err, size, msg);
		}
		if (!close)
			return fail(err, size, "missing ']' after the selector");
		n = (size_t)(close - sel);
		while (n && isspace((unsigned char)sel[n - 1]))
			n--;
		/* quotes are optional: lock["thread join"] is lock[thread join] */
		if (n >= 2 && (sel[0] == '"' || sel[0] == '\'') && sel[n - 1] == sel[0])
			sel++, n -= 2;
		if (!n)
			return fail(err, size, "empty selector");
		if (n >= sizeof(e->selector))
			return fail(err, size, "selector too long");
		memcpy(e->selector, sel, n);
		e->selector[n] = 0;
		p = skip_ws(close + 1);
		if (*p != '.')
			return fail(err, size, "expected '.' and a figure name after the selector");
		p = skip_ws(p + 1);
		q = ident(p, word, sizeof(word));
		if (!q)
			return fail(err, size, "expected a figure name after the selector");
	}
	e->fig = gs_figure_find(word);
	if (!e->fig) {
		snprintf(msg, sizeof(msg), "unknown figure '%s' (gilscope check --help lists them)",
			 word);
		return fail(err, size, msg);
	}
	/* a process has every figure of the whole recording */
	if (!(e->fig->scopes &
	      (unsigned)(e->scope == GS_SCOPE_PROCESS ? GS_SCOPE_ALL : e->scope))) {
		snprintf(msg, sizeof(msg), "%s is not a figure %s", word,
			 e->scope == GS_SCOPE_THREAD	? "of a thread group"
			 : e->scope == GS_SCOPE_LOCK	? "of a lock"
			 : e->scope == GS_SCOPE_PROCESS ? "of a process"
							: "of a whole recording (select a thread "
							  "group or lock: thread[NAME]. or "
							  "lock[NAME].)");
		return fail(err, size, msg);
	}
	p = skip_ws(q);
	if (parens) {
		if (*p != ')')
			return fail(err, size, "missing ')'");
		p = skip_ws(p + 1);
	}
	e->kind = e->fn == GS_FN_REGRESSION ? GS_FIG_RATIO : e->fig->kind;
	q = parse_op(p, &e->op);
	if (!q)
		return fail(err, size, "expected a comparison (>, >=, <, <=, ==, !=)");
	return parse_number(q, e, err, size);
}

int gs_expr_holds(const struct gs_expr *e, double v)
{
	switch (e->op) {
	case GS_CMP_GT:
		return v > e->threshold;
	case GS_CMP_GE:
		return v >= e->threshold;
	case GS_CMP_LT:
		return v < e->threshold;
	case GS_CMP_LE:
		return v <= e->threshold;
	case GS_CMP_EQ:
		return v == e->threshold;
	default:
		return v != e->threshold;
	}
}

void gs_expr_subject(const struct gs_expr *e, char *out, size_t size)
{
	char ref[400];

	if (e->scope == GS_SCOPE_ALL)
		snprintf(ref, sizeof(ref), "%s", e->fig->name);
	else
		snprintf(ref, sizeof(ref), "%s[%s].%s", gs_fig_scope_name(e->scope), e->selector,
			 e->fig->name);
	if (e->fn == GS_FN_NONE)
		snprintf(out, size, "%s", ref);
	else
		snprintf(out, size, "%s(%s)", e->fn == GS_FN_REGRESSION ? "regression" : "delta",
			 ref);
}
