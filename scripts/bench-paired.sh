#!/usr/bin/env bash
# Paired runs of this tree against an older commit, diod and the copying
# transport's limit, for a change that must make no workload slower
# (issue 19's method).  Builds both trees (release) and serves one export
# from five servers at once, each on a unix socket of its own:
#
#   new     this tree's ninepd          base    BASE's ninepd
#   diod    diod 1.0.24                 copy    ninepd-loadgen copyserver (pread + write)
#   splice  ninepd-loadgen copyserver splice (file -> pipe -> socket)
#
# then runs the read workloads against all five and every other workload
# against new, base and diod, alternating servers within each repetition
# (ninepd-loadgen run), and leaves the tables in $OUT.
#
#   scripts/bench-paired.sh [BASE]        BASE defaults to bd6f803 (before issue 19)
#
# Environment: OUT (/var/tmp/ninepd-paired/out), REPS (7), SECS (0.8),
# READS / OTHERS to replace the workload lists.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
base_rev=${1:-bd6f803}
dir=/var/tmp/ninepd-paired
OUT=${OUT:-$dir/out}
REPS=${REPS:-7}
SECS=${SECS:-0.8}
READS=${READS:-"seqread1m:q=1 seqread1m:q=4 seqread1m:q=16 seqread1m:q=1,msize=65560 seqread1m:q=4,msize=65560 seqread1m:q=16,msize=65560"}
OTHERS=${OTHERS:-"getattr:q=1 randread4k:q=1 getattr:q=16 randread4k:q=16 walk3:q=16 mixed:q=16 create:q=16 readdir10k seqwrite1m:q=1 seqwrite1m:q=4"}
msize=$((1048576 + 4096))

scripts/deps.sh
mkdir -p "$dir" "$OUT"
if [ ! -f build-bench/build.ninja ]; then
  meson setup build-bench --buildtype=release -De2e=disabled >/dev/null
fi
ninja -C build-bench ninepd bench/ninepd-loadgen >/dev/null
src=$dir/base-$base_rev
if [ ! -x "$src/build-bench/ninepd" ]; then
  rm -rf "$src" && mkdir -p "$src"
  git archive "$base_rev" | tar -x -C "$src"
  (cd "$src" && meson setup build-bench --buildtype=release -De2e=disabled >/dev/null &&
     ninja -C build-bench ninepd >/dev/null)
fi
lg=$top/build-bench/bench/ninepd-loadgen
export_dir=$dir/export
"$lg" prepare "$export_dir" >/dev/null

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
start() { # NAME COMMAND...
  local name=$1
  shift
  rm -f "$dir/$name.sock"
  "$@" >"$OUT/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
  for _ in $(seq 100); do [ -S "$dir/$name.sock" ] && return 0; sleep 0.05; done
  echo "bench-paired: $name did not start" >&2
  cat "$OUT/$name.log" >&2
  exit 1
}
start new "$top/build-bench/ninepd" -l "unix:$dir/new.sock" -e "$export_dir" --msize "$msize"
start base "$src/build-bench/ninepd" -l "unix:$dir/base.sock" -e "$export_dir" --msize "$msize"
start diod diod -f -n -c /dev/null -L stderr -l "$dir/diod.sock" -e "$export_dir"
start copy "$lg" copyserver "unix:$dir/copy.sock" "$export_dir"
start splice "$lg" copyserver "unix:$dir/splice.sock" "$export_dir" splice

t() { echo "-t $1=unix:$dir/$1.sock,pid=$(eval echo "\$pid_$1")${2:-}"; }
stamp=$(date +%Y%m%d-%H%M%S)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load-$stamp.txt"
# shellcheck disable=SC2046
"$lg" run $(t new) $(t base) $(t copy) $(t splice) $(t diod ",aname=$export_dir") \
  -r "$REPS" -d "$SECS" --csv "$OUT/reads-$stamp.csv" --md "$OUT/reads-$stamp.md" \
  $READS | tee "$OUT/reads-$stamp.txt"
# shellcheck disable=SC2046
"$lg" run $(t new) $(t base) $(t diod ",aname=$export_dir") -D "$export_dir" \
  -r "$REPS" -d "$SECS" --csv "$OUT/others-$stamp.csv" --md "$OUT/others-$stamp.md" \
  $OTHERS | tee "$OUT/others-$stamp.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load-$stamp.txt"
echo "bench-paired: $OUT/*-$stamp.{txt,md,csv}"
