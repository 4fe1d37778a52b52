#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Aborted metadata transactions (issue #18, finding 6): a checkpoint
# create, a delete and a grow that fail for want of metadata space roll
# back through the one abort_transaction(), which rebuilds the in-core
# state from the committed superblock.  After each: every answer (the
# checkpoint list and 'dirty' since each checkpoint) is what it was
# before, the device stays usable, and after a remove and an immediate
# recreate the answers are the same and 'dirtylogctl metadata check' finds
# the metadata clean (no block written by the failed transaction reached
# the committed state, none is referenced twice or leaked).
#
# Data: dm-zero, 64 MiB of it used (one bitmap page at 4 KiB blocks);
# metadata: 16 blocks (64 KiB, the minimum) on a slice of /dev/vdb.
# A reset can only fail for memory (every block is free): not covered here.
. "$(dirname "$0")/lib.sh"
trap dl_cleanup EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
modprobe dm-zero || exit 1
ktap_plan 13
mlen=128
dlen=131072
dmsetup create M --table "0 $mlen linear $DL_META 0" &&
	dmsetup create D --table "0 $((64 * dlen)) zero" &&
	dmsetup mknodes >/dev/null 2>&1 || exit 1
dl_fresh_meta /dev/mapper/M
table() { echo "0 $1 dirtylog /dev/mapper/M /dev/mapper/D 8"; }
dmsetup create ab --table "$(table $dlen)" && dmsetup mknodes >/dev/null 2>&1 || exit 1

wr() { dd if=/dev/urandom of=/dev/mapper/ab bs=4096 seek="$1" count=1 oflag=direct 2>/dev/null; }
answers() {
	dmsetup message ab 0 list_checkpoints | while read -r n id t; do
		echo "$n $id: $(dmsetup message ab 0 dirty "$n" | tr '\n' ' ')"
	done
}
recreate_check() {	# recreate_check WHAT: remove, check, recreate, compare
	want=$(answers)
	dmsetup remove ab || return 1
	dirtylogctl metadata check /dev/mapper/M >/tmp/ab.chk 2>&1
	rc=$?
	sed 's/^/# /' /tmp/ab.chk
	ktap_result $rc "$1: metadata check is clean after remove"
	dmsetup create ab --table "$(table $dlen)" && dmsetup mknodes >/dev/null 2>&1
	[ "$(answers)" = "$want" ]
	ktap_result $? "$1: a recreated device gives the same answers"
}

# Fill the metadata: checkpoints with a write in each interval.
k=0
while :; do
	k=$((k + 1))
	wr $((k * 100)) || break
	dmsetup message ab 0 checkpoint "c$k" >/dev/null 2>&1 || break
	[ $k -lt 40 ] || break
done
ktap_diag "checkpoint c$k failed: $(dmsetup status ab)"
before=$(answers)
[ $k -lt 40 ] && ! dmsetup message ab 0 list_checkpoints | grep -q "^c$k "
ktap_result $? "a checkpoint create runs out of metadata space and is not there"
[ "$(answers)" = "$before" ] && [ "$(dl_status_field ab 7)" = rw ]
ktap_result $? "create: answers unchanged, state rw"
wr $((k * 100))
ktap_result $? "create: the device still takes writes"
before=$(answers)
recreate_check create

# Deletes of middle checkpoints: each merges (the answers of the others
# stay) or fails for space (nothing changes).
merged=0 refused=0 bad=0
for n in $(dmsetup message ab 0 list_checkpoints | sed -n '2,$p' | cut -d' ' -f1); do
	last=$(dmsetup message ab 0 list_checkpoints | tail -n 1 | cut -d' ' -f1)
	[ "$n" = "$last" ] && break
	before=$(answers)
	if dmsetup message ab 0 delete_checkpoint "$n" 2>/dev/null; then
		merged=$((merged + 1))
		[ "$(answers)" = "$(echo "$before" | grep -v "^$n ")" ] || bad=$((bad + 1))
	else
		refused=$((refused + 1))
		[ "$(answers)" = "$before" ] || bad=$((bad + 1))
	fi
done
ktap_diag "deletes: $merged merged, $refused refused for space"
[ $bad -eq 0 ] && [ "$(dl_status_field ab 7)" = rw ]
ktap_result $? "delete: every answer right after each merge or refusal ($bad wrong)"
recreate_check delete

# Grow to 64 times the size: 64 new bitmap pages do not fit.
before=$(answers)
dmsetup suspend ab && dmsetup reload ab --table "$(table $((64 * dlen)))"
if dmsetup resume ab 2>/dev/null; then
	ktap_result 1 "grow: refused for want of space"
else
	ktap_result 0 "grow: refused for want of space"
fi
dmsetup reload ab --table "$(table $dlen)" && dmsetup resume ab
[ "$(answers)" = "$before" ] && [ "$(dl_status_field ab 7)" = rw ]
ktap_result $? "grow: back at the old size, answers unchanged, state rw"
wr $((k * 100))
ktap_result $? "grow: the device still takes writes"
recreate_check grow
ktap_finish
