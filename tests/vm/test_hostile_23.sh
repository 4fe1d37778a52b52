#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 900
# Hostile table lines and messages, generated: every argument position of
# the table line and of each message gets, in turn, every value of a list
# of hostile values (missing, huge, negative, non-numeric, 2^64, 2^63,
# 2^32, signs, leading zeros, unknown and duplicate features or names)
# while the other positions keep a valid value.  A model written here from
# the admin guide (Documentation/admin-guide/device-mapper/dirtylog.rst;
# numbers as the kernel's kstrtou* read them: decimal, an optional '+',
# at most the type's maximum) says whether each case is valid: a valid
# case must be accepted, any other refused (a table with a "dirtylog:"
# reason in the kernel log; nothing written to the metadata device by a
# refused table).  No device may be left behind, the target must work
# afterwards, and the rig fails the test on any kernel warning.
# The test_table_02.sh and test_messages_05.sh cases are hand-picked; this
# one is systematic.
. "$(dirname "$0")/lib.sh"
trap 'dmsetup remove_all >/dev/null 2>&1; dl_cleanup' EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1

len=$(dl_sectors $DL_DATA)
meta_no=$(dl_devno $DL_META)
data_no=$(dl_devno $DL_DATA)
spare_no=$(dl_devno $DL_SPARE)
huge9=$(printf '%300s' '' | tr ' ' 9)
hugea=$(printf '%4000s' '' | tr ' ' a)
name64=$(printf '%64s' '' | tr ' ' n)
name65=$(printf '%65s' '' | tr ' ' n)

# Hostile values: numbers for numeric positions, names and device names
# for the others (each list also holds some of the other kind).
nums="0 1 -1 +8 008 0x8 8x abc $huge9 18446744073709551616 18446744073709551615
9223372036854775808 4294967296 4294967304 7 8 16 131072 262144"
names="$name64 $name65 c1 a/b x%y -1 CHECKPOINT 0"
devs="-1 abc 0:0 4294967296:0 253:4294967295 /dev/$hugea /dev/null"

# --- the model -------------------------------------------------------------

