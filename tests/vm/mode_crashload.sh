#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Guest mode "crashload" (scripts/vm-run --mode crashload --seed N): the
# write + checkpoint workload of the crash test, run until the host kills
# the VM.  Its progress lines go to the results port.  Should the workload
# ever end by itself, that is reported as a failed KTAP result.
cd "$(dirname "$0")" || exit 1
seed=${DL_SEED:-$(date +%s)}
./dl_crashload run "$seed" 2>&1
rc=$?
echo "KTAP version 1"
echo "1..1"
echo "not ok 1 crashload workload ended by itself (exit status $rc)"
dmesg | grep -E 'dirtylog|device-mapper' | tail -n 30 | sed 's/^/# dmesg: /'
