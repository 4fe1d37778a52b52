#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 1200
# Metadata device faults, systematically, in both failure modes (extends
# test_failure_08.sh, which covers the basics one write at a time).
#
# For each fault a writer (dl_blkwrite: one O_DIRECT 4 KiB write per
# tracking block, recording which the kernel acknowledged) runs over
# healthy metadata, the fault is put under the target in the middle of
# the run (the metadata device's dm table swapped), and the writer goes
# on.  Faults:
#   gone       the metadata device's table becomes "error"
#   wrerr      dm-flakey error_writes (writes fail, reads work)
#   flush      only flush/FUA bios fail (tests/kmod dlfault flush)
#   rderr      reads fail: dm-flakey error_reads where the kernel has it
#              (6.5+), else tests/kmod dlfault reads
#   flaky      dm-flakey up 1 s / down 1 s, everything fails when down
#   drop       dm-flakey drop_writes: a device that lies (acknowledges
#              writes it never stores)
# Default mode: the fault is seen (a write fails; state fail), and after
# the metadata is healthy again and the table reloaded every write that
# was acknowledged has its block in "dirty c0" (the record of dl_blkwrite
# is the model).  Passthrough mode: every write is acknowledged, state
# invalid, and every query (dmsetup message, dirtylogctl dirty, an
# incremental export) is refused with "full backup"; a reload over
# healthy metadata keeps invalid.  drop (a lying device): nothing can
# detect it in flight, so the check is weaker: no hang, and after
# remove + recreate either the load refuses the metadata or the dirty
# set is a superset of the writes acknowledged before the fault (the
# writes during it may be lost: documented).  Loads over failing
# metadata are refused cleanly and change nothing.
#
# Randomised (the blocks written): DL_SEED reruns a case.
. "$(dirname "$0")/lib.sh"
t=/tmp/ft25
trap 'kill $wpid 2>/dev/null; dl_cleanup; modprobe -r dm-flakey dm-dlfault; rm -rf $t' EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
modprobe dm-flakey || exit 1
modprobe dm-dlfault || exit 1
modprobe dm-snapshot || exit 1
modprobe loop
ktap_plan 39
salt=0
seed=${DL_SEED:-$(awk 'BEGIN { srand(); print int(rand() * 1000000) }')}
ktap_diag "seed $seed (DL_SEED=$seed reruns this)"
rm -rf $t
mkdir -p $t
wpid=

# dm-flakey features of this kernel: error_reads came with 6.5.
flakey_rd=0
dmsetup create ft_probe --table "0 8 flakey $DL_SPARE 0 0 1 1 error_reads" 2>/dev/null &&
	flakey_rd=1
dmsetup remove ft_probe 2>/dev/null
ktap_diag "dm-flakey error_reads: $([ $flakey_rd = 1 ] && echo yes || echo 'no (dlfault reads instead)')"

msz=$(dl_sectors $DL_META)
len=$(dl_sectors $DL_DATA)
bs=8				# 4 KiB blocks
nblk=$((len / bs))
dmsetup create mdl --table "0 $msz linear $DL_META 0" || exit 1
dmsetup mknodes
dev=/dev/mapper/fl
healthy="0 $msz linear $DL_META 0"

meta_to() {		# meta_to TABLE: swap what lies under the metadata
	dmsetup suspend mdl && dmsetup load mdl --table "$1" && dmsetup resume mdl
}
reload_fl() { dmsetup suspend fl && dmsetup load fl --table "$1" && dmsetup resume fl; }
state() { dl_status_field fl 7; }

fault_table() {		# fault_table NAME: the metadata's table under fault NAME
	case $1 in
	gone) echo "0 $msz error" ;;
	wrerr) echo "0 $msz flakey $DL_META 0 0 1 1 error_writes" ;;
	flush) echo "0 $msz dlfault $DL_META flush" ;;
	rderr)
		if [ $flakey_rd = 1 ]; then
			echo "0 $msz flakey $DL_META 0 0 1 1 error_reads"
		else
			echo "0 $msz dlfault $DL_META reads"
		fi ;;
	flaky) echo "0 $msz flakey $DL_META 0 1 1" ;;
	drop) echo "0 $msz flakey $DL_META 0 0 1 1 drop_writes" ;;
	esac
}

