#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 1500
# dirtylogctl metadata check / dump / repair on the metadata of a removed
# device: check is clean and dump answers what the kernel answered; for
# each class of damage (superblock, checkpoint table, tree node, bitmap
# page, space map: cross-linked and out-of-range pointers, garbage, zeroed
# block) check names the damaged block and structure, repair writes
# metadata the kernel loads in state rw, and for every checkpoint kept each
# answer is a superset of the pristine one (conservative), equal to it
# where the damage cannot reach; the tool refuses a device a live target
# holds.
#
# The state: 44 checkpoints (f01..f41, c1, c2, c3: two table blocks), one
# checkpoint deleted in the middle (cx) and the oldest one deleted (old);
# bitmap pages in several frozen intervals and in the active one.  The
# pristine answers are the kernel's before the device was removed; block
# roles come from the shell parser in lib-metaformat.sh (independent of the
# tool).  Randomised: DL_SEED picks the garbage block.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-metaformat.sh"
T=/tmp/dl-mt
here=$(cd "$(dirname "$0")" && pwd)
trap 'dl_cleanup; rm -rf $T' EXIT

dl_cleanup
rm -rf $T
mkdir -p $T
dl_fresh_meta
dd if=/dev/zero of=$DL_META bs=64k count=32 oflag=direct 2>/dev/null
modprobe dm-dirtylog || exit 1

SAVE_BLOCKS=256
IMG=$T/pristine.img
BLK=$T/block
len=$(dl_sectors $DL_DATA)
table="0 $len dirtylog $DL_META $DL_DATA 8"
dev=/dev/mapper/dlm
ctl=dirtylogctl

create() { dmsetup create dlm --table "$table" && dmsetup mknodes >/dev/null 2>&1; }
wr() { dd if=/dev/urandom of=$dev bs=4096 seek="$1" count=1 oflag=direct 2>/dev/null; }
ck() { dmsetup message dlm 0 checkpoint "$1" >/dev/null; }
flat() { tr '\n' '|' | sed 's/|$//'; }
restore() { dd if=$IMG of=$DL_META bs=64k oflag=direct conv=notrunc 2>/dev/null; }

# ---------------------------------------------------------------------
create || exit 1
wr 3
ck old
wr 5
i=1
while [ $i -le 41 ]; do
	ck "f$(printf %02d $i)"
	[ $i = 20 ] && wr 7
	i=$((i + 1))
done
wr 10
wr 70000
ck c1
wr 20
wr 40000
ck cx
wr 45000
ck c2
dmsetup message dlm 0 delete_checkpoint cx
wr 30
wr 100000
wr 131000
ck c3
wr 50
wr 65000
dmsetup message dlm 0 mark_dirty 66000 3
dmsetup message dlm 0 delete_checkpoint old

# The queries: every checkpoint alone, and a few ranges.
dmsetup message dlm 0 list_checkpoints > $T/list
cut -d' ' -f1 $T/list > $T/names
{ cat $T/names; printf '%s\n' "c1 c2" "c2 c3" "c1 c3" "f01 c1" "f20 f21" "f01 c3"; } > $T/queries
# answers DIR: the kernel's answer to each query, one file per line number.
answers() {
	mkdir -p "$1"
	_n=0
	while read -r q; do
		_n=$((_n + 1))
		# shellcheck disable=SC2086
		dmsetup message dlm 0 dirty $q > "$1/$_n" 2>&1 || echo "ERROR" >> "$1/$_n"
	done < $T/queries
}
answers $T/want
ktap_plan 88

ktap_check "the live target's metadata device is refused (exclusive open)" \
	sh -c "! $ctl metadata check $DL_META >$T/out 2>&1 && grep -q 'in use' $T/out"
used=$(dl_status_field dlm 6)
dmsetup remove dlm || exit 1
dd if=$DL_META of=$IMG bs=64k count=$((SAVE_BLOCKS / 16)) iflag=direct 2>/dev/null || exit 1
parse_refs $IMG > $T/refs
ktap_diag "referenced blocks: $(flat < $T/refs)"
nrefs=$(wc -l < $T/refs)
[ "$(wc -l < $T/names)" = 44 ] && [ "$(grep -c ' table ' $T/refs)" = 2 ] &&
	[ "$(cut -d' ' -f3 $T/refs | grep -v -- - | sort -u | wc -l)" = 5 ] &&
	[ "$used" = "$nrefs/16384" ]
