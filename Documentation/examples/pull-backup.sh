#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Pull-mode backup with stock tools: dirtylogctl serves a checkpoint over
# NBD with its dirty bitmap, and this client, which knows nothing of
# dm-dirtylog, copies only the dirty extents onto the previous copy.
#
#   pull-backup.sh DEVICE NEW COPY            full backup into COPY
#   pull-backup.sh DEVICE NEW COPY SINCE      incremental onto COPY
#
# DEVICE is a dirtylog device, NEW the checkpoint this backup creates,
# SINCE the checkpoint of the backup COPY holds.  Needs dirtylogctl,
# nbdinfo (libnbd-bin), nbdcopy and qemu-img (qemu-utils).  Any failure
# ends the backup with --failed: NEW is deleted again, and the next run
# since SINCE still covers every change.  Prints the bytes read.
set -eu
dev=$1 new=$2 copy=$3 since=${4:-}

info=$(dirtylogctl --json backup begin "$dev" --checkpoint "$new" ${since:+--since "$since"})
# The JSON object is one line; these fields hold no commas or quotes.
field() { echo "$info" | sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
uri=$(field uri)
sock=$(field socket)
size=$(field size_bytes)
trap 'dirtylogctl backup end "$dev" --failed >&2' EXIT

if [ -z "$since" ]; then
	# Full: every byte.
	nbdcopy "$uri" "$copy"
	read_bytes=$size
else
	# Incremental: the extents the bitmap marks dirty (type bit 0).
	read_bytes=0
	nbdinfo --map="qemu:dirty-bitmap:$since" "$uri" |
		awk '$3 % 2 == 1 { print $1, $2 }' >"$copy.extents"
	while read -r off len; do
		# QEMU's raw driver reads [offset, offset + size) over NBD.
		qemu-img convert -O raw --image-opts \
			"driver=raw,offset=$off,size=$len,file.driver=nbd,file.server.type=unix,file.server.path=$sock" \
			"$copy.piece"
		# Extents start on a block boundary (4 KiB at least).
		dd if="$copy.piece" of="$copy" bs=4096 seek=$((off / 4096)) \
			conv=notrunc 2>/dev/null
		read_bytes=$((read_bytes + len))
	done <"$copy.extents"
	rm -f "$copy.extents" "$copy.piece"
fi

trap - EXIT
dirtylogctl backup end "$dev" >&2
echo "$read_bytes"
