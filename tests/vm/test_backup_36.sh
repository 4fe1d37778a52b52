#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 1200
# Pull-mode backup (issue #21): dirtylogctl backup begin|end with stock
# QEMU and libnbd tools as the client.
#
# 1. On a 4 KiB-block device: a full backup (no bitmap) copied with
#    nbdcopy equals the frozen snapshot; then, under a writer running
#    while each backup is served (bursts of 48 writes), a
#    chain of three incrementals: each served bitmap, read with
#    "nbdinfo --map=qemu:dirty-bitmap:CKPT", is exactly the blocks of
#    "dirtylogctl dirty --since CKPT --until NEW"; base:allocation is
#    served; "qemu-img map" with x-dirty-bitmap agrees; a pull client (a
#    shell loop of "qemu-img dd" over the dirty extents only) applied to
#    the previous copy gives the snapshot byte for byte (sha256), reading
#    exactly the dirty extents' bytes.
# 2. The same once on a 64 KiB-block device whose length is not a multiple
#    of the block size, served on TCP.
# 3. Failures lose nothing and leave nothing: "backup end --failed", a
#    killed qemu-nbd, and dirtylogctl killed (SIGKILL) while it begins,
#    each followed by "backup end": the checkpoint is gone again, a block
#    written before it is still dirty since the previous checkpoint, and
#    no snapshot, server, socket or state file is left.
# 4. Bad input, refused with nothing left behind: a missing --since, an
#    existing --checkpoint, a socket path that exists, a port in use, a
#    device in the invalid state (with the full-backup hint), a second
#    backup of the same device, "backup end" of a device without one.
#
# Data: dm-linear slices of $DL_DATA; metadata slices of $DL_META.
. "$(dirname "$0")/lib.sh"
t=/tmp/bk36
export DIRTYLOG_BACKUP_DIR=$t/state
trap 'kill $wpid 2>/dev/null; pkill qemu-nbd 2>/dev/null; dl_cleanup; rm -rf $t' EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
modprobe dm-snapshot || exit 1
modprobe loop
ktap_plan 37

rm -rf $t
mkdir -p $t
export TMPDIR=$t
# NBD over TCP needs the loopback interface up.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up

# The JSON field NAME of a one-line object (strings and numbers).
jfield() {		# jfield NAME FILE
	sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" "$2"
}

# Block runs "START COUNT" of "dirtylogctl dirty" (merged where they touch).
dirty_runs() {		# dirty_runs DEV SINCE UNTIL
	dirtylogctl dirty "$1" --since "$2" --until "$3" |
		awk '$1 == "start" { print $2, $4 }' | merge_runs
}

merge_runs() {
	awk '{ s = $1; e = $1 + $2
		if (n && s <= pe) { if (e > pe) pe = e; next }
		if (n) print ps, pe - ps
		ps = s; pe = e; n = 1 } END { if (n) print ps, pe - ps }'
}

# Block runs of nbdinfo's map of a dirty bitmap (TYPE bit 0: dirty).
map_runs() {		# map_runs BLOCK_BYTES < MAP
	awk -v b="$1" '$3 % 2 == 1 { s = int($1 / b); e = int(($1 + $2 + b - 1) / b)
		print s, e - s }' | merge_runs
}

# Block runs that "qemu-img map --output=json" shows as "data": false
# (x-dirty-bitmap turns dirty ranges into holes).
qmap_runs() {		# qmap_runs BLOCK_BYTES < JSON
	tr '{' '\n' | awk -v b="$1" -F'[:,]' '/"start"/ {
		for (i = 1; i < NF; i++) {
			if ($i ~ /"start"/) st = $(i + 1)
			if ($i ~ /"length"/) ln = $(i + 1)
			if ($i ~ /"data"/) d = $(i + 1)
		}
		if (d ~ /false/) { s = int(st / b); e = int((st + ln + b - 1) / b); print s, e - s }
	}' | merge_runs
}

# Pull the dirty runs RUNS from the NBD server SERVER (qemu's options:
# "server.type=unix,server.path=..." or "server.type=inet,...") onto COPY,
# block size BS, device bytes TOTAL; prints the bytes read.  A client of
# its own: QEMU's raw driver reads [offset, offset + size) over NBD.
pull() {		# pull SERVER BS TOTAL RUNS_FILE COPY
	_read=0 _srv=$(echo "$1" | sed 's/server\./file.server./g')
	while read -r _s _c; do
		_off=$((_s * $2)) _len=$((_c * $2))
		[ $((_off + _len)) -gt "$3" ] && _len=$(($3 - _off))
		rm -f $t/piece
		qemu-img convert -O raw --image-opts \
			"driver=raw,offset=$_off,size=$_len,file.driver=nbd,$_srv" $t/piece \
			2>>$t/pull.err || return 1
		_read=$((_read + $(stat -c %s $t/piece)))
		dd if=$t/piece of="$5" bs=$2 seek=$_s conv=notrunc 2>/dev/null || return 1
	done <"$4"
	echo $_read
}

