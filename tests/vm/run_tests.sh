#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Guest-side test runner: runs each VM test (shell tests test_*.sh, C tests
# test_*) with the timeout from ./settings (a shell test may set its own
# with a line "# timeout: SECONDS" near its top) and prints nested KTAP: each
# test's own KTAP indented by two spaces, then one result line for it.  A
# test fails if it exits non-zero, times out, reports "not ok", or prints
# fewer results than its plan announced, or the kernel logs a warning
# while it runs.  A warning the emulator caused (kreports.sh: a register
# dump with impossible EFLAGS) runs the test once more instead; the same
# again fails it.  DL_TIMEOUT_SCALE=N (vm-run
# --timeout-scale) multiplies every timeout.  On a kernel with kmemleak
# (the debug kernel) the leaks of boot are cleared first, and after the
# last test the leaks the suite left are written to the kernel log, where
# the host's scan (scripts/scan-kernel-log) fails the run on them.
cd "$(dirname "$0")" || exit 1
timeout=300
[ -f settings ] && . ./settings

if [ $# -gt 0 ]; then
	list="$*"
else
	list=$(ls | grep '^test_' | sort)
fi

n=0
for t in $list; do n=$((n + 1)); done
echo "KTAP version 1"
echo "1..$n"
kmemleak=/sys/kernel/debug/kmemleak
[ -w $kmemleak ] && echo clear > $kmemleak

i=0
for t in $list; do
	i=$((i + 1))
	out=/tmp/ktap.$i
	if [ ! -e "$t" ]; then
		echo "not ok $i $t # no such test"
		continue
	fi
	t_timeout=$timeout
	case $t in
	*.sh)
		set -- sh "./$t"
		own=$(head -n 5 "$t" | sed -n 's/^# timeout: *\([0-9][0-9]*\)$/\1/p')
		[ -n "$own" ] && t_timeout=$own
		# A long soak (DL_SOAK_SECONDS) gets its length on top.
		[ "$t" = test_soak_27.sh ] && t_timeout=$((t_timeout + ${DL_SOAK_SECONDS:-0}))
		;;
	*) set -- "./$t" ;;
	esac
	t_timeout=$((t_timeout * ${DL_TIMEOUT_SCALE:-1}))
	run=1
	while :; do
		dmesg -c >/dev/null
		t_start=$(cut -d. -f1 /proc/uptime)
		( timeout "$t_timeout" "$@" 2>&1; echo "rc=$?" >/tmp/rc.$i ) | tee "$out" | sed 's/^/  /'
		t_secs=$(($(cut -d. -f1 /proc/uptime) - t_start))
		# The kernel's reports, less those kreports.sh sets apart.  The
		# emulator's make the test run once more, and the
		# results of the run they hit do not count (scripts/ktap-count
		# drops the results before a "# rerun:" line).
		dmesg > /tmp/dmesg.$i
		rm -f /tmp/emu.$i
		sh ./kreports.sh /tmp/dmesg.$i /tmp/emu.$i > /tmp/dmesg-kept.$i
		kwarn=0
		grep -q -E 'WARNING:|BUG:|Oops|Call Trace|general protection' /tmp/dmesg-kept.$i && kwarn=1
		[ -s /tmp/emu.$i ] && [ $kwarn = 0 ] && [ $run = 1 ] || break
		sed 's/^/  # dmesg: /' /tmp/dmesg.$i
		echo "  # rerun: the emulator corrupted the CPU state ($(head -n 1 /tmp/emu.$i | cut -c 1-160)); $t runs again, the results above do not count"
		run=2
	done
	rc=$(sed -n 's/^rc=//p' /tmp/rc.$i)
	plan=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$out" | head -n 1)
	results=$(grep -c -E '^(not )?ok [0-9]+' "$out")
	why=
	if [ "$rc" = 124 ] || [ "$rc" = 143 ]; then
		why="timed out after ${t_timeout}s"
	elif [ "$rc" != 0 ]; then
		why="exit status $rc"
	elif grep -q -E '^not ok [0-9]+' "$out"; then
		why="a subtest failed"
	elif [ -z "$plan" ] || [ "$results" -ne "$plan" ]; then
		why="plan ${plan:-missing}, $results results"
	fi
	if [ $kwarn = 1 ]; then
		why="${why:+$why, }kernel warning in dmesg"
		sed 's/^/  # dmesg: /' /tmp/dmesg.$i
	elif [ -s /tmp/emu.$i ]; then
		why="${why:+$why, }the emulator corrupted the CPU state in both runs"
		sed 's/^/  # dmesg: /' /tmp/dmesg.$i
	fi
	rm -f /tmp/dmesg.$i /tmp/dmesg-kept.$i /tmp/emu.$i
	if [ -n "$why" ]; then
		echo "not ok $i $t # $why"
	elif grep -q -E '^1\.\.0 *# *SKIP' "$out"; then
		echo "ok $i $t # SKIP"
	else
		echo "ok $i $t"
	fi
	# Guest time: what each test costs the suite (CI's time budget), and
	# the memory left after it (a test leaving files on the tmpfs /tmp
	# takes RAM from every later one).
	echo "# $t: ${t_secs}s, $(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo) MiB available, /tmp $(du -sm /tmp 2>/dev/null | cut -f1) MiB"
done

# Objects still unreferenced after two scans (the first may see pointers
# in flight) are reported: the report goes to the console (the kernel
# log's serial port, no rate limit there) and as diagnostics here.
if [ -w $kmemleak ]; then
	echo scan > $kmemleak
	sleep 1
	echo scan > $kmemleak
	cat $kmemleak > /tmp/kmemleak.txt
	if [ -s /tmp/kmemleak.txt ]; then
		sed 's/^/kmemleak report: /' /tmp/kmemleak.txt > /dev/ttyS0
		sed 's/^/# kmemleak report: /' /tmp/kmemleak.txt | head -n 60
	fi
	rm -f /tmp/kmemleak.txt
fi
