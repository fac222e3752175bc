# Scenario "vsock-loopback": everything inside the guest.  ninepd (the binary
# under test with its shared libraries, which run-guest.py appends as
# /bin/ninepd) serves a tmpfs on vsock ports, and mount.ninepd mounts it over
# vsock_loopback (CID 1, VMADDR_CID_LOCAL) with the socket itself as trans=fd:
# no relay, so no mount.ninepd process may be left.  The host has no
# /dev/vhost-vsock, so host-to-guest vsock cannot run here; loopback is the
# same AF_VSOCK stack on both ends, with the loopback transport between.
#
# Before the mounts: mount.ninepd's one-line errors without vsock in the
# kernel, without a transport, for a bad address, a port nobody listens on
# and a server that accepts and never answers; a peer outside a listener's
# allow list refused (and logged once).  After them: ninepd started by
# socket activation on a vsock socket, and ninepd's clean exit.
. ./core.sh
. ./extras.sh

PORT=5640        # the export, every peer
ALLOW_PORT=5641  # the export, CID 3 only: this guest's CID 1 is refused
SILENT_PORT=5642 # e2e-tool vsock-silent: accepts and never answers
ACT_PORT=5643    # socket activation (e2e-tool vsock-activate)
DEAD_PORT=5699   # nothing listens
EXPORT=/srv/export
LOG=/tmp/ninepd.log

# The core suite announces files for the host to check (E2E-HOSTFILE); the
# export is the guest's here, so the guest checks them at the end.
say() {
	case "$*" in
	E2E-HOSTFILE*)
		echo "${*#E2E-HOSTFILE }" >>/tmp/server-files
		return 0
		;;
	esac
	echo "$*" >"$RESULTS"
	echo "$*" >/dev/console
}

# wait_for FILE TEXT SECONDS: until FILE holds TEXT.
wait_for() {
	local i=0
	while ! grep -q "$2" "$1" 2>/dev/null && [ $i -lt $(($3 * 10)) ]; do
		usleep 100000
		i=$((i + 1))
	done
	grep -q "$2" "$1" 2>/dev/null
}

not_mounted() {
	! grep -q " $1 " /proc/mounts || { echo "$1 is mounted"; return 1; }
}

no_mount_ninepd() {
	! pidof mount.ninepd >/dev/null || { echo "mount.ninepd still running: pid $(pidof mount.ninepd)"; return 1; }
}

say "E2E-MARK ninepd-md5 $(md5 /bin/ninepd)"
mkdir -p /mnt/x "$EXPORT"
mount -t tmpfs -o size=96m export "$EXPORT"

t_no_vsock() {
	fails_with "mount with no vsock module" "this kernel has no vsock" \
		mount.ninepd vsock:1:$PORT /mnt/x
}
check error-no-vsock-in-the-kernel t_no_vsock

insmod /modules/vsock.ko || say "E2E-ERROR insmod vsock"
t_no_transport() {
	fails_with "mount with vsock but no transport" "no vsock transport reaches CID 1" \
		mount.ninepd vsock:1:$PORT /mnt/x
}
check error-no-vsock-transport t_no_transport

for m in $(cat /modules/vsock-order); do
	[ "$m" = vsock ] || insmod "/modules/$m.ko" || say "E2E-ERROR insmod $m"
done

# The vsock integration tests (tests/integration/test-vsock.c), which the
# host skips for want of vsock_loopback: here all run but the one that
# needs its absence.
t_integration_tests() {
	local rc
	# Criterion keeps its arena in shared memory.
	mkdir -p /dev/shm
	grep -q " /dev/shm " /proc/mounts || mount -t tmpfs shm /dev/shm || return 1
	NINEPD=/bin/ninepd /bin/test-integration-vsock --jobs 1 --verbose >/tmp/integration.log 2>&1
	rc=$?
	if [ $rc -ne 0 ] || ! grep -q "Tested: 6 | Passing: 6 | Failing: 0 | Crashing: 0" \
		/tmp/integration.log; then
		echo "exit $rc: $(grep -e FAIL -e SKIP -e Synthesis /tmp/integration.log | head -n 8)"
		return 1
	fi
	grep -o "Synthesis: .*" /tmp/integration.log
	grep "^SKIP" /tmp/integration.log
}
if [ -n "$E2E_VSOCK_TEST" ]; then
	check integration-vsock-tests-in-the-guest t_integration_tests
else
	echo "vsock integration tests not given (run-guest.py --vsock-test)" >/dev/console
fi

