#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Guest mode "bench" (make bench): every bench_*.sh (or those named by
# --tests), through the test runner, so the results are nested KTAP like
# the tests'.
cd "$(dirname "$0")" || exit 1
# Metadata checksums as on a real x86 system: kmod loads crc32c-intel
# before libcrc32c (its softdep), busybox modprobe does not.
modprobe crc32c_intel 2>/dev/null
# dirtylog.tests=a.sh,b (scripts/vm-run --tests) picks some of them.
only=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^dirtylog\.tests=//p' | tr ',' ' ')
exec sh ./run_tests.sh ${only:-$(ls | grep '^bench_.*\.sh$' | sort)}
