#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 14400
# Crash consistency by replay: the data and metadata devices of a dirtylog
# target are two dm-linear slices of one dm-log-writes device, so one log
# orders every write of both.  After a write and checkpoint workload
# (dl_crashload run), the log is replayed onto a fresh device up to
# FLUSH/FUA entries (every one inside a checkpoint create or delete, the
# others sampled evenly) and up to such an entry plus a random subset of
# the unflushed writes after it; on each state the target must load (rw),
# every checkpoint listed must have a record of its creation, the list
# must agree with the acknowledged creates and deletes, and every block
# that differs from its content at a listed checkpoint must be in that
# checkpoint's dirty set (dl_crashload verify).
#
# DL_REPLAY_POINTS: how many states to check besides the FLUSH/FUA entries
# inside checkpoint operations, two thirds at other FLUSH/FUA entries and
# the rest with unflushed writes (default 12; "all": every FLUSH/FUA entry
# and one state with unflushed writes after each); DL_REPLAY_CHECKPOINTS:
# the workload's length in checkpoints (default 4, 8 with "all").  DL_SEED.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")" || exit 1

W=/tmp/replay19
LOG=$DL_SPARE
# 8 MiB: a data slice of 4 MiB (the region dl_crashload writes), a
# metadata slice of 4 MiB.  Small, so that a check is quick.
SZ=16384
HALF=8192
export DL_CRASH_REGION_MB=4
seed=${DL_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
points=${DL_REPLAY_POINTS:-12}
if [ "$points" = all ]; then
	cps=${DL_REPLAY_CHECKPOINTS:-8}
else
	cps=${DL_REPLAY_CHECKPOINTS:-4}
fi

rp_remove() {
	for d in "$@"; do
		dmsetup remove "$d" >/dev/null 2>&1
	done
}

cleanup() {
	rp_remove rp rp_data rp_meta rp_snap rp_lw
	modprobe -r brd 2>/dev/null
	rm -rf "$W"
	dl_cleanup
}
trap cleanup EXIT

dl_cleanup
modprobe -r brd 2>/dev/null
mkdir -p "$W"
# ram0: the logged device; ram1: the replay; ram2: copy-on-write store of
# the snapshot each check runs on (loading the target writes metadata,
# and the replay must go on from the state before).
if ! modprobe brd rd_nr=3 rd_size=$((SZ / 2)) || [ ! -b /dev/ram2 ]; then
	ktap_plan 1
	ktap_result 1 "brd loads with three RAM disks"
	exit 1
fi
modprobe dm-log-writes && modprobe dm-snapshot && modprobe dm-dirtylog || exit 1
echo "# seed $seed (DL_SEED=$seed replays this run), $cps checkpoints, points: $points"

slices() {		# slices DEV: rp_data and rp_meta over DEV
	dmsetup mknodes &&
		dmsetup create rp_data --table "0 $HALF linear $1 0" &&
		dmsetup create rp_meta --table "0 $HALF linear $1 $HALF" &&
		dmsetup mknodes
}

crashload() {
	DL_CRASH_DEV=rp DL_CRASH_DATA=/dev/mapper/rp_data \
		DL_CRASH_META=/dev/mapper/rp_meta DL_CRASH_SPARE="$W/records" \
		./dl_crashload "$@"
}

uptime() { cut -d' ' -f1 /proc/uptime; }
t0=$(uptime)

# --- the workload, logged ------------------------------------------------
dd if=/dev/zero of="$LOG" bs=4096 count=1 oflag=direct 2>/dev/null
truncate -s 8M "$W/records"
ok=0
dmsetup create rp_lw --table "0 $SZ log-writes /dev/ram0 $LOG" && slices /dev/mapper/rp_lw &&
	DL_CRASH_MARK=rp_lw crashload run "$seed" "$cps" >"$W/run.log" 2>&1 && ok=1
rp_remove rp rp_data rp_meta rp_lw
./dl_logreplay list "$LOG" >"$W/entries" 2>"$W/list.err" || ok=0
if [ $ok != 1 ]; then
	ktap_plan 1
	cat "$W/run.log" "$W/list.err" 2>/dev/null | tail -n 20 | sed 's/^/# /'
	ktap_result 1 "workload runs on dm-log-writes and its log lists"
	exit 1
fi
t1=$(uptime)
writes=$(sed -n 's/^crashload: stopped after \([0-9]*\) writes.*/\1/p' "$W/run.log")

# --- the points ------------------------------------------------------------
# One line per point: LO HI ONLY PRESENT ABSENT LABEL.  Entries up to LO
# are replayed; ONLY lists further entries (up to HI) applied on top, or
# "-".  PRESENT: checkpoints whose create mark (ca<N>, logged after the
# create was acknowledged) is at or before LO and whose deletion had not
# begun (db<N>) by HI.  ABSENT: those whose create had not begun (cb<N>)
# by HI or whose deletion was acknowledged (da<N>) by LO.  Any other may
# be there or not.  Checkpoint operation windows (cb..ca, db..da) give
# the points that must be checked.
awk -v seed="$seed" -v cap="$points" '
BEGIN { nf = 0; nw = 0 }
NR == 1 { nentries = $2; next }
{ i = $1 + 0; last = i }
$2 ~ /FLUSH|FUA/ { F[nf++] = i; isf[i] = 1; next }
$2 ~ /MARK/ {
	nmarks++
	if ($5 ~ /^(cb|ca|db|da)[0-9]+$/) {
		t = substr($5, 1, 2); s = substr($5, 3) + 0
		pos[t, s] = i; seqs[s] = 1
		if (t == "cb" || t == "db") { wb[nw] = i; wt[nw] = t; ws[nw++] = s }
	}
	next
}
{ isw[i] = 1; nwrites++; bytes += $4 * 512 }
function mark(t, s) { return ((t, s) in pos) ? pos[t, s] : 1e18 }
function expect(lo, hi,    s, p, a) {
	p = ""; a = ""
	for (s in seqs) {
		if (mark("ca", s) <= lo && mark("db", s) > hi)
			p = p (p == "" ? "" : ",") "c" s
		else if (mark("cb", s) > hi || mark("da", s) <= lo)
			a = a (a == "" ? "" : ",") "c" s
	}
	return (p == "" ? "-" : p) " " (a == "" ? "-" : a)
}
function out(lo, hi, only, label) { print lo, hi, only, expect(lo, hi), label }
END {
	srand(seed)
	# Flush points inside an operation window.
	for (k = 0; k < nw; k++) {
		e = mark(wt[k] == "cb" ? "ca" : "da", ws[k])
		for (j = 0; j < nf; j++)
			if (F[j] > wb[k] && F[j] < e && !req[j]) { req[j] = inop[j] = 1; nreq++ }
		nops++
	}
	if (nf) { if (!req[0]) { req[0] = 1; nreq++ } if (!req[nf - 1]) { req[nf - 1] = 1; nreq++ } }
	if (cap == "all") {
		for (j = 0; j < nf; j++) pick[j] = 1
		nsub = nf
	} else {
		nsample = int(cap * 2 / 3)
		nfree = nf - nreq
		if (nsample > nfree) nsample = nfree
		for (j = 0; j < nf; j++) if (req[j]) pick[j] = 1
		# Evenly over the flushes not required.
		got = 0; r = 0
		for (j = 0; j < nf && nsample > 0; j++) {
			if (req[j]) continue
			if (int((r + 1) * nsample / nfree) > got) { pick[j] = 1; got++ }
			r++
		}
		nsub = cap - got
	}
	# Segments with unflushed writes after picked flushes.
	ns = 0
	for (j = 0; j < nf; j++) {
		if (!pick[j]) continue
		end = (j + 1 < nf) ? F[j + 1] : last + 1
		n = 0
		for (x = F[j] + 1; x < end; x++) if (x in isw) n++
		if (n) cand[ns++] = j
	}
	if (nsub > ns) nsub = ns
	got = 0
	npf = 0; nps = 0; nop = 0
	for (c = 0; c < ns; c++)
		if (int((c + 1) * nsub / ns) > got) { dosub[cand[c]] = 1; got++ }
	for (j = 0; j < nf; j++) {
		if (!pick[j]) continue
		out(F[j], F[j], "-", "entry" F[j] (inop[j] ? "(op)" : ""))
		npf++; if (inop[j]) nop++
		if (!dosub[j]) continue
		end = (j + 1 < nf) ? F[j + 1] : last + 1
		only = ""; hi = F[j]; n = 0; prefix = rand() < 0.5
		# A prefix of random length, or each write with probability 1/2.
		for (x = F[j] + 1; x < end; x++) if (x in isw) n++
		k = 1 + int(rand() * n)
		m = 0
		for (x = F[j] + 1; x < end; x++) {
			if (!(x in isw)) continue
			m++
			if (prefix ? m <= k : rand() < 0.5) { only = only (only == "" ? "" : ",") x; hi = x }
		}
		if (only == "") { only = F[j] + 1; while (!((only + 0) in isw)) only++; hi = only }
		out(F[j], hi, only, "entry" F[j] "+" (prefix ? "prefix" : "subset") "(" (split(only, tmp, ",")) "/" n ")")
		nps++
	}
	printf "# replay summary: %d entries (%d FLUSH/FUA, %d marks, %d writes of %.1f MiB), %d checkpoint operations; points: %d at FLUSH/FUA (%d in operations), %d with unflushed writes\n", \
		nentries, nf, nmarks, nwrites, bytes / 1048576, nops, npf, nop, nps > "/dev/stderr"
}' "$W/entries" >"$W/points" 2>"$W/summary"
npoints=$(wc -l <"$W/points")
ktap_plan $((npoints + 2))
cat "$W/summary"
creates=$(grep -c ' MARK .* ca[0-9]*$' "$W/entries")
deletes=$(grep -c ' MARK .* da[0-9]*$' "$W/entries")
ktap_result 0 "workload: $writes writes, $creates checkpoints created, $deletes deleted (seed $seed)"
[ "$npoints" -gt 0 ] && [ "$creates" -gt 0 ]
ktap_result $? "log of $(sed -n '1s/^entries //p' "$W/entries") gives $npoints replay points"

# --- replay and check ------------------------------------------------------
cur=-1 checked=0 failed=0
while read -r lo hi only present absent label <&3; do
	if [ "$lo" -gt "$cur" ]; then
		if ! ./dl_logreplay replay "$LOG" /dev/ram1 --from $((cur + 1)) --to "$lo" >/dev/null 2>"$W/replay.err"; then
			sed 's/^/# /' "$W/replay.err"
			ktap_result 1 "$label: replay"
			failed=$((failed + 1))
			break
		fi
		cur=$lo
	fi
	why=
	if ! dmsetup create rp_snap --table "0 $SZ snapshot /dev/ram1 /dev/ram2 N 256" ||
	   ! dmsetup mknodes rp_snap; then
		why="snapshot of the replay"
	elif [ "$only" != - ] &&
	     ! ./dl_logreplay replay "$LOG" /dev/mapper/rp_snap --only "$only" >/dev/null 2>"$W/replay.err"; then
		why="replay of the unflushed writes: $(cat "$W/replay.err")"
	elif ! slices /dev/mapper/rp_snap; then
		why="linear slices"
	else
		[ "$present" = - ] && present=
		[ "$absent" = - ] && absent=
		DL_CRASH_REPLAY=1 DL_CRASH_PRESENT=$(echo "$present" | tr , ' ') \
			DL_CRASH_ABSENT=$(echo "$absent" | tr , ' ') \
			crashload verify >"$W/verify.out" 2>&1 || why="verify"
	fi
	rp_remove rp rp_data rp_meta rp_snap
	checked=$((checked + 1))
	if [ -n "$why" ]; then
		failed=$((failed + 1))
		echo "# $label: present {$present} absent {$absent}"
		[ "$why" = verify ] && grep -v '^ok \|^KTAP\|^1\.\.' "$W/verify.out" | head -n 40 | sed 's/^/# /'
		ktap_result 1 "$label: $why"
		# A broken target fails everywhere: three are enough to read.
		[ $failed -ge 3 ] && break
	else
		n=$(sed -n 's/^crashverify: \([0-9]*\) checkpoints verified/\1/p' "$W/verify.out")
		ktap_result 0 "$label: loads rw, $n checkpoints consistent"
	fi
done 3<"$W/points"
left=$((npoints - checked))
while [ $left -gt 0 ]; do
	ktap_result 1 "not run after earlier failures"
	left=$((left - 1))
done
echo "# replay points checked: $checked"
echo "# time: workload and listing $(echo "$t0 $t1" | awk '{ printf "%.0f", $2 - $1 }') s, replays and checks $(echo "$t1 $(uptime)" | awk '{ printf "%.0f", $2 - $1 }') s"
ktap_finish
