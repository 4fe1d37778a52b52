#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Bitmap pages rewritten in place, commit after commit: a commit that only
# adds marks to pages the active interval already has ORs the new words
# into the page's cached metadata buffer and updates its checksum from the
# words that changed.  Hundreds of such commits (one per first write, at
# queue depth 1: a page's first and last words, word and page boundaries,
# the device's last block, multi-word ranges, random blocks), then: the
# answer equals the model (the blocks written), the metadata on disk
# passes 'dirtylogctl metadata check' (its own CRC32C over every block),
# and the device reloaded from it answers the same; again after more
# writes on top of the reloaded (disk-read) pages.  A partial last page
# whose block carries bits past the device is written without them.
# The bytes on disk are the same either way, so probes count the
# incremental updates: every commit of a page the interval already has
# (bar the partial last page) must take that path and succeed (its
# buffer is cached); only the others build their page in full.
# Randomised: DL_SEED.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-metaformat.sh"
trap dl_cleanup EXIT
here=$(cd "$(dirname "$0")" && pwd)

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
ktap_plan 12
seed=${DL_SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
ktap_diag "seed $seed"
T=/tmp/inplace
rm -rf $T && mkdir -p $T
len=$(dl_sectors $DL_DATA)
nblk=$((len / 8))
bits=32640		# bits of one bitmap page (DIRTYLOG_BITS_PER_PAGE)
table="0 $len dirtylog $DL_META $DL_DATA 8"
dmsetup create ip --table "$table" && dmsetup mknodes >/dev/null 2>&1 || exit 1
dev=/dev/mapper/ip
dd if=/dev/urandom of=$T/blk bs=4096 count=256 2>/dev/null

# write START COUNT: COUNT direct writes of a block each (first writes,
# one commit each), and their blocks into the model.
write() {
	dd if=$T/blk of=$dev bs=4096 seek="$1" count="$2" oflag=direct 2>/dev/null ||
		echo "# write $1 $2 failed"
	awk -v s="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) print s + i }' >> $T/model
}

# The answer since c1, one block per line, against the model.
answer_matches() {
	dmsetup message ip 0 dirty c1 > $T/ans || return 1
	awk '{ for (i = 0; i < $2; i++) print $1 + i }' $T/ans | sort -n > $T/got
	sort -n -u $T/model > $T/want
	cmp -s $T/got $T/want || {
		echo "# answer $(wc -l < $T/got) blocks, model $(wc -l < $T/want)"
		diff $T/want $T/got | head -5 | sed 's/^/# /'
		return 1
	}
}

# Remove, check the metadata on disk, load it again.
reload_checked() {
	dmsetup remove ip || return 1
	dirtylogctl metadata check $DL_META > $T/chk 2>&1 ||
		{ sed 's/^/# /' $T/chk | head -10; return 1; }
	dmsetup create ip --table "$table" && dmsetup mknodes >/dev/null 2>&1
}

# Count dirtylog_update_page_words() returns (0: updated in place) and
# dirtylog_write_page_words() calls (a page built in full from memory).
TR=/sys/kernel/tracing
[ -e $TR/kprobe_events ] || mount -t tracefs nodev $TR 2>/dev/null
[ -e $TR/kprobe_events ] || TR=/sys/kernel/debug/tracing
probes_off() {
	for e in dl_inplace dl_rebuild; do
		echo 0 > $TR/events/kprobes/$e/enable
		echo "-:$e" >> $TR/kprobe_events
	done 2>/dev/null
}
probes_off	# a leftover of an earlier run
probe=no
if echo 'r:dl_inplace dm_dirtylog:dirtylog_update_page_words ret=$retval:s32' \
	>> $TR/kprobe_events 2>/dev/null &&
   echo 'p:dl_rebuild dm_dirtylog:dirtylog_write_page_words' \
	>> $TR/kprobe_events 2>/dev/null; then
	: > $TR/trace
	echo 1 > $TR/events/kprobes/dl_inplace/enable &&
		echo 1 > $TR/events/kprobes/dl_rebuild/enable && probe=yes
fi

dmsetup message ip 0 checkpoint c1 >/dev/null
: > $T/model
# Page 0's first and last words and their edges, pages 1 and 2 across
# their boundary, the device's last block, ranges over several words.
for b in 0 63 64 127 $((bits - 64)) $((bits - 1)) $bits $((2 * bits - 1)) \
	$((2 * bits)) $((nblk - 1)) $((nblk - 65)); do
	write $b 1
done
write 1000 100
write $((bits + 5000)) 70
write $((bits - 3)) 6
# Random blocks over the whole device, and again in one page (many
# commits of one word or two to the same page).
awk -v s="$seed" -v n="$nblk" -v p="$bits" 'BEGIN { srand(s)
	for (i = 0; i < 150; i++) print int(rand() * n)
	for (i = 0; i < 100; i++) print 3 * p + int(rand() * p) }' > $T/rand
while read -r b; do
	[ "$b" -lt "$nblk" ] && write "$b" 1
