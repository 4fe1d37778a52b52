#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The dirty map on the wire and in bitmap files.
#
# 1. Dense and sparse stretches (fio writes every other block of one
#    region, dd a few scattered blocks): "dirtylogctl dirty" answers the
#    same with each --encoding (extents, raw bitmap chunks, auto) and
#    equals a model of the written blocks built here with awk.
# 2. Bitmap files: dirty -o for c1..c2, c2..c3 and c3..now; show --extents
#    equals the live answer; show --json names the device, instance,
#    checkpoints with their ids, block size and counts; merge (inputs out
#    of order) equals the live c1..now answer; -o - streams the same map.
# 3. Refusals, each exit 1 with its own reason: a flipped byte, a
#    truncated file, trailing bytes, not a bitmap file, a gap in the
#    chain, an overlap, a map up to now that is not last, a duplicate, a
#    map of another device.
# 4. mark-dirty --from FILE puts a saved map back into the active interval
#    (a failed backup's blocks go into the next one); a file of another
#    device instance is refused.
# 5. Marks of many blocks at once (one write, or a mark_dirty message)
#    across the 512-bit word groups a commit publishes, a bitmap page's
#    partial last group and the page boundary: the live answer (the
#    in-memory bitmap) and the answer after the device is re-created from
#    its metadata (the disk) both equal the model.
# 6. Many words of one bitmap page in one commit: a commit keeps a page's
#    new marks as a short list of words and switches to a copy of the
#    whole page past 21 words or for a longer write.  Bursts of random
#    writes (QD32, fio logs every offset: the model) of 4 KiB into one
#    page and of 4 KiB to 1 MiB into the next; the live answer, the count
#    of dirty blocks in the status line, and the answer after re-creating
#    the device all equal the model.
#
# Device d14 over $DL_DATA at 4 KiB blocks; d14b over the spare disk.
. "$(dirname "$0")/lib.sh"
trap dl_cleanup EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
ktap_plan 44

tmp=/tmp/bm14
rm -rf $tmp
mkdir -p $tmp
len=$(dl_sectors $DL_DATA)
dmsetup create d14 --table "0 $len dirtylog $DL_META $DL_DATA 8" &&
	dmsetup mknodes
ktap_result $? "create d14"
dev=/dev/mapper/d14

# wr BLOCK...: write 4 KiB at each block, and note it in the model.
wr() {
	for b in "$@"; do
		dd if=/dev/urandom of=$dev bs=4096 seek="$b" count=1 oflag=direct 2>/dev/null ||
			return 1
		echo "$b" >>$tmp/model.$phase
	done
}
# dense FIRST N: every other block from FIRST, N blocks written (fio).
dense() {
	fio --name=dense --filename=$dev --rw=write:4k --bs=4k \
		--offset=$(($1 * 4096)) --size=$(($2 * 8192)) --direct=1 \
		--ioengine=libaio --iodepth=16 >/dev/null 2>&1 || return 1
	awk -v f="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) print f + 2 * i }' \
		>>$tmp/model.$phase
}
# model PHASES...: "start count" extents of the blocks written in PHASES.
model() {
	for p in "$@"; do cat $tmp/model.$p 2>/dev/null; done | sort -n -u |
		awk 'NR == 1 { s = $1; c = 1; next }
		     $1 == s + c { c++; next }
		     { print s, c; s = $1; c = 1 }
		     END { if (NR) print s, c }'
}
# extents ARGS...: the extents "dirtylogctl dirty" prints, as "start count".
extents() {
	dirtylogctl dirty "$@" | awk '$1 == "start" { print $2, $4 }'
}
# file_extents FILE: the extents "dirtylogctl show --extents" prints.
file_extents() {
	dirtylogctl show --extents "$1" | awk '$1 == "start" { print $2, $4 }'
}
check_eq() {
	if [ "$2" = "$3" ]; then
		ktap_result 0 "$1"
	else
		ktap_diag "got:  $(echo "$2" | head -n 8 | tr '\n' '|')... ($(echo "$2" | wc -l) lines)"
		ktap_diag "want: $(echo "$3" | head -n 8 | tr '\n' '|')... ($(echo "$3" | wc -l) lines)"
		ktap_result 1 "$1"
	fi
}
# refused DESCRIPTION REASON ARGS...: exit 1 and REASON on stderr.
refused() {
	_d=$1 _why=$2
	shift 2
	dirtylogctl "$@" >$tmp/out 2>$tmp/err
	_rc=$?
	if [ $_rc = 1 ] && grep -q "$_why" $tmp/err; then
		ktap_result 0 "$_d"
	else
		ktap_diag "exit $_rc, stderr: $(cat $tmp/err)"
		ktap_result 1 "$_d"
	fi
}
id_of() {		# id_of DEVICE CKPT
	dirtylogctl checkpoint list "$1" | awk -v c="$2" '$1 == c { print $2 }'
}