# u64_val S: prints the value of S as kstrtoull(S, 10) reads it, or fails
# when it refuses S.  Values above 10^15 print as "big".
u64_val() {
	_s=${1#+}
	case $_s in '' | *[!0-9]*) return 1 ;; esac
	_t=$(echo "$_s" | sed 's/^0*//')
	_n=${#_t}
	if [ "$_n" -gt 20 ] || { [ "$_n" -eq 20 ] && [ "$_t" \> 18446744073709551615 ]; }; then
		return 1
	fi
	if [ "$_n" -gt 15 ]; then echo big; else echo "${_t:-0}"; fi
}

# u32_val S: the same for kstrtouint.
u32_val() {
	_v=$(u64_val "$1") || return 1
	[ "$_v" != big ] && [ "$_v" -le 4294967295 ] || return 1
	echo "$_v"
}

# A valid checkpoint name: 1 to 64 of A-Z a-z 0-9 . _ : + -
name_ok() {
	[ ${#1} -ge 1 ] && [ ${#1} -le 64 ] || return 1
	case $1 in *[!A-Za-z0-9._:+-]*) return 1 ;; esac
	return 0
}

# table_ok META DATA ARGS...: is "0 $len dirtylog META DATA ARGS..." valid?
table_ok() {
	[ $# -ge 3 ] || return 1
	case $1 in "$DL_META" | "$meta_no") ;; *) return 1 ;; esac
	case $2 in "$DL_DATA" | "$data_no" | "$DL_SPARE" | "$spare_no") ;; *) return 1 ;; esac
	bs=$(u32_val "$3") || return 1
	[ "$bs" -ge 8 ] && [ "$bs" -le 131072 ] && [ $((bs & (bs - 1))) -eq 0 ] || return 1
	shift 3
	[ $# -eq 0 ] && return 0
	nf=$(u32_val "$1") || return 1
	[ "$nf" -le 1 ] && [ $# -eq $((nf + 1)) ] || return 1
	[ "$nf" -eq 0 ] || [ "$2" = passthrough_on_metadata_error ]
}

# --- table lines -------------------------------------------------------------

ncase=0 nbad=0
fail() {
	nbad=$((nbad + 1))
	[ $nbad -le 30 ] && ktap_diag "FAIL: $*"
}

meta_sha=$(dl_sha $DL_META 0 1048576)
try_table() {		# try_table ARGS... (after "0 $len dirtylog")
	ncase=$((ncase + 1))
	t="0 $len dirtylog $*"
	dmesg -c >/dev/null
	if dmsetup create hx --table "$t" >/dev/null 2>&1; then
		dmsetup remove hx >/dev/null 2>&1 || fail "cannot remove hx after: $t"
		table_ok "$@" || fail "accepted an invalid table: $(echo "$t" | cut -c1-200)"
		dl_fresh_meta
	else
		if table_ok "$@"; then
			fail "refused a valid table: $t ($(dmesg | grep dirtylog | tail -1))"
		elif ! dmesg | grep -q 'dirtylog: '; then
			fail "refused without a dirtylog reason: $(echo "$t" | cut -c1-200)"
		fi
		[ "$(dl_sha $DL_META 0 1048576)" = "$meta_sha" ] ||
			{ fail "a refused table wrote the metadata: $t"; dl_fresh_meta; }
	fi
	if [ -n "$(dmsetup ls | grep -v 'No devices')" ]; then
		fail "device left behind after: $t"
		dmsetup remove_all >/dev/null 2>&1
	fi
}

set -f
P="$DL_META $DL_DATA 8 1 passthrough_on_metadata_error"
# Every prefix of a valid line (missing arguments) and one too many.
try_table
try_table $DL_META
try_table $DL_META $DL_DATA
try_table $DL_META $DL_DATA 8
try_table $DL_META $DL_DATA 8 1
try_table $P
try_table $P extra
try_table $DL_META $DL_DATA 8 0
try_table $DL_META $DL_DATA 8 0 extra
try_table $DL_META $DL_DATA 8 2 passthrough_on_metadata_error passthrough_on_metadata_error
try_table $DL_META $DL_DATA 8 1 PASSTHROUGH_ON_METADATA_ERROR
try_table $DL_META $DL_DATA 8 1 passthrough_on_metadata_errors
try_table $DL_META $DL_DATA 8 1 unknown_feature
try_table $meta_no $data_no 4096
try_table $DL_META $DL_SPARE 16
try_table $DL_META $DL_META 8
try_table $DL_DATA $DL_META 8
try_table 0:0 $DL_DATA 8
try_table $DL_META 4294967296:0 8
try_table /dev/$hugea $DL_DATA 8
# Each position through the hostile values, the others valid.
for v in $devs; do
	try_table $v $DL_DATA 8
	try_table $DL_META $v 8
done
for v in $nums; do
	try_table $DL_META $DL_DATA $v
	try_table $DL_META $DL_DATA 8 $v passthrough_on_metadata_error
done
for v in $names; do
	try_table $DL_META $DL_DATA 8 1 $v
done
set +f
ktap_plan 5
[ $nbad -eq 0 ]
ktap_result $? "table lines: $ncase generated cases accepted exactly when valid, refusals logged, metadata untouched, nothing left behind ($nbad failures)"
table_cases=$ncase

# --- messages -----------------------------------------------------------------

ncase=0 nbad=0
dmsetup create hm --table "0 $len dirtylog $DL_META $DL_DATA 8" || exit 1
nblocks=$(dl_status_field hm 2)
ckpts=""		# the model: existing checkpoint names, oldest first

has_ckpt() { case " $ckpts " in *" $1 "*) return 0 ;; esac; return 1; }
# position of a checkpoint in the list (1-based)
ckpt_pos() { echo "$ckpts" | tr ' ' '\n' | grep -v '^$' | grep -n -x -F "$1" | cut -d: -f1; }

