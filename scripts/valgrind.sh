#!/usr/bin/env bash
# Runs part of the integration suite with every daemon it starts under
# valgrind's memcheck, and fails on any error valgrind reports: invalid
# reads and writes, uses of uninitialised values, bad frees, and definite
# leaks at exit.  The sanitizer build finds most of these too; valgrind
# checks the plain binary as it ships, with no rebuild.
#
#   scripts/valgrind.sh [BUILD_DIR] [THEME...]
#
# BUILD_DIR defaults to build (what ./dev.sh test has just built); the
# themes are files of tests/integration (default: all but readonly and
# concurrency, which memcheck adds little to: 180 tests and as many
# daemons, 2.5 to 3 minutes on 2 cores).  $NINEPD is pointed at a
# wrapper that execs valgrind on the real binary, so the tests run
# unchanged; each daemon writes its report to a log of its own, kept in the
# directory printed at the end when something failed.  The verdict also
# goes to BUILD_DIR/valgrind-results.json, one line in the format of
# meson's testlog.json, for scripts/test-summary.py.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
[ $# -gt 0 ] && shift
themes=${*:-session walk files dirs xattr-lock confinement robustness}
jobs=${VALGRIND_JOBS:-2}
per_theme=${VALGRIND_TIMEOUT:-300} # seconds one theme may take

command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 1; }
[ -f "$build/build.ninja" ] || { echo "valgrind.sh: $build is not a configured build directory" >&2; exit 1; }
# A failure until the end says otherwise (see the last lines).
printf '{"name": "valgrind", "result": "FAIL"}\n' >"$build/valgrind-results.json"
targets=(ninepd)
for t in $themes; do
	targets+=("tests/integration/test-integration-$t")
done
ninja -C "$build" -j2 "${targets[@]}" >/dev/null

out=$(mktemp -d /tmp/ninepd-valgrind-XXXXXX)
real=$(realpath "$build/ninepd")
# --seccomp none: valgrind's core makes system calls of its own on the
# daemon's behalf (its scheduler, its translations' memory), which the
# allow-list does not hold; a filter would kill it, not the daemon.  The
# sandbox stays on (the default as root): what valgrind needs from the file
# system it has opened by then; --vgdb=no, since its gdbserver FIFOs in /tmp
# could not be removed from inside.
echo "valgrind: the daemons run with --seccomp none (valgrind's own calls are not on the allow-list)"
cat >"$out/ninepd" <<EOF
#!/bin/sh
exec valgrind --tool=memcheck --vgdb=no --leak-check=full --errors-for-leak-kinds=definite \\
	--show-leak-kinds=definite --error-exitcode=99 --num-callers=30 \\
	--log-file="$out/vg.%p.log" "$real" --seccomp none "\$@"
EOF
chmod +x "$out/ninepd"

status=0
start=$SECONDS
for t in $themes; do
	exe="$build/tests/integration/test-integration-$t"
	t0=$SECONDS
	rc=0
	NINEPD="$out/ninepd" timeout "$per_theme" "$exe" --jobs "$jobs" >"$out/test-$t.log" 2>&1 || rc=$?
	summary=$(grep -a 'Synthesis' "$out/test-$t.log" | tail -n 1 | sed 's/.*Synthesis: //')
	echo "valgrind: integration-$t: ${summary:-no summary} ($((SECONDS - t0))s, exit $rc)"
	if [ "$rc" -ne 0 ]; then
		grep -a -B2 -A8 'FAIL\|Assertion' "$out/test-$t.log" | head -n 40 >&2 || true
		status=1
	fi
done

# Every daemon's report: a non-zero error count fails, and so does a
# report without a summary (the daemon was killed before valgrind's exit
# checks ran).
daemons=0 bad=0
for log in "$out"/vg.*.log; do
	[ -e "$log" ] || continue
	daemons=$((daemons + 1))
	if ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
		bad=$((bad + 1))
		echo "valgrind: $(grep -q 'ERROR SUMMARY' "$log" && echo errors ||
			echo 'no summary (killed?)') in $log:" >&2
		grep -v '^==[0-9]*== *$' "$log" | head -n 60 >&2
	fi
done
echo "valgrind: $daemons daemons checked, $bad with errors, $((SECONDS - start))s"
[ "$daemons" -gt 0 ] || { echo "valgrind: no daemon ran" >&2; status=1; }
[ "$bad" -eq 0 ] || status=1
if [ "$status" -eq 0 ]; then
	rm -rf "$out"
else
	echo "valgrind: logs kept in $out" >&2
fi
printf '{"name": "valgrind", "result": "%s", "daemons": %d}\n' \
	"$([ "$status" -eq 0 ] && echo OK || echo FAIL)" "$daemons" >"$build/valgrind-results.json"
exit $status
