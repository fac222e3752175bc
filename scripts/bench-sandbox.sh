#!/usr/bin/env bash
# What the daemon's confinement costs (issue 18): startup time (fork to the
# first Rversion) and per-request cost (Tgetattr at depth 1 and 16) with
# and without --sandbox namespace and --seccomp kill.  The configurations
# run in alternating turns on the same machine at the same time, so that
# noise hits them alike; read the ratios, not the absolute numbers.
#
#   scripts/bench-sandbox.sh          (as root: the sandbox needs it)
#
# Environment: BENCH_DIR (default /var/tmp/ninepd-bench-sandbox), ROUNDS
# (startups per configuration, 40), REPS (loadgen repetitions, 9), SECS
# (measured seconds per repetition, 1).  Prints Markdown for the
# "Confinement" section of docs/benchmarks.md; raw output in $BENCH_DIR/out.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
BENCH_DIR=${BENCH_DIR:-/var/tmp/ninepd-bench-sandbox}
ROUNDS=${ROUNDS:-40}
REPS=${REPS:-9}
SECS=${SECS:-1}
build=$top/build-bench
[ "$(id -u)" = 0 ] || { echo "bench-sandbox: run as root (the sandbox needs it)" >&2; exit 1; }

scripts/deps.sh
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" ninepd bench/ninepd-loadgen bench/bench-startup >/dev/null
lg=$build/bench/ninepd-loadgen
mkdir -p "$BENCH_DIR/out" "$BENCH_DIR/run"
export_dir=$BENCH_DIR/export
[ -d "$export_dir" ] || "$lg" prepare "$export_dir"

echo "## startup: fork to first Rversion, $ROUNDS starts each, alternating"
"$build/bench/bench-startup" "$build/ninepd" "$export_dir" "$BENCH_DIR/run" "$ROUNDS" \
  none/none namespace/none none/kill namespace/kill | tee "$BENCH_DIR/out/startup.md"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
targets=()
for cfg in none/none namespace/none none/kill namespace/kill; do
  sb=${cfg%/*} sc=${cfg#*/}
  name=$sb+$sc
  sock=$BENCH_DIR/run/$name.sock
  rm -f "$sock"
  "$build/ninepd" -l "unix:$sock" -e "$export_dir" --sandbox "$sb" --seccomp "$sc" \
    >"$BENCH_DIR/out/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
  targets+=(-t "$name=unix:$sock,pid=$!")
done
sleep 0.5
echo
echo "## per request: Tgetattr, one connection, depth 1 and 16; $REPS repetitions of ${SECS}s, alternating"
rm -f "$BENCH_DIR/out/requests.csv"
"$lg" run "${targets[@]}" -r "$REPS" -d "$SECS" --md "$BENCH_DIR/out/requests.md" \
  --csv "$BENCH_DIR/out/requests.csv" getattr:q=1 getattr:q=16 >"$BENCH_DIR/out/requests.txt"
# Paired ratios: each repetition's ops/s and server CPU per op against
# none+none's in the same repetition, then median, min and max of those.
python3 - "$BENCH_DIR/out/requests.csv" <<'PY'
import csv, statistics, sys
rows = {}
for r in csv.reader(open(sys.argv[1])):
    if r[5] == "rep":
        continue
    label, target, rep = r[1], r[4], int(r[5])
    rows.setdefault(label, {}).setdefault(target, {})[rep] = (float(r[9]), float(r[11]), float(r[13]))
print("| workload | sandbox+seccomp | ops/s ratio to none+none: median (min-max) | p50 µs median | server CPU µs/op ratio: median (min-max) |")
print("|---|---|---:|---:|---:|")
for label, by in rows.items():
    base = by["none+none"]
    for target, reps in by.items():
        tput = [reps[k][0] / base[k][0] for k in reps if k in base and base[k][0]]
        cpu = [reps[k][2] / base[k][2] for k in reps if k in base and base[k][2]]
        p50 = statistics.median(v[1] for v in reps.values())
        print(f"| {label} | {target} | {statistics.median(tput):.2f} ({min(tput):.2f}-{max(tput):.2f}) "
              f"| {p50:.1f} | {statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f}) |")
PY