# blocks N SALT: N distinct random block numbers (seeded), one a line.
blocks() {
	awk -v n="$1" -v s=$((seed + $2)) -v max=$nblk 'BEGIN {
		srand(s)
		while (c < n) { b = int(rand() * max); if (!(b in seen)) { seen[b]; print b; c++ } }
	}'
}

# dirty_blocks CKPT: the blocks of "dirty CKPT", one a line.
dirty_blocks() {
	dmsetup message fl 0 dirty "$1" | awk '{ for (i = 0; i < $2; i++) print $1 + i }'
}

# missing RECORD DIRTYFILE: acknowledged writes of RECORD not in DIRTYFILE
missing() {
	awk 'NR == FNR { d[$1]; next } $2 == 0 && !($1 in d) { print $1 }' "$2" "$1"
}

# run_case MODE FAULT: writer over healthy metadata, FAULT in the middle.
# Leaves $t/rec (the writer's record), $t/st (state right after).
run_case() {
	mode=$1 fault=$2
	dl_fresh_meta /dev/mapper/mdl
	tab="0 $len dirtylog /dev/mapper/mdl $DL_DATA $bs"
	[ "$mode" = passthrough ] && tab="$tab 1 passthrough_on_metadata_error"
	cur_tab=$tab
	dmsetup create fl --table "$tab" && dmsetup mknodes || return 1
	dmsetup message fl 0 checkpoint c0 >/dev/null || return 1
	# 150 blocks at 20 ms; the fault comes once 10 writes were
	# acknowledged (not after a time: the host may be slow), well
	# before the end.
	salt=$((salt + 1))
	blocks 150 $salt > $t/list
	: > $t/rec
	"$(dirname "$0")/dl_blkwrite" $dev 4096 20 < $t/list > $t/rec &
	wpid=$!
	n=0
	while [ "$(wc -l < $t/rec)" -lt 10 ] && [ $n -lt 600 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	meta_to "$(fault_table "$fault")"
	wait $wpid
	wpid=
	state > $t/st
	ok=$(awk '$2 == 0' $t/rec | wc -l)
	bad=$(awk '$2 != 0' $t/rec | wc -l)
	ktap_diag "$mode/$fault: $ok writes acknowledged, $bad failed, state $(cat $t/st)"
}

# heal: healthy metadata again, table reloaded (recovers from fail).
heal() {
	meta_to "$healthy" && reload_fl "$cur_tab"
}

# --- default mode ----------------------------------------------------------
for f in gone wrerr flush flaky rderr; do
	run_case default $f || { ktap_result 1 "default/$f: setup"; ktap_result 1 "default/$f"; ktap_result 1 "default/$f"; continue; }
	case $f in
	rderr)
		# Commits write; reads may be served from the buffer cache.
		# A fail state is allowed, not required.
		s=$(cat $t/st)
		[ "$s" = rw ] || [ "$s" = fail ]
		ktap_result $? "default/$f: state rw or fail while reads fail ($s)"
		;;
	*)
		[ "$bad" -gt 0 ] && [ "$(cat $t/st)" = fail ]
		ktap_result $? "default/$f: the fault is seen: $bad writes refused, state $(cat $t/st)"
		;;
	esac
	heal
	[ "$(state)" = rw ]
	ktap_result $? "default/$f: a reload over healthy metadata recovers (state $(state))"
	dirty_blocks c0 > $t/dirty
	m=$(missing $t/rec $t/dirty | tr '\n' ' ')
	[ -z "$m" ] && [ "$ok" -gt 0 ]
	ktap_result $? "default/$f: every acknowledged write ($ok) is in dirty c0${m:+ (missing: $m)}"
	dmsetup remove fl
done

# --- passthrough mode ------------------------------------------------------
for f in gone wrerr flush flaky; do
	run_case passthrough $f || { ktap_result 1 "passthrough/$f: setup"; ktap_result 1 "passthrough/$f"; ktap_result 1 "passthrough/$f"; continue; }
	[ "$bad" -eq 0 ] && [ "$(cat $t/st)" = invalid ]
	ktap_result $? "passthrough/$f: all $ok writes acknowledged, state $(cat $t/st)"
	r=0
	dmsetup message fl 0 dirty c0 >/dev/null 2>&1 && r=1
	dmsetup message fl 0 list_checkpoints >/dev/null 2>&1 && r=1
	dirtylogctl checkpoint list fl >/dev/null 2>&1 && r=1
	dirtylogctl dirty fl --since c0 -o $t/bm 2>$t/err && r=1
	dirtylogctl export fl --since c0 --checkpoint c1 -o $t/exp 2>$t/err2 && r=1
	grep -q "full backup" $t/err && grep -q "full export" $t/err2 || r=1
	ktap_diag "dirty: $(head -n 1 $t/err)"
	ktap_diag "export: $(head -n 1 $t/err2)"
	ktap_result $r "passthrough/$f: dirty, list (message, netlink) and an incremental export are refused, saying a full backup is needed"
	heal
	[ "$(state)" = invalid ]
	ktap_result $? "passthrough/$f: still invalid after a reload over healthy metadata ($(state))"
	dmsetup remove fl
