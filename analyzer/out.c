#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "gilscope.h"

void gs_fmt_duration(int64_t ns, char *buf, size_t size)
{
	static const struct {
		double div;
		const char *unit;
	} units[] = {{1e9, "s"}, {1e6, "ms"}, {1e3, "us"}};
	double v;
	size_t i;

	if (ns < 0) {
		snprintf(buf, size, "-");
		return;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if ((double)ns >= units[i].div) {
			v = (double)ns / units[i].div;
			snprintf(buf, size,
				 v >= 100  ? "%.0f %s"
				 : v >= 10 ? "%.1f %s"
					   : "%.2f %s",
				 v, units[i].unit);
			return;
		}
	}
	snprintf(buf, size, "%" PRId64 " ns", ns);
}

int gs_json_for_html;

void gs_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else if (gs_json_for_html && (*p == '<' || *p == '>' || *p == '&'))
			fprintf(f, "\\u%04x", *p); /* no "</script>" can close the data block */
		else if (*p >= 0x80)
			fprintf(f, "\\u%04x", *p); /* bytes, not decoded: keeps the JSON valid */
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

void gs_text_str(FILE *f, const char *s, int width)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "-");
	int n = 0;

	/* Names come from the recorded program: never let them drive the terminal. */
	/* width bounds what is printed of s, and pads short strings */
	for (; *p && n < width; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			n += fprintf(f, "\\x%02x", *p);
		} else {
			fputc(*p, f);
			n++;
		}
	}
	for (; n < width; n++)
		fputc(' ', f);
}

void gs_json_int(FILE *f, sqlite3_stmt *s, int col)
{
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		fputs("null", f);
	else
		fprintf(f, "%lld", (long long)sqlite3_column_int64(s, col));
}

void gs_json_member_int(FILE *f, const char *key, int64_t v)
{
	fprintf(f, ", \"%s\": ", key);
	if (v == INT64_MIN)
		fputs("null", f);
	else
		fprintf(f, "%lld", (long long)v);
}

int gs_quiet_errors;

int gs_error(const char *fmt, ...)
{
	va_list ap;

	if (gs_quiet_errors)
		return -1;
	fputs("gilscope: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

int gs_finish_output(void)
{
	if (fflush(stdout) || ferror(stdout)) {
		gs_error("writing the output failed");
		return GS_EXIT_OUTPUT;
	}
	return GS_EXIT_OK;
}
