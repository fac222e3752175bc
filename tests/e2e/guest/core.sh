# The core POSIX suite: core_suite MOUNTPOINT SUBDIR runs every check in
# MOUNTPOINT/SUBDIR (created fresh).  Each check is a function that prints
# why it failed; they share only the files they leave in $D.

# Long names: 2,000 of them do not fit in one Treaddir reply, so the
# listing needs several, continued from the offsets the server gave.
MANY=2000
LONG=with-a-name-long-enough-that-the-directory-spans-several-readdir-replies

t_create_write_read() {
	make_source
	local want got
	want=$(md5 /tmp/src)
	cp /tmp/src "$D/data" || return 1
	# Odd block sizes: writes and reads that straddle pages and messages.
	dd if=/tmp/src of="$D/data-odd" bs=12345 2>/dev/null || return 1
	drop_caches
	expect size "$(stat -c %s "$D/data")" 4194304 || return 1
	expect "md5 (cp)" "$(md5 "$D/data")" "$want" || return 1
	expect "md5 (dd bs=12345)" "$(md5 "$D/data-odd")" "$want" || return 1
	got=$(dd if="$D/data" bs=7777 2>/dev/null | md5sum | cut -d' ' -f1)
	expect "md5 (read bs=7777)" "$got" "$want" || return 1
	got=$(dd if="$D/data" bs=4096 skip=100 count=3 2>/dev/null | md5sum | cut -d' ' -f1)
	expect "md5 of a middle range" "$got" \
		"$(dd if=/tmp/src bs=4096 skip=100 count=3 2>/dev/null | md5sum | cut -d' ' -f1)" || return 1
	# O_EXCL on an existing name.
	fails_with "O_EXCL create" "File exists" sh -c "set -C; echo x >'$D/data'" || return 1
	say "E2E-HOSTFILE $REL/data $want"
	echo "4 MiB md5 $want"
}

t_append() {
	printf 'one\n' >"$D/append" && printf 'two\n' >>"$D/append" && echo three >>"$D/append" || return 1
	expect content "$(cat "$D/append" | tr '\n' ' ')" "one two three " || return 1
	expect size "$(stat -c %s "$D/append")" 14
}

t_truncate() {
	make_source
	head -c 10000 /tmp/src >"$D/trunc" || return 1
	truncate -s 1000 "$D/trunc" || return 1
	expect "size after shrink" "$(stat -c %s "$D/trunc")" 1000 || return 1
	expect "content after shrink" "$(md5 "$D/trunc")" "$(head -c 1000 /tmp/src | md5sum | cut -d' ' -f1)" || return 1
	truncate -s 5000 "$D/trunc" || return 1
	expect "size after grow" "$(stat -c %s "$D/trunc")" 5000 || return 1
	expect "grown bytes are zero" "$(tail -c 4000 "$D/trunc" | md5sum | cut -d' ' -f1)" \
		"$(head -c 4000 /dev/zero | md5sum | cut -d' ' -f1)" || return 1
	: >"$D/trunc" || return 1
	expect "size after O_TRUNC" "$(stat -c %s "$D/trunc")" 0
}

t_mkdir_rmdir() {
	mkdir "$D/dir" && mkdir -p "$D/dir/a/b/c" || return 1
	expect type "$(stat -c %F "$D/dir/a/b/c")" directory || return 1
	fails_with "mkdir existing" "File exists" mkdir "$D/dir" || return 1
	fails_with "rmdir non-empty" "Directory not empty" rmdir "$D/dir" || return 1
	rmdir "$D/dir/a/b/c" "$D/dir/a/b" "$D/dir/a" "$D/dir" || return 1
	[ ! -e "$D/dir" ] || { echo "dir still there after rmdir"; return 1; }
	fails_with "rmdir missing" "No such file or directory" rmdir "$D/dir"
}

