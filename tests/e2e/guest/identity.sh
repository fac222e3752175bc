# Scenario "identity": what a POSIX test suite checks about credentials,
# through both security models of one server: p9a is its passthrough
# export, p9b (aname=mapped) its mapped-xattr export, and p9c (aname=idmap)
# a passthrough export whose ids are mapped (guest 0..65535 are host
# 100000..165535) and whose security.selinux goes to trusted.ninepd.*, all
# cache=none.  The whole suite runs on each: a map must keep every answer.
#
# User A (1000) is in groups 2000 and 2001 only here, in the guest: the
# host has no such membership (run-guest.py checks that), and 9P cannot
# carry supplementary groups.  So wherever a group decides, the guest
# kernel has already decided with A's full credentials, and the server must
# not refuse again with the few it knows.  User B (1001) has no group.
# Every check uses files of its own; a failure names the call and its errno.

UA=1000 UB=1001
GA=2000 GA2=2001       # A's supplementary groups, in the guest only
NOT_A=3000             # a group A is not in

as_a() { e2e-tool as $UA $UA $GA,$GA2 -- /bin/e2e-tool "$@"; }
as_b() { e2e-tool as $UB $UB - -- /bin/e2e-tool "$@"; }

# "MODE UID:GID" of PATH (what e2e-tool stat says, without the size).
mode_owner() { e2e-tool stat "$1" | cut -d' ' -f1,2; }

# root_file PATH MODE UID:GID: a one-byte file that guest root makes and
# gives to UID:GID with MODE (octal, no leading zero).
root_file() {
	printf x >"$1" && chown "$3" "$1" && chmod "$2" "$1" || return 1
	expect "set-up of ${1##*/}" "$(e2e-tool stat "$1")" "$2 $3 1"
}

t_test_dir() {
	mkdir "$D" && chmod 777 "$D" || return 1
	expect "test dir" "$(mode_owner "$D")" "777 0:0"
}

# The file the host checks look at (passthrough: owned by 1000 on the
# host; mapped-xattr: by the daemon, 1000 in its xattrs).
t_create_as_user() {
	local f="$D/created-by-user"
	expect "O_CREAT as $UA" "$(as_a open "$f" wronly,creat,excl 644 write:x)" "ok wrote=1" || return 1
	expect "owner" "$(e2e-tool stat "$f")" "644 $UA:$UA 1"
}

t_chown_to_guest_group() {
	local f="$D/chown-own"
	root_file "$f" 644 $UA:$UA || return 1
	expect "chown to $GA2 as $UA (groups $GA,$GA2)" "$(as_a chown "$f" -1 $GA2)" ok || return 1
	expect "after the chown" "$(e2e-tool stat "$f")" "644 $UA:$GA2 1" || return 1
	echo "$UA:$UA -> $UA:$GA2"
}

t_open_rdonly_through_group() {
	local f="$D/group-ro"
	root_file "$f" 660 0:$GA || return 1
	expect "O_RDONLY as $UA" "$(as_a open "$f" rdonly 0 read)" "ok read=1"
}

t_open_rdwr_through_group() {
	local f="$D/group-rw"
	root_file "$f" 660 0:$GA || return 1
	expect "O_RDWR as $UA" "$(as_a open "$f" rdwr 0 read write:y)" "ok read=1 wrote=1" || return 1
	expect "after the write" "$(e2e-tool stat "$f")" "660 0:$GA 2"
}

# r without x: the names can be listed, though no file in it can be reached.
t_readdir_with_r_without_x() {
	local d="$D/dir-r"
	mkdir "$d" && : >"$d/one" && : >"$d/two" && chown -R $UA:$UA "$d" && chmod 600 "$d" || return 1
	expect "set-up" "$(mode_owner "$d")" "600 $UA:$UA" || return 1
	expect "O_RDONLY|O_DIRECTORY, getdents as $UA" \
		"$(as_a open "$d" rdonly,directory 0 getdents)" "ok entries=2"
}

