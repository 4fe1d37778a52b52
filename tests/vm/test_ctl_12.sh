#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# dirtylogctl's netlink commands give the answers the dm interface gives:
# status against "dmsetup status", dmsetup info and the instance uuid in the
# superblock; checkpoint create/list/delete, mark-dirty, dirty and reset
# against "dmsetup message".  Human and --json output are compared whole
# with text built here from those answers (busybox has no jq).  Also: one
# checkpoint on two devices at one instant (all or none), the documented
# exit codes with the kernel's own reason on stderr, a partial last block,
# and dirty dumps that stay right while checkpoints change under them.
#
# Devices: ctla over $DL_DATA (metadata $DL_META, 4 KiB blocks, dm uuid
# DLTEST-ctla); ctlb over most of $DL_SPARE (metadata: its last 16 MiB,
# 64 KiB blocks, a length that leaves the last block partial).
. "$(dirname "$0")/lib.sh"

cleanup() {
	[ -n "${churn_pid:-}" ] && kill "$churn_pid" 2>/dev/null
	dl_cleanup
}
trap cleanup EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
ktap_plan 52

nl='
'
tmp=/tmp/ctl12
mkdir -p $tmp

lena=$(dl_sectors $DL_DATA)
spare=$(dl_sectors $DL_SPARE)
bmeta=32768
bdata=$((spare - bmeta))
lenb=$((bdata - 8))		# last 64 KiB block is 4 KiB short
nrb=$(((lenb + 127) / 128))

dmsetup create ctla --uuid DLTEST-ctla \
	--table "0 $lena dirtylog $DL_META $DL_DATA 8" &&
dmsetup create ctlbm --table "0 $bmeta linear $DL_SPARE $bdata" &&
dmsetup create ctlbd --table "0 $bdata linear $DL_SPARE 0" &&
dmsetup mknodes && dl_fresh_meta /dev/mapper/ctlbm &&
dmsetup create ctlb --table "0 $lenb dirtylog /dev/mapper/ctlbm /dev/mapper/ctlbd 128" &&
dmsetup mknodes
ktap_result $? "create ctla and ctlb"
deva=/dev/mapper/ctla

# run ARGS...: dirtylogctl; sets $out, $err (stderr) and $rc.
run() {
	out=$(dirtylogctl "$@" 2>$tmp/err)
	rc=$?
	err=$(cat $tmp/err)
}

# check_eq DESCRIPTION GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then
		ktap_result 0 "$1"
	else
		ktap_diag "got:  '$(echo "$2" | tr '\n' '|')'"
		ktap_diag "want: '$(echo "$3" | tr '\n' '|')'"
		ktap_result 1 "$1"
	fi
}

# check_run DESCRIPTION WANT_RC WANT_STDOUT ARGS...: exit status and stdout.
check_run() {
	_d=$1 _wrc=$2 _wout=$3
	shift 3
	run "$@"
	if [ "$rc" = "$_wrc" ] && [ "$out" = "$_wout" ]; then
		ktap_result 0 "$_d"
	else
		ktap_diag "dirtylogctl $*: exit $rc (want $_wrc), stderr: $err"
		ktap_diag "got:  '$(echo "$out" | tr '\n' '|')'"
		ktap_diag "want: '$(echo "$_wout" | tr '\n' '|')'"
		ktap_result 1 "$_d"
	fi
}

# check_fail DESCRIPTION WANT_RC ARGS...: fails with WANT_RC, nothing on
# stdout, and stderr is one line "dirtylogctl <command>: <reason>" whose
# reason is the kernel's message (prefixed "dm-dirtylog: "), not a bare
# strerror.
check_fail() {
	_d=$1 _wrc=$2
	shift 2
	_cmd=$1
	case $1 in checkpoint) _cmd="$1 $2" ;; esac
	run "$@"
	case $err in
	"dirtylogctl $_cmd: dm-dirtylog: "*) _ok=1 ;;
	*) _ok=0 ;;
	esac
	if [ "$rc" = "$_wrc" ] && [ -z "$out" ] && [ $_ok = 1 ] &&
	   [ "$(echo "$err" | wc -l)" = 1 ]; then
		ktap_diag "$err"
		ktap_result 0 "$_d"
	else
		ktap_diag "dirtylogctl $*: exit $rc (want $_wrc), stdout '$out', stderr '$err'"
		ktap_result 1 "$_d"
	fi
}

