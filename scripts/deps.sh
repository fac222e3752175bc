#!/usr/bin/env bash
# Installs the Debian 12 packages ninepd needs to build, test and benchmark,
# and only those that are missing.  Both README commands call it, so a fresh
# machine needs nothing installed by hand.
set -euo pipefail

packages=(
  # build
  build-essential libc6-dev meson ninja-build pkg-config
  libuv1-dev libxxhash-dev libinih-dev libxml2-dev libcap-ng-dev libseccomp-dev
  # tests, sanitizers, fuzzing
  libcriterion-dev clang libclang-rt-14-dev
  # end-to-end guest tests and benchmarks
  qemu-system-x86 busybox-static cpio xz-utils fio diod python3 attr gnuplot-nox valgrind strace
)

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo

# The e2e guest's kernel is fetched with apt-get download, which needs
# package lists even when every package above is already installed.
if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
  $sudo apt-get update -qq
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
