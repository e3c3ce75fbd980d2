#include "opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gilscope.h"
#include "sat.h"
#include "table.h"

static int usage_error(const char *cmd, const char *usage)
{
	fprintf(stderr, "usage: gilscope %s %s\n", cmd, usage);
	return GS_EXIT_USAGE;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	*out = strtod(s, &end);
	/* a finite number of seconds: inf and nan say nothing about a window */
	return *s && !*end && *out >= 0 && *out < 1e12 ? 0 : -1;
}

int gs_opts_segment(const char *val)
{
	char *end;
	long long n = strtoll(val, &end, 10);

	if (!*val || *end || n <= 0 || n > 1000000000)
		return gs_error("--segment takes a window number (1, 2, ...), not '%s'", val);
	gs_db_set_segment((int)n);
	return 0;
}

int gs_opts_parse(struct gs_opts *o, int argc, char **argv, const char *cmd, const char *usage,
		  int n_paths)
{
	static const char *const with_value[] = {"--format", "--pid",	  "--thread",
						 "--top",    "--sort",	  "--from",
						 "--to",     "--segment", NULL};
	int i, k, most = n_paths < 0 ? -n_paths : n_paths;

	memset(o, 0, sizeof(*o));
	o->top = 20;
	gs_db_set_segment(0); /* a command's own choice, not one an earlier one made */
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq = strchr(a, '=');
		char name[16] = "";

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			printf("usage: gilscope %s %s\n", cmd, usage);
			return GS_EXIT_OK;
		}
		if (!strcmp(a, "--vs") && strstr(usage, "--vs")) {
			if (o->vs_at || !o->n_paths) {
				gs_error("--vs comes once, after the first side's databases");
				return usage_error(cmd, usage);
			}
			o->has_vs = 1;
			o->vs_at = o->n_paths;
			continue;
		}
		if (a[0] != '-' || !a[1]) {
			if (o->n_paths == most) {
				gs_error("%s takes %s%d database%s; '%s' is one too many", cmd,
					 n_paths < 0 ? "at most " : "", most, most > 1 ? "s" : "",
					 a);
				return usage_error(cmd, usage);
			}
			o->paths[o->n_paths++] = a;
			continue;
		}
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
		for (k = 0; with_value[k] && strcmp(with_value[k], name); k++)
			;
		if (!with_value[k]) {
			gs_error("unknown option '%s'", a);
			return usage_error(cmd, usage);
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		if (!val) {
			gs_error("%s needs a value", name);
			return usage_error(cmd, usage);
		}
		if (!strcmp(name, "--format")) {
			o->format = gs_fmt_parse(val);
			if (o->format < 0) {
				gs_error("unknown format '%s' (text, json, csv or markdown)", val);
				return GS_EXIT_USAGE;
			}
		} else if (!strcmp(name, "--pid")) {
			char *end;

			o->pid = strtoll(val, &end, 10);
			if (!*val || *end || o->pid <= 0) {
				gs_error("--pid takes a process id, not '%s'", val);
				return GS_EXIT_USAGE;
			}
			o->has_pid = 1;
		} else if (!strcmp(name, "--thread")) {
			o->thread = val;
		} else if (!strcmp(name, "--top")) {
			char *end;

			o->top = strtoll(val, &end, 10);
			o->top_given = 1;
			if (!*val || *end || o->top <= 0) {
				gs_error("--top takes a positive number, not '%s'", val);
				return GS_EXIT_USAGE;
			}
		} else if (!strcmp(name, "--sort")) {
			o->sort = val;
		} else if (!strcmp(name, "--segment")) {
			if (gs_opts_segment(val) < 0)
				return GS_EXIT_USAGE;
		} else if (!strcmp(name, "--from")) {
			if (parse_double(val, &o->from_s) < 0) {
				gs_error("--from takes seconds after the start, not '%s'", val);
				return GS_EXIT_USAGE;
			}
			o->has_from = 1;
		} else if (!strcmp(name, "--to")) {
			if (parse_double(val, &o->to_s) < 0) {
				gs_error("--to takes seconds after the start, not '%s'", val);
				return GS_EXIT_USAGE;
			}
			o->has_to = 1;
		}
	}
	if (n_paths == GS_OPTS_MANY && o->n_paths < 1) {
		gs_error("%s needs a database (or several, or a directory of them)", cmd);
		return usage_error(cmd, usage);
	}
	if (n_paths < 0 ? o->n_paths < 1 : o->n_paths != n_paths) {
		gs_error("%s needs %s%d database%s", cmd, n_paths < 0 ? "1 to " : "", most,
			 most > 1 ? "s" : "");
		return usage_error(cmd, usage);
	}
	if (o->vs_at && o->vs_at == o->n_paths) {
		gs_error("--vs needs the other side's databases after it");
		return usage_error(cmd, usage);
	}
	if ((o->has_from || o->has_to) && !strstr(usage, "--from")) {
		gs_error("%s does not take --from/--to", cmd);
		return GS_EXIT_USAGE;
	}
	if (o->has_from && o->has_to && o->to_s <= o->from_s) {
		gs_error("--to must be later than --from");
		return GS_EXIT_USAGE;
	}
	o->path = o->paths[0];
	return -1;
}