t_symlink() {
	ln -s target-file "$D/link" || return 1
	expect readlink "$(readlink "$D/link")" target-file || return 1
	expect type "$(stat -c %F "$D/link")" "symbolic link" || return 1
	expect "link size" "$(stat -c %s "$D/link")" 11 || return 1
	[ -L "$D/link" ] && [ ! -e "$D/link" ] || { echo "dangling link resolves"; return 1; }
	echo through-link >"$D/target-file" || return 1
	expect "read through link" "$(cat "$D/link")" through-link || return 1
	ln -s "dir with space/../x" "$D/link2" || return 1
	expect "readlink with spaces" "$(readlink "$D/link2")" "dir with space/../x"
}

t_hardlink() {
	echo first >"$D/hl-a" && ln "$D/hl-a" "$D/hl-b" || return 1
	expect "nlink after ln" "$(stat -c %h "$D/hl-a")" 2 || return 1
	expect "same inode" "$(stat -c %i "$D/hl-b")" "$(stat -c %i "$D/hl-a")" || return 1
	echo second >>"$D/hl-b" || return 1
	expect "write via the other name" "$(cat "$D/hl-a" | tr '\n' ' ')" "first second " || return 1
	rm "$D/hl-a" || return 1
	expect "nlink after unlink" "$(stat -c %h "$D/hl-b")" 1 || return 1
	expect "content kept" "$(cat "$D/hl-b" | tr '\n' ' ')" "first second "
}

t_rename_over() {
	echo old >"$D/rn-x" && echo new >"$D/rn-y" || return 1
	mv -f "$D/rn-y" "$D/rn-x" || return 1
	expect content "$(cat "$D/rn-x")" new || return 1
	[ ! -e "$D/rn-y" ] || { echo "source still there"; return 1; }
}

t_rename_across_dirs() {
	mkdir -p "$D/rn-d1" "$D/rn-d2" && echo moved >"$D/rn-d1/f" || return 1
	mv "$D/rn-d1/f" "$D/rn-d2/f" || return 1
	expect "moved across dirs" "$(cat "$D/rn-d2/f")" moved || return 1
	[ ! -e "$D/rn-d1/f" ] || { echo "source still there"; return 1; }
}

# rename(2) of a directory over an empty one replaces it; over a non-empty
# one it fails (mv would move it inside instead).  The guest may still hold
# fids of the files inside it (cache=loose): they must follow the rename.
t_rename_dir_over_empty() {
	mkdir "$D/rn-empty" "$D/rn-full" && echo x >"$D/rn-full/x" || return 1
	fails_with "rename dir over non-empty dir" "Directory not empty" \
		e2e-tool rename "$D/rn-d2" "$D/rn-full" || return 1
	e2e-tool rename "$D/rn-d2" "$D/rn-empty" >/dev/null || return 1
	expect "file in the renamed dir" "$(cat "$D/rn-empty/f")" moved || return 1
	[ ! -e "$D/rn-d2" ] || { echo "rn-d2 still there"; return 1; }
}

t_chmod() {
	echo x >"$D/mode" && chmod 640 "$D/mode" || return 1
	expect "mode after 640" "$(stat -c %a "$D/mode")" 640 || return 1
	chmod u+x,o+r "$D/mode" || return 1
	expect "mode after u+x,o+r" "$(stat -c %a "$D/mode")" 744 || return 1
	mkdir "$D/mode-dir" && chmod 1777 "$D/mode-dir" || return 1
	expect "sticky dir" "$(stat -c %a "$D/mode-dir")" 1777
}

t_chown() {
	echo x >"$D/owner" && chown 1234:5678 "$D/owner" || return 1
	expect owner "$(stat -c %u:%g "$D/owner")" 1234:5678 || return 1
	chown 0:0 "$D/owner" || return 1
	expect "owner back" "$(stat -c %u:%g "$D/owner")" 0:0
}

