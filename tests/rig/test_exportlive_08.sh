#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# check-timeout: 900
# Exports of a real dirtylog device, checked by real Ceph and QEMU.  The
# guest (tests/vm/fx_export.sh, newest kernel) exports a chain while a
# writer writes, as rbd-diff and as qcow2, with the sha256 of each
# export's snapshot, and leaves them on the spare disk.  Here:
#  - a one-node Ceph cluster (scripts/ceph-local) imports e1, e1..e2,
#    e2..e3 with 'rbd import-diff' into a new image; 'rbd export' of each
#    RBD snapshot equals the dirtylog snapshot at that checkpoint;
#  - 'rbd merge-diff' of e2 and e3 applied after e1 gives e3's content;
#    merging e2 with an empty diff gives e2 back byte for byte;
#  - 'qemu-img check' finds nothing wrong in q1, q2, q3 (each over the one
#    before) and 'qemu-img convert' of each equals its snapshot.
#
#   tests/rig/test_exportlive_08.sh [BUILD_DIR]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd) || exit 1
read -r -a kernels <<<"${DL_KVERS:-$("$top/scripts/kvers")}"
kver=${kernels[${#kernels[@]} - 1]}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/exportlive.XXXXXX")
# shellcheck source=tests/rig/lib-ceph.sh
. "$top/tests/rig/lib-ceph.sh"
# The guest's kernel log outlives the temporary directory, for a post-mortem.
trap 'ceph_stop >/dev/null 2>&1; cp "$tmp/disks/console.log" "$build/exportlive-console.log" 2>/dev/null; rm -rf "$tmp"' EXIT

n=0 failed=0
result() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; failed=$((failed + 1)); fi
}
check() {		# check DESCRIPTION COMMAND...
	local d=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	[ -n "$out" ] && sed 's/^/# /' <<<"$out"
	result $rc "$d"
}
echo "KTAP version 1"
echo "1..11"

out=$("$top/scripts/vm-run" --kver "$kver" --build "$build" --disk-dir "$tmp/disks" \
	--keep-disks --tests fx_export.sh --timeout 600 2>&1)
rc=$?
sed 's/^/# /' <<<"$out" | tail -n 20
result $rc "guest exported the chain on $kver"
mkdir -p "$tmp/x"
check "archive from the spare disk" tar -xf "$tmp/disks/disk-spare.img" -C "$tmp/x"
x=$tmp/x
want() { awk -v f="$1" '$2 == f { print $1 }' "$x/SHA256SUMS"; }

if ! ceph_start "$tmp/cluster"; then
	result 1 "local Ceph cluster"
else
	result 0 "local Ceph cluster (ready in $ceph_start_seconds s)"
fi
# import_check IMAGE DIFF SNAP: import-diff, then rbd export of @SNAP
# equals the dirtylog snapshot of DIFF.
import_check() {
	local got
	crbd import-diff --no-progress "$x/$2" "$1" || return 1
	got=$(crbd export --no-progress "$1@$3" - | sha256sum | cut -d' ' -f1)
	[ "$got" = "$(want "$2")" ] || { echo "rbd export $1@$3: $got, snapshot: $(want "$2")"; return 1; }
}
crbd create --size 24M dst >/dev/null 2>&1
check "rbd import-diff of the full e1 equals the snapshot at e1" import_check dst e1 e1
check "then e1..e2 equals the snapshot at e2" import_check dst e2 e2
check "then e2..e3 equals the snapshot at e3" import_check dst e3 e3

merged() {
	local got
	rbd -c /dev/null merge-diff --no-progress "$x/e2" "$x/e3" "$tmp/m23" || return 1
	crbd create --size 24M dst2 >/dev/null 2>&1
	crbd import-diff --no-progress "$x/e1" dst2 &&
		crbd import-diff --no-progress "$tmp/m23" dst2 || return 1
	got=$(crbd export --no-progress dst2@e3 - | sha256sum | cut -d' ' -f1)
	[ "$got" = "$(want e3)" ] || { echo "merged: $got, snapshot e3: $(want e3)"; return 1; }
}
check "rbd merge-diff e2+e3 applied after e1 equals the snapshot at e3" merged
# An empty diff e2..e2: banner, from, to, size, end (rbd diff v1).
empty() {
	perl -e 'print "rbd diff v1\n", "f", pack("V", 2), "e2", "t", pack("V", 2),
		"e2", "s", pack("Q<", 24 << 20), "e"' >"$tmp/empty"
	rbd -c /dev/null merge-diff --no-progress "$x/e2" "$tmp/empty" "$tmp/m2e" || return 1
	cmp "$x/e2" "$tmp/m2e"
}
check "rbd merge-diff of e2 with an empty diff gives e2 byte for byte" empty
ceph_stop >/dev/null 2>&1

qcheck() {
	local got
	(cd "$x" && qemu-img check -q "$1") || return 1
	got=$(cd "$x" && qemu-img convert -O raw "$1" "$tmp/$1.raw" && sha256sum <"$tmp/$1.raw" | cut -d' ' -f1)
	rm -f "$tmp/$1.raw"
	[ "$got" = "$(want "$1")" ] || { echo "$1 as raw: $got, snapshot: $(want "$1")"; return 1; }
}
check "qemu-img: q1 (full) is clean and equals its snapshot" qcheck q1.qcow2
check "qemu-img: q2 over q1 is clean and equals its snapshot" qcheck q2.qcow2
check "qemu-img: q3 over q2 is clean and equals its snapshot" qcheck q3.qcow2
((failed == 0))
