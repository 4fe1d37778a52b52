#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 700
# export --lvm: the point-in-time copy is an LVM snapshot of the data LV.
#
# 1. A chain (full, incremental, incremental with --cow-size) exported
#    with --lvm while a writer keeps writing; each snapshot is hashed
#    through DIRTYLOGCTL_SNAPSHOT_HOOK, and the streams applied in order to
#    an empty image give exactly those hashes.  The writer runs while the
#    export reads, so an export reading the origin instead of the snapshot,
#    or a checkpoint and snapshot that are not one instant, fail here.  The
#    hook also checks that it was given an LVM snapshot LV.
# 2. Afterwards the snapshot LV and its dm devices are gone, the dirtylog
#    device still maps onto the LV and the checkpoints exist.  With the
#    writer stopped, a last incremental gives the live content.
# 3. A failing export (-o /dev/full) leaves no snapshot LV and no checkpoint.
# 4. An lvcreate that opens the suspended dirtylog device (a fake lvm
#    earlier in $PATH) hangs in the kernel: the export kills it after the
#    time limit, resumes the device, fails and leaves no checkpoint; the
#    device takes writes again.  An lvremove slower than that limit (a
#    loaded host; it runs after the resume) does not fail the export.
# 5. --lvm over a data device that is not an LVM LV (a plain disk, a
#    dm-linear) is refused with the reason; --lvm with --cow or --fuzzy is a
#    usage error (exit 2).
#
# Data: a 64 MiB LV in VG vg18 on $DL_SPARE, 64 KiB blocks; metadata on
# $DL_META; work files on tmpfs.
. "$(dirname "$0")/lib.sh"

cleanup18() {
	kill $wpid 2>/dev/null
	dmsetup remove d18 >/dev/null 2>&1
	dmsetup remove n18 >/dev/null 2>&1
	lvremove -f vg18 >/dev/null 2>&1
	vgremove -f vg18 >/dev/null 2>&1
	pvremove -ff -y $DL_SPARE >/dev/null 2>&1
	[ -n "$lo" ] && losetup -d $lo 2>/dev/null
	dl_cleanup
	rm -rf /tmp/lv18
}
wpid=
lo=
trap cleanup18 EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
modprobe dm-snapshot || exit 1
modprobe loop
ktap_plan 27

t=/tmp/lv18
rm -rf $t
mkdir -p $t
export TMPDIR=$t
# The hook: the snapshot's hash, and what device it was given.
export DIRTYLOGCTL_SNAPSHOT_HOOK='sha256sum <"$1" | cut -d" " -f1 >'$t'/snap.sha; echo "$1" >'$t'/snap.path; dmsetup table "$(basename "$1")" >'$t'/snap.table'
sha() { sha256sum <"$1" | cut -d' ' -f1; }
dmno() { dmsetup info -c --noheadings -o major,minor --separator : "$1"; }

dd if=/dev/zero of=$DL_SPARE bs=1M count=1 oflag=direct 2>/dev/null
pvcreate -y $DL_SPARE >$t/lvm.out 2>&1 && vgcreate vg18 $DL_SPARE >>$t/lvm.out 2>&1 &&
	lvcreate -y -n data -L 64M vg18 >>$t/lvm.out 2>&1 && [ -b /dev/mapper/vg18-data ]
rc=$?
[ $rc -eq 0 ] || sed 's/^/# /' $t/lvm.out
ktap_result $rc "a 64 MiB LV vg18/data on the spare disk"
lvno=$(dmno vg18-data)
dmsetup create d18 --table "0 $((64 * 2048)) dirtylog $DL_META $lvno 128" && dmsetup mknodes
ktap_result $? "create d18 over the LV ($lvno)"
dev=/dev/mapper/d18
dd if=/dev/urandom of=$dev bs=1M count=64 oflag=direct 2>/dev/null

fio --name=w --filename=$dev --rw=randwrite --bs=4k --size=64m \
	--direct=1 --ioengine=libaio --iodepth=4 --rate=1m --time_based \
	--runtime=3600 --refill_buffers >/dev/null 2>&1 &
wpid=$!
sleep 1

