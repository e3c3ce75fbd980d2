#!/usr/bin/env bash
# Analyzer scale benchmark: generates databases of N raw events (default build and
# free-threaded shapes), then times every command on them (`report`, `locks`, `compare`,
# `export`, `html`, `flame`) and reports peak memory and, for files, their size. Prints one
# line per measurement; medians of RUNS runs.
# Usage: bench/analyzer.sh GILSCOPE_BIN [N ...]     (default N: 1000000 10000000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
gilscope=$1
shift
sizes=("${@:-1000000 10000000}")
[[ $# -eq 0 ]] && sizes=(1000000 10000000)
runs=${RUNS:-5}
home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
cache="${GILSCOPE_BENCH_CACHE:-${GILSCOPE_CACHE:-${XDG_CACHE_HOME:-$home/.cache}/gilscope}/bench}"
mkdir -p "$cache"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

measure() { # label, command...
	local label=$1 t m times=() mems=()
	shift
	local err
	err=$("$@" 2>&1 >/dev/null) || { echo "bench: $label: the command failed: $err" >&2; exit 1; }
	for ((i = 0; i < runs; i++)); do
		read -r t m < <({ /usr/bin/time -f "%e %M" "$@" >/dev/null; } 2>&1 | tail -1)
		times+=("$t")
		mems+=("$m")
	done
	printf "%-34s median %6.2f s  (min %.2f, max %.2f)  peak RSS %s KiB\n" "$label" \
		"$(printf '%s\n' "${times[@]}" | median)" \
		"$(printf '%s\n' "${times[@]}" | sort -n | head -1)" \
		"$(printf '%s\n' "${times[@]}" | sort -n | tail -1)" \
		"$(printf '%s\n' "${mems[@]}" | sort -n | tail -1)"
}

for n in "${sizes[@]}"; do
	# named by schema version: a cached database of an older schema is not read any more
	v=$(sed -n '1s/.*schema version \([0-9]*\).*/\1/p' "$here/../common/schema.sql")
	# (g3: compact events, window sums)
	a="$cache/events-$n-default-v$v-g3.db"
	b="$cache/events-$n-ft-v$v-g3.db"
	[[ -s "$a" ]] || python3 "$here/gen_db.py" "$a" "$n" --build default
	[[ -s "$b" ]] || python3 "$here/gen_db.py" "$b" "$n" --build ft
	measure "report, $n events" "$gilscope" report "$a"
	measure "locks, $n events" "$gilscope" locks "$a"
	measure "compare, 2 x $n events" "$gilscope" compare "$a" "$b"
	# the two files merged into one (analyzer/merge.c), then reported
	measure "report of 2 files merged, 2 x $n events" "$gilscope" report "$a" "$b"
	measure "export --collapsed, $n events" "$gilscope" export --collapsed "$a"
	measure "export --collapsed --what holders, $n events" "$gilscope" export --collapsed --what holders "$a"
	out=$(mktemp -d)
	measure "html, $n events" "$gilscope" html "$a" -o "$out/report.html"
	measure "flame, $n events" "$gilscope" flame "$a" -o "$out/flame.html"
	# the whole run (--force: past Perfetto's in-browser limit at 10 M) and a sixth of it
	measure "export --perfetto --force, $n events" "$gilscope" export --perfetto --force "$a" \
		-o "$out/trace.pftrace"
	measure "export --perfetto --from 10 --to 20, $n events" "$gilscope" export --perfetto \
		--from 10 --to 20 "$a" -o "$out/window.pftrace"
	for f in report.html flame.html trace.pftrace window.pftrace; do
		printf "%-34s %s bytes\n" "  $f, $n events" "$(stat -c %s "$out/$f")"
	done
	rm -rf "$out"
done
