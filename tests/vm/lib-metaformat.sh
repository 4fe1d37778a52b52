# SPDX-License-Identifier: GPL-2.0-only
# The on-disk format in shell, shared by the metadata tests
# (test_corrupt_06.sh, test_metaflip_24.sh
# through lib-metafixture.sh, test_metatool_28.sh):
# parse saved dirtylog metadata and damage single blocks of $DL_META.
# Callers set BLK to a scratch file name.  Sourced after lib.sh.

# Fields of block $2 of image $1 at byte $3.
u32() { od -An -tu4 -j $(($2 * 4096 + $3)) -N4 "$1" | tr -d ' '; }
u64() { od -An -tu8 -j $(($2 * 4096 + $3)) -N8 "$1" | tr -d ' '; }

walk_tree() {		# walk_tree IMG ROOT LEVEL INTERVAL
	[ "$2" = 0 ] && return
	if [ "$3" = 0 ]; then
		echo "$2 page $4"
		return
	fi
	echo "$2 node $4"
	for _c in $(od -An -v -tu8 -j $(($2 * 4096 + 32)) -N 4064 "$1" |
		tr -s ' ' '\n' | grep -v '^0*$'); do
		walk_tree "$1" "$_c" $(($3 - 1)) "$4"
	done
}

# parse_refs IMG: "block role interval" for each block the superblock
# reaches; role sb, table, node or page; interval I<k> is the interval
# ending at the k+1-th checkpoint (I0 would be the oldest's, never kept),
# A the active one.
parse_refs() {
	_depth=$(u32 "$1" 0 60)
	echo "0 sb -"
	_b=$(u64 "$1" 0 88)
	_k=0
	_guard=0
	while [ "$_b" != 0 ] && [ $_guard -lt 100 ]; do
		echo "$_b table -"
		_cnt=$(u32 "$1" "$_b" 24)
		_j=0
		while [ $_j -lt "$_cnt" ]; do
			_k=$((_k + 1))
			# checkpoint k's root is the interval ending at it
			walk_tree "$1" "$(u64 "$1" "$_b" $((32 + _j * 96 + 80)))" "$_depth" I$((_k - 1))
			_j=$((_j + 1))
		done
		_b=$(u64 "$1" "$_b" 16)
		_guard=$((_guard + 1))
	done
	walk_tree "$1" "$(u64 "$1" 0 96)" "$_depth" A
}

# Damage helpers, on the metadata device (read-modify-write of one block,
# direct I/O so no page cache is involved).
blk_get() { dd if=$DL_META of=$BLK bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null; }
blk_put() { dd if=$BLK of=$DL_META bs=4096 seek="$1" count=1 oflag=direct conv=notrunc 2>/dev/null; }
flip_bit() {		# flip_bit BLOCK BYTE: invert the lowest bit of one byte
	blk_get "$1"
	dl_flip_byte $BLK "$2" 1
	blk_put "$1"
}
poke() {		# poke BLOCK BYTE STRING
	blk_get "$1"
	printf '%s' "$3" | dd of=$BLK bs=1 seek="$2" conv=notrunc 2>/dev/null
	blk_put "$1"
}
garbage() {		# garbage BLOCK: random bytes over a whole block
	dd if=/dev/urandom of=$DL_META bs=4096 seek="$1" count=1 oflag=direct \
		conv=notrunc 2>/dev/null
}
zero_block() {		# zero_block BLOCK
	dd if=/dev/zero of=$DL_META bs=4096 seek="$1" count=1 oflag=direct \
		conv=notrunc 2>/dev/null
}
