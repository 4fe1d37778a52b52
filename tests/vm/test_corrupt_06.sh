#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Hostile metadata: every kind of damage is refused with a precise reason
# in the kernel log, or (a damaged bitmap page of a frozen interval, which
# loading does not read) makes exactly the queries that read it fail with
# EILSEQ while every other answer stays right; a refused or damaged load
# writes nothing to the metadata device; no kernel warning.
#
# The test builds a device with three checkpoints (c1 c2 c3) and bitmap
# pages in both kept frozen intervals (I1 = c1..c2, I2 = c2..c3) and in the
# active interval (A), saves the used part of the metadata device, and
# parses it (superblock -> checkpoint table -> trees) to know every block
# it reaches and its role.  Each case restores the pristine copy, damages
# it, tries a load and the queries, checks that the metadata device is
# byte-for-byte unchanged, and then that the pristine copy loads again
# with the same answers.  Randomised: DL_SEED picks the garbage blocks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-metafixture.sh"
trap dl_cleanup EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1

SAVE_BLOCKS=256			# 1 MiB of the metadata device is saved
IMG=/tmp/dl-pristine.img
BLK=/tmp/dl-block

# The first 2 MiB are zeroed: 1 MiB is saved, the next 1 MiB must stay
# zero (blocks are allocated upwards, so nothing was written beyond).
dd if=/dev/zero of=$DL_META bs=64k count=32 oflag=direct 2>/dev/null
meta_build || exit 1

klog_reset
dd if=$DL_META of=$IMG bs=64k count=$((SAVE_BLOCKS / 16)) iflag=direct 2>/dev/null || exit 1
beyond=$(dd if=$DL_META bs=64k skip=$((SAVE_BLOCKS / 16)) count=$((SAVE_BLOCKS / 16)) \
	iflag=direct 2>/dev/null | tr -d '\000' | wc -c)

parse_refs $IMG > /tmp/dl-refs
img_sha=$(sha256sum < $IMG | cut -d' ' -f1)
nrefs=$(wc -l < /tmp/dl-refs)

# Every block carrying a dirtylog header: "block magic".
hexdump -v -e '1/4 "%u " 1/4 "%x " 1/4 "%u " 1/4 "%u" 4080/1 "" "\n"' $IMG |
	awk '$2 ~ /^44474c(53|54|4e|50)$/ && $3 == NR - 1 && $4 == 0 { print $3, $2 }' \
	> /tmp/dl-headers
hi=$(tail -n 1 /tmp/dl-headers | cut -d' ' -f1)

# A few blocks no longer referenced (copy-on-write leftovers), one per type.
: > /tmp/dl-unref
for m in 44474c54 44474c4e 44474c50; do
	awk -v m=$m '$2 == m { print $1 }' /tmp/dl-headers | while read -r b; do
		grep -q "^$b " /tmp/dl-refs || { echo "$b"; break; }
	done >> /tmp/dl-unref
done

nref_cases=$(grep -c -v ' sb ' /tmp/dl-refs)
nunref=$(wc -l < /tmp/dl-unref)
ROUNDS=5
# setup 5, superblock cases 3 x 3, table-line cases 2 x 2, referenced
# blocks 3 each, unreferenced 3 each, random 3 each, truncation 6, final 2
ktap_plan $((5 + 9 + 4 + 3 * nref_cases + 3 * nunref + 3 * ROUNDS + 6 + 2))
ktap_diag "referenced blocks (block role interval): $(flat < /tmp/dl-refs)"
ktap_diag "unreferenced samples: $(flat < /tmp/dl-unref); highest written block $hi"

want_c1="20 1${nl}30 1${nl}50 1${nl}40000 1${nl}65000 1${nl}66000 3${nl}100000 1${nl}131000 1"
want_c1=$(echo "$want_c1" | sort -n | flat)
[ "$(answer_of c1)" = "$want_c1" ] && [ "$(answer_of 'c1 c2')" = "20 1|40000 1" ] &&
	[ "$(answer_of c3)" = "50 1|65000 1|66000 3" ] && [ "$id1 $id2 $id3" = "1 2 3" ]