# msg_ok ARGS...: the model's answer, and its effect on $ckpts when valid.
msg_ok() {
	[ $# -ge 1 ] || return 1
	case $1 in
	checkpoint)
		[ $# -eq 2 ] && name_ok "$2" && ! has_ckpt "$2" || return 1
		ckpts="$ckpts $2" ;;
	delete_checkpoint)
		[ $# -eq 2 ] && name_ok "$2" && has_ckpt "$2" || return 1
		ckpts=$(echo " $ckpts " | sed "s/ $2 / /") ;;
	reset)
		[ $# -eq 1 ] || return 1
		ckpts="" ;;
	mark_dirty)
		[ $# -eq 3 ] || return 1
		a=$(u64_val "$2") && b=$(u64_val "$3") || return 1
		[ "$a" != big ] && [ "$b" != big ] && [ "$b" -ge 1 ] &&
			[ $((a + b)) -le "$nblocks" ] ;;
	list_checkpoints)
		[ $# -eq 1 ] ;;
	dirty)
		[ $# -eq 2 ] || [ $# -eq 3 ] || return 1
		has_ckpt "$2" || return 1
		[ $# -eq 2 ] && return 0
		has_ckpt "$3" && [ "$(ckpt_pos "$3")" -gt "$(ckpt_pos "$2")" ] ;;
	*)
		return 1 ;;
	esac
}

try_msg() {
	ncase=$((ncase + 1))
	saved=$ckpts
	if msg_ok "$@"; then want=0; else want=1; ckpts=$saved; fi
	# "--": values such as -1 are arguments of the message, not options.
	if dmsetup message -- hm 0 "$@" >/dev/null 2>&1; then got=0; else got=1; fi
	[ $got = $want ] ||
		fail "message '$(echo "$*" | cut -c1-120)': $([ $got = 0 ] && echo accepted || echo refused), model says $([ $want = 0 ] && echo valid || echo invalid)"
	# The checkpoint list after each message that can change it.
	case $1 in checkpoint | delete_checkpoint | reset) ;; *) return ;; esac
	have=$(dmsetup message hm 0 list_checkpoints 2>/dev/null | awk '{printf " %s", $1}')
	[ "$(echo $have)" = "$(echo $ckpts)" ] || {
		fail "after '$(echo "$*" | cut -c1-120)': checkpoints '$have', model '$ckpts'"
		ckpts=$have
	}
}

set -f
try_msg
try_msg checkpoint
try_msg checkpoint c1
try_msg checkpoint c1
try_msg checkpoint c2
try_msg checkpoint c3 c4
try_msg reset extra
try_msg list_checkpoints extra
try_msg mark_dirty
try_msg mark_dirty 0
try_msg mark_dirty 0 1 2
try_msg mark_dirty 0 $nblocks
try_msg mark_dirty $((nblocks - 1)) 1
try_msg mark_dirty $((nblocks - 1)) 2
try_msg mark_dirty $nblocks 1
try_msg mark_dirty 1 18446744073709551615
try_msg mark_dirty 18446744073709551615 1
try_msg dirty
try_msg dirty c1 c2 c3
try_msg dirty c1 c1
try_msg dirty c2 c1
try_msg dirty c1 c2
try_msg Checkpoint c9
try_msg unknown
try_msg "$hugea"
try_msg checkpoint c1 c2
try_msg delete_checkpoint c3
for v in $names $nums :+.-_ ; do
	try_msg checkpoint $v
	try_msg delete_checkpoint $v
done
try_msg reset
try_msg checkpoint c1
try_msg checkpoint c2
for v in $names; do
	try_msg dirty $v
	try_msg dirty c1 $v
	try_msg dirty $v c2
done
for v in $nums; do
	try_msg mark_dirty $v 1
	try_msg mark_dirty 0 $v
done
for v in c1 -1 abc "$hugea"; do
	try_msg reset $v
	try_msg list_checkpoints $v
	try_msg unknown $v
done
try_msg reset
set +f
[ $nbad -eq 0 ]
ktap_result $? "messages: $ncase generated cases accepted exactly when valid, checkpoints as the model says ($nbad failures)"

# --- the target still works ---------------------------------------------------

dmsetup mknodes >/dev/null 2>&1
out=$(dmsetup message hm 0 checkpoint after 2>&1 &&
	dd if=/dev/urandom of=/dev/mapper/hm bs=4096 seek=5 count=2 oflag=direct 2>&1 &&
	dmsetup message hm 0 dirty after 2>&1)
[ "$(echo "$out" | tail -n 1)" = "5 2" ]
ktap_result $? "hm tracks writes after the hostile messages (dirty after: $(echo "$out" | tail -n 1))"
dmsetup remove hm
ktap_result $? "remove hm"
[ -z "$(dmsetup ls | grep -v 'No devices')" ] && rmmod dm_dirtylog
ktap_result $? "no device left behind, the module unloads ($table_cases table cases, $ncase message cases)"
ktap_finish
