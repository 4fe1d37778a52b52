#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Mark-before-write, observed directly: with the metadata device frozen
# (suspended, so no metadata write can complete), a write to a block not yet
# marked must not reach the data device; it lands once the metadata device
# resumes and its mark is durable.  A write to a block already marked needs
# no metadata I/O and completes while the metadata device is frozen; status
# answers throughout.
. "$(dirname "$0")/lib.sh"
trap 'dmsetup resume mdl 2>/dev/null; dl_cleanup' EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
ktap_plan 8
msz=$(dl_sectors $DL_META)
len=$(dl_sectors $DL_DATA)
dmsetup create mdl --table "0 $msz linear $DL_META 0" && dmsetup mknodes
dmsetup create dur --table "0 $len dirtylog /dev/mapper/mdl $DL_DATA 8" && dmsetup mknodes
dev=/dev/mapper/dur
raw_block() { dd if=$DL_DATA bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null | sha256sum | cut -c1-16; }

dd if=/dev/urandom of=/tmp/blk bs=4096 count=1 2>/dev/null
want=$(sha256sum < /tmp/blk | cut -c1-16)
dd if=/tmp/blk of=$dev bs=4096 seek=100 oflag=direct 2>/dev/null
dmsetup message dur 0 checkpoint c1 >/dev/null
dd if=/tmp/blk of=$dev bs=4096 seek=100 oflag=direct 2>/dev/null	# marked again
before=$(raw_block 200)

dmsetup suspend mdl
dd if=/tmp/blk of=$dev bs=4096 seek=200 oflag=direct conv=fsync 2>/dev/null &
pid=$!
# In flight on dur first; then time in which it would complete if it could.
dl_wait_for 60 dl_write_inflight dur && sleep 3 && kill -0 $pid 2>/dev/null
ktap_result $? "a first write to a block waits while its mark cannot be written"
[ "$(raw_block 200)" = "$before" ]
ktap_result $? "... and has not reached the data device"
timeout 10 dmsetup status dur >/dev/null
ktap_result $? "status answers while a commit is stuck"
timeout 10 dd if=/tmp/blk of=$dev bs=4096 seek=100 oflag=direct 2>/dev/null
ktap_result $? "a write to an already marked block completes without metadata I/O"
dmsetup resume mdl
wait $pid
ktap_result $? "the waiting write completes once the metadata device resumes"
[ "$(raw_block 200)" = "$want" ]
ktap_result $? "... and is on the data device"
got=$(dmsetup message dur 0 dirty c1 | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "100 1 200 1" ]
ktap_result $? "both writes are dirty since c1 ('$got')"
ktap_check "remove" dmsetup remove dur
ktap_finish
