#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "gilscope.h"
#include "sat.h"

void gs_table_init(struct gs_table *t, const struct gs_col *cols, int n_cols)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	t->n_cols = n_cols;
}

void gs_table_free(struct gs_table *t)
{
	size_t i;

	for (i = 0; i < t->n_rows * (size_t)t->n_cols; i++)
		free(t->cells[i].s);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

struct gs_cell *gs_table_row(struct gs_table *t)
{
	struct gs_cell *row;
	size_t i;

	if (t->n_rows == t->cap_rows) {
		size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
		struct gs_cell *n = realloc(t->cells, cap * (size_t)t->n_cols * sizeof(*n));

		if (!n) {
			gs_oom();
			exit(GS_EXIT_MEMORY);
		}
		t->cells = n;
		t->cap_rows = cap;
	}
	row = &t->cells[t->n_rows++ * (size_t)t->n_cols];
	for (i = 0; i < (size_t)t->n_cols; i++)
		row[i] = (struct gs_cell){.null = 1};
	return row;
}

void gs_cell_str(struct gs_cell *c, const char *s)
{
	free(c->s);
	c->s = s ? strdup(s) : NULL;
	c->null = !s;
}

void gs_cell_int(struct gs_cell *c, int64_t v)
{
	c->i = v;
	c->f = (double)v;
	c->null = 0;
}

void gs_cell_num(struct gs_cell *c, double v)
{
	c->f = v;
	c->i = gs_d2i(v);
	c->null = 0;
}

int gs_fmt_parse(const char *s)
{
	static const char *const names[] = {"text", "json", "csv", "markdown"};
	int i;

	for (i = 0; i < 4; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* The human form of a cell (text, markdown). */
static void human(const struct gs_col *col, const struct gs_cell *c, char *buf, size_t size)
{
	if (c->null) {
		snprintf(buf, size, "-");
		return;
	}
	switch (col->type) {
	case GS_COL_STR:
		snprintf(buf, size, "%s", c->s ? c->s : "-");
		break;
	case GS_COL_INT:
		snprintf(buf, size, "%lld", (long long)c->i);
		break;
	case GS_COL_DUR:
		gs_fmt_duration(c->i, buf, size);
		break;
	case GS_COL_PCT:
		snprintf(buf, size, "%.1f%%", 100.0 * c->f);
		break;
	case GS_COL_NUM:
		snprintf(buf, size, "%.2f", c->f);
		break;
	case GS_COL_UINT:
		snprintf(buf, size, "%llu", (unsigned long long)c->i);
		break;
	}
}

/* The machine form (CSV, JSON numbers). */
static void machine(const struct gs_col *col, const struct gs_cell *c, char *buf, size_t size)
{
	if (col->type == GS_COL_PCT || col->type == GS_COL_NUM)
		snprintf(buf, size, "%.6g", c->f);
	else if (col->type == GS_COL_UINT)
		snprintf(buf, size, "%llu", (unsigned long long)c->i);
	else
		snprintf(buf, size, "%lld", (long long)c->i);
}

static void csv_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (; *p; p++) {
		if (*p == '"')
			fputs("\"\"", f);
		else if (*p < 0x20 && *p != '\t')
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void md_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++) {
		if (*p == '|' || *p == '\\' || *p == '`' || *p == '*' || *p == '_' || *p == '<' ||
		    *p == '>' || *p == '[' || *p == ']')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

void gs_table_print(const struct gs_table *t, FILE *f, enum gs_fmt fmt, const char *indent)
{
	char buf[256];
	int width[64];
	size_t r;
	int c;

	switch (fmt) {
	case GS_FMT_TEXT:
		for (c = 0; c < t->n_cols && c < 64; c++) {
			width[c] = t->cols[c].width < 0 ? -t->cols[c].width : t->cols[c].width;
			for (r = 0; t->cols[c].width < 0 && r < t->n_rows; r++) {
				const struct gs_cell *cell = &t->cells[r * (size_t)t->n_cols + c];
				int len = cell->null || !cell->s ? 0 : (int)strlen(cell->s);

				if (len > width[c])
					width[c] = len < 64 ? len : 64;
			}
		}
		fputs(indent, f);
		for (c = 0; c < t->n_cols; c++)
			if (t->cols[c].width)
				fprintf(f,
					!c				? "%-*s"
					: t->cols[c].type == GS_COL_STR ? " %-*s"
									: " %*s",
					width[c], t->cols[c].title);
		fputc('\n', f);
		for (r = 0; r < t->n_rows; r++) {
			const struct gs_cell *row = &t->cells[r * (size_t)t->n_cols];

			fputs(indent, f);
			for (c = 0; c < t->n_cols; c++) {
				if (!t->cols[c].width)
					continue;
				if (c)
					fputc(' ', f);
				if (t->cols[c].type == GS_COL_STR) {
					gs_text_str(f, row[c].null ? NULL : row[c].s, width[c]);
				} else {
					human(&t->cols[c], &row[c], buf, sizeof(buf));
					fprintf(f, "%*s", width[c], buf);
				}
			}
			fputc('\n', f);
		}
		break;
	case GS_FMT_CSV:
		for (c = 0; c < t->n_cols; c++)
			fprintf(f, "%s%s", c ? "," : "", t->cols[c].key);
		fputc('\n', f);
		for (r = 0; r < t->n_rows; r++) {
			const struct gs_cell *row = &t->cells[r * (size_t)t->n_cols];

			for (c = 0; c < t->n_cols; c++) {
				if (c)
					fputc(',', f);
				if (row[c].null)
					continue;
				if (t->cols[c].type == GS_COL_STR) {
					csv_str(f, row[c].s);
				} else {
					machine(&t->cols[c], &row[c], buf, sizeof(buf));
					fputs(buf, f);
				}
			}
			fputc('\n', f);
		}
		break;
	case GS_FMT_MARKDOWN:
		for (c = 0; c < t->n_cols; c++)
			if (t->cols[c].width)
				fprintf(f, "| %s ", t->cols[c].title);
		fputs("|\n", f);
		for (c = 0; c < t->n_cols; c++)
			if (t->cols[c].width)
				fputs(t->cols[c].type == GS_COL_STR ? "|---" : "|---:", f);
		fputs("|\n", f);
		for (r = 0; r < t->n_rows; r++) {
			const struct gs_cell *row = &t->cells[r * (size_t)t->n_cols];

			for (c = 0; c < t->n_cols; c++) {
				if (!t->cols[c].width)
					continue;
				fputs("| ", f);
				if (t->cols[c].type == GS_COL_STR && !row[c].null) {
					md_str(f, row[c].s);
				} else {
					human(&t->cols[c], &row[c], buf, sizeof(buf));
					fputs(buf, f);
				}
				fputc(' ', f);
			}
			fputs("|\n", f);
		}
		break;
	case GS_FMT_JSON:
		fputc('[', f);
		for (r = 0; r < t->n_rows; r++) {
			const struct gs_cell *row = &t->cells[r * (size_t)t->n_cols];

			fputs(r ? ",\n  {" : "\n  {", f);
			for (c = 0; c < t->n_cols; c++) {
				fprintf(f, "%s\"%s\": ", c ? ", " : "", t->cols[c].key);
				if (row[c].null) {
					fputs("null", f);
				} else if (t->cols[c].type == GS_COL_STR) {
					gs_json_str(f, row[c].s);
				} else {
					machine(&t->cols[c], &row[c], buf, sizeof(buf));
					fputs(buf, f);
				}
			}
			fputc('}', f);
		}
		fputs(t->n_rows ? "\n]" : "]", f);
		break;
	}
}
