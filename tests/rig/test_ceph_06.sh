#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# check-timeout: 180
# The throwaway Ceph cluster (scripts/ceph-local) carries RBD diffs end to
# end with stock tools: a full 'rbd export-diff' and two incrementals of
# one image, imported with 'rbd import-diff' into another, give snapshots
# that 'rbd export' byte for byte as a model written with dd; a truncated
# diff is refused.  The flow the tests of our own diff writer will copy.
# Needs ceph-mon, ceph-osd and ceph-common (scripts/deps): without them it
# fails.  Runs on the host; DL_SEED=N replays a run.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/vm/lib.sh
. "$top/tests/vm/lib.sh"
# shellcheck source=tests/rig/lib-ceph.sh
. "$top/tests/rig/lib-ceph.sh"

tmp=$(mktemp -d)
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	ceph_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

seed=${DL_SEED:-$((($(date +%s%N) / 1000) % 1000000000))}
RANDOM=$seed
size=$((16 << 20)) # 16 objects of 1 MiB
obj=$((1 << 20))

# Each round: fixed edge cases plus a few random writes.
random_writes() {
	local i off len
	for ((i = 0; i < 4; i++)); do
		off=$(((RANDOM * 32768 + RANDOM) % size))
		len=$((1 + (RANDOM * 32768 + RANDOM) % (256 << 10)))
		((off + len <= size)) || len=$((size - off))
		echo "w $off $len"
	done
}
ops1="w 0 65536
w 1000000 200000
w $((5 * obj)) $obj
w 9000001 4097
w $((size - 65536)) 65536
$(random_writes)"
ops2="w 30000 70000
z 1040000 20000
d $((5 * obj)) $obj
w $((12 * obj)) 300000
$(random_writes)"
ops3="w $((5 * obj)) 4096
z $((12 * obj)) $obj
w $((size - 1)) 1
w 0 1
$(random_writes)"

ktap_plan 11
ktap_diag "seed $seed"

if ! ceph_start "$tmp/cluster"; then
	ktap_result 1 "a one-node cluster starts"
	exit 1
fi
ktap_diag "cluster ready in $ceph_start_seconds s"
ktap_result 0 "a one-node cluster starts"

# The source image and the models m1..m3 of its snapshots s1..s3.
truncate -s "$size" "$tmp/m0"
crbd create --size "$((size >> 20))M" --object-size "$obj" src
# shellcheck disable=SC2317 # called by ktap_check
round() {		# round R OPS: the model and the image, then snapshot sR
	cp "$tmp/m$(($1 - 1))" "$tmp/m$1" &&
		model_apply "$tmp/m$1" "$((seed + $1))" "$2" &&
		ceph_image_apply src "$tmp/m$1" "$2" &&
		crbd snap create --no-progress "src@s$1" &&
		ceph_export_matches "src@s$1" "$tmp/m$1"
}
ktap_check "source snapshot s1 equals its model" round 1 "$ops1"
ktap_check "source snapshot s2 equals its model" round 2 "$ops2"
ktap_check "source snapshot s3 equals its model" round 3 "$ops3"

# Full, then incrementals, into a new image.
crbd export-diff --no-progress src@s1 "$tmp/d1" &&
	crbd export-diff --no-progress --from-snap s1 src@s2 "$tmp/d2" &&
	crbd export-diff --no-progress --from-snap s2 src@s3 "$tmp/d3"
ktap_diag "diff sizes: full $(stat -c %s "$tmp/d1"), s1..s2 $(stat -c %s "$tmp/d2"), s2..s3 $(stat -c %s "$tmp/d3") bytes"
crbd create --size "$((size >> 20))M" --object-size "$obj" dst
for r in 1 2 3; do
	ktap_check "diff $r imports; dst@s$r equals the model" \
		eval "crbd import-diff --no-progress '$tmp/d$r' dst &&
			ceph_export_matches dst@s$r '$tmp/m$r'"
done
ktap_check "later imports leave earlier snapshots and the head right" \
	eval "ceph_export_matches dst@s1 '$tmp/m1' &&
		ceph_export_matches dst@s2 '$tmp/m2' &&
		ceph_export_matches dst '$tmp/m3'"

# A diff cut short is refused and creates no snapshot: cut in the middle
# of a record, and cut before the end record.
# shellcheck disable=SC2317 # called by ktap_check
refuses() {		# refuses BYTES_KEPT
	local img=cut$1 out
	crbd create --size "$((size >> 20))M" --object-size "$obj" "$img" &&
		crbd import-diff --no-progress "$tmp/d1" "$img" || return 1
	head -c "$1" "$tmp/d2" >"$tmp/cut"
	if out=$(crbd import-diff --no-progress "$tmp/cut" "$img" 2>&1); then
		echo "import-diff of the first $1 bytes succeeded"
		return 1
	fi
	echo "${out##*$'\n'}"
	! crbd snap ls "$img" | grep -qw s2
}
d2size=$(stat -c %s "$tmp/d2")
ktap_check "import-diff refuses a diff cut in a data record" \
	refuses $((d2size / 2))
ktap_check "import-diff refuses a diff without its end record" \
	refuses $((d2size - 1))

ceph_stop
left=
for p in /proc/[0-9]*; do
	[[ $({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) == *" $CEPH_CONF "* ]] &&
		left+=" ${p#/proc/}"
done
ktap_result "$([[ -z $left ]]; echo $?)" "stop leaves no daemon running"
[[ -z $left ]] || ktap_diag "left running:$left"
ktap_finish
