#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Guest mode "crashverify" (scripts/vm-run --mode crashverify): after a VM
# killed in mode crashload, load the device over the same disks and check
# every recorded checkpoint's dirty set against the data.  Nested KTAP like
# run_tests.sh: the verifier's results indented, then one result line.
cd "$(dirname "$0")" || exit 1
# Below the host's limit for this boot (300 s), so that a hang is
# reported from here, with the kernel's messages.
timeout=240
echo "KTAP version 1"
echo "1..1"
out=/tmp/crashverify.ktap
( timeout "$timeout" ./dl_crashload verify 2>&1; echo "rc=$?" >/tmp/crashverify.rc ) |
	tee "$out" | sed 's/^/  /'
rc=$(sed -n 's/^rc=//p' /tmp/crashverify.rc)
plan=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$out" | head -n 1)
results=$(grep -c -E '^(not )?ok [0-9]+' "$out")
why=
if [ "$rc" = 124 ] || [ "$rc" = 143 ]; then
	why="timed out after ${timeout}s"
elif [ "$rc" != 0 ]; then
	why="exit status $rc"
elif [ -z "$plan" ] || [ "$results" -ne "$plan" ]; then
	why="plan ${plan:-missing}, $results results"
fi
if [ -n "$why" ]; then
	dmesg | grep -E 'dirtylog|device-mapper' | tail -n 30 | sed 's/^/# dmesg: /'
	echo "not ok 1 crashverify # $why"
else
	echo "ok 1 crashverify"
fi
