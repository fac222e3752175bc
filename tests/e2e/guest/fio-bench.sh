# Scenario "fio-bench" (by hand, not in meson; scripts/bench-guest.sh runs
# it): the same fio jobs against ninepd (port p9a), diod (port p9b, both
# through mount.ninepd) and QEMU's own virtio-9p (mount tag p9v), all three
# serving the same host directory, in E2E_BENCH_ROUNDS rounds.  Each round
# mounts every entry of E2E_BENCH_CONFIGS (SERVER@MSIZE, set by
# run-guest.py) in turn, runs the jobs in one fio process and unmounts; the
# order rotates from round to round.  One "E2E-BENCH" line per job and an
# "E2E-MARK msize SERVER@MSIZE N" line per mount with the msize the kernel
# negotiated; run-guest.py prints the medians and the same-round ratios.
M=/mnt/bench
mkdir -p $M
SECS=${E2E_BENCH_SECS:-3}
NRFILES=${E2E_BENCH_FILES:-200}
JOBS="seqwrite seqread randwrite randread create stat delete"

bench_mount() {
	local opts="version=9p2000.L,cache=none,msize=${1#*@}"
	case "$1" in
	ninepd@*) mount.ninepd p9a $M -o "$opts" ;;
	diod@*) mount.ninepd p9b $M -o "$opts,aname=$E2E_EXPORT" ;;
	virtio-9p@*) mount -t 9p -o "trans=virtio,$opts" p9v $M ;;
	*) echo "unknown server in $1" >&2; return 1 ;;
	esac
}

# The msize the client settled on: /proc/mounts shows it unless it is the
# kernel's default of 128 KiB.
negotiated_msize() {
	awk -v m=$M '$2 == m && $3 == "9p" {
		n = split($4, o, ",")
		for (i = 1; i <= n; i++) if (o[i] ~ /^msize=/) { print substr(o[i], 7); exit }
		print 131072; exit
	}' /proc/mounts
}

# Unmounts and waits for mount.ninepd's relay to let go of the port.
bench_umount() {
	local i=0
	umount $M || return 1
	while pidof mount.ninepd >/dev/null && [ $i -lt 50 ]; do
		usleep 100000
		i=$((i + 1))
	done
}

# bench_fio DIR: every job of $JOBS one after the other (stonewall) in DIR;
# prints "JOB KiB/s IOPS error" per job.  The data jobs share one 32 MiB
# file; the metadata jobs create, stat and delete $NRFILES files of 4 KiB
# (filecreate makes them empty; IOPS is files per second).
bench_fio() {
	local meta="--filename_format=meta.\$filenum --nrfiles=$NRFILES --filesize=4k --bs=4k --openfiles=1"
	local data="--filename=bench.dat --size=32m --ioengine=psync --runtime=$SECS --time_based"
	# --minimal: field 3 is the job, 5 the error, 7-8 read KiB/s and IOPS,
	# 48-49 write.
	fio --minimal --directory="$1" \
		--name=seqwrite --stonewall $data --rw=write --bs=1m \
		--name=seqread --stonewall $data --rw=read --bs=1m \
		--name=randwrite --stonewall $data --rw=randwrite --bs=4k \
		--name=randread --stonewall $data --rw=randread --bs=4k \
		--name=create --stonewall $meta --ioengine=filecreate \
		--name=stat --stonewall $meta --ioengine=filestat \
		--name=delete --stonewall $meta --ioengine=filedelete 2>/dev/null |
		awk -F';' '$1 == 3 { if ($7 > 0) print $3, $7, $8, $5; else print $3, $48, $49, $5 }'
}

round=1
while [ $round -le "$E2E_BENCH_ROUNDS" ]; do
	for cfg in $(rotated $round $E2E_BENCH_CONFIGS); do
		if ! out=$(bench_mount "$cfg" 2>&1); then
			say "E2E-ERROR mount of $cfg failed: $out"
			exit 1
		fi
		say "E2E-MARK msize $cfg $(negotiated_msize)"
		# A directory of its own per server and msize, in the shared export.
		dir=$M/fio-bench-${cfg%@*}-${cfg#*@}
		mkdir -p "$dir"
		res=$(bench_fio "$dir")
		for job in $JOBS; do
			line=$(echo "$res" | awk -v j=$job '$1 == j { print $2, $3, $4; exit }')
			say "E2E-BENCH round=$round server=$cfg job=$job ${line:-0 0 fio-failed}"
			bench_result "${line##* }"
		done
		bench_umount || { say "E2E-ERROR umount after $cfg failed"; exit 1; }
	done
	round=$((round + 1))
done

bench_check fio-bench
