#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 1200
# Export, apply, verify, revert.
#
# 1. A chain while a writer keeps writing: a full export and incrementals
#    (native and rbd-diff), each made under a dm-snapshot whose content the
#    test hashes through DIRTYLOGCTL_SNAPSHOT_HOOK; applied in order to an
#    empty image, the image equals the snapshot at each checkpoint
#    (sha256).  In between: checkpoints made and deleted in the middle of
#    an interval, and the device grown.
# 2. With the writer stopped, a last incremental applied gives the live
#    device's content: the check that does not depend on the snapshot.
# 3. Zeroes: after blkdiscard-like zeroing of a region, the incremental
#    carries it as zero records (data bytes under 1% of the zeroed bytes).
# 4. Failures roll back: an export to a full disk and to a closed pipe
#    exit non-zero and leave no checkpoint behind, and the next export
#    still covers every change; the helpers (snapshot, origin) are gone.
# 5. verify accepts the chain and refuses a flipped byte, a truncated
#    stream and a broken chain; apply of a truncated stream leaves the
#    target marked incomplete and the next incremental is refused.
# 6. revert copies back only what changed since a checkpoint: the device
#    equals its golden image again, and the copies are tracked.
# 7. rbd-diff exports have a JSON sidecar with what rbd cannot carry; a
#    raw export equals its snapshot.
# 8. Also refused: a block device target too small, another device
#    instance's incremental, a device in the invalid state; and
#    --progress json reports on stderr.
#
# Data: a dm-linear slice of $DL_DATA (24 MiB, grown to 32 MiB), 64 KiB
# blocks; work files on tmpfs.
. "$(dirname "$0")/lib.sh"
trap 'kill $wpid 2>/dev/null; dl_cleanup; rm -rf /tmp/ex17' EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
modprobe dm-snapshot || exit 1
modprobe loop
ktap_plan 53

t=/tmp/ex17
rm -rf $t
mkdir -p $t
export TMPDIR=$t
export DIRTYLOGCTL_SNAPSHOT_HOOK='sha256sum <"$1" | cut -d" " -f1 >'$t'/snap.sha'
mib=$((1024 * 1024))
dmsetup create dx17 --table "0 $((24 * 2048)) linear $DL_DATA 0" &&
	dmsetup mknodes && dmsetup create d17 --table "0 $((24 * 2048)) dirtylog $DL_META /dev/mapper/dx17 128" &&
	dmsetup mknodes
ktap_result $? "create d17 over a 24 MiB slice"
dev=/dev/mapper/d17
# Random content everywhere, so a full export has something to say.
dd if=/dev/urandom of=$dev bs=1M count=24 oflag=direct 2>/dev/null

fio --name=w --filename=$dev --rw=randwrite --bs=4k --size=24m \
	--direct=1 --ioengine=libaio --iodepth=4 --rate=1m --time_based \
	--runtime=3600 --refill_buffers >/dev/null 2>&1 &
wpid=$!
sleep 1

# exp NAME ARGS...: export, keep the snapshot's hash as $t/NAME.sha.
exp() {
	n=$1
	shift
	rm -f $t/snap.sha
	dirtylogctl export d17 "$@" >$t/$n.out 2>$t/$n.err
	rc=$?
	[ -s $t/snap.sha ] && mv $t/snap.sha $t/$n.sha
	[ $rc -eq 0 ] || sed 's/^/# /' $t/$n.err
	return $rc
}
sha() { sha256sum <"$1" | cut -d' ' -f1; }

exp f1 --checkpoint c1 -o $t/f1.dld
ktap_result $? "full export c1 while the writer runs"
exp r1 --checkpoint r1 -o $t/r1.rbd --format rbd-diff
ktap_result $? "full rbd-diff export r1"
sleep 1
dirtylogctl checkpoint create d17 mid1 >/dev/null &&
	dirtylogctl checkpoint delete d17 mid1
