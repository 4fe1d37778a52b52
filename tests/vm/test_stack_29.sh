#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
# Stacked dirtylog devices and stuck devices (issue #18, finding 1).
#
# An atomic checkpoint across B and A, where B's data or metadata device is
# A, must finish in either order of the request and under a running writer
# on B: the module suspends the upper device first and commits each
# checkpoint while the devices below it still take I/O.  A device whose
# data or metadata device the administrator suspended blocks only the
# operations on that device: every other device keeps answering
# (checkpoints, lists, dumps, reloads, a new device), and the blocked
# operation completes once the device below is resumed.
. "$(dirname "$0")/lib.sh"

fio_pid=
stop_writer() {
	[ -n "$fio_pid" ] && kill "$fio_pid" 2>/dev/null && wait "$fio_pid" 2>/dev/null
	fio_pid=
}
cleanup() {
	stop_writer
	dmsetup resume M >/dev/null 2>&1
	dmsetup resume L >/dev/null 2>&1
	dl_cleanup
}
trap cleanup EXIT

dl_cleanup
modprobe dm-dirtylog || exit 1
ktap_plan 26

MIB=2048		# sectors
mk() {			# mk NAME TABLE
	dmsetup create "$1" --table "$2" && dmsetup mknodes "$1" >/dev/null 2>&1
}
lin() {			# lin NAME DEV START_MIB LEN_MIB
	mk "$1" "0 $(($4 * MIB)) linear $2 $(($3 * MIB))" && dl_fresh_meta "/dev/mapper/$1"
}
dl() {			# dl NAME META DATA: a dirtylog device over all of DATA
	mk "$1" "0 $(dl_sectors "$3") dirtylog $2 $3 8"
}

