#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# check-timeout: 0
# Out of memory at table load, in a VM with little memory: boots each
# kernel with DL_OOM_MEM MiB (default 384; with 256 the kernel cannot
# unpack the rig's initramfs, "No working init found") and runs
# tests/vm/test_oom_26.sh there.  One
# result per kernel.  Runs on the host; each boot has vm-run's time limit.
#
#   tests/rig/test_oom_10.sh [BUILD_DIR]
#
# Environment: DL_OOM_MEM (MiB), DL_KVERS (default scripts/kvers).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd) || exit 1
mem=${DL_OOM_MEM:-384}
kvers=${DL_KVERS:-$("$top/scripts/kvers")}
[[ $mem =~ ^[0-9]+$ ]] || { echo "DL_OOM_MEM must be MiB" >&2; exit 2; }
read -r -a kernels <<<"$kvers"
echo "KTAP version 1"
echo "1..${#kernels[@]}"
n=0 failed=0
for k in "${kernels[@]}"; do
	n=$((n + 1))
	dir=$(mktemp -d "${TMPDIR:-/tmp}/dl-oom.XXXXXX")
	out=$("$top/scripts/vm-run" --kver "$k" --build "$build" --mem "$mem" \
		--disk-dir "$dir" --tests test_oom_26.sh --timeout 1200 2>&1)
	rc=$?
	echo "$out" | sed 's/^/# /'
	if ((rc == 0)); then
		echo "ok $n $k: table loads at ${mem} MiB of RAM refused or done cleanly"
	else
		echo "not ok $n $k: test_oom_26.sh at ${mem} MiB (vm-run exit $rc)"
		failed=$((failed + 1))
	fi
	rm -rf "$dir"
done
((failed == 0))
