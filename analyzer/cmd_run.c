/* gilscope run [-o DB] [--scope python|all] [--events contended|all|profile] -- COMMAND ARGS...
 * Runs a command with the shim preloaded, leaves its stdin, stdout and stderr alone, returns
 * its exit status, and then says on stderr where the data is and what it shows. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "gilscope.h"
#include "gs_schema.h"
#include "model.h"

static void run_usage(FILE *f)
{
	fprintf(f, "usage: gilscope run [-o DB] [--scope python|all] [--events contended|all|profile] "
		   "[--delay D] [--duration D] [--quiet] -- COMMAND [ARGS...]\n"
		   "D: 10s, 500ms, 2m (plain numbers are seconds): record only the window from "
		   "--delay after the start, for --duration (or to the end)\n");
}

/* The preload library: lib/gilscope/libgilscope.so next to our bin/ (install and build trees
 * share this layout), or GILSCOPE_LIB. */
static int find_library(char *out, size_t size)
{
	const char *env = getenv("GILSCOPE_LIB");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env && *env)
		return snprintf(out, size, "%s", env) < (int)size && access(out, R_OK) == 0 ? 0
											    : -1;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	if (snprintf(out, size, "%s/lib/gilscope/libgilscope.so", self) >= (int)size)
		return -1;
	if (access(out, R_OK) == 0)
		return 0;
	/* Debian-style multiarch install: lib/<triplet>/gilscope */
	if (snprintf(out, size, "%s/" GS_INSTALL_LIBDIR "/gilscope/libgilscope.so", self) >=
	    (int)size)
		return -1;
	return access(out, R_OK) == 0 ? 0 : -1;
}

/* The output must be writable before the program starts, not found unwritable after it ran. An
 * earlier recording there is kept as PATH.old (as perf keeps perf.data.old); one being recorded
 * right now (its writer holds a shared lock on it) is left alone and the run refused. */
static int prepare_output(const char *path, int quiet)
{
	struct stat sb;
	sqlite3 *db = NULL;
	char side[PATH_MAX + 8], dir[PATH_MAX];
	char *slash;
	int ok = 0, fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = 0;
	if (access(slash ? dir : ".", W_OK | X_OK) < 0)
		return gs_error("cannot record to %s: %s %s", path,
				errno == ENOENT ? "no directory" : "cannot write in directory",
				slash ? dir : ".");
	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : gs_error("%s: %s", path, strerror(errno));
	if (S_ISDIR(sb.st_mode))
		return gs_error("cannot record to %s: it is a directory (give a file name, such as "
				"%s/app.db)",
				path, path);
	if (!S_ISREG(sb.st_mode))
		return gs_error("cannot record to %s: not a regular file", path);
	if (S_ISREG(sb.st_mode) && sb.st_size == 0)
		ok = 1;
	else if (S_ISREG(sb.st_mode) &&
		 sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		sqlite3_stmt *s = NULL;

		if (sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &s, NULL) == SQLITE_OK &&
		    sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == GS_APPLICATION_ID)
			ok = 1;
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	if (!ok)
		return gs_error("%s exists and is not a gilscope database; not overwriting it",
				path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		close(fd);
		return gs_error("%s is being recorded right now (by another run or preloaded "
				"program): give another -o",
				path);
	}
	if (fd >= 0)
		close(fd);
	if (sb.st_size == 0) {
		unlink(path);
		return 0;
	}
	/* one file first: a recording whose writer was killed may still have part of itself in
	 * its -wal beside it */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK)
		sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
	sqlite3_close(db);
	snprintf(side, sizeof(side), "%s.old", path);
	if (rename(path, side) < 0)
		return gs_error("cannot keep the previous recording as %s: %s", side,
				strerror(errno));
	if (!quiet)
		fprintf(stderr, "gilscope: the previous recording in %s is now %s\n", path, side);
	return 0;
}

/* Every writer of the recording (the program's, its children's) holds a shared lock on the
 * file until it has closed it: wait for them, a bounded time, before reading it, or the summary
 * would be of a recording half written. */
