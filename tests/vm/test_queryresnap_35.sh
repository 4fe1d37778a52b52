#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
# A query that outlives a checkpoint operation.  Queries read frozen
# trees without the metadata lock, so a checkpoint created or deleted
# during a walk makes the walk look its checkpoints up again.  The
# dm message "dirty SINCE" writes its answer into the ioctl buffer that
# also holds its arguments: looking SINCE up again by name read the
# answer written so far ("no such checkpoint", seen as a 1-in-60 failure
# of test_soak_27).  A renewal now finds the checkpoint by the id of the
# first look.
#
# A 16 GiB device over dm-zero at 4 KiB blocks has two marked blocks in
# each of its 128 bitmap pages in the interval c1..c2, its metadata on a
# dm-delay device whose reads take 100 ms after a cold start, so that
# 'dirty c1' reads the frozen pages one by one for about 13 s.  Once the
# walk has read a few pages (block-layer read counter of the metadata
# device; no timing is asserted):
#   - a block of the last page is written and a checkpoint c3 created:
#     the query still answers exactly the marked blocks and that block
#     (each page is answered as of the moment the walk reads it);
#   - c1 is deleted: the query fails with "no such checkpoint" rather than
#     answering for another checkpoint;
#   - through netlink (dirtylogctl dirty), a checkpoint made during the
#     walk of the dump's last message flags the dump interrupted (it was
#     not: only a change between two messages was), so dirtylogctl starts
#     it again and answers exactly.
. "$(dirname "$0")/lib.sh"
cleanup() {
	dmsetup remove q >/dev/null 2>&1
	dl_cleanup
}
trap cleanup EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
modprobe dm-zero || exit 1
ktap_plan 7
if ! modprobe dm-delay 2>/dev/null; then
	for i in 1 2 3 4 5 6 7; do ktap_result 0 "# SKIP no dm-delay on this kernel"; done
	exit 0
fi
big=33554432		# 16 GiB in sectors
per=32768		# blocks per bitmap page
pages=$((big / 8 / per))
msz=$(dl_sectors $DL_META)
dl_fresh_meta
dmsetup create z --table "0 $big zero" &&
	dmsetup create M --table "0 $msz delay $DL_META 0 0" &&
	dmsetup mknodes >/dev/null 2>&1 || exit 1
table="0 $big dirtylog /dev/mapper/M /dev/mapper/z 8"
mstat=/sys/block/$(dmsetup info -c --noheadings -o blkdevname M)/stat

# setup: c1, two marks in every page (the model in $t.want), c2.
t=/tmp/qr35
setup() {
	dl_fresh_meta
	dmsetup create q --table "$table" && dmsetup mknodes >/dev/null 2>&1 &&
		dmsetup message q 0 checkpoint c1 >/dev/null || return 1
	: > $t.want
	p=0
	while [ $p -lt $pages ]; do
		a=$((p * per + (p * 37) % 1000)); b=$((a + 2 + p % 5))
		dmsetup message q 0 mark_dirty $a 1 && dmsetup message q 0 mark_dirty $b 1 || return 1
		printf '%s 1\n%s 1\n' $a $b >> $t.want
		p=$((p + 1))
	done
	dmsetup message q 0 checkpoint c2 >/dev/null || return 1
	# A cold metadata cache, then slow reads (writes stay immediate).
	dmsetup remove q && dmsetup create q --table "$table" && dmsetup mknodes >/dev/null 2>&1 &&
		dmsetup suspend M && dmsetup reload M --table "0 $msz delay $DL_META 0 100 $DL_META 0 0" &&
		dmsetup resume M
}
fast() {
	dmsetup suspend M && dmsetup reload M --table "0 $msz delay $DL_META 0 0" && dmsetup resume M
}
mreads() { awk '{ print $1 }' $mstat; }
# start_query: 'dirty c1' in the background; returns once it has read 4 pages.
start_query() {
	r0=$(mreads)
	dmsetup message q 0 dirty c1 > $t.out 2> $t.err &
	qpid=$!
	dl_wait_for 60 sh -c "[ \$(awk '{ print \$1 }' $mstat) -ge $((r0 + 4)) ]"
}
running() { kill -0 $qpid 2>/dev/null && ! grep -q '^State:.*Z' /proc/$qpid/status; }

setup || exit 1
start_query
running
ktap_result $? "the query is walking the slow metadata"
last=$((big / 8 - 10))	# in the last page, which the walk reads last
dd if=/dev/urandom of=/dev/mapper/q bs=4096 seek=$last count=1 oflag=direct 2>/dev/null &&
	dmsetup message q 0 checkpoint c3 >/dev/null
r=$?
[ $r = 0 ] && running
ktap_result $? "a first-touch write and checkpoint c3 complete while it runs"
wait $qpid
ktap_result $? "the query succeeds across the checkpoint ($(head -c 120 $t.err))"
{ cat $t.want; echo "$last 1"; } | sort -n > $t.model
sort -n $t.out | cmp -s - $t.model
ktap_result $? "its answer is the marked blocks and the new write ($(wc -l < $t.out) extents, want $(wc -l < $t.model))"

fast && dmsetup remove q || exit 1
setup || exit 1
start_query
dmsetup message q 0 delete_checkpoint c1
r=$?
wait $qpid
q=$?
[ $r = 0 ] && [ $q != 0 ] && grep -q 'No such file or directory' $t.err
ktap_result $? "deleting c1 while it runs fails the query with ENOENT (delete $r, query $q: $(head -c 120 $t.err))"

# The same through netlink: a checkpoint made while the walk of the dump's
# last message runs (past three quarters of the pages) flags it
# interrupted, so dirtylogctl starts the dump again.
fast && dmsetup remove q || exit 1
setup || exit 1
r0=$(mreads)
dirtylogctl dirty q --since c1 > $t.nl 2> $t.nlerr &
qpid=$!
i=0
while [ $(mreads) -lt $((r0 + pages * 3 / 4)) ] && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
running && dmsetup message q 0 checkpoint c3 >/dev/null
r=$?
wait $qpid
q=$?
[ $r = 0 ] && [ $q = 0 ] && grep -q 'restarted it' $t.nlerr
ktap_result $? "a netlink dump across a checkpoint is restarted (checkpoint $r, dump $q: $(head -c 160 $t.nlerr))"
sort -n $t.want > $t.model && awk '$1 == "start" { print $2, $4 }' $t.nl | sort -n | cmp -s - $t.model
ktap_result $? "... and its answer is exact ($(grep -c '^start' $t.nl) extents)"
fast
rm -f $t.*
ktap_finish
