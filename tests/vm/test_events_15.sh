#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# "dirtylogctl monitor" prints the module's multicast events as they come:
# checkpoint created and deleted (with name and id), resize (with the new
# block count), metadata space low (below 10% free), and state changes
# (fail when the metadata device dies), in --json and human form, in the
# order they happened; --count N exits after N events; without
# CAP_SYS_ADMIN joining the events group is refused (exit 4).
#
# e15: over a linear slice of $DL_DATA (grown later), metadata through a
# linear device over $DL_META (switched to "error" later).  es15: a 128
# KiB metadata slice of the spare disk, filled until it is nearly full.
. "$(dirname "$0")/lib.sh"
cleanup() {
	[ -n "${mj:-}" ] && kill "$mj" 2>/dev/null
	[ -n "${mh:-}" ] && kill "$mh" 2>/dev/null
	dl_cleanup
}
trap cleanup EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
ktap_plan 15

tmp=/tmp/ev15
rm -rf $tmp
mkdir -p $tmp
msz=$(dl_sectors $DL_META)
full=$(dl_sectors $DL_DATA)
half=$((full / 2))
dmsetup create e15m --table "0 $msz linear $DL_META 0" &&
	dmsetup create e15d --table "0 $half linear $DL_DATA 0" &&
	dmsetup mknodes &&
	dmsetup create e15 --table "0 $half dirtylog /dev/mapper/e15m /dev/mapper/e15d 8" &&
	dmsetup mknodes || exit 1
devno=$(dmsetup info -c --noheadings -o major,minor e15 | tr -d " ")

dirtylogctl --json monitor >$tmp/ev.json 2>$tmp/ev.json.err &
mj=$!
dirtylogctl monitor >$tmp/ev.txt 2>$tmp/ev.txt.err &
mh=$!
# Both listen once an event reaches them: announce probes until it does.
i=0
while [ $i -lt 100 ]; do
	i=$((i + 1))
	dirtylogctl checkpoint create e15 probe$i >/dev/null
	[ -s $tmp/ev.json ] && [ -s $tmp/ev.txt ] && break
	sleep 0.1
done
[ -s $tmp/ev.json ] && [ -s $tmp/ev.txt ]
ktap_result $? "both monitors receive events (after $i probe checkpoints)" ||
	ktap_diag "monitor stderr: $(cat $tmp/ev.json.err $tmp/ev.txt.err)"

# --- checkpoints -----------------------------------------------------------
id=$(dirtylogctl checkpoint create e15 x1) &&
	dirtylogctl checkpoint delete e15 x1
blocks=$((half / 8))
# has PATTERN: the line number of the first JSON event starting with it;
# events arrive asynchronously, so wait up to 20 s for it.
has() {
	_i=0
	while [ $_i -lt 200 ]; do
		_l=$(grep -n -F "$1" $tmp/ev.json | head -n 1 | cut -d: -f1)
		[ -n "$_l" ] && break
		_i=$((_i + 1))
		sleep 0.1
	done
	echo "$_l"
}
lc=$(has "{\"event\":\"checkpoint-created\",\"device\":\"e15\",\"dev\":\"$devno\",\"checkpoint\":\"x1\",\"id\":$id,\"state\":\"rw\",\"blocks\":$blocks,\"metadata_used_blocks\":")
[ -n "$lc" ]
ktap_result $? "checkpoint-created e15 x1 with id $id, state and size"
ld=$(has "{\"event\":\"checkpoint-deleted\",\"device\":\"e15\",\"dev\":\"$devno\",\"checkpoint\":\"x1\",\"state\":\"rw\",\"blocks\":$blocks,")
[ -n "$ld" ]
ktap_result $? "checkpoint-deleted e15 x1"
[ -n "$lc" ] && [ -n "$ld" ] && [ "$lc" -lt "$ld" ]
ktap_result $? "created came before deleted (lines $lc, $ld)"

# --- resize ----------------------------------------------------------------
dmsetup suspend e15d && dmsetup load e15d --table "0 $full linear $DL_DATA 0" &&
	dmsetup resume e15d &&
	dmsetup suspend e15 &&
	dmsetup load e15 --table "0 $full dirtylog /dev/mapper/e15m /dev/mapper/e15d 8" &&
	dmsetup resume e15
