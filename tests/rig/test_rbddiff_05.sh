#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# check-timeout: 120
# rbd diff v1 output against Ceph's own tool.  dl_difftool (built with the
# tests) writes diffs from a seeded random model image through dl-diff;
# Debian's "rbd merge-diff" (ceph-common) works offline on files:
#   - merged with an empty diff of the same snapshots, our diff comes back
#     byte for byte (rbd parsed every header field and record as we meant);
#   - two consecutive diffs (full -> s1, s1 -> s2) merged by rbd, applied by
#     our reader to an empty image, give the model image at s2 (sha256);
#   - rbd refuses to chain diffs whose snapshot names do not meet;
#   - our writer refuses snapshot names rbd cannot take ('/', '@').
# rbd wants a ceph.conf even offline: "-c /dev/null" gives it an empty one.
# Runs on the host.
#
#   tests/rig/test_rbddiff_05.sh [BUILD_DIR]
#
# Environment: DL_RBDDIFF_SEED (random; printed).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd) || exit 1
tool=$build/tests/rig/dl_difftool
seed=${DL_RBDDIFF_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000))}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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
say() { [ -z "$1" ] || diag <<<"$1"; }
rbd() { command rbd -c /dev/null "$@"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

echo "KTAP version 1"
echo "1..8"
if ! command -v rbd >/dev/null; then
	for i in 1 2 3 4 5 6 7 8; do
		echo "ok $i rbd diff v1 # SKIP rbd not installed (ceph-common; scripts/deps)"
	done
	exit 0
fi
if [ ! -x "$tool" ]; then
	for i in 1 2 3 4 5 6 7 8; do result 1 "rbd diff v1: $tool not built"; done
	exit 1
fi
echo "# seed $seed (rerun with DL_RBDDIFF_SEED=$seed)"
size=$(((seed % 16 + 1) * 1048576 + (seed % 7) * 4096))
echo "# image size $size"
cd "$tmp" || exit 1

w() { "$tool" write --size "$size" "$@" 2>&1 | diag; return "${PIPESTATUS[0]}"; }
w --seed "$seed" --image model --to s1 --out A &&
	cp model model-s1 &&
	w --seed $((seed + 1)) --image model --from s1 --to s2 --out B &&
	w --seed 0 --image scratch --from s1 --to s1 --empty --out E1 &&
	w --seed 0 --image scratch --from s2 --to s2 --empty --out E2
result $? "dl_difftool writes a full diff, an incremental one and two empty ones"

out=$(rbd merge-diff --no-progress A E1 AE1 2>&1)
rc=$?
say "$out"
[ $rc -eq 0 ] && cmp A AE1 | diag && cmp -s A AE1
result $? "rbd merge-diff of our full diff with an empty s1->s1 diff gives it back byte for byte"

out=$(rbd merge-diff --no-progress B E2 BE2 2>&1)
rc=$?
say "$out"
[ $rc -eq 0 ] && cmp -s B BE2
result $? "rbd merge-diff of our s1->s2 diff with an empty s2->s2 diff gives it back byte for byte"

"$tool" apply --image img-s1 A 2>&1 | diag
[ "${PIPESTATUS[0]}" -eq 0 ] && [ "$(sha img-s1)" = "$(sha model-s1)" ]
result $? "our full diff applied by our reader to an empty image equals the model at s1"

out=$(rbd merge-diff --no-progress A B AB 2>&1)
rc=$?
say "$out"
[ $rc -eq 0 ] && "$tool" apply --image img-s2 AB 2>&1 | diag &&
	[ "${PIPESTATUS[0]}" -eq 0 ] && [ "$(sha img-s2)" = "$(sha model)" ]
result $? "rbd merge-diff of full->s1 and s1->s2, applied by our reader, equals the model at s2 (sha256)"

# rbd reads our snapshot names: a chain that does not meet is refused.
w --seed 3 --image other --from other --to s3 --out C
out=$(rbd merge-diff --no-progress A C AC 2>&1)
rc=$?
say "$out"
[ $rc -ne 0 ] && [ ! -e AC ]
result $? "rbd merge-diff refuses our diffs when s1 is not the second diff's from-snapshot"

# Our reader refuses rbd's output cut before its end record.
head -c -1 AB > AB-cut
out=$("$tool" apply --image img-cut AB-cut 2>&1)
rc=$?
say "$out"
[ $rc -ne 0 ] && grep -q "without its end record" <<<"$out"
result $? "our reader refuses an rbd diff without its end record"

ok=0
for name in a/b a@b @ /; do
	out=$("$tool" write --seed 1 --size "$size" --image bad --to "$name" --out bad-t 2>&1)
	rc=$?
	echo "# to '$name': $out"
	{ [ $rc -eq 1 ] && grep -q "invalid rbd snapshot name" <<<"$out"; } || ok=1
	out=$("$tool" write --seed 1 --size "$size" --image bad --from "$name" --to s1 --out bad-f 2>&1)
	rc=$?
	{ [ $rc -eq 1 ] && grep -q "invalid rbd snapshot name" <<<"$out"; } || ok=1
done
result $ok "our writer refuses snapshot names with '/' or '@'"
[ $failed -eq 0 ]
