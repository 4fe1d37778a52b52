#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 3000
# Benchmark (make bench): export and apply against dd with direct I/O.
#
# A dirtylog device over BENCH_EXPORT_MIB (default 1024) MiB of the virtio
# data disk, 64 KiB blocks, filled with random data (make bench gives the
# guest 1280 MiB disks and 4 GiB of memory: the apply rows keep a stream
# and a raw image of the device on tmpfs).  In BENCH_RUNS rounds (default
# 5), interleaved:
#   dd-read      dd iflag=direct bs=1M of the whole data device to /dev/null
#   export-full  dirtylogctl export (native, every block) to /dev/null
#   export-half  an incremental after fio wrote 50% of the 64 KiB blocks
#                at random (fio's random map: each block at most once)
#   export-none  an incremental of an interval with no write: what every
#                export costs whatever it carries (snapshot, loop device,
#                checkpoint, teardown); reported in ms, no goal
#   dd-write     dd oflag=direct bs=1M over the whole target (as much of
#                the spare disk) of the same bytes, from a raw image on
#                tmpfs (where the apply reads its stream from)
#   apply-full   dirtylogctl apply of a full export (on tmpfs) to it
#   dd-zero      dd oflag=direct bs=1M from /dev/zero over the target: a
#                reported row, no goal (see performance.rst: under TCG
#                reading a file costs the guest about one instruction per
#                byte, /dev/zero almost nothing)
# Exports include the dm-snapshot, checkpoint and teardown an export does.
# Ratios: median time over dd's median.  Goals (issue #5): a full export
# at most 1.1 x dd, half dirty at most 0.75 x dd, a full apply at most
# 1.1 x dd writing the same bytes.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")" || exit 1

RUNS=${BENCH_RUNS:-5}
W=/tmp/bench_export
MIB=${BENCH_EXPORT_MIB:-1024}
trap 'dl_cleanup; umount $W 2>/dev/null; rm -rf $W' EXIT
dl_cleanup
dl_fresh_meta
rm -rf $W
mkdir -p $W
# Its own tmpfs: the root one holds half the guest's memory, and the
# apply rows keep a stream and a raw image of the device at once.
mount -t tmpfs -o size=$((2 * MIB + 256))m bench_export $W || exit 1
modprobe dm-dirtylog && modprobe dm-snapshot && modprobe loop || exit 1
export TMPDIR=$W
for d in $DL_DATA $DL_SPARE; do
	if [ "$(blockdev --getsize64 $d)" -lt $((MIB << 20)) ]; then
		ktap_plan 1
		ktap_result 1 "$d is smaller than $MIB MiB (scripts/vm-run --disk-mib)"
		exit 1
	fi
done
ktap_plan 4

dmsetup create bx_data --table "0 $((MIB * 2048)) linear $DL_DATA 0" &&
	dmsetup create bx_tgt --table "0 $((MIB * 2048)) linear $DL_SPARE 0" &&
	dmsetup mknodes &&
	dmsetup create bx --table "0 $((MIB * 2048)) dirtylog $DL_META /dev/mapper/bx_data 128" &&
	dmsetup mknodes || exit 1
dd if=/dev/urandom of=/dev/mapper/bx bs=1M count=$MIB oflag=direct 2>/dev/null
dirtylogctl checkpoint create bx base >/dev/null || exit 1

