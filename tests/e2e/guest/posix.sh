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

unmount_all
