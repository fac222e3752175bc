#!/bin/sh
# /init of the e2e guest (busybox).  Loads the modules, runs the scenario that
# run-guest.py appended as /e2e/main.sh and powers off.  Results go to the
# second serial port (ttyS1) so that kernel messages on the console (ttyS0)
# never split a marker line; lib.sh echoes them on the console as well.
export PATH=/sbin:/bin TZ=UTC0 HOME=/
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
exec </dev/null

for m in $(cat /modules/order); do
	insmod "/modules/$m.ko" || echo "E2E-ERROR insmod $m" >/dev/ttyS1
done
echo "E2E-MARK booted" >/dev/ttyS1

if [ -f /e2e/main.sh ]; then
	cd /e2e && sh /e2e/main.sh
	echo "E2E-DONE rc=$?" >/dev/ttyS1
else
	echo "E2E-ERROR no /e2e/main.sh in the initramfs" >/dev/ttyS1
fi
sync
poweroff -f