# bounded SECS CMD...: CMD's status, or 124 when it is still running after
# SECS seconds (then the test cannot clean up and stops).
bounded() {
	_s=$(($1 * ${DL_TIMEOUT_SCALE:-1}))
	shift
	"$@" >/tmp/bounded.out 2>&1 &
	_p=$!
	while kill -0 $_p 2>/dev/null; do
		if [ $_s -le 0 ]; then
			sed 's/^/# /' /tmp/bounded.out
			ktap_diag "still running after the limit: $*"
			return 124
		fi
		_s=$((_s - 1))
		sleep 1
	done
	wait $_p
	_rc=$?
	sed 's/^/# /' /tmp/bounded.out
	return $_rc
}
# must SECS DESCRIPTION CMD...: one result; a hang ends the test.
must() {
	_secs=$1
	_desc=$2
	shift 2
	bounded "$_secs" "$@"
	_rc=$?
	ktap_result $_rc "$_desc"
	if [ $_rc -eq 124 ]; then
		ktap_diag "hung: the rest of the test cannot run"
		trap - EXIT
		exit 1
	fi
}
start_writer() {	# start_writer DEV
	fio --name=w --filename="$1" --rw=randwrite --bs=4k --iodepth=16 \
		--ioengine=libaio --direct=1 --time_based --runtime=3600 \
		--randrepeat=0 >/dev/null 2>&1 &
	fio_pid=$!
}
has_ckpt() {		# has_ckpt DEV NAME
	dmsetup message "$1" 0 list_checkpoints | grep -q "^$2 "
}
all_have() {		# all_have "NAME..." DEV...
	_names=$1
	shift
	for _d; do
		for _n in $_names; do
			has_ckpt "$_d" "$_n" || { echo "$_d lacks checkpoint $_n"; return 1; }
		done
	done
}
# The process PID sleeps uninterruptibly (blocked in the kernel).
blocked() {
	grep -q '^State:.*D' "/proc/$1/status" 2>/dev/null
}
exited() {
	[ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}
# finish_bg PID DESCRIPTION: the background command PID ends in time, with
# status 0; a hang ends the test.
finish_bg() {
	if ! dl_wait_for 60 exited "$1"; then
		ktap_result 1 "$2"
		ktap_diag "hung: the rest of the test cannot run"
		trap - EXIT
		exit 1
	fi
	wait "$1"
	ktap_result $? "$2"
}
writer_started() {	# writer_started DEV: the writer has marked blocks
	[ "$(dl_status_field "$1" 3)" -gt 0 ]
}

lin mA $DL_META 0 8 && lin mB $DL_META 8 8 && lin M $DL_META 16 8 &&
	lin mD $DL_META 24 8 && lin mE $DL_META 32 8 || exit 1
mk dA "0 $((128 * MIB)) linear $DL_DATA 0" &&
	mk L "0 $((64 * MIB)) linear $DL_DATA $((128 * MIB))" &&
	mk dD "0 $((64 * MIB)) linear $DL_DATA $((192 * MIB))" &&
	mk dE "0 $((64 * MIB)) linear $DL_DATA $((256 * MIB))" || exit 1

# 1. B's data device is A.
dl A /dev/mapper/mA /dev/mapper/dA && dl B /dev/mapper/mB /dev/mapper/A || exit 1
start_writer /dev/mapper/B
dl_wait_for 30 writer_started B
must 120 "data stacked: checkpoint A, B (lower first) under a writer on B" \
	dirtylogctl checkpoint create A s1 --also B
must 120 "data stacked: checkpoint B, A (upper first) under a writer on B" \
	dirtylogctl checkpoint create B s2 --also A
stop_writer
ktap_check "both devices hold both checkpoints" all_have "s1 s2" A B
must 60 "remove the stacked pair" dmsetup remove B

# 1b. B's data device is a dm-linear over A: only sysfs shows that B sits
# on A, and dirtylogctl orders the request by it.
mk LB "0 $(dl_sectors /dev/mapper/A) linear /dev/mapper/A 0" || exit 1
dl_fresh_meta /dev/mapper/mB
dl B /dev/mapper/mB /dev/mapper/LB || exit 1
start_writer /dev/mapper/B
dl_wait_for 30 writer_started B
must 120 "through a linear layer: checkpoint A, B under a writer on B" \
	dirtylogctl checkpoint create A i1 --also B
must 120 "through a linear layer: checkpoint B, A under a writer on B" \
	dirtylogctl checkpoint create B i2 --also A --json
stop_writer
ktap_check "both devices hold both checkpoints" all_have "i1 i2" A B
dmsetup remove B && dmsetup remove LB && dmsetup remove A || exit 1

# 2. B's metadata device is A.
dl_fresh_meta /dev/mapper/mA
dl A /dev/mapper/mA /dev/mapper/dA || exit 1
dl_fresh_meta /dev/mapper/A
dl B /dev/mapper/A /dev/mapper/dE || exit 1
start_writer /dev/mapper/B
must 120 "metadata stacked: checkpoint A, B under a writer on B" \
	dirtylogctl checkpoint create A m1 --also B
must 120 "metadata stacked: checkpoint B, A under a writer on B" \
	dirtylogctl checkpoint create B m2 --also A
stop_writer
ktap_check "both devices hold both checkpoints" all_have "m1 m2" A B
dmsetup remove B && dmsetup remove A || exit 1

# 3. C's metadata device is suspended: C's checkpoint waits, D and a new
# device E do not.
dl C /dev/mapper/M /dev/mapper/L && dl D /dev/mapper/mD /dev/mapper/dD || exit 1
dmsetup message D 0 checkpoint d0 >/dev/null
dmsetup suspend M || exit 1
dd if=/dev/urandom of=/dev/mapper/C bs=4096 seek=7 count=1 oflag=direct 2>/dev/null &
dd_pid=$!
dirtylogctl checkpoint create C c1 >/tmp/c1.out 2>&1 &
c1_pid=$!
dl_wait_for 30 blocked $c1_pid
ktap_result $? "a checkpoint of C waits for C's suspended metadata device"
must 60 "checkpoint D meanwhile" dirtylogctl checkpoint create D d1
must 60 "list D's checkpoints meanwhile" dirtylogctl checkpoint list D
must 60 "D's dirty map meanwhile" dirtylogctl dirty D --since d0
must 60 "status of every device meanwhile" dirtylogctl status
must 60 "reload D meanwhile" sh -c "dmsetup suspend D && dmsetup reload D --table \
	'0 $(dl_sectors /dev/mapper/dD) dirtylog /dev/mapper/mD /dev/mapper/dD 8' && dmsetup resume D"
must 60 "create a new device E meanwhile" dl E /dev/mapper/mE /dev/mapper/dE
dmsetup resume M
finish_bg $c1_pid "C's checkpoint completes once its metadata device is back"
sed 's/^/# /' /tmp/c1.out
finish_bg $dd_pid "the write to C that waited completes"

# 4. C's data device is suspended with a write in flight: an atomic
# checkpoint of C and D waits for it; E does not.
dmsetup suspend L || exit 1
dd if=/dev/urandom of=/dev/mapper/C bs=4096 seek=9 count=1 oflag=direct 2>/dev/null &
dd_pid=$!
dl_wait_for 30 blocked $dd_pid
dirtylogctl checkpoint create C c2 --also D >/tmp/c2.out 2>&1 &
c2_pid=$!
dl_wait_for 30 blocked $c2_pid
ktap_result $? "an atomic checkpoint of C and D waits for C's write in flight"
must 60 "checkpoint E meanwhile" dirtylogctl checkpoint create E e1
must 60 "reload E meanwhile" sh -c "dmsetup suspend E && dmsetup reload E --table \
	'0 $(dl_sectors /dev/mapper/dE) dirtylog /dev/mapper/mE /dev/mapper/dE 8' && dmsetup resume E"
must 60 "status of every device meanwhile" dirtylogctl status
dmsetup resume L
finish_bg $c2_pid "the atomic checkpoint completes once C's data device is back"
sed 's/^/# /' /tmp/c2.out
finish_bg $dd_pid "the write in flight completes"
ktap_check "C and D both hold c2" all_have c2 C D
ktap_finish