wr() {			# wr BLOCK COUNT: 4 KiB blocks through ctla
	dd if=/dev/urandom of=$deva bs=4096 seek="$1" count="$2" oflag=direct 2>/dev/null
}

# The instance uuid from the superblock: 16 bytes at offset 24 (after the
# block header, the format version and the flags), as 32 hex digits.
instance_uuid() {
	dd if="$1" bs=4096 count=1 iflag=direct 2>/dev/null |
		dd bs=1 skip=24 count=16 2>/dev/null | od -An -tx1 | tr -d ' \n'
}

devno() {
	dmsetup info -c --noheadings -o major,minor --separator : "$1" | tr -d ' '
}

# commits NAME: the metadata commit count "dirtylogctl status --json"
# reports (nothing else shows it; the checks after "status" test how it
# moves).
commits() {
	dirtylogctl --json status "$1" | sed -n 's/.*"metadata_commits":\([0-9]*\).*/\1/p'
}

# status_expect json|human NAME DMUUID METADEV: what "dirtylogctl status"
# prints for NAME, from "dmsetup status" (<start> <len> dirtylog <block
# sectors> <blocks> <dirty> <checkpoints> <latest id> <used>/<total>
# <state>), dmsetup info and the superblock.
status_expect() {
	dmsetup status "$2" | awk -v mode="$1" -v name="$2" -v uuid="$3" \
		-v mm="$(devno "$2")" -v iu="$(instance_uuid "$4")" -v nc="$(commits "$2")" '{
		split(mm, d, ":"); split($9, m, "/")
		if (mode == "json") {
			printf "{\"name\":\"%s\",\"uuid\":\"%s\",\"dev\":\"%s\",", name, uuid, mm
			printf "\"major\":%s,\"minor\":%s,", d[1], d[2]
			printf "\"size_bytes\":%.0f,\"size_sectors\":%s,", $2 * 512, $2
			printf "\"block_size_bytes\":%.0f,\"block_sectors\":%s,", $4 * 512, $4
			printf "\"blocks\":%s,\"state\":\"%s\",", $5, $10
			printf "\"dirty_active_blocks\":%s,\"checkpoints\":%s,", $6, $7
			printf "\"latest_id\":%s,\"metadata_used_blocks\":%s,", $8, m[1]
			printf "\"metadata_total_blocks\":%s,\"metadata_commits\":%s,", m[2], nc
			printf "\"instance_uuid\":\"%s\",", iu
			# A stray checkpoint needs a failed rollback (test_rollback_34).
			printf "\"stray_checkpoint\":null}"
		} else {
			printf "%s (%s)\n", name, mm
			printf "  uuid:             %s\n", uuid == "" ? "(none)" : uuid
			printf "  size:             %.0f bytes (%s sectors)\n", $2 * 512, $2
			printf "  block size:       %.0f bytes (%s sectors)\n", $4 * 512, $4
			printf "  blocks:           %s\n", $5
			printf "  state:            %s\n", $10
			printf "  dirty (active):   %s blocks\n", $6
			printf "  checkpoints:      %s (latest id %s)\n", $7, $8
			printf "  metadata:         %s/%s blocks of 4 KiB\n", m[1], m[2]
			printf "  commits:          %s\n", nc
			printf "  instance uuid:    %s\n", iu
		}
	}'
}

# dirty_expect json|human NAME BLOCK_BYTES SIZE_BYTES SINCE [UNTIL]: what
# "dirtylogctl dirty" prints, from "dmsetup message NAME 0 dirty".
dirty_expect() {
	dmsetup message "$2" 0 dirty "$5" ${6:+"$6"} | awk -v mode="$1" \
		-v name="$2" -v bs="$3" -v size="$4" -v since="$5" -v until="${6:-}" '
	BEGIN {
		if (mode == "json") {
			printf "{\"device\":\"%s\",\"since\":\"%s\",\"until\":", name, since
			printf (until == "" ? "null" : "\"" until "\"")
			printf ",\"block_size_bytes\":%s,\"extents\":[", bs
		}
	}
	NF == 2 {
		off = $1 * bs; len = $2 * bs
		if (off < size && len > size - off)
			len = size - off
		if (mode == "json")
			printf "%s{\"start\":%s,\"count\":%s,\"offset_bytes\":%.0f,\"length_bytes\":%.0f}",
				n ? "," : "", $1, $2, off, len
		else
			printf "start %s count %s offset %.0f length %.0f\n", $1, $2, off, len
		n++; blocks += $2; bytes += len
	}
	END {
		if (mode == "json")
			printf "],\"total_blocks\":%.0f,\"total_bytes\":%.0f}", blocks, bytes
		else
			printf "total: %d extent%s, %.0f blocks, %.0f bytes", n, n == 1 ? "" : "s", blocks, bytes
	}'
}

