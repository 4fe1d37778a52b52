#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Fixture for tests/rig/test_exportlive_07.sh (not a test on its own): export
# a chain while a writer writes, as rbd-diff (e1, e1..e2, e2..e3) and as
# qcow2 (q1, q2 over q1, q3 over q2), hashing each export's snapshot
# through DIRTYLOGCTL_SNAPSHOT_HOOK, and leave the files and the hashes
# as a tar archive at the start of the spare disk for the host, which
# checks them with real Ceph and qemu-img.
. "$(dirname "$0")/lib.sh"
trap 'kill $wpid 2>/dev/null; dl_cleanup; rm -rf /tmp/fx' EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
modprobe dm-snapshot || exit 1
modprobe loop
ktap_plan 8

t=/tmp/fx
rm -rf $t
mkdir -p $t/out
export TMPDIR=$t
export DIRTYLOGCTL_SNAPSHOT_HOOK='sha256sum <"$1" | cut -d" " -f1 >'$t'/snap.sha'
dmsetup create fxd --table "0 $((24 * 2048)) linear $DL_DATA 0" &&
	dmsetup mknodes && dmsetup create fx --table "0 $((24 * 2048)) dirtylog $DL_META /dev/mapper/fxd 128" &&
	dmsetup mknodes
ktap_result $? "create fx over a 24 MiB slice"
dev=/dev/mapper/fx
dd if=/dev/urandom of=$dev bs=1M count=20 oflag=direct 2>/dev/null
fio --name=w --filename=$dev --rw=randwrite --bs=4k --size=24m \
	--direct=1 --ioengine=libaio --iodepth=4 --rate=1m --time_based \
	--runtime=3600 --refill_buffers >/dev/null 2>&1 &
wpid=$!
sleep 1

# exp FILE ARGS...: export to $t/out/FILE, its snapshot's hash into sums.
exp() {
	f=$1
	shift
	rm -f $t/snap.sha
	dirtylogctl export fx "$@" -o $t/out/$f 2>$t/err
	rc=$?
	[ $rc -eq 0 ] || sed 's/^/# /' $t/err
	[ -s $t/snap.sha ] && echo "$(cat $t/snap.sha)  $f" >>$t/out/SHA256SUMS
	return $rc
}

exp e1 --checkpoint e1 --format rbd-diff
ktap_result $? "full rbd-diff export e1"
exp q1.qcow2 --checkpoint q1 --format qcow2
ktap_result $? "full qcow2 export q1"
sleep 2
exp e2 --since e1 --checkpoint e2 --format rbd-diff
ktap_result $? "rbd-diff e1..e2"
exp q2.qcow2 --since q1 --checkpoint q2 --format qcow2 --backing q1.qcow2
ktap_result $? "qcow2 q1..q2 over q1"
# Zero a region while the writer writes elsewhere too.
dd if=/dev/zero of=$dev bs=1M seek=4 count=4 oflag=direct 2>/dev/null
sleep 1
exp e3 --since e2 --checkpoint e3 --format rbd-diff
ktap_result $? "rbd-diff e2..e3"
exp q3.qcow2 --since q2 --checkpoint q3 --format qcow2 --backing q2.qcow2
ktap_result $? "qcow2 q2..q3 over q2"
kill $wpid
wait $wpid 2>/dev/null
cat $t/out/SHA256SUMS | sed 's/^/# /'
(cd $t/out && tar -cf $t/fx.tar SHA256SUMS e1 e2 e3 q1.qcow2 q2.qcow2 q3.qcow2) &&
	dd if=$t/fx.tar of=$DL_SPARE bs=1M 2>/dev/null && sync
ktap_result $? "archive on the spare disk"
ktap_finish