rc=$?
[ $rc -eq 0 ] || sed 's/^/# /' /tmp/dl-answers
ktap_result $rc "the built device answers as written (ids $id1 $id2 $id3)"
[ "$beyond" = 0 ] && [ "$hi" -lt $SAVE_BLOCKS ]
ktap_result $? "the used metadata lies in the saved first $SAVE_BLOCKS blocks (highest $hi)"
[ "$used" = "$nrefs/16384" ] && [ "$(grep -c ' page ' /tmp/dl-refs)" = 8 ] &&
	[ "$(grep -c ' table ' /tmp/dl-refs)" = 1 ] && [ "$(grep -c ' node ' /tmp/dl-refs)" = 3 ]
ktap_result $? "parsed metadata: $nrefs blocks reached, status said $used; 8 pages, 3 nodes, 1 table"

pristine_ok
ktap_result $? "remove + recreate over the saved copy gives the same answers"
klog_reset
ktap_check "no dirtylog device is left" sh -c '[ -z "$(dmsetup ls | grep -v "No devices")" ]'

# Damage helpers (blk_get, flip_bit, poke, garbage): lib-metaformat.sh.

# expect_damaged DESC: the metadata device holds pristine metadata with
# the blocks listed in /tmp/dl-damaged ("block role interval") damaged.
# A damaged superblock, table, node or active page refuses the load with
# the reason in $want_reason (or the derived one); damaged frozen pages
# make exactly the queries reading their interval fail with EILSEQ and
# leave every other answer right.  Three results: the outcome, nothing
# written, the pristine copy loads again with the same answers.
expect_damaged() {
	_desc=$1
	_reason=$want_reason
	if [ -z "$_reason" ]; then
		if grep -q ' table ' /tmp/dl-damaged; then
			_reason="Corrupt checkpoint table in metadata"
		elif grep -q -E ' node | page A' /tmp/dl-damaged; then
			_reason="Corrupt bitmap tree in metadata"
		fi
	fi
	_bad=$(awk '$2 == "page" && $3 != "A" { print $3 }' /tmp/dl-damaged | sort -u | flat)
	_sha0=$(meta_sha)
	klog_reset
	_ok=0
	if [ -n "$_reason" ]; then
		if create >/tmp/dl-out 2>&1; then
			ktap_diag "loaded, but should be refused with '$_reason'"
			answers | sed 's/^/# /'
			dmsetup remove dlc
			_ok=1
		elif ! dmesg | grep -q "dirtylog: $_reason"; then
			ktap_diag "refused, but not with '$_reason':"
			dmesg | sed 's/^/# /'
			_ok=1
		fi
		ktap_result $_ok "$_desc: refused with '$_reason'"
	else
		if ! create >/tmp/dl-out 2>&1; then
			ktap_diag "refused:"
			dmesg | sed 's/^/# /'
			ktap_result 1 "$_desc: loads"
		else
			_failed=
			echo "$queries" | tr '|' '\n' > /tmp/dl-q
			while read -r q; do
				_out=$(dmsetup message dlc 0 dirty $q 2>&1)
				_rc=$?
				if reads_damaged "$q" "$_bad"; then
					_failed="$_failed [$q]"
					[ $_rc -ne 0 ] && echo "$_out" |
						grep -q "Invalid or incomplete multibyte" && continue
					ktap_diag "dirty $q should fail with EILSEQ: rc $_rc: $_out"
					_ok=1
				else
					_got=$(echo "$_out" | flat)
					[ $_rc -eq 0 ] && [ "$_got" = "$(answer_of "$q")" ] && continue
					ktap_diag "dirty $q: rc $_rc, '$_got', want '$(answer_of "$q")'"
					_ok=1
				fi
			done < /tmp/dl-q
			_l=$(dmsetup message dlc 0 list_checkpoints 2>&1 | flat)
			if [ "list: $_l" != "$(grep '^list: ' /tmp/dl-answers)" ]; then
				ktap_diag "list_checkpoints: '$_l'"
				_ok=1
			fi
			if ! dmsetup status dlc >/dev/null; then
				ktap_diag "status fails"
				_ok=1
			fi
			if [ -n "$_bad" ] && ! dmesg | grep -q -E "metadata block [0-9]+ is corrupt"; then
				ktap_diag "no 'metadata block N is corrupt' in the kernel log"
				_ok=1
			fi
			dmsetup remove dlc || _ok=1
			if [ -n "$_bad" ]; then
				ktap_result $_ok "$_desc: loads; queries reading $_bad fail with EILSEQ ($_failed), the rest answer right"
			else
				ktap_result $_ok "$_desc: loads and every answer is unchanged"
			fi
		fi
	fi
	[ "$(meta_sha)" = "$_sha0" ]
	ktap_result $? "$_desc: nothing was written to the metadata device"
	pristine_ok
	ktap_result $? "$_desc: the pristine copy loads again with the same answers"
	klog_reset
}

