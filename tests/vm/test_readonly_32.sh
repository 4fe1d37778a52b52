#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Read-only tables and read-only metadata devices (issue #18, finding 8).
#
# The metadata device is opened read-write whatever the table's mode, as
# dm-era and dm-clone do: a read-only table formats blank metadata and
# commits checkpoints, and what it commits is there for a read-write
# table later.  A write to the read-only device either fails or is
# tracked.  A metadata device that is itself read-only (a read-only dm
# device) is refused at load with a clear reason, on every kernel (6.1
# would otherwise let the writes through with only a log line).
. "$(dirname "$0")/lib.sh"
trap dl_cleanup EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
ktap_plan 7
len=$(dl_sectors $DL_DATA)
mlen=$((16 * 2048))
dl_fresh_meta

ktap_check "a read-only table loads over blank metadata" \
	dmsetup create --readonly ro --table "0 $len dirtylog $DL_META $DL_DATA 8"
dmsetup mknodes >/dev/null 2>&1
# The superblock magic "DGLS" (little-endian) at byte 4 of block 0.
magic=$(dd if=$DL_META bs=4 skip=1 count=1 2>/dev/null | od -An -c | tr -d ' ')
[ "$magic" = SLGD ]
ktap_result $? "the read-only table formatted the metadata (magic '$magic')"
ktap_check "a checkpoint commits under the read-only table" dmsetup message ro 0 checkpoint r1
# A write to the read-only device either fails or is tracked.
if dd if=/dev/urandom of=/dev/mapper/ro bs=4096 seek=5 count=1 oflag=direct 2>/dev/null; then
	[ "$(dmsetup message ro 0 dirty r1)" = "5 1" ]
	ktap_result $? "a write the read-only device took is tracked"
else
	[ -z "$(dmsetup message ro 0 dirty r1)" ]
	ktap_result $? "a write the read-only device refused marks nothing"
fi
dmsetup remove ro
dmsetup create rw --table "0 $len dirtylog $DL_META $DL_DATA 8" &&
	dmsetup message rw 0 list_checkpoints | grep -q '^r1 1 '
ktap_result $? "a read-write table finds the checkpoint the read-only one made"
dmsetup remove rw

# A read-only metadata device.
dmsetup create --readonly M --table "0 $mlen linear $DL_META 0" && dmsetup mknodes >/dev/null 2>&1
before=$(dd if=$DL_META bs=4096 count=1 2>/dev/null | md5sum)
out=$(dmsetup create bad --table "0 $len dirtylog /dev/mapper/M $DL_DATA 8" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
dmesg | grep 'dirtylog' | tail -n 2 | sed 's/^/# /'
[ $rc -ne 0 ] && dmesg | grep -q 'Metadata device is read-only'
ktap_result $? "a read-only metadata device is refused with the reason"
after=$(dd if=$DL_META bs=4096 count=1 2>/dev/null | md5sum)
[ "$before" = "$after" ]
ktap_result $? "and nothing was written to it"
dmsetup remove bad >/dev/null 2>&1
dmsetup remove M
ktap_finish