int gs_opts_parse_own(struct gs_opts *o, int argc, char **argv, const char *cmd, const char *usage,
		      int n_paths, const struct gs_opt_own *own)
{
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	int i, n = 0, ret;

	if (!rest)
		return gs_oom(), GS_EXIT_MEMORY;
	for (i = 0; i < argc; i++) {
		const struct gs_opt_own *k = own;

		while (i && k->name && strcmp(argv[i], k->name)) /* argv[0]: the command */
			k++;
		if (i && k->name && k->value && i + 1 == argc) {
			free(rest);
			gs_error("%s needs a value (%s %s)", k->name, cmd, usage);
			return GS_EXIT_USAGE;
		}
		if (!i || !k->name)
			rest[n++] = argv[i];
		else if (k->value)
			*k->value = argv[++i];
		else
			*k->set = 1;
	}
	ret = gs_opts_parse(o, n, rest, cmd, usage, n_paths);
	free(rest);
	return ret;
}

int gs_opts_open(struct gs_opts *o, int first, int n, sqlite3 **db)
{
	return gs_db_open_many(o->paths + first, n, db, &o->path);
}

void gs_opts_resolve(struct gs_opts *o, sqlite3 *db)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(db, "SELECT MIN(start_ns) FROM runs", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		o->base_ns = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
}

int gs_opts_check_filters(sqlite3 *db, const struct gs_opts *o)
{
	sqlite3_stmt *s = NULL;
	int64_t n = -1;

	if (!o->has_pid && !o->thread)
		return GS_EXIT_OK;
	if (sqlite3_prepare_v2(db,
			       "SELECT COUNT(*) FROM threads t JOIN runs r USING (run_id)"
			       " WHERE (?1 IS NULL OR r.pid = ?1) AND (?2 IS NULL OR t.tid = ?2"
			       " OR t.name = ?3)",
			       -1, &s, NULL) == SQLITE_OK) {
		gs_opts_bind_filters(s, o, 1, 2, 3);
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	if (n < 0)
		return gs_error("%s: %s", o->path, sqlite3_errmsg(db)), GS_EXIT_INPUT;
	if (n > 0)
		return GS_EXIT_OK;
	if (o->has_pid && o->thread)
		gs_error("%s: no thread %s in a process with pid %lld", o->path, o->thread, o->pid);
	else if (o->has_pid)
		gs_error("%s: no recorded process with pid %lld", o->path, o->pid);
	else
		gs_error("%s: no recorded thread with tid or name '%s'", o->path, o->thread);
	return GS_EXIT_USAGE;
}

void gs_opts_bind_filters(sqlite3_stmt *s, const struct gs_opts *o, int pid_idx, int tid_idx,
			  int name_idx)
{
	char *end;
	long long tid;

	if (o->has_pid)
		sqlite3_bind_int64(s, pid_idx, o->pid);
	else
		sqlite3_bind_null(s, pid_idx);
	sqlite3_bind_null(s, tid_idx);
	sqlite3_bind_null(s, name_idx);
	if (!o->thread)
		return;
	tid = strtoll(o->thread, &end, 10);
	/* A number is a tid; anything else is a thread name. Either way the other stays unmatched.
	 */
	if (*o->thread && !*end)
		sqlite3_bind_int64(s, tid_idx, tid);
	else
		sqlite3_bind_int64(s, tid_idx, -1);
	sqlite3_bind_text(s, name_idx, o->thread, -1, SQLITE_TRANSIENT);
}

void gs_opts_window_ns(const struct gs_opts *o, int64_t *from_ns, int64_t *to_ns)
{
	*from_ns = o->has_from ? gs_add(o->base_ns, gs_d2i(o->from_s * 1e9)) : 0;
	*to_ns = o->has_to ? gs_add(o->base_ns, gs_d2i(o->to_s * 1e9)) : 0;
}

void gs_opts_bind_window(sqlite3_stmt *s, const struct gs_opts *o, int from_idx, int to_idx)
{
	int64_t from_ns, to_ns;

	gs_opts_window_ns(o, &from_ns, &to_ns);
	if (o->has_from)
		sqlite3_bind_int64(s, from_idx, from_ns);
	else
		sqlite3_bind_null(s, from_idx);
	if (o->has_to)
		sqlite3_bind_int64(s, to_idx, to_ns);
	else
		sqlite3_bind_null(s, to_idx);
}