# ---------------------------------------------------------------------
# Superblock.
restore
flip_bit 0 2000
echo "0 sb -" > /tmp/dl-damaged
want_reason="Metadata superblock checksum mismatch"
expect_damaged "superblock: one bit flipped at byte 2000"

restore
poke 0 4 XXXX
want_reason="Metadata device holds something else (bad superblock magic)"
expect_damaged "superblock: magic overwritten"

restore
poke 0 8 "$(printf '\001')"
want_reason="Metadata device holds something else (bad superblock magic)"
expect_damaged "superblock: wrong own block number"

# Table lines that do not match intact metadata.
for c in "16|Block size does not match the one recorded in the metadata|0 $len dirtylog $DL_META $DL_DATA 16" \
	"len|Device is smaller than recorded in the metadata: shrinking is not supported|0 $((len - 8)) dirtylog $DL_META $DL_DATA 8"; do
	want=$(echo "$c" | cut -d'|' -f2)
	t=$(echo "$c" | cut -d'|' -f3)
	restore
	klog_reset
	if create "$t" >/dev/null 2>&1; then
		dmsetup remove dlc
		ktap_result 1 "refused with '$want': $t"
	else
		dmesg | grep -q "dirtylog: $want"
		rc=$?
		[ $rc -eq 0 ] || dmesg | sed 's/^/# /'
		ktap_result $rc "refused with '$want': $t"
	fi
	[ "$(meta_sha)" = "$img_sha" ]
	ktap_result $? "... and nothing was written to the metadata device"
done
want_reason=

# ---------------------------------------------------------------------
# Every referenced block but the superblock, one bit flipped mid-block.
grep -v ' sb ' /tmp/dl-refs > /tmp/dl-cases
while read -r b role iv; do
	restore
	flip_bit "$b" 2000
	echo "$b $role $iv" > /tmp/dl-damaged
	expect_damaged "$role block $b ($iv): one bit flipped"
done < /tmp/dl-cases

# Blocks nothing refers to any more: damage there changes nothing.
while read -r b; do
	restore
	flip_bit "$b" 2000
	echo "$b unref -" > /tmp/dl-damaged
	expect_damaged "unreferenced block $b: one bit flipped"
done < /tmp/dl-unref

# ---------------------------------------------------------------------
# Random garbage: 8 distinct random blocks among 1..$hi, $ROUNDS rounds.
seed=${DL_SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
ktap_diag "seed $seed (set DL_SEED to repeat the block choice; the bytes are random)"
r=0
while [ $r -lt $ROUNDS ]; do
	r=$((r + 1))
	restore
	awk -v s=$((seed + r)) -v hi="$hi" 'BEGIN {
		srand(s); n = 0
		while (n < 8) { b = 1 + int(rand() * hi); if (!(b in seen)) { seen[b] = 1; n++; print b } }
	}' | sort -n > /tmp/dl-pos
	: > /tmp/dl-damaged
	while read -r b; do
		garbage "$b"
		grep "^$b " /tmp/dl-refs >> /tmp/dl-damaged || echo "$b unref -" >> /tmp/dl-damaged
	done < /tmp/dl-pos
	ktap_diag "round $r: blocks $(flat < /tmp/dl-damaged)"
	expect_damaged "random garbage round $r (blocks $(flat < /tmp/dl-pos))"