ktap_result $? "a checkpoint made and deleted inside the interval"
exp f2 --since c1 --checkpoint c2 -o $t/f2.dld
ktap_result $? "incremental c1..c2"
exp r2 --since r1 --checkpoint r2 -o $t/r2.rbd --format rbd-diff
ktap_result $? "incremental rbd-diff r1..r2"
iu=$(dirtylogctl --json status d17 | sed -n 's/.*"instance_uuid":"\([0-9a-f]*\)".*/\1/p')
grep -q "\"instance_uuid\":\"$iu\"" $t/r2.rbd.json && grep -q '"since":"r1"' $t/r2.rbd.json &&
	grep -q '"checkpoint":"r2"' $t/r2.rbd.json && [ -n "$iu" ]
ktap_result $? "rbd-diff r2 has its JSON sidecar (instance $iu, r1..r2)"
exp raw1 --checkpoint raw1 -o $t/raw1.img --format raw
[ $? -eq 0 ] && [ "$(sha $t/raw1.img)" = "$(cat $t/raw1.sha)" ] &&
	[ "$(stat -c %s $t/raw1.img)" = $((24 * mib)) ]
ktap_result $? "a full raw export equals its snapshot"
rm -f $t/raw1.img

# Grow: the slice and then the dirtylog device, to 32 MiB.
dmsetup suspend d17 && dmsetup reload dx17 --table "0 $((32 * 2048)) linear $DL_DATA 0" &&
	dmsetup resume dx17 &&
	dmsetup reload d17 --table "0 $((32 * 2048)) dirtylog $DL_META /dev/mapper/dx17 128" &&
	dmsetup resume d17
ktap_result $? "grow d17 to 32 MiB"
dd if=/dev/urandom of=$dev bs=1M seek=25 count=4 oflag=direct 2>/dev/null
exp f3 --since c2 --checkpoint c3 -o $t/f3.dld
ktap_result $? "incremental c2..c3 after the growth"
dirtylogctl --json verify $t/f3.dld | grep -q "\"size_bytes\":$((32 * mib))"
ktap_result $? "c2..c3 has the new size"

# Apply step by step: each step equals its snapshot.
img=$t/img
dirtylogctl apply $t/f1.dld $img >/dev/null && [ "$(sha $img)" = "$(cat $t/f1.sha)" ]
ktap_result $? "apply full c1: image equals the snapshot at c1"
dirtylogctl apply $t/f2.dld $img >/dev/null && [ "$(sha $img)" = "$(cat $t/f2.sha)" ]
ktap_result $? "apply c1..c2: image equals the snapshot at c2"
dirtylogctl apply $t/f3.dld $img >/dev/null && [ "$(sha $img)" = "$(cat $t/f3.sha)" ]
ktap_result $? "apply c2..c3 (grown): image equals the snapshot at c3"
[ "$(stat -c %s $img)" = $((32 * mib)) ]
ktap_result $? "the image grew with the device"
rimg=$t/rimg
dirtylogctl apply $t/r1.rbd $t/r2.rbd $rimg >/dev/null && [ "$(sha $rimg)" = "$(cat $t/r2.sha)" ]
ktap_result $? "rbd-diff r1 + r1..r2 applied equal the snapshot at r2"
rm -f $rimg $t/r1.rbd

# Failures roll back while the writer runs.
dirtylogctl export d17 --since c3 --checkpoint bad1 -o /dev/full 2>$t/bad1.err
rc=$?
[ $rc -ne 0 ] && ! dirtylogctl checkpoint list d17 | grep -q '^bad1 '
ktap_result $? "export to a full disk fails (exit $rc) and leaves no checkpoint"
grep -q "deleted again" $t/bad1.err
ktap_result $? "and says the checkpoint was deleted again"
dirtylogctl export d17 --since c3 --checkpoint bad2 -o - 2>$t/bad2.err | head -c 100 >/dev/null
! dirtylogctl checkpoint list d17 | grep -q '^bad2 '
ktap_result $? "export to a closed pipe leaves no checkpoint"
! dmsetup info d17.xs >/dev/null 2>&1 && ! dmsetup info d17.xo >/dev/null 2>&1 &&
	dmsetup table d17 | grep -q " $(dmsetup info -c --noheadings -o major,minor --separator : dx17) "
