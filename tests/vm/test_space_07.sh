#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
# Checkpoints and metadata space.
#
# 1. 256 checkpoints at 64 KiB blocks with one random 4 KiB write after
#    each: the status counts them, 'dirty' answers exactly the written
#    blocks (coalesced into maximal extents), and deleting every other
#    checkpoint (merges, and folding the newest into the active interval)
#    changes no remaining answer and logs no space-map error.
#    Randomised: DL_SEED.
# 2. A small metadata device (a 128 KiB slice: 32 blocks) at 4 KiB blocks,
#    filled until a checkpoint is refused with ENOSPC: the refusal changes
#    nothing, a write needing a new mark fails with ENOSPC, deleting the oldest checkpoint still works on
#    the full device (blocks are held back for it) and frees space, and
#    checkpoints and writes work again.
# 3. In place: 64 GiB of dm-zero at 4 KiB blocks (514 bitmap pages) over a
#    32-block metadata device, one write in each new page until one is
#    refused with ENOSPC; then a write to a page the active interval
#    already has still works (that page is rewritten in its own block,
#    where a copy-on-write commit would need a new page and two nodes),
#    is listed, and leaves the state rw.
. "$(dirname "$0")/lib.sh"
trap dl_cleanup EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog && modprobe dm-zero || exit 1
ktap_plan 34
len=$(dl_sectors $DL_DATA)
nl='
'

flat() { tr '\n' '|' | sed 's/|$//'; }
# coalesce: sorted, unique block numbers in, "<start> <count>" extents out.
coalesce() {
	awk 'NR == 1 { s = $1; c = 1; next }
	     $1 == s + c { c++; next }
	     { print s, c; s = $1; c = 1 }
	     END { if (NR) print s, c }'
}
# check_eq DESCRIPTION GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then
		ktap_result 0 "$1"
	else
		ktap_diag "got:  '$(echo "$2" | flat)'"
		ktap_diag "want: '$(echo "$3" | flat)'"
		ktap_result 1 "$1"
	fi
}
# fails_with DESCRIPTION ERRNO_TEXT COMMAND...
fails_with() {
	_d=$1 _e=$2
	shift 2
	_out=$("$@" 2>&1)
	_rc=$?
	if [ $_rc -ne 0 ] && echo "$_out" | grep -q "$_e"; then
		ktap_result 0 "$_d"
	else
		ktap_diag "exit status $_rc: $_out"
		ktap_result 1 "$_d"
	fi
}

# ---------------------------------------------------------------------
# 1. 256 checkpoints, 64 KiB blocks (table block size 128).
N=256
seed=${DL_SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
ktap_diag "seed $seed"
dmsetup create dls --table "0 $len dirtylog $DL_META $DL_DATA 128" &&
	dmsetup mknodes >/dev/null 2>&1
ktap_result $? "create at 64 KiB blocks"
dev=/dev/mapper/dls

# One random 4 KiB offset per interval; line k: "k <64 KiB block>".
awk -v s="$seed" -v n=$N -v max=$((len / 8)) 'BEGIN {
	srand(s)
	for (k = 1; k <= n; k++) print k, int(rand() * max)
}' > /tmp/dl-offsets
: > /tmp/dl-written
bad_ids=
while read -r k off; do
	id=$(dmsetup message dls 0 checkpoint c$k)
	[ "$id" = "$k" ] || bad_ids="$bad_ids c$k:'$id'"
	dd if=/dev/urandom of=$dev bs=4096 seek="$off" count=1 oflag=direct 2>/dev/null ||
		bad_ids="$bad_ids write$k"
	echo "$k $((off / 16))" >> /tmp/dl-written
done < /tmp/dl-offsets
[ -z "$bad_ids" ]
ktap_result $? "$N checkpoints with ids 1..$N and a write after each${bad_ids:+ (wrong:$bad_ids)}"
check_eq "status: $N checkpoints, latest id $N, state rw" \
	"$(dl_status_field dls 4) $(dl_status_field dls 5) $(dl_status_field dls 7)" "$N $N rw"

# want FROM [TO]: the extents written in intervals FROM..TO (default: all).
want() {
	awk -v a="$1" -v b="${2:-999999}" '$1 >= a && $1 <= b { print $2 }' /tmp/dl-written |
		sort -n | uniq | coalesce
}
dirty() { dmsetup message dls 0 dirty "$@"; }