done

# --- passthrough: read errors do not lose tracking silently ----------------
run_case passthrough rderr
s=$(cat $t/st)
heal
if [ "$s" = rw ] && [ "$(state)" = rw ]; then
	dirty_blocks c0 > $t/dirty
	m=$(missing $t/rec $t/dirty | tr '\n' ' ')
	[ -z "$m" ] && [ "$bad" -eq 0 ]
	ktap_result $? "passthrough/rderr: still rw and every write in dirty c0${m:+ (missing: $m)}"
else
	! dmsetup message fl 0 dirty c0 >/dev/null 2>&1
	ktap_result $? "passthrough/rderr: state $s, queries refused"
fi
dmsetup remove fl

# --- loads over failing metadata -------------------------------------------
# A formatted metadata device with marks; then each fault at load time.
dl_fresh_meta /dev/mapper/mdl
tab="0 $len dirtylog /dev/mapper/mdl $DL_DATA $bs"
cur_tab=$tab
dmsetup create fl --table "$tab" && dmsetup mknodes
dmsetup message fl 0 checkpoint c0 >/dev/null
printf '%s\n' 7 77 777 | "$(dirname "$0")/dl_blkwrite" $dev 4096 > /dev/null
dmsetup remove fl
before=$(dl_sha /dev/mapper/mdl 0 $((msz * 512)))
for f in gone rderr flaky; do
	meta_to "$(fault_table "$f")"
	[ $f = flaky ] && sleep 1	# into the down interval (1 s up, 1 s down)
	r=1
	if [ $f = flaky ]; then
		# may catch the up interval; then it must load correctly
		if dmsetup create fl --table "$tab" 2>/dev/null; then
			dmsetup remove fl; r=0
		else
			r=0
		fi
	else
		! dmsetup create fl --table "$tab" 2>$t/err
		r=$?
	fi
	dmsetup remove fl 2>/dev/null
	meta_to "$healthy"
	[ "$(dl_sha /dev/mapper/mdl 0 $((msz * 512)))" = "$before" ] || r=1
	ktap_result $r "load over $f metadata: refused or correct, metadata unchanged"
done
dmsetup create fl --table "$tab" && dmsetup mknodes
got=$(dirty_blocks c0 | tr '\n' ' ')
[ "$got" = "7 77 777 " ]
ktap_result $? "after the refused loads the healthy metadata loads with its marks ($got)"
dmsetup remove fl

# --- drop_writes: a lying metadata device ----------------------------------
run_case default drop
pre=$(awk 'NR <= 10 && $2 == 0' $t/rec | wc -l)
meta_to "$healthy"
dmsetup remove fl
if dmsetup create fl --table "$cur_tab" 2>$t/err; then
	dmsetup mknodes
	dirty_blocks c0 > $t/dirty 2>/dev/null
	# The first 10 writes were acknowledged before the fault.
	head -n 10 $t/rec > $t/rec10
	m=$(missing $t/rec10 $t/dirty | tr '\n' ' ')
	[ -z "$m" ]
	ktap_result $? "drop_writes: reloaded; the writes before the fault are marked${m:+ (missing: $m)}"
	lost=$(missing $t/rec $t/dirty | wc -l)
	ktap_diag "drop_writes: $lost acknowledged writes lost with the dropped metadata writes (expected: the device lied)"
	dmsetup remove fl
else
	ktap_result 0 "drop_writes: the load refuses the inconsistent metadata: $(head -n 1 $t/err)"
fi