# Nothing of a backup of DEV is left: devices, server, socket, state.
nothing_left() {	# nothing_left DEV
	! dmsetup info "$1.xs" >/dev/null 2>&1 && ! dmsetup info "$1.xo" >/dev/null 2>&1 &&
		! pidof qemu-nbd >/dev/null && [ ! -e "$DIRTYLOG_BACKUP_DIR/$1.state" ] &&
		[ ! -e "$DIRTYLOG_BACKUP_DIR/$1.pid" ] &&
		! dmsetup info -c --noheadings -o attr "$1" | grep -q '[sI]' &&
		[ ! -e "$DIRTYLOG_BACKUP_DIR/$1.sock" ] && [ ! -e "$DIRTYLOG_BACKUP_DIR/$1.qcow2" ] &&
		dmsetup table "$1" | grep -q "dirtylog [^ ]* $(dmsetup info -c --noheadings -o major,minor "${1}x") "
}

has_ckpt() {		# has_ckpt DEV NAME
	dirtylogctl checkpoint list "$1" | grep -q "^$2 "
}

# --- 1. 4 KiB blocks ----------------------------------------------------
sz=$((32 * 2048))
dmsetup create ba36x --table "0 $sz linear $DL_DATA 0" &&
	dmsetup create ba36m --table "0 $((16 * 2048)) linear $DL_META 0" &&
	dmsetup mknodes &&
	dmsetup create ba36 --table "0 $sz dirtylog /dev/mapper/ba36m /dev/mapper/ba36x 8" &&
	dmsetup mknodes
ktap_result $? "create ba36: 32 MiB, 4 KiB blocks"
dev=/dev/mapper/ba36
dd if=/dev/urandom of=$dev bs=1M count=32 oflag=direct 2>/dev/null

dirtylogctl --json backup begin ba36 --checkpoint c0 >$t/b0.json 2>$t/b0.err
uri=$(jfield uri $t/b0.json)
[ -n "$uri" ] && grep -q '"bitmap":null' $t/b0.json && pidof qemu-nbd >/dev/null
ktap_result $? "full backup c0 served at $uri, no bitmap$(head -c 200 $t/b0.err)"
nbdcopy "$uri" $t/copy 2>$t/cp.err
snap=$(dl_sha /dev/mapper/ba36.xs 0 $((32 << 20)))
[ "$(sha256sum <$t/copy | cut -d' ' -f1)" = "$snap" ]
ktap_result $? "nbdcopy of the full backup equals the snapshot$(head -c 200 $t/cp.err)"
dirtylogctl backup end ba36 >$t/e0.out 2>&1 && has_ckpt ba36 c0 && nothing_left ba36
ktap_result $? "backup end keeps c0 and leaves nothing: $(cat $t/e0.out)"

