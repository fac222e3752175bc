# Scenario "mount-helper": mount.ninepd itself.  p9a reaches ninepd, which
# runs with --trace so that the host can count the sessions it saw; p9s is a
# socket where nothing ever answers and p9h one that hung up at once (see
# DeadEnd in run-guest.py).
#
# P9A_SESSIONS counts the mounts of p9a that reach the server, each with one
# Tversion: the host check one-session-per-mount compares it with the
# server's trace, which proves that the port the kernel refused carried
# nothing (Linux 6.1 refuses the port itself, so every mount is relayed).
P9A_SESSIONS=0
T=2 # connect_timeout of the failures that have to wait

uptime_cs() { awk '{ sub(/\./, "", $1); print $1 + 0 }' /proc/uptime; }

# Waits up to 5 s for every relay to exit.
no_relay_left() {
	local i=0
	while pidof mount.ninepd >/dev/null && [ $i -lt 50 ]; do
		usleep 100000
		i=$((i + 1))
	done
	pidof mount.ninepd >/dev/null && { echo "a relay is still running: $(pidof mount.ninepd)"; return 1; }
	return 0
}

# fails_in_one_line WHAT TEXT COMMAND...: COMMAND fails and prints exactly
# one line, which contains TEXT; prints that line.
fails_in_one_line() {
	local what="$1" text="$2" out
	shift 2
	out=$("$@" 2>&1) && { echo "$what: succeeded, want failure '$text'"; return 1; }
	expect "$what: lines of output" "$(printf '%s\n' "$out" | wc -l)" 1 || { echo "$out"; return 1; }
	case "$out" in
	*"$text"*) echo "$out" ;;
	*) echo "$what: said '$out', want '$text'"; return 1 ;;
	esac
}

# fails_after_timeout WHAT TEXT COMMAND...: fails_in_one_line, after
# connect_timeout ($T s) and at most 3 s more.
fails_after_timeout() {
	local t0 t1 out
	t0=$(uptime_cs)
	out=$(fails_in_one_line "$@") || { echo "$out"; return 1; }
	t1=$(uptime_cs)
	[ $((t1 - t0)) -ge $((T * 100)) ] && [ $((t1 - t0)) -lt $((T * 100 + 300)) ] ||
		{ echo "took $((t1 - t0))0 ms, want about $T s"; return 1; }
	echo "$out ($((t1 - t0))0 ms)"
}

# busybox mount knows no "ninepd" file system, so it runs mount.ninepd from
# PATH as "mount.ninepd p9a /mnt/t -o OPTIONS"; the unmount ends the relay.
t_mount_t_ninepd() {
	mkdir -p /mnt/t
	mount -t ninepd -o "$E2E_OPTS" p9a /mnt/t || return 1
	local line
	line=$(grep ' /mnt/t ' /proc/mounts)
	case "$line" in
	"p9a /mnt/t 9p "*trans=fd*) ;;
	*) echo "not a 9p mount over trans=fd: '$line'"; return 1 ;;
	esac
	echo hello >/mnt/t/hello.txt || return 1
	expect "read back" "$(cat /mnt/t/hello.txt)" hello || return 1
	pidof mount.ninepd >/dev/null || { echo "no relay running"; return 1; }
	umount /mnt/t || return 1
	no_relay_left || return 1
	echo "$line"
}

# busybox keeps generic flags (ro, noexec, ...) to itself and passes the
# helper only the rest: a read-only mount through it needs a remount.
t_mount_t_ninepd_remount_ro() {
	mkdir -p /mnt/t
	mount -t ninepd -o "$E2E_OPTS" p9a /mnt/t || return 1
	mount -o remount,ro /mnt/t || return 1
	fails_with "write after remount,ro" "Read-only file system" sh -c 'echo x >/mnt/t/ro.txt' || return 1
	umount /mnt/t || return 1
	no_relay_left
}

# The port itself first; Linux 6.1 refuses it, and the relay takes over.
t_port_then_relay() {
	local out
	mkdir -p /mnt/v
	out=$(mount.ninepd -v p9a /mnt/v -o "$E2E_OPTS" 2>&1) || { echo "$out"; return 1; }
	case "$out" in
	*"on the port itself"*) ;;
	*"refused /dev/"*"relaying"*"through a relay (pid "*) ;;
	*) echo "unexpected: $out"; return 1 ;;
	esac
	ls /mnt/v >/dev/null || return 1
	echo "$out"
}

