#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# check-timeout: 0
# Crash consistency by VM kill.  For each kernel, DL_CRASH_ITERATIONS times
# (default 12; a long run: DL_CRASH_ITERATIONS=300): boot the guest in mode
# crashload (random writes, checkpoints, a record of the region's content
# at each checkpoint on the spare disk), SIGKILL qemu at a random moment,
# boot again in mode crashverify on the same disks and check that for
# every checkpoint each block that changed since it is in its dirty set.
# The disks are fresh for the first iteration only, so crashes accumulate.
# One result per iteration and kernel; a kernel's iterations stop at its
# first failure and its disks are kept for a post-mortem.  Runs on the host.
#
#   tests/rig/test_crash_03.sh [BUILD_DIR]
#
# Environment: DL_CRASH_ITERATIONS (12), DL_CRASH_SEED (random; printed),
# DL_KVERS (default scripts/kvers), DL_CRASH_KILL_MIN/DL_CRASH_KILL_MAX
# (the kill comes this many seconds after the guest prints that its
# workload runs; default 0.5..15), DL_CRASH_FAKE=all|none (self-test: a
# userspace fake of the target, tests/rig/crash_fake_dm.c, whose dirty sets
# are everything (must pass) or nothing (must fail); needs no kernel
# support).
#
# Every VM boot has a time limit (the kill; --timeout until the workload
# starts and for the verifier), so this test bounds itself and
# scripts/check gives it no limit of its own.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd) || exit 1
iters=${DL_CRASH_ITERATIONS:-12}
kvers=${DL_KVERS:-$("$top/scripts/kvers")}
seed=${DL_CRASH_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000))}
verify_timeout=300 load_timeout=180
fake=${DL_CRASH_FAKE:-}

