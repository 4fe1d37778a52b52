#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Malformed table lines are refused with a precise reason in the kernel log
# (ti->error) and no kernel warning; nothing is left behind.
. "$(dirname "$0")/lib.sh"
trap dl_cleanup EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
len=$(dl_sectors $DL_DATA)
big=$((len + 8))

# Each case: expected ti->error substring | table line.
cases="Invalid argument count|0 $len dirtylog $DL_META $DL_DATA
Invalid argument count|0 $len dirtylog
Invalid block size|0 $len dirtylog $DL_META $DL_DATA abc
Invalid block size|0 $len dirtylog $DL_META $DL_DATA 0
Invalid block size|0 $len dirtylog $DL_META $DL_DATA 24
Invalid block size|0 $len dirtylog $DL_META $DL_DATA 4
Invalid block size|0 $len dirtylog $DL_META $DL_DATA 262144
Invalid block size|0 $len dirtylog $DL_META $DL_DATA -8
Invalid block size|0 $len dirtylog $DL_META $DL_DATA 128x
Cannot open metadata device|0 $len dirtylog /dev/nonexistent $DL_DATA 128
Cannot open data device|0 $len dirtylog $DL_META /dev/nonexistent 128
Metadata and data device must be different|0 $len dirtylog $DL_DATA $DL_DATA 128
Unrecognised feature argument|0 $len dirtylog $DL_META $DL_DATA 128 1 bogus_feature
Invalid number of feature arguments|0 $len dirtylog $DL_META $DL_DATA 128 2 bogus
Invalid number of feature arguments|0 $len dirtylog $DL_META $DL_DATA 128 x
Data device is smaller|0 $big dirtylog $DL_META $DL_DATA 128"

n=$(echo "$cases" | wc -l)
ktap_plan $((n + 2))

while IFS='|' read -r want table; do
	dmesg -c >/dev/null
	if dmsetup create bad --table "$table" >/dev/null 2>&1; then
		dmsetup remove bad
		ktap_result 1 "accepted, but should fail with '$want': $table"
		continue
	fi
	dmesg | grep -q "dirtylog: $want"
	rc=$?
	[ $rc -eq 0 ] || dmesg | sed 's/^/# /'
	ktap_result $rc "refused with '$want': $table"
done <<CASES
$cases
CASES

ktap_check "no device is left behind" sh -c '[ -z "$(dmsetup ls | grep -v "No devices")" ]'
ktap_check "the module unloads after the refusals" rmmod dm_dirtylog
ktap_finish
