#!/usr/bin/env bash
# The two set-up commands of the README:
#   ./dev.sh run    install what is missing, build, serve ./export on ./ninepd.sock
#   ./dev.sh test   install what is missing, build, run every test suite
# Both are complete on their own on a fresh Debian 12 machine (as root, or
# with sudo for the package install).
set -euo pipefail
cd "$(dirname "$0")"
top=$PWD

build() { # build DIR [meson options...]; quiet unless it fails
  local dir=$1; shift
  local log
  log=$(mktemp)
  if { [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@"; } >"$log" 2>&1 &&
     ninja -C "$dir" >>"$log" 2>&1; then
    rm -f "$log"
  else
    cat "$log" >&2
    rm -f "$log"
    echo "dev.sh: building $dir failed" >&2
    return 1
  fi
}

case "${1:-}" in
run)
  scripts/deps.sh
  build build
  mkdir -p export
  cat <<MSG
ninepd: exporting $top/export on unix:$top/ninepd.sock (Ctrl-C stops it)

Give a QEMU guest a virtio-serial port connected to the socket:
  -device virtio-serial-pci -chardev socket,id=p9,path=$top/ninepd.sock,reconnect=1 \\
  -device virtserialport,chardev=p9,name=p9
and mount it in the guest with mount.ninepd (guest/, a static binary; see docs/guest.md):
  mount.ninepd p9 /mnt -o msize=1048576
A host-side client mounts it with:  mount -t 9p -o trans=unix,version=9p2000.L $top/ninepd.sock /mnt
MSG
  exec build/ninepd -l "unix:$top/ninepd.sock" -e "$top/export"
  ;;
test)
  # What runs as another user (a copy of ninepd, an export diod serves as
  # the guest's user) goes to /tmp or /var/tmp, never into the checkout,
  # which may lie where only root can enter: those two must be open to all.
  for d in /tmp /var/tmp; do
    if [ ! -d "$d" ] || [ $((0$(stat -L -c %a "$d") & 1)) = 0 ]; then
      echo "dev.sh: $d must be a directory every user may enter (o+x): the tests put there what runs as another user" >&2
      exit 1
    fi
  done
  scripts/deps.sh
  status=0
  build build
  meson test -C build --print-errorlogs --num-processes 2 || status=1
  # Sanitizers: the unit, integration and e2e suites again under ASan + UBSan
  # (the e2e guest then talks to the sanitized daemon).
  build build-asan -Db_sanitize=address,undefined -Db_lundef=false
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --num-processes 2 --suite unit --suite integration --suite e2e || status=1
  # The fuzzers (codec, request path), FUZZ_SECONDS each.
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}" || status=1
  # The daemon under valgrind (memcheck) for most of the integration suite.
  scripts/valgrind.sh build || status=1
  python3 scripts/test-summary.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
    build-fuzz/fuzz-results.json build/valgrind-results.json || status=1
  exit $status
  ;;
*)
  echo "usage: $0 run|test" >&2
  exit 2
  ;;
esac