# The daemon: -v for the connect and close lines checked below; the
# guest's root is an initramfs, which pivot_root cannot leave: the sandbox
# is entered with chroot, asked for explicitly here (the default falls back
# to it by itself, as the integration tests above show).
ninepd -v --sandbox chroot -l vsock:$PORT -l "vsock:$ALLOW_PORT,allow=3" -e "$EXPORT" >$LOG 2>&1 &
NINEPD=$!
t_listening() {
	wait_for $LOG "ready" 60 || { echo "ninepd not ready after 60 s: $(tail -n 3 $LOG)"; return 1; }
	grep "listening on vsock:$PORT " $LOG | grep -q "this machine is CID 1; every peer CID" ||
		{ echo "no listening line for vsock:$PORT: $(grep listening $LOG)"; return 1; }
	grep -q "listening on vsock:$ALLOW_PORT,allow=3 (.*peer CIDs 3)" $LOG ||
		{ echo "no listening line for the allow list: $(grep listening $LOG)"; return 1; }
	grep -q "sandbox: chroot: a new root" $LOG ||
		{ echo "no chroot sandbox line: $(grep sandbox $LOG)"; return 1; }
	grep "listening on vsock:$PORT" $LOG | cut -c 14-
}
check ninepd-listens-on-vsock t_listening || { say "E2E-ERROR ninepd did not start"; exit 1; }

t_bad_address() {
	fails_with "vsock:1:x" "bad vsock address 'vsock:1:x' (accepted: vsock:CID:PORT" \
		mount.ninepd vsock:1:x /mnt/x || return 1
	fails_with "port 0" "bad vsock address" mount.ninepd vsock:1:0 /mnt/x
}
check error-bad-address t_bad_address

t_nothing_listens() {
	fails_with "nothing on the port" "nothing listens on vsock port $DEAD_PORT of CID 1" \
		mount.ninepd vsock:1:$DEAD_PORT /mnt/x
}
check error-nothing-listens t_nothing_listens

rm -f /tmp/silent-ready
e2e-tool vsock-silent $SILENT_PORT /tmp/silent-ready >/dev/null 2>&1 &
SILENT=$!
t_silent_server() {
	local start end
	[ -e /tmp/silent-ready ] || usleep 500000
	start=$(date +%s)
	fails_with "a server that never answers" "no answer from the server within 2 s" \
		mount.ninepd vsock:1:$SILENT_PORT /mnt/x -o connect_timeout=2 || return 1
	end=$(date +%s)
	[ $((end - start)) -le 8 ] || { echo "took $((end - start)) s for connect_timeout=2"; return 1; }
	not_mounted /mnt/x && no_mount_ninepd && echo "failed after $((end - start)) s, nothing left"
}
check error-server-never-answers t_silent_server
kill $SILENT
wait $SILENT

# Refused twice, logged once.
t_refused_peer() {
	local n
	mount.ninepd vsock:1:$ALLOW_PORT /mnt/x -o "$E2E_OPTS" 2>/tmp/refused.1 &&
		{ echo "mounted through a listener that refuses CID 1"; umount /mnt/x; return 1; }
	mount.ninepd vsock:1:$ALLOW_PORT /mnt/x -o "$E2E_OPTS" 2>/tmp/refused.2 &&
		{ echo "mounted the second time"; umount /mnt/x; return 1; }
	grep -q "the server closed the connection before answering: is CID 1 in the listener's allow=?" \
		/tmp/refused.1 || { echo "mount.ninepd said: $(cat /tmp/refused.1)"; return 1; }
	n=$(grep -c "vsock:$ALLOW_PORT,allow=3: refusing peer CID 1: not in the allow list" $LOG)
	expect "log lines for two refused connections of CID 1" "$n" 1 || return 1
	not_mounted /mnt/x || return 1
	echo "mount.ninepd said: $(cat /tmp/refused.1)"
}
check allow-list-refuses-cid-1-logged-once t_refused_peer

# The mounts: mount.ninepd connects, mounts and exits.
mount_or_abort vsock:1:$PORT /mnt/none locktimeout=1
mount_or_abort vsock:1:$PORT /mnt/second locktimeout=1

t_no_relay() {
	local line
	no_mount_ninepd || return 1
	line=$(grep " /mnt/none 9p " /proc/mounts)
	case "$line" in
	"vsock:1:$PORT /mnt/none 9p "*trans=fd*) ;;
	*) echo "/proc/mounts: $line"; return 1 ;;
	esac
	# The socket is the kernel's alone: no process has a vsock socket open
	# but ninepd (its listeners and accepted connections).
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = "$NINEPD" ] && continue
		ls -l "$p/fd" 2>/dev/null | grep -q "socket:" &&
			{ echo "process ${p#/proc/} ($(cat "$p/comm")) holds a socket"; return 1; }
	done
	echo "$line"
}
check no-process-left-after-mount t_no_relay