done

# ---------------------------------------------------------------------
# A truncated metadata device: the metadata on a 16 MiB linear slice of
# the metadata disk (at 32 MiB), then the slice cut to 64 KiB and less.
restore
SLICE=/dev/mapper/dlslice
slice() { dmsetup create dlslice --table "0 $1 linear $DL_META 65536" && dmsetup mknodes >/dev/null 2>&1; }
slice 32768
dl_fresh_meta $SLICE
stable="0 $len dirtylog $SLICE $DL_DATA 8"
create "$stable"
i=0
# 20 copy-on-write commits, so that the allocator moves past block 16: a
# checkpoint made and deleted after each write (writes to a page the active
# interval has are rewritten in place and allocate nothing).
while [ $i -lt 20 ]; do
	wr $((i * 7))
	dmsetup message dlc 0 checkpoint "m$i" >/dev/null &&
		dmsetup message dlc 0 delete_checkpoint "m$i" >/dev/null
	i=$((i + 1))
done
dmsetup message dlc 0 checkpoint t1 >/dev/null
wr 1000
wr 50000
dmsetup message dlc 0 checkpoint t2 >/dev/null
wr 2000
want_t="$(dmsetup message dlc 0 dirty t1 | flat) / $(dmsetup message dlc 0 dirty t2 | flat) / $(dmsetup message dlc 0 list_checkpoints | flat)"
dmsetup remove dlc
dd if=$SLICE of=$BLK bs=4096 count=1 iflag=direct 2>/dev/null
troot=$(u64 $BLK 0 88)
aroot=$(u64 $BLK 0 96)
ssha=$(dl_sha $SLICE 0 $((1 << 20)))
case $want_t in
"1000 1|2000 1|50000 1 / 2000 1 / t1 "*) [ "$troot" -ge 16 ] || [ "$aroot" -ge 16 ] ;;
*) false ;;
esac
ktap_result $? "metadata on a 16 MiB slice, table at block $troot, active root at block $aroot"
if [ "$troot" -ge 16 ]; then
	want="Corrupt checkpoint table in metadata"
else
	want="Corrupt bitmap tree in metadata"
fi
dmsetup remove dlslice
slice 128			# 16 blocks: the minimum size, but blocks are missing
klog_reset
if create "$stable" >/dev/null 2>&1; then
	dmsetup remove dlc
	ktap_result 1 "64 KiB slice: refused with '$want'"
else
	dmesg | grep -q "dirtylog: $want" && dmesg | grep -q "outside the device"
	rc=$?
	[ $rc -eq 0 ] || dmesg | sed 's/^/# /'
	ktap_result $rc "64 KiB slice: refused with '$want' (a block outside the device)"
fi
dmsetup remove dlslice
slice 120			# 60 KiB
klog_reset
if create "$stable" >/dev/null 2>&1; then
	dmsetup remove dlc
	ktap_result 1 "60 KiB slice: refused as too small"
else
	dmesg | grep -q "dirtylog: Metadata device too small: at least 64 KiB needed"
	rc=$?
	[ $rc -eq 0 ] || dmesg | sed 's/^/# /'
	ktap_result $rc "60 KiB slice: refused with 'Metadata device too small: at least 64 KiB needed'"
fi
dmsetup remove dlslice
slice 32768
[ "$(dl_sha $SLICE 0 $((1 << 20)))" = "$ssha" ]
ktap_result $? "the truncated loads wrote nothing to the metadata"
create "$stable"
ktap_result $? "the whole slice loads again"
got_t="$(dmsetup message dlc 0 dirty t1 | flat) / $(dmsetup message dlc 0 dirty t2 | flat) / $(dmsetup message dlc 0 list_checkpoints | flat)"
[ "$got_t" = "$want_t" ]
ktap_result $? "... with the same answers ('$got_t')"
dmsetup remove dlc
dmsetup remove dlslice
klog_reset
rm -f $IMG

# ---------------------------------------------------------------------
[ $_klog_bad = 0 ]
ktap_result $? "no kernel warning in the log after any case"
ktap_check "the module unloads" rmmod dm_dirtylog
ktap_finish