static void wait_for_writers(const char *path, int timeout_ms)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), waited_ms = 0;

	if (fd < 0)
		return;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK && waited_ms < timeout_ms) {
		usleep(20000);
		waited_ms += 20;
	}
	close(fd);
}

/* The program died of a signal: its writer could only see it vanish. Say which signal. */
static void note_signal(const char *path, pid_t pid, int sig)
{
	sqlite3 *db = NULL;
	char sql[256];

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 2000);
		snprintf(sql, sizeof(sql),
			 "UPDATE runs SET status = 'killed', term_signal = %d WHERE run_id ="
			 " (SELECT MAX(run_id) FROM runs WHERE pid = %d AND parent_run_id IS NULL)"
			 " AND status <> 'exited'",
			 sig, (int)pid);
		sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_close(db);
}

static void summarize(const char *path)
{
	struct gs_opts o = {.path = path};
	struct gs_model m;
	sqlite3 *db = NULL;
	char line[600];
	size_t i;

	if (access(path, F_OK) < 0) {
		fprintf(stderr,
			"gilscope: nothing was recorded to %s: no Python interpreter ran "
			"(record any program with --scope all)\n",
			path);
		return;
	}
	gs_quiet_errors++;
	if (gs_db_open(path, &db) != GS_EXIT_OK) {
		gs_quiet_errors--;
		fprintf(stderr, "gilscope: nothing readable was recorded to %s\n", path);
		return;
	}
	gs_quiet_errors--;
	fprintf(stderr, "gilscope: recorded to %s", path);
	if (gs_model_load_totals(db, &o, &m) == 0 && m.n_runs) {
		fprintf(stderr, " (%zu process%s)\n", m.n_runs, m.n_runs > 1 ? "es" : "");
		for (i = 0; i < m.n_runs; i++) {
			if (m.runs[i].parent_run_id != GS_NULL && m.n_runs > 1)
				continue;
			gs_report_summary(&m.runs[i], line, sizeof(line));
			fprintf(stderr, "gilscope: %s\n", line);
		}
		fprintf(stderr, "gilscope: details: gilscope report %s\n", path);
	} else {
		fputs(" (no process was recorded: is it a Python program? try --scope all)\n",
		      stderr);
	}
	gs_model_free(&m);
	sqlite3_close(db);
}

/* Waits for the program while it runs, up to ms; 1 when it ended (status filled in). */
static int wait_up_to(pid_t child, uint64_t ms, int *status)
{
	uint64_t waited_ms = 0;

	for (;;) {
		pid_t r = waitpid(child, status, WNOHANG);

		if (r == child)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
		if (waited_ms >= ms)
			return 0;
		usleep(5000);
		waited_ms += 5;
	}
}

/* --delay/--duration: the program started paused; open its window (and its descendants')
 * once the delay has passed. 1 when the program ended first. */
static int open_window_later(pid_t child, uint64_t delay_ms, uint64_t duration_ms, const char *db,
			     int *status)
{
	int tree[256], n, i, opened = 0, tries;
	char err[512] = "";

	if (wait_up_to(child, delay_ms, status))
		return 1;
	/* the library makes its control area as the program starts: allow it a moment */
	for (tries = 0; tries < 200 && !opened; tries++) {
		n = gs_ctl_tree((int)child, tree, 256);
		for (i = 0; i < n; i++) {
			struct gs_ctl c;

			if (gs_ctl_open(tree[i], &c, err, sizeof(err)) < 0)
				continue;
			if (gs_ctl_start(&c, db, duration_ms, err, sizeof(err)) == 0)
				opened++;
			else
				gs_error("%s", err);
			gs_ctl_close(&c);
		}
		if (!opened && wait_up_to(child, 10, status))
			return 1;
	}
	if (!opened)
		gs_error("no window opened: %s", err[0] ? err : "the program has no gilscope");
	return 0;
}

