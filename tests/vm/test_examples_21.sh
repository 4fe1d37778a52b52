#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 1200
# The workflow examples of Documentation/examples run as documented, and
# their results are checked against evidence they do not produce
# themselves:
# 1. lvm-nightly.sh: every night restored from the full + incremental
#    chain (exported with --lvm) has the sha256 of the device that night,
#    recomputed here from the restored images; the incrementals are small.
# 2. backup-tool.sh: a chain of three good backups despite a run that
#    fails (its repository is full) and a run killed right after its
#    export; each restore has the sha256 the device had at that backup,
#    and the bitmap files hold exactly the 64 KiB blocks this test wrote.
# 3. vm-rig-revert.sh: each revert gives back the golden image (sha256)
#    and copies exactly the 64 KiB blocks that differed from it (counted
#    with cmp), far fewer than the disk holds.  Times are printed only.
. "$(dirname "$0")/lib.sh"

ex=$(cd "$(dirname "$0")/../examples" && pwd)
t=/tmp/ex21
cleanup21() {
	umount $t/repo 2>/dev/null
	dmsetup remove vmdisk >/dev/null 2>&1
	lvremove -f dlvg >/dev/null 2>&1
	vgremove -f dlvg >/dev/null 2>&1
	pvremove -ff -y $DL_SPARE >/dev/null 2>&1
	dmsetup remove bt21 >/dev/null 2>&1
	dmsetup remove bt21d >/dev/null 2>&1
	dl_cleanup
	rm -rf $t
}
trap cleanup21 EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
modprobe dm-snapshot || exit 1
# export's default copy-on-write store is a file on a loop device.
modprobe loop
ktap_plan 20
rm -rf $t
mkdir -p $t
sha() { sha256sum <"$1" | cut -d' ' -f1; }

# --- 1. lvm-nightly.sh ----------------------------------------------------
PV_DISK=$DL_SPARE DATA_SIZE=32M NIGHTS=3 WORK=$t/lvm KEEP=1 sh $ex/lvm-nightly.sh >$t/lvm.out 2>&1
rc=$?
sed 's/^/# /' $t/lvm.out
[ $rc -eq 0 ] && [ "$(grep -c '^restore night [0-3]: ok' $t/lvm.out)" -eq 4 ]
ktap_result $? "lvm-nightly.sh: full + 3 incrementals with --lvm, every night restored (exit $rc)"
rc=0
for k in 0 1 2 3; do
	[ "$(sha $t/lvm/restore-$k.img)" = "$(cat $t/lvm/night-$k.sha)" ] || rc=1
done
ktap_result $rc "each restored night's sha256, recomputed, is the device's that night"
[ "$(sort -u $t/lvm/night-*.sha | wc -l)" -eq 4 ]
ktap_result $? "the four nights differ"
full=$(stat -c %s $t/lvm/night-0.dld)
rc=0
for k in 1 2 3; do
	[ "$(stat -c %s $t/lvm/night-$k.dld)" -lt $((full / 8)) ] || rc=1
done
ktap_result $rc "the incrementals are under 1/8 of the full export ($full bytes)"
dirtylogctl checkpoint list vmdisk >$t/lvm.ck
[ "$(cut -d' ' -f1 $t/lvm.ck)" = night-3 ]
ktap_result $? "only the newest checkpoint is kept on the device ($(cut -d' ' -f1 $t/lvm.ck | tr '\n' ' '))"
! lvs dlvg 2>/dev/null | grep -q -- '-xs'
ktap_result $? "no snapshot LV is left"
dmsetup remove vmdisk
lvremove -f dlvg >/dev/null 2>&1
vgremove -f dlvg >/dev/null 2>&1
pvremove -ff -y $DL_SPARE >/dev/null 2>&1
rm -rf $t/lvm

# --- 2. backup-tool.sh ----------------------------------------------------
dmsetup create bt21d --table "0 32768 linear $DL_DATA 0" && dmsetup mknodes
dl_fresh_meta
dirtylogctl create bt21 --data /dev/mapper/bt21d --metadata $DL_META --format
dev=/dev/mapper/bt21
dd if=/dev/urandom of=$dev bs=1M count=16 oflag=direct 2>/dev/null
# The repository: a 20 MiB tmpfs, so it can be filled.
mkdir -p $t/repo
mount -t tmpfs -o size=20m tmpfs $t/repo
bt() { DEV=bt21 REPO=$t/repo sh $ex/backup-tool.sh "$@"; }
# wr BLOCK: new data in one 64 KiB block (the test's own record).
wr() { dd if=/dev/urandom of=$dev bs=64k count=1 seek="$1" oflag=direct conv=notrunc 2>/dev/null; }

bt backup >$t/b1.out 2>&1
rc=$?
sed 's/^/# /' $t/b1.out
sha1=$(sha $dev)
[ $rc -eq 0 ]
ktap_result $? "backup 1 (full), exit $rc"
wr 3; wr 4; wr 200
bt backup >$t/b2.out 2>&1
rc=$?
sed 's/^/# /' $t/b2.out
sha2=$(sha $dev)
[ $rc -eq 0 ] && grep -q '^backup 2: .*, 3 blocks$' $t/b2.out
ktap_result $? "backup 2 (incremental): the 3 blocks written, exit $rc"