ktap_result $? "no snapshot or origin left; d17 maps onto its data again"
dirtylogctl export d17 --since c3 --checkpoint c3 -o $t/x.dld 2>/dev/null
[ $? -eq 1 ]
ktap_result $? "an existing checkpoint name is refused"
dirtylogctl export d17 --since nosuch --checkpoint c9 -o $t/x.dld 2>/dev/null
[ $? -eq 3 ]
ktap_result $? "a missing base checkpoint is refused (exit 3)"

# Stop the writer: the last incremental must give the live content.
kill $wpid
wait $wpid 2>/dev/null
exp f4 --since c3 --checkpoint c4 -o $t/f4.dld
ktap_result $? "incremental c3..c4 with the writer stopped"
dirtylogctl apply $t/f4.dld $img >/dev/null && [ "$(sha $img)" = "$(sha $dev)" ]
ktap_result $? "image equals the live device after c3..c4"
[ "$(cat $t/f4.sha)" = "$(sha $dev)" ]
ktap_result $? "the snapshot at c4 equals the quiet device"

# Zeroes: zero 16 MiB; the incremental carries them as zero records.
dd if=/dev/zero of=$dev bs=1M seek=8 count=16 oflag=direct 2>/dev/null
exp f5 --since c4 --checkpoint c5 -o $t/f5.dld --json
data=$(sed -n 's/.*"data_bytes":\([0-9]*\).*/\1/p' $t/f5.out)
zero=$(sed -n 's/.*"zero_bytes":\([0-9]*\).*/\1/p' $t/f5.out)
ktap_diag "zeroed 16 MiB: data_bytes $data, zero_bytes $zero"
[ -n "$data" ] && [ "$zero" -ge $((16 * mib)) ] && [ $((data * 100)) -lt $((16 * mib)) ]
ktap_result $? "a zeroed 16 MiB goes out as zero records (data < 1%)"
[ "$(stat -c %s $t/f5.dld)" -lt $((mib / 2)) ]
ktap_result $? "and the stream is small ($(stat -c %s $t/f5.dld) bytes)"
dirtylogctl apply $t/f5.dld $img >/dev/null && [ "$(sha $img)" = "$(sha $dev)" ]
ktap_result $? "applied, the image equals the device"

# --fuzzy: no snapshot; the stream says so.
exp f6 --since c5 --checkpoint c6 -o $t/f6.dld --fuzzy --json
grep -q '"fuzzy":true' $t/f6.out && [ ! -e $t/f6.sha ] &&
	dirtylogctl --json verify $t/f6.dld | grep -q '"fuzzy":true'
ktap_result $? "--fuzzy takes no snapshot and the stream records it"

# -o - streams the same bytes as a file.
dirtylogctl export d17 --since c6 --checkpoint c7 -o - >$t/f7.dld 2>/dev/null &&
	dirtylogctl verify $t/f6.dld $t/f7.dld >/dev/null
ktap_result $? "-o - streams a valid incremental"

