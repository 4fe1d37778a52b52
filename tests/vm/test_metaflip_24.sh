#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
# Random metadata damage: bit flips (single bits and bursts of 2 to 64
# bits, at random places in every block the metadata reaches and in blocks
# it does not) and truncations (the metadata device seen through a
# dm-linear of fewer sectors, at many lengths) of a valid metadata device.
# Each case must be refused with a reason in the kernel log, or load a
# state whose answers equal the pristine ones, except that damage in a
# frozen interval's bitmap page makes exactly the queries that read it fail
# with EILSEQ (and a page cut off by a truncation makes them fail).  A
# damaged load never writes the metadata device; no oops, hang or warning.
# The device, the saved answers and the parser of the on-disk format are
# those of test_corrupt_06.sh (lib-metafixture.sh), which does hand-picked damage.
# Randomised: DL_SEED (printed); DL_METAFLIP_CASES flip cases (default
# 150; long mode: thousands), DL_METAFLIP_TRUNC truncation lengths
# (default 20).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-metafixture.sh"
trap 'dmsetup remove dlc >/dev/null 2>&1; dmsetup remove dlslice >/dev/null 2>&1; dl_cleanup; rm -f $IMG $BLK /tmp/dl-refs /tmp/dl-answers /tmp/dl-now /tmp/dl-cases' EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1

SAVE_BLOCKS=64			# 256 KiB: the metadata used here is far smaller
IMG=/tmp/dl-pristine.img
BLK=/tmp/dl-block
seed=${DL_SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
ncases=${DL_METAFLIP_CASES:-150}
ntrunc=${DL_METAFLIP_TRUNC:-20}
ktap_plan 7
ktap_diag "seed $seed (set DL_SEED to repeat), $ncases flip cases, $ntrunc truncations"

dd if=/dev/zero of=$DL_META bs=64k count=32 oflag=direct 2>/dev/null
meta_build || exit 1
klog_reset
dd if=$DL_META of=$IMG bs=64k count=$((SAVE_BLOCKS / 16)) iflag=direct 2>/dev/null || exit 1
parse_refs $IMG > /tmp/dl-refs
img_sha=$(sha256sum < $IMG | cut -d' ' -f1)
hi=$(sort -n /tmp/dl-refs | tail -n 1 | cut -d' ' -f1)
nrefs=$(wc -l < /tmp/dl-refs)
[ "$used" = "$nrefs/16384" ] && [ "$hi" -lt $SAVE_BLOCKS ] && pristine_ok
ktap_result $? "pristine metadata: $nrefs blocks reached (status said $used), highest $hi; it reloads with the same answers"

# judge DESC DAMAGED: one damaged load.  DAMAGED lists "block role interval"
# of the blocks damaged or cut off; "refuse" is the outcome when one of
# them is the superblock, the table, a node or an active page, else the
# load must work and give the pristine answers, but queries reading a
# listed frozen interval must fail ($2 = eilseq: with EILSEQ; $2 = cut:
# a shortened device, which may also be refused as a whole with a reason).
nbad=0
fail() {
	nbad=$((nbad + 1))
	[ $nbad -le 20 ] && ktap_diag "FAIL $*"
}
judge() {
	_d=$1 _how=$2 _dam=$3
	_role=$(echo "$_dam" | awk '$2 == "sb" { print "sb"; exit }
		$2 == "table" { r = "table" } $2 == "node" || ($2 == "page" && $3 == "A") { if (!r) r = "tree" }
		END { if (r) print r }')
	_bad=$(echo "$_dam" | awk '$2 == "page" && $3 != "A" { print $3 }' | sort -u | flat)
	klog_reset
	if [ -n "$_role" ]; then
		case $_role in
		sb) _want='Metadata superblock checksum mismatch|bad superblock magic|Metadata device holds something else' ;;
		table) _want='Corrupt checkpoint table in metadata' ;;
		*) _want='Corrupt bitmap tree in metadata' ;;
		esac
		[ "$_how" = cut ] && _want="$_want|Metadata device too small"
		if create "$slice_table" >/dev/null 2>&1; then
			dmsetup remove dlc
			fail "$_d: loaded, should be refused ($_want)"
		elif ! dmesg | grep -q -E "dirtylog: ($_want)"; then
			fail "$_d: refused without '$_want': $(dmesg | grep dirtylog | tail -n 2 | flat)"
		fi
		return
	fi
	if ! create "$slice_table" >/dev/null 2>&1; then
		# A shortened device may be refused as a whole, with a reason.
		[ "$_how" = cut ] && dmesg | grep -q 'dirtylog: ' && return
		fail "$_d: refused: $(dmesg | grep dirtylog | tail -n 2 | flat)"
		return
	fi
	echo "$queries" | tr '|' '\n' > /tmp/dl-cases
	while read -r q; do
		_out=$(dmsetup message dlc 0 dirty $q 2>&1)
		_rc=$?
		if reads_damaged "$q" "$_bad"; then
			[ $_rc -ne 0 ] || fail "$_d: dirty $q answered from a damaged page"
			[ "$_how" = eilseq ] && ! echo "$_out" | grep -q "Invalid or incomplete multibyte" &&
				fail "$_d: dirty $q: not EILSEQ: $_out"
		else
			[ $_rc -eq 0 ] && [ "$(echo "$_out" | flat)" = "$(answer_of "$q")" ] ||
				fail "$_d: dirty $q: rc $_rc '$(echo "$_out" | flat)', want '$(answer_of "$q")'"
		fi
	done < /tmp/dl-cases
	[ "list: $(dmsetup message dlc 0 list_checkpoints 2>&1 | flat)" = "$(grep '^list: ' /tmp/dl-answers)" ] ||
		fail "$_d: list_checkpoints differs"
	dmsetup remove dlc || fail "$_d: cannot remove dlc"
}

