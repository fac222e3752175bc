# Scenario "relay-bench" (by hand, not in meson): the same fio jobs through
# the FIFO relay and through mount.ninepd, in E2E_BENCH_ROUNDS rounds.  Each
# round mounts every relay of E2E_BENCH_RELAYS (NAME@MSIZE, set by
# run-guest.py) in turn on p9a, runs the four jobs and unmounts; the order
# rotates from round to round.  One "E2E-BENCH" line per job; run-guest.py
# prints the medians and the ratios to the first relay within each round.
M=/mnt/bench
mkdir -p $M

fifo_mount() {
	local dev
	dev=$(port_dev p9a) || return 1
	rm -f /tmp/bench.in /tmp/bench.out
	mkfifo /tmp/bench.in /tmp/bench.out
	eval "exec 5<>$dev"
	cat <&5 >/tmp/bench.in 2>/dev/null &
	CAT_IN=$!
	cat /tmp/bench.out >&5 2>/dev/null &
	CAT_OUT=$!
	exec 5>&-
	mount -t 9p -o "trans=fd,rfdno=3,wfdno=4,$1" p9a $M 3<>/tmp/bench.in 4<>/tmp/bench.out
}

bench_mount() {
	local opts="version=9p2000.L,cache=none,msize=${1#*@}"
	case "$1" in
	fifo@*) fifo_mount "$opts" ;;
	mount.ninepd@*) mount.ninepd p9a $M -o "$opts" ;;
	esac
}

# Unmounts and waits for the relay to let go of the port.
bench_umount() {
	local i=0
	umount $M || return 1
	case "$1" in
	fifo@*)
		# The cat reading the port would hold it until the next byte.
		kill $CAT_IN $CAT_OUT 2>/dev/null
		wait $CAT_IN $CAT_OUT 2>/dev/null
		;;
	*)
		while pidof mount.ninepd >/dev/null && [ $i -lt 50 ]; do
			usleep 100000
			i=$((i + 1))
		done
		;;
	esac
}

# bench_job NAME FIO-OPTION...: prints "KiB/s IOPS error" of the job.
bench_job() {
	local name=$1 out
	shift
	out=$(fio --name="$name" --filename=$M/bench.dat --ioengine=psync --size=64m --minimal "$@" 2>/dev/null) ||
		{ echo "0 0 fio-failed"; return; }
	# --minimal: field 5 is the error, 7-8 read KiB/s and IOPS, 48-49 write.
	echo "$out" | awk -F';' '{ if ($7 > 0) print $7, $8, $5; else print $48, $49, $5 }'
}

round=1
while [ $round -le "$E2E_BENCH_ROUNDS" ]; do
	for relay in $(rotated $round $E2E_BENCH_RELAYS); do
		if ! bench_mount "$relay"; then
			say "E2E-ERROR mount through $relay failed"
			exit 1
		fi
		for job in seqwrite seqread randwrite randread; do
			case $job in
			seqwrite) res=$(bench_job $job --rw=write --bs=1m) ;;
			seqread) res=$(bench_job $job --rw=read --bs=1m) ;;
			randwrite) res=$(bench_job $job --rw=randwrite --bs=4k --runtime=5 --time_based) ;;
			randread) res=$(bench_job $job --rw=randread --bs=4k --runtime=5 --time_based) ;;
			esac
			say "E2E-BENCH round=$round relay=$relay job=$job $res"
			bench_result "${res##* }"
		done
		bench_umount "$relay" || { say "E2E-ERROR umount after $relay failed"; exit 1; }
	done
	round=$((round + 1))
done

bench_check relay-bench
