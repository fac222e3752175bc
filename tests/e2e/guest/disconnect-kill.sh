# Scenario "disconnect", first guest: writes without end until the host kills
# QEMU after the mark "writing".
M=/mnt/d
mount_or_abort p9a $M
make_source

(while :; do cat /tmp/src || exit 1; done) >$M/stream &

t_stream_grows() {
	local i=0 size=0
	while [ $i -lt 600 ]; do
		size=$(stat -c %s $M/stream 2>/dev/null || echo 0)
		[ "$size" -ge 8388608 ] && { echo "$size bytes written"; return 0; }
		usleep 100000
		i=$((i + 1))
	done
	echo "only $size bytes after 60 s"
	return 1
}
check stream-grows t_stream_grows
say "E2E-MARK writing"
# The host kills QEMU now; E2E-DONE must not come.
sleep 600
