# Scenario "disconnect", second guest: the server that lost the first guest
# mid-write serves this one.
. ./core.sh
M=/mnt/d
mount_or_abort p9a $M

t_partial_file() {
	local size
	size=$(stat -c %s $M/stream) || return 1
	[ "$size" -gt 0 ] || { echo "stream is empty"; return 1; }
	echo "stream has $size bytes"
}
check partial-file-visible t_partial_file
check remove-partial-file rm $M/stream
D=$M/after
mkdir -p $D
REL=after
check create-write-read t_create_write_read
check mkdir-rmdir t_mkdir_rmdir
unmount_all