# The descriptor open(O_CREAT) returns may write whatever mode the new file
# has; ftruncate uses that descriptor, so no permission check applies.
t_ftruncate_after_create_mode_0() {
	local f="$D/mode-0"
	expect "O_CREAT|O_RDWR mode 0, ftruncate 100 as $UA" \
		"$(as_a open "$f" rdwr,creat,excl 0 ftruncate:100)" "ok truncated=100" || return 1
	expect "after" "$(e2e-tool stat "$f")" "0 $UA:$UA 100"
}

# setid_write NAME WANT WRITER OTHER: A's file of mode 6777 (setgid with
# group-exec) is opened by WRITER (e2e-tool as root, as_a or as_b); then
# OTHER (another of them) stats it, a request of another user on the same
# connection; then WRITER overwrites one byte.  The write is WRITER's, so
# the mode must then be WANT, whoever made the request before it.
setid_write() {
	local f="$D/$1" want=$2 writer=$3 other=$4 i=0 between
	root_file "$f" 6777 $UA:$UA || return 1
	rm -f /tmp/opened /tmp/go
	$writer open "$f" wronly 0 ready:/tmp/opened await:/tmp/go write:y >/tmp/writer.out 2>&1 &
	while [ ! -e /tmp/opened ] && [ $i -lt 100 ]; do
		usleep 50000
		i=$((i + 1))
	done
	between=$($other stat "$f")
	touch /tmp/go
	wait $!
	expect "$writer write" "$(cat /tmp/writer.out)" "ok wrote=1" || return 1
	expect "$other stat between open and write" "$between" "6777 $UA:$UA 1" || return 1
	expect "after the write" "$(e2e-tool stat "$f")" "$want $UA:$UA 1" || return 1
	echo "6777 -> $want"
}
t_setid_non_owner_write() { setid_write setid-by-b 777 as_b e2e-tool; }
t_setid_owner_write() { setid_write setid-by-a 777 as_a e2e-tool; }
t_setid_root_write() { setid_write setid-by-root 6777 e2e-tool as_b; }

# What stays refused, with POSIX's errno.

# refused NAME MODE UID:GID WANT WHO CALL ARG...: on a root_file NAME of
# MODE and UID:GID, `WHO CALL NAME ARG...` (WHO: as_a or as_b, CALL an
# e2e-tool command) must fail with WANT and leave the file as it was.
refused() {
	local f="$D/$1" mode=$2 owner=$3 want=$4 who=$5 call=$6
	shift 6
	root_file "$f" $mode $owner || return 1
	expect "$who $call $*" "$($who $call "$f" "$@")" "$want" || return 1
	expect "after" "$(e2e-tool stat "$f")" "$mode $owner 1" || return 1
	echo "${want#error: }"
}
t_chown_to_non_member_group() {
	refused chown-not-member 644 $UA:$UA "error: chown: EPERM (Operation not permitted)" as_a chown -1 $NOT_A
}
t_open_root_0600_file() {
	refused root-only 600 0:0 "error: open: EACCES (Permission denied)" as_a open rdonly 0 read
}
t_truncate_mode_0_by_non_owner() {
	refused truncate-mode-0 0 $UA:$UA "error: truncate: EACCES (Permission denied)" as_b truncate 0
}
t_chmod_of_others_file() {
	refused chmod-others 644 $UA:$UA "error: chmod: EPERM (Operation not permitted)" as_b chmod 777
}

# x without r, the directory root's and then A's own.
t_open_dir_without_r() {
	local d
	mkdir "$D/dir-x-root" "$D/dir-x-own" && chown $UA:$UA "$D/dir-x-own" &&
		chmod 300 "$D/dir-x-root" "$D/dir-x-own" || return 1
	expect "set-up" "$(mode_owner "$D/dir-x-root") $(mode_owner "$D/dir-x-own")" "300 0:0 300 $UA:$UA" ||
		return 1
	for d in dir-x-root dir-x-own; do
		expect "as_a open $d rdonly,directory" "$(as_a open "$D/$d" rdonly,directory 0 getdents)" \
			"error: open: EACCES (Permission denied)" || return 1
	done
	echo "open: EACCES (Permission denied)"
}

