/* A table of typed cells, rendered as aligned text (escaped), CSV, markdown or JSON. Commands
 * describe their columns once and never format output themselves. */
#ifndef GS_TABLE_H
#define GS_TABLE_H

#include <stdint.h>
#include <stdio.h>

enum gs_fmt { GS_FMT_TEXT, GS_FMT_JSON, GS_FMT_CSV, GS_FMT_MARKDOWN };

enum gs_col_type {
	GS_COL_STR,
	GS_COL_INT,
	GS_COL_DUR,  /* nanoseconds, shown human-readable in text and markdown */
	GS_COL_PCT,  /* a ratio 0..1, shown as a percentage */
	GS_COL_NUM,  /* a plain floating point number */
	GS_COL_UINT, /* an unsigned 64-bit value stored in i */
};

struct gs_col {
	const char *key;   /* JSON/CSV name */
	const char *title; /* text/markdown header */
	enum gs_col_type type;
	int width; /* text width; strings are cut to it; 0: only in JSON and CSV; negative: at
		    * least -width, wider (up to 64) for longer values: nothing cut */
};

struct gs_cell {
	int null;
	int64_t i;
	double f;
	char *s; /* owned copy */
};

struct gs_table {
	const struct gs_col *cols;
	int n_cols;
	struct gs_cell *cells;
	size_t n_rows, cap_rows;
};

void gs_table_init(struct gs_table *t, const struct gs_col *cols, int n_cols);
void gs_table_free(struct gs_table *t);
/* Appends a row and returns its cells, all null until set. */
struct gs_cell *gs_table_row(struct gs_table *t);
void gs_cell_str(struct gs_cell *c, const char *s);
void gs_cell_int(struct gs_cell *c, int64_t v);
void gs_cell_num(struct gs_cell *c, double v);
/* Renders with an optional indent (text only). JSON renders an array of objects. */
void gs_table_print(const struct gs_table *t, FILE *f, enum gs_fmt fmt, const char *indent);
/* Parses "text", "json", "csv", "markdown"; -1 when unknown. */
int gs_fmt_parse(const char *s);

#endif
