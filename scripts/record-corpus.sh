#!/bin/sh
# Remakes the committed fuzz corpus (tests/fuzz/corpus/) from real guest
# traffic: boots the end-to-end guest under QEMU for each SCENARIO with
# tests/e2e/run-guest.py --record, turns what the guest sent into seeds
# (tests/fuzz/seeds-from-recording.py) and keeps, with libFuzzer's
# -merge=1, the fewest that reach all the coverage the seeds reach.
# Inputs named regression-* (each once a crash) are kept as they are.
#
# Usage: scripts/record-corpus.sh [SCENARIO...]
#   (default: every scenario that mounts ninepd, about 3 minutes)
# Environment: REC_BUILD (a plain build for the guest to mount, default
# build-rec), FUZZ_BUILD (the fuzz targets, default build-fuzz), RECORDINGS
# (a directory of earlier recordings, *.9p, to use instead of booting the
# guest: to remake the corpus after a change to the converter).
set -eu

cd "$(dirname "$0")/.."
scenarios=${*:-posix cache mount-helper disconnect fio multidevs-remap multidevs-forbid multidevs-warn}
rec_build=${REC_BUILD:-build-rec}
fuzz_build=${FUZZ_BUILD:-build-fuzz}
tmp=$(mktemp -d /tmp/ninepd-corpus-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

scripts/fuzz.sh --build-only decode server
rec=${RECORDINGS:-}
if [ -z "$rec" ]; then
	rec="$tmp/rec"
	[ -f "$rec_build/build.ninja" ] || meson setup "$rec_build"
	ninja -C "$rec_build" -j2 ninepd
	# shellcheck disable=SC2086 # one word per scenario
	python3 tests/e2e/run-guest.py --ninepd "$rec_build/ninepd" --record "$rec" $scenarios
fi
python3 tests/fuzz/seeds-from-recording.py --decode "$tmp/seeds/decode" \
	--server "$tmp/seeds/server" "$rec"/*.9p

for t in decode server; do
	corpus="tests/fuzz/corpus/$t"
	merged="$tmp/merged/$t"
	mkdir -p "$corpus" "$merged"
	find "$corpus" -name 'regression-*' -exec cp {} "$merged/" \;
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
		"$fuzz_build/tests/fuzz/fuzz-$t" -merge=1 "$merged" "$tmp/seeds/$t" \
		>"$tmp/merge-$t.log" 2>&1 || { tail -n 20 "$tmp/merge-$t.log" >&2; exit 1; }
	find "$corpus" -type f ! -name 'regression-*' -delete
	find "$merged" -type f ! -name 'regression-*' -exec cp {} "$corpus/" \;
	echo "record-corpus: $corpus: $(ls "$corpus" | wc -l) files, $(du -sh "$corpus" | cut -f1)"
done
