# SPDX-License-Identifier: GPL-2.0-only
# Shared by the metadata damage tests (test_corrupt_06.sh, hand-picked
# damage; test_metaflip_24.sh, random bit flips and truncations), sourced
# after lib.sh: a device "dlc" with three checkpoints and bitmap pages in
# both kept frozen intervals and the active one, the saved answers of the
# pristine metadata, a parser of the on-disk format that lists every block
# the metadata reaches with its role, and the check that the saved copy
# loads again with the same answers.  The parser and the damage helpers
# are lib-metaformat.sh's.
#
# The caller sets SAVE_BLOCKS (metadata blocks saved), IMG (the pristine
# copy), BLK (a scratch block file) and zeroes the metadata device first.
len=$(dl_sectors $DL_DATA)
table="0 $len dirtylog $DL_META $DL_DATA 8"
dev=/dev/mapper/dlc
queries="c1|c2|c3|c1 c2|c2 c3|c1 c3"
nl='
'
_klog_bad=0

# klog_reset: remember kernel warnings, then clear the log for the next case.
klog_reset() {
	if dmesg | grep -q -E 'WARNING:|BUG:|Oops|Call Trace|general protection'; then
		dmesg | sed 's/^/# dmesg: /'
		_klog_bad=1
	fi
	dmesg -c >/dev/null
}

create() { dmsetup create dlc --table "${1:-$table}" && dmsetup mknodes >/dev/null 2>&1; }
wr() { dd if=/dev/urandom of=$dev bs=4096 seek="$1" count=1 oflag=direct 2>/dev/null; }
flat() { tr '\n' '|' | sed 's/|$//'; }
meta_sha() { dl_sha $DL_META 0 $((SAVE_BLOCKS * 4096)); }
restore() {
	dd if=$IMG of=$DL_META bs=64k oflag=direct conv=notrunc 2>/dev/null
}

# Every answer of the device: each query, the checkpoint list and the
# status fields from #dirty active to the state, one line each.
answers() {
	echo "$queries" | tr '|' '\n' | while read -r q; do
		echo "dirty $q: $(dmsetup message dlc 0 dirty $q 2>&1 | flat)"
	done
	echo "list: $(dmsetup message dlc 0 list_checkpoints 2>&1 | flat)"
	echo "status: $(dmsetup status dlc | cut -d' ' -f6-)"
}

# The saved answer to query Q.
answer_of() { grep "^dirty $1: " /tmp/dl-answers | sed "s/^dirty $1: //"; }

# meta_build: the device, its writes and checkpoints; the answers go to
# /tmp/dl-answers, ids to id1..id3, the used metadata blocks to $used.
# Bitmap pages (4 KiB blocks: 131072 blocks, 5 pages of 32640): I1 = c1..c2
# pages 0 and 1, I2 = c2..c3 pages 0, 3 and 4, the active one 0, 1 and 2.
meta_build() {
	create || return 1
	wr 10
	wr 70000
	id1=$(dmsetup message dlc 0 checkpoint c1)	# the interval before c1 is dropped
	wr 20
	wr 40000
	id2=$(dmsetup message dlc 0 checkpoint c2)	# I1: pages 0 and 1
	wr 30
	wr 100000
	wr 131000
	id3=$(dmsetup message dlc 0 checkpoint c3)	# I2: pages 0, 3 and 4
	wr 50
	wr 65000
	dmsetup message dlc 0 mark_dirty 66000 3	# A: pages 0, 1 and 2
	answers > /tmp/dl-answers
	used=$(dl_status_field dlc 6)
	dmsetup remove dlc || return 1
}

# ---------------------------------------------------------------------
# The on-disk parser (parse_refs) and the damage helpers.
. "$(dirname "$0")/lib-metaformat.sh"

# Intervals each query reads from the metadata device (A is in memory).
reads_of() {
	case $1 in
	"c1" | "c1 c3") echo "I1 I2" ;;
	"c2" | "c2 c3") echo "I2" ;;
	"c1 c2") echo "I1" ;;
	*) echo "" ;;
	esac
}

# reads_damaged Q BAD: query Q reads one of the intervals in BAD ("I1|I2").
reads_damaged() {
	for _rd_i in $(reads_of "$1"); do
		case "|$2|" in *"|$_rd_i|"*) return 0 ;; esac
	done
	return 1
}

# pristine_ok: the saved metadata loads and gives every answer it gave.
pristine_ok() {
	restore
	if ! create >/dev/null 2>&1; then
		dmesg | tail -n 5 | sed 's/^/# /'
		return 1
	fi
	answers > /tmp/dl-now
	dmsetup remove dlc || return 1
	cmp -s /tmp/dl-now /tmp/dl-answers && return 0
	diff /tmp/dl-answers /tmp/dl-now | sed 's/^/# /'
	return 1
}