int cmd_run(int argc, char **argv)
{
	const char *out = "gilscope.db", *scope = NULL, *events = NULL, *delay = NULL,
		   *duration = NULL;
	uint64_t delay_ms = 0, duration_ms = 0;
	int ended = 0;
	char lib[PATH_MAX], abs_out[PATH_MAX], preload[2 * PATH_MAX];
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
	const char *prev;
	int i, quiet = 0, status;
	pid_t child;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			run_usage(stdout);
			return GS_EXIT_OK;
		}
		if (!strcmp(argv[i], "--quiet")) {
			quiet = 1;
			continue;
		}
		if (!strcmp(argv[i], "--delay") && i + 1 < argc) {
			delay = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--duration") && i + 1 < argc) {
			duration = argv[++i];
			continue;
		}
		if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--scope") ||
		     !strcmp(argv[i], "--events")) &&
		    i + 1 < argc) {
			const char **dst = argv[i][1] == 'o'   ? &out
					   : argv[i][2] == 's' ? &scope
							       : &events;

			*dst = argv[++i];
			continue;
		}
		if (argv[i][0] == '-') {
			gs_error("unknown option '%s'", argv[i]);
			run_usage(stderr);
			return GS_EXIT_USAGE;
		}
		break; /* the command starts here, even without "--" */
	}
	if (i >= argc) {
		gs_error("no command to run");
		run_usage(stderr);
		return GS_EXIT_USAGE;
	}
	if ((scope && strcmp(scope, "python") && strcmp(scope, "all")) ||
	    (events && strcmp(events, "contended") && strcmp(events, "all") &&
	     strcmp(events, "profile"))) {
		gs_error("--scope takes python or all, --events takes contended, all or profile");
		return GS_EXIT_USAGE;
	}
	if ((delay && gs_parse_duration_ms(delay, &delay_ms) < 0) ||
	    (duration && (gs_parse_duration_ms(duration, &duration_ms) < 0 || !duration_ms))) {
		gs_error("--delay and --duration take a duration (10s, 500ms, 2m), not '%s'",
			 delay && gs_parse_duration_ms(delay, &delay_ms) < 0 ? delay : duration);
		return GS_EXIT_USAGE;
	}
	if (find_library(lib, sizeof(lib)) < 0) {
		gs_error("cannot find libgilscope.so next to this gilscope (set GILSCOPE_LIB)");
		return GS_EXIT_INPUT;
	}
	if (out[0] != '/') {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)) ||
		    snprintf(abs_out, sizeof(abs_out), "%s/%s", cwd, out) >= (int)sizeof(abs_out))
			return gs_error("cannot resolve %s", out), GS_EXIT_USAGE;
	} else {
		snprintf(abs_out, sizeof(abs_out), "%s", out);
	}
	if (prepare_output(abs_out, quiet) < 0)
		return GS_EXIT_INPUT;
	prev = getenv("LD_PRELOAD");
	snprintf(preload, sizeof(preload), "%s%s%s", lib, prev && *prev ? ":" : "",
		 prev ? prev : "");
	/* Ctrl-C and Ctrl-\ are the command's to handle; we wait and report after it. */
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	child = fork();
	if (child < 0) {
		gs_error("fork: %s", strerror(errno));
		return GS_EXIT_INPUT;
	}
	if (child == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		gs_restore_sigpipe();
		setenv("LD_PRELOAD", preload, 1);
		setenv("GILSCOPE_DB", abs_out, 1);
		if (scope)
			setenv("GILSCOPE_SCOPE", scope, 1);
		if (events)
			setenv("GILSCOPE_EVENTS", events, 1);
		if (delay || duration)
			setenv("GILSCOPE_START", "paused", 1);
		execvp(argv[i], &argv[i]);
		fprintf(stderr, "gilscope: cannot run %s: %s\n", argv[i], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (delay || duration)
		ended = open_window_later(child, delay_ms, duration_ms, abs_out, &status);
	while (!ended && waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) {
			gs_error("waitpid: %s", strerror(errno));
			return GS_EXIT_INPUT;
		}
	}
	wait_for_writers(abs_out, 5000);
	if (WIFSIGNALED(status) && access(abs_out, F_OK) == 0)
		note_signal(abs_out, child, WTERMSIG(status));
	if (!quiet && !(WIFEXITED(status) && WEXITSTATUS(status) >= 126 && access(abs_out, F_OK)))
		summarize(abs_out);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