identity_suite() {
	D=$1/identity
	check test-dir t_test_dir || return 1
	check create-as-guest-user t_create_as_user
	check chown-to-guest-supplementary-group t_chown_to_guest_group
	check open-rdonly-through-guest-group t_open_rdonly_through_group
	check open-rdwr-through-guest-group t_open_rdwr_through_group
	check readdir-with-r-without-x t_readdir_with_r_without_x
	check ftruncate-after-create-mode-0 t_ftruncate_after_create_mode_0
	check setuid-setgid-cleared-by-non-owner-write t_setid_non_owner_write
	check setuid-setgid-cleared-by-owner-write t_setid_owner_write
	check setuid-setgid-kept-by-root-write t_setid_root_write
	check chown-to-non-member-group-eperm t_chown_to_non_member_group
	check open-root-0600-file-eacces t_open_root_0600_file
	check open-dir-without-r-eacces t_open_dir_without_r
	check truncate-mode-0-by-non-owner-eacces t_truncate_mode_0_by_non_owner
	check chmod-of-others-file-eperm t_chmod_of_others_file
}

# ---- the id-mapped export only

LABEL=guest_u:object_r:guest_t:s0

# A host file of host root: its owner has no guest id.
t_unmapped_host_owner_is_65534() {
	expect "stat" "$(e2e-tool stat /mnt/idmap/host-root-file)" "644 65534:65534 5"
}

# ls -ln agrees with stat: the guest's own ids, never the host's.
t_ls_shows_guest_ids() {
	local line
	line=$(ls -ln "$D/created-by-user" | tr -s ' ' | cut -d' ' -f3,4)
	expect "ls -ln" "$line" "$UA $UA"
}

# Guest root labels a file; the label reads back and is the only name
# listed, while the host keeps its own (hidden) label apart.
t_selinux_label_through_the_xattrmap() {
	local f="$D/labelled"
	: >"$f" || return 1
	expect "set" "$(e2e-tool xattr set "$f" security.selinux "$LABEL")" ok || return 1
	expect "get" "$(e2e-tool xattr get "$f" security.selinux)" "$LABEL" || return 1
	expect "list" "$(e2e-tool xattr list "$f")" security.selinux || return 1
	if [ -n "$E2E_HOST_LABEL" ]; then
		expect "the host's label" "$(e2e-tool xattr get /mnt/idmap/host-labelled security.selinux)" \
			"error: No data available" || return 1
	fi
	echo "$LABEL"
}

# trusted.* the guest names itself is not the map's: refused.
t_trusted_name_of_the_guest_refused() {
	expect "set trusted.evil" "$(e2e-tool xattr set "$D/labelled" trusted.evil x)" \
		"error: Operation not permitted"
}

mount_or_abort p9a /mnt/passthrough cache=none
mount_or_abort p9b /mnt/mapped cache=none,aname=mapped

CHECK_PREFIX=passthrough/
identity_suite /mnt/passthrough
CHECK_PREFIX=mapped/
identity_suite /mnt/mapped
mount_or_abort p9c /mnt/idmap cache=none,aname=idmap
CHECK_PREFIX=idmap/
identity_suite /mnt/idmap
check unmapped-host-owner-is-65534 t_unmapped_host_owner_is_65534
check ls-shows-guest-ids t_ls_shows_guest_ids
check selinux-label-through-the-xattrmap t_selinux_label_through_the_xattrmap
check trusted-name-of-the-guest-refused t_trusted_name_of_the_guest_refused

unmount_all