# ckpt_expect json|human NAME: what "dirtylogctl checkpoint list" prints,
# from "dmsetup message NAME 0 list_checkpoints" (<name> <id> <ctime ns>).
ckpt_expect() {
	if [ "$1" = json ]; then
		dmsetup message "$2" 0 list_checkpoints | awk -v name="$2" '
		BEGIN { printf "{\"device\":\"%s\",\"checkpoints\":[", name }
		NF == 3 { printf "%s{\"name\":\"%s\",\"id\":%s,\"ctime_ns\":%s}", n++ ? "," : "", $1, $2, $3 }
		END { printf "]}" }'
		return
	fi
	dmsetup message "$2" 0 list_checkpoints | while read -r _n _i _c; do
		printf '%s %s %s.%09dZ\n' "$_n" "$_i" \
			"$(date -u -d "@$((_c / 1000000000))" +%Y-%m-%dT%H:%M:%S)" \
			$((_c % 1000000000))
	done
}

ckpt_id() {		# ckpt_id DEV NAME: the id dmsetup lists for NAME
	dmsetup message "$1" 0 list_checkpoints | awk -v n="$2" '$1 == n { print $2 }'
}

sizea=$((lena * 512))
sizeb=$((lenb * 512))

# --- status
check_run "status --json ctla: every field as dmsetup and the superblock say" \
	0 "[$(status_expect json ctla DLTEST-ctla $DL_META)]" --json status ctla
check_run "status ctla (human)" 0 "$(status_expect human ctla DLTEST-ctla $DL_META)" \
	status ctla
check_run "status --json ctlb: no dm uuid, 64 KiB blocks, partial last block" \
	0 "[$(status_expect json ctlb "" /dev/mapper/ctlbm)]" status ctlb --json
run --json status
ja=$(status_expect json ctla DLTEST-ctla $DL_META)
jb=$(status_expect json ctlb "" /dev/mapper/ctlbm)
[ $rc = 0 ] && { [ "$out" = "[$ja,$jb]" ] || [ "$out" = "[$jb,$ja]" ]; }
ktap_result $? "status --json without DEVICE dumps both devices (exit $rc)"
[ $rc = 0 ] || ktap_diag "$err"
check_run "status by MAJOR:MINOR" 0 "[$ja]" --json status "$(devno ctla)"
check_run "status --uuid DLTEST-ctla" 0 "[$ja]" --json status --uuid DLTEST-ctla

# --- the commit count: one per batch of new marks and per checkpoint
# operation, none for a write to marked blocks
n0=$(commits ctla)
wr 4000 1
n1=$(commits ctla)
wr 4000 1
n2=$(commits ctla)
dmsetup message ctla 0 checkpoint cc >/dev/null && dmsetup message ctla 0 delete_checkpoint cc >/dev/null
n3=$(commits ctla)
check_eq "metadata_commits: +1 for a first write, +0 for its rewrite, +2 for a checkpoint created and deleted" \
	"$((n1 - n0)) $((n2 - n1)) $((n3 - n2))" "1 0 2"

# --- checkpoints and dirty extents on ctla
wr 10 1
wr 20 2
wr 100 1
run checkpoint create ctla c1
check_eq "checkpoint create prints the id dmsetup lists (exit $rc)" \
	"$out" "$(ckpt_id ctla c1)"
wr 21 5
id2=$(dmsetup message ctla 0 checkpoint c2)
wr 5 1
check_run "mark-dirty ctla 300 5" 0 "" mark-dirty ctla 300 5
check_eq "... dmsetup sees the blocks dirty" \
	"$(dmsetup message ctla 0 dirty c2 | tr '\n' ' ')" "5 1 300 5 "
check_run "dirty --since c1 (human)" 0 \
	"$(dirty_expect human ctla 4096 $sizea c1)" dirty ctla --since c1
