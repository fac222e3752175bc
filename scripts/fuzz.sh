#!/bin/sh
# Build the libFuzzer targets and run each for SECONDS.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default 60, every target)
#        scripts/fuzz.sh --build-only [TARGET...]
#
# Targets: decode (the codec, tests/fuzz/fuzz-decode.c) and server (the
# whole request path, tests/fuzz/fuzz-server.c).  Each starts from a seed
# corpus its generator writes afresh, from the committed corpus recorded
# from real guest traffic (tests/fuzz/corpus/TARGET, only read) and from
# what earlier runs learned (kept in $FUZZ_BUILD/corpus/TARGET, where new
# inputs go).  Prints the executions per target
# and writes $FUZZ_BUILD/fuzz-results.json (one line per target, the format
# of meson's testlog.json that scripts/test-summary.py reads).  Exits
# non-zero if a target crashes, leaks or hangs; the input that did it is
# left in $FUZZ_BUILD/fuzz-artifacts/TARGET/.
#
# Environment: FUZZ_BUILD (build directory, default build-fuzz),
# FUZZ_TIMEOUT (seconds one input may take before it counts as a hang, 30).
set -eu

secs=${1:-60}
case $secs in
--build-only) ;;
'' | *[!0-9]*) echo "usage: $0 [SECONDS | --build-only] [TARGET...]" >&2; exit 2 ;;
esac
[ $# -gt 0 ] && shift
targets=${*:-decode server}

cd "$(dirname "$0")/.."
build=${FUZZ_BUILD:-build-fuzz}
timeout=${FUZZ_TIMEOUT:-30}

# Until the targets have run, the verdict is a failure (a build that
# breaks must not leave an older run's results behind).
results="$build/fuzz-results.json"
mkdir -p "$build"
[ "$secs" = --build-only ] || echo '{"name": "fuzz", "result": "FAIL"}' >"$results"

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Dfuzz=true -Db_lundef=false \
		-Db_sanitize=address,undefined \
		-Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all'
fi

# The seed generator of each target.
corpus_tool() {
	case $1 in
	decode) echo make-corpus ;;
	server) echo make-server-corpus ;;
	*) echo "fuzz: unknown target $1 (known: decode server)" >&2; exit 2 ;;
	esac
}

# Only the fuzz targets: the rest of the tree need not build for this.
for t in $targets; do
	ninja -C "$build" -j2 "tests/fuzz/fuzz-$t" "tests/fuzz/$(corpus_tool "$t")"
done
[ "$secs" = --build-only ] && exit 0

status=0
: >"$results"
for t in $targets; do
	seeds="$build/corpus-seed/$t"     # regenerated each run by the generator
	work="$build/corpus/$t"           # what libFuzzer learns; kept across runs
	recorded="tests/fuzz/corpus/$t"   # committed, only read: new inputs go to the first
	artifacts="$build/fuzz-artifacts/$t/"
	rm -rf "$seeds"
	mkdir -p "$seeds" "$work" "$artifacts"
	"$build/tests/fuzz/$(corpus_tool "$t")" "$seeds" >/dev/null
	log="$build/fuzz-$t.log"
	echo "fuzz-$t: running for ${secs}s (log: $log)"
	rc=0
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$build/tests/fuzz/fuzz-$t" -max_total_time="$secs" -timeout="$timeout" \
		-print_final_stats=1 -artifact_prefix="$artifacts" "$work" "$seeds" "$recorded" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	per_sec=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	echo "fuzz-$t: ${execs:-?} executions (${per_sec:-?}/s), corpus $(ls "$work" | wc -l) files, exit $rc"
	result=OK
	if [ "$rc" -ne 0 ]; then
		echo "fuzz-$t: FAILED; tail of $log:" >&2
		tail -n 40 "$log" >&2
		result=FAIL
		status=1
	fi
	printf '{"name": "fuzz-%s", "result": "%s", "executions": %s}\n' \
		"$t" "$result" "${execs:-0}" >>"$results"
done
exit $status
