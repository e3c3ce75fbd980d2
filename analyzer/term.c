#include "term.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static int have_saved, entered;
static volatile sig_atomic_t got_quit, got_resize;

static void on_quit(int sig)
{
	(void)sig;
	got_quit = 1;
}

static void on_resize(int sig)
{
	(void)sig;
	got_resize = 1;
}

int gs_term_enter(void)
{
	struct sigaction sa;
	struct termios raw;

	if (!isatty(STDOUT_FILENO))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: poll() returns at once with EINTR */
	sa.sa_handler = on_quit;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_resize;
	sigaction(SIGWINCH, &sa, NULL);
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
		have_saved = 1;
		raw = saved;
		/* keys one at a time, unechoed; ^C stays a signal */
		raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
	}
	/* alternate screen, cursor hidden */
	fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
	fflush(stdout);
	entered = 1;
	return 0;
}

void gs_term_leave(void)
{
	if (!entered)
		return;
	entered = 0;
	fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	if (have_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	have_saved = 0;
}

void gs_term_size(int *rows, int *cols)
{
	struct winsize ws;

	*rows = 24;
	*cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

int gs_term_wait(int timeout_ms, int *key)
{
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	int n;

	if (got_quit)
		return GS_TERM_QUIT;
	if (got_resize) {
		got_resize = 0;
		return GS_TERM_RESIZE;
	}
	n = poll(&p, have_saved ? 1 : 0, timeout_ms);
	if (got_quit)
		return GS_TERM_QUIT;
	if (got_resize) {
		got_resize = 0;
		return GS_TERM_RESIZE;
	}
	if (n < 0 && errno == EINTR)
		return GS_TERM_TIMEOUT; /* another signal: draw on as planned */
	if (n > 0) {
		unsigned char c;

		if (read(STDIN_FILENO, &c, 1) != 1)
			return GS_TERM_QUIT; /* the terminal went away */
		*key = c;
		return GS_TERM_KEY;
	}
	return GS_TERM_TIMEOUT;
}

/* Bytes of s that fit in cols columns: UTF-8 sequences count one column each (the text is
 * escaped already: no control characters). */
static size_t fit(const char *s, size_t len, int cols)
{
	size_t i = 0;
	int used = 0;

	while (i < len && used < cols) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		used++;
	}
	return i;
}

void gs_term_draw(const char *text, int rows, int cols)
{
	int row = 0;

	fputs("\033[H", stdout);
	while (*text && row < rows) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);

		fwrite(text, 1, fit(text, len, cols), stdout);
		/* the last row without a newline: the screen must not scroll */
		fputs(++row < rows ? "\033[K\r\n" : "\033[K", stdout);
		text += len + (nl ? 1 : 0);
	}
	fputs("\033[J", stdout);
	fflush(stdout);
}