ktap_result $? "built: 44 checkpoints in 2 table blocks, $nrefs blocks reached (status: $used)"

# ---------------------------------------------------------------------
# Pristine: check is clean, dump answers as the kernel did.
$ctl metadata check $DL_META > $T/out 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/# /' $T/out
ktap_result $rc "check: pristine metadata is clean"
$ctl --json metadata check $DL_META > $T/out 2>&1
grep -q "\"clean\":true,\"superblock\":\"ok\",\"checkpoints\":44,.*\"used_blocks\":$nrefs," $T/out
ktap_result $? "check --json: clean, 44 checkpoints, $nrefs blocks used"

# dump_answers DIR [DEV]: the tool's answer to each query (text form).
dump_answers() {
	mkdir -p "$1"
	_n=0
	while read -r q; do
		_n=$((_n + 1))
		set -- "$1" $q
		if [ $# = 3 ]; then
			$ctl metadata dump --since "$2" --until "$3" $DL_META > "$1/$_n" 2>&1
		else
			$ctl metadata dump --since "$2" $DL_META > "$1/$_n" 2>&1
		fi
	done < $T/queries
}
dump_answers $T/dump
diff -r $T/want $T/dump > $T/out
rc=$?
[ $rc = 0 ] || sed 's/^/# /' $T/out | head -20
ktap_result $rc "dump --since/--until: every answer equals the kernel's ($(wc -l < $T/queries) queries)"

# dump --json: the checkpoint list, and the extents since each checkpoint.
$ctl --json metadata dump $DL_META > $T/dump.json
sed 's/"checkpoints":\[/\n/; s/\],"active"/\n/' $T/dump.json | sed -n 2p |
	sed 's/},{/}\n{/g' | sed 's/.*"name":"\([^"]*\)","id":\([0-9]*\),"ctime_ns":\([0-9]*\),.*/\1 \2 \3/' > $T/list.dump
cmp -s $T/list $T/list.dump
ktap_result $? "dump --json: checkpoint names, ids and times equal list_checkpoints"
ok=0
n=0
while read -r q; do
	n=$((n + 1))
	set -- $q
	[ $# = 1 ] || continue
	$ctl --json metadata dump --since "$1" $DL_META |
		sed 's/.*"extents":\[//; s/\]}$//; s/\],\[/\n/g; s/[][]//g; s/,/ /g' |
		grep -v '^$' > $T/ext.json
	cmp -s $T/ext.json $T/want/$n || { ktap_diag "json since $1 differs"; ok=1; }
done < $T/queries
ktap_result $ok "dump --json --since: extents equal the kernel's for all 44 checkpoints"
$ctl --json metadata dump --extents $DL_META > $T/out
grep -q '"name":"c3","id":[0-9]*,"ctime_ns":[0-9]*,"root":[0-9]*,"interval":{"kept":true,"dirty_blocks":3,"pages":3,"damaged":false,"extents":\[\[30,1\],\[100000,1\],\[131000,1\]\]}' $T/out
ktap_result $? "dump --json --extents: c3's interval holds the blocks written before it"

# ---------------------------------------------------------------------
# covers WANT GOT: every block of WANT's extents lies in GOT's.
covers() {
	awk 'FILENAME == ARGV[1] { s[++n] = $1; e[n] = $1 + $2; next }
	{ for (b = $1; b < $1 + $2; b++) { ok = 0
		for (i = 1; i <= n; i++) if (b >= s[i] && b < e[i]) { ok = 1; break }
		if (!ok) exit 1 } }' "$2" "$1"
}
pos_of() { grep -n "^$1\$" $T/names | cut -d: -f1; }

# expect DESC STRUCT BLOCK IV [REPAIR-OPTS]: the metadata device holds
# damaged metadata; IV lists the damaged intervals ("I<k>" as parse_refs
# names them, "A", or "all" when no answer can be trusted).  Results: check names BLOCK and STRUCT and
# exits 6; repair succeeds and check is then clean; the kernel loads it in
# state rw; every kept checkpoint's answers (all ranges, the single
# checkpoints in $sample) cover the pristine ones, and equal them when the
# query does not read IV.
expect() {
	_d=$1 _s=$2 _b=$3 _iv=$4
	shift 4
	$ctl metadata check $DL_META > $T/chk 2>&1
	_rc=$?
	grep -q "^block $_b: $_s" $T/chk && [ $_rc = 6 ]
	_r=$?
	[ $_r = 0 ] || { ktap_diag "check rc $_rc:"; sed 's/^/# /' $T/chk; }
	ktap_result $_r "$_d: check exits 6 naming block $_b ($_s)"
	_ok=0
	if ! $ctl --json metadata repair --yes "$@" $DL_META > $T/rep 2>&1; then
		sed 's/^/# /' $T/rep
		_ok=1
	elif ! $ctl metadata check $DL_META > $T/chk2 2>&1; then
		sed 's/^/# /' $T/chk2
		_ok=1
	fi
	ktap_result $_ok "$_d: repair succeeds and check is then clean ($(cat $T/rep))"
	dmesg -c > /dev/null
	if ! create > $T/out 2>&1 || [ "$(dl_status_field dlm 7)" != rw ]; then
		dmesg | tail -n 5 | sed 's/^/# /'
		ktap_result 1 "$_d: the kernel loads the repaired metadata in state rw"
		ktap_result 1 "$_d: answers after repair are conservative"
		dmsetup remove dlm 2>/dev/null
		return
	fi
	ktap_result 0 "$_d: the kernel loads the repaired metadata in state rw"
	dmsetup message dlm 0 list_checkpoints | cut -d' ' -f1 > $T/names.now
	_ok=0
	# the kept checkpoints are the pristine ones, less some, in order
	# (busybox grep -f with an empty pattern file matches every line)
	: > $T/names.kept
	[ -s $T/names.now ] && grep -x -F -f $T/names.now $T/names > $T/names.kept
	cmp -s $T/names.kept $T/names.now || { _ok=1; ktap_diag "kept: $(flat < $T/names.now)"; }
	_n=0 _sup=0 _eq=0
	while read -r q; do
		_n=$((_n + 1))
		set -- $q
		# a sample of the single-checkpoint queries (TCG is slow)
		[ $# = 1 ] && ! echo "$1" | grep -q -x -E "$sample" && continue
		grep -qx "$1" $T/names.now || continue
		[ $# = 2 ] && { grep -qx "$2" $T/names.now || continue; }
		dmsetup message dlm 0 dirty $q > $T/got 2>&1 || { _ok=1; ktap_diag "dirty $q fails"; continue; }
		covers $T/want/$_n $T/got || { _ok=1; ktap_diag "dirty $q: $(flat < $T/got) misses some of $(flat < $T/want/$_n)"; continue; }
		_sup=$((_sup + 1))
		_hit=0
		_p1=$(pos_of "$1")
		_p2=999
		[ $# = 2 ] && _p2=$(pos_of "$2")
		for _i in $_iv; do
			case $_i in
			all) _hit=1 ;;
			A) [ $# = 1 ] && _hit=1 ;;
			I*)
				_kpos=$((${_i#I} + 1))
				[ "$_kpos" -gt "$_p1" ] && [ "$_kpos" -le "$_p2" ] && _hit=1 ;;
			esac
		done
		if [ $_hit = 0 ]; then
			cmp -s $T/got $T/want/$_n || { _ok=1; ktap_diag "dirty $q: $(flat < $T/got), want $(flat < $T/want/$_n)"; }
			_eq=$((_eq + 1))
		fi
	done < $T/queries
	dmsetup remove dlm || _ok=1
	ktap_result $_ok "$_d: $(wc -l < $T/names.now) checkpoints kept; $_sup answers cover the pristine ones, $_eq of them equal"
}

sample='f01|f20|f21|f40|f41|c1|c2|c3'
role_block() { grep " $1 $2\$" $T/refs | head -n 1 | cut -d' ' -f1; }
iv_blocks() { grep " $1 $2\$" $T/refs | cut -d' ' -f1; }

# Superblock: bad checksum (salvaged) and zeroed (lost, geometry given).
restore
flip_bit 0 2000
expect "superblock bit flip" superblock 0 all
restore
zero_block 0
expect "superblock zeroed" superblock 0 all --block-size 4096 --data-sectors $len

# Checkpoint table: the first block (every checkpoint lost) and the second.
t1=$(sed -n 's/ table -$//p' $T/refs | sed -n 1p)
t2=$(sed -n 's/ table -$//p' $T/refs | sed -n 2p)
restore
flip_bit $t1 2000
expect "first checkpoint-table block bit flip" checkpoint-table $t1 all
restore
flip_bit $t2 2000
expect "second checkpoint-table block bit flip" checkpoint-table $t2 all

# Tree nodes and bitmap pages: one of each per interval that has one.
for iv in $(cut -d' ' -f3 $T/refs | grep -v -- - | sort -u); do
	b=$(role_block node $iv)
	restore
	flip_bit $b 2000
	expect "tree node $b of $iv bit flip" tree-node $b $iv
	b=$(role_block page $iv)
	restore
	flip_bit $b 100
	expect "bitmap page $b of $iv bit flip" bitmap-page $b $iv
done

# Space map: a node of I<c3> pointing at a page of the active interval
# (cross-linked, checksum right), and a node entry beyond the device.
kc3=I$(($(pos_of c3) - 1))
n3=$(role_block node $kc3)
pa=$(role_block page A)
restore
$here/dl_metapoke $DL_META $n3 $((32 + 8 * 2)) $pa	# entry 2: page 2
expect "cross-linked page $pa (from node $n3 of $kc3)" space-map $pa "$kc3 A"
restore
$here/dl_metapoke $DL_META $n3 $((32 + 8 * 1)) 99999999
expect "node $n3 of $kc3 points outside the device" space-map $n3 $kc3

# Garbage over a random referenced block, and a zeroed node.
seed=${DL_SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
ktap_diag "seed $seed (DL_SEED repeats the choice of the garbage block)"
grep -v ' sb ' $T/refs > $T/cand
pick=$(awk -v s="$seed" -v n="$(wc -l < $T/cand)" 'BEGIN { srand(s); print 1 + int(rand() * n) }')
set -- $(sed -n "${pick}p" $T/cand)
case $2 in
table) st=checkpoint-table iv=all ;;
node) st=tree-node iv=$3 ;;
*) st=bitmap-page iv=$3 ;;
esac
restore
garbage $1
expect "garbage over block $1 ($2 of $3)" $st $1 $iv
nc1=$(role_block node I$(($(pos_of c1) - 1)))
restore
zero_block $nc1
expect "zeroed node $nc1 (c1's interval)" tree-node $nc1 I$(($(pos_of c1) - 1))

# ---------------------------------------------------------------------
# repair -o FILE leaves the device alone and writes a loadable image.
restore
flip_bit $(role_block page $kc3) 100
sha0=$(dl_sha $DL_META 0 $((SAVE_BLOCKS * 4096)))
$ctl metadata repair -o $T/fixed.img $DL_META > $T/out 2>&1
rc=$?
[ $rc = 0 ] && [ "$(dl_sha $DL_META 0 $((SAVE_BLOCKS * 4096)))" = "$sha0" ] &&
	[ "$(stat -c %s $T/fixed.img)" = "$(($(dl_sectors $DL_META) * 512))" ]
ktap_result $? "repair -o FILE: the device is untouched, FILE has its size"
dd if=$T/fixed.img of=$DL_META bs=64k count=$((SAVE_BLOCKS / 16)) oflag=direct conv=notrunc 2>/dev/null
rm -f $T/fixed.img
create && [ "$(dl_status_field dlm 7)" = rw ] && [ "$(dmsetup message dlm 0 list_checkpoints | wc -l)" = 44 ]
ktap_result $? "... and the kernel loads that image with all 44 checkpoints"
dmsetup remove dlm

# Refusals and usage.
restore
! $ctl metadata repair $DL_META > $T/out 2>&1 && grep -q -- "--yes" $T/out
ktap_result $? "repair without --yes or -o is refused"
[ "$(dl_sha $DL_META 0 $((SAVE_BLOCKS * 4096)))" = "$(sha256sum < $IMG | cut -d' ' -f1)" ]
ktap_result $? "... and writes nothing"
restore
create
! $ctl metadata repair --yes $DL_META > $T/out 2>&1 && grep -q 'in use' $T/out
ktap_result $? "repair refuses the metadata device of a live target"
dmsetup remove dlm
zero_block 0
$ctl metadata check $DL_META > $T/out 2>&1
[ $? = 6 ] && grep -q "^block 0: superblock" $T/out
ktap_result $? "check of a zeroed superblock says so and exits 6"
! $ctl metadata repair --yes $DL_META > $T/out 2>&1 && grep -q -- "--block-size" $T/out
ktap_result $? "repair of a lost superblock without the geometry asks for it"

ktap_check "the module unloads" rmmod dm_dirtylog
ktap_finish
