#!/usr/bin/env bash
# The cost of an export's id and xattr maps (issue 17): one ninepd serves
# one directory twice, as "plain" and as "mapped" (translate_uid and
# translate_gid over the loadgen's uid, and the selinux xattrmap), and
# ninepd-loadgen runs getattr and create against both, alternating, so the
# ratio mapped/plain is paired.  Prints the loadgen's tables and writes them
# to $BENCH_DIR/out/maps.md.
#
#   scripts/bench-maps.sh          REPS=7 SECS=1 by default
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
BENCH_DIR=${BENCH_DIR:-/var/tmp/ninepd-bench-maps}
REPS=${REPS:-7}
SECS=${SECS:-1}
build=$top/build-bench
lg=$build/bench/ninepd-loadgen
out=$BENCH_DIR/out

scripts/deps.sh
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" ninepd bench/ninepd-loadgen >/dev/null

mkdir -p "$out"
rm -rf "$BENCH_DIR/export"
"$lg" prepare "$BENCH_DIR/export"
sock=$BENCH_DIR/ninepd.sock
rm -f "$sock"
# The loadgen attaches as root: under the map it is host 100000, and its
# requests take the mapped-root check (one fstat) on top of the
# translation itself.
maps="translate_uid=map:0:100000:65536,translate_gid=map:0:100000:65536"
maps+=",xattrmap=:map:security.selinux:trusted.ninepd.:"
"$build/ninepd" -l "unix:$sock" -e "$BENCH_DIR/export,name=plain" \
  -e "$BENCH_DIR/export,name=mapped,$maps" >"$out/maps-ninepd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { cat "$out/maps-ninepd.log" >&2; exit 1; }

"$lg" run -t "plain=unix:$sock,aname=plain,pid=$pid" -t "mapped=unix:$sock,aname=mapped,pid=$pid" \
  -r "$REPS" -d "$SECS" --md "$out/maps.md" \
  getattr:q=1 getattr:q=16 create:q=1 create:q=16 | tee "$out/maps.txt"