check_run "dirty --since c1 --json" 0 \
	"$(dirty_expect json ctla 4096 $sizea c1)" --json dirty ctla --since c1
check_run "dirty --since c1 --until c2 --json" 0 \
	"$(dirty_expect json ctla 4096 $sizea c1 c2)" dirty --json ctla --since c1 --until c2
check_run "dirty --since c2 (human)" 0 \
	"$(dirty_expect human ctla 4096 $sizea c2)" dirty ctla --since c2
check_run "checkpoint list --json" 0 "$(ckpt_expect json ctla)" \
	--json checkpoint list ctla
check_run "checkpoint list (human): names, ids, UTC times" 0 \
	"$(ckpt_expect human ctla)" checkpoint list ctla
check_run "status --json after writes and checkpoints" 0 \
	"[$(status_expect json ctla DLTEST-ctla $DL_META)]" --json status ctla
run --json checkpoint create ctla c3
check_eq "checkpoint create --json (exit $rc)" "$out" \
	"{\"checkpoint\":\"c3\",\"devices\":[{\"device\":\"ctla\",\"id\":$(ckpt_id ctla c3)}]}"
before=$(dirty_expect json ctla 4096 $sizea c1)
check_run "checkpoint delete ctla c2" 0 "" checkpoint delete ctla c2
check_eq "... dmsetup no longer lists c2" \
	"$(dmsetup message ctla 0 list_checkpoints | awk '{ print $1 }' | tr '\n' ' ')" "c1 c3 "
check_run "... and dirty --since c1 is unchanged" 0 "$before" --json dirty ctla --since c1
check_run "checkpoint list after the delete" 0 "$(ckpt_expect json ctla)" \
	--json checkpoint list ctla

# --- one checkpoint on two devices
run checkpoint create ctla both --also ctlb
check_eq "checkpoint create ctla both --also ctlb: one line per device (exit $rc)" \
	"$out" "ctla $(ckpt_id ctla both)${nl}ctlb $(ckpt_id ctlb both)"
[ -n "$(ckpt_id ctla both)" ] && [ -n "$(ckpt_id ctlb both)" ]
ktap_result $? "... dmsetup lists 'both' on ctla and on ctlb"
run --json checkpoint create "$(devno ctla)" both2 --also ctlb
check_eq "two devices --json, the first by MAJOR:MINOR (exit $rc)" "$out" \
	"{\"checkpoint\":\"both2\",\"devices\":[{\"device\":\"ctla\",\"id\":$(ckpt_id ctla both2)},{\"device\":\"ctlb\",\"id\":$(ckpt_id ctlb both2)}]}"
run checkpoint create ctla lone --also nosuchdevice
[ $rc = 3 ] && [ -z "$(ckpt_id ctla lone)" ]
ktap_result $? "an unknown device among several: exit 3, nothing created (exit $rc: $err)"

# --- the partial last block of ctlb
check_run "mark-dirty the last block of ctlb and the first two" 0 "" \
	mark-dirty ctlb $((nrb - 1)) 1
dirtylogctl mark-dirty ctlb 0 2
check_run "dirty --json: the last extent stops at the device's end" 0 \
	"$(dirty_expect json ctlb 65536 $sizeb both)" --json dirty ctlb --since both
check_eq "... which is $((sizeb - (nrb - 1) * 65536)) bytes long" \
	"$(echo "$out" | sed 's/.*"length_bytes":\([0-9]*\)}].*/\1/')" \
	"$((sizeb - (nrb - 1) * 65536))"

# --- exit codes and the kernel's reasons
for c in "status nosuchdevice" "checkpoint create nosuchdevice x" \
	"checkpoint list nosuchdevice" "checkpoint delete nosuchdevice c1" \
	"reset nosuchdevice" "mark-dirty nosuchdevice 0 1" \
	"dirty nosuchdevice --since c1"; do
	# shellcheck disable=SC2086
	check_fail "$c: exit 3 with the kernel's reason" 3 $c
done
check_fail "checkpoint delete of a missing checkpoint: exit 3" 3 \
	checkpoint delete ctla nope
