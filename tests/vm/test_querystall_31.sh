#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
# A long dirty-map query does not stall the write path (issue #18,
# finding 10): the admin guide says queries never wait for the worker
# and the worker never waits for them.
#
# A 16 GiB device over dm-zero at 4 KiB blocks, fully dirty in the
# interval c1..c2 (129 bitmap pages), its metadata on a dm-delay device.
# After a remove and recreate (the metadata cache is cold), every read of
# the metadata device takes 200 ms: the query 'dirty c1 c2' reads the 129
# frozen pages one by one, about 26 s.  While it runs, a first-touch write
# (its mark needs a commit, which writes but does not read) must complete,
# and the query must still be running when it does; then the query's
# answer is the whole device.  No timing is asserted: only which of the
# two finished first.
. "$(dirname "$0")/lib.sh"
cleanup() {
	dmsetup remove q >/dev/null 2>&1
	dl_cleanup
}
trap cleanup EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
modprobe dm-zero || exit 1
ktap_plan 4
if ! modprobe dm-delay 2>/dev/null; then
	for i in 1 2 3 4; do ktap_result 0 "# SKIP no dm-delay on this kernel"; done
	exit 0
fi
big=33554432		# 16 GiB in sectors
blocks=$((big / 8))
msz=$(dl_sectors $DL_META)
dl_fresh_meta
dmsetup create z --table "0 $big zero" &&
	dmsetup create M --table "0 $msz delay $DL_META 0 0" &&
	dmsetup mknodes >/dev/null 2>&1 || exit 1
table="0 $big dirtylog /dev/mapper/M /dev/mapper/z 8"
dmsetup create q --table "$table" && dmsetup mknodes >/dev/null 2>&1 || exit 1
dmsetup message q 0 checkpoint c1 >/dev/null &&
	dmsetup message q 0 mark_dirty 0 $blocks &&
	dmsetup message q 0 checkpoint c2 >/dev/null || exit 1
# A cold metadata cache, then slow reads (writes stay immediate).
dmsetup remove q && dmsetup create q --table "$table" && dmsetup mknodes >/dev/null 2>&1 || exit 1
dmsetup suspend M && dmsetup reload M --table "0 $msz delay $DL_META 0 200 $DL_META 0 0" &&
	dmsetup resume M || exit 1

dmsetup message q 0 dirty c1 c2 >/tmp/qs.out 2>&1 &
qpid=$!
# The query is under way when it waits for a metadata read.
dl_wait_for 30 sh -c "grep -q '^State:.*D' /proc/$qpid/status"
ktap_result $? "the query is reading the metadata"
dd if=/dev/urandom of=/dev/mapper/q bs=4096 seek=123 count=1 oflag=direct 2>/dev/null &
wpid=$!
if dl_wait_for 120 sh -c "! kill -0 $wpid 2>/dev/null || grep -q '^State:.*Z' /proc/$wpid/status"; then
	running=0
	kill -0 $qpid 2>/dev/null && ! grep -q '^State:.*Z' /proc/$qpid/status && running=1
	wait $wpid
	ktap_result $? "the first-touch write completes"
	[ $running = 1 ]
	ktap_result $? "... while the query is still running"
else
	ktap_result 1 "the first-touch write completes"
	ktap_result 1 "... while the query is still running"
fi
wait $qpid
[ "$(tr '\n' ' ' </tmp/qs.out | sed 's/ $//')" = "0 $blocks" ]
ktap_result $? "the query's answer is the whole device ($(head -c 80 /tmp/qs.out | tr '\n' ' '))"
dmsetup suspend M && dmsetup reload M --table "0 $msz delay $DL_META 0 0" && dmsetup resume M
ktap_finish
