#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 300
# dirtylogctl activate / deactivate from a dirtylogtab config:
# 1. --dry-run says what it would do and creates nothing.
# 2. activate creates every configured device (symlinked paths followed,
#    block size and feature from the line), skips noauto ones, and the
#    tables are exactly what dmsetup would load by hand.
# 3. A second activate changes nothing (idempotent; --json says present).
# 4. A blank metadata device without the 'format' option is refused and
#    stays all zero.
# 5. deactivate removes them (twice: absent, still success); a new
#    activate brings back the same chain: same instance uuid, the
#    checkpoint, the dirty map since it, the data (sha256).
# 6. A device of that name with another table, or of another target, is
#    refused and left as it is; deactivate refuses a non-dirtylog one.
# 7. A missing device and a syntax error fail their lines (exit 1, line
#    number) while the other lines still activate; an unknown NAME is
#    "not found" (exit 3).
#
# Data: dm-linear slices of $DL_DATA and $DL_SPARE; metadata: loop devices
# over tmpfs files.
. "$(dirname "$0")/lib.sh"

t=/tmp/act22
cleanup22() {
	for d in a22 b22 c22 x22; do dmsetup remove $d >/dev/null 2>&1; done
	for d in l1 l2 l3; do dmsetup remove $d >/dev/null 2>&1; done
	for l in $lo1 $lo2 $lo3; do losetup -d $l 2>/dev/null; done
	dl_cleanup
	rm -rf $t
}
lo1= lo2= lo3=
trap cleanup22 EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
modprobe loop
ktap_plan 25

rm -rf $t
mkdir -p $t
dmsetup create l1 --table "0 131072 linear $DL_DATA 0" &&
	dmsetup create l2 --table "0 131072 linear $DL_DATA 131072" &&
	dmsetup create l3 --table "0 65536 linear $DL_SPARE 0" && dmsetup mknodes || exit 1
for i in 1 2 3; do
	dd if=/dev/zero of=$t/m$i bs=1M count=8 2>/dev/null
done
lo1=$(losetup -f) && losetup $lo1 $t/m1
lo2=$(losetup -f) && losetup $lo2 $t/m2
lo3=$(losetup -f) && losetup $lo3 $t/m3
# A by-id style symlink to the data device.
mkdir -p $t/by-id
ln -s /dev/mapper/l1 $t/by-id/virtio-data-part1
sha() { sha256sum <"$1" | cut -d' ' -f1; }
exists() { dmsetup info "$1" >/dev/null 2>&1; }
uuid() { dirtylogctl --json status "$1" | sed -n 's/.*"instance_uuid":"\([^"]*\)".*/\1/p'; }

tab=$t/dirtylogtab
cat >$tab <<EOF
# test_activate_22
a22  $t/by-id/virtio-data-part1  $lo1  64K  format    # comment after a line

b22	/dev/mapper/l2	$lo2	128K	format,passthrough_on_metadata_error
c22  /dev/mapper/l3  $lo3  -  noauto
EOF
want_a="0 131072 dirtylog $(dl_devno $lo1) $(dmsetup info -c --noheadings -o major,minor --separator : l1) 128"
want_b="0 131072 dirtylog $(dl_devno $lo2) $(dmsetup info -c --noheadings -o major,minor --separator : l2) 256 1 passthrough_on_metadata_error"

# 1. dry run
dirtylogctl activate --config $tab --dry-run >$t/dry.out 2>&1
rc=$?
sed 's/^/# /' $t/dry.out
[ $rc -eq 0 ] && grep -qx "a22: would-format-and-create: $want_a" $t/dry.out &&
	grep -qx "b22: would-format-and-create: $want_b" $t/dry.out &&
	! grep -q c22 $t/dry.out
ktap_result $? "--dry-run prints the tables it would load (exit $rc)"
! exists a22 && ! exists b22 && [ "$(tr -d '\0' <$t/m1 | wc -c)" -eq 0 ]
ktap_result $? "--dry-run created no device and wrote no metadata"

# 2. activate
dirtylogctl activate --config $tab >$t/act.out 2>&1
rc=$?
sed 's/^/# /' $t/act.out
[ $rc -eq 0 ] && grep -qx "a22: created: $want_a" $t/act.out && grep -qx "b22: created: $want_b" $t/act.out
ktap_result $? "activate creates a22 and b22 (exit $rc)"
[ "$(dmsetup table a22)" = "$want_a" ]
ktap_result $? "a22's table: the symlink followed, 64K blocks ($(dmsetup table a22))"
[ "$(dmsetup table b22)" = "$want_b" ]
ktap_result $? "b22's table: 128K blocks and the passthrough feature"
! exists c22
ktap_result $? "the noauto line c22 is not activated"

# 3. idempotent
t_a=$(dmsetup info a22 | grep -i '^Major'); t_b=$(dmsetup info b22 | grep -i '^Major')
dirtylogctl --json activate --config $tab >$t/act2.json 2>&1
rc=$?
sed 's/^/# /' $t/act2.json
[ $rc -eq 0 ] && grep -q '"name":"a22","line":2,"action":"present"' $t/act2.json &&
	grep -q '"name":"b22","line":4,"action":"present"' $t/act2.json &&
	grep -q '"failed":0}$' $t/act2.json
ktap_result $? "a second activate finds both present (--json, exit $rc)"
[ "$(dmsetup info a22 | grep -i '^Major')" = "$t_a" ] && [ "$(dmsetup info b22 | grep -i '^Major')" = "$t_b" ] &&
	[ "$(dmsetup table a22)" = "$want_a" ]