want_c1=$(want 1)
check_eq "dirty c1 lists exactly the $N written blocks ($(echo "$want_c1" | wc -l) extents)" \
	"$(dirty c1)" "$want_c1"
check_eq "dirty c100 c200: the writes of intervals 100..199" "$(dirty c100 c200)" "$(want 100 199)"
check_eq "dirty c$N: the last write only" "$(dirty c$N)" "$(want $N)"

dmesg -c >/dev/null
k=2
failed=
while [ $k -le $N ]; do
	dmsetup message dls 0 delete_checkpoint c$k || failed="$failed c$k"
	k=$((k + 2))
done
[ -z "$failed" ]
ktap_result $? "delete every other checkpoint (c2, c4, .. c$N)${failed:+ (failed:$failed)}"
# The space map must never see a block freed twice (the kernel logs that
# as metadata changed behind its back).
dmesg | grep -E "dirtylog: .*(not in use|referenced twice)" | sed 's/^/# /'
! dmesg | grep -q -E "dirtylog: .*(not in use|referenced twice)"
ktap_result $? "... without a space-map error in the kernel log"
check_eq "status: $((N / 2)) checkpoints, latest id $((N - 1))" \
	"$(dl_status_field dls 4) $(dl_status_field dls 5)" "$((N / 2)) $((N - 1))"
check_eq "dirty c1 is unchanged" "$(dirty c1)" "$want_c1"
check_eq "dirty c101 c201: the writes of intervals 101..200, merged" \
	"$(dirty c101 c201)" "$(want 101 200)"
check_eq "dirty c$((N - 1)): the last two writes" "$(dirty c$((N - 1)))" "$(want $((N - 1)))"
ktap_check "remove" dmsetup remove dls

# ---------------------------------------------------------------------
# A 128 KiB metadata device = 32 metadata blocks; 4 KiB blocks, 5 bitmap
# pages of 32640 blocks over the 512 MiB data disk.  An interval's tree
# costs one node plus one block per dirty page; a commit writes new
# blocks before it frees the old ones.
PAGE=32640
small=/dev/mapper/dlsmall
dev=/dev/mapper/dlf
free_blocks() { dl_status_field dlf 6 | awk -F/ '{ print $2 - $1 }'; }
wr() { dd if=/dev/urandom of=$dev bs=4096 seek="$1" count=1 oflag=direct 2>/dev/null; }

# small_device: a fresh dirtylog device dlf over a zeroed 128 KiB slice.
small_device() {
	dmsetup create dlsmall --table "0 256 linear $DL_SPARE 0" &&
		dmsetup mknodes >/dev/null 2>&1 &&
		dd if=/dev/zero of=$small bs=4096 count=32 oflag=direct 2>/dev/null &&
		dmsetup create dlf --table "0 $len dirtylog $small $DL_DATA 8" &&
		dmsetup mknodes >/dev/null 2>&1
}

# Every answer: checkpoints, dirty since each, status but the active count.
snapshot() {
	dmsetup message dlf 0 list_checkpoints
	for c in $(dmsetup message dlf 0 list_checkpoints | cut -d' ' -f1); do
		echo "dirty $c: $(dmsetup message dlf 0 dirty "$c" | flat)"
	done
	dmsetup status dlf | cut -d' ' -f6-
}

# 2. Fill the device: rounds of one write in each page, then a checkpoint,
# until a checkpoint is refused for lack of space.  Once writes no longer
# find space, checkpoints still do (each needs only its table block) until
# the table needs a second block and the reserve grows, at 43 checkpoints:
# at most 60 rounds.
small_device
ktap_result $? "create over a 128 KiB metadata device"
n=0 refused=
while [ $n -lt 60 ]; do
	n=$((n + 1))
	for p in 0 1 2 3 4; do
		wr $((p * PAGE + n))
	done
	[ "$(free_blocks)" -le 4 ] && snapshot > /tmp/dl-before
	dmesg -c >/dev/null
	if ! out=$(dmsetup message dlf 0 checkpoint f$n 2>&1); then
		refused=$out
		break
	fi