# A failing run: the repository is full.
wr 10; wr 11
dd if=/dev/zero of=$t/repo/filler bs=64k 2>/dev/null
bt backup >$t/b3.out 2>&1
rc=$?
sed 's/^/# /' $t/b3.out
[ $rc -ne 0 ] && [ "$(wc -l <$t/repo/chain)" -eq 2 ] && [ "$(dirtylogctl checkpoint list bt21 | wc -l)" -eq 1 ]
ktap_result $? "a run into a full repository fails (exit $rc); chain and device keep backup 2's checkpoint only"
rm -f $t/repo/filler

# A run killed right after its export: a dirtylogctl that kills the tool
# once the real export has returned (the new checkpoint then exists).
wr 12
mkdir -p $t/fake
cat >$t/fake/dirtylogctl <<EOF
#!/bin/sh
/usr/sbin/dirtylogctl "\$@"
r=\$?
case " \$* " in *" export "*) kill -9 \$PPID ;; esac
exit \$r
EOF
chmod +x $t/fake/dirtylogctl
PATH=$t/fake:$PATH bt backup >$t/b4.out 2>&1
rc=$?
[ $rc -ne 0 ] && [ "$(wc -l <$t/repo/chain)" -eq 2 ] && [ "$(dirtylogctl checkpoint list bt21 | wc -l)" -eq 2 ]
ktap_result $? "a run killed after its export (exit $rc) leaves a stray checkpoint and no chain entry"

wr 13
bt backup >$t/b5.out 2>&1
rc=$?
sed 's/^/# /' $t/b5.out
sha3=$(sha $dev)
[ $rc -eq 0 ] && grep -q 'deleting checkpoint bt-0003-.* of a failed run' $t/b5.out &&
	grep -q 'removing 0003.dld of a failed run' $t/b5.out && grep -q '^backup 3: ' $t/b5.out
ktap_result $? "the next run removes what the failed runs left and makes backup 3 (exit $rc)"
[ "$(dirtylogctl checkpoint list bt21 | wc -l)" -eq 1 ] && ls $t/repo | grep -q '^0003.dlbm$' &&
	! ls $t/repo | grep -q '^0004'
ktap_result $? "one checkpoint on the device, files 0001..0003 in the repository"
# Written since backup 2: blocks 10 11 12 13.
dirtylogctl show --extents $t/repo/0003.dlbm >$t/bm3 &&
	grep -q '^start 10 count 4$' $t/bm3 && [ "$(grep -c '^start ' $t/bm3)" -eq 1 ]
ktap_result $? "backup 3's bitmap file holds exactly blocks 10-13, written across the failed runs"
dirtylogctl show --extents $t/repo/0002.dlbm >$t/bm2 &&
	grep -q '^start 3 count 2$' $t/bm2 && grep -q '^start 200 count 1$' $t/bm2 &&
	[ "$(grep -c '^start ' $t/bm2)" -eq 2 ]
ktap_result $? "backup 2's bitmap file holds exactly blocks 3, 4 and 200"
rc=0
for n in 1 2 3; do
	bt restore $n $t/r.img >/dev/null 2>&1 || rc=1
	eval want=\$sha$n
	[ "$(sha $t/r.img)" = "$want" ] || { rc=1; ktap_diag "restore $n differs"; }
	rm -f $t/r.img
done
ktap_result $rc "restores 1, 2 and 3 have the sha256 the device had at each backup"
bt list >$t/list.out 2>&1
sed 's/^/# /' $t/list.out
[ "$(wc -l <$t/list.out)" -eq 4 ] && grep -q '^1 bt-0001-[0-9-]* full$' $t/list.out &&
	grep -q '^3 bt-0003-[0-9-]* incremental, 4 blocks$' $t/list.out &&
	grep -qx 'changed since the full backup: 7 blocks' $t/list.out
ktap_result $? "list shows the chain, the bitmap files' counts and their merge (blocks 3 4 10-13 200)"
umount $t/repo
dmsetup remove bt21
dmsetup remove bt21d

# --- 3. vm-rig-revert.sh --------------------------------------------------
DATA=$DL_DATA META=$DL_META SIZES="32 128" WRITES="1 2" WORK=$t/rev KEEP=1 \
	sh $ex/vm-rig-revert.sh >$t/rev.out 2>&1
rc=$?
sed 's/^/# /' $t/rev.out
[ $rc -eq 0 ] && [ "$(wc -l <$t/rev/results)" -eq 4 ]
ktap_result $? "vm-rig-revert.sh ran 4 cases (exit $rc)"
awk '$6 != 1 { bad = 1 } END { exit bad }' $t/rev/results
ktap_result $? "every revert gave back the golden image (sha256)"
awk '$3 < 1 || $4 != $3 * 65536 { bad = 1 } END { exit bad }' $t/rev/results
ktap_result $? "each revert copied exactly the 64 KiB blocks that differed (cmp)"
# A 4 KiB write changes at most one 64 KiB block: at most 16x what was written.
awk '$4 > $2 * 1048576 * 16 || $4 >= $1 * 1048576 { bad = 1 } END { exit bad }' $t/rev/results
ktap_result $? "what a revert copies is bounded by what was written, not by the disk size"
rm -rf $t/rev

ktap_finish