ktap_result $? "grow e15 from $half to $full sectors"
[ -n "$(has "{\"event\":\"resize\",\"device\":\"e15\",\"dev\":\"$devno\",\"state\":\"rw\",\"blocks\":$((full / 8)),")" ]
ktap_result $? "resize e15 with the new block count $((full / 8))"

# --- metadata space low ----------------------------------------------------
spare=$(dl_sectors $DL_SPARE)
dmsetup create es15m --table "0 256 linear $DL_SPARE 0" &&
	dmsetup create es15d --table "0 $((spare - 256)) linear $DL_SPARE 256" &&
	dmsetup mknodes &&
	dd if=/dev/zero of=/dev/mapper/es15m bs=4096 count=32 oflag=direct 2>/dev/null &&
	dmsetup create es15 --table "0 $((spare - 256)) dirtylog /dev/mapper/es15m /dev/mapper/es15d 8" &&
	dmsetup mknodes
ktap_result $? "create es15 with 32 metadata blocks"
# One write in every bitmap page, then a checkpoint, until 90% is used.
pages=$(((spare - 256) / 8 / 32640 + 1))
n=0
while [ $n -lt 30 ]; do
	n=$((n + 1))
	p=0
	while [ $p -lt $pages ]; do
		dd if=/dev/urandom of=/dev/mapper/es15 bs=4096 seek=$((p * 32640 + n)) \
			count=1 oflag=direct 2>/dev/null
		p=$((p + 1))
	done
	dirtylogctl checkpoint create es15 s$n >/dev/null 2>&1
	ut=$(dl_status_field es15 6)
	[ $((${ut%/*} * 10)) -gt $((${ut#*/} * 9)) ] && break
done
[ -n "$(has "{\"event\":\"space-low\",\"device\":\"es15\",")" ]
ktap_result $? "space-low es15 (metadata $ut after $n rounds)"

# --- state -------------------------------------------------------------------
dmsetup suspend e15m && dmsetup load e15m --table "0 $msz error" &&
	dmsetup resume e15m
ktap_result $? "the metadata device of e15 fails"
dd if=/dev/urandom of=/dev/mapper/e15 bs=4096 seek=12345 count=1 oflag=direct 2>/dev/null
[ -n "$(has "{\"event\":\"state\",\"device\":\"e15\",\"dev\":\"$devno\",\"state\":\"fail\",")" ]
ktap_result $? "state e15 fail after a write needed the metadata"

kill -0 $mj && kill -0 $mh
ktap_result $? "both monitors are still running"
[ "$_ktap_failed" = 0 ] || sed 's/^/# event: /' $tmp/ev.json
kill $mj $mh
wait $mj $mh 2>/dev/null
mj= mh=
grep -q "^checkpoint-created e15 checkpoint x1 id $id state rw blocks $blocks metadata [0-9]*/[0-9]*\$" $tmp/ev.txt
ktap_result $? "human form: 'checkpoint-created e15 checkpoint x1 id $id state rw blocks $blocks metadata U/T'"
[ -s $tmp/ev.json.err ] || [ -s $tmp/ev.txt.err ]
[ $? -ne 0 ] || ktap_diag "stderr: $(cat $tmp/ev.json.err $tmp/ev.txt.err)"

# --- --count -----------------------------------------------------------------
dirtylogctl monitor --count 2 >$tmp/count.txt &
mc=$!
i=0
while [ $i -lt 100 ] && kill -0 $mc 2>/dev/null; do
	i=$((i + 1))
	dirtylogctl checkpoint create es15 q$i >/dev/null 2>&1 ||
		dirtylogctl checkpoint delete es15 q$((i - 1)) >/dev/null 2>&1
	sleep 0.1
done
wait $mc
rc=$?
[ $rc = 0 ] && [ "$(wc -l <$tmp/count.txt)" = 2 ]
ktap_result $? "monitor --count 2 exits by itself after 2 events (exit $rc, $(wc -l <$tmp/count.txt) lines)"

# --- privilege ---------------------------------------------------------------
if unshare -U -r true 2>/dev/null; then
	unshare -U -r dirtylogctl monitor --count 1 >$tmp/out 2>$tmp/err
	rc=$?
	[ $rc = 4 ] && [ ! -s $tmp/out ]
	ktap_result $? "monitor without CAP_SYS_ADMIN: exit 4 ($(cat $tmp/err))"
	unshare -U -r dirtylogctl dirty es15 --since s1 -o $tmp/unpriv >$tmp/out 2>$tmp/err
	rc=$?
	[ $rc = 4 ] && [ ! -e $tmp/unpriv ]
	ktap_result $? "dirty -o without CAP_SYS_ADMIN: exit 4, no file ($(cat $tmp/err))"
else
	ktap_result 0 "monitor without CAP_SYS_ADMIN # SKIP no user namespaces"
	ktap_result 0 "dirty -o without CAP_SYS_ADMIN # SKIP no user namespaces"
fi
ktap_finish
