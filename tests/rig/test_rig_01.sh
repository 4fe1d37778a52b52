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
echo "1..22"
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

# Reports the emulator caused (tests/vm/kreports.sh): a WARN whose register
# dumps show an EFLAGS value no x86 CPU can hold, modelled on a #DB that
# TCG raised in a 6.12 guest.  $1 and $2: the two EFLAGS values.
report() {
	printf '%s\n' '[  566.08] ------------[ cut here ]------------' \
		'[  566.08] WARNING: CPU: 0 PID: 9204 at arch/x86/kernel/traps.c:1120 exc_debug_kernel+0xca/0x160' \
		'[  566.08] RIP: 0010:exc_debug_kernel+0xca/0x160' \
		"[  566.08] RSP: 0000:fffffe50ffd32f28 EFLAGS: $1" \
		'[  566.09] Call Trace:' '[  566.09]  <#DB>' \
		'[  566.09] RIP: 0010:kmem_cache_alloc_lru_noprof+0x76/0x300' \
		"[  566.09] RSP: 0018:ff7e3c13004db6f0 EFLAGS: $2" \
		'[  566.09]  </#DB>' '[  566.09]  <TASK>' '[  566.09]  __d_alloc+0x2b/0x210' \
		'[  566.09]  </TASK>' '[  566.09] ---[ end trace 0000000000000000 ]---'
}
{ echo '[    1.0] ok'; report 01480002 01480702; echo '[  567.0] loop0: detected capacity change'; } > "$tmp/log"
rm -f "$tmp/emu"
[ -z "$("$top/scripts/scan-kernel-log" "$tmp/log" "$tmp/emu")" ] &&
	[ "$(cat "$tmp/emu")" = 'EFLAGS 01480002: WARNING: CPU: 0 PID: 9204 at arch/x86/kernel/traps.c:1120 exc_debug_kernel+0xca/0x160' ] &&
	[ "$(sh "$top/tests/vm/kreports.sh" "$tmp/log" | wc -l)" = "$(wc -l < "$tmp/log")" ]
result $? "kernel log scan sets apart a report with impossible EFLAGS (reserved bits 22 and 24), keeping line numbers"
ok=0
for f in 00000246:00010282 00000046:00000202 00000046:00000206; do
	{ report "${f%:*}" "${f#*:}"; report 01480002 01480702; } > "$tmp/log"
	[ "$("$top/scripts/scan-kernel-log" "$tmp/log" | grep -c WARNING)" = 1 ] || { echo "# missed with EFLAGS $f"; ok=1; }
done
for f in 00000244 0000024e 00000266 00008246 00400246 100000246; do	# bit 1 clear; 3; 5; 15; 22; 32
	report 00000046 $f > "$tmp/log"
	[ -z "$("$top/scripts/scan-kernel-log" "$tmp/log")" ] || { echo "# not set apart with EFLAGS $f"; ok=1; }
done
result $ok "a report with possible EFLAGS is found, next to an emulator's; each reserved bit marks the emulator's"
# busybox awk (the guest's) agrees, and a report without an end line ends
# with its call trace: a WARN after it is found.
mkdir -p "$tmp/bb"
if busybox awk 'BEGIN { exit 0 }' 2>/dev/null; then
	printf '#!/bin/sh\nexec busybox awk "$@"\n' > "$tmp/bb/awk"
	chmod +x "$tmp/bb/awk"
	{ report 01480002 01480702 | grep -v 'end trace'; echo '[  600.0] WARNING: CPU: 1 PID: 7 at dm_dirtylog'; } > "$tmp/log"
	[ "$(PATH="$tmp/bb:$PATH" sh "$top/tests/vm/kreports.sh" "$tmp/log" | grep -c .)" = 1 ] &&
		[ "$(sh "$top/tests/vm/kreports.sh" "$tmp/log" | grep -c .)" = 1 ]
	result $? "busybox awk and the host's awk keep only the WARN after an emulator report without an end line"
else
	result 1 "busybox awk: not installed (scripts/deps installs busybox-static)"
fi

# The kernel's report of an allocation that failslab failed (modelled on a
# fork's stack allocation on the debug kernel) is set apart only right
# after failslab's message; an oops after it is still found.
forced() {
	printf '%s\n' '[  306.17] FAULT_INJECTION: forcing a failure.' \
		'[  306.17] name failslab, interval 1, probability 2, space 0, times 39'
}
allocfail() {
	printf '%s\n' '[  306.18] sh: vmalloc error: size 32768, vm_struct allocation failed, mode:0xdc0(GFP_KERNEL|__GFP_ZERO), nodemask=(null),cpuset=/,mems_allowed=0' \
		'[  306.18] CPU: 0 PID: 1425 Comm: sh Tainted: G           O       6.1.192-dirtylog-debug #1' \
		'[  306.18] Call Trace:' '[  306.18]  <TASK>' '[  306.18]  warn_alloc.cold+0x95/0x19a' \
		'[  306.18]  copy_process+0x514/0x6590' \
		'[  306.18] RSP: 002b:00007ffdc268beb8 EFLAGS: 00000246 ORIG_RAX: 0000000000000038' \
		'[  306.18]  </TASK>' '[  306.19] Mem-Info:' '[  306.19] active_anon:1006 inactive_anon:27760'
}
{ forced; allocfail; } > "$tmp/log"
rm -f "$tmp/inj"
[ -z "$("$top/scripts/scan-kernel-log" "$tmp/log")" ] &&
	sh "$top/tests/vm/kreports.sh" "$tmp/log" /dev/null "$tmp/inj" > /dev/null &&
	grep -q '^injected: sh: vmalloc error: size 32768' "$tmp/inj"