# A port has one opener: a second mount of p9a fails at once.
t_port_busy() {
	fails_in_one_line "second mount" "is busy: mounted already" mount.ninepd p9a /mnt/w -o "$E2E_OPTS"
}

# ro and noexec become mount flags; options meant for mount(8) are dropped.
t_generic_flags() {
	mkdir -p /mnt/ro
	mount.ninepd p9a /mnt/ro -o "$E2E_OPTS,ro,noexec,_netdev,nofail,x-systemd.automount" || return 1
	local opts
	opts=$(awk '$2 == "/mnt/ro" { print $4 }' /proc/mounts)
	case ",$opts," in *,ro,*) ;; *) echo "no ro in '$opts'"; return 1 ;; esac
	case ",$opts," in *,noexec,*) ;; *) echo "no noexec in '$opts'"; return 1 ;; esac
	fails_with "write" "Read-only file system" sh -c 'echo x >/mnt/ro/x' || return 1
	umount /mnt/ro || return 1
	echo "$opts"
}

# -f checks the port and its host side, and mounts nothing.
t_fake() {
	mkdir -p /mnt/f
	mount.ninepd -f p9a /mnt/f || return 1
	grep -q ' /mnt/f ' /proc/mounts && { echo "-f mounted"; return 1; }
	no_relay_left
}

t_no_such_port() {
	fails_in_one_line "unknown port" "mount.ninepd: no virtio port named 'nope' (there are: " \
		mount.ninepd nope /mnt/x
}

# Bounded: nothing connected on the host side of p9h.
t_host_side_gone() {
	fails_after_timeout "p9h" "mount.ninepd: port 'p9h': nothing connected on the host side within $T s" \
		mount.ninepd p9h /mnt/x -o "$E2E_OPTS,connect_timeout=$T"
}

# Bounded: p9s is connected but no server answers the Tversion.
t_server_silent() {
	local out
	mkdir -p /mnt/s
	out=$(fails_after_timeout "p9s" "mount.ninepd: mount p9s on /mnt/s: no answer from the server within $T s" \
		mount.ninepd p9s /mnt/s -o "$E2E_OPTS,connect_timeout=$T") || { echo "$out"; return 1; }
	grep -q ' /mnt/s ' /proc/mounts && { echo "/mnt/s is mounted"; return 1; }
	no_relay_left || return 1
	echo "$out"
}

t_unknown_export() {
	mkdir -p /mnt/bad
	fails_in_one_line "unknown export" "mount.ninepd: mount p9a on /mnt/bad: No such file or directory" \
		mount.ninepd p9a /mnt/bad -o "$E2E_OPTS,aname=/no/such/export" || return 1
	no_relay_left
}

# The kernel's own reason is on the same line.
t_bad_option() {
	fails_in_one_line "cache=bogus" "mount.ninepd: mount p9a on /mnt/bad: Invalid argument (kernel: 9p: " \
		mount.ninepd p9a /mnt/bad -o "$E2E_OPTS,cache=bogus" || return 1
	no_relay_left
}

t_transport_option() {
	fails_in_one_line "trans=virtio" "mount.ninepd: trans=virtio: mount.ninepd sets the transport itself" \
		mount.ninepd p9a /mnt/bad -o "$E2E_OPTS,trans=virtio"
}

P9A_SESSIONS=$((P9A_SESSIONS + 1))
check mount-t-ninepd t_mount_t_ninepd
P9A_SESSIONS=$((P9A_SESSIONS + 1))
check mount-t-ninepd-remount-ro t_mount_t_ninepd_remount_ro
P9A_SESSIONS=$((P9A_SESSIONS + 1))
check port-refused-then-relayed t_port_then_relay
check error-port-busy t_port_busy
umount /mnt/v
P9A_SESSIONS=$((P9A_SESSIONS + 1))
check generic-flags t_generic_flags
check fake-mount t_fake
check error-no-such-port t_no_such_port
check error-host-side-gone t_host_side_gone
check error-server-silent t_server_silent
P9A_SESSIONS=$((P9A_SESSIONS + 1))
check error-unknown-export t_unknown_export
# Linux 6.1 reads cache= after the session has begun.
P9A_SESSIONS=$((P9A_SESSIONS + 1))
check error-bad-option t_bad_option
check error-transport-option t_transport_option
say "E2E-MARK p9a-sessions $P9A_SESSIONS"
unmount_all
