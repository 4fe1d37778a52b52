#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
# Requests (checkpoint create and delete, mark_dirty) run in their
# caller's context; the worker lets those already started take the
# metadata lock before its next batch of writes (run_request() and
# dirtylog_worker() in dirtylog-target.c).  Three tight loops of
# checkpoint create and delete (dl_bench_time: one ioctl after another,
# so that requests overlap nearly all the time), a netlink loop
# (dirtylogctl checkpoint create/delete) and a mark_dirty loop run while a
# writer writes 256 blocks of which each needs a new mark:
#   - the writer finishes within a generous bound (a worker that waited
#     for every request, not only for those started before it looked,
#     would starve it);
#   - every request loop ran without an error;
#   - the blocks dirty since a checkpoint made before the writer are
#     exactly the blocks written and marked (the model: dd's range and
#     the mark_dirty ranges), by dmsetup message and by netlink;
#   - the loops left no checkpoint behind, and 'dirtylogctl metadata
#     check' finds the metadata clean after the device is removed.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")" || exit 1
t=/tmp/rf37
trap 'touch $t/stop 2>/dev/null; wait 2>/dev/null; dl_cleanup; rm -rf $t' EXIT

dl_cleanup
dl_fresh_meta
rm -rf $t
mkdir -p $t
modprobe dm-dirtylog || exit 1
ktap_plan 7
NW=256		# blocks the writer writes (4 KiB each, from block 0)
MB=20000	# mark_dirty loop: block MB + 2 * i, one block each
dmsetup create rf --table "0 $(dl_sectors $DL_DATA) dirtylog $DL_META $DL_DATA 8" &&
	dmsetup mknodes >/dev/null 2>&1 &&
	dmsetup message rf 0 checkpoint start >/dev/null || exit 1

# loop_ioctl P: rounds of 40 creates and deletes, each named P<round>_<i>,
# then the round's last one deleted.  Until $t/stop exists.
loop_ioctl() {
	_r=0
	while [ ! -e $t/stop ]; do
		./dl_bench_time msg rf 40 "checkpoint $1${_r}_%d" \
			"delete_checkpoint $1${_r}_%d" >/dev/null 2>>$t/err.$1 &&
			dmsetup message rf 0 delete_checkpoint "$1${_r}_40" >/dev/null 2>>$t/err.$1 ||
			{ echo "round $_r" >> $t/err.$1; return 1; }
		_r=$((_r + 1))
	done
	echo $_r > $t/rounds.$1
}
loop_netlink() {
	_i=0
	while [ ! -e $t/stop ]; do
		dirtylogctl checkpoint create rf "n$_i" >/dev/null 2>>$t/err.n &&
			dirtylogctl checkpoint delete rf "n$_i" >/dev/null 2>>$t/err.n ||
			{ echo "request $_i" >> $t/err.n; return 1; }
		_i=$((_i + 1))
	done
	echo $_i > $t/rounds.n
}
loop_mark() {		# at most 200 marks: the answer stays short
	_i=0
	while [ ! -e $t/stop ] && [ $_i -lt 200 ]; do
		dmsetup message rf 0 mark_dirty $((MB + 2 * _i)) 1 >/dev/null 2>>$t/err.m ||
			{ echo "mark $_i" >> $t/err.m; return 1; }
		_i=$((_i + 1))
	done
	echo $_i > $t/rounds.m
}

pids=
for p in a b c; do
	loop_ioctl $p &
	pids="$pids $!"
done
loop_netlink &
pids="$pids $!"
loop_mark &
pids="$pids $!"
sleep 2
# A starved writer cannot be killed while it waits in the kernel: at the
# limit, stop the loops (the worker then goes on) and fail.  The limit is
# a bound for liveness, not a speed goal: the real module wrote the 256
# blocks in 26 s with two more VMs busy on the host, a build whose worker
# waited for every request took 365 s.
lim=$((180 * ${DL_TIMEOUT_SCALE:-1}))
(
	i=0
	while [ $i -lt $lim ] && [ ! -e $t/stop ]; do
		sleep 1
		i=$((i + 1))
	done
	touch $t/stop
) &
dog=$!
t0=$(date +%s)
timeout $lim dd if=/dev/urandom of=/dev/mapper/rf bs=4096 count=$NW oflag=direct 2>$t/dd.err
ktap_result $? "the writer's $NW first writes complete while requests overlap ($(sed -n 2p $t/dd.err), $(($(date +%s) - t0)) s)"
touch $t/stop
wait $dog
rc=0
for p in $pids; do
	wait "$p" || rc=1
done
[ $rc = 0 ]
ktap_result $? "every request loop ran without an error ($(cat $t/err.* 2>/dev/null | head -n 3 | tr '\n' ' '))"
ktap_diag "request rounds: ioctl $(cat $t/rounds.a $t/rounds.b $t/rounds.c 2>/dev/null | tr '\n' ' ')x 40, netlink $(cat $t/rounds.n 2>/dev/null), mark_dirty $(cat $t/rounds.m 2>/dev/null)"

# The model: blocks 0..NW-1 and MB, MB+2, ... (one per mark_dirty).
nm=$(cat $t/rounds.m 2>/dev/null || echo 0)
{
	echo "0 $NW"
	i=0
	while [ $i -lt "$nm" ]; do
		echo "$((MB + 2 * i)) 1"
		i=$((i + 1))
	done
} > $t/model
dmsetup message rf 0 dirty start > $t/got
cmp -s $t/got $t/model
ktap_result $? "dirty since start is exactly the blocks written and marked ($(wc -l < $t/got) extents, model $(wc -l < $t/model))"
dirtylogctl dirty rf --since start > $t/nl 2>$t/nlerr &&
	awk '$1 == "start" { print $2, $4 }' $t/nl | cmp -s - $t/got
ktap_result $? "... and netlink gives the same answer ($(head -c 160 $t/nlerr))"
left=$(dmsetup message rf 0 list_checkpoints | awk '{ print $1 }' | tr '\n' ' ')
[ "$left" = "start " ]
ktap_result $? "only the checkpoint 'start' is left ('$left')"
ktap_check "remove" dmsetup remove rf
dirtylogctl metadata check $DL_META > $t/chk 2>&1
rc=$?
sed 's/^/# /' $t/chk
ktap_result $rc "metadata check is clean after remove"
ktap_finish