t() { ./dl_bench_time exec 1 "$@" || echo fail; }
for r in $(seq 1 "$RUNS"); do
	echo "$(t dd if=/dev/mapper/bx_data of=/dev/null bs=1M iflag=direct status=none)" >>$W/dd-read
	echo "$(t dirtylogctl export bx --checkpoint f$r -o /dev/null)" >>$W/export-full
	dirtylogctl checkpoint delete bx f$r
	dirtylogctl checkpoint create bx h$r >/dev/null
	fio --name=half --filename=/dev/mapper/bx --rw=randwrite --bs=64k \
		--io_size=$((MIB / 2))m --size=${MIB}m --direct=1 --ioengine=libaio \
		--iodepth=8 --refill_buffers >/dev/null 2>&1
	echo "$(t dirtylogctl export bx --since h$r --checkpoint g$r -o /dev/null)" >>$W/export-half
	n=$(dirtylogctl --json dirty bx --since h$r --until g$r |
		sed -n 's/.*"total_blocks":\([0-9]*\).*/\1/p')
	echo "$n" >>$W/half-blocks
	dirtylogctl checkpoint delete bx h$r
	echo "$(t dirtylogctl export bx --since g$r --checkpoint n$r -o /dev/null)" >>$W/export-none
	dirtylogctl checkpoint delete bx g$r
	dirtylogctl checkpoint delete bx n$r
	echo "$(t dd if=/dev/zero of=/dev/mapper/bx_tgt bs=1M count=$MIB oflag=direct status=none)" >>$W/dd-zero
	dirtylogctl export bx --checkpoint a$r -o $W/full.dld >/dev/null &&
		dirtylogctl checkpoint delete bx a$r
	dd if=/dev/mapper/bx of=$W/full.raw bs=1M iflag=direct status=none
	echo "$(t dd if=$W/full.raw of=/dev/mapper/bx_tgt bs=1M oflag=direct status=none)" >>$W/dd-write
	rm -f $W/full.raw
	rm -f /var/lib/dirtylogctl/apply-bx_tgt.state
	echo "$(t dirtylogctl apply --state $W/st $W/full.dld /dev/mapper/bx_tgt)" >>$W/apply-full
	rm -f $W/full.dld $W/st
done

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
minmax() { sort -n "$1" | awk 'NR == 1 { a = $1 } { b = $1 } END { print a, b }'; }
runs_ok() {	# every run of row $1 timed (a failed write of the time counts)
	[ "$(grep -c '^[0-9][0-9]*$' "$W/$1")" = "$RUNS" ]
}
row() {		# row NAME BASE GOAL
	if ! runs_ok "$1" || ! runs_ok "$2"; then
		ktap_result 1 "$1: a run failed"
		return
	fi
	m=$(median "$W/$1")
	b=$(median "$W/$2")
	set -- "$1" "$2" "$3" "$m" "$b" $(minmax "$W/$1")
	ratio=$(awk -v a="$4" -v b="$5" 'BEGIN { printf "%.3f", a / b }')
	echo "# bench: {\"row\":\"$1\",\"state\":\"vs-$2\",\"target\":\"dirtylog\",\"dev\":\"virtio\",\"block_kib\":64,\"metric\":\"ms\",\"median\":$(($4 / 1000)),\"min\":$(($6 / 1000)),\"max\":$(($7 / 1000)),\"ratio\":$ratio,\"runs\":$RUNS,\"lower_is_better\":true}"
	awk -v r="$ratio" -v g="$3" 'BEGIN { exit !(r <= g) }'
	ktap_result $? "goal: $1 <= $3 x $2 (measured $ratio, median $(($4 / 1000)) ms against $(($5 / 1000)) ms)"
}
ktap_diag "half-dirty rounds: $(tr '\n' ' ' <$W/half-blocks) of $((MIB * 16)) blocks dirty"
runs_ok dd-zero && runs_ok apply-full &&
	ktap_diag "dd-zero (no goal): median $(($(median $W/dd-zero) / 1000)) ms; apply-full over it" \
		"$(awk -v a="$(median $W/apply-full)" -v b="$(median $W/dd-zero)" 'BEGIN { printf "%.3f", a / b }')"
if runs_ok export-none && runs_ok dd-read; then
	ms=$(($(median $W/export-none) / 1000))
	echo "# bench: {\"row\":\"export-none\",\"state\":\"fixed-cost\",\"target\":\"dirtylog\",\"dev\":\"virtio\",\"block_kib\":64,\"metric\":\"ms\",\"median\":$ms,\"runs\":$RUNS,\"lower_is_better\":true}"
	ktap_result 0 "export-none (no goal): median $ms ms, $(awk -v a="$(median $W/export-none)" -v b="$(median $W/dd-read)" 'BEGIN { printf "%.3f", a / b }') x dd-read"
else
	ktap_result 1 "export-none: a run failed"
fi
row export-full dd-read 1.1
row export-half dd-read 0.75
row apply-full dd-write 1.1
ktap_finish