t_times() {
	echo x >"$D/times" || return 1
	touch -d '2001-02-03 04:05:06' "$D/times" || return 1
	expect mtime "$(stat -c %Y "$D/times")" 981173106 || return 1
	expect atime "$(stat -c %X "$D/times")" 981173106 || return 1
	touch -m -d '2002-03-04 05:06:07' "$D/times" || return 1
	expect "mtime only" "$(stat -c %Y:%X "$D/times")" 1015218367:981173106 || return 1
	echo more >>"$D/times" || return 1
	local now
	now=$(date +%s)
	[ "$(stat -c %Y "$D/times")" -ge $((now - 120)) ] ||
		{ echo "write did not update mtime: $(stat -c %Y "$D/times") vs now $now"; return 1; }
	echo "mtime/atime set and read back"
}

t_many_files() {
	# Numbers from 1000 make 4-digit names without a $(printf) fork each.
	local i=1000 end=$((1000 + MANY))
	mkdir "$D/many" || return 1
	while [ $i -lt $end ]; do
		: >"$D/many/$i-$LONG" || return 1
		echo "$i-$LONG"
		i=$((i + 1))
	done >/tmp/many.want
	ls -l "$D/many" >/tmp/many.ls || return 1
	expect "regular files in ls -l" "$(grep -c '^-' /tmp/many.ls)" $MANY || return 1
	ls -1 "$D/many" | LC_ALL=C sort >/tmp/many.got
	if ! cmp -s /tmp/many.got /tmp/many.want; then
		echo "names differ: $(wc -l </tmp/many.got) listed, dups: $(uniq -d /tmp/many.got | head -n 3)"
		return 1
	fi
	echo "$MANY names, each once"
}

t_rm_rf() {
	mkdir -p "$D/tree/a/b/c" && echo x >"$D/tree/a/b/c/f" && ln -s f "$D/tree/a/l" || return 1
	rm -rf "$D/tree" "$D/many" || return 1
	[ ! -e "$D/tree" ] && [ ! -e "$D/many" ] || { echo "still there after rm -rf"; return 1; }
	ls "$D" | grep -q -e '^tree$' -e '^many$' && { echo "still listed after rm -rf"; return 1; }
	return 0
}

t_unlink_open() {
	echo kept-open >"$D/unlinked" || return 1
	exec 7<"$D/unlinked"
	rm "$D/unlinked" || return 1
	[ ! -e "$D/unlinked" ] || { echo "name still there"; return 1; }
	expect "read after unlink" "$(cat <&7)" kept-open
}

t_df() {
	local line total
	line=$(df -k "$M" | tail -n 1)
	total=$(echo "$line" | awk '{ print $2 }')
	[ "${total:-0}" -gt 0 ] || { echo "df: $line"; return 1; }
	echo "$line"
}

t_stat() {
	make_source
	cp /tmp/src "$D/stat" || return 1
	expect "type" "$(stat -c %F "$D/stat")" "regular file" || return 1
	expect "size" "$(stat -c %s "$D/stat")" 4194304 || return 1
	local bytes=$(($(stat -c %b "$D/stat") * $(stat -c %B "$D/stat")))
	[ $bytes -ge 4194304 ] || { echo "blocks cover only $bytes bytes"; return 1; }
	expect "dir type" "$(stat -c %F "$D")" directory || return 1
	stat -f -c 'fs type %t, blocks %b, free %f, bsize %S' "$M"
}

core_suite() {
	M=$1
	REL=$2
	D=$M/$REL
	mkdir -p "$D" || { say "E2E-ERROR cannot create $D"; return 1; }
	check create-write-read t_create_write_read
	check append t_append
	check truncate t_truncate
	check mkdir-rmdir t_mkdir_rmdir
	check symlink-readlink t_symlink
	check hardlink-nlink t_hardlink
	check rename-over-existing t_rename_over
	check rename-across-dirs t_rename_across_dirs
	check rename-dir-over-empty-dir t_rename_dir_over_empty
	check chmod t_chmod
	check chown t_chown
	check touch-times t_times
	check ls-2000-files t_many_files
	check rm-rf t_rm_rf
	check unlink-open-file t_unlink_open
	check df t_df
	check stat t_stat
	return 0
}
