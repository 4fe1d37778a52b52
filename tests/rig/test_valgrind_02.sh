#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Userspace is valgrind-clean: no invalid access, no definite leak, on the
# paths that run without a kernel (help, usage errors, failing operations)
# and in the native unit tests.  Runs on the host.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
ctl=$build/bin/dirtylogctl
vg=(valgrind -q --error-exitcode=99 --leak-check=full
	--errors-for-leak-kinds=definite --trace-children=yes)
cases=(
	"--help"
	"--version"
	"help create"
	"create --help"
	"create x --data /nonexistent --metadata /nonexistent"
	"create x --block-size 3K --data a --metadata b"
	"status nosuchdevice"
	"remove nosuchdevice"
	"bogus"
)
echo "KTAP version 1"
echo "1..$((${#cases[@]} + 1))"
n=0 failed=0
for c in "${cases[@]}"; do
	n=$((n + 1))
	# shellcheck disable=SC2086
	"${vg[@]}" "$ctl" $c >/dev/null 2>"$build/valgrind.out"
	rc=$?
	if [ $rc -eq 99 ]; then
		sed 's/^/# /' "$build/valgrind.out"
		echo "not ok $n dirtylogctl $c is valgrind-clean"
		failed=$((failed + 1))
	else
		echo "ok $n dirtylogctl $c is valgrind-clean (exit $rc)"
	fi
done
n=$((n + 1))
"${vg[@]}" "$build/tests/native/test_util" >/dev/null 2>"$build/valgrind.out"
rc=$?
if [ $rc -eq 0 ]; then
	echo "ok $n native unit tests pass under valgrind"
else
	sed 's/^/# /' "$build/valgrind.out"
	echo "not ok $n native unit tests pass under valgrind (exit $rc)"
	failed=$((failed + 1))
fi
[ $failed -eq 0 ]
