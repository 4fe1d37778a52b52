#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# LVM-backed VM storage with nightly backups: one full export, then one
# incremental per night, each taken from an LVM snapshot of the data LV
# (dirtylogctl export --lvm), and a restore of any night.
#
# The layout this builds (a throwaway setup; on a real host the VG and
# LVs exist already and only steps 3 onwards apply):
#
#   PV on $PV_DISK -> VG $VG -> LV $VG/data (the VM's disk, $DATA_SIZE)
#                            -> LV $VG/dlmeta (dirtylog metadata, 8 MiB)
#   /dev/mapper/$NAME: dirtylog over $VG/data; the VM would use this.
#
# Environment (defaults in brackets):
#   PV_DISK    an empty disk for the PV, wiped [/dev/vdc]
#   VG         volume group to create [dlvg]
#   NAME       dirtylog device name [vmdisk]
#   DATA_SIZE  size of the data LV [64M]
#   NIGHTS     incremental nights after the full one [3]
#   WORK       where backups and restores go [/tmp/lvm-nightly]
#   KEEP=1     leave the devices and $WORK in place (for inspection)
#
# It prints one line per night and per restore, and exits 1 if any
# restored night differs from the sha256 taken of the device that night.
# The sha256 of each night is stored as $WORK/night-N.sha (the device is
# quiet while it is taken, so it is the content at that checkpoint).
set -eu
# (set -e: any failing step ends the script with a non-zero status.)

PV_DISK=${PV_DISK:-/dev/vdc}
VG=${VG:-dlvg}
NAME=${NAME:-vmdisk}
DATA_SIZE=${DATA_SIZE:-64M}
NIGHTS=${NIGHTS:-3}
WORK=${WORK:-/tmp/lvm-nightly}
dev=/dev/mapper/$NAME

cleanup() {
	[ "${KEEP:-0}" = 1 ] && return 0
	dirtylogctl remove "$NAME" >/dev/null 2>&1 || true
	lvremove -f "$VG" >/dev/null 2>&1 || true
	vgremove -f "$VG" >/dev/null 2>&1 || true
	pvremove -ff -y "$PV_DISK" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
sha() { sha256sum <"$1" | cut -d' ' -f1; }

rm -rf "$WORK"
mkdir -p "$WORK"
# The COW store of each snapshot is an LV of this VG; temporary files
# (none with --lvm) would go to $TMPDIR.
export TMPDIR="$WORK"

# 1. Storage: a PV, a VG, the VM's data LV and a small LV for metadata.
dd if=/dev/zero of="$PV_DISK" bs=1M count=1 oflag=direct 2>/dev/null
pvcreate -y "$PV_DISK" >/dev/null
vgcreate "$VG" "$PV_DISK" >/dev/null
lvcreate -y -n data -L "$DATA_SIZE" "$VG" >/dev/null
lvcreate -y -n dlmeta -L 8M "$VG" >/dev/null

# 2. The dirtylog device over the data LV.  --format formats the new
# metadata LV (never use it on metadata you want to keep).  The VM's
# disk image goes on it: here, random data.
dirtylogctl create "$NAME" --data "/dev/$VG/data" --metadata "/dev/$VG/dlmeta" \
	--block-size 64K --format
mib=$(($(blockdev --getsize64 "$dev") >> 20))
dd if=/dev/urandom of="$dev" bs=1M count="$mib" oflag=direct 2>/dev/null

# 3. Night 0: a full export.  --lvm takes an LVM snapshot of $VG/data at
# the instant of checkpoint night-0 and reads it, so the VM keeps running
# (here nothing writes at night, so the device's sha256 is the night's).
dirtylogctl export "$NAME" --lvm --checkpoint night-0 -o "$WORK/night-0.dld" >/dev/null
sha "$dev" >"$WORK/night-0.sha"
echo "night 0: full export, $(stat -c %s "$WORK/night-0.dld") bytes"

# 4. Each day the VM writes a little; each night an incremental since the
# previous night.  Once night N is safely written, checkpoint N-1 is no
# longer needed and is deleted (its interval merges into the next one),
# so the metadata holds one checkpoint however many nights pass.
n=1
while [ "$n" -le "$NIGHTS" ]; do
	# The day: a few scattered 4 KiB writes and one 1 MiB run, all
	# inside the device.
	for off in $((n * 37)) $((n * 1013)) $((n * 2111)) $((n * 3001)); do
		dd if=/dev/urandom of="$dev" bs=4k count=1 seek=$((off % (mib * 256))) \
			oflag=direct conv=notrunc 2>/dev/null
	done
	dd if=/dev/urandom of="$dev" bs=1M count=1 seek=$((n * 5 % (mib - 1))) \
		oflag=direct conv=notrunc 2>/dev/null
	# The night.
	dirtylogctl export "$NAME" --lvm --since night-$((n - 1)) --checkpoint night-$n \
		-o "$WORK/night-$n.dld" >/dev/null
	sha "$dev" >"$WORK/night-$n.sha"
	dirtylogctl checkpoint delete "$NAME" night-$((n - 1))
	echo "night $n: incremental, $(stat -c %s "$WORK/night-$n.dld") bytes"
	n=$((n + 1))
done

# 5. Restore any night K: the full export, then incrementals 1..K, applied
# in order to an empty image (apply checks that each continues the one
# before).  Every night is restored and compared with its sha256.
bad=0
k=0
while [ "$k" -le "$NIGHTS" ]; do
	files=""
	i=0
	while [ "$i" -le "$k" ]; do
		files="$files $WORK/night-$i.dld"
		i=$((i + 1))
	done
	rm -f "$WORK/restore.img" "$WORK/restore.img.dlstate"
	# shellcheck disable=SC2086 # a list of file names without blanks
	dirtylogctl apply $files "$WORK/restore.img" >/dev/null
	got=$(sha "$WORK/restore.img")
	if [ "$got" = "$(cat "$WORK/night-$k.sha")" ]; then
		echo "restore night $k: ok $got"
	else
		echo "restore night $k: MISMATCH $got, want $(cat "$WORK/night-$k.sha")"
		bad=1
	fi
	[ "${KEEP:-0}" = 1 ] && cp "$WORK/restore.img" "$WORK/restore-$k.img"
	k=$((k + 1))
done
rm -f "$WORK/restore.img" "$WORK/restore.img.dlstate"
exit $bad
