#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Netlink fuzzing: dl_nlfuzz sends random, often malformed, requests to the
# "dm-dirtylog" generic netlink family (unknown commands and attributes,
# bad lengths, garbage and deep nests, lying nlmsg_len, other genl
# versions), some of them valid for device fz so that checkpoints come and
# go, and checks that every answer is well formed and none is missing.
# Then the device must still work.  The rig fails the test on any kernel
# warning, BUG or Oops in the log.  Randomised: DL_SEED (printed);
# DL_NLFUZZ_COUNT sets the number of requests (default 3000).
# A second run as an unprivileged user (uid 65534, dl_nlfuzz --uid) checks
# the permission model: every operation, reads included, needs
# CAP_SYS_ADMIN, so every request is refused (well-formed ones with
# EPERM), none is left unanswered, and the device's checkpoints, dirty
# map and status are the same afterwards.
. "$(dirname "$0")/lib.sh"
trap dl_cleanup EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
ktap_plan 9

seed=${DL_SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
count=${DL_NLFUZZ_COUNT:-3000}
ktap_diag "seed $seed (set DL_SEED to repeat), $count requests"

len=$(dl_sectors $DL_DATA)
dmsetup create fz --table "0 $len dirtylog $DL_META $DL_DATA 8" &&
	dmsetup mknodes >/dev/null 2>&1 && [ -b /dev/mapper/fz ]
ktap_result $? "create fz (4 KiB blocks)"

start=$(date +%s)
./dl_nlfuzz "$seed" "$count" fz >/tmp/nlfuzz.out 2>&1
rc=$?
sed 's/^/# /' /tmp/nlfuzz.out | tail -n 60
ktap_result $rc "dl_nlfuzz $seed $count fz: every reply well formed, none missing ($(($(date +%s) - start)) s)"

# The device as root sees it, before and after the unprivileged run.
fz_state() {
	dmsetup status fz
	dmsetup message fz 0 list_checkpoints
	for c in $(dmsetup message fz 0 list_checkpoints | awk '{print $1}'); do
		dmsetup message fz 0 dirty "$c"
	done
}
before=$(fz_state 2>&1)
ucount=${DL_NLFUZZ_UCOUNT:-$((count / 2))}
./dl_nlfuzz --uid 65534 "$seed" "$ucount" fz >/tmp/nlfuzz.out 2>&1
rc=$?
sed 's/^/# /' /tmp/nlfuzz.out | tail -n 30
ktap_result $rc "dl_nlfuzz --uid 65534 $seed $ucount fz: all refused, well-formed ones with EPERM"
after=$(fz_state 2>&1)
[ "$before" = "$after" ]
ktap_result $? "the device is unchanged by the unprivileged requests ($(echo "$before" | wc -l) lines of state)"
rm -f /tmp/nlfuzz.out

out=$(dmsetup status fz 2>&1)
rc=$?
ktap_diag "status: $out"
[ $rc = 0 ] && case $out in *" dirtylog "*) true ;; *) false ;; esac
ktap_result $? "dmsetup status fz answers"

dd if=/dev/urandom of=/dev/mapper/fz bs=4096 seek=7 count=3 oflag=direct 2>/dev/null
ktap_result $? "a write through /dev/mapper/fz"

dmsetup message fz 0 delete_checkpoint after >/dev/null 2>&1
out=$(dmsetup message fz 0 checkpoint after 2>&1)
ktap_result $? "dmsetup message fz 0 checkpoint after ($out)"

out=$(dmsetup message fz 0 dirty after 2>&1)
ktap_result $? "dmsetup message fz 0 dirty after answers ($(echo "$out" | wc -l) lines)"

dmsetup remove fz
ktap_result $? "remove fz"
ktap_finish