done < $T/rand
ktap_diag "$(sort -n -u $T/model | wc -l) blocks written in $(wc -l < $T/rand) + 14 writes;" \
	"$(dirtylogctl --json status ip | sed -n 's/.*"metadata_commits":\([0-9]*\).*/\1/p') commits"

# dd writes one block at a time (the model's lines, in order): one commit
# per block not marked yet, which updates its page in place if an earlier
# write of the interval created the page, unless that is the partial last
# page, and else builds the page in full.
if [ $probe = yes ]; then
	ok=$(grep -c 'dl_inplace:.* ret=0$' $TR/trace)
	all=$(grep -c 'dl_inplace:' $TR/trace)
	built=$(grep -c 'dl_rebuild:' $TR/trace)
	probes_off
	exp=$(awk -v p=$bits -v full=$((nblk / bits)) '
		!($1 in marked) {	# marked already: no commit
			marked[$1] = 1
			q = int($1 / p)
			if (q < full && seen[q])
				upd++
			else
				full_built++
			seen[q] = 1
		} END { print upd + 0, full_built + 0 }' $T/model)
	want_upd=${exp% *}
	want_built=${exp#* }
	[ "$all" = "$want_upd" ] && [ "$ok" = "$all" ] && [ "$built" = "$want_built" ]
	ktap_result $? "every in-place commit updated its cached page, the others built theirs ($ok of $all updates, $want_upd expected; $built pages built, $want_built expected)"
else
	sed 's/^/# /' $TR/error_log 2>/dev/null | tail -3
	probes_off
	ktap_result 1 "no probes on dirtylog_update_page_words / dirtylog_write_page_words"
fi

answer_matches
ktap_result $? "the answer since c1 is the blocks written"
reload_checked
ktap_result $? "the metadata on disk passes 'dirtylogctl metadata check' and loads again"
answer_matches
ktap_result $? "the reloaded device answers the same"

# More first writes on top of the pages the load read from disk.
awk -v s="$seed" -v n="$nblk" 'BEGIN { srand(s + 1)
	for (i = 0; i < 80; i++) print int(rand() * n) }' > $T/rand2
while read -r b; do
	write "$b" 1
done < $T/rand2
write $((nblk - 2)) 2
answer_matches
ktap_result $? "after more writes on the reloaded pages, the answer is still the model"
reload_checked
ktap_result $? "that metadata passes the check and loads again"
answer_matches
ktap_result $? "and answers the same"

# Writes to blocks already marked need no commit and change nothing.
c0=$(dirtylogctl --json status ip | sed -n 's/.*"metadata_commits":\([0-9]*\).*/\1/p')
dd if=$T/blk of=$dev bs=4096 seek=0 count=1 oflag=direct 2>/dev/null
dd if=$T/blk of=$dev bs=4096 seek=$((nblk - 1)) count=1 oflag=direct 2>/dev/null
c1=$(dirtylogctl --json status ip | sed -n 's/.*"metadata_commits":\([0-9]*\).*/\1/p')
[ -n "$c0" ] && [ "$c0" = "$c1" ]
ktap_result $? "rewrites of marked blocks commit nothing (commits $c0 -> $c1)"

# A checkpoint freezes the pages; the next interval's first writes go to
# new pages, then in place again.
dmsetup message ip 0 checkpoint c2 >/dev/null
write 64 1
write 65 1
write $((bits + 1)) 1
reload_checked && answer_matches
ktap_result $? "after a checkpoint and more in-place commits: check clean, same answer"
dmsetup message ip 0 dirty c2 | awk '{ n += $2 } END { exit n != 3 }'
ktap_result $? "the interval since c2 holds exactly its 3 writes"

# The partial last page's block with bits past the device (as 'metadata
# repair' leaves a damaged last page: all ones): the load drops them in
# memory, and an in-place commit of that page must not keep them on disk,
# where a later fold of the interval would count them as marks.
dmsetup remove ip
dl_fresh_meta
dmsetup create ip --table "$table" && dmsetup mknodes >/dev/null 2>&1
write $((nblk - 1)) 1
dmsetup remove ip
dd if=$DL_META of=$T/img bs=1M count=4 iflag=direct 2>/dev/null
pb=$(parse_refs $T/img | awk '$2 == "page" && $3 == "A" { print $1 }')
past=$((16 + 8 * 509))	# the last word: blocks past the device
$here/dl_metapoke $DL_META "$pb" $past 0xffffffffffffffff
dmsetup create ip --table "$table" && dmsetup mknodes >/dev/null 2>&1
write $((nblk - 2)) 1
dmsetup remove ip
dd if=$DL_META of=$T/img bs=1M count=4 iflag=direct 2>/dev/null
[ $((nblk % bits)) != 0 ] && [ -n "$pb" ] && [ "$(u64 $T/img "$pb" $past)" = 0 ]
ktap_result $? "an in-place commit of the partial last page (block $pb) clears bits past the device (last word: $(u64 $T/img "$pb" $past))"

! dmesg | grep -q 'checksum update self-test failed'
ktap_result $? "the module's checksum update self-test passed"
ktap_finish