check_fail "dirty --since a missing checkpoint: exit 3" 3 dirty ctla --since nope
check_fail "a bad checkpoint name: exit 1" 1 checkpoint create ctla bad/name
echo "$err" | grep -qi "invalid checkpoint name"
ktap_result $? "... and the reason is the kernel's: '$err'"
check_fail "a duplicate checkpoint name: exit 1" 1 checkpoint create ctla c1
check_fail "mark-dirty beyond the device: exit 1" 1 mark-dirty ctla $((lena / 8)) 1
check_fail "--until older than --since: exit 1" 1 dirty ctla --since c3 --until c1
if unshare -U -r true 2>/dev/null; then
	# Every netlink operation, reads included, and nothing changes.
	before=$(dmsetup status ctla; dmsetup message ctla 0 list_checkpoints)
	bad=
	for c in "status ctla" "status" "checkpoint create ctla up1" \
		"checkpoint create ctla up2 --also ctlb" "checkpoint list ctla" \
		"checkpoint delete ctla c1" "reset ctla" "mark-dirty ctla 0 1" \
		"dirty ctla --since c1" "dirty ctla --since c1 --encoding bitmap" \
		"monitor --count 1"; do
		# shellcheck disable=SC2086
		out=$(unshare -U -r dirtylogctl $c 2>$tmp/err)
		rc=$?
		if [ $rc != 4 ] || [ -n "$out" ]; then
			bad="$bad [$c: exit $rc: $(cat $tmp/err)]"
		fi
	done
	after=$(dmsetup status ctla; dmsetup message ctla 0 list_checkpoints)
	[ -z "$bad" ] && [ "$before" = "$after" ]
	ktap_result $? "without CAP_SYS_ADMIN (user namespace): every operation exits 4, nothing changes$bad"
else
	ktap_result 0 "without CAP_SYS_ADMIN: exit 4 # SKIP no user namespaces"
fi

# --- dumps that stay right while checkpoints change
# 1024 one-block extents (every other 4 KiB block of 8 MiB): several
# messages per dump.  Creating and deleting checkpoint tmp never changes
# the answer since c1, so every answer must be the one computed before.
fio --name=holes --filename=$deva --rw=write:4k --bs=4k --offset=64m \
	--size=8m --direct=1 --ioengine=psync >/dev/null 2>&1
want=$(dirty_expect json ctla 4096 $sizea c1)
n=$(dmsetup message ctla 0 dirty c1 | wc -l)
[ "$n" -ge 1024 ]
ktap_result $? "$n extents since c1"
(
	while :; do
		dmsetup message ctla 0 checkpoint tmp >/dev/null 2>&1
		sleep 0.05
		dmsetup message ctla 0 delete_checkpoint tmp >/dev/null 2>&1
		sleep 0.05
	done
) &
churn_pid=$!
ok=0 bad=0 busy=0 restarted=0
for i in $(seq 1 30); do
	run --json dirty ctla --since c1
	case $err in *restarted*) restarted=$((restarted + 1)) ;; esac
	if [ $rc = 0 ] && [ "$out" = "$want" ]; then
		ok=$((ok + 1))
	elif [ $rc = 1 ] && echo "$err" | grep -q "kept changing"; then
		busy=$((busy + 1))
	else
		bad=$((bad + 1))
		ktap_diag "run $i: exit $rc: $err"
	fi
done
kill $churn_pid
wait $churn_pid 2>/dev/null
churn_pid=
dmsetup message ctla 0 delete_checkpoint tmp >/dev/null 2>&1
ktap_diag "$ok right, $restarted restarted, $busy gave up after 5 restarts"
[ $bad = 0 ] && [ $ok -gt 0 ]
ktap_result $? "dirty dumps under checkpoint churn: every answer right ($bad wrong)"

# --- reset
iu=$(instance_uuid $DL_META)
check_run "reset ctla" 0 "" reset ctla
check_eq "... dmsetup status: no checkpoint, latest id 0" \
	"$(dl_status_field ctla 4) $(dl_status_field ctla 5)" "0 0"
check_run "... status --json matches, with the new instance uuid" 0 \
	"[$(status_expect json ctla DLTEST-ctla $DL_META)]" --json status ctla
[ "$(instance_uuid $DL_META)" != "$iu" ]
ktap_result $? "... which differs from the one before"

dmsetup remove ctla && dmsetup remove ctlb &&
	dmsetup remove ctlbd && dmsetup remove ctlbm
ktap_result $? "remove"
ktap_finish
