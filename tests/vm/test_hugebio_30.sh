#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
# Huge bios and huge growth have bounded transient memory (issue #18,
# finding 2).  A 2 TiB device at 4 KiB blocks over dm-zero, whose discard
# limit on 6.12 is UINT_MAX sectors (one 2 TiB bio: mkfs's whole-device
# discard of an NVMe disk looks the same), with its metadata on /dev/vdc:
#
# - a whole-device discard marks every block (the map is one extent)
#   while slab + vmalloc never exceed the formula of the admin guide for
#   a fully dirty device (4 KiB per bitmap page plus 16 bytes) by more
#   than 16 MiB (5% slack on the formula, as test_memory_09 allows more);
# - growing an 8 GiB device to 2 TiB marks the whole new region within
#   the same bound;
# - a write-zeroes of 256 MiB (a device over /dev/vda, whose limit is
#   2 GiB per bio) marks exactly its range.
#
# Memory is sampled from /proc/meminfo every 0.2 s during the operation.
# On 6.1, dm-zero has no discard: the discard case is skipped there.
. "$(dirname "$0")/lib.sh"
cleanup() {
	touch /tmp/hb_stop
	dl_cleanup
}
trap cleanup EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
modprobe dm-zero || exit 1
ktap_plan 6
big=4294967296		# 2 TiB in sectors
blocks=$((big / 8))
pages=$(((blocks + 32639) / 32640))
formula=$((pages * (4096 + 16) / 1024))	# KiB, fully dirty
bound=$((formula * 105 / 100 + 16384))
if dl_debug_kernel; then
	bound=$((formula * 3 + 16384))
	ktap_diag "debug kernel: bound formula * 3 + 16 MiB"
fi
ktap_diag "$blocks blocks, $pages pages: formula $formula KiB, bound $bound KiB"

kmem_now() {		# slab + vmalloc in KiB
	awk '/^(Slab|VmallocUsed):/ { s += $2 } END { print s }' /proc/meminfo
}
kmem_settled() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
	kmem_now
}
# sample_start / sample_peak: the highest slab + vmalloc while running.
sample_start() {
	rm -f /tmp/hb_stop
	kmem_now > /tmp/hb_samples
	( while [ ! -e /tmp/hb_stop ]; do kmem_now >> /tmp/hb_samples; usleep 200000; done ) &
	sampler=$!
}
sample_peak() {
	touch /tmp/hb_stop
	wait $sampler
	sort -n /tmp/hb_samples | tail -n 1
}
dirty() { dmsetup message "$1" 0 dirty "$2" | tr '\n' ' ' | sed 's/ $//'; }
expect() {		# expect DESCRIPTION WANT GOT
	[ "$2" = "$3" ]
	ktap_result $? "$1 (want '$2', got '$3')"
}

dmsetup create z --table "0 $big zero" || exit 1
dmsetup mknodes >/dev/null 2>&1
max=$(cat "/sys/block/$(dmsetup info -c --noheadings -o blkdevname z)/queue/discard_max_bytes")

# 1. One whole-device discard.
if [ "${max:-0}" -ge $((1 << 40)) ]; then
	dl_fresh_meta $DL_SPARE
	dmsetup create hb --table "0 $big dirtylog $DL_SPARE /dev/mapper/z 8" || exit 1
	dmsetup mknodes >/dev/null 2>&1
	dmsetup message hb 0 checkpoint c0 >/dev/null
	base=$(kmem_settled)
	sample_start
	blkdiscard /dev/mapper/hb
	rc=$?
	peak=$(($(sample_peak) - base))
	ktap_diag "discard: peak $peak KiB above the start"
	ktap_result $rc "a 2 TiB discard completes"
	[ "$peak" -le "$bound" ]
	ktap_result $? "the discard stays within the formula + 16 MiB (peak $peak KiB, bound $bound KiB)"
	expect "the discard marks every block" "0 $blocks" "$(dirty hb c0)"
	dmsetup remove hb
else
	ktap_result 0 "# SKIP dm-zero has no discard on this kernel (limit $max bytes)"
	ktap_result 0 "# SKIP dm-zero has no discard on this kernel"
	ktap_result 0 "# SKIP dm-zero has no discard on this kernel"
fi

# 2. Grow from 8 GiB to 2 TiB.
small=16777216
dl_fresh_meta $DL_SPARE
dmsetup create hg --table "0 $small dirtylog $DL_SPARE /dev/mapper/z 8" || exit 1
dmsetup message hg 0 checkpoint g0 >/dev/null
base=$(kmem_settled)
sample_start
dmsetup suspend hg && dmsetup reload hg --table "0 $big dirtylog $DL_SPARE /dev/mapper/z 8" &&
	dmsetup resume hg
rc=$?
peak=$(($(sample_peak) - base))
ktap_diag "grow: peak $peak KiB above the start"
[ $rc -eq 0 ] && [ "$peak" -le "$bound" ]
ktap_result $? "growing to 2 TiB stays within the formula + 16 MiB (peak $peak KiB)"
expect "the growth marks the new region" "$((small / 8)) $((blocks - small / 8))" "$(dirty hg g0)"
dmsetup remove hg

# 3. Write-zeroes marks exactly its range.
dl_fresh_meta
dmsetup create hz --table "0 $(dl_sectors $DL_DATA) dirtylog $DL_META $DL_DATA 8" || exit 1
dmsetup mknodes >/dev/null 2>&1
dmsetup message hz 0 checkpoint z0 >/dev/null
./dl_zeroout /dev/mapper/hz $((1000 * 4096)) $((256 << 20))
expect "a 256 MiB write-zeroes marks its range" "1000 65536" "$(dirty hz z0)"
dmsetup remove hz

ktap_finish
