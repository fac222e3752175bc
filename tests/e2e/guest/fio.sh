# Scenario "fio": short sequential and random read/write jobs (cache=none).
M=/mnt/fio
mount_or_abort p9a $M

# fio_job NAME RW BS [OPTION...]: one job on the same 8 MiB file; fails on
# any error (a verify mismatch included).
fio_job() {
	local out rc name=$1 rw=$2 bs=$3
	shift 3
	out=$(fio --name="$name" --filename=$M/fio.dat --rw="$rw" --bs="$bs" --size=8m \
		--ioengine=psync --runtime=20 --thread "$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || ! echo "$out" | grep -q 'err= 0'; then
		echo "fio exit $rc: $(echo "$out" | grep -i -e err -e error | head -n 5)"
		return 1
	fi
	echo "$out" | grep -E '^ +(READ|WRITE):' | sed 's/^ *//; s/ (.*//' | tr '\n' ' '
}

# The write jobs read back and check what they wrote.
check fio-seq-write fio_job seq-write write 128k --verify=crc32c
check fio-seq-read fio_job seq-read read 128k
check fio-rand-write fio_job rand-write randwrite 4k --verify=crc32c
check fio-rand-read fio_job rand-read randread 4k
unmount_all