# The writer: bursts of 48 random 4 KiB writes, one started as each
# backup begins, so that it writes while the backup is served and pulled
# (through the snapshot's copy-on-write).  Bursts, not a steady rate: the
# pull spawns a qemu-img per extent, and a steady writer under TCG made
# each interval larger than the last.
burst() {
	fio --name=w --filename=$dev --rw=randwrite --bs=4k --size=32m \
		--direct=1 --ioengine=libaio --iodepth=2 --rate_iops=16 \
		--number_ios=48 --randrepeat=0 >/dev/null 2>&1 &
	wpid=$!
}
burst
wait $wpid
prev=c0
for i in 1 2 3; do
	new=c$i
	dirtylogctl --json backup begin ba36 --since $prev --checkpoint $new >$t/b$i.json 2>$t/b$i.err
	wait $wpid 2>/dev/null
	burst
	uri=$(jfield uri $t/b$i.json)
	ctx=$(jfield context $t/b$i.json)
	[ -n "$uri" ] && [ "$ctx" = "qemu:dirty-bitmap:$prev" ]
	ktap_result $? "incremental $new since $prev: context $ctx$(head -c 200 $t/b$i.err)"
	dirty_runs ba36 $prev $new >$t/want
	nbdinfo --map="$ctx" "$uri" 2>&1 | tee $t/map.raw | map_runs 4096 >$t/got
	nbdinfo --map "$uri" | awk '{ t += $2 } END { print t }' >$t/alloc
	if cmp -s $t/want $t/got && [ -s $t/want ] && [ "$(cat $t/alloc)" = $((32 << 20)) ]; then
		ktap_result 0 "$new: nbdinfo's qemu:dirty-bitmap is the dirty map ($(wc -l <$t/want) runs); base:allocation covers the device"
	else
		diff $t/want $t/got | head -5 | sed 's/^/# /'
		head -3 $t/map.raw | sed 's/^/# map: /'
		ktap_result 1 "$new: nbdinfo's qemu:dirty-bitmap is the dirty map; base:allocation $(cat $t/alloc)"
	fi
	srv=server.type=unix,server.path=${uri#*socket=}
	if [ $i = 1 ]; then
		qemu-img map --output=json --image-opts \
			"driver=nbd,$srv,x-dirty-bitmap=$ctx" \
			2>&1 | qmap_runs 4096 >$t/qgot
		cmp -s $t/want $t/qgot
		ktap_result $? "$new: qemu-img map with x-dirty-bitmap agrees"
	fi
	read_bytes=$(pull "$srv" 4096 $((32 << 20)) $t/want $t/copy)
	want_bytes=$(awk '{ t += $2 * 4096 } END { print t }' $t/want)
	snap=$(dl_sha /dev/mapper/ba36.xs 0 $((32 << 20)))
	[ -n "$read_bytes" ] && [ "$read_bytes" = "$want_bytes" ] &&
		[ "$(sha256sum <$t/copy | cut -d' ' -f1)" = "$snap" ]
	ktap_result $? "$new: the pull of the dirty extents ($read_bytes of $((32 << 20)) bytes) onto the previous copy equals the snapshot$(tail -c 200 $t/pull.err 2>/dev/null)"
	dirtylogctl --json backup end ba36 >$t/e$i.json 2>&1 &&
		grep -q '"rolled_back":false' $t/e$i.json && has_ckpt ba36 $new && nothing_left ba36
	ktap_result $? "$new: backup end keeps the checkpoint, leaves nothing"
	prev=$new
done
wait $wpid 2>/dev/null
# The documented example (Documentation/examples/pull-backup.sh), with
# the writer stopped: the copy then equals the live device.
ex=$(cd "$(dirname "$0")/../examples" && pwd)
got=$(sh $ex/pull-backup.sh ba36 c4 $t/copy c3 2>$t/ex.err)
[ -n "$got" ] && has_ckpt ba36 c4 && nothing_left ba36 &&
	[ "$(sha256sum <$t/copy | cut -d' ' -f1)" = "$(dl_sha $dev 0 $((32 << 20)))" ]
ktap_result $? "pull-backup.sh c3..c4 ($got bytes) gives the device's content$(head -c 200 $t/ex.err)"

# --- 3. Failures --------------------------------------------------------
# A block written before the failed backup must stay dirty since c4.
marked() {		# marked BLOCK: is BLOCK dirty since c4 now?
	dirtylogctl dirty ba36 --since c4 | awk -v b="$1" \
		'$1 == "start" && b >= $2 && b < $2 + $4 { f = 1 } END { exit !f }'
}
dd if=/dev/urandom of=$dev bs=4k seek=1001 count=1 oflag=direct 2>/dev/null
dirtylogctl backup begin ba36 --since c4 --checkpoint f1 >/dev/null 2>$t/f1.err &&
	has_ckpt ba36 f1 && dirtylogctl --json backup end ba36 --failed >$t/f1.json 2>&1 &&
	grep -q '"rolled_back":true' $t/f1.json
ktap_result $? "backup end --failed deletes f1 again$(head -c 200 $t/f1.err)"
! has_ckpt ba36 f1 && marked 1001 && nothing_left ba36
ktap_result $? "... block 1001, written before f1, is still dirty since c4; nothing left"

dd if=/dev/urandom of=$dev bs=4k seek=1002 count=1 oflag=direct 2>/dev/null
dirtylogctl --json backup begin ba36 --since c4 --checkpoint f2 >$t/f2.json 2>&1
pid=$(jfield server_pid $t/f2.json)
[ -n "$pid" ] && kill -9 "$pid"
sleep 1
dirtylogctl --json backup end ba36 >$t/f2e.json 2>&1 &&
	grep -q '"server_was_dead":true' $t/f2e.json && grep -q '"rolled_back":true' $t/f2e.json
ktap_result $? "qemu-nbd killed: backup end sees the dead server and deletes f2 again"
! has_ckpt ba36 f2 && marked 1001 && marked 1002 && nothing_left ba36
ktap_result $? "... blocks 1001 and 1002 still dirty since c4; nothing left"

# dirtylogctl killed while it begins, at several moments.
rc=0
for d in 0.05 0.1 0.2 0.3 0.5 0.8 1 1.5 2 3; do
	dirtylogctl backup begin ba36 --since c4 --checkpoint k1 >/dev/null 2>&1 &
	bpid=$!
	sleep $d
	kill -9 $bpid 2>/dev/null
	wait $bpid 2>/dev/null
	state=none
	[ -e $DIRTYLOG_BACKUP_DIR/ba36.state ] && state=kept
	if [ $state = kept ]; then
		dirtylogctl backup end ba36 --failed >$t/k.out 2>&1 || { rc=1; cat $t/k.out | sed 's/^/# /'; }
	fi
	if has_ckpt ba36 k1 || ! marked 1001 || ! nothing_left ba36; then
		ktap_diag "killed after ${d}s (state $state): something was left or lost"
		ktap_diag "k1: $(has_ckpt ba36 k1 && echo exists || echo gone)," \
			"1001 $(marked 1001 && echo marked || echo LOST)," \
			"attr $(dmsetup info -c --noheadings -o attr ba36)," \
			"qemu-nbd $(pidof qemu-nbd), files: $(ls $DIRTYLOG_BACKUP_DIR)"
		dmsetup table | sed 's/^/# /'
		rc=1
		# Leave a clean device for the next round.
		dirtylogctl checkpoint delete ba36 k1 >/dev/null 2>&1
	else
		ktap_diag "killed after ${d}s: state $state, cleaned up"
	fi
done
ktap_result $rc "dirtylogctl SIGKILLed during begin: backup end --failed cleans up, no checkpoint, nothing lost"

# --- 4. Bad input -------------------------------------------------------
refused() {		# refused EXPECTED_EXIT GREP DESC -- begin args...
	_x=$1 _g=$2 _d=$3
	shift 4
	dirtylogctl backup begin "$@" >$t/bad.out 2>$t/bad.err
	_st=$?
	if [ $_st = "$_x" ] && grep -q "$_g" $t/bad.err && ! has_ckpt ba36 n1 && nothing_left ba36; then
		ktap_result 0 "$_d refused (exit $_st): $(head -c 150 $t/bad.err)"
	else
		ktap_diag "exit $_st: $(cat $t/bad.err)"
		ktap_result 1 "$_d refused, nothing left"
	fi
}
refused 3 "no checkpoint 'nosuch'" "a missing --since" -- ba36 --since nosuch --checkpoint n1
refused 1 "exists already" "an existing --checkpoint" -- ba36 --since c2 --checkpoint c4
touch $t/taken.sock
refused 1 "exists" "a socket path that exists" -- ba36 --since c4 --checkpoint n1 --socket $t/taken.sock
nc -l -p 10809 >/dev/null 2>&1 &
ncpid=$!
sleep 1
refused 1 "in use" "a port in use" -- ba36 --since c4 --checkpoint n1 --port 10809
kill $ncpid 2>/dev/null
dirtylogctl backup begin ba36 --since c4 --checkpoint n1 >/dev/null 2>&1 &&
	dirtylogctl backup begin ba36 --since c4 --checkpoint n2 >/dev/null 2>$t/twice.err
[ $? = 1 ] && grep -q "backup end ba36" $t/twice.err && ! has_ckpt ba36 n2
ktap_result $? "a second backup of ba36 is refused: $(head -c 150 $t/twice.err)"
dirtylogctl backup end ba36 --failed >/dev/null 2>&1 && ! has_ckpt ba36 n1 && nothing_left ba36
ktap_result $? "... and the first one ends (--failed: n1 deleted)"
dirtylogctl backup end ba36 >/dev/null 2>$t/none.err
[ $? = 3 ] && grep -q "no backup of ba36" $t/none.err
ktap_result $? "backup end without a backup: exit 3 ($(head -c 100 $t/none.err))"

# An invalid device: its map cannot be trusted.
dd if=/dev/zero of=$t/m3 bs=1M count=8 2>/dev/null
lo=$(losetup -f) && losetup $lo $t/m3
dmsetup create iv36m --table "0 $((8 * 2048)) linear $lo 0" && dmsetup mknodes &&
	dmsetup create iv36d --table "0 $((8 * 2048)) linear $DL_SPARE 0" && dmsetup mknodes &&
	dmsetup create iv36 --table "0 $((8 * 2048)) dirtylog /dev/mapper/iv36m /dev/mapper/iv36d 128 1 passthrough_on_metadata_error" &&
	dmsetup mknodes && dirtylogctl checkpoint create iv36 i1 >/dev/null &&
	dmsetup suspend iv36m && dmsetup reload iv36m --table "0 $((8 * 2048)) error" &&
	dmsetup resume iv36m &&
	dd if=/dev/urandom of=/dev/mapper/iv36 bs=64k count=1 seek=3 oflag=direct 2>/dev/null
dmsetup status iv36 | grep -q invalid
ktap_result $? "a passthrough device turned invalid"
dirtylogctl backup begin iv36 --since i1 --checkpoint i2 >/dev/null 2>$t/iv.err
[ $? = 1 ] && grep -q "full backup" $t/iv.err && ! dmsetup info iv36.xs >/dev/null 2>&1 &&
	[ ! -e $DIRTYLOG_BACKUP_DIR/iv36.state ]
ktap_result $? "a backup of an invalid device is refused: $(head -c 150 $t/iv.err)"
dmsetup remove iv36; dmsetup remove iv36m; dmsetup remove iv36d; losetup -d $lo; rm -f $t/m3

# --- 2. 64 KiB blocks, a partial last block, TCP --------------------------
sz2=$((16 * 2048 + 40))
dmsetup create bb36x --table "0 $sz2 linear $DL_DATA $((40 * 2048))" &&
	dmsetup create bb36m --table "0 $((16 * 2048)) linear $DL_META $((16 * 2048))" &&
	dmsetup mknodes &&
	dmsetup create bb36 --table "0 $sz2 dirtylog /dev/mapper/bb36m /dev/mapper/bb36x 128" &&
	dmsetup mknodes
ktap_result $? "create bb36: 16 MiB + 20 KiB, 64 KiB blocks"
dev2=/dev/mapper/bb36
bytes2=$((sz2 * 512))
dd if=/dev/urandom of=$dev2 bs=512 count=$sz2 oflag=direct 2>/dev/null
dirtylogctl checkpoint create bb36 d0 >/dev/null
dd if=$dev2 of=$t/copy2 bs=512 iflag=direct 2>/dev/null
# The last, partial block among the writes.
dd if=/dev/urandom of=$dev2 bs=512 seek=$((sz2 - 8)) count=8 oflag=direct 2>/dev/null
dd if=/dev/urandom of=$dev2 bs=4k seek=37 count=20 oflag=direct 2>/dev/null
dd if=/dev/urandom of=$dev2 bs=64k seek=100 count=3 oflag=direct 2>/dev/null
dirtylogctl --json backup begin bb36 --since d0 --checkpoint d1 --port 10810 >$t/d1.json 2>$t/d1.err
uri=$(jfield uri $t/d1.json)
[ "$uri" = "nbd://127.0.0.1:10810" ] && [ "$(jfield block_size_bytes $t/d1.json)" = 65536 ]
ktap_result $? "bb36: incremental d1 served at $uri$(head -c 200 $t/d1.err)"
dirty_runs bb36 d0 d1 >$t/want
nbdinfo --map=qemu:dirty-bitmap:d0 "$uri" | map_runs 65536 >$t/got
last=$(((bytes2 + 65535) / 65536 - 1))
cmp -s $t/want $t/got && grep -q " " $t/got && awk -v l=$last '$1 + $2 - 1 == l { f = 1 } END { exit !f }' $t/got
ktap_result $? "bb36: the bitmap is the dirty map, its last (partial) block $last included"
read_bytes=$(pull server.type=inet,server.host=127.0.0.1,server.port=10810 65536 $bytes2 \
	$t/want $t/copy2)
snap=$(dd if=/dev/mapper/bb36.xs bs=512 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
[ -n "$read_bytes" ] && [ "$(sha256sum <$t/copy2 | cut -d' ' -f1)" = "$snap" ] &&
	[ "$(stat -c %s $t/copy2)" = $bytes2 ]
ktap_result $? "bb36: the pull ($read_bytes bytes) onto the copy at d0 equals the snapshot"
dirtylogctl backup end bb36 >/dev/null 2>&1 && has_ckpt bb36 d1 && nothing_left bb36
ktap_result $? "bb36: backup end keeps d1, leaves nothing"

ktap_finish