# --- 1. encodings ---------------------------------------------------------
dirtylogctl checkpoint create d14 c1 >/dev/null
phase=1
dense 1000 6000 && wr 5 6 7 40000 65535 65536 131071 &&
	dense 90001 300
ktap_result $? "writes after c1: two dense regions and scattered blocks"
want=$(model 1)
for enc in extents bitmap auto; do
	check_eq "dirty --since c1 --encoding $enc equals the model" \
		"$(extents d14 --since c1 --encoding $enc)" "$want"
done
dirtylogctl checkpoint create d14 c2 >/dev/null
phase=2
dense 1001 2000 && wr 3 5 100000
ktap_result $? "writes after c2"
dirtylogctl checkpoint create d14 c3 >/dev/null
phase=3
wr 77 78 79 && dense 50000 500
ktap_result $? "writes after c3"
check_eq "dirty c1..c3 (bitmap) equals the model" \
	"$(extents d14 --since c1 --until c3 --encoding bitmap)" "$(model 1 2)"
check_eq "dirty c2..now (auto) equals the model" \
	"$(extents d14 --since c2)" "$(model 2 3)"

# --- 2. files --------------------------------------------------------------
dirtylogctl dirty d14 --since c1 --until c2 -o $tmp/f12 >/dev/null &&
	dirtylogctl dirty d14 --since c2 --until c3 --output $tmp/f23 >/dev/null &&
	dirtylogctl dirty d14 --since c3 -o $tmp/f3n >/dev/null
ktap_result $? "dirty -o: c1..c2, c2..c3, c3..now"
check_eq "show --extents c1..c2 equals the live answer and the model" \
	"$(file_extents $tmp/f12)" "$(model 1)"
check_eq "show --extents c3..now equals the model" \
	"$(file_extents $tmp/f3n)" "$(model 3)"
iu=$(dirtylogctl --json status d14 | sed -n 's/.*"instance_uuid":"\([0-9a-f]*\)".*/\1/p')
n12=$(model 1 | awk '{ n += $2 } END { print n }')
want="{\"file\":\"$tmp/f12\",\"device\":\"d14\",\"instance_uuid\":\"$iu\",\"since\":\"c1\",\"since_id\":$(id_of d14 c1),\"until\":\"c2\",\"until_id\":$(id_of d14 c2),\"block_size_bytes\":4096,\"blocks\":$((len / 8)),\"dirty_blocks\":$n12,\"created_ns\":"
got=$(dirtylogctl --json show $tmp/f12)
case $got in
"$want"[0-9]*"}") ktap_result 0 "show --json c1..c2: every field" ;;
*)
	ktap_diag "got:  $got"
	ktap_diag "want: $want<ns>}"
	ktap_result 1 "show --json c1..c2: every field"
	;;
esac
dirtylogctl --json show $tmp/f3n | grep -q '"until":null,"until_id":0,'
ktap_result $? "show --json c3..now: until is null, id 0"
got=$(dirtylogctl --json dirty d14 --since c1 --until c2 -o $tmp/f12b)
want=$(dirtylogctl --json show $tmp/f12b | sed 's/}$//')
case $got in
"$want,\"bytes_received\":"[0-9]*",\"bitmap_bytes_received\":"[0-9]*"}")
	ktap_result 0 "dirty -o --json: show's object plus the bytes received" ;;
