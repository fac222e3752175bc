# Scenarios "multidevs-remap|forbid|warn" (ninepd only).  The export is a
# tmpfs holding two more tmpfs mounts, a/ and b/; each of the three has
# f1 and f2, made in the same order so that their host inode numbers
# collide.  Contents: root1 root2 a1 a2 b1 b2.  E2E_MULTIDEVS says which
# policy the server was given.
#
# remap mounts with cache=loose, where the guest keeps one inode per qid
# path: colliding qids would show one file's content under another's name.
# warn keeps the host's colliding numbers, so it mounts with cache=none,
# where every lookup makes a new inode and contents stay right.
M=/mnt/md
if [ "$E2E_MULTIDEVS" = remap ]; then
	mount_or_abort p9a $M cache=loose
else
	mount_or_abort p9a $M
fi
FILES="f1 f2 a/f1 a/f2 b/f1 b/f2"

content_of() {
	case "$1" in
	f?) echo "root${1#f}" ;;
	a/f?) echo "a${1#a/f}" ;;
	b/f?) echo "b${1#b/f}" ;;
	esac
}

t_contents() {
	local f
	for f in $FILES; do
		expect "$f" "$(cat "$M/$f")" "$(content_of "$f")" || return 1
	done
	echo "each of the 6 files shows its own content"
}

t_distinct_inodes() {
	stat -c '%i %n' $M $M/a $M/b $(for f in $FILES; do echo "$M/$f"; done) >/tmp/inodes || return 1
	expect "files stat'ed" "$(wc -l </tmp/inodes)" 9 || return 1
	local dups
	dups=$(cut -d' ' -f1 /tmp/inodes | sort | uniq -d)
	[ -z "$dups" ] || { echo "shared st_ino: $(grep -E "^($(echo $dups | tr ' ' '|')) " /tmp/inodes | tr '\n' ';')"; return 1; }
	echo "9 distinct st_ino"
}

t_root_device_works() {
	expect f1 "$(cat $M/f1)" root1 || return 1
	echo new >$M/f3 && expect "write on the root device" "$(cat $M/f3)" new || return 1
	# A glob reads the directory without stat'ing a/ and b/, which fail.
	local names="" f
	for f in $M/*; do names="$names ${f##*/}"; done
	for f in f1 f2; do
		case "$names " in
		*" $f "*) ;;
		*) echo "readdir of the root lists:$names"; return 1 ;;
		esac
	done
	echo "readdir lists:$names"
}

t_other_devices_exdev() {
	local f
	for f in a/f1 b/f2; do
		fails_with "cat $f" "Invalid cross-device link" cat "$M/$f" || return 1
		fails_with "stat $f" "Invalid cross-device link" stat "$M/$f" || return 1
	done
	fails_with "create in a/" "Invalid cross-device link" sh -c "echo x >$M/a/new" || return 1
	echo "EXDEV on a/ and b/"
}

case "$E2E_MULTIDEVS" in
remap)
	check contents-loose t_contents
	check distinct-inodes t_distinct_inodes
	drop_caches
	check contents-after-drop-caches t_contents
	;;
forbid)
	check root-device-works t_root_device_works
	check other-devices-exdev t_other_devices_exdev
	;;
warn)
	# Many accesses to both other devices: the server must warn once.
	check contents t_contents
	for round in 1 2 3; do
		cat $M/a/f1 $M/a/f2 $M/b/f1 $M/b/f2 >/dev/null 2>&1
		ls -l $M/a $M/b >/dev/null 2>&1
		drop_caches
	done
	check root-device-works t_root_device_works
	;;
*)
	say "E2E-ERROR unknown E2E_MULTIDEVS '$E2E_MULTIDEVS'"
	;;
esac
unmount_all