# exp NAME ARGS...: export --lvm, keep the snapshot's hash as $t/NAME.sha.
exp() {
	n=$1
	shift
	rm -f $t/snap.sha $t/snap.path $t/snap.table
	dirtylogctl export d18 --lvm "$@" >$t/$n.out 2>$t/$n.err
	rc=$?
	[ -s $t/snap.sha ] && mv $t/snap.sha $t/$n.sha
	[ $rc -eq 0 ] || sed 's/^/# /' $t/$n.err
	return $rc
}
# No snapshot LV, no dm device of it (the snapshot, its cow) left behind.
no_snap() {
	! lvs vg18/d18-xs >/dev/null 2>&1 && ! dmsetup ls | grep -q 'd18--xs'
}

exp f1 --checkpoint c1 -o $t/f1.dld
ktap_result $? "full export c1 with --lvm while the writer runs"
[ "$(cat $t/snap.path)" = /dev/mapper/vg18-d18--xs ] &&
	grep -q ' snapshot ' $t/snap.table
ktap_result $? "the hook was given the LVM snapshot LV ($(cat $t/snap.path): $(cut -d' ' -f3 $t/snap.table))"
no_snap
ktap_result $? "the snapshot LV is gone after the export"
dirtylogctl checkpoint list d18 | grep -q '^c1 '
ktap_result $? "checkpoint c1 exists"
dmsetup table d18 | grep -q " $lvno " && [ "$(dmno vg18-data)" = $lvno ] &&
	dmsetup table vg18-data | grep -q ' linear '
ktap_result $? "d18 still maps onto the LV, a plain linear LV again"
sleep 1
exp f2 --since c1 --checkpoint c2 -o $t/f2.dld
ktap_result $? "incremental c1..c2 with --lvm"
exp f3 --since c2 --checkpoint c3 -o $t/f3.dld --cow-size 16M
ktap_result $? "incremental c2..c3 with --lvm --cow-size 16M"

img=$t/img
dirtylogctl apply $t/f1.dld $img >/dev/null && [ "$(sha $img)" = "$(cat $t/f1.sha)" ]
ktap_result $? "apply full c1: image equals the LVM snapshot at c1"
dirtylogctl apply $t/f2.dld $img >/dev/null && [ "$(sha $img)" = "$(cat $t/f2.sha)" ]
ktap_result $? "apply c1..c2: image equals the LVM snapshot at c2"
dirtylogctl apply $t/f3.dld $img >/dev/null && [ "$(sha $img)" = "$(cat $t/f3.sha)" ]
ktap_result $? "apply c2..c3: image equals the LVM snapshot at c3"
[ "$(cat $t/f1.sha)" != "$(cat $t/f2.sha)" ] && [ "$(cat $t/f2.sha)" != "$(cat $t/f3.sha)" ]
ktap_result $? "the writer changed the device between the checkpoints"
# /tmp is RAM: up to 64 MiB per stream.
rm -f $t/f1.dld $t/f2.dld $t/f3.dld

# A failure after the snapshot: nothing is left.
dirtylogctl export d18 --lvm --since c3 --checkpoint bad1 -o /dev/full 2>$t/bad1.err
rc=$?
[ $rc -ne 0 ] && ! dirtylogctl checkpoint list d18 | grep -q '^bad1 '
ktap_result $? "--lvm export to a full disk fails (exit $rc) and leaves no checkpoint"
no_snap
ktap_result $? "and no snapshot LV"

# An lvcreate that opens the suspended device hangs until the resume.
mkdir -p $t/fake
cat >$t/fake/lvm <<EOF
#!/bin/sh
[ "\$1" = lvcreate ] && exec dd if=$dev of=/dev/null bs=4k count=1 iflag=direct
exec /usr/sbin/lvm "\$@"
EOF
chmod +x $t/fake/lvm
start=$(date +%s)
PATH=$t/fake:$PATH dirtylogctl export d18 --lvm --since c3 --checkpoint hang -o $t/h.dld 2>$t/h.err
rc=$?
took=$(($(date +%s) - start))
sed 's/^/# /' $t/h.err
# 60 s, and the lvm calls before and after it (slower on a debug kernel).
[ $rc -ne 0 ] && grep -q "did not finish in 60 s" $t/h.err &&
	[ $took -lt $((60 + 60 * ${DL_TIMEOUT_SCALE:-1})) ]
