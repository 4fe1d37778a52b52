#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dirtylogctl create and remove (libdevmapper) against real devices: the
# table they load, --format over a metadata device holding something
# else, and the documented exit codes with a reason on stderr: 1 refused,
# 3 missing device, 4 without CAP_SYS_ADMIN.
. "$(dirname "$0")/lib.sh"
trap dl_cleanup EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
ktap_plan 14

tmp=/tmp/cr16
rm -rf $tmp
mkdir -p $tmp

# code WANT DESCRIPTION ARGS...: exit status WANT; with a failure, a
# "dirtylogctl <cmd>: <reason>" line on stderr.
code() {
	_want=$1 _d=$2
	shift 2
	dirtylogctl "$@" >$tmp/out 2>$tmp/err
	_rc=$?
	if [ $_rc = "$_want" ] && { [ "$_want" = 0 ] || grep -q "^dirtylogctl $1: ." $tmp/err; }; then
		ktap_result 0 "$_d"
	else
		ktap_diag "exit $_rc (want $_want), stderr: $(cat $tmp/err)"
		ktap_result 1 "$_d"
	fi
}

# Something else on the metadata device: the table is refused.
dd if=/dev/urandom of=$DL_META bs=4096 count=1 oflag=direct 2>/dev/null
code 1 "create over foreign metadata: exit 1" \
	create c16 --data $DL_DATA --metadata $DL_META
grep -q "refused the table" $tmp/err
ktap_result $? "... the reason says the table was refused ($(cat $tmp/err))"
! dmsetup info c16 >/dev/null 2>&1
ktap_result $? "... and no device is left behind"

code 0 "create --format over it: exit 0" \
	create c16 --data $DL_DATA --metadata $DL_META --block-size 16K --format
want="0 $(dl_sectors $DL_DATA) dirtylog $(dl_devno $DL_META) $(dl_devno $DL_DATA) 32"
got=$(dmsetup table c16)
[ "$got" = "$want" ]
ktap_result $? "the table loaded: '$got' (want '$want')"
[ "$(dl_status_field c16 4)" = 0 ] && [ "$(dl_status_field c16 1)" = 32 ]
ktap_result $? "fresh metadata: no checkpoints, 16 KiB blocks"

code 1 "create a second device of the same name: exit 1" \
	create c16 --data $DL_SPARE --metadata $DL_META
grep -q "exists already" $tmp/err
ktap_result $? "... because the name is taken ($(cat $tmp/err))"
code 1 "--format while the metadata device is in use: exit 1" \
	create c16b --data $DL_SPARE --metadata $DL_META --format
code 3 "create over a missing data device: exit 3" \
	create c16c --data /dev/nosuchdisk --metadata $DL_SPARE

dmsetup create lin16 --table "0 8 linear $DL_SPARE 0"
code 1 "remove a device of another kind: exit 1" remove lin16
dmsetup info lin16 >/dev/null 2>&1
ktap_result $? "... and it is still there"
if unshare -U -r true 2>/dev/null; then
	unshare -U -r dirtylogctl remove c16 >$tmp/out 2>$tmp/err
	rc=$?
	[ $rc = 4 ] && dmsetup info c16 >/dev/null 2>&1
	ktap_result $? "remove without CAP_SYS_ADMIN: exit 4, device kept (exit $rc: $(cat $tmp/err))"
else
	ktap_result 0 "remove without CAP_SYS_ADMIN # SKIP no user namespaces"
fi
code 0 "remove c16: exit 0" remove c16
ktap_finish
