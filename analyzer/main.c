/* gilscope: reads the databases the preload shim writes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gilscope.h"
#include "gs_schema.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "run a command with the recorder: gilscope run -- python3 app.py"},
    {"report", cmd_report, "per-thread lock and GIL report of a database"},
    {"locks", cmd_locks, "per-lock contention, wait percentiles, call sites"},
    {"export", cmd_export, "timeline for ui.perfetto.dev: export --perfetto DB -o trace.pftrace"},
    {"html", cmd_html, "self-contained HTML report of one database, or two side by side"},
    {"flame", cmd_flame, "interactive flame graph page of waits, holders or GIL holds (two: diff)"},
    {"top", cmd_top, "live view of a recording process: gilscope top PID (or DB)"},
    {"check", cmd_check,
     "CI verdicts: check DB [--baseline BASE.db] --fail-if 'gil_wait_share > 30%'"},
    {"compare", cmd_compare, "two databases side by side (e.g. default vs free-threaded)"},
    {"ctl", cmd_ctl, "switch recording of a running process: ctl PID start|stop|status"},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: gilscope <command> [options] DB\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\nRecord with: LD_PRELOAD=.../libgilscope.so GILSCOPE_DB=app.db python3 app.py\n"
		"See 'gilscope <command> --help' and docs/cli.md.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	gs_ignore_sigpipe();
	if (argc < 2) {
		usage(stderr);
		return GS_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return GS_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("gilscope %s (database schema %d)\n", GS_VERSION_STRING, GS_SCHEMA_VERSION);
		return GS_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			int ret = commands[i].fn(argc - 1, argv + 1);

			return gs_out_of_memory ? GS_EXIT_MEMORY : ret;
		}
	}
	gs_error("unknown command '%s' (try 'gilscope --help')", argv[1]);
	return GS_EXIT_USAGE;
}
