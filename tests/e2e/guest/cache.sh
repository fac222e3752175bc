# Scenario "cache": the core suite with cache=loose, and mmap with cache=mmap.
. ./core.sh

mount_or_abort p9a /mnt/loose cache=loose
mount_or_abort p9b /mnt/mmap cache=mmap

CHECK_PREFIX=loose/
core_suite /mnt/loose core-loose

CHECK_PREFIX=mmap/
M=/mnt/mmap

# host-made.bin was written by run-guest.py; its md5 is in HOST_FILE_MD5.
t_mmap_read_host_file() {
	local f="$M/host-made.bin"
	expect "md5 by read" "$(md5 "$f")" "$HOST_FILE_MD5" || return 1
	drop_caches
	expect "mmap sum" "$(e2e-tool mmapsum "$f")" "$(e2e-tool readsum "$f")"
}

t_mmap_read() {
	make_source
	cp /tmp/src "$M/mm.bin" || return 1
	drop_caches
	expect "mmap sum" "$(e2e-tool mmapsum "$M/mm.bin")" "$(e2e-tool readsum /tmp/src)"
}

t_mmap_write() {
	expect mmapwrite "$(e2e-tool mmapwrite "$M/mm.bin" 5000 MMAP-WRITE-MARK)" ok || return 1
	drop_caches
	expect "read back" "$(dd if="$M/mm.bin" bs=1 skip=5000 count=15 2>/dev/null)" MMAP-WRITE-MARK || return 1
	say "E2E-HOSTFILE mm.bin $(md5 "$M/mm.bin")"
}

t_exec() {
	cp /bin/busybox "$M/busybox" && chmod 755 "$M/busybox" || return 1
	drop_caches
	expect "exec from the mount" "$("$M/busybox" echo executed)" executed
}

check read-host-file t_mmap_read_host_file
check read t_mmap_read
check write-msync t_mmap_write
check exec t_exec
CHECK_PREFIX=
unmount_all
