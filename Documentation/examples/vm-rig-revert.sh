#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# A test rig's disk reset: a golden image, a test run that scribbles on
# the disk, then 'dirtylogctl revert' copies back only the blocks the run
# wrote.  Done for two disk sizes and two amounts written, to show that
# the revert's work follows what was written, not the size of the disk.
#
# Environment (defaults in brackets):
#   DATA     data disk, overwritten [/dev/vda]
#   META     metadata disk, overwritten [/dev/vdb]
#   SIZES    disk sizes to try, MiB [32 128]
#   WRITES   MiB the "test run" writes [1 8]
#   WORK     golden images and results [/tmp/vm-rig-revert]
#
# Prints one line per case: disk size, MiB written, bytes revert copied
# (from its --json answer), seconds, and whether the disk's sha256 equals
# the golden image's again.  The results also go to $WORK/results, one
# line "SIZE_MIB WRITTEN_MIB CHANGED_BLOCKS BYTES SECONDS SHA_OK" each,
# CHANGED_BLOCKS being the 64 KiB blocks that differed from the golden
# image before the revert (counted with cmp, not by dirtylog).  KEEP=1 leaves $WORK in place.  Exits 1 if any
# revert did not give back the golden image.
set -eu

DATA=${DATA:-/dev/vda}
META=${META:-/dev/vdb}
SIZES=${SIZES:-32 128}
WRITES=${WRITES:-1 8}
WORK=${WORK:-/tmp/vm-rig-revert}
NAME=rig

cleanup() {
	dirtylogctl remove $NAME >/dev/null 2>&1 || true
	dmsetup remove rigdata >/dev/null 2>&1 || true
	[ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
sha() { sha256sum <"$1" | cut -d' ' -f1; }
now() { cut -d' ' -f1 /proc/uptime; }
# changed_blocks A B: how many 64 KiB blocks of A and B differ (cmp -l
# lists every differing byte, in order).
changed_blocks() {
	cmp -l "$1" "$2" | awk 'BEGIN { l = -1 } { b = int(($1 - 1) / 65536); if (b != l) { n++; l = b } }
				END { print n + 0 }'
}

rm -rf "$WORK"
mkdir -p "$WORK"
: >"$WORK/results"
bad=0
for size in $SIZES; do
	# 1. The golden image: what every test run starts from (here random
	# data; on a real rig the installed system).
	golden=$WORK/golden-$size.img
	dd if=/dev/urandom of="$golden" bs=1M count="$size" 2>/dev/null
	gsha=$(sha "$golden")
	# A disk of that size: a slice of $DATA.
	dmsetup create rigdata --table "0 $((size * 2048)) linear $DATA 0"
	dmsetup mknodes
	for mib in $WRITES; do
		# 2. The rig's disk: a dirtylog device over it, fresh metadata
		# (--format), the golden image written onto it, and a checkpoint
		# that marks "golden".  Done once per rig; each later run only
		# needs steps 3 and 4.
		dirtylogctl create $NAME --data /dev/mapper/rigdata --metadata "$META" --format
		dd if="$golden" of=/dev/mapper/$NAME bs=1M oflag=direct 2>/dev/null
		dirtylogctl checkpoint create $NAME golden >/dev/null

		# 3. The test run: here, $mib MiB of random data in 4 KiB writes
		# at random places.
		fio --name=run --filename=/dev/mapper/$NAME --rw=randwrite --bs=4k \
			--size=${size}m --io_size=${mib}m --direct=1 --ioengine=psync \
			--randrepeat=0 --refill_buffers >/dev/null
		# Independent of dirtylog: how many 64 KiB blocks now differ
		# from the golden image.
		changed=$(changed_blocks "$golden" /dev/mapper/$NAME)

		# 4. Revert to golden: only the blocks written since the checkpoint
		# are read from the image and written back.  The device must not
		# be in use (the VM stopped).
		t0=$(now)
		out=$(dirtylogctl --json revert $NAME --to golden --from "$golden")
		t1=$(now)
		bytes=$(echo "$out" | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p')
		secs=$(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }')
		if [ "$(sha /dev/mapper/$NAME)" = "$gsha" ]; then
			ok=1
		else
			ok=0
			bad=1
		fi
		printf '%4d MiB disk, %2d MiB written (%4d blocks of 64 KiB changed): revert copied %10d bytes in %6s s, golden again: %s\n' \
			"$size" "$mib" "$changed" "$bytes" "$secs" "$([ $ok = 1 ] && echo yes || echo NO)"
		echo "$size $mib $changed $bytes $secs $ok" >>"$WORK/results"
		dirtylogctl remove $NAME
	done
	dmsetup remove rigdata
	rm -f "$golden"
done
exit $bad