ktap_result $? "and left them as they were"

# 4. blank metadata without 'format'
dirtylogctl activate --config $tab c22 >$t/c.out 2>&1
rc=$?
sed 's/^/# /' $t/c.out
[ $rc -eq 1 ] && grep -q "c22 (line 5): metadata device $lo3 is blank.*'format'" $t/c.out && ! exists c22
ktap_result $? "c22 named: blank metadata without 'format' is refused (exit $rc)"
[ "$(tr -d '\0' <$t/m3 | wc -c)" -eq 0 ]
ktap_result $? "c22's metadata is still all zero"

# 5. data survives deactivate + activate
dd if=/dev/urandom of=/dev/mapper/a22 bs=64k count=64 oflag=direct 2>/dev/null
dirtylogctl checkpoint create a22 k1 >/dev/null
dd if=/dev/urandom of=/dev/mapper/a22 bs=64k count=3 seek=100 oflag=direct 2>/dev/null
u_before=$(uuid a22)
s_before=$(sha /dev/mapper/a22)
d_before=$(dirtylogctl dirty a22 --since k1 | tail -1)
ktap_diag "a22: uuid $u_before, since k1: $d_before"
dirtylogctl deactivate --config $tab >$t/de.out 2>&1
rc=$?
sed 's/^/# /' $t/de.out
[ $rc -eq 0 ] && ! exists a22 && ! exists b22 && grep -qx 'c22: absent' $t/de.out &&
	[ "$(sed -n 1p $t/de.out)" = "c22: absent" ] && grep -qx 'a22: removed' $t/de.out
ktap_result $? "deactivate removes a22 and b22, last line first (exit $rc)"
exists l1 && exists l2
ktap_result $? "the devices under them stay"
dirtylogctl deactivate --config $tab >$t/de2.out 2>&1
rc=$?
[ $rc -eq 0 ] && [ "$(grep -c ': absent$' $t/de2.out)" -eq 3 ]
ktap_result $? "a second deactivate: all absent, exit $rc"
dirtylogctl activate --config $tab >/dev/null 2>&1
rc=$?
[ $rc -eq 0 ] && [ "$(uuid a22)" = "$u_before" ] && [ -n "$u_before" ]
ktap_result $? "re-activated a22 loads its metadata: same instance uuid (the 'format' option did not reformat)"
[ "$(sha /dev/mapper/a22)" = "$s_before" ]
ktap_result $? "a22's data is unchanged (sha256)"
dirtylogctl checkpoint list a22 | grep -q '^k1 ' &&
	[ "$(dirtylogctl dirty a22 --since k1 | tail -1)" = "$d_before" ]
ktap_result $? "checkpoint k1 and the dirty map since it survived"

# 6. mismatches
sed 's/128K/64K/' $tab >$t/tab-bs
dirtylogctl activate --config $t/tab-bs b22 >$t/mm.out 2>&1
rc=$?
sed 's/^/# /' $t/mm.out
[ $rc -eq 1 ] && grep -q "b22 (line 4): a device named b22 exists with another table" $t/mm.out
ktap_result $? "b22 configured with another block size: refused (exit $rc)"
[ "$(dmsetup table b22)" = "$want_b" ]
ktap_result $? "b22's table is untouched"
dmsetup create c22 --table "0 2048 error"
dirtylogctl activate --config $tab c22 >$t/mm2.out 2>&1
rc=$?
sed 's/^/# /' $t/mm2.out
[ $rc -eq 1 ] && grep -q "exists with another table: has '0 2048 error" $t/mm2.out &&
	dmsetup table c22 | grep -q '^0 2048 error'
ktap_result $? "an error-target device named c22 is refused and left alone (exit $rc)"
dirtylogctl deactivate --config $tab c22 >$t/mm3.out 2>&1
rc=$?
sed 's/^/# /' $t/mm3.out
[ $rc -eq 1 ] && grep -q "c22 is not a dirtylog device" $t/mm3.out && exists c22
ktap_result $? "deactivate refuses to remove it (exit $rc)"
dmsetup remove c22

# 7. failures of one line do not stop the others
dirtylogctl deactivate --config $tab >/dev/null 2>&1
cat >$t/tab-bad <<EOF
x22 /dev/no-such-disk $lo3 64K format
a22 $t/by-id/virtio-data-part1 $lo1
b22 /dev/mapper/l2 $lo2 64K bogus
EOF
dirtylogctl activate --config $t/tab-bad >$t/bad.out 2>&1
rc=$?
sed 's/^/# /' $t/bad.out
[ $rc -eq 1 ] && grep -q "x22 (line 1): data device /dev/no-such-disk: No such file" $t/bad.out &&
	! exists x22
ktap_result $? "a missing data device fails its line (exit $rc)"
grep -q "b22 (line 3): unknown option 'bogus'" $t/bad.out && ! exists b22
ktap_result $? "an unknown option fails its line"
grep -qx "a22: created: $want_a" $t/bad.out && [ "$(uuid a22)" = "$u_before" ]
ktap_result $? "a22 is activated all the same, with its chain"
dirtylogctl activate --config $tab nosuch >/dev/null 2>&1
rc=$?
[ $rc -eq 3 ]
ktap_result $? "an unconfigured NAME is not found (exit $rc)"
dirtylogctl activate --config $t/none >/dev/null 2>&1
rc=$?
[ $rc -eq 3 ]
ktap_result $? "a missing config file is not found (exit $rc)"

ktap_finish