# verify
dirtylogctl verify $t/f1.dld $t/f2.dld $t/f3.dld $t/f4.dld >/dev/null
ktap_result $? "verify accepts the chain c1..c4"
dirtylogctl verify $t/f1.dld $t/f3.dld 2>$t/v.err >/dev/null
[ $? -eq 1 ] && grep -q "starts at checkpoint 'c2'" $t/v.err
ktap_result $? "verify refuses a gap in the chain"
cp $t/f2.dld $t/bad.dld
sz=$(stat -c %s $t/bad.dld)
dl_flip_byte $t/bad.dld $((sz / 2))
dirtylogctl verify $t/bad.dld 2>$t/v.err >/dev/null
[ $? -eq 1 ] && grep -q "corrupt" $t/v.err
ktap_result $? "verify refuses a flipped byte: $(cat $t/v.err | head -c 120)"
head -c $((sz / 2)) $t/f2.dld >$t/trunc.dld
dirtylogctl verify $t/trunc.dld 2>$t/v.err >/dev/null
[ $? -eq 1 ] && grep -q "truncated" $t/v.err
ktap_result $? "verify refuses a truncated stream"
# apply: a truncated stream leaves the target incomplete.
img2=$t/img2
dirtylogctl apply $t/f1.dld $img2 >/dev/null &&
	! dirtylogctl apply $t/trunc.dld $img2 2>$t/a.err >/dev/null &&
	grep -q "incomplete" $t/a.err && grep -q "^state incomplete" $img2.dlstate
ktap_result $? "apply of a truncated stream fails and marks the target incomplete"
dirtylogctl apply $t/f3.dld $img2 2>$t/a.err >/dev/null
[ $? -eq 1 ] && grep -q "incomplete" $t/a.err
ktap_result $? "the next incremental is refused on an incomplete target"
dirtylogctl apply $t/f3.dld $t/img3 2>$t/a.err >/dev/null
[ $? -eq 1 ] && grep -q "full export first" $t/a.err
ktap_result $? "an incremental onto an empty target is refused"

# A target too small, and a stream of another device instance.
dmsetup create sm17 --table "0 $((16 * 2048)) linear $DL_SPARE 0" && dmsetup mknodes
dirtylogctl apply --state $t/sm.state $t/f1.dld /dev/mapper/sm17 2>$t/a.err >/dev/null
[ $? -eq 1 ] && grep -q "too small" $t/a.err
ktap_result $? "apply to a block device too small is refused: $(head -c 100 $t/a.err)"
dmsetup remove sm17
# A block device target (data through O_DIRECT): equals the snapshot too.
dmsetup create bd17 --table "0 $((24 * 2048)) linear $DL_SPARE 0" && dmsetup mknodes &&
	dirtylogctl apply --state $t/bd.state $t/f1.dld /dev/mapper/bd17 >/dev/null &&
	[ "$(sha /dev/mapper/bd17)" = "$(cat $t/f1.sha)" ]
ktap_result $? "apply full c1 to a block device: it equals the snapshot at c1"
dmsetup remove bd17
# A target whose middle fails every write (the queued O_DIRECT writes):
# apply names the record, and the target stays incomplete.
dmsetup create be17 --table "0 $((8 * 2048)) linear $DL_SPARE 0
$((8 * 2048)) $((8 * 2048)) error
$((16 * 2048)) $((8 * 2048)) linear $DL_SPARE $((16 * 2048))" && dmsetup mknodes &&
	! dirtylogctl apply --state $t/be.state $t/f1.dld /dev/mapper/be17 2>$t/a.err >/dev/null &&
	grep -q "cannot write record [0-9]* (bytes [0-9]*\.\.[0-9]*) to /dev/mapper/be17: Input/output error" $t/a.err &&
	! dirtylogctl apply --state $t/be.state $t/f2.dld /dev/mapper/be17 2>$t/a2.err >/dev/null &&
	grep -q incomplete $t/a2.err
ktap_result $? "apply to a device failing writes names the record and leaves it incomplete: $(head -c 140 $t/a.err)"
dmsetup remove be17
# Another instance: a second dirtylog device over the spare disk.
dd if=/dev/zero of=$t/m2 bs=1M count=8 2>/dev/null
lo=$(losetup -f) && losetup $lo $t/m2 &&
	dmsetup create o17 --table "0 $((24 * 2048)) dirtylog $lo $DL_SPARE 128" && dmsetup mknodes &&
	dirtylogctl export o17 --checkpoint c5 -o $t/o1.dld >/dev/null 2>&1 &&
	dirtylogctl export o17 --since c5 --checkpoint c6 -o $t/o2.dld >/dev/null 2>&1
