#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Data written through the target reaches the data device unchanged and
# reads back identical, for writes, discards-then-reads and flushes.
. "$(dirname "$0")/lib.sh"
trap dl_cleanup EXIT

dl_cleanup
dl_fresh_meta
ktap_plan 8
modprobe dm-dirtylog || exit 1
len=$(dl_sectors $DL_DATA)
dmsetup create dlio --table "0 $len dirtylog $DL_META $DL_DATA 8" || exit 1
dmsetup mknodes >/dev/null 2>&1
dev=/dev/mapper/dlio

# 8 MiB of random data at 4 MiB, through the target.
dd if=/dev/urandom of=/tmp/pattern bs=1M count=8 2>/dev/null
want=$(sha256sum < /tmp/pattern | cut -d' ' -f1)
dd if=/tmp/pattern of=$dev bs=1M seek=4 oflag=direct conv=fsync 2>/dev/null
ktap_result $? "8 MiB direct write through the target"

got=$(dl_sha $DL_DATA $((4 << 20)) $((8 << 20)))
[ "$got" = "$want" ]
ktap_result $? "data device holds the written bytes (sha256 $want)"

got=$(dl_sha $dev $((4 << 20)) $((8 << 20)))
[ "$got" = "$want" ]
ktap_result $? "reads through the target return the written bytes"

# Buffered write at the very end of the device, then a flush (sync).
tail=$(((len / 8 - 2) * 4096))
dd if=/tmp/pattern of=$dev bs=4096 seek=$((tail / 4096)) count=2 2>/dev/null && sync
dd if=/tmp/pattern bs=4096 count=2 2>/dev/null | sha256sum | cut -d' ' -f1 > /tmp/want_tail
got=$(dl_sha $DL_DATA $tail 8192)
[ "$got" = "$(cat /tmp/want_tail)" ]
ktap_result $? "buffered write of the last two blocks is on the data device after sync"

ktap_check "remove" dmsetup remove dlio

# The same over memory-backed null_blk devices (the rig's fast disks).
modprobe null_blk nr_devices=2 memory_backed=1 gb=1 bs=4096
ktap_result $? "memory-backed null_blk devices load"
len=$(dl_sectors /dev/nullb0)
dl_fresh_meta /dev/nullb1
dmsetup create dlnull --table "0 $len dirtylog /dev/nullb1 /dev/nullb0 2048" &&
	dmsetup mknodes >/dev/null 2>&1 &&
	dd if=/tmp/pattern of=/dev/mapper/dlnull bs=1M seek=100 oflag=direct 2>/dev/null
ktap_result $? "8 MiB write through a target over null_blk"
got=$(dl_sha /dev/nullb0 $((100 << 20)) $((8 << 20)))
[ "$got" = "$want" ]
ktap_result $? "null_blk data device holds the written bytes"
dmsetup remove dlnull
modprobe -r null_blk
ktap_finish