done
ktap_diag "$n rounds, $(dl_status_field dlf 6) blocks used"
echo "$refused" | grep -q "No space left on device"
ktap_result $? "a checkpoint is eventually refused with ENOSPC ('$refused')"
dmesg | grep -q -E "no space for checkpoint 'f$n'|metadata device full"
ktap_result $? "... and the kernel log says why"
check_eq "... and changes nothing: checkpoints, every dirty answer, used/total, state rw" \
	"$(snapshot)" "$(cat /tmp/dl-before)"
# Block 20000 was never written: marking it needs a new page and node.
fails_with "a write needing a new mark fails with ENOSPC" "No space left on device" \
	dd if=/dev/urandom of=$dev bs=4096 seek=20000 count=1 oflag=direct
check_eq "... the state stays rw and nothing changes" "$(snapshot)" "$(cat /tmp/dl-before)"
second=$(dmsetup message dlf 0 list_checkpoints | sed -n 2p | cut -d' ' -f1)
first=$(dmsetup message dlf 0 list_checkpoints | sed -n 1p | cut -d' ' -f1)
before_free=$(free_blocks)
dmesg -c >/dev/null
dmsetup message dlf 0 delete_checkpoint "$first"
rc=$?
[ $rc -eq 0 ] || dmesg | sed 's/^/# /'
ktap_result $rc "on a full device, deleting the oldest checkpoint ($first) works"
check_eq "... which frees blocks and keeps the answer since $second" \
	"$([ "$(free_blocks)" -gt "$before_free" ] && echo freed) dirty $second: $(dmsetup message dlf 0 dirty "$second" | flat)" \
	"freed $(grep "^dirty $second: " /tmp/dl-before)"
dmsetup message dlf 0 checkpoint again >/dev/null
ktap_result $? "a checkpoint can be created again"
wr 20000
ktap_result $? "the write that needed a new mark works again"
check_eq "... and is listed since the new checkpoint" "$(dmsetup message dlf 0 dirty again 2>&1)" "20000 1"
check_eq "state rw" "$(dl_status_field dlf 7)" "rw"
ktap_check "remove" dmsetup remove dlf
ktap_check "remove the metadata slice" dmsetup remove dlsmall

# 3. In-place commits on a full metadata device.
zlen=$((64 << 21))
zdev=/dev/mapper/dlz
zw() { dd if=/dev/zero of=$zdev bs=4096 seek="$1" count=1 oflag=direct 2>/dev/null; }
dmsetup create dlzero --table "0 $zlen zero" &&
	dmsetup create dlsmall --table "0 256 linear $DL_SPARE 0" &&
	dmsetup mknodes >/dev/null 2>&1 &&
	dd if=/dev/zero of=$small bs=4096 count=32 oflag=direct 2>/dev/null &&
	dmsetup create dlz --table "0 $zlen dirtylog $small /dev/mapper/dlzero 8" &&
	dmsetup mknodes >/dev/null 2>&1 &&
	dmsetup message dlz 0 checkpoint z0 >/dev/null
ktap_result $? "64 GiB over dm-zero, 32 metadata blocks, checkpoint z0"
p=0
while [ $p -lt 514 ] && zw $((p * PAGE)); do
	p=$((p + 1))
done
[ $p -gt 1 ] && [ $p -lt 514 ] && ! zw $((p * PAGE))
ktap_result $? "new pages are refused with ENOSPC once the metadata is full (after $p pages, $(dl_status_field dlz 6) blocks used)"
# The model: with p pages (all under the first of the two level-1 nodes)
# the metadata uses p + 4 blocks: superblock, checkpoint table, level-1
# node, root.  A new page needs 3 new blocks (page, node, root) while the
# 2 it replaces stay in use until its commit, and 2 blocks (one per table
# block, plus one) are kept back for deleting a checkpoint.  So a page is
# taken while (p + 4) + 3 <= 32 - 2: the space map counts exactly.
mp=$((32 - 2 - 3 - 4 + 1))
check_eq "... exactly when the model says: $mp pages, $((mp + 4))/32 blocks" \
	"$p $(dl_status_field dlz 6)" "$mp $((mp + 4))/32"
zw $((PAGE / 2))
ktap_result $? "a write to a page the active interval has still works"
check_eq "... and is listed with the first write to each page" \
	"$(dmsetup message dlz 0 dirty z0 2>&1 | head -n 2)" "0 1$nl$((PAGE / 2)) 1"
check_eq "state rw" "$(dl_status_field dlz 7)" "rw"
ktap_check "remove" dmsetup remove dlz dlsmall dlzero
ktap_finish
