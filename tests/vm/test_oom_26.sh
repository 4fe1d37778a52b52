#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
# Out of memory at table load: dm-zero data devices so large that the
# in-memory arrays of a 4 KiB-block device (8 bytes of page pointer per
# 32640 blocks, twice: the active interval and the bitmap tree's index)
# take from a quarter of the machine's RAM to 16 times it.  Each load
# must succeed or be refused with a reason in the kernel log ("Cannot
# allocate ..." or "... (-ENOMEM)"), within 300 s (no hang), without the OOM killer and
# without writing the metadata device: a refused load leaves it as it was,
# so the next table over it works.  At the end a normal device works and
# the module unloads.  Meant for a small VM (tests/rig/test_oom_10.sh
# boots one); in the normal suite (1 GiB) it checks the same at that size.
. "$(dirname "$0")/lib.sh"
t26=/tmp/oom26.log
trap 'dl_cleanup; dmsetup remove oz 2>/dev/null; rm -f $t26' EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
modprobe dm-zero || exit 1
mem=$(awk '/^MemTotal:/ { print $2 * 1024 }' /proc/meminfo)
ktap_diag "MemTotal $((mem >> 20)) MiB"
steps="1/4 1/2 1/1 2/1 4/1 16/1"
ktap_plan 9
oomk=0

refused=0
for f in $steps; do
	pages=$((mem * ${f%/*} / ${f#*/} / 8))
	sectors=$((pages * 32640 * 8))
	desc="$f x RAM of page pointers: $((sectors >> 31)) TiB at 4 KiB blocks"
	dl_fresh_meta
	dmsetup create oz --table "0 $sectors zero" && dmsetup mknodes ||
		{ ktap_result 1 "$desc: dm-zero"; continue; }
	dmesg -c >> $t26 2>/dev/null
	timeout 300 dmsetup create oom --table "0 $sectors dirtylog $DL_META /dev/mapper/oz 8" 2>/dev/null
	rc=$?
	reason=$(dmesg | grep 'dirtylog' | tail -n 1)
	if dmesg | grep -q -E 'Out of memory|invoked oom-killer'; then
		oomk=$((oomk + 1))
		ktap_diag "$desc: the OOM killer ran: $(dmesg | grep -E 'Out of memory|Killed process' | head -n 2 | tr '\n' ' ')"
	fi
	if [ $rc -eq 0 ]; then
		ktap_diag "$desc: loaded; $(dmsetup status oom)"
		dmsetup remove oom
		r=0
	elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		ktap_diag "$desc: dmsetup killed (exit $rc: 124 timeout, 137 SIGKILL)"
		dmsetup remove oom 2>/dev/null
		r=1
	else
		ktap_diag "$desc: refused: $reason"
		case $reason in
		*"allocate"*|*ENOMEM*) r=0; refused=$((refused + 1)) ;;
		*) r=1 ;;
		esac
		# Nothing was written: the first block is still zero.
		[ "$(dl_sha $DL_META 0 4096)" = "$(dd if=/dev/zero bs=4096 count=1 2>/dev/null | sha256sum | cut -d' ' -f1)" ] ||
			{ ktap_diag "$desc: the refused load wrote the metadata device"; r=1; }
		# The same metadata device takes a normal table.
		dmsetup create oom --table "0 2048 dirtylog $DL_META $DL_SPARE 8" ||
			{ ktap_diag "$desc: the metadata device refuses a normal table now"; r=1; }
		dmsetup remove oom 2>/dev/null
	fi
	dmsetup remove oz
	ktap_result $r "$desc: loaded or refused cleanly"
done
[ $refused -gt 0 ]
ktap_result $? "at least one size was refused for memory ($refused)"
[ "$oomk" -eq 0 ]
ktap_result $? "the OOM killer never ran ($oomk)"

dl_fresh_meta
len=$(dl_sectors $DL_DATA)
dmsetup create ok26 --table "0 $len dirtylog $DL_META $DL_DATA 8" && dmsetup mknodes &&
	dmsetup message ok26 0 checkpoint c1 >/dev/null &&
	dd if=/dev/urandom of=/dev/mapper/ok26 bs=4096 seek=123 count=1 oflag=direct 2>/dev/null &&
	[ "$(dmsetup message ok26 0 dirty c1)" = "123 1" ] && dmsetup remove ok26 && rmmod dm_dirtylog
ktap_result $? "afterwards a normal device works and the module unloads"
ktap_finish
