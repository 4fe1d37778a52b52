#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The rig itself: its KTAP counting, its kernel-log scan and its VM timeout
# must turn every kind of failure into a failure.  Runs on the host.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
result() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; failed=$((failed + 1)); fi
}
count() { printf '%b' "$1" > "$tmp/k"; "$top/scripts/ktap-count" "$tmp/k"; }

echo "KTAP version 1"
echo "1..15"
[ "$(count 'KTAP version 1\n1..2\n  1..2\n  ok 1 a\n  ok 2 b\nok 1 t1\n  1..1\n  ok 1 c\nok 2 t2\n')" = "3 0" ]
result $? "all-pass stream counts leaves"
[ "$(count 'KTAP version 1\n1..1\n  1..2\n  ok 1 a\n  not ok 2 b\nnot ok 1 t1\n')" = "1 1" ]
result $? "a failing leaf counts once"
[ "$(count 'KTAP version 1\n1..1\n  1..2\n  ok 1 a\nnot ok 1 t1 # timed out\n')" = "1 1" ]
result $? "a test that failed without a failing leaf counts as a failure"
[ "$(count 'KTAP version 1\n1..3\n  1..1\n  ok 1 a\nok 1 t1\n')" = "1 2" ]
result $? "tests announced but never reported (guest died) count as failures"
[ "$(count '')" = "0 1" ]
result $? "an empty stream is a failure"
[ "$(count 'KTAP version 1\n1..1\n  1..2\n  ok 1 a\n  ok 2 b # SKIP no disk\nok 1 t\n')" = "1 0" ]
result $? "skips are neither passes nor failures"

# The list of what failed, printed at the end of make check.
fails() { printf '%b' "$1" > "$tmp/k"; "$top/scripts/ktap-failures" "$tmp/k" L; }
[ "$(fails 'KTAP version 1\n1..2\n  1..2\n  ok 1 a\n  not ok 2 b\nnot ok 1 t1.sh # a subtest failed\n  1..1\n  ok 1 c\n  ok 2 d # SKIP x\nok 2 t2\n')" = \
	"$(printf '%s\n' 'L: t1.sh: not ok 2 b' 'L: not ok 1 t1.sh # a subtest failed')" ]
result $? "the failure list names a failing leaf with its test, and the failing test"
out=$(fails 'KTAP version 1\n1..4\n  1..1\n  ok 1 a\nok 1 t1\n  1..3\n  ok 1 x\n  not ok 2 y\n# the test run ended early; the kernel log ends:\n[ 9.0] Kernel panic - not syncing\n# full kernel log: /c\n')
echo "$out" | grep -qx 'L: (unfinished test): not ok 2 y' &&
	echo "$out" | grep -qx 'L: 3 of 4 tests announced but never reported (the run ended early; last result: not ok 2 y)' &&
	echo "$out" | grep -qx 'L:   \[ 9.0\] Kernel panic - not syncing' && ! echo "$out" | grep -q 'full kernel log'
result $? "the failure list shows a run that ended early, its last result and the kernel log's end"
[ -z "$(fails 'KTAP version 1\n1..1\n  1..1\n  ok 1 a\nok 1 t1\n')" ] && [ "$(fails '')" = 'L: no test plan (nothing ran)' ]
result $? "the failure list is empty for a passing stream, and names an empty one"

printf '[    1.0] ok\n[    2.0] WARNING: CPU: 0 PID: 1 at foo.c:1\n' > "$tmp/log"
[ -n "$("$top/scripts/scan-kernel-log" "$tmp/log")" ]
result $? "kernel log scan finds a WARN"
printf '[    1.0] device-mapper: ioctl: initialised\n[    2.0] reboot: Power down\n' > "$tmp/log"
[ -z "$("$top/scripts/scan-kernel-log" "$tmp/log")" ]
result $? "kernel log scan is quiet on a clean boot"
# The debug kernel (scripts/debug-kernel): every kind of report is found,
# each on its own, and its banners at boot are not reports.
ok=0
for l in 'BUG: KASAN: slab-use-after-free in dl_x+0x1/0x2 [dm_dirtylog]' \
	'WARNING: possible circular locking dependency detected' \
	'BUG: sleeping function called from invalid context at mm/slab.h:1' \
	'kmemleak: 1 new suspected memory leaks (see /sys/kernel/debug/kmemleak)' \
	'kmemleak report: unreferenced object 0xffff888003a1b200 (size 64):'; do
	printf '[    1.0] ok\n%s\n' "$l" > "$tmp/log"
	[ -n "$("$top/scripts/scan-kernel-log" "$tmp/log")" ] || { echo "# missed: $l"; ok=1; }
done
result $ok "kernel log scan finds KASAN, lockdep, sleeping-in-atomic and kmemleak reports"
printf '%s\n' '[    0.1] kmemleak: Kernel memory leak detector initialized (mem pool available: 15682)' \
	'[    0.1] kasan: KernelAddressSanitizer initialized' \
	'[    0.1] ... MAX_LOCKDEP_SUBCLASSES:  8' \
	'[    9.0] FAULT_INJECTION: forcing a failure.' > "$tmp/log"
[ -z "$("$top/scripts/scan-kernel-log" "$tmp/log")" ]
result $? "kernel log scan is quiet on the debug kernel's boot banners and injected faults"

# A guest that cannot finish in time is killed and reported as a failure.
kver=$(set -- $("$top/scripts/kvers"); echo "${1:-}")
if [ -n "$kver" ]; then
	out=$("$top/scripts/vm-run" --kver "$kver" --build "$build" --timeout 2 \
		--disk-dir "$tmp/vm" --disk-mib 96 2>&1)
	rc=$?
	[ $rc -ne 0 ] && echo "$out" | grep -q 'timed out' && echo "$out" | tail -n 1 | grep -q '[1-9][0-9]* failed$'
	result $? "a VM over its time limit is killed and fails (rc $rc)"
	sizes=$(stat -c %s "$tmp/vm/disk-data.img" "$tmp/vm/disk-meta.img" "$tmp/vm/disk-spare.img" | tr '\n' ' ')
	"$top/scripts/vm-run" --kver "$kver" --build "$build" --disk-mib 0 >/dev/null 2>&1
	rc=$?
	[ "$sizes" = "$((96 << 20)) $((64 << 20)) $((96 << 20)) " ] && [ $rc = 2 ]
	result $? "--disk-mib sizes the data and spare disks ($sizes), 0 is refused (rc $rc)"
else
	result 1 "a VM over its time limit is killed and fails: no kernel installed"
	result 1 "--disk-mib: no kernel installed"
fi
[ $failed -eq 0 ]
