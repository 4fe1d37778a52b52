#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Set apart the kernel reports that are not the kernel's fault:
#   sh kreports.sh LOG [EMULATOR [INJECTED]]
# prints LOG with the lines of every such report blanked (line numbers
# stay), and appends one line per report, "WHY: FIRST LINE", to EMULATOR
# or INJECTED.  Every other report is left in, so it still fails the run.
#
# A report runs from its "[ cut here ]" line, or its first WARNING/BUG/
# Oops/general protection/double fault line, or an allocation failure
# line, to the end of its call trace, its "---[ end trace" line, the next
# "[ cut here ]" or the end of the log.  Two kinds are set apart:
#
# - The emulator's (EMULATOR): a register dump in it shows an EFLAGS value
#   with a reserved bit wrong: bit 1 clear, or bit 3, 5, 15 or 22-63 set.
#   No x86 CPU holds such a value, and no guest code can load one: POPF
#   and IRET ignore those bits.  QEMU's TCG has been seen to corrupt
#   EFLAGS this way (a debug trap in kernel mode with TF set, a double
#   fault), always with the reserved bits set.
# - An allocation failure that fault injection forced (INJECTED): the
#   kernel's standard report of a failed allocation (warn_alloc: "COMM:
#   MESSAGE, mode:0x...(...), nodemask=...", a stack dump and the memory
#   state) right after failslab's "FAULT_INJECTION: forcing a failure."
#   (at most 4 lines before).  The failure was asked for; what the kernel
#   does next (an oops, a WARN, a lockdep report) is a report of its own.
awk -v sum="${2:-/dev/null}" -v inj="${3:-/dev/null}" '
function hexval(s,    i, v) {
	v = 0
	s = tolower(s)
	for (i = 1; i <= length(s); i++)
		v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
	return v
}
# Bit n of v (no "^": busybox awk may be built without its maths).
function bit(v, n,    p) {
	for (p = 1; n > 0; n--)
		p *= 2
	return int(v / p) % 2
}
# 1 if the EFLAGS value (hex digits) is impossible on x86.
function bad_flags(s,    v) {
	sub(/^0+/, "", s)
	if (length(s) > 8)
		return 1
	v = hexval(s)
	return !bit(v, 1) || bit(v, 3) || bit(v, 5) || bit(v, 15) || v >= 4194304
}
function flush_block(    i) {
	for (i = 1; i <= nb; i++)
		print (emu || forced ? "" : blk[i])
	if (emu)
		print emu ": " first >> sum
	else if (forced)
		print "injected: " first >> inj
	nb = 0; inblk = 0; tail = 0; emu = ""; forced = 0; first = ""
}
/FAULT_INJECTION: forcing a failure/ { fi_line = NR }
{
	# A call trace ends with "</TASK>": the report ends there, or with the
	# "end trace" line right after it.
	if (inblk && tail && $0 !~ /---\[ end trace/)
		flush_block()
	if (inblk && $0 ~ /\[ cut here \]/)
		flush_block()
	if (!inblk && ($0 ~ /\[ cut here \]/ || $0 ~ /WARNING:|BUG:|Oops|general protection fault|double fault/))
		inblk = 1
	if (!inblk && $0 ~ /, mode:0x[0-9a-f]+\(.*\), nodemask=/) {
		inblk = 1
		forced = fi_line && NR - fi_line <= 4
		first = $0
		sub(/^.*\] /, "", first)
	}
	if (!inblk) {
		print
		next
	}
	blk[++nb] = $0
	if (first == "" && $0 ~ /WARNING:|BUG:|Oops|general protection fault|double fault|Kernel panic/) {
		first = $0
		sub(/^.*\] /, "", first)
	}
	if (!emu && match($0, /EFLAGS: [0-9a-fA-F]+/)) {
		f = substr($0, RSTART + 8, RLENGTH - 8)
		if (bad_flags(f))
			emu = "EFLAGS " f
	}
	if ($0 ~ /---\[ end trace/)
		flush_block()
	else if ($0 ~ /<\/TASK>/)
		tail = 1
}
END {
	if (inblk)
		flush_block()
}' "$1"
