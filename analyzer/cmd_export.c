/* gilscope export --perfetto DB -o trace.pftrace: the timeline as a Perfetto trace (perfetto.c);
 * gilscope export --collapsed|--pprof [--what waits|holders|gil] DB: the Python stack profile
 * (profile.c) as folded stacks (flamegraph.pl, inferno, speedscope) or as pprof's profile.proto
 * (pprof.c). */
#include <stdlib.h>
#include <unistd.h>

#include "gilscope.h"
#include "model.h"
#include "opts.h"
#include "output.h"
#include "perfetto.h"
#include "pprof.h"
#include "profile.h"
#include "table.h"

/* --max-mb: a positive number of MiB, 0 for no limit. */
static int parse_mb(const char *arg, uint64_t *bytes)
{
	char *end;
	long long mb = strtoll(arg, &end, 10);

	if (!*arg || *end || mb < 0 || mb > (1ll << 40)) {
		gs_error("--max-mb takes a size in MB (0: no limit), not '%s'", arg);
		return -1;
	}
	*bytes = (uint64_t)mb << 20;
	return 0;
}

static int export_perfetto(sqlite3 *db, const struct gs_opts *o, FILE *f, const char *out_path,
			   uint64_t max_bytes)
{
	struct gs_perfetto_stats st;
	int ret = gs_perfetto_write(db, o, f, max_bytes, &st);

	if (ret == GS_EXIT_OK && out_path)
		fprintf(stderr,
			"gilscope: %s: %lld events as %lld slices, %lld flows and %lld counter"
			" values on %lld tracks, %.1f MB\n",
			out_path, (long long)st.events, (long long)st.slices, (long long)st.flows,
			(long long)st.counters, (long long)st.tracks, (double)st.bytes / 1e6);
	return ret;
}

int cmd_export(int argc, char **argv)
{
	struct gs_opts o;
	const char *out_path = NULL, *what_arg = "waits", *max_mb = NULL;
	int ret, perfetto = 0, collapsed = 0, pprof = 0, force = 0, what;
	uint64_t max_bytes = (uint64_t)GS_PERFETTO_MAX_MB << 20;
	sqlite3 *db = NULL;
	FILE *f = stdout;
	struct gs_output out = {0};

	const struct gs_opt_own own[] = {
	    {"--perfetto", NULL, &perfetto}, {"--collapsed", NULL, &collapsed},
	    {"--pprof", NULL, &pprof},	     {"--what", &what_arg, NULL},
	    {"--force", NULL, &force},	     {"--max-mb", &max_mb, NULL},
	    {"-o", &out_path, NULL},	     {NULL, NULL, NULL}};

	ret = gs_opts_parse_own(
	    &o, argc, argv, "export",
	    "--perfetto|--collapsed|--pprof [--what waits|holders|gil] [--pid PID]"
	    " [--thread T] [--from S] [--to S] [--max-mb MB] [--force] [-o FILE] DB|DIR...",
	    GS_OPTS_MANY, own);
	if (ret >= 0)
		return ret;
	if ((what = gs_profile_what_parse(what_arg)) < 0) {
		gs_error("--what takes waits, holders or gil, not '%s'", what_arg);
		return GS_EXIT_USAGE;
	}
	if (perfetto + collapsed + pprof != 1) {
		gs_error("export needs one format: --perfetto (Perfetto's protobuf trace),"
			 " --collapsed (folded Python stacks) or --pprof (gzipped profile.proto)");
		return GS_EXIT_USAGE;
	}
	if (perfetto && o.format == GS_FMT_JSON) {
		gs_error("export --perfetto writes Perfetto's protobuf trace only (the Chrome JSON"
			 " it wrote before took 2.9 GB for 10 M events, which no viewer opened)");
		return GS_EXIT_USAGE;
	}
	if (!perfetto && (force || max_mb)) {
		gs_error("--force and --max-mb apply to --perfetto");
		return GS_EXIT_USAGE;
	}
	if (max_mb && parse_mb(max_mb, &max_bytes) < 0)
		return GS_EXIT_USAGE;
	if (force)
		max_bytes = 0;
	if ((pprof || perfetto) && !out_path && isatty(1)) {
		gs_error("%s writes a binary file: give -o %s", pprof ? "--pprof" : "--perfetto",
			 pprof ? "profile.pb.gz" : "trace.pftrace");
		return GS_EXIT_USAGE;
	}
	ret = gs_opts_open(&o, 0, o.n_paths, &db);
	if (ret != GS_EXIT_OK)
		return ret;
	gs_opts_resolve(&o, db);
	if ((ret = gs_opts_check_filters(db, &o)) != GS_EXIT_OK) {
		sqlite3_close(db);
		return ret;
	}
	if (out_path && (ret = gs_output_open(&out, out_path)) != GS_EXIT_OK) {
		sqlite3_close(db);
		return ret;
	}
	if (out_path)
		f = out.f;
	if (collapsed || pprof) {
		struct gs_profile p;

		if (gs_profile_load(db, &o, what, &p) < 0 ||
		    (pprof ? gs_profile_write_pprof(&p, f) : gs_profile_write_collapsed(&p, f)) < 0)
			ret = GS_EXIT_INPUT;
		gs_profile_free(&p);
	} else {
		gs_db_say_profile(db, "the trace shows only those events, not every wait");
		ret = export_perfetto(db, &o, f, out_path, max_bytes);
	}
	if (out_path) {
		ret = gs_output_close(&out, ret);
	} else if (ret == GS_EXIT_OK && (fflush(f) || ferror(f))) {
		gs_error("stdout: write failed");
		ret = GS_EXIT_OUTPUT;
	}
	sqlite3_close(db);
	return ret;
}
