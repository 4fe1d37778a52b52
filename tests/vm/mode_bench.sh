#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Guest mode "bench" (make bench): every bench_*.sh, through the test
# runner, so the results are nested KTAP like the tests'.
cd "$(dirname "$0")" || exit 1
exec sh ./run_tests.sh $(ls | grep '^bench_.*\.sh$' | sort)