ktap_result $? "a hanging lvcreate is killed after the time limit (exit $rc, ${took} s)"
dmsetup info d18 | grep -q '^State: *ACTIVE' && ! dirtylogctl checkpoint list d18 | grep -q '^hang '
ktap_result $? "d18 is resumed and has no checkpoint 'hang'"
no_snap && ! ps | grep -v grep | grep -q "dd if=$dev"
ktap_result $? "no snapshot LV, and the stuck child is gone"
timeout 30 dd if=/dev/urandom of=$dev bs=4k count=1 seek=3 oflag=direct 2>/dev/null
ktap_result $? "d18 takes writes again"

# lvremove runs after the resume: a slow one is waited for, not killed.
cat >$t/fake/lvm <<EOF
#!/bin/sh
[ "\$1" = lvremove ] && sleep 65
exec /usr/sbin/lvm "\$@"
EOF
start=$(date +%s)
PATH=$t/fake:$PATH dirtylogctl export d18 --lvm --since c3 --checkpoint slow -o /dev/null 2>$t/s.err
rc=$?
took=$(($(date +%s) - start))
sed 's/^/# /' $t/s.err
[ $rc = 0 ] && [ $took -ge 65 ] && no_snap && dirtylogctl checkpoint list d18 | grep -q '^slow '
ktap_result $? "an lvremove slower than lvcreate's limit does not fail the export (exit $rc, ${took} s)"

# Writer stopped: the last incremental gives the live device.
kill $wpid
wait $wpid 2>/dev/null
wpid=
exp f4 --since c3 --checkpoint c4 -o $t/f4.dld
ktap_result $? "incremental c3..c4 with the writer stopped"
dirtylogctl apply $t/f4.dld $img >/dev/null && [ "$(sha $img)" = "$(sha $dev)" ] &&
	[ "$(cat $t/f4.sha)" = "$(sha $dev)" ]
ktap_result $? "applied, the image equals the live device (and the snapshot at c4)"
dirtylogctl checkpoint list d18 | grep -c '^c[1-4] ' | grep -qx 4
ktap_result $? "checkpoints c1..c4 exist"

# Non-LVM data devices.
dd if=/dev/zero of=$t/m2 bs=1M count=8 2>/dev/null
lo=$(losetup -f) && losetup $lo $t/m2
dmsetup create n18 --table "0 $((24 * 2048)) dirtylog $lo $DL_DATA 128" && dmsetup mknodes
dirtylogctl export n18 --lvm --checkpoint x1 -o $t/n.dld 2>$t/n.err
rc=$?
sed 's/^/# /' $t/n.err
[ $rc -ne 0 ] && grep -q "data device $(dl_devno $DL_DATA) is not an LVM logical volume" $t/n.err &&
	! dirtylogctl checkpoint list n18 | grep -q '^x1 '
ktap_result $? "--lvm over a plain disk is refused with the reason, no checkpoint"
dmsetup remove n18
dmsetup create nx18 --table "0 $((24 * 2048)) linear $DL_DATA 0" && dmsetup mknodes &&
	dmsetup create n18 --table "0 $((24 * 2048)) dirtylog $lo /dev/mapper/nx18 128" && dmsetup mknodes
dirtylogctl export n18 --lvm --checkpoint x1 -o $t/n.dld 2>$t/n.err
rc=$?
[ $rc -ne 0 ] && grep -q "data device $(dmno nx18) is not an LVM logical volume" $t/n.err
ktap_result $? "--lvm over a dm-linear is refused with the reason"
dmsetup remove n18
dmsetup remove nx18

dirtylogctl export d18 --lvm --cow $t/cow --since c4 --checkpoint u1 -o $t/u.dld 2>/dev/null
rc=$?
[ $rc -eq 2 ]
ktap_result $? "--lvm with --cow is a usage error (exit $rc)"
dirtylogctl export d18 --lvm --fuzzy --since c4 --checkpoint u1 -o $t/u.dld 2>/dev/null
rc=$?
[ $rc -eq 2 ] && ! dirtylogctl checkpoint list d18 | grep -q '^u1 '
ktap_result $? "--lvm with --fuzzy is a usage error (exit $rc)"

ktap_finish
