#!/bin/sh
# Build the libFuzzer targets in build-fuzz and run each for SECONDS.
# Usage: scripts/fuzz.sh [SECONDS]   (default 60)
# Exits non-zero if a target crashes; the crashing input is left in
# build-fuzz/fuzz-artifacts/.
set -eu

secs=${1:-60}
case $secs in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
build=build-fuzz

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Dfuzz=true -Db_lundef=false \
		-Db_sanitize=address,undefined \
		-Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all'
fi

# Only the fuzz targets: the rest of the tree need not build for this.
targets="decode"
for t in $targets; do
	ninja -C "$build" -j2 "tests/fuzz/fuzz-$t"
done
ninja -C "$build" -j2 tests/fuzz/make-corpus

status=0
for t in $targets; do
	seeds="$build/corpus-seed/$t"     # regenerated each run from make-corpus
	work="$build/corpus/$t"           # what libFuzzer learns; kept across runs
	artifacts="$build/fuzz-artifacts/$t/"
	rm -rf "$seeds"
	mkdir -p "$seeds" "$work" "$artifacts"
	"$build/tests/fuzz/make-corpus" "$seeds"
	log="$build/fuzz-$t.log"
	echo "fuzz-$t: running for ${secs}s (log: $log)"
	rc=0
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$build/tests/fuzz/fuzz-$t" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$artifacts" "$work" "$seeds" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	echo "fuzz-$t: ${execs:-?} executions, corpus $(ls "$work" | wc -l) files, exit $rc"
	if [ "$rc" -ne 0 ]; then
		echo "fuzz-$t: CRASH; tail of $log:" >&2
		tail -n 40 "$log" >&2
		status=1
	fi
done
exit $status
