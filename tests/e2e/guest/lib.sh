# Shared by the guest scripts (busybox sh); sourced by the generated /e2e/main.sh
# after /e2e/env, which sets E2E_OPTS (the 9p mount options every mount gets,
# aname included) and E2E_RELAY (mount.ninepd or fifo).
#
# Result lines go to ttyS1, which run-guest.py parses:
#   E2E-CHECK <name> PASS|FAIL <detail>   one per check
#   E2E-MARK <word>                       a point the host may act on
#   E2E-HOSTFILE <path in export> <md5>   the host checks the file it sees
#   E2E-ERROR <text>                      the scenario could not run
# init.sh adds E2E-DONE once the scenario returns.

RESULTS=/dev/ttyS1

say() {
	echo "$*" >"$RESULTS"
	echo "$*" >/dev/console
}

# check NAME COMMAND...: runs COMMAND, a function that returns non-zero on
# failure and prints why (or, on success, a short detail), and reports it as
# the check $CHECK_PREFIX$NAME.  Checks run in a subshell: none can change
# the state of the next one except through files.
check() {
	local name="$CHECK_PREFIX$1" out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	out=$(printf '%s' "$out" | tr '\n\t' '  ' | cut -c 1-400)
	if [ $rc -eq 0 ]; then
		say "E2E-CHECK $name PASS $out"
	else
		say "E2E-CHECK $name FAIL $out"
	fi
	return $rc
}

# expect WHAT GOT WANT: fails, saying both values, when GOT is not WANT.
expect() {
	[ "$2" = "$3" ] && return 0
	echo "$1: got '$2', want '$3'"
	return 1
}

# fails_with WHAT TEXT COMMAND...: COMMAND must fail and say TEXT (strerror).
fails_with() {
	local what="$1" text="$2" out
	shift 2
	if out=$("$@" 2>&1); then
		echo "$what: succeeded, want failure '$text'"
		return 1
	fi
	case "$out" in
	*"$text"*) return 0 ;;
	esac
	echo "$what: failed with '$out', want '$text'"
	return 1
}

md5() { md5sum "$@" | cut -d' ' -f1; }

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# port_dev NAME: the /dev node of the virtio-serial port called NAME.
port_dev() {
	local f
	for f in /sys/class/virtio-ports/*/name; do
		if [ "$(cat "$f")" = "$1" ]; then
			f=${f%/name}
			echo "/dev/${f##*/}"
			return 0
		fi
	done
	echo "no virtio port named $1" >&2
	return 1
}

# e2e_mount PORT DIR [OPTIONS]: mounts the server behind PORT on DIR with
# $E2E_OPTS plus OPTIONS.
e2e_mount() {
	local port="$1" dir="$2" opts="$E2E_OPTS${3:+,$3}" dev
	mkdir -p "$dir"
	if [ "$E2E_RELAY" = fifo ]; then
		# trans=fd cannot use the port itself (no read_iter/write_iter in
		# virtio_console on 6.1): two cats relay it through two FIFOs.  The
		# port is opened once, as it admits only one opener.
		dev=$(port_dev "$port") || return 1
		mkfifo "/tmp/$port.in" "/tmp/$port.out"
		eval "exec 5<>$dev"
		# Their stderr must not be the pipe of check's $(...), which would
		# then wait for them to exit.
		cat <&5 >"/tmp/$port.in" 2>/dev/null &
		cat "/tmp/$port.out" >&5 2>/dev/null &
		exec 5>&-
		mount -t 9p -o "trans=fd,rfdno=3,wfdno=4,$opts" "$port" "$dir" \
			3<>"/tmp/$port.in" 4<>"/tmp/$port.out"
	else
		mount.ninepd "$port" "$dir" -o "$opts"
	fi
}

# mount_or_abort PORT DIR [OPTIONS]: a failed mount is reported as a check
# and ends the scenario, since no later check could run.
mount_or_abort() {
	if ! check "mount$(echo "$2" | tr / -)" e2e_mount "$@"; then
		say "E2E-ERROR mount of $1 on $2 failed"
		exit 1
	fi
}

# A 4 MiB random file in the guest's RAM that the data checks copy from.
make_source() {
	[ -f /tmp/src ] || dd if=/dev/urandom of=/tmp/src bs=1M count=4 2>/dev/null
}

# Unmounts every 9p mount; with mount.ninepd the relays must then exit.
t_unmount_all() {
	local m i=0
	for m in $(awk '$3 == "9p" { print $2 }' /proc/mounts); do
		umount "$m" || return 1
	done
	[ "$E2E_RELAY" = fifo ] && return 0
	while pidof mount.ninepd >/dev/null && [ $i -lt 50 ]; do
		usleep 100000
		i=$((i + 1))
	done
	pidof mount.ninepd >/dev/null && { echo "relay still running after umount"; return 1; }
	echo "relays exited"
}

unmount_all() {
	CHECK_PREFIX= check umount t_unmount_all
}

# Benchmark rounds (relay-bench, fio-bench): rotated ROUND ITEM... prints
# the items rotated left by ROUND - 1, so each round starts with another.
rotated() {
	local round=$1 i=1 first
	shift
	while [ $i -lt "$round" ]; do
		first=$1
		shift
		set -- "$@" "$first"
		i=$((i + 1))
	done
	echo "$@"
}

# bench_result OK: counts one job's result (OK is 0 for success) for
# bench_check, which reports the counts as check NAME at the end.
DONE_JOBS=0 FAILED_JOBS=0
bench_result() {
	DONE_JOBS=$((DONE_JOBS + 1))
	[ "$1" = 0 ] || FAILED_JOBS=$((FAILED_JOBS + 1))
}
t_bench_done() {
	echo "$DONE_JOBS results, $FAILED_JOBS failed"
	[ $FAILED_JOBS -eq 0 ] && [ $DONE_JOBS -gt 0 ]
}
bench_check() {
	check "$1" t_bench_done
}