*)
	ktap_diag "got:  $got"
	ktap_diag "want: $want,\"bytes_received\":N,\"bitmap_bytes_received\":N}"
	ktap_result 1 "dirty -o --json: show's object plus the bytes received"
	;;
esac
dirtylogctl merge $tmp/f3n $tmp/f12 $tmp/f23 -o $tmp/f1n >/dev/null
ktap_result $? "merge c3..now, c1..c2, c2..c3 (out of order)"
check_eq "the merged file equals the live dirty c1..now" \
	"$(file_extents $tmp/f1n)" "$(extents d14 --since c1)"
check_eq "... and the model" "$(file_extents $tmp/f1n)" "$(model 1 2 3)"
dirtylogctl --json show $tmp/f1n | grep -q "\"since\":\"c1\",\"since_id\":$(id_of d14 c1),\"until\":null,"
ktap_result $? "the merged file runs from c1 to now"
check_eq "dirty -o - streams the same map to show -" \
	"$(dirtylogctl dirty d14 --since c1 --until c2 -o - | dirtylogctl show --extents - | tail -n +2)" \
	"$(dirtylogctl show --extents $tmp/f12 | tail -n +2)"

# --- 3. refusals -----------------------------------------------------------
cp $tmp/f12 $tmp/bad
dl_flip_byte $tmp/bad 600
refused "a flipped body byte: refused as corrupt" "body corrupt" show $tmp/bad
cp $tmp/f12 $tmp/bad
dl_flip_byte $tmp/bad 100
refused "a flipped header byte: refused as corrupt" "header corrupt" show $tmp/bad
size=$(wc -c <$tmp/f12)
head -c $((size - 1)) $tmp/f12 >$tmp/bad
refused "a truncated file: refused" "truncated" show $tmp/bad
{ cat $tmp/f12; printf 'x'; } >$tmp/bad
refused "trailing bytes: refused" "trailing garbage" show $tmp/bad
refused "not a bitmap file: refused" "not a bitmap file" show /init
refused "merge with a gap (c1..c2 + c3..now): refused" "gap" \
	merge $tmp/f12 $tmp/f3n -o $tmp/x
dirtylogctl dirty d14 --since c1 --until c3 -o $tmp/f13 >/dev/null
refused "merge with an overlap (c1..c3 + c2..c3): refused" "overlap" \
	merge $tmp/f13 $tmp/f23 -o $tmp/x
refused "merge with a map up to now before another: refused" "now" \
	merge $tmp/f1n $tmp/f23 -o $tmp/x
refused "merge with a duplicate: refused" "duplicate" \
	merge $tmp/f12 $tmp/f12 -o $tmp/x
[ ! -e $tmp/x ]
ktap_result $? "a refused merge writes no output file"

spare=$(dl_sectors $DL_SPARE)
dmsetup create d14bm --table "0 32768 linear $DL_SPARE 0" &&
	dmsetup create d14bd --table "0 $((spare - 32768)) linear $DL_SPARE 32768" &&
	dmsetup mknodes && dl_fresh_meta /dev/mapper/d14bm &&
	dmsetup create d14b --table "0 $((spare - 32768)) dirtylog /dev/mapper/d14bm /dev/mapper/d14bd 8" &&
	dirtylogctl checkpoint create d14b c1 >/dev/null &&
	dirtylogctl checkpoint create d14b c2 >/dev/null &&
	dirtylogctl dirty d14b --since c1 --until c2 -o $tmp/b12 >/dev/null
ktap_result $? "a map c1..c2 of another device, d14b"
refused "merge maps of two devices: refused" "different devices" \
	merge $tmp/f12 $tmp/b12 -o $tmp/x

# --- 4. mark-dirty --from ----------------------------------------------------
dirtylogctl checkpoint create d14 c4 >/dev/null
dirtylogctl mark-dirty d14 --from $tmp/f12
ktap_result $? "mark-dirty --from the c1..c2 file"
check_eq "dirty --since c4 is exactly the file's map" \
	"$(extents d14 --since c4)" "$(model 1)"
