#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Checkpoints through dm messages: writes land in the right interval, the
# answers survive reload, remove + recreate, and deleting checkpoints
# merges intervals without changing any other answer.
. "$(dirname "$0")/lib.sh"
trap dl_cleanup EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
len=$(dl_sectors $DL_DATA)
table="0 $len dirtylog $DL_META $DL_DATA 8"
dmsetup create ck --table "$table" || exit 1
dmsetup mknodes >/dev/null 2>&1
dev=/dev/mapper/ck
ktap_plan 17

wr() {			# wr BLOCK COUNT: write 4 KiB blocks through the target
	dd if=/dev/urandom of=$dev bs=4096 seek="$1" count="$2" oflag=direct 2>/dev/null
}
dirty() { dmsetup message ck 0 dirty "$@" | tr '\n' ' ' | sed 's/ $//'; }
expect() {		# expect DESCRIPTION WANT GOT
	[ "$2" = "$3" ]
	ktap_result $? "$1 (want '$2', got '$3')"
}

wr 10 1
id1=$(dmsetup message ck 0 checkpoint c1)
[ "$id1" = 1 ]
ktap_result $? "first checkpoint gets id 1 (got '$id1')"
wr 20 2
wr 100 1
id2=$(dmsetup message ck 0 checkpoint c2)
[ "$id2" = 2 ]
ktap_result $? "second checkpoint gets id 2 (got '$id2')"
wr 21 5
expect "dirty since c1" "20 6 100 1" "$(dirty c1)"
expect "dirty since c2" "21 5" "$(dirty c2)"
expect "dirty from c1 until c2" "20 2 100 1" "$(dirty c1 c2)"
expect "status: 5 dirty in the active interval, 2 checkpoints, latest id 2" \
	"5 2 2" "$(dl_status_field ck 3) $(dl_status_field ck 4) $(dl_status_field ck 5)"

# A discard far larger than any one bio split marks its whole range.
blkdiscard -o $((1000 * 4096)) -l $((30000 * 4096)) $dev 2>/dev/null ||
	dd if=/dev/zero of=$dev bs=4096 seek=1000 count=30000 oflag=direct 2>/dev/null
expect "a 117 MiB discard marks every block of it" "21 5 1000 30000" "$(dirty c2)"

dmsetup suspend ck && dmsetup reload ck --table "$table" && dmsetup resume ck
expect "reload keeps every answer" "20 6 100 1 1000 30000" "$(dirty c1)"
expect "reload creates no checkpoint" "2" "$(dl_status_field ck 4)"

dmsetup remove ck && dmsetup create ck --table "$table" && dmsetup mknodes >/dev/null 2>&1
expect "remove + recreate keeps every answer" "20 6 100 1 1000 30000" "$(dirty c1)"

id3=$(dmsetup message ck 0 checkpoint c3)
wr 5 1
dmsetup message ck 0 delete_checkpoint c2
expect "deleting a middle checkpoint keeps 'since c1'" "5 1 20 6 100 1 1000 30000" "$(dirty c1)"
expect "... and 'since c3'" "5 1" "$(dirty c3)"
dmsetup message ck 0 delete_checkpoint c3
expect "deleting the newest folds it into the active interval" "5 1 20 6 100 1 1000 30000" "$(dirty c1)"
dmsetup message ck 0 mark_dirty 7 2
expect "mark_dirty marks on request" "5 1 7 2 20 6 100 1 1000 30000" "$(dirty c1)"

! dmsetup message ck 0 checkpoint c1 2>/dev/null
ktap_result $? "a duplicate name is refused"
dmsetup message ck 0 reset
expect "reset forgets every checkpoint" "0" "$(dl_status_field ck 4)"
ktap_check "remove" dmsetup remove ck
ktap_finish
