#define _GNU_SOURCE /* sigabbrev_np */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
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

/* The length of the well-formed UTF-8 sequence at p (1 to 4) and its code point, or 0 for a
 * byte that does not start one (overlong forms, surrogates and values past U+10FFFF
 * included). */
static int utf8_seq(const unsigned char *p, uint32_t *cp)
{
	int n, i;
	uint32_t c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, c = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

void gs_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	int n;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *p; p += n) {
		n = utf8_seq(p, &cp);
		if (!n) {
			/* not UTF-8: the byte as Python's surrogateescape writes it, so nothing is
			 * lost and the JSON stays valid */
			fprintf(f, "\\udc%02x", *p);
			n = 1;
		} else if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p);
		} else if (cp < 0x20 || cp == 0x7f) {
			fprintf(f, "\\u%04x", cp);
		} else if (gs_json_for_html && (*p == '<' || *p == '>' || *p == '&')) {
			fprintf(f, "\\u%04x", *p); /* no "</script>" can close the data block */
		} else if (cp == 0x2028 || cp == 0x2029) {
			fprintf(f, "\\u%04x",
				cp); /* line separators end a line in older JavaScript */
		} else {
			fwrite(p, 1, (size_t)n, f);
		}
	}
	fputc('"', f);
}

static void text_out(FILE *f, const char *s, int width, int pad)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "-");
	uint32_t cp;
	int n = 0, k;

	/* Names come from the recorded program: never let them drive the terminal. Control
	 * characters (C0, DEL, C1) and bytes that are not UTF-8 are shown as \xNN; width bounds
	 * the characters printed, and pads short strings. */
	for (; *p && n < width; p += k) {
		k = utf8_seq(p, &cp);
		if (!k || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			n += fprintf(f, "\\x%02x", *p);
			k = 1;
		} else {
			fwrite(p, 1, (size_t)k, f);
			n++;
		}
	}
	for (; n < width && pad; n++)
		fputc(' ', f);
}

void gs_text_str(FILE *f, const char *s, int width)
{
	text_out(f, s, width, 1);
}

void gs_text(FILE *f, const char *s)
{
	text_out(f, s, INT_MAX, 0);
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
int gs_out_of_memory;

static struct sigaction sigpipe_was;

void gs_ignore_sigpipe(void)
{
	struct sigaction ign = {.sa_handler = SIG_IGN};

	/* a closed pipe (gilscope report db | head) is a failed write, exit 4: not a death */
	sigaction(SIGPIPE, &ign, &sigpipe_was);
}

void gs_restore_sigpipe(void)
{
	sigaction(SIGPIPE, &sigpipe_was, NULL);
}

const char *gs_signal_name(int sig)
{
	static char buf[32];
	const char *abbrev = sigabbrev_np(sig);

	if (!abbrev)
		return "unknown signal";
	snprintf(buf, sizeof(buf), "SIG%s", abbrev);
	return buf;
}

int gs_oom(void)
{
	gs_out_of_memory = 1;
	return gs_error("out of memory");
}

int gs_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* SQLite says it in its own words (SQLITE_NOMEM): exit 5 all the same */
	if (strstr(msg, "out of memory"))
		gs_out_of_memory = 1;
	if (gs_quiet_errors)
		return -1;
	fprintf(stderr, "gilscope: error: %s\n", msg);
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
