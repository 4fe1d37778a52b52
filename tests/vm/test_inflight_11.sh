#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A write still in flight when a checkpoint is created (it arrived before,
# completes after) is marked in the new interval too, so an incremental
# backup since the new checkpoint cannot miss it.  The data device sits on a
# dm-linear that is suspended, which holds the write in flight for as long
# as the test wants.
. "$(dirname "$0")/lib.sh"
trap 'dmsetup resume dlin 2>/dev/null; dl_cleanup' EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
ktap_plan 6
len=$(dl_sectors $DL_DATA)
dmsetup create dlin --table "0 $len linear $DL_DATA 0" && dmsetup mknodes
dmsetup create inf --table "0 $len dirtylog $DL_META /dev/mapper/dlin 8" && dmsetup mknodes
dev=/dev/mapper/inf
dirty() { dmsetup message inf 0 dirty "$@" | tr '\n' ' ' | sed 's/ $//'; }

dmsetup message inf 0 checkpoint c1 >/dev/null
dmsetup suspend dlin
dd if=/dev/urandom of=$dev bs=4096 seek=77 count=1 oflag=direct 2>/dev/null &
pid=$!
# Marked first, then sent on to dlin, where it is held.
dl_wait_for 60 eval '[ "$(dirty c1)" = "77 1" ]' && kill -0 $pid 2>/dev/null
ktap_result $? "the write is marked and held in flight below the target"
dmsetup message inf 0 checkpoint c2 >/dev/null
ktap_result $? "a checkpoint is created while it is in flight"
dmsetup resume dlin
wait $pid
ktap_result $? "the write completes"
got=$(dirty c2)
[ "$got" = "77 1" ]
ktap_result $? "it is dirty since the new checkpoint ('$got')"
got=$(dirty c1 c2)
[ "$got" = "77 1" ]
ktap_result $? "and in the interval before it, where it was marked first ('$got')"
ktap_check "remove" dmsetup remove inf
ktap_finish