# --- bit flips ------------------------------------------------------------
# Cases "block firstbit nbits": a single bit and a burst in every reached
# block, then random ones (two thirds in reached blocks, the rest in blocks
# up to 8 past the highest, reached or not).
awk -v s="$seed" -v n="$ncases" -v hi="$hi" '
	function one(b) { print b, int(rand() * 32768), 1 }
	function burst(b,  k) { k = 2 + int(rand() * 63); print b, int(rand() * (32768 - k)), k }
	{ ref[NR] = $1 }
	END {
		srand(s); c = 0
		for (i = 1; i <= NR && c < n; i++) { one(ref[i]); c++; if (c < n) { burst(ref[i]); c++ } }
		while (c < n) {
			b = rand() < 0.66 ? ref[1 + int(rand() * NR)] : int(rand() * (hi + 9))
			if (rand() < 0.5) one(b); else burst(b)
			c++
		}
	}' /tmp/dl-refs > /tmp/dl-flips
slice_table=$table
restore
start=$(date +%s)
nflip=0 nref=0
while read -r b bit nb; do
	nflip=$((nflip + 1))
	dam=$(grep "^$b " /tmp/dl-refs)
	[ -n "$dam" ] && nref=$((nref + 1))
	./dl_bitflip $DL_META "$b" "$bit" "$nb" || { fail "dl_bitflip $b $bit $nb"; continue; }
	sha0=$(meta_sha)
	judge "flip block $b bits $bit+$nb (${dam:-unreached})" eilseq "$dam"
	[ "$(meta_sha)" = "$sha0" ] || fail "flip block $b bits $bit+$nb: the load wrote the metadata device"
	# Put the pristine block back.
	dd if=$IMG of=$DL_META bs=4096 skip="$b" seek="$b" count=1 oflag=direct conv=notrunc 2>/dev/null
	if [ $((nflip % 50)) = 0 ]; then
		[ "$(meta_sha)" = "$img_sha" ] && pristine_ok ||
			{ fail "after $nflip flips the pristine copy does not reload"; restore; }
	fi
done < /tmp/dl-flips
[ $nbad = 0 ]
ktap_result $? "$nflip bit-flip cases ($nref in reached blocks): refused with the reason, or right answers, EILSEQ exactly for damaged frozen pages; nothing written ($(($(date +%s) - start)) s, $nbad failures)"
flip_bad=$nbad

# --- truncations -------------------------------------------------------------
# The metadata seen through "linear $DL_META 0" of L sectors: every length
# that cuts a reached block off (its first sector), lengths below and at
# the 64 KiB minimum, and random ones up to the end of the highest block.
nbad=0
awk -v s="$seed" -v n="$ntrunc" -v hi="$hi" '
	{ l[$1 * 8] = 1 }
	END {
		srand(s)
		l[8] = 1; l[120] = 1; l[127] = 1; l[128] = 1; l[(hi + 1) * 8] = 1; l[(hi + 1) * 8 - 1] = 1
		for (i = 0; i < n; i++) l[1 + int(rand() * (hi + 1) * 8)] = 1
		for (x in l) if (x > 0) print x
	}' /tmp/dl-refs | sort -n | head -n "$ntrunc" > /tmp/dl-lens
# keep the fixed ones even when the reached blocks are many
for x in 8 127 128 $(((hi + 1) * 8)); do
	grep -q -x "$x" /tmp/dl-lens || echo "$x" >> /tmp/dl-lens
done
slice_table="0 $len dirtylog /dev/mapper/dlslice $DL_DATA 8"
start=$(date +%s)
ntr=0
restore
for L in $(sort -n -u /tmp/dl-lens); do
	ntr=$((ntr + 1))
	dmsetup create dlslice --table "0 $L linear $DL_META 0" || { fail "dlslice $L"; continue; }
	dmsetup mknodes >/dev/null 2>&1
	# Blocks (wholly or partly) past the end are gone.
	dam=$(awk -v L="$L" '($1 + 1) * 8 > L' /tmp/dl-refs)
	if [ "$L" -lt 128 ]; then
		dam="0 sb -"	# too small: refused before anything is read
	fi
	sha0=$(meta_sha)
	judge "truncated to $L sectors" cut "$dam"
	[ "$(meta_sha)" = "$sha0" ] || { fail "truncated to $L: the metadata device was written"; restore; }
	dmsetup remove dlslice || fail "cannot remove dlslice"
done
[ $nbad = 0 ]
ktap_result $? "$ntr truncation lengths (8 to $(((hi + 1) * 8)) sectors): refused with the reason, or right answers; nothing written ($(($(date +%s) - start)) s, $nbad failures)"

slice_table=$table
[ "$(meta_sha)" = "$img_sha" ] && pristine_ok
ktap_result $? "the pristine metadata loads again with the same answers"
klog_reset
[ $_klog_bad = 0 ]
ktap_result $? "no kernel warning in the log after any case"
[ -z "$(dmsetup ls | grep -v 'No devices')" ]
ktap_result $? "no device left behind"
ktap_check "the module unloads" rmmod dm_dirtylog
ktap_finish
