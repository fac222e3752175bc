# Scenario "fio": short sequential and random read/write jobs (cache=none).
M=/mnt/fio
mount_or_abort p9a $M

# fio_job NAME RW BS: one job on the same 8 MiB file; fails on any error.
fio_job() {
	local out rc
	out=$(fio --name="$1" --filename=$M/fio.dat --rw="$2" --bs="$3" --size=8m \
		--ioengine=psync --runtime=20 --thread 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || ! echo "$out" | grep -q 'err= 0'; then
		echo "fio exit $rc: $(echo "$out" | grep -i -e err -e error | head -n 5)"
		return 1
	fi
	echo "$out" | grep -E '^ +(READ|WRITE):' | sed 's/^ *//; s/, io=.*//'
}

check fio-seq-write fio_job seq-write write 128k
check fio-seq-read fio_job seq-read read 128k
check fio-rand-write fio_job rand-write randwrite 4k
check fio-rand-read fio_job rand-read randread 4k
unmount_all