ok=$?
{ echo '[    1.0] ok'; allocfail; } > "$tmp/log"
[ -n "$("$top/scripts/scan-kernel-log" "$tmp/log")" ] || { echo "# an allocation failure without injection was not found"; ok=1; }
{ forced; echo '[  306.17] x'; echo '[  306.17] y'; echo '[  306.17] z'; allocfail; } > "$tmp/log"
[ -n "$("$top/scripts/scan-kernel-log" "$tmp/log")" ] || { echo "# an allocation failure 5 lines after injection was not found"; ok=1; }
{ forced; allocfail; echo '[  306.20] BUG: kernel NULL pointer dereference, address: 0000000000000008'; } > "$tmp/log"
"$top/scripts/scan-kernel-log" "$tmp/log" | grep -q 'BUG: kernel NULL' || { echo "# an oops after a forced failure was not found"; ok=1; }
result $ok "an allocation failure report right after failslab's message is set apart, nothing else"

# The guest's runner with a fake dmesg: a test hit by an emulator report
# runs again and only its second run counts; a real WARN fails its test;
# an emulator report in both runs fails it too.
mkdir -p "$tmp/g" "$tmp/bin"
cp "$top/tests/vm/run_tests.sh" "$top/tests/vm/kreports.sh" "$tmp/g/"
printf '#!/bin/sh\ncat "$FAKE_LOG"\n[ "${1:-}" = -c ] && : > "$FAKE_LOG"\nexit 0\n' > "$tmp/bin/dmesg"
chmod +x "$tmp/bin/dmesg"
cat > "$tmp/g/test_a.sh" <<'EOT'
if [ -e "$FAKE_DIR/a.ran" ]; then echo "1..1"; echo "ok 1 second run"; exit 0; fi
: > "$FAKE_DIR/a.ran"; . "$FAKE_DIR/report"; report 01480002 01480702 >> "$FAKE_LOG"
echo "1..1"; echo "not ok 1 first run"
EOT
cat > "$tmp/g/test_b.sh" <<'EOT'
. "$FAKE_DIR/report"; report 00000046 00000246 >> "$FAKE_LOG"; echo "1..1"; echo "ok 1 b"
EOT
cat > "$tmp/g/test_c.sh" <<'EOT'
. "$FAKE_DIR/report"; report 01480002 01480702 >> "$FAKE_LOG"; echo "1..1"; echo "ok 1 c"
EOT
declare -f report > "$tmp/report"
: > "$tmp/fakelog"
FAKE_LOG=$tmp/fakelog FAKE_DIR=$tmp PATH="$tmp/bin:$PATH" sh "$tmp/g/run_tests.sh" > "$tmp/rt" 2>&1
grep -q '^  # rerun: the emulator corrupted the CPU state (EFLAGS 01480002: WARNING' "$tmp/rt" &&
	grep -qx 'ok 1 test_a.sh' "$tmp/rt" && [ "$(grep -c '# rerun:' "$tmp/rt")" = 2 ]
result $? "the runner runs a test hit by an emulator report again, and passes it on the second run"
grep -qx 'not ok 2 test_b.sh # kernel warning in dmesg' "$tmp/rt" &&
	grep -qx 'not ok 3 test_c.sh # the emulator corrupted the CPU state in both runs' "$tmp/rt" &&
	[ "$("$top/scripts/ktap-count" "$tmp/rt")" = "3 2" ] &&
	[ "$("$top/scripts/ktap-failures" "$tmp/rt" L | tr '\n' '|')" = 'L: not ok 2 test_b.sh # kernel warning in dmesg|L: not ok 3 test_c.sh # the emulator corrupted the CPU state in both runs|' ]
result $? "a real WARN fails its test, so do emulator reports in both runs; the first run's results do not count"
[ "$(count 'KTAP version 1\n1..1\n  1..2\n  not ok 1 a\n  ok 2 b\n  # rerun: x\n  1..2\n  ok 1 a\n  ok 2 b\nok 1 t\n')" = "2 0" ] &&
	[ -z "$(fails 'KTAP version 1\n1..1\n  1..1\n  not ok 1 a\n  # rerun: x\n  1..1\n  ok 1 a\nok 1 t\n')" ]
result $? "KTAP counts and the failure list drop a test's results before its rerun line"

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