ktap_result $? "a chain of another device (same checkpoint names)"
dirtylogctl apply $t/o2.dld $img 2>$t/a.err >/dev/null
[ $? -eq 1 ] && grep -q "another device instance" $t/a.err
ktap_result $? "apply refuses another device's incremental: $(head -c 100 $t/a.err)"
dmsetup remove o17
losetup -d $lo
rm -f $t/o1.dld $t/o2.dld $t/m2

# --progress json: one object per line on stderr, the last one final.
dirtylogctl export d17 --since c7 --checkpoint p8 -o $t/p8.dld --progress json 2>$t/p8.err >/dev/null &&
	grep -q '"final":true' $t/p8.err && grep -q '"read_bytes_done":' $t/p8.err
ktap_result $? "--progress json reports progress on stderr ($(wc -l <$t/p8.err) lines)"
rm -f $t/p8.dld

# A device whose map cannot be trusted (invalid) is refused, with the way out.
dd if=/dev/zero of=$t/m3 bs=1M count=8 2>/dev/null
lo=$(losetup -f) && losetup $lo $t/m3
dmsetup create iv17m --table "0 $((8 * 2048)) linear $lo 0" && dmsetup mknodes &&
	dmsetup create iv17 --table "0 $((8 * 2048)) dirtylog /dev/mapper/iv17m $DL_SPARE 128 1 passthrough_on_metadata_error" &&
	dmsetup mknodes && dirtylogctl checkpoint create iv17 i1 >/dev/null &&
	dmsetup suspend iv17m && dmsetup reload iv17m --table "0 $((8 * 2048)) error" &&
	dmsetup resume iv17m &&
	dd if=/dev/urandom of=/dev/mapper/iv17 bs=64k count=1 seek=3 oflag=direct 2>/dev/null
dmsetup status iv17 | grep -q invalid
ktap_result $? "a passthrough device turned invalid"
dirtylogctl export iv17 --since i1 --checkpoint i2 -o $t/iv.dld 2>$t/iv.err >/dev/null
[ $? -eq 1 ] && grep -q "reset" $t/iv.err && [ ! -e $t/iv.dld ]
ktap_result $? "export of an invalid device is refused: $(head -c 120 $t/iv.err)"
dmsetup remove iv17; dmsetup remove iv17m; losetup -d $lo; rm -f $t/m3

# revert: golden image at c7, then writes, then revert.
gold=$t/gold
dd if=$dev of=$gold bs=1M iflag=direct 2>/dev/null
dd if=/dev/urandom of=$dev bs=64k seek=17 count=3 oflag=direct 2>/dev/null
dd if=/dev/urandom of=$dev bs=4k seek=6000 count=1 oflag=direct 2>/dev/null
[ "$(sha $dev)" != "$(sha $gold)" ]
ktap_result $? "the device differs from its golden image after writes"
dirtylogctl checkpoint create d17 g8 >/dev/null
dirtylogctl --json revert d17 --to c7 --from $gold >$t/rv.out 2>$t/rv.err
ktap_result $? "revert to c7 from the golden image"
[ "$(sha $dev)" = "$(sha $gold)" ]
ktap_result $? "the device equals the golden image again"
grep -q '"blocks":4,' $t/rv.out
ktap_result $? "only the 4 blocks written since c7 were copied ($(cat $t/rv.out))"
dirtylogctl dirty d17 --since g8 | grep -q "total: .* 4 blocks"
ktap_result $? "the revert's own writes are tracked (4 blocks since g8)"
exec 7<>$dev
dirtylogctl revert d17 --to c7 --from $gold 2>$t/rv.err >/dev/null
rc=$?
ktap_result $((rc == 0)) "revert refuses a device in use (exit $rc)"
grep -q "in use" $t/rv.err
ktap_result $? "and says it is in use"
dirtylogctl revert d17 --to c7 --from $gold --force >/dev/null 2>&1
ktap_result $? "--force reverts a device in use"
exec 7>&-

ktap_finish
