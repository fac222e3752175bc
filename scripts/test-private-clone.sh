#!/usr/bin/env bash
# The tests that run something as another user, or serve an export to a
# server that acts as another user, run from a clone below a directory only
# root may enter, as a checkout in /root or below `mktemp -d` is: none of
# them may depend on where the checkout lies (the files such a user must
# reach go to /tmp and /var/tmp).  Those are the privilege suites (ninepd
# run as uid 1000, ninepd -u nobody), the access models, reload and faults,
# the sandbox's walls (one with -u nobody),
# and the fio benchmark's smoke test (diod serves the export as the guest's
# user).  The normal build of this checkout's HEAD only, and only what those
# tests need: about two minutes on 2 cores.  CI (.ci/run) runs it after
# ./dev.sh test.
#
#   scripts/test-private-clone.sh
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

scripts/deps.sh
tmp=$(mktemp -d) # 0700, as a root user's home
trap 'rm -rf "$tmp"' EXIT
clone=$tmp/ninepd
git clone -q "$top" "$clone"
echo "test-private-clone: $(git -C "$clone" rev-parse --short HEAD) in $clone (below a 0700 directory)"
cd "$clone"
# The guest's kernel package, not downloaded again; the clone builds its
# own guest from it (seconds).
if [ -d "$top/tests/e2e/cache/dl" ]; then
	mkdir -p tests/e2e/cache
	cp -a "$top/tests/e2e/cache/dl" tests/e2e/cache/
fi
meson setup build >/dev/null
ninja -C build ninepd tests/privs/test-privs tests/privs/test-privs-drop \
	tests/access/test-access tests/access/test-checkconfig tests/reload/test-reload \
	tests/faults/test-faults tests/sandbox/test-walls tests/sandbox/ninepd-walls >/dev/null
meson test -C build --no-rebuild --print-errorlogs \
	privs-drop privs access check-config reload faults walls e2e-build-guest e2e-fio-bench-smoke
