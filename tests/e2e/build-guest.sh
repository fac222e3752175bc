#!/bin/bash
# Builds the guest that the end-to-end tests boot under QEMU, from Debian
# packages only, into tests/e2e/cache/ (or $E2E_CACHE):
#
#   vmlinux            the uncompressed kernel of the package linux-image-amd64
#                      depends on (QEMU boots the ELF directly: no XZ at boot)
#   initramfs.img      busybox, the virtio-console, 9p and vsock modules,
#                      /init, e2e-tool and mount.ninepd; padded to 512 bytes so
#                      that a cpio appended to it starts aligned
#   fio.cpio           fio and its shared libraries (appended only by the fio
#                      scenario: 85 MB would slow every boot)
#
# Nothing is rebuilt while the stamp (a hash of every input) matches.  The
# script installs nothing: scripts/deps.sh does.  Usage: build-guest.sh [-f]
# (-f rebuilds even when the stamp matches).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${E2E_CACHE:-$here/cache}
force=0
[ "${1:-}" = "-f" ] && force=1

die() { echo "build-guest: $*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb dpkg-query cpio xz gzip cc ldd sha256sum; do
	command -v "$tool" >/dev/null || die "$tool not found (scripts/deps.sh installs the e2e packages)"
done
busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox not found: install busybox-static"
file -L "$busybox" 2>/dev/null | grep -q 'dynamically linked' &&
	die "$busybox is dynamically linked: install busybox-static"
fio=$(command -v fio) || die "fio not found: install fio"

mkdir -p "$cache/dl"
# One build at a time: meson may start scenarios that each make sure the guest exists.
exec 9>"$cache/.lock"
flock 9

# The kernel package: the one linux-image-amd64 depends on, or the one
# already downloaded when the package lists are not there (offline rerun).
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
if [ -n "$kpkg" ]; then
	kdeb=$(ls "$cache/dl/${kpkg}"_*_amd64.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$kdeb" ]; then
		echo "build-guest: downloading $kpkg" >&2
		(cd "$cache/dl" && apt-get download -q -o APT::Sandbox::User=root "$kpkg" >&2) ||
			die "apt-get download $kpkg failed"
		kdeb=$(ls "$cache/dl/${kpkg}"_*_amd64.deb | head -n 1)
		# Kernels that linux-image-amd64 no longer depends on are 70 MB each.
		find "$cache/dl" -name 'linux-image-*.deb' ! -path "$kdeb" -delete
	fi
else
	kdeb=$(ls -t "$cache"/dl/linux-image-*_amd64.deb 2>/dev/null | head -n 1 || true)
	[ -n "$kdeb" ] || die "cannot resolve linux-image-amd64 (run apt-get update)"
fi

fio_libs=$(ldd "$fio" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')

stamp_inputs() {
	echo "kernel $(basename "$kdeb") $(stat -c %s "$kdeb")"
	echo "busybox $(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null) $(stat -c %s "$busybox")"
	echo "fio $(dpkg-query -W -f '${Version}' fio 2>/dev/null) $fio_libs"
	cc --version | head -n 1
	sha256sum "$here/build-guest.sh" "$here"/guest/*.c "$here/../../guest/mount.ninepd.c" "$here/guest/init.sh"
}
stamp=$(stamp_inputs | sha256sum | cut -d' ' -f1)
if [ $force = 0 ] && [ -f "$cache/stamp" ] && [ "$(cat "$cache/stamp")" = "$stamp" ] &&
	[ -f "$cache/vmlinux" ] && [ -f "$cache/initramfs.img" ] && [ -f "$cache/fio.cpio" ]; then
	exit 0
fi
echo "build-guest: building the guest into $cache" >&2
rm -f "$cache/stamp"

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Kernel: only /boot and the modules are unpacked.
dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$work" --wildcards './boot/vmlinuz-*' './lib/modules/*'
vmlinuz=$(ls "$work"/boot/vmlinuz-*)
kver=${vmlinuz##*/vmlinuz-}
# The bzImage payload is one XZ stream; its magic is FD 37 7A 58 5A 00.
xzoff=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -n 1 | cut -d: -f1)
[ -n "$xzoff" ] || die "no XZ stream in $vmlinuz"
# (tail gets SIGPIPE once xz has read its one stream: no pipe here, so
# that pipefail only sees xz.)
xz -dc --single-stream <(tail -c +$((xzoff + 1)) "$vmlinuz") >"$work/vmlinux" ||
	die "cannot decompress the kernel in $vmlinuz"
[ "$(head -c 4 "$work/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
	die "the kernel in $vmlinuz is not an ELF image"

# Modules, in an order where each comes after those in its depends= field
# (the package has no modules.dep).
root="$work/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,mnt,etc,modules,e2e}
declare -A kmod_path kmod_done
while IFS= read -r ko; do
	name=${ko##*/}
	kmod_path[${name%.ko}]=$ko
done < <(find "$work/lib/modules/$kver/kernel" -name '*.ko')
load_order=()
add_kmod() {
	local m=$1 dep deps
	[ -n "${kmod_done[$m]:-}" ] && return
	[ -n "${kmod_path[$m]:-}" ] || die "module $m is not in $(basename "$kdeb")"
	kmod_done[$m]=1
	deps=$(tr '\0' '\n' <"${kmod_path[$m]}" | sed -n 's/^depends=//p' | tr ',' ' ')
	for dep in $deps; do add_kmod "$dep"; done
	load_order+=("$m")
	cp "${kmod_path[$m]}" "$root/modules/$m.ko"
}
# 9pnet_virtio: QEMU's own virtio-9p, the reference of the fio-bench scenario.
for m in virtio_pci virtio_console 9pnet_fd 9pnet_virtio 9p; do add_kmod "$m"; done
printf '%s\n' "${load_order[@]}" >"$root/modules/order"
# vsock and its loopback transport (CID 1), in an order of their own: init.sh
# does not load them, the vsock-loopback scenario does, one step at a time,
# so that it sees mount.ninepd's errors without vsock and without a transport.
load_order=()
add_kmod vsock_loopback
printf '%s\n' "${load_order[@]}" >"$root/modules/vsock-order"

cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
install -m 755 "$here/guest/init.sh" "$root/init"
cc -static -O2 -Wall -Wextra -o "$root/bin/e2e-tool" "$here/guest/e2e-tool.c"
cc -static -O2 -Wall -Wextra -o "$root/sbin/mount.ninepd" "$here/../../guest/mount.ninepd.c"
# The guest's own /etc/passwd: the confinement check tells it from the host's.
echo "root:x:0:0:e2e guest:/:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$work/initramfs.img"
truncate -s %512 "$work/initramfs.img"

# fio, with the libraries at the paths its ELF interpreter searches.
fioroot="$work/fio"
mkdir -p "$fioroot/bin"
cp "$fio" "$fioroot/bin/fio"
for lib in $fio_libs; do
	mkdir -p "$fioroot$(dirname "$lib")"
	cp -L "$lib" "$fioroot$lib"
done
(cd "$fioroot" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/fio.cpio"
truncate -s %512 "$work/fio.cpio"

mv "$work/vmlinux" "$work/initramfs.img" "$work/fio.cpio" "$cache/"
echo "$kver" >"$cache/kernel-version"
echo "$stamp" >"$cache/stamp"
echo "build-guest: kernel $kver, initramfs $(stat -c %s "$cache/initramfs.img") bytes," \
	"fio.cpio $(stat -c %s "$cache/fio.cpio") bytes" >&2