[[ $iters =~ ^[1-9][0-9]*$ ]] || { echo "DL_CRASH_ITERATIONS must be a positive number" >&2; exit 2; }
[[ $seed =~ ^[0-9]+$ ]] || { echo "DL_CRASH_SEED must be a number" >&2; exit 2; }
for v in "${DL_CRASH_KILL_MIN:-0}" "${DL_CRASH_KILL_MAX:-0}"; do
	[[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "DL_CRASH_KILL_MIN/MAX must be seconds, like 2 or 0.5" >&2; exit 2; }
done
[[ -z $fake || $fake == all || $fake == none ]] || { echo "DL_CRASH_FAKE must be all or none" >&2; exit 2; }
RANDOM=$seed

read -r -a kernels <<<"$kvers"
n=0 failed=0
result() {		# result STATUS(0=ok) DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n $2"
	else
		echo "not ok $n $2"
		failed=$((failed + 1))
	fi
}
diag() { sed 's/^/# /'; }
rand() { echo $(((RANDOM << 15 | RANDOM) % $1)); }		# 0..$1-1
ms_to_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
s_to_ms() {		# "12" or "9.62" -> milliseconds
	local s=$1 int frac
	int=${s%%.*} frac=
	[[ $s == *.* ]] && frac=${s#*.}
	frac=${frac}000
	echo $((10#$int * 1000 + 10#${frac:0:3}))
}
kill_lo=$(s_to_ms "${DL_CRASH_KILL_MIN:-0.5}")
kill_hi=$(s_to_ms "${DL_CRASH_KILL_MAX:-15}")
((kill_hi > kill_lo)) || kill_hi=$((kill_lo + 1))

# vmboot VAR ARGS...: scripts/vm-run ARGS, its output in VAR, its status
# returned.  A kernel that oopses before /init runs (the module not loaded,
# the disks untouched: a flake of the stock kernel under TCG, seen as an
# int3 Oops while a static key is patched) is booted again, at most twice;
# its log is kept as console-early-N.log.  So is one that never reaches
# /init (hung in early boot).  Any later oops fails as usual.
early=0
vmboot() {
	local -n _out=$1
	local rc try first init
	shift
	for try in 1 2 3; do
		_out=$("$top/scripts/vm-run" "$@" 2>&1)
		rc=$?
		first=$("$top/scripts/scan-kernel-log" "$dir/console.log" | head -n 1)
		init=$(grep -n -m 1 'Run /init as init process' "$dir/console.log" | cut -d: -f1)
		if ((try == 3)); then
			break
		fi
		if [[ -z $init ]] && [[ -z $first ]]; then
			# Hung in early boot (spinning while patching
			# alternatives, seen under TCG on a loaded host).
			early=$((early + 1))
			cp "$dir/console.log" "$dir/console-early-$early.log"
			echo "# kernel hung before /init; booting again (log: console-early-$early.log)"
			continue
		fi
		if [[ -z $first ]] || { [[ -n $init ]] && ((${first%%:*} > init)); }; then
			break
		fi
		early=$((early + 1))
		cp "$dir/console.log" "$dir/console-early-$early.log"
		echo "# kernel crashed before /init (${first#*:}); booting again (log: console-early-$early.log)"
	done
	return $rc
}

echo "KTAP version 1"
if ((${#kernels[@]} == 0)); then
	echo "1..1"
	result 1 "crash consistency: no supported kernel installed"
	exit 1
fi
echo "1..$((${#kernels[@]} * iters))"
echo "# seed $seed (rerun with DL_CRASH_SEED=$seed), $iters iterations per kernel${fake:+, fake target: dirty sets $fake}"

# The guest program; with DL_CRASH_FAKE a build directory whose
# dl_crashload talks to the userspace fake instead of the target.
ibuild=$build
if [[ -n $fake ]]; then
	ibuild=$build/vm-crash-fake
	rm -rf "$ibuild"
	mkdir -p "$ibuild/tests/vm"
	ln -s "$build/kmod" "$ibuild/kmod"
	ln -s "$build/bin" "$ibuild/bin"
	cp -a "$build"/tests/vm/. "$ibuild/tests/vm/"
	flags=(-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror
		-I"$top/include/uapi" -I"$top/userspace")
	[[ $fake == none ]] && flags+=(-DDL_FAKE_DIRTY_NONE)
	rm -f "$ibuild/tests/vm/dl_crashload"
	cc "${flags[@]}" -o "$ibuild/tests/vm/dl_crashload" \
		"$top/tests/vm/dl_crashload.c" "$top/tests/rig/crash_fake_dm.c" \
		"$top/userspace/dl-util.c" 2>&1 | diag
fi
if [[ ! -x $ibuild/tests/vm/dl_crashload ]]; then
	for ((i = 0; i < ${#kernels[@]} * iters; i++)); do
		result 1 "crash consistency: $ibuild/tests/vm/dl_crashload not built"
	done
	exit 1
fi

# kresult STATUS DESCRIPTION: a result of one kernel's run, numbered when
# the runs are put together.
kresult() {
	if [ "$1" -eq 0 ]; then
		echo "ok @ $2"
	else
		echo "not ok @ $2"
	fi
}

# run_kernel INDEX KVER: every iteration on one kernel.  The kernels run
# at once (each TCG guest keeps one host core busy), each with its own
# disks and random sequence (the seed plus INDEX).
run_kernel() {
	local kver=$2
	RANDOM=$((seed + $1))
	dir=$build/vm/$kver/crash
	mkdir -p "$dir"
	initrd=$dir/initramfs.cpio.gz
	broken=
	rm -f "$initrd"
	if ! out=$("$top/scripts/mkinitramfs" "$kver" "$ibuild" "$initrd" 2>&1) ||
		[[ ! -s $initrd ]]; then
		diag <<<"$out"
		broken="cannot build the initramfs"
	fi
	common=(--kver "$kver" --build "$build" --disk-dir "$dir" --initramfs "$initrd")
	total=0
	for ((i = 1; i <= iters; i++)); do
		what="$kver iteration $i"
		if [[ -n $broken ]]; then
			if [[ $broken == skip ]]; then
				echo "ok @ $what # SKIP an earlier iteration failed"
			else
				kresult 1 "$what: $broken"
				broken=skip
			fi
			continue
		fi

		# When to kill: counted from the guest's line saying the
		# workload runs, so that boot time (which varies with the
		# host's load) does not matter.
		kill=$(ms_to_s $((kill_lo + $(rand $((kill_hi - kill_lo))))))
		wseed=$(rand 1000000000)
		keep=()
		((i > 1)) && keep=(--keep-disks)
		echo "# $what: workload seed $wseed, kill ${kill}s into the workload${keep:+, same disks}"

		vmboot load "${common[@]}" "${keep[@]}" --mode crashload \
			--seed "$wseed" --kill-after "$kill" \
			--kill-from '^crashload: workload running' --timeout "$load_timeout"
		lrc=$?
		cp "$dir/console.log" "$dir/console-crashload.log" 2>/dev/null
		why=()
		grep -q '^crashload: workload running' <<<"$load" ||
			why+=("the crashload boot never reached its workload")
		grep -q 'killed after .* as requested' <<<"$load" ||
			why+=("the crashload boot was not killed as planned")
		((lrc == 0)) || why+=("the crashload boot failed (vm-run status $lrc)")
		made=$(grep -c '^crashload: checkpoint c[0-9]* id [0-9]* recorded' <<<"$load")

		verified=0
		if ((${#why[@]} == 0)); then
			vmboot ver "${common[@]}" --keep-disks --mode crashverify \
				--timeout "$verify_timeout"
			vrc=$?
			verified=$(sed -n 's/.*crashverify: \([0-9]*\) checkpoints verified.*/\1/p' <<<"$ver" | tail -n 1)
			verified=${verified:-0}
			last=$(tail -n 1 <<<"$ver")
			if ((vrc != 0)) || [[ ! $last =~ \ 0\ failed$ ]]; then
				why+=("verification failed (vm-run status $vrc: ${last##*: })")
			fi
		fi
		total=$((total + verified))

		if ((${#why[@]} == 0)) && ((i == iters)) && ((total == 0)); then
			why+=("no checkpoint was verified in $iters iterations: the test proved nothing")
		fi
		if ((${#why[@]})); then
			printf '%s\n' "${why[@]}" | diag
			echo "# --- crashload boot (to be killed ${kill}s into the workload):"
			tail -n 20 <<<"$load" | diag
			if [[ -n ${ver:-} ]]; then
				echo "# --- crashverify boot:"
				diag <<<"$ver"
			fi
			echo "# disks and logs kept in $dir (console-crashload.log, console.log);"
			echo "# inspect: scripts/vm-run --kver $kver --disk-dir $dir --keep-disks --shell"
			kresult 1 "$what: $verified checkpoints verified ($made made before the kill)"
			broken=skip
		else
			grep -E '^ *(not )?ok [0-9]+ (checkpoint|status|device|list_checkpoints)' <<<"$ver" |
				sed 's/^ */  /' | diag
			kresult 0 "$what: $verified checkpoints verified ($made made before the kill)"
		fi
		unset ver
	done
	echo "# $kver: $total checkpoint verifications in all"
}

pids=()
for idx in "${!kernels[@]}"; do
	mkdir -p "$build/vm/${kernels[idx]}/crash"
	run_kernel "$idx" "${kernels[idx]}" >"$build/vm/${kernels[idx]}/crash/results" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p"
done
for kver in "${kernels[@]}"; do
	while IFS= read -r line; do
		if [[ $line =~ ^(not\ )?ok\ @\ (.*)$ ]]; then
			result $((${#BASH_REMATCH[1]} != 0)) "${BASH_REMATCH[2]}"
		else
			printf '%s\n' "$line"
		fi
	done <"$build/vm/$kver/crash/results"
done
[ $failed -eq 0 ]
