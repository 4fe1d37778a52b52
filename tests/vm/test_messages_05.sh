#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Target messages through dmsetup, as a user types them, with known answers
# at 4 KiB blocks (complementing test_checkpoint_04.sh): a fresh device's
# status, empty answers, sub-block and boundary-crossing writes,
# list_checkpoints, each error's errno as dmsetup reports it, suspend +
# resume, and deleting the oldest and then the only checkpoint.  Buffered
# writes with fsync: at 4 KiB blocks a page is exactly one block.
. "$(dirname "$0")/lib.sh"
trap dl_cleanup EXIT

dl_cleanup
ktap_plan 32
modprobe dm-dirtylog || exit 1
len=$(dl_sectors "$DL_DATA")
nr=$((len / 8))
dev=/dev/mapper/dlmsg

create() {
	dmsetup create dlmsg --table "0 $len dirtylog $DL_META $DL_DATA 8" &&
		dmsetup mknodes >/dev/null 2>&1
}

msg() {			# msg ARGS...: the answer, trailing newline dropped
	dmsetup message dlmsg 0 "$@"
}

# write BYTE_OFFSET BYTES (through the page cache, then fsync)
write() {
	dd if=/dev/urandom of=$dev bs="$2" count=1 seek="$1" \
		oflag=seek_bytes conv=notrunc,fsync 2>/dev/null
}

# check_eq DESCRIPTION GOT WANT: one result, both shown on mismatch.
check_eq() {
	if [ "$2" = "$3" ]; then
		ktap_result 0 "$1"
	else
		ktap_diag "got:  '$(echo "$2" | tr '\n' '|')'"
		ktap_diag "want: '$(echo "$3" | tr '\n' '|')'"
		ktap_result 1 "$1"
	fi
}

# status_fields: "<block size> <#blocks> <dirty> <#checkpoints> <latest id> <state>"
status_fields() {
	dmsetup status dlmsg | awk '{ print $4, $5, $6, $7, $8, $10 }'
}

# fails_with DESCRIPTION ERRNO_TEXT MESSAGE...: the message is refused and
# dmsetup reports the errno's text.
fails_with() {
	_d=$1 _e=$2
	shift 2
	_out=$(dmsetup message dlmsg 0 "$@" 2>&1)
	_rc=$?
	if [ $_rc -ne 0 ] && echo "$_out" | grep -q "$_e"; then
		ktap_result 0 "$_d"
	else
		ktap_diag "exit status $_rc: $_out"
		ktap_result 1 "$_d"
	fi
}

nl='
'

# A fresh (all-zero) metadata device is formatted on first load.
dd if=/dev/zero of="$DL_META" bs=1M count=1 oflag=direct 2>/dev/null
create
ktap_result $? "create over a zeroed metadata device"
check_eq "status of a fresh device" "$(status_fields)" "8 $nr 0 0 0 rw"

id1=$(msg checkpoint c1)
case $id1 in
'' | *[!0-9]*) ktap_result 1 "checkpoint c1 answers its id (got '$id1')" ;;
*) ktap_result 0 "checkpoint c1 answers its id ($id1)" ;;
esac
check_eq "nothing is dirty right after the checkpoint" "$(msg dirty c1)" ""

write $((10 * 4096)) 4096
check_eq "one block written" "$(msg dirty c1)" "10 1"
write $((11 * 4096 + 2048)) 512
check_eq "a 512-byte write dirties its block, coalesced with the previous" \
	"$(msg dirty c1)" "10 2"
write $((13 * 4096 + 3584)) 1024
check_eq "a write across a block boundary dirties both blocks" \
	"$(msg dirty c1)" "10 2${nl}13 2"

id2=$(msg checkpoint c2)
[ -n "$id2" ] && [ "$id2" -gt "$id1" ] 2>/dev/null
ktap_result $? "checkpoint c2 gets a larger id ($id1 then $id2)"
blkdiscard -o $((100 * 4096)) -l 4096 $dev
ktap_result $? "discard one block through the target"
check_eq "the discarded block is dirty since c2" "$(msg dirty c2)" "100 1"
msg mark_dirty $((nr - 1)) 1
ktap_result $? "mark_dirty of the last block"
check_eq "dirty since c2" "$(msg dirty c2)" "100 1${nl}$((nr - 1)) 1"
check_eq "dirty since c1 covers both intervals" "$(msg dirty c1)" \
	"10 2${nl}13 2${nl}100 1${nl}$((nr - 1)) 1"
check_eq "dirty from c1 until c2" "$(msg dirty c1 c2)" "10 2${nl}13 2"
check_eq "status counts the active interval and the checkpoints" \
	"$(status_fields)" "8 $nr 2 2 $id2 rw"
check_eq "list_checkpoints: names and ids, oldest first" \
	"$(msg list_checkpoints | awk '{ print $1, $2 }')" "c1 $id1${nl}c2 $id2"

fails_with "a duplicate name is refused with EEXIST" "File exists" checkpoint c1
fails_with "an invalid name is refused with EINVAL" "Invalid argument" checkpoint bad/name
fails_with "deleting a missing checkpoint fails with ENOENT" "No such file" \
	delete_checkpoint nope
fails_with "dirty since an unknown checkpoint fails with ENOENT" "No such file" \
	dirty nope
fails_with "until older than since fails with EINVAL" "Invalid argument" dirty c2 c1
fails_with "mark_dirty beyond the device fails with EINVAL" "Invalid argument" \
	mark_dirty $nr 1

before="$(msg list_checkpoints)|$(msg dirty c1)|$(msg dirty c1 c2)|$(msg dirty c2)|$(status_fields)"
dmsetup suspend dlmsg && dmsetup resume dlmsg
after="$(msg list_checkpoints)|$(msg dirty c1)|$(msg dirty c1 c2)|$(msg dirty c2)|$(status_fields)"
check_eq "suspend + resume changes nothing and adds no checkpoint" "$after" "$before"

msg delete_checkpoint c1
ktap_result $? "delete the oldest checkpoint"
check_eq "dirty since c2 is unchanged" "$(msg dirty c2)" "100 1${nl}$((nr - 1)) 1"
check_eq "list_checkpoints shows c2 only" \
	"$(msg list_checkpoints | awk '{ print $1, $2 }')" "c2 $id2"

# Without checkpoints the active interval holds what was written since the
# deleted one (the interval before the oldest checkpoint is not kept).
msg delete_checkpoint c2
ktap_result $? "delete the only checkpoint"
check_eq "status: the 2 blocks written since c2, no checkpoint, latest id 0" \
	"$(status_fields)" "8 $nr 2 0 0 rw"
write $((200 * 4096)) 4096
check_eq "a write without checkpoints is counted in the active interval" \
	"$(status_fields | cut -d' ' -f3)" "3"

msg reset
ktap_result $? "reset"
check_eq "no checkpoint is left" "$(msg list_checkpoints)|$(status_fields | cut -d' ' -f4,5)" "|0 0"
ktap_check "remove" dmsetup remove dlmsg
ktap_finish
