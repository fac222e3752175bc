# Checks beyond the core suite: xattrs, locks, symlink confinement.  They use
# the variables of the scenario script: M (a mount) and, for the locks, M2
# (a second mount of the same export over another connection).

t_xattr() {
	local f="$M/xattr"
	echo x >"$f" || return 1
	expect set "$(e2e-tool xattr set "$f" user.e2e hello)" ok || return 1
	expect get "$(e2e-tool xattr get "$f" user.e2e)" hello || return 1
	local big
	big=$(head -c 3000 /dev/zero | tr '\0' v)
	expect "set 3000 bytes" "$(e2e-tool xattr set "$f" user.big "$big")" ok || return 1
	expect "get 3000 bytes" "$(e2e-tool xattr get "$f" user.big | md5sum)" "$(echo "$big" | md5sum)" || return 1
	expect list "$(e2e-tool xattr list "$f" | grep '^user\.' | LC_ALL=C sort | tr '\n' ' ')" "user.big user.e2e " || return 1
	expect remove "$(e2e-tool xattr remove "$f" user.e2e)" ok || return 1
	expect "get removed" "$(e2e-tool xattr get "$f" user.e2e)" "error: No data available" || return 1
	mkdir "$M/xattr-dir" || return 1
	expect "set on a directory" "$(e2e-tool xattr set "$M/xattr-dir" user.d dirval)" ok || return 1
	expect "get on a directory" "$(e2e-tool xattr get "$M/xattr-dir" user.d)" dirval
}

# start_holder KIND FILE MODE MS: a background process takes the lock
# (KIND lock or flock, MODE w|r or ex|sh) and holds it MS milliseconds;
# returns once it holds it, with its pid in HOLDER.
start_holder() {
	local i=0
	rm -f /tmp/lock-ready
	e2e-tool "$1" "$2" "$3" wait "$4" /tmp/lock-ready >/tmp/lock-holder &
	HOLDER=$!
	while [ ! -e /tmp/lock-ready ] && [ $i -lt 100 ]; do
		usleep 50000
		i=$((i + 1))
	done
	[ -e /tmp/lock-ready ] || { echo "holder never got the lock: $(cat /tmp/lock-holder)"; return 1; }
}

# lock_conflict KIND FILE_A FILE_B: a holder takes an exclusive lock through
# FILE_A for 2 s; through FILE_B a non-blocking attempt must fail and a
# blocking one must wait for the holder's release.  KIND is lock (fcntl)
# or flock.
lock_conflict() {
	local kind=$1 a=$2 b=$3 ex=w sh=r out waited
	[ "$kind" = flock ] && ex=ex sh=sh
	start_holder "$kind" "$a" $ex 2000 || return 1
	out=$(e2e-tool "$kind" "$b" $ex try)
	expect "exclusive try while held" "$out" "error: Resource temporarily unavailable" || return 1
	out=$(e2e-tool "$kind" "$b" $sh try)
	expect "shared try while held" "$out" "error: Resource temporarily unavailable" || return 1
	out=$(e2e-tool "$kind" "$b" $ex wait)
	wait $HOLDER || { echo "holder failed: $(cat /tmp/lock-holder)"; return 1; }
	waited=${out#locked waited_ms=}
	[ "$waited" != "$out" ] || { echo "blocking lock: $out"; return 1; }
	[ "$waited" -ge 500 ] || { echo "blocking lock did not wait for the holder ($waited ms)"; return 1; }
	out=$(e2e-tool "$kind" "$b" $ex try)
	case "$out" in
	locked*) ;;
	*) echo "try after release: $out"; return 1 ;;
	esac
	echo "second locker waited $waited ms"
}

t_lock_same_mount() {
	echo x >"$M/lockfile" || return 1
	lock_conflict lock "$M/lockfile" "$M/lockfile"
}

t_flock_same_mount() {
	echo x >"$M/flockfile" || return 1
	lock_conflict flock "$M/flockfile" "$M/flockfile"
}

# The two mounts have separate superblocks, so the guest kernel cannot see
# the conflict itself: only the server can refuse the second lock.
t_lock_two_mounts() {
	echo x >"$M/lockfile2" || return 1
	lock_conflict lock "$M/lockfile2" "$M2/lockfile2"
}

# F_GETLK through the second connection reports the lock held through the
# first (Tgetlock).
t_getlk_two_mounts() {
	echo x >"$M/lockfile3" || return 1
	start_holder lock "$M/lockfile3" w 1000 || return 1
	local out
	out=$(e2e-tool getlk "$M2/lockfile3" w)
	wait $HOLDER
	expect "F_GETLK while held" "$out" "locked type=w" || return 1
	expect "F_GETLK after release" "$(e2e-tool getlk "$M2/lockfile3" w)" unlocked
}

# Symlinks in the export that point outside it (made by run-guest.py):
# the guest must see symlinks, and resolve them in its own tree.
t_confinement() {
	local guest_md5
	guest_md5=$(md5 /etc/passwd)
	expect "escape-abs type" "$(stat -c %F "$M/escape-abs")" "symbolic link" || return 1
	expect "escape-abs target" "$(readlink "$M/escape-abs")" /etc/passwd || return 1
	expect "escape-abs size" "$(stat -c %s "$M/escape-abs")" 11 || return 1
	expect "escape-rel target" "$(readlink "$M/escape-rel")" ../../../../../../../../etc/passwd || return 1
	expect "escape-dir type" "$(stat -c %F "$M/escape-dir")" "symbolic link" || return 1
	local f got
	for f in escape-abs escape-rel escape-dir/passwd; do
		got=$(md5 "$M/$f")
		[ "$got" != "$HOST_PASSWD_MD5" ] || { echo "$f reads the host's /etc/passwd"; return 1; }
		expect "$f reads the guest's /etc/passwd" "$got" "$guest_md5" || return 1
	done
	expect "escape-dir lists the guest's /etc" "$(ls "$M/escape-dir/" | tr '\n' ' ')" "group passwd " || return 1
	echo "3 symlinks resolve in the guest"
}