CHECK_PREFIX=none/
core_suite /mnt/none core-none

CHECK_PREFIX=
# mount(8) runs /sbin/mount.ninepd with the vsock address as the source.
t_mount_helper() {
	mkdir -p /mnt/helper
	mount -t ninepd vsock:1:$PORT /mnt/helper -o "$E2E_OPTS" || return 1
	expect "a file through mount -t ninepd" "$(cat /mnt/helper/core-none/append | tr '\n' ' ')" \
		"one two three " || { umount /mnt/helper; return 1; }
	umount /mnt/helper && no_mount_ninepd
}
check mount-t-ninepd-vsock t_mount_helper

M=/mnt/none
M2=/mnt/second
check lock-fcntl-same-mount t_lock_same_mount
check flock-same-mount t_flock_same_mount
check lock-fcntl-two-mounts t_lock_two_mounts
check lock-getlk-two-mounts t_getlk_two_mounts

t_server_files() {
	local path want got n=0
	[ -s /tmp/server-files ] || { echo "the suite announced no file"; return 1; }
	while read -r path want; do
		got=$(md5 "$EXPORT/$path") || return 1
		expect "md5 of $EXPORT/$path" "$got" "$want" || return 1
		n=$((n + 1))
	done </tmp/server-files
	echo "$n files as the client wrote them"
}
check server-side-sees-the-files t_server_files

unmount_all

# Every connection of the mounts ends with the unmount.
t_connections_closed() {
	local i=0 id open
	while [ $i -lt 50 ]; do
		open=0
		for id in $(sed -n "s/.*client \([0-9]*\): connected on vsock:$PORT from CID 1$/\1/p" $LOG); do
			grep -q "client $id: closed" $LOG || open=$((open + 1))
		done
		[ $open -eq 0 ] && break
		usleep 100000
		i=$((i + 1))
	done
	[ $open -eq 0 ] || { echo "$open connections still open after the unmount"; return 1; }
	echo "$(grep -c "connected on vsock:$PORT from CID 1" $LOG) connections, all closed"
}
check server-closed-every-connection t_connections_closed

# systemd's ListenStream=vsock::PORT: the socket on fd 3.
e2e-tool vsock-activate $ACT_PORT -- /bin/ninepd -e "$EXPORT" >/tmp/activated.log 2>&1 &
ACTIVATED=$!
t_activation() {
	wait_for /tmp/activated.log "ready" 60 ||
		{ echo "not ready after 60 s: $(tail -n 3 /tmp/activated.log)"; return 1; }
	grep -q "listening on systemd:fd3 (socket activation: vsock port $ACT_PORT of every local CID" \
		/tmp/activated.log || { echo "log: $(grep listening /tmp/activated.log)"; return 1; }
	mkdir -p /mnt/act
	mount.ninepd vsock:1:$ACT_PORT /mnt/act -o "$E2E_OPTS" || return 1
	expect "a file through the activated socket" "$(cat /mnt/act/core-none/append | tr '\n' ' ')" \
		"one two three " || { umount /mnt/act; return 1; }
	umount /mnt/act || return 1
	no_mount_ninepd && echo "mounted and read through the passed socket"
}
check socket-activation-on-vsock t_activation

# The daemons are this shell's children: stopped here, judged in the check.
kill -TERM $NINEPD $ACTIVATED
wait $NINEPD
NINEPD_STATUS=$?
wait $ACTIVATED
ACTIVATED_STATUS=$?
t_clean_exit() {
	local log
	expect "ninepd's exit status after SIGTERM" $NINEPD_STATUS 0 || return 1
	expect "the activated ninepd's exit status after SIGTERM" $ACTIVATED_STATUS 0 || return 1
	for log in $LOG /tmp/activated.log; do
		if grep -q -e "AddressSanitizer" -e "LeakSanitizer" -e "runtime error:" "$log"; then
			echo "sanitizer report in $log: $(grep -m 1 -e Sanitizer -e 'runtime error:' "$log")"
			return 1
		fi
	done
	no_mount_ninepd && echo "both exited with 0, no sanitizer report"
}
check ninepd-exits-cleanly t_clean_exit

# For whoever reads console-0.log after a failure.
for log in $LOG /tmp/activated.log /tmp/integration.log; do
	[ -f $log ] && sed "s|^|$log: |" $log >/dev/console
done
