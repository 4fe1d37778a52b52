#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A failed atomic checkpoint whose rollback fails too (issue #18,
# finding 3): the device keeps the checkpoint, and says so.
#
# J's metadata is on the test target dlfault in budget mode, K's on a
# plain slice.  K already has a checkpoint x, so 'checkpoint create J x
# --also K' makes x on J, fails on K (EEXIST) and deletes x on J again;
# J's metadata passes exactly the flushes of one checkpoint commit
# (measured first), so that delete fails.  Then: the request fails and
# says a rollback failed; J shows x as its stray checkpoint (status, JSON,
# netlink DEV_GET) and the kernel log names it; K's x is untouched; and
# once the metadata works again (reload), deleting x on J clears it.
. "$(dirname "$0")/lib.sh"
cleanup() {
	dmsetup remove J >/dev/null 2>&1
	dmsetup remove K >/dev/null 2>&1
	dmsetup remove F >/dev/null 2>&1
	dl_cleanup
	modprobe -r dm-dlfault 2>/dev/null
}
trap cleanup EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
modprobe dm-dlfault || exit 1
ktap_plan 9
MIB=2048
dd if=/dev/zero of=$DL_META bs=1M count=16 oflag=direct 2>/dev/null
dmsetup create F --table "0 $((8 * MIB)) dlfault $DL_META budget" &&
	dmsetup create mK --table "0 $((8 * MIB)) linear $DL_META $((8 * MIB))" &&
	dmsetup create dJ --table "0 $((64 * MIB)) linear $DL_DATA 0" &&
	dmsetup create dK --table "0 $((64 * MIB)) linear $DL_DATA $((64 * MIB))" &&
	dmsetup mknodes >/dev/null 2>&1 || exit 1
jtable="0 $((64 * MIB)) dirtylog /dev/mapper/F /dev/mapper/dJ 8"
dmsetup create J --table "$jtable" &&
	dmsetup create K --table "0 $((64 * MIB)) dirtylog /dev/mapper/mK /dev/mapper/dK 8" &&
	dmsetup mknodes >/dev/null 2>&1 || exit 1
flushes() { dmsetup status F | awk '{ print $5 }'; }

dmsetup message K 0 checkpoint x >/dev/null &&
	dmsetup message J 0 checkpoint base >/dev/null || exit 1
dd if=/dev/urandom of=/dev/mapper/J bs=4096 seek=10 count=3 oflag=direct 2>/dev/null
kx=$(dmsetup message K 0 list_checkpoints | grep '^x ')
# The flushes of one checkpoint commit on J.
f0=$(flushes)
dmsetup message J 0 checkpoint probe >/dev/null || exit 1
per=$(($(flushes) - f0))
dmsetup message J 0 delete_checkpoint probe || exit 1
ktap_diag "one checkpoint commit sends $per flush/FUA bios"
[ "$per" -gt 0 ]
ktap_result $? "the budget target counts the flushes of a commit"

dmsetup message F 0 budget "$per" || exit 1
dirtylogctl checkpoint create J x --also K >/tmp/rb.out 2>&1
rc=$?
sed 's/^/# /' /tmp/rb.out
[ $rc -ne 0 ] && grep -q 'rollback failed' /tmp/rb.out
ktap_result $? "the atomic checkpoint fails and says a rollback failed (exit $rc)"
dmesg | grep -q "J: atomic checkpoint 'x' failed, rollback failed here"
ktap_result $? "the kernel log names the device and the checkpoint"
dirtylogctl status J | grep -q '^  stray checkpoint: x '
ktap_result $? "dirtylogctl status shows x as J's stray checkpoint"
dirtylogctl status J --json | grep -q '"stray_checkpoint":"x"'
ktap_result $? "... and so does --json"
[ "$(dmsetup message K 0 list_checkpoints | grep '^x ')" = "$kx" ]
ktap_result $? "K's own checkpoint x is untouched"

# The metadata works again: a reload reopens it; x is still on J.
dmsetup message F 0 budget off
dmsetup suspend J && dmsetup reload J --table "$jtable" && dmsetup resume J
dmsetup message J 0 list_checkpoints | grep -q '^x '
ktap_result $? "after a reload J still holds x (state $(dl_status_field J 7))"
dirtylogctl checkpoint delete J x
ktap_result $? "deleting x on J works"
! dirtylogctl status J | grep -q 'stray checkpoint' &&
	dirtylogctl status J --json | grep -q '"stray_checkpoint":null'
ktap_result $? "... and clears the stray checkpoint"
ktap_finish
