#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Kernel memory of a 1 TiB device at 64 KiB and 4 KiB blocks, empty and
# fully dirty, measured from the slab and vmalloc counters, against the
# formula in Documentation/admin-guide/device-mapper/dirtylog.rst:
#   P = ceil(blocks / 32640) bitmap pages; 4 KiB per dirty page plus
#   about 16 bytes per page of pointers.
# A bound, not a timing: at most formula * 1.25 + 2 MiB; on the debug
# kernel (KASAN redzones, kmemleak records: measured 2.25 times the
# formula) formula * 3 + 2 MiB, still far below one object per block.
. "$(dirname "$0")/lib.sh"
trap 'dl_cleanup; modprobe -r null_blk' EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
ktap_plan 4
num=5 den=4
if dl_debug_kernel; then
	num=3 den=1
	ktap_diag "debug kernel: bound formula * 3 + 2 MiB"
fi
tib=2147483648		# 1 TiB in sectors
# A 1 TiB null_blk device (not memory backed: stores nothing).
modprobe null_blk nr_devices=1 gb=1024 || exit 1
big=/dev/nullb0

kmem() {		# slab + vmalloc in KiB
	sync
	echo 3 > /proc/sys/vm/drop_caches
	awk '/^(Slab|VmallocUsed):/ { s += $2 } END { print s }' /proc/meminfo
}

measure() {		# measure BLOCK_SECTORS
	bs=$1
	blocks=$(((tib + bs - 1) / bs))
	pages=$(((blocks + 32639) / 32640))
	dl_fresh_meta
	base=$(kmem)
	dmsetup create mem --table "0 $tib dirtylog $DL_META $big $bs" || return 1
	empty=$(($(kmem) - base))
	dmsetup message mem 0 mark_dirty 0 $blocks || return 1
	full=$(($(kmem) - base))
	want_empty=$((pages * 16 / 1024))
	want_full=$((pages * (4096 + 16) / 1024))
	ktap_diag "1 TiB at $((bs / 2)) KiB blocks: $blocks blocks, $pages pages;" \
		"empty ${empty} KiB (formula ${want_empty} KiB), fully dirty ${full} KiB (formula ${want_full} KiB)"
	dmsetup remove mem
	[ "$empty" -le $((want_empty * num / den + 2048)) ] && echo "$full" > /tmp/mem_full &&
		echo "$want_full" > /tmp/mem_want
}

measure 128
ktap_result $? "64 KiB blocks: empty device within the formula"
[ "$(cat /tmp/mem_full)" -le $(($(cat /tmp/mem_want) * num / den + 2048)) ]
ktap_result $? "64 KiB blocks: fully dirty device within the formula"
measure 8
ktap_result $? "4 KiB blocks: empty device within the formula"
[ "$(cat /tmp/mem_full)" -le $(($(cat /tmp/mem_want) * num / den + 2048)) ]
ktap_result $? "4 KiB blocks: fully dirty device within the formula"
ktap_finish
