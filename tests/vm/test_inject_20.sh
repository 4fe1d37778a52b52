#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
# Fault injection (debug kernel only: failslab, fail_make_request; KTAP
# SKIP elsewhere).  Allocation failures (failslab: for the workload's
# tasks, then for every task with a bounded count, then for table loads,
# device creation and messages: one failure each at a random site,
# /proc/PID/fail-nth) and I/O errors on the metadata device
# (/sys/block/vdb/make-it-fail + fail_make_request) during a write +
# checkpoint workload.  After each phase, with injection off: the target
# is working (rw) or cleanly failed (fail), it reloads over the healthy
# metadata device, and the dirty information is conservative: every block
# whose content differs from the copy taken at a checkpoint is in that
# checkpoint's dirty set, and so is every acknowledged write after it.
# The kernel must not oops/WARN (run_tests.sh and the host scan check,
# and so does the last result here).  Random; DL_SEED replays a run.
# DL_INJECT_SELFTEST=1 writes one block behind the target's back: the
# "changed block" checks must then fail.
. "$(dirname "$0")/lib.sh"

FS=${DL_FAILSLAB:-/sys/kernel/debug/failslab}
FMR=${DL_FAIL_MAKE_REQUEST:-/sys/kernel/debug/fail_make_request}
MIF=${DL_MAKE_IT_FAIL:-/sys/block/${DL_META##*/}/make-it-fail}
if [ ! -d $FS ] || [ ! -d $FMR ] || [ ! -e $MIF ]; then
	echo "KTAP version 1"
	echo "1..0 # SKIP no failslab/fail_make_request (stock kernel; make check-debug)"
	exit 0
fi

T=/tmp/inj
# inj_set FILE VALUE: write a debugfs/sysfs knob.  While failslab is on
# for every task (the global phase) it can refuse this shell's own
# allocations, the open of the knob included: retry with builtins only
# (a fork could fail too) until the write goes through, with no stderr
# (opening /dev/null could fail as well).  Each refused
# open uses up one of the bounded failures, so this ends; INJ_RETRIES
# counts the refusals.
INJ_RETRIES=0
inj_set() {
	_n=0
	until { echo "$2" > "$1"; } 2>&-; do
		_n=$((_n + 1))
		INJ_RETRIES=$((INJ_RETRIES + 1))
		[ $_n -lt 1000 ] || return 1
	done
}
inj_off() {
	inj_set $FS/probability 0 && inj_set $FMR/probability 0 &&
		inj_set $MIF 0
}
cleanup() {
	inj_off
	dl_cleanup
	rm -rf $T
}
trap cleanup EXIT
inj_off
dl_cleanup
rm -rf $T
mkdir -p $T
dl_fresh_meta
modprobe dm-dirtylog || exit 1
seed=${DL_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
ktap_plan 29
ktap_diag "seed $seed (DL_SEED=$seed replays)"

NB=32			# the written region: blocks 0..31 (4 KiB each)
# The copies also hold block 32, which only the self-test writes.
len=$(dl_sectors $DL_DATA)
table="0 $len dirtylog $DL_META $DL_DATA 8"
dev=/dev/mapper/inj
dmsetup create inj --table "$table" || exit 1
dmsetup mknodes >/dev/null 2>&1
: > $T/acked
ck=0			# number of the last checkpoint attempt (c1, c2, ...)

# A deterministic stream of random numbers from the seed.
awk -v s="$seed" 'BEGIN { srand(s); for (i = 0; i < 5000; i++) print int(rand() * 1000000) }' > $T/rand
rpos=0
rnd() {			# rnd N: RND = a number in 0..N-1
	# Not in a $(...) subshell, which would lose the step of rpos and
	# give every call the same number.
	rpos=$((rpos + 1))
	RND=$(($(sed -n "${rpos}p" $T/rand) % $1))
}

# Run a command as a task that failslab/fail_make_request may pick
# (task-filter): /proc/self is the sh that then execs the command.
inj() {
	sh -c 'echo 1 > /proc/self/make-it-fail; exec "$@"' inj "$@" 2>/dev/null
}

# One 4 KiB write of random data to block $1 by a dd that failslab may
# pick once it runs: it waits on a fifo while its make-it-fail is set, so
# that the injected failures hit the open and the write, not the exec.
inj_write() {
	rm -f $T/fifo
	mkfifo $T/fifo
	dd if=$T/fifo of=$dev bs=4096 seek="$1" count=1 oflag=direct conv=notrunc 2>/dev/null &
	p=$!
	n=0
	while [ "$(cat /proc/$p/comm 2>/dev/null)" != dd ] && [ $n -lt 50 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	echo 1 > /proc/$p/make-it-fail 2>/dev/null
	timeout 20 sh -c "head -c 4096 /dev/urandom > $T/fifo"
	wait $p
}

# Run a command whose Nth fault-injection site from here on fails, for a
# random N up to 1500: /proc/self/fail-nth survives the exec, so the one
# failure lands anywhere between the exec and the command's ioctls and the
# kernel work they do (a probability fails dmsetup long before its ioctl).
# Returns the command's status; NTH_LAST is the N used.
nth() {
	rnd 1500
	NTH_LAST=$((RND + 1))
	sh -c 'echo "$1" > /proc/self/fail-nth && shift && exec "$@"' nth "$NTH_LAST" "$@" 2>/dev/null
}

fs_on() {		# fs_on PROBABILITY TIMES TASKFILTER(Y/N) [SPACE]
	echo 1 > $FS/verbose
	echo N > $FS/ignore-gfp-wait
	echo 1 > $FS/interval
	echo "${4:-0}" > $FS/space
	echo "$3" > $FS/task-filter
	echo "$2" > $FS/times
	fs_times=$2
	echo "$1" > $FS/probability
}
fs_count() {		# faults failslab injected since fs_on
	echo $((fs_times - $(cat $FS/times)))
}

snap() {		# copy of the region as it is now, for checkpoint $1
	dd if=$DL_DATA of=$T/snap.$1 bs=4096 count=$((NB + 1)) iflag=direct 2>/dev/null ||
		rm -f $T/snap.$1
}

# One step of the workload: a few writes, then a checkpoint attempt (the
# copy of the region is taken before it: no write is in flight then).
# $1 runs the commands (inj or nothing).
step() {
	w=0
	while [ $w -lt 3 ]; do
		rnd $NB
		b=$RND
		if [ "$1" = inj ]; then
			inj_write "$b"
		else
			dd if=/dev/urandom of=$dev bs=4096 seek="$b" count=1 \
				oflag=direct conv=notrunc 2>/dev/null
		fi
		if [ $? = 0 ]; then
			echo "$ck $b" >> $T/acked
			acked=$((acked + 1))
		else
			refused=$((refused + 1))
		fi
		w=$((w + 1))
	done
	ck=$((ck + 1))
	echo "$ck" > $T/ck
	snap c$ck
	# Under the workload's probability a dmsetup fails from its exec on
	# and rarely reaches its ioctl: in the injected phases the checkpoint
	# gets one failure at a random site instead (fail-nth), which may land
	# in the kernel's checkpoint path, while the workload's failures go on.
	if [ "$1" = inj ]; then
		nth dmsetup message inj 0 checkpoint c$ck >/dev/null 2>&1
	else
		NTH_LAST=-
		dmsetup message inj 0 checkpoint c$ck >/dev/null 2>&1
	fi
	if [ $? = 0 ]; then
		cks=$((cks + 1))
	else
		ckfail="$ckfail c$ck@$NTH_LAST"
	fi
	return 0
}

workload() {		# workload STEPS RUNNER
	acked=0 refused=0 cks=0 ckfail=
	i=0
	while [ $i -lt "$1" ]; do
		step "$2"
		i=$((i + 1))
	done
	ktap_diag "$3: $acked writes acknowledged, $refused refused, $cks of $1 checkpoints made${ckfail:+ (refused:$ckfail)}"
}

# With injection off: the state, a reload (remove + create over the same
# metadata) and the two conservativeness checks over every checkpoint
# that exists and has a copy.  Four results.
check_phase() {
	name=$1
	st=$(dl_status_field inj 7)
	[ "$st" = rw ] || [ "$st" = fail ]
	ktap_result $? "$name: target working or cleanly failed (state '$st')"
	dmsetup remove inj >/dev/null 2>&1
	dmsetup create inj --table "$table" && dmsetup mknodes >/dev/null 2>&1 &&
		[ "$(dl_status_field inj 7)" = rw ]
	ktap_result $? "$name: reload over the healthy metadata device (state $(dl_status_field inj 7))"

	dd if=$DL_DATA of=$T/now bs=4096 count=$((NB + 1)) iflag=direct 2>/dev/null
	dmsetup message inj 0 list_checkpoints > $T/list 2>/dev/null
	n=0 bad_changed= bad_acked=
	for c in $(awk '{ print $1 }' $T/list); do
		[ -f $T/snap.$c ] || continue
		n=$((n + 1))
		if ! dmsetup message inj 0 dirty "$c" > $T/dirty 2>/dev/null; then
			bad_changed="$bad_changed $c:no-answer"
			continue
		fi
		cmp -l $T/snap.$c $T/now | awk '{ print int(($1 - 1) / 4096) }' | uniq > $T/changed
		awk -v j="${c#c}" '$1 >= j { print $2 }' $T/acked | sort -n -u > $T/ackb
		for kind in changed ackb; do
			miss=$(awk -v d=$T/dirty 'BEGIN {
					while ((getline l < d) > 0) {
						split(l, f, " "); n++; s[n] = f[1]; e[n] = f[1] + f[2]
					}
				}
				{ ok = 0; for (i = 1; i <= n; i++) if ($1 >= s[i] && $1 < e[i]) ok = 1
				  if (!ok) printf "%s ", $1 }' $T/$kind)
			[ -z "$miss" ] && continue
			if [ $kind = changed ]; then
				bad_changed="$bad_changed $c:[$miss]"
			else
				bad_acked="$bad_acked $c:[$miss]"
			fi
		done
	done
	[ $n -gt 0 ] && [ -z "$bad_changed" ]
	ktap_result $? "$name: every changed block is dirty since its checkpoint ($n checkpoints${bad_changed:+; missing:$bad_changed})"
	[ $n -gt 0 ] && [ -z "$bad_acked" ]
	ktap_result $? "$name: every acknowledged write is marked ($n checkpoints${bad_acked:+; missing:$bad_acked})"

	# Keep the newest three checkpoints (and their copies).
	for c in $(awk '{ c[NR] = $1 } END { for (i = 1; i <= NR - 3; i++) print c[i] }' $T/list); do
		dmsetup message inj 0 delete_checkpoint "$c" >/dev/null 2>&1
		rm -f $T/snap.$c
	done
}

# --- baseline: no injection -------------------------------------------------
workload 3 "" baseline
if [ -n "${DL_INJECT_SELFTEST:-}" ]; then
	ktap_diag "self-test: block $NB written behind the target's back"
	dd if=/dev/urandom of=$DL_DATA bs=4096 seek=$NB count=1 oflag=direct 2>/dev/null
fi

# --- failslab on the workload's tasks ---------------------------------------
fs_on 20 100000 Y
workload 8 inj "failslab (workload tasks, 20%)"
inj_off
nf=$(fs_count)
[ "$nf" -gt 0 ]
ktap_result $? "failslab on the workload injected faults ($nf)"
check_phase "failslab/tasks"

# --- failslab on the workload's tasks after some space, every 3rd -----------
fs_on 100 100000 Y 200000
echo 3 > $FS/interval
workload 6 inj "failslab (workload tasks, every 3rd after 200000 bytes)"
inj_off
nf=$(fs_count)
[ "$nf" -gt 0 ]
ktap_result $? "failslab with space and interval injected faults ($nf)"
check_phase "failslab/space"

# --- turning injection off while it refuses this shell's allocations -------
# A subshell marks itself (task-filter) and has its next 3 slab
# allocations refused: inj_off must still get through, with retries.
( echo 1 > /proc/self/make-it-fail && fs_on 100 3 Y && INJ_RETRIES=0 &&
	inj_off && echo "$INJ_RETRIES" > $T/retries )
r=$(cat $T/retries 2>/dev/null)
inj_off
[ "${r:-0}" -gt 0 ] && [ "$(cat $FS/probability)" = 0 ] && [ "$(cat $FS/times)" = 0 ]
ktap_result $? "injection turned off while failslab refused the shell's own allocations (${r:-no} retries, $(cat $FS/times) left)"

# --- failslab for every task, bounded count ---------------------------------
# Every task may fail an allocation, this shell too (a refused fork ends a
# shell): the workload runs in a subshell that may die part way.  Its
# checkpoint counter is kept in a file; the names skip ahead afterwards,
# so no name is used twice.
echo "$ck" > $T/ck
( fs_on 2 40 N; workload 4 "" "failslab (global, 2%, at most 40)" ) ||
	ktap_diag "the global phase's shell ended early (exit $?)"
INJ_RETRIES=0
inj_off
ktap_result $? "failslab turned off after the global phase ($INJ_RETRIES refused writes of the knob)"
fs_times=40
ck=$(($(cat $T/ck) + 10))
nf=$(fs_count)
ktap_diag "global failslab injected $nf faults"
check_phase "failslab/global"

# --- table loads, device creation and messages under failslab ---------------
# A second device on the spare disk: metadata in its first 16 MiB.
ssz=$(dl_sectors $DL_SPARE)
dmsetup create inj_m2 --table "0 32768 linear $DL_SPARE 0" &&
	dmsetup create inj_d2 --table "0 $((ssz - 32768)) linear $DL_SPARE 32768" &&
	dmsetup mknodes >/dev/null 2>&1
table2="0 $((ssz - 32768)) dirtylog /dev/mapper/inj_m2 /dev/mapper/inj_d2 8"
dl_fresh_meta /dev/mapper/inj_m2
fs_on 3 100000 Y
loads=0 creates=0 msgs=0
i=0
while [ $i -lt 6 ]; do
	# Fresh metadata now and then: creation then formats it.
	[ $((i % 3)) = 0 ] && dl_fresh_meta /dev/mapper/inj_m2
	nth dmsetup create inj2 --table "$table2" >/dev/null 2>&1 && creates=$((creates + 1))
	nth dmsetup message inj2 0 checkpoint x$i >/dev/null 2>&1
	dmsetup remove inj2 >/dev/null 2>&1
	if nth dmsetup load inj --table "$table" >/dev/null 2>&1; then
		loads=$((loads + 1))
		dmsetup suspend inj && nth dmsetup resume inj >/dev/null 2>&1
		dmsetup resume inj >/dev/null 2>&1
	fi
	dmsetup clear inj >/dev/null 2>&1
	rnd $NB
	for m in "list_checkpoints" "dirty c$ck" "mark_dirty $RND 1" \
		"checkpoint m$i" "delete_checkpoint m$i"; do
		nth dmsetup message inj 0 $m >/dev/null 2>&1 && msgs=$((msgs + 1))
	done
	nth dmsetup status inj >/dev/null 2>&1
	step inj
	i=$((i + 1))
done
inj_off
nf=$(fs_count)
ktap_diag "loads/messages (one failure each at a random site, fail-nth): $creates of 6 creations, $loads of 6 loads, $msgs of 30 messages succeeded"
[ "$nf" -gt 0 ]
ktap_result $? "failslab on loads, creation and messages injected faults ($nf)"
dmsetup remove inj2 >/dev/null 2>&1
! dmsetup info inj2 >/dev/null 2>&1 && dmsetup create inj2 --table "$table2" &&
	dmsetup remove inj2
ktap_result $? "the second device is gone and can be created again over its metadata"
check_phase "failslab/loads"

# --- I/O errors on the metadata device --------------------------------------
echo 1 > $FMR/verbose
echo 1 > $FMR/interval
echo 100000 > $FMR/times
echo 30 > $FMR/probability
echo 1 > $MIF
workload 8 "" "fail_make_request on ${DL_META##*/} (30%)"
inj_off
nf=$((100000 - $(cat $FMR/times)))
[ "$nf" -gt 0 ]
ktap_result $? "fail_make_request on the metadata device injected I/O errors ($nf)"
check_phase "fail_make_request"

dmsetup remove inj
ktap_result $? "remove"
dmsetup remove inj_d2 && dmsetup remove inj_m2
# The kernel's report of an allocation that failslab failed (a stack dump
# and the memory state) is not a warning; kreports.sh sets it apart.
dmesg > $T/dmesg
sh "$(dirname "$0")/kreports.sh" $T/dmesg /dev/null $T/forced |
	grep -E 'WARNING:|BUG:|Oops|Call Trace|KASAN|possible (circular|recursive) locking|general protection' > $T/warn
[ -s $T/forced ] && ktap_diag "$(wc -l < $T/forced) allocation failure report(s) after a forced failure: $(head -n 1 $T/forced | cut -c 1-120)"
[ ! -s $T/warn ]
ktap_result $? "no kernel warning during the injection"
[ -s $T/warn ] && sed 's/^/# /' $T/warn | head -n 20
ktap_finish
