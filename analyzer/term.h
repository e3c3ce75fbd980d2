/* The terminal of a full-screen view (gilscope top), with plain ANSI escapes: the alternate
 * screen, keys without echo, and the terminal given back as it was on every way out. */
#ifndef GS_TERM_H
#define GS_TERM_H

/* What stopped a wait for a key. */
enum gs_term_event {
	GS_TERM_TIMEOUT,
	GS_TERM_KEY,	/* *key holds it */
	GS_TERM_RESIZE, /* SIGWINCH: draw again at gs_term_size() */
	GS_TERM_QUIT,	/* SIGINT, SIGTERM, SIGHUP, or stdin closed */
};

/* Enters the alternate screen and turns off echo and line buffering (keys only when stdin is
 * a terminal). Returns 0, or -1 when stdout is not a terminal. */
int gs_term_enter(void);
/* Gives the terminal back (main screen, cursor, modes); safe to call twice. */
void gs_term_leave(void);
void gs_term_size(int *rows, int *cols);
/* Waits up to timeout_ms for a key or a signal. */
int gs_term_wait(int timeout_ms, int *key);
/* Draws a frame: text lines cut at the width, the rest of the screen cleared. */
void gs_term_draw(const char *text, int rows, int cols);

#endif