# --- export: data device faults and a full copy-on-write store -------------
# ex (64 KiB blocks) over dx, a 16 MiB slice of the data disk.  A full
# export e0 applied to an image; changes; then failing incrementals, each
# of which must leave no checkpoint, no ex.xo/ex.xs and no loop device;
# the incremental after them (e0..e1) applied to the image must give the
# device's content.
dl_fresh_meta /dev/mapper/mdl
xsz=$((16 * 2048))
xlin="0 $xsz linear $DL_DATA 0"
dmsetup create dx --table "$xlin" && dmsetup mknodes &&
	dmsetup create ex --table "0 $xsz dirtylog /dev/mapper/mdl /dev/mapper/dx 128" &&
	dmsetup mknodes
xdev=/dev/mapper/ex
export TMPDIR=$t
dd if=/dev/urandom of=$xdev bs=1M count=16 oflag=direct 2>/dev/null
dirtylogctl export ex --checkpoint e0 -o $t/e0 && truncate -s 16M $t/img &&
	dirtylogctl apply $t/e0 $t/img >/dev/null && rm -f $t/e0
ktap_result $? "export: full export e0 applied to an image"
# Changes since e0: 40 random 4 KiB pieces.
blocks 40 99 | awk '{ print $1 % 4096 }' | sort -un |
	"$(dirname "$0")/dl_blkwrite" $xdev 4096 > /dev/null

leftovers() {		# leftovers NEW: none of NEW, ex.xo, ex.xs, a loop device
	! dmsetup message ex 0 list_checkpoints | grep -q "^$1 " &&
		! dmsetup info ex.xo >/dev/null 2>&1 && ! dmsetup info ex.xs >/dev/null 2>&1 &&
		[ -z "$(losetup -a)" ] && [ "$(dmsetup table ex | awk '{ print $5 }')" = "$(dmsetup info -c --noheadings -o major,minor --separator : dx)" ]
}

# A 1 MiB copy-on-write file; the hook (run once the snapshot exists,
# before the export reads it) overwrites 4 MiB of the device: the store
# overflows, the snapshot is invalidated, the reads fail.
truncate -s 1M $t/cow
DIRTYLOGCTL_SNAPSHOT_HOOK="dd if=/dev/urandom of=$xdev bs=64k count=64 oflag=direct 2>/dev/null; true" \
	dirtylogctl export ex --since e0 --checkpoint bad1 --cow $t/cow -o $t/bad1 2>$t/err
rc=$?
ktap_diag "full cow: exit $rc: $(head -n 1 $t/err)"
[ $rc -ne 0 ] && leftovers bad1
ktap_result $? "export with a full copy-on-write store fails and leaves nothing behind"

# The data device fails under the snapshot during the export.
DIRTYLOGCTL_SNAPSHOT_HOOK="dmsetup suspend dx && dmsetup load dx --table '0 $xsz error' && dmsetup resume dx" \
	dirtylogctl export ex --since e0 --checkpoint bad2 -o $t/bad2 2>$t/err
rc=$?
ktap_diag "data device error: exit $rc: $(head -n 1 $t/err)"
dmsetup suspend dx && dmsetup load dx --table "$xlin" && dmsetup resume dx
[ $rc -ne 0 ] && leftovers bad2
ktap_result $? "export over a failing data device fails and leaves nothing behind"

# Writes fail on the data device: the error passes up, the block stays marked.
dmsetup suspend dx && dmsetup load dx --table "0 $xsz flakey $DL_DATA 0 0 1 1 error_writes" &&
	dmsetup resume dx
echo 200 | "$(dirname "$0")/dl_blkwrite" $xdev 65536 > $t/rec
dmsetup suspend dx && dmsetup load dx --table "$xlin" && dmsetup resume dx
[ "$(cut -d' ' -f2 $t/rec)" != 0 ] && dmsetup message ex 0 dirty e0 | awk '$1 <= 200 && 200 < $1 + $2 { f = 1 } END { exit !f }'
ktap_result $? "a data write error passes up ($(cut -d' ' -f2 $t/rec)) and the block stays marked"

unset DIRTYLOGCTL_SNAPSHOT_HOOK
dirtylogctl export ex --since e0 --checkpoint e1 -o $t/e1 && dirtylogctl apply $t/e1 $t/img >/dev/null
ktap_result $? "export: the next incremental e0..e1 works and applies"
a=$(sha256sum < $t/img | cut -d' ' -f1)
b=$(dl_sha $xdev 0 $((16 * 1024 * 1024)))
[ "$a" = "$b" ]
ktap_result $? "export: e0 + e1 equals the device: the failed exports lost nothing ($a)"
dmsetup remove ex && dmsetup remove dx
ktap_finish
