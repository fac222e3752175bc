# Scenario "posix": the core suite with cache=none, then xattrs, locks (also
# across two connections) and symlink confinement.
. ./core.sh
. ./extras.sh

# locktimeout: a blocked lock is retried every second, not every 30.
mount_or_abort p9a /mnt/none locktimeout=1
mount_or_abort p9b /mnt/second locktimeout=1

CHECK_PREFIX=none/
core_suite /mnt/none core-none

CHECK_PREFIX=
M=/mnt/none
M2=/mnt/second
check xattr t_xattr
check lock-fcntl-same-mount t_lock_same_mount
check flock-same-mount t_flock_same_mount
check lock-fcntl-two-mounts t_lock_two_mounts
check lock-getlk-two-mounts t_getlk_two_mounts
check confinement-symlinks t_confinement

# mount.ninepd's failures: one clear line, and no relay left behind.  The
# third port is spent on the refused attach.
t_mount_errors() {
	fails_with "unknown port" "mount.ninepd: no virtio port named 'nope'" \
		mount.ninepd nope /mnt/none || return 1
	mkdir -p /mnt/bad
	fails_with "unknown export" "mount.ninepd: mount p9c on /mnt/bad: " \
		mount.ninepd p9c /mnt/bad -o "$E2E_OPTS,aname=/no/such/export" || return 1
	usleep 200000
	expect "relays after the failure" "$(pidof mount.ninepd | wc -w)" 2 || return 1
	grep -q ' /mnt/bad ' /proc/mounts && { echo "/mnt/bad is mounted"; return 1; }
	mount.ninepd p9c /mnt/bad -o "$E2E_OPTS,aname=/no/such/export" 2>&1 | head -n 1
	return 0
}
[ "$E2E_RELAY" = fifo ] || check mount.ninepd-errors t_mount_errors
unmount_all