refused "mark-dirty --from another device's file: refused" "instance" \
	mark-dirty d14 --from $tmp/b12
check_eq "... and marks nothing" "$(extents d14 --since c4)" "$(model 1)"
# --- 5. multi-block marks across word groups ---------------------------------
dirtylogctl checkpoint create d14 c5 >/dev/null
phase=5
# span FIRST N: one N-block write at block FIRST (fio: a single I/O).
span() {
	fio --name=span --filename=$dev --rw=write --bs=$(($2 * 4))k \
		--offset=$(($1 * 4096)) --size=$(($2 * 4096)) --direct=1 \
		--ioengine=psync >/dev/null 2>&1 || return 1
	awk -v f="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) print f + i }' \
		>>$tmp/model.$phase
}
# 32640 blocks per bitmap page (510 words); group 0 is blocks 0..511,
# the last group of page 0 blocks 32256..32639.
span 500 40 && span 4000 256 && span 32250 20 && span 32620 40 &&
	dmsetup message d14 0 mark_dirty 70000 1100 &&
	awk 'BEGIN { for (i = 70000; i < 71100; i++) print i }' >>$tmp/model.$phase
ktap_result $? "c5: writes of 20 to 256 blocks and a mark_dirty of 1100 across groups and pages"
check_eq "dirty --since c5 (in memory) equals the model" \
	"$(extents d14 --since c5)" "$(model 5)"
dmsetup remove d14 &&
	dmsetup create d14 --table "0 $len dirtylog $DL_META $DL_DATA 8" &&
	dmsetup mknodes
check_eq "... and after re-creating d14 from its metadata" \
	"$(extents d14 --since c5)" "$(model 5)"
# --- 6. many words of one page in one commit ---------------------------------
dirtylogctl checkpoint create d14 c6 >/dev/null
phase=6
# burst FIRST_PAGE BSRANGE N: N random writes at QD32 inside bitmap page
# FIRST_PAGE; the model comes from fio's log of what it issued.
burst() {
	rm -f $tmp/iolog
	fio --name=burst --filename=$dev --rw=randwrite --bsrange="$2" \
		--offset=$(($1 * 32640 * 4096)) --size=$((32640 * 4096)) \
		--number_ios="$3" --direct=1 --ioengine=libaio --iodepth=32 \
		--randrepeat=0 --write_iolog=$tmp/iolog >/dev/null 2>&1 || return 1
	# "[TIME] FILE write OFFSET LENGTH" (version 3 logs have the time).
	awk '{ for (i = 2; i + 2 <= NF; i++) if ($i == "write") break }
	     i + 2 <= NF { f = int($(i + 1) / 4096); l = int(($(i + 1) + $(i + 2) - 1) / 4096)
			   for (b = f; b <= l; b++) print b; n++ }
	     END { exit n ? 0 : 1 }' $tmp/iolog >>$tmp/model.$phase
}
burst 2 4k-4k 400 && burst 3 4k-1m 300
ktap_result $? "c6: bursts of random writes into pages 2 and 3 at QD32"
check_eq "dirty --since c6 (in memory) equals the model" \
	"$(extents d14 --since c6)" "$(model 6)"
check_eq "the status line counts the model's blocks" \
	"$(dmsetup status d14 | awk '{ print $6 }')" \
	"$(model 6 | awk '{ n += $2 } END { print n + 0 }')"
dmsetup remove d14 &&
	dmsetup create d14 --table "0 $len dirtylog $DL_META $DL_DATA 8" &&
	dmsetup mknodes
check_eq "... and after re-creating d14 from its metadata" \
	"$(extents d14 --since c6)" "$(model 6)"
check_eq "... which counts them too" \
	"$(dmsetup status d14 | awk '{ print $6 }')" \
	"$(model 6 | awk '{ n += $2 } END { print n + 0 }')"
ktap_finish
